//! Put/Get/DeleteBucketOwnershipControls and `x-amz-object-ownership` on CreateBucket. No
//! configuration behaves as ObjectWriter (today's default, which keeps ACLs working on new
//! buckets). BucketOwnerEnforced disables ACLs: `s3::access` then lets only the bucket owner
//! (and the policy) grant, and refuses ACL-setting requests other than
//! bucket-owner-full-control.

use crate::engine::policy::{self, ObjectOwnership};
use crate::engine::{Acl, BucketMeta, Grantee};
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::read_small_body;
use crate::s3::xml;

pub async fn get(b: &BucketMeta) -> S3Result<Response> {
    let o = crate::s3::access::guards(b)
        .await?
        .ownership
        .ok_or_else(|| {
            S3Error::new(ErrorCode::OwnershipControlsNotFoundError).with("BucketName", &b.name)
        })?;
    Ok(Response::xml(200, xml::ownership_controls(o.as_str())))
}

/// Whether an ACL grants to anyone but the bucket owner.
fn grants_others(acl: &Acl, owner: Option<&str>) -> bool {
    acl.grants.iter().any(|g| match &g.grantee {
        Grantee::ExplicitOwner => false,
        Grantee::User { id } => Some(id.as_str()) != owner,
        _ => true,
    })
}

pub async fn put(ctx: &Ctx, req: &mut Request<'_>, b: &BucketMeta) -> S3Result<Response> {
    let body = read_small_body(req, ctx, xml::MAX_SMALL_XML_BODY_BYTES).await?;
    if body.is_empty() {
        return Err(S3Error::new(ErrorCode::MissingRequestBodyError));
    }
    let value = xml::parse_ownership_controls(&body)?;
    let o = ObjectOwnership::parse(&value).ok_or_else(|| S3Error::new(ErrorCode::MalformedXML))?;
    if o == ObjectOwnership::BucketOwnerEnforced && grants_others(&b.acl, Some(&b.owner_id)) {
        return Err(S3Error::new(ErrorCode::InvalidBucketAclWithObjectOwnership));
    }
    policy::set_ownership(&b.name, Some(o)).await?;
    Ok(Response::new(200))
}

/// The configuration rows a CreateBucket starts with: `x-amz-object-ownership`, if given.
/// BucketOwnerEnforced with an ACL granting others is InvalidBucketAclWithObjectOwnership.
pub fn create_bucket_configs(
    head: &RequestHead,
    acl: &Acl,
) -> S3Result<Vec<(crate::engine::ConfigKind, Vec<u8>)>> {
    let Some(v) = head.header("x-amz-object-ownership") else {
        return Ok(Vec::new());
    };
    let o = ObjectOwnership::parse(v.trim()).ok_or_else(|| {
        S3Error::invalid_argument(
            "Invalid x-amz-object-ownership header",
            "x-amz-object-ownership",
            v,
        )
    })?;
    if o == ObjectOwnership::BucketOwnerEnforced && grants_others(acl, None) {
        return Err(S3Error::new(ErrorCode::InvalidBucketAclWithObjectOwnership));
    }
    Ok(vec![policy::ownership_row(o)])
}

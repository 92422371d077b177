//! Put/Get/DeletePublicAccessBlock (the bucket's `PublicAccessBlockConfiguration`). What the
//! four settings do is applied in `s3::access` (ACL checks and the policy decision) and at
//! PutBucketPolicy.

use crate::engine::policy::{self, PublicAccessBlock};
use crate::engine::BucketMeta;
use crate::http::conn::Request;
use crate::http::response::Response;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::read_small_body;
use crate::s3::xml;

pub async fn get(b: &BucketMeta) -> S3Result<Response> {
    let p = crate::s3::access::guards(b)
        .await?
        .public_access
        .ok_or_else(|| {
            S3Error::new(ErrorCode::NoSuchPublicAccessBlockConfiguration)
                .with("BucketName", &b.name)
        })?;
    Ok(Response::xml(
        200,
        xml::public_access_block([
            p.block_public_acls,
            p.ignore_public_acls,
            p.block_public_policy,
            p.restrict_public_buckets,
        ]),
    ))
}

pub async fn put(ctx: &Ctx, req: &mut Request<'_>, b: &BucketMeta) -> S3Result<Response> {
    let body = read_small_body(req, ctx, xml::MAX_SMALL_XML_BODY_BYTES).await?;
    if body.is_empty() {
        return Err(S3Error::new(ErrorCode::MissingRequestBodyError));
    }
    let [a, i, p, r] = xml::parse_public_access_block(&body)?;
    let cfg = PublicAccessBlock {
        block_public_acls: a,
        ignore_public_acls: i,
        block_public_policy: p,
        restrict_public_buckets: r,
    };
    policy::set_public_access_block(&b.name, Some(cfg)).await?;
    Ok(Response::new(200))
}

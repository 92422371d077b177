//! Put/Get/DeleteBucketPolicy and GetBucketPolicyStatus; the dispatch of the bucket access
//! configurations (policy, public access block, ownership controls). The policy language and
//! its evaluation are `engine::policy`; the decision for each request is `s3::access::check`.

use crate::engine::policy::{self, StoredPolicy};
use crate::engine::Permission;
use crate::http::conn::Request;
use crate::http::response::{Body, Response};
use crate::s3::access::{authorize_bucket, guards};
use crate::s3::ctx::Ctx;
use crate::s3::endpoint::AccessOp;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::{read_small_body, CONFIG_BODY_BYTES_MAX};

/// Runs one of the bucket access configuration operations. Each needs the bucket owner, or
/// a policy that allows its action (and no policy Deny, except for the owner's own
/// Get/Put/DeleteBucketPolicy).
pub async fn dispatch(ctx: &Ctx, req: &mut Request<'_>, op: AccessOp) -> S3Result<Response> {
    use crate::s3::{ownership, public_access};
    let b = authorize_bucket(ctx, Permission::WriteAcp).await?;
    match op {
        AccessOp::GetBucketPolicy => get_bucket_policy(&b).await,
        AccessOp::PutBucketPolicy => put_bucket_policy(ctx, req, &b).await,
        AccessOp::DeleteBucketPolicy => {
            policy::set_policy(&b.name, None).await?;
            Ok(Response::new(204))
        }
        AccessOp::GetBucketPolicyStatus => get_policy_status(&b).await,
        AccessOp::GetPublicAccessBlock => public_access::get(&b).await,
        AccessOp::PutPublicAccessBlock => public_access::put(ctx, req, &b).await,
        AccessOp::DeletePublicAccessBlock => {
            policy::set_public_access_block(&b.name, None).await?;
            Ok(Response::new(204))
        }
        AccessOp::GetBucketOwnershipControls => ownership::get(&b).await,
        AccessOp::PutBucketOwnershipControls => ownership::put(ctx, req, &b).await,
        AccessOp::DeleteBucketOwnershipControls => {
            policy::set_ownership(&b.name, None).await?;
            Ok(Response::new(204))
        }
    }
}

async fn stored(b: &crate::engine::BucketMeta) -> S3Result<StoredPolicy> {
    guards(b)
        .await?
        .policy
        .ok_or_else(|| S3Error::new(ErrorCode::NoSuchBucketPolicy).with("BucketName", &b.name))
}

/// GetBucketPolicy: the JSON text as it was put.
async fn get_bucket_policy(b: &crate::engine::BucketMeta) -> S3Result<Response> {
    let p = stored(b).await?;
    let mut r = Response::new(200);
    r.header("content-type", "application/json");
    r.body = Body::Bytes(p.text.into_bytes());
    Ok(r)
}

/// GetBucketPolicyStatus: whether the policy is public (AWS's definition).
async fn get_policy_status(b: &crate::engine::BucketMeta) -> S3Result<Response> {
    let p = stored(b).await?;
    Ok(Response::xml(
        200,
        crate::s3::xml::policy_status(policy::is_public(&p.policy)),
    ))
}

/// PutBucketPolicy: a JSON document of at most 20 KB, parsed and checked
/// (MalformedPolicy); a public one is refused (403) under BlockPublicPolicy.
async fn put_bucket_policy(
    ctx: &Ctx,
    req: &mut Request<'_>,
    b: &crate::engine::BucketMeta,
) -> S3Result<Response> {
    let body = read_small_body(req, ctx, CONFIG_BODY_BYTES_MAX).await?;
    if body.is_empty() {
        return Err(S3Error::new(ErrorCode::MissingRequestBodyError));
    }
    if body.len() > policy::POLICY_BYTES_MAX {
        return Err(S3Error::msg(
            ErrorCode::MalformedPolicy,
            "Policies must be no more than 20 KB",
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| S3Error::msg(ErrorCode::MalformedPolicy, "Policies must be valid UTF-8"))?
        .to_string();
    let parsed = policy::parse(&text, &b.name)?;
    let g = guards(b).await?;
    if g.public_access
        .map(|p| p.block_public_policy)
        .unwrap_or(false)
        && policy::is_public(&parsed)
    {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    policy::set_policy(
        &b.name,
        Some(StoredPolicy {
            text,
            policy: parsed,
        }),
    )
    .await?;
    Ok(Response::new(204))
}

//! Put/Get/DeleteBucketLifecycleConfiguration: the requests and documents. The rules are
//! checked and stored by the engine (`engine::lifecycle`), which also runs them.

use crate::engine::lifecycle;
use crate::http::conn::Request;
use crate::http::response::Response;
use crate::s3::access::owned_bucket;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::read_small_body;
use crate::s3::xml;

/// GetBucketLifecycleConfiguration: the stored rules; NoSuchLifecycleConfiguration when
/// none are set.
pub async fn get_bucket_lifecycle(ctx: &Ctx) -> S3Result<Response> {
    let b = owned_bucket(ctx).await?;
    match lifecycle::get(&b).await? {
        Some(config) => Ok(Response::xml(200, xml::lifecycle(&config))),
        None => {
            Err(S3Error::new(ErrorCode::NoSuchLifecycleConfiguration)
                .with("BucketName", ctx.bucket()))
        }
    }
}

/// PutBucketLifecycleConfiguration: replaces the bucket's rules (200, as AWS).
pub async fn put_bucket_lifecycle(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    owned_bucket(ctx).await?;
    crate::s3::request::require_integrity_header(&req.head)?;
    let body = read_small_body(req, ctx, xml::LIFECYCLE_BODY_BYTES_MAX).await?;
    let config = xml::parse_lifecycle(&body)?;
    lifecycle::check(&config)?;
    lifecycle::set(ctx.bucket(), Some(config)).await?;
    Ok(Response::new(200))
}

/// DeleteBucketLifecycle: removes the rules (204, whether or not some were set).
pub async fn delete_bucket_lifecycle(ctx: &Ctx) -> S3Result<Response> {
    owned_bucket(ctx).await?;
    lifecycle::set(ctx.bucket(), None).await?;
    Ok(Response::new(204))
}

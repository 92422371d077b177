//! Loading what a request names and checking the caller may touch it: buckets, objects and
//! uploads, the caller's signature, and the expected-bucket-owner headers.

use crate::engine::{BucketMeta, ObjectMeta, Permission, UploadMeta};
use crate::http::head::RequestHead;
use crate::s3::acl;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};

/// Loads a bucket from its shard, or NoSuchBucket.
pub async fn load_bucket(name: &str) -> S3Result<BucketMeta> {
    crate::engine::read::bucket(name).await
}

/// Loads a bucket and checks the caller holds `perm` on it.
pub async fn authorize_bucket(ctx: &Ctx, perm: Permission) -> S3Result<BucketMeta> {
    let b = load_bucket(ctx.bucket()).await?;
    acl::require(&b.owner_id, &b.acl, ctx.caller.as_ref(), perm)?;
    Ok(b)
}

pub fn require_signed(ctx: &Ctx) -> S3Result<&crate::auth::users::User> {
    ctx.caller
        .as_ref()
        .ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))
}

/// Bucket and object in one hop, for a caller about to be checked against the object's ACL.
/// A missing key is NoSuchKey only to a caller who may list the bucket; anyone else gets
/// AccessDenied, as for an object they may not touch, so existence is not revealed.
pub async fn load_object_guarded(
    caller: Option<&crate::auth::users::User>,
    bucket: &str,
    key: &str,
) -> S3Result<(BucketMeta, ObjectMeta)> {
    let (bm, om) = crate::engine::read::bucket_and_maybe_object(bucket, key).await?;
    match om {
        Some(om) => Ok((bm, om)),
        None => {
            acl::require(&bm.owner_id, &bm.acl, caller, Permission::Read)?;
            Err(S3Error::no_such_key(key))
        }
    }
}

/// Loads an upload, or NoSuchUpload.
pub async fn load_upload(ctx: &Ctx, upload_id: &str) -> S3Result<UploadMeta> {
    crate::engine::read::upload(ctx.bucket(), ctx.key(), upload_id).await
}

/// `x-amz-expected-bucket-owner` (every bucket and object operation) and
/// `x-amz-source-expected-bucket-owner` (CopyObject, UploadPartCopy): 403 AccessDenied when
/// the bucket's owner is someone else. A missing bucket is left to the handler (NoSuchBucket).
pub async fn check_expected_owners(ctx: &Ctx, head: &RequestHead) -> S3Result<()> {
    use crate::s3::endpoint::Endpoint;
    if ctx.route.bucket.is_some() && ctx.route.endpoint != Endpoint::CreateBucket {
        if let Some(want) = head.header("x-amz-expected-bucket-owner") {
            expect_owner(ctx.bucket(), want).await?;
        }
    }
    let copies = matches!(
        ctx.route.endpoint,
        Endpoint::CopyObject | Endpoint::UploadPartCopy { .. }
    );
    if let (true, Some(want)) = (copies, head.header("x-amz-source-expected-bucket-owner")) {
        let src = head.header("x-amz-copy-source").unwrap_or("");
        let (sb, _) = crate::s3::request::parse_copy_source(src)?;
        expect_owner(&sb, want).await?;
    }
    Ok(())
}

async fn expect_owner(bucket: &str, want: &str) -> S3Result<()> {
    match load_bucket(bucket).await {
        Ok(b) if b.owner_id != want.trim() => Err(S3Error::new(ErrorCode::AccessDenied)),
        Err(e) if e.code != ErrorCode::NoSuchBucket => Err(e),
        _ => Ok(()),
    }
}

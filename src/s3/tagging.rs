//! Put/Get/DeleteObjectTagging and Put/Get/DeleteBucketTagging: the requests and
//! documents. Tags are stored by the engine (`engine::tagging`) in the records.

use crate::engine::tagging::{self, TagOwner};
use crate::engine::{BucketMeta, Permission};
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::s3::access::{authorize_bucket, load_bucket};
use crate::s3::acl;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::object::load_readable_object;
use crate::s3::request::read_small_body;
use crate::s3::xml;

/// The object version a tagging request names. Versioning hook: today only the current
/// object exists, named by no `versionId` or `versionId=null`; any other id is refused as
/// GetObjectAttributes refuses it. Once versions exist this resolves the id (and the
/// responses carry `x-amz-version-id`).
fn check_version(ctx: &Ctx) -> S3Result<()> {
    match ctx.route.param("versionId") {
        None | Some("null") => Ok(()),
        Some(v) => Err(S3Error::invalid_argument(
            "Invalid version id specified",
            "versionId",
            v,
        )),
    }
}

/// PutObjectTagging and PutBucketTagging require an integrity header (Content-MD5 or a
/// flexible checksum), as AWS does; the payload reader verifies whichever is sent.
fn require_integrity_header(head: &RequestHead) -> S3Result<()> {
    let has = head.header("content-md5").is_some()
        || head.headers.iter().any(|(n, _)| {
            n.starts_with("x-amz-checksum-")
                || n == "x-amz-sdk-checksum-algorithm"
                || n == "x-amz-trailer"
        });
    if has {
        return Ok(());
    }
    Err(S3Error::msg(
        ErrorCode::InvalidRequest,
        "Missing required header for this request: Content-MD5 or x-amz-checksum-*",
    ))
}

/// Reads and parses a `Tagging` body, then checks it against AWS's limits for `owner`.
async fn read_tags(
    ctx: &Ctx,
    req: &mut Request<'_>,
    owner: TagOwner,
) -> S3Result<crate::engine::Tags> {
    require_integrity_header(&req.head)?;
    let body = read_small_body(req, ctx, xml::MAX_SMALL_XML_BODY_BYTES).await?;
    let tags = xml::parse_tagging(&body)?;
    tagging::check(&tags, owner)?;
    Ok(tags)
}

/// GetObjectTagging: the object's tag set (an empty one when it has none). Needs read
/// access to the object, as GetObject does.
pub async fn get_object_tagging(ctx: &Ctx) -> S3Result<Response> {
    check_version(ctx)?;
    let (_b, m) = load_readable_object(ctx).await?;
    acl::require(&m.owner_id, &m.acl, ctx.caller.as_ref(), Permission::Read)?;
    Ok(Response::xml(200, xml::tagging(&m.tags)))
}

/// PutObjectTagging: replaces the object's tag set. Needs write access to the bucket, as
/// PutObject does.
pub async fn put_object_tagging(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    check_version(ctx)?;
    authorize_bucket(ctx, Permission::Write).await?;
    let tags = read_tags(ctx, req, TagOwner::Object).await?;
    tagging::set_object_tags(ctx.bucket(), ctx.key(), tags).await?;
    Ok(Response::new(200))
}

/// DeleteObjectTagging: removes the object's tag set (204, as AWS).
pub async fn delete_object_tagging(ctx: &Ctx) -> S3Result<Response> {
    check_version(ctx)?;
    authorize_bucket(ctx, Permission::Write).await?;
    tagging::set_object_tags(ctx.bucket(), ctx.key(), Vec::new()).await?;
    Ok(Response::new(204))
}

/// Bucket tagging belongs to the bucket's owner, as its other configurations do.
async fn owned_bucket(ctx: &Ctx) -> S3Result<BucketMeta> {
    let b = load_bucket(ctx.bucket()).await?;
    if ctx.caller_id() != Some(b.owner_id.as_str()) {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    Ok(b)
}

/// GetBucketTagging: the bucket's tag set; NoSuchTagSet when it has none.
pub async fn get_bucket_tagging(ctx: &Ctx) -> S3Result<Response> {
    let b = owned_bucket(ctx).await?;
    if b.tags.is_empty() {
        return Err(S3Error::new(ErrorCode::NoSuchTagSet).with("BucketName", ctx.bucket()));
    }
    Ok(Response::xml(200, xml::tagging(&b.tags)))
}

/// PutBucketTagging: replaces the bucket's tag set (204, as AWS).
pub async fn put_bucket_tagging(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    owned_bucket(ctx).await?;
    let tags = read_tags(ctx, req, TagOwner::Bucket).await?;
    tagging::set_bucket_tags(ctx.bucket(), tags).await?;
    Ok(Response::new(204))
}

/// DeleteBucketTagging: removes the bucket's tag set (204, whether or not it had one).
pub async fn delete_bucket_tagging(ctx: &Ctx) -> S3Result<Response> {
    owned_bucket(ctx).await?;
    tagging::set_bucket_tags(ctx.bucket(), Vec::new()).await?;
    Ok(Response::new(204))
}

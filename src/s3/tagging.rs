//! Put/Get/DeleteObjectTagging and Put/Get/DeleteBucketTagging: the requests and
//! documents. Tags are stored by the engine (`engine::tagging`) in the records.

use crate::engine::tagging::{self, TagOwner};
use crate::engine::{BucketMeta, Permission};
use crate::http::conn::Request;
use crate::http::response::Response;
use crate::s3::access::{authorize_bucket, owned_bucket};
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::read_small_body;
use crate::s3::versioning::{self, Loaded};
use crate::s3::xml;

/// The version a tag change names (`?versionId=`, or the current object). Its answer (a
/// delete marker: 404 for the key, 405 by version id) when there is none; which keys and
/// versions exist is told only to a caller who may list the bucket.
async fn version_for_change(ctx: &Ctx) -> S3Result<Result<std::rc::Rc<BucketMeta>, Response>> {
    authorize_bucket(ctx, Permission::Write).await?;
    Ok(match versioning::load_for_read(ctx, false).await? {
        Loaded::Found(b, _) => Ok(b),
        Loaded::Answered(r) => Err(r),
    })
}

/// Replaces the tag set of the version the request names, in one commit; answers
/// `x-amz-version-id` as AWS does.
async fn change_tags(
    ctx: &Ctx,
    b: &BucketMeta,
    tags: crate::engine::Tags,
    status: u16,
) -> S3Result<Response> {
    let sel = versioning::requested_version(ctx)?;
    let stamp = tagging::set_object_tags(ctx.bucket(), ctx.key(), sel, tags).await?;
    let mut r = Response::new(status);
    versioning::version_header(&mut r, b, stamp);
    Ok(r)
}

/// Reads and parses a `Tagging` body, then checks it against AWS's limits for `owner`.
async fn read_tags(
    ctx: &Ctx,
    req: &mut Request<'_>,
    owner: TagOwner,
) -> S3Result<crate::engine::Tags> {
    crate::s3::request::require_integrity_header(&req.head)?;
    let body = read_small_body(req, ctx, xml::MAX_SMALL_XML_BODY_BYTES).await?;
    let tags = xml::parse_tagging(&body)?;
    tagging::check(&tags, owner)?;
    Ok(tags)
}

/// GetObjectTagging: the object's tag set (an empty one when it has none). Needs read
/// access to the object, as GetObject does.
pub async fn get_object_tagging(ctx: &Ctx) -> S3Result<Response> {
    let (b, m) = match versioning::load_for_read(ctx, false).await? {
        Loaded::Found(b, m) => (b, m),
        Loaded::Answered(r) => return Ok(r),
    };
    crate::s3::access::authorize_object(ctx, &b, &m, Permission::Read).await?;
    let mut r = Response::xml(200, xml::tagging(&m.tags));
    versioning::version_header(&mut r, &b, m.version);
    Ok(r)
}

/// PutObjectTagging: replaces the tag set of the object or of the version named. Needs
/// write access to the bucket, as PutObject does.
pub async fn put_object_tagging(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let b = match version_for_change(ctx).await? {
        Ok(b) => b,
        Err(answered) => return Ok(answered),
    };
    let tags = read_tags(ctx, req, TagOwner::Object).await?;
    change_tags(ctx, &b, tags, 200).await
}

/// DeleteObjectTagging: removes the tag set of the object or of the version named (204, as
/// AWS).
pub async fn delete_object_tagging(ctx: &Ctx) -> S3Result<Response> {
    let b = match version_for_change(ctx).await? {
        Ok(b) => b,
        Err(answered) => return Ok(answered),
    };
    change_tags(ctx, &b, Vec::new(), 204).await
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

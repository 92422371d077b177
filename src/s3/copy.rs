//! CopyObject and UploadPartCopy: the copy source and its conditions, the metadata
//! directive, the result documents. The engine copies the bytes (`engine::copy`).

use crate::engine::copy::{CopyObject, Digester};
use crate::engine::etag_matches;
use crate::engine::{Checksums, ObjectMeta, Permission};
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::s3::access::{authorize_bucket, load_object_guarded, load_upload};
use crate::s3::acl;
use crate::s3::checksum::{Algo, Hashers};
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::reply::to_xml_checksums;
use crate::s3::request::{
    attrs_from_head, parse_copy_source, parse_part_number, tags_from_head, write_cond,
    PART_SIZE_MAX_BYTES,
};
use crate::s3::xml;

/// `x-amz-copy-source-if-*`: any failure is 412 (copies never answer 304).
fn check_copy_conditions(head: &RequestHead, m: &ObjectMeta) -> S3Result<()> {
    let fail = |c: &str| Err(S3Error::new(ErrorCode::PreconditionFailed).with("Condition", c));
    let lm_s = m.last_modified_ms / 1000;
    let date = |h: &str| {
        head.header(h)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
    };
    let if_match = head.header("x-amz-copy-source-if-match");
    if let Some(v) = if_match {
        if !etag_matches(v, &m.etag) {
            return fail("x-amz-copy-source-If-Match");
        }
    }
    if let Some(t) = date("x-amz-copy-source-if-unmodified-since") {
        if if_match.is_none() && lm_s > t {
            return fail("x-amz-copy-source-If-Unmodified-Since");
        }
    }
    let if_none = head.header("x-amz-copy-source-if-none-match");
    if let Some(v) = if_none {
        if etag_matches(v, &m.etag) {
            return fail("x-amz-copy-source-If-None-Match");
        }
    }
    if let Some(t) = date("x-amz-copy-source-if-modified-since") {
        if if_none.is_none() && lm_s <= t {
            return fail("x-amz-copy-source-If-Modified-Since");
        }
    }
    Ok(())
}

/// The turns a copy to `dest_lock` (a key, or a part's lock name, in the request's
/// bucket) holds, from the parsed `x-amz-copy-source`.
async fn copy_turns(
    ctx: &Ctx,
    head: &RequestHead,
    dest_lock: &str,
) -> S3Result<crate::engine::Turns> {
    let (sb, sk) = parse_copy_source(head.header("x-amz-copy-source").unwrap_or(""))?;
    crate::engine::copy::turns((&sb, &sk), (ctx.bucket(), dest_lock)).await
}

/// Loads the source object (the version `?versionId=` names, if any) and checks the caller
/// may read it.
async fn load_source(ctx: &Ctx, head: &RequestHead) -> S3Result<ObjectMeta> {
    let src = head.header("x-amz-copy-source").unwrap_or("");
    let (sb, sk) = parse_copy_source(src)?;
    let version = src
        .split_once("?versionId=")
        .and_then(|(_, v)| crate::engine::versions::parse_version_id(v));
    // A missing source is NoSuchKey only to a caller who may list its bucket.
    let (b, m) = match version {
        None => load_object_guarded(ctx, &sb, &sk).await?,
        Some(sel) => crate::s3::versioning::load_copy_source(ctx, &sb, &sk, sel).await?,
    };
    crate::s3::access::authorize_source(ctx, &b, &sk, &m, version.is_some()).await?;
    check_copy_conditions(head, &m)?;
    Ok(m)
}

/// Hashes copied bytes with the source's kinds of checksum (and MD5).
struct CopyDigester(Option<Hashers>);

impl CopyDigester {
    fn for_source(m: &ObjectMeta) -> CopyDigester {
        let algos: Vec<Algo> = crate::s3::checksum::ALL_ALGOS
            .iter()
            .copied()
            .filter(|a| crate::s3::checksum::get(&m.checksums, *a).is_some())
            .collect();
        CopyDigester(Some(Hashers::new(&algos)))
    }
}

impl Digester for CopyDigester {
    fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = self.0.as_mut() {
            h.update(bytes);
        }
    }

    fn finish(&mut self) -> ([u8; 16], Checksums) {
        let d = self.0.take().unwrap_or_else(|| Hashers::new(&[])).finish();
        (d.md5, to_checksums(d.checksums))
    }
}

fn to_checksums(list: Vec<(Algo, String)>) -> Checksums {
    let mut c = Checksums::default();
    for (a, v) in list {
        crate::s3::checksum::set(&mut c, a, v);
    }
    c
}

pub async fn copy_object(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let dest_bucket = authorize_bucket(ctx, Permission::Write).await?;
    let head = req.head.clone();
    let _turns = copy_turns(ctx, &head, ctx.key()).await?;
    let src = load_source(ctx, &head).await?;
    let (sb, sk) = parse_copy_source(head.header("x-amz-copy-source").unwrap_or(""))?;
    let replace = match head.header("x-amz-metadata-directive") {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(v) => {
            return Err(S3Error::invalid_argument(
                "Unknown metadata directive.",
                "x-amz-metadata-directive",
                v,
            ))
        }
    };
    let tags = copy_tags(&head)?;
    let lock = crate::s3::lock::lock_for_write(&head, &dest_bucket, false).await?;
    let new_acl = acl::from_headers(&head, Some(&dest_bucket.owner_id), &ctx.users)?;
    let owner_id =
        crate::s3::access::new_object_owner(ctx, &dest_bucket, ctx.key(), &head, new_acl.as_ref())
            .await?;
    let same = sb == ctx.bucket() && sk == ctx.key();
    if same && !replace && new_acl.is_none() && head.header("x-amz-storage-class").is_none() {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    if src.size > ctx.shared.config.limits.object_size_max {
        return Err(S3Error::new(ErrorCode::EntityTooLarge));
    }
    let copy = CopyObject {
        src: (&sb, &sk),
        dst: (ctx.bucket(), ctx.key()),
        owner_id,
        acl: new_acl.unwrap_or_default(),
        cond: write_cond(&head)?,
        tags,
        lock,
    };
    let metadata_bytes_max = ctx.shared.config.limits.metadata_bytes_max;
    let attrs = || {
        replace
            .then(|| attrs_from_head(&head, metadata_bytes_max))
            .transpose()
    };
    let mut digester = CopyDigester::for_source(&src);
    let done = crate::engine::copy::copy_object(copy, &src, attrs, &mut digester).await?;
    let xml_checksums = to_xml_checksums(&done.checksums);
    let mut r = Response::xml(
        200,
        xml::copy_object_result(&done.etag, done.last_modified_ms, &xml_checksums),
    );
    crate::s3::versioning::copy_headers(&mut r, &head, &src, done.version);
    Ok(r)
}

/// The copy's tags by `x-amz-tagging-directive`: COPY (the default) keeps the source's
/// (None), REPLACE takes `x-amz-tagging` (no tags without it).
fn copy_tags(head: &RequestHead) -> S3Result<Option<crate::engine::Tags>> {
    match head.header("x-amz-tagging-directive") {
        None | Some("COPY") => Ok(None),
        Some("REPLACE") => tags_from_head(head).map(Some),
        Some(v) => Err(S3Error::invalid_argument(
            "Unknown tagging directive.",
            "x-amz-tagging-directive",
            v,
        )),
    }
}

/// `x-amz-copy-source-range: bytes=a-b` (both bounds required, inside the object).
fn parse_source_range(v: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        S3Error::invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy", "x-amz-copy-source-range", v)
    };
    let spec = v.trim().strip_prefix("bytes=").ok_or_else(bad)?;
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if a > b {
        return Err(bad());
    }
    if b >= size {
        return Err(
            S3Error::new(ErrorCode::InvalidRange).with("ActualObjectSize", size.to_string())
        );
    }
    Ok((a, b + 1))
}

pub async fn upload_part_copy(
    ctx: &Ctx,
    req: &mut Request<'_>,
    upload_id: &str,
    part_number: &str,
) -> S3Result<Response> {
    let part_number = parse_part_number(part_number)?;
    authorize_bucket(ctx, Permission::Write).await?;
    load_upload(ctx, upload_id).await?;
    let head = req.head.clone();
    let lock_name = format!("{}\0{upload_id}\0{part_number}", ctx.key());
    let _turns = copy_turns(ctx, &head, &lock_name).await?;
    let src = load_source(ctx, &head).await?;
    let (sb, sk) = parse_copy_source(head.header("x-amz-copy-source").unwrap_or(""))?;
    let (start, end) = match head.header("x-amz-copy-source-range") {
        Some(r) => parse_source_range(r, src.size)?,
        None => (0, src.size),
    };
    if end - start > PART_SIZE_MAX_BYTES {
        return Err(S3Error::new(ErrorCode::EntityTooLarge));
    }
    // Parts always live in files (or upstream): completion references them without copying.
    let dst = ((ctx.bucket(), ctx.key()), upload_id, part_number);
    let mut digester = CopyDigester::for_source(&src);
    let done =
        crate::engine::copy::copy_part((&sb, &sk), &src, (start, end), dst, &mut digester).await?;
    let xml_checksums = to_xml_checksums(&done.checksums);
    let mut r = Response::xml(
        200,
        xml::copy_part_result(&done.etag, done.last_modified_ms, &xml_checksums),
    );
    crate::s3::versioning::copy_headers(&mut r, &head, &src, None);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_range_bounds() {
        assert_eq!(parse_source_range("bytes=0-9", 100).unwrap(), (0, 10));
        assert!(parse_source_range("bytes=5-", 100).is_err());
        assert_eq!(
            parse_source_range("bytes=0-100", 100).unwrap_err().code,
            ErrorCode::InvalidRange
        );
    }
}

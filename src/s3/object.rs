//! PutObject, GetObject, HeadObject, and object ACLs.

pub use crate::engine::object::ObjectAttrs;
use crate::engine::object::{Opened, PutObject};
pub use crate::engine::{etag_matches, WriteCond};
use crate::engine::{Acl, DataLoc, ObjectMeta, Permission};
use crate::hash::stack_str::StackStr;
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::{HeaderValue, Response};
use crate::s3::access::authorize_bucket;
use crate::s3::acl;
use crate::s3::acl::requested_acl;
use crate::s3::checksum;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::payload::PayloadReader;
use crate::s3::reply::{checksum_headers, checksum_type_header, etag_header};
use crate::s3::request::{attrs_from_head, tags_from_head, write_cond, STORED_HEADERS};
use crate::s3::versioning::Loaded;

pub async fn put_object(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let bucket = authorize_bucket(ctx, Permission::Write).await?;
    let cfg = &ctx.shared.config;
    let attrs = attrs_from_head(&req.head, cfg.limits.metadata_bytes_max)?;
    let acl = acl::from_headers(&req.head, Some(&bucket.owner_id), &ctx.users)?;
    let owner_id =
        crate::s3::access::new_object_owner(ctx, &bucket, ctx.key(), &req.head, acl.as_ref())
            .await?;
    let acl = acl.unwrap_or_default();
    let cond = write_cond(&req.head)?;
    let tags = tags_from_head(&req.head)?;
    let lock = crate::s3::lock::lock_for_write(&req.head, &bucket, true).await?;
    // Disjoint borrows of the request: the head is read while the body streams, no copy.
    let head = &req.head;
    let mut payload = PayloadReader::new(&mut req.body, &ctx.payload, head, &[])?;
    let declared = payload.declared_len();
    if declared.is_none() && !req_is_framed(head) {
        return Err(S3Error::new(ErrorCode::MissingContentLength));
    }
    if declared
        .map(|n| n > cfg.limits.object_size_max)
        .unwrap_or(false)
    {
        return Err(S3Error::new(ErrorCode::EntityTooLarge)
            .with("MaxSizeAllowed", cfg.limits.object_size_max.to_string()));
    }
    let put = PutObject {
        bucket: ctx.bucket(),
        key: ctx.key(),
        owner_id,
        attrs,
        acl,
        cond,
        len_max: cfg.limits.object_size_max,
        tags,
    };
    let done = crate::engine::object::put_with_lock(put, &mut payload, lock).await?;
    let mut r = Response::new(200);
    r.header("etag", etag_header(&done.etag));
    if let Some(v) = done.version {
        r.header("x-amz-version-id", crate::engine::versions::version_id(v));
    }
    checksum_headers(&mut r, &done.checksums);
    checksum_type_header(&mut r, &done.checksums);
    Ok(r)
}

fn req_is_framed(head: &RequestHead) -> bool {
    head.header("transfer-encoding").is_some()
}

/// A byte range resolved against an object size: `[start, end)`.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeSpec {
    Whole,
    Part(u64, u64),
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-`, `bytes=-n`. Syntactically invalid or multi-range headers
/// are ignored (whole object), as HTTP allows and S3 does.
pub fn parse_range(header: &str, size: u64) -> RangeSpec {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeSpec::Whole;
    };
    if spec.contains(',') {
        return RangeSpec::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return RangeSpec::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        let Ok(n) = b.parse::<u64>() else {
            return RangeSpec::Whole;
        };
        if n == 0 || size == 0 {
            return RangeSpec::Unsatisfiable;
        }
        return RangeSpec::Part(size.saturating_sub(n), size);
    }
    let Ok(start) = a.parse::<u64>() else {
        return RangeSpec::Whole;
    };
    let end = if b.is_empty() {
        size
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e.saturating_add(1).min(size),
            _ => return RangeSpec::Whole,
        }
    };
    if start >= size {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Part(start, end)
}

/// GET/HEAD preconditions in S3's order: If-Match, If-Unmodified-Since (412), then
/// If-None-Match, If-Modified-Since (304).
pub fn check_read_conditions(
    head: &RequestHead,
    etag: &str,
    last_modified_ms: u64,
) -> S3Result<()> {
    let lm_s = last_modified_ms / 1000;
    let date = |h: &str| {
        head.header(h)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map(secs)
    };
    let if_match = head.header("if-match");
    if let Some(v) = if_match {
        if !etag_matches(v, etag) {
            return Err(S3Error::new(ErrorCode::PreconditionFailed).with("Condition", "If-Match"));
        }
    } else if let Some(t) = date("if-unmodified-since") {
        if lm_s > t {
            return Err(S3Error::new(ErrorCode::PreconditionFailed)
                .with("Condition", "If-Unmodified-Since"));
        }
    }
    if let Some(v) = head.header("if-none-match") {
        if etag_matches(v, etag) {
            return Err(S3Error::new(ErrorCode::NotModified));
        }
    } else if let Some(t) = date("if-modified-since") {
        if lm_s <= t {
            return Err(S3Error::new(ErrorCode::NotModified));
        }
    }
    Ok(())
}

fn secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An HTTP date (IMF-fixdate), formatted inline.
pub fn http_date_ms(ms: u64) -> HeaderValue {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    HeaderValue::fmt(format_args!("{}", httpdate::HttpDate::from(t)))
}

const OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "content-type"),
    ("response-content-language", "content-language"),
    ("response-expires", "expires"),
    ("response-cache-control", "cache-control"),
    ("response-content-disposition", "content-disposition"),
    ("response-content-encoding", "content-encoding"),
];

/// Headers describing an object (shared by GET, HEAD and the copy paths).
fn object_headers(ctx: &Ctx, m: &ObjectMeta, resp: &mut Response) -> S3Result<()> {
    let overrides: Vec<(&str, String)> = OVERRIDES
        .iter()
        .filter_map(|(q, h)| ctx.route.param(q).map(|v| (*h, v.to_string())))
        .collect();
    if !overrides.is_empty() && ctx.caller.is_none() {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Request specific response headers cannot be used for anonymous GET requests.",
        ));
    }
    let over = |h: &str| {
        overrides
            .iter()
            .find(|(n, _)| *n == h)
            .map(|(_, v)| v.as_str())
    };
    resp.header("etag", etag_header(&m.etag));
    resp.header("last-modified", http_date_ms(m.last_modified_ms));
    resp.header("accept-ranges", "bytes");
    resp.header(
        "content-type",
        over("content-type").unwrap_or(&m.content_type),
    );
    for h in STORED_HEADERS {
        let v = over(h).or_else(|| {
            m.headers
                .iter()
                .find(|(n, _)| n == h)
                .map(|(_, v)| v.as_str())
        });
        if let Some(v) = v {
            resp.header(h, v);
        }
    }
    for (n, v) in &m.user_meta {
        resp.header_bytes(format!("x-amz-meta-{n}"), v.clone());
    }
    if let Some(n) = m.parts_count() {
        resp.header("x-amz-mp-parts-count", n.to_string());
    }
    if !m.tags.is_empty() {
        resp.header("x-amz-tagging-count", m.tags.len().to_string());
    }
    resp.header("x-amz-storage-class", "STANDARD");
    Ok(())
}

/// Attempts to open an object's first data file before answering; a replaced object's files
/// may vanish between reading the record and opening, so the record is read again.
const OPEN_RETRIES_MAX: usize = 3;

/// Like `load_bucket_and_object`, but a missing key is AccessDenied for a caller who may not
/// list the bucket (S3 does not reveal which keys exist to those who cannot list them).
pub async fn load_readable_object(ctx: &Ctx) -> S3Result<crate::engine::records::Records> {
    match crate::engine::records::bucket_and_object(ctx.bucket(), ctx.key()).await {
        Err(e) if e.code == ErrorCode::NoSuchKey => {
            let b = crate::s3::access::load_bucket(ctx.bucket()).await?;
            crate::s3::access::may_list(ctx, &b).await?;
            Err(e)
        }
        other => other,
    }
}

pub async fn get_object(ctx: &Ctx, req: &mut Request<'_>, head_only: bool) -> S3Result<Response> {
    // A store that reads a key's bytes in place keeps writers out until the data is open.
    let _turn = if head_only {
        Vec::new()
    } else {
        crate::engine::object::read_turn(ctx.bucket(), ctx.key()).await?
    };
    for _ in 0..OPEN_RETRIES_MAX {
        let (bucket, m) = match crate::s3::versioning::load_for_read(ctx, head_only).await? {
            Loaded::Found(b, m) => (b, m),
            Loaded::Answered(resp) => return Ok(resp),
        };
        crate::s3::access::authorize_object(ctx, &bucket, &m, Permission::Read).await?;
        if let Some(mut resp) = answer_get(ctx, &req.head, &m, head_only).await? {
            crate::s3::versioning::version_header(&mut resp, &bucket, m.version);
            crate::s3::lock::lock_headers(&mut resp, ctx, &bucket, &m.lock);
            return Ok(resp);
        }
    }
    Err(S3Error::internal(
        "object data kept vanishing while opening",
    ))
}

/// Builds the GET/HEAD response; None when the data file vanished (retry with a fresh record).
async fn answer_get(
    ctx: &Ctx,
    head: &RequestHead,
    m: &std::rc::Rc<ObjectMeta>,
    head_only: bool,
) -> S3Result<Option<Response>> {
    if let Err(e) = check_read_conditions(head, &m.etag, m.last_modified_ms) {
        if e.code != ErrorCode::NotModified {
            return Err(e);
        }
        // 304 carries the validators, no body.
        let mut r = Response::new(304);
        r.header("etag", etag_header(&m.etag));
        r.header("last-modified", http_date_ms(m.last_modified_ms));
        r.head_only = true;
        return Ok(Some(r));
    }
    let mut resp = Response::new(200);
    object_headers(ctx, m, &mut resp)?;
    let (mut start, mut end) = (0u64, m.size);
    if let Some(pn) = ctx.route.param("partNumber") {
        let n: usize = pn
            .parse()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Part number must be an integer between 1 and 10000, inclusive",
                    "partNumber",
                    pn,
                )
            })?;
        match (&m.data, m.parts_count()) {
            (DataLoc::Files(segs) | DataLoc::Upstream(segs), Some(count)) => {
                if n > count {
                    return Err(S3Error::new(ErrorCode::InvalidPartNumber)
                        .with("PartNumberRequested", n.to_string())
                        .with("ActualPartCount", count.to_string()));
                }
                start = segs[..n - 1].iter().map(|s| s.len).sum();
                end = start + segs[n - 1].len;
                resp.status = 206;
                resp.header(
                    "content-range",
                    format!("bytes {}-{}/{}", start, end.saturating_sub(1), m.size),
                );
            }
            _ if n == 1 => {}
            _ => {
                return Err(S3Error::new(ErrorCode::InvalidPartNumber)
                    .with("PartNumberRequested", n.to_string())
                    .with("ActualPartCount", "1"))
            }
        }
    } else if let Some(r) = head.header("range") {
        match parse_range(r, m.size) {
            RangeSpec::Whole => {}
            RangeSpec::Part(a, b) => {
                start = a;
                end = b;
                resp.status = 206;
                resp.header("content-range", format!("bytes {}-{}/{}", a, b - 1, m.size));
            }
            RangeSpec::Unsatisfiable => {
                return Err(S3Error::new(ErrorCode::InvalidRange)
                    .with("ActualObjectSize", m.size.to_string()));
            }
        }
    }
    // Whole-object checksums describe whole-object responses only.
    let whole = resp.status == 200;
    if whole
        && head
            .header("x-amz-checksum-mode")
            .map(|v| v.eq_ignore_ascii_case("ENABLED"))
            .unwrap_or(false)
    {
        checksum_headers(&mut resp, &m.checksums);
        checksum_type_header(&mut resp, &m.checksums);
    }
    resp.header("content-length", StackStr::<24>::decimal(end - start));
    if head_only {
        resp.head_only = true;
        return Ok(Some(resp));
    }
    match crate::engine::object::open(ctx.bucket(), ctx.key(), m, (start, end)).await? {
        Opened::Body(body) => resp.body = body,
        Opened::Nothing => {}
        Opened::Vanished => return Ok(None),
    }
    Ok(Some(resp))
}

/// Attribute names `x-amz-object-attributes` may list.
const OBJECT_ATTRIBUTES: [&str; 5] = [
    "ETag",
    "Checksum",
    "ObjectParts",
    "StorageClass",
    "ObjectSize",
];
/// Parts in one GetObjectAttributes page, at most (and by default).
const ATTRIBUTE_PARTS_MAX: u32 = 1000;

/// GetObjectAttributes (`GET /{key}?attributes`): the requested attributes of an object
/// without its data. Parts are numbered 1..=N in object order, as `?partNumber` reads them.
pub async fn get_object_attributes(ctx: &Ctx, head: &RequestHead) -> S3Result<Response> {
    crate::s3::versioning::requested_version(ctx)?;
    let mut wanted: Vec<&str> = Vec::new();
    for v in head.header_all("x-amz-object-attributes") {
        for name in v.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let known = OBJECT_ATTRIBUTES
                .iter()
                .find(|a| a.eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    S3Error::invalid_argument(
                        "Invalid attribute name specified.",
                        "x-amz-object-attributes",
                        name,
                    )
                })?;
            wanted.push(known);
        }
    }
    if wanted.is_empty() {
        return Err(S3Error::invalid_argument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
            "x-amz-object-attributes",
            "",
        ));
    }
    let number = |h: &str, max: u32| -> S3Result<Option<u32>> {
        match head.header(h) {
            None => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= max)
                .map(Some)
                .ok_or_else(|| S3Error::invalid_argument(format!("Invalid {h}"), h, v)),
        }
    };
    let marker = number("x-amz-part-number-marker", u32::MAX)?.unwrap_or(0);
    let max_parts = number("x-amz-max-parts", u32::MAX)?
        .unwrap_or(ATTRIBUTE_PARTS_MAX)
        .min(ATTRIBUTE_PARTS_MAX);
    let (b, m) = match crate::s3::versioning::load_for_read(ctx, false).await? {
        Loaded::Found(b, m) => (b, m),
        Loaded::Answered(resp) => return Ok(resp),
    };
    crate::s3::access::authorize_object(ctx, &b, &m, Permission::Read).await?;
    let has = |a: &str| wanted.contains(&a);
    let mut attrs = crate::s3::xml::ObjectAttributes::default();
    if has("ETag") {
        attrs.etag = Some(m.etag.clone());
    }
    if has("Checksum") {
        if let Some(t) = checksum::stored_type(&m.checksums) {
            attrs.checksum = Some((
                crate::s3::reply::to_xml_checksums(&m.checksums),
                t.name().to_string(),
            ));
        }
    }
    if has("ObjectParts") {
        if let (DataLoc::Files(segs) | DataLoc::Upstream(segs), Some(count)) =
            (&m.data, m.parts_count())
        {
            let page: Vec<(u32, u64)> = segs
                .iter()
                .enumerate()
                .map(|(i, s)| (i as u32 + 1, s.len))
                .filter(|(n, _)| *n > marker)
                .take(max_parts as usize)
                .collect();
            let last = page.last().map(|(n, _)| *n);
            attrs.parts = Some(crate::s3::xml::ObjectPartsPage {
                parts_count: count as u32,
                part_number_marker: marker,
                next_part_number_marker: last,
                max_parts,
                is_truncated: last.map(|n| (n as usize) < count).unwrap_or(false),
                parts: page,
            });
        }
    }
    if has("StorageClass") {
        attrs.storage_class = Some("STANDARD".into());
    }
    if has("ObjectSize") {
        attrs.object_size = Some(m.size);
    }
    let mut r = Response::xml(200, crate::s3::xml::object_attributes(&attrs));
    r.header("last-modified", http_date_ms(m.last_modified_ms));
    crate::s3::versioning::version_header(&mut r, &b, m.version);
    Ok(r)
}

pub async fn get_object_acl(ctx: &Ctx) -> S3Result<Response> {
    let (b, m) = match crate::s3::versioning::load_for_read(ctx, false).await? {
        Loaded::Found(b, m) => (b, m),
        Loaded::Answered(resp) => return Ok(resp),
    };
    crate::s3::access::authorize_object(ctx, &b, &m, Permission::ReadAcp).await?;
    let mut r = Response::xml(200, acl::acl_xml(ctx, &m.owner_id, &m.acl));
    crate::s3::versioning::version_header(&mut r, &b, m.version);
    Ok(r)
}

/// PutObjectAcl: replaces the ACL of the object or of the version named (`?versionId=`), in
/// one commit. A version id naming a delete marker is 405 MethodNotAllowed, as AWS.
pub async fn put_object_acl(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    // A missing key or version is told only to a caller who may list the bucket.
    let (b, m) = match crate::s3::versioning::load_for_read(ctx, false).await? {
        Loaded::Found(b, m) => (b, m),
        Loaded::Answered(resp) => return Ok(resp),
    };
    crate::s3::access::authorize_object(ctx, &b, &m, Permission::WriteAcp).await?;
    let sel = crate::s3::versioning::requested_version(ctx)?;
    let new_acl: Acl = requested_acl(ctx, req, &b.owner_id).await?;
    crate::s3::access::check_acl_headers(&b, &req.head, Some(&new_acl)).await?;
    crate::engine::object::set_acl(ctx.bucket(), ctx.key(), sel, new_acl).await?;
    Ok(Response::new(200))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), RangeSpec::Part(0, 10));
        assert_eq!(parse_range("bytes=90-", 100), RangeSpec::Part(90, 100));
        assert_eq!(parse_range("bytes=-10", 100), RangeSpec::Part(90, 100));
        assert_eq!(parse_range("bytes=-1000", 100), RangeSpec::Part(0, 100));
        assert_eq!(parse_range("bytes=50-1000", 100), RangeSpec::Part(50, 100));
        assert_eq!(parse_range("bytes=100-", 100), RangeSpec::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-2", 100), RangeSpec::Whole);
        assert_eq!(parse_range("bytes=a-b", 100), RangeSpec::Whole);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeSpec::Whole);
        assert_eq!(
            parse_range("bytes=18446744073709551615-", 100),
            RangeSpec::Unsatisfiable
        );
        assert_eq!(
            parse_range("bytes=0-18446744073709551615", 100),
            RangeSpec::Part(0, 100)
        );
    }
}

//! Multipart uploads: requests, checksum types, listings and result documents. The engine
//! stores the parts and completes uploads (`engine::multipart`).

use crate::engine::multipart::CompleteUpload;
use crate::engine::{now_ms, Checksums, Permission, UploadMeta, FULL_OBJECT_SUFFIX};
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::s3::access::{authorize_bucket, load_upload};
use crate::s3::acl;
use crate::s3::checksum::{self, Algo, ChecksumType};
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::payload::PayloadReader;
use crate::s3::reply::{self, checksum_headers, etag_header, listing, to_xml_checksums};
use crate::s3::request::{
    attrs_from_head, max_keys, parse_part_number, read_small_body, tags_from_head, write_cond,
    PART_SIZE_MAX_BYTES,
};
use crate::s3::xml;
use base64::Engine;

/// The expiry reaper, for the boot (which reaches the engine through s3/ until it moves to
/// server/).
pub use crate::engine::multipart::reap_expired;
/// S3's limits on parts.
pub use crate::engine::multipart::PART_NUMBER_MAX;
/// Uploads or parts in one listing page, at most.
const LIST_PAGE_MAX: usize = 1000;
/// Upload records examined for one ListMultipartUploads page (delimiter roll-ups).
const UPLOAD_SCAN_MAX: usize = 100_000;

fn new_upload_id() -> String {
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn create(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let bucket = authorize_bucket(ctx, Permission::Write).await?;
    let attrs = attrs_from_head(&req.head, ctx.shared.config.limits.metadata_bytes_max)?;
    let acl = acl::from_headers(&req.head, Some(&bucket.owner_id), &ctx.users)?;
    let owner_id =
        crate::s3::access::new_object_owner(ctx, &bucket, ctx.key(), &req.head, acl.as_ref())
            .await?;
    let acl = acl.unwrap_or_default();
    let (algo, checksum_type) = requested_checksum(&req.head)?;
    let tags = tags_from_head(&req.head)?;
    let lock = crate::s3::lock::lock_for_write(&req.head, &bucket, false).await?;
    // Stored as `ALGO` (composite) or `ALGO:FULL_OBJECT`; see `UploadMeta::checksum_algo_name`.
    let checksum_algorithm = algo.map(|a| match checksum_type {
        ChecksumType::FullObject => format!("{}{FULL_OBJECT_SUFFIX}", a.name()),
        ChecksumType::Composite => a.name().to_string(),
    });
    let upload = UploadMeta {
        bucket: ctx.bucket().to_string(),
        key: ctx.key().to_string(),
        upload_id: new_upload_id(),
        initiated_ms: now_ms(),
        owner_id,
        content_type: attrs.content_type,
        headers: attrs.headers,
        user_meta: attrs.user_meta,
        acl,
        checksum_algorithm,
        tags,
        lock,
    };
    let id = upload.upload_id.clone();
    crate::engine::multipart::create(upload).await?;
    let mut r = Response::xml(200, xml::initiate_multipart(ctx.bucket(), ctx.key(), &id));
    if let Some(a) = algo {
        r.header("x-amz-checksum-algorithm", a.name());
        r.header("x-amz-checksum-type", checksum_type.name());
    }
    Ok(r)
}

/// CreateMultipartUpload's `x-amz-checksum-algorithm` and `x-amz-checksum-type`. As AWS:
/// CRC64NVME is always FULL_OBJECT, the others default to COMPOSITE, FULL_OBJECT needs a CRC,
/// and a type needs an algorithm.
fn requested_checksum(head: &RequestHead) -> S3Result<(Option<Algo>, ChecksumType)> {
    let algo = match head.header("x-amz-checksum-algorithm") {
        Some(v) => Some(Algo::parse(v).ok_or_else(|| {
            S3Error::invalid_argument(
                "Checksum algorithm not supported",
                "x-amz-checksum-algorithm",
                v,
            )
        })?),
        None => None,
    };
    let requested = match head.header("x-amz-checksum-type") {
        Some(v) => Some(ChecksumType::parse(v).ok_or_else(|| {
            S3Error::invalid_argument(
                "Value for x-amz-checksum-type header is invalid.",
                "x-amz-checksum-type",
                v,
            )
        })?),
        None => None,
    };
    let Some(a) = algo else {
        if requested.is_some() {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
            ));
        }
        return Ok((None, ChecksumType::Composite));
    };
    let default = if a == Algo::Crc64Nvme {
        ChecksumType::FullObject
    } else {
        ChecksumType::Composite
    };
    let t = requested.unwrap_or(default);
    let ok = match t {
        ChecksumType::FullObject => checksum::combinable(a),
        ChecksumType::Composite => a != Algo::Crc64Nvme,
    };
    if !ok {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            format!(
                "The {} checksum type cannot be used with the {} checksum algorithm.",
                t.name(),
                a.name().to_ascii_lowercase()
            ),
        ));
    }
    Ok((Some(a), t))
}

/// The checksum type of an upload with a checksum algorithm.
fn upload_checksum_type(u: &UploadMeta) -> Option<String> {
    u.checksum_algorithm.as_ref()?;
    let t = if u.full_object_checksum() {
        ChecksumType::FullObject
    } else {
        ChecksumType::Composite
    };
    Some(t.name().to_string())
}

pub async fn upload_part(
    ctx: &Ctx,
    req: &mut Request<'_>,
    upload_id: &str,
    part_number: &str,
) -> S3Result<Response> {
    let part_number = parse_part_number(part_number)?;
    let bucket = authorize_bucket(ctx, Permission::Write).await?;
    let upload = load_upload(ctx, upload_id).await?;
    crate::s3::lock::check_part_integrity(&req.head, &bucket, &upload.lock).await?;
    let head = &req.head;
    let extra: Vec<Algo> = upload
        .checksum_algo_name()
        .and_then(Algo::parse)
        .into_iter()
        .collect();
    let mut payload = PayloadReader::new(&mut req.body, &ctx.payload, head, &extra)?;
    let declared = payload.declared_len();
    if declared.is_none() && head.header("transfer-encoding").is_none() {
        return Err(S3Error::new(ErrorCode::MissingContentLength));
    }
    if declared.map(|n| n > PART_SIZE_MAX_BYTES).unwrap_or(false) {
        return Err(S3Error::new(ErrorCode::EntityTooLarge));
    }
    let done = crate::engine::multipart::upload_part(
        (ctx.bucket(), ctx.key()),
        upload_id,
        part_number,
        &mut payload,
        PART_SIZE_MAX_BYTES,
    )
    .await?;
    let mut r = Response::new(200);
    r.header("etag", etag_header(&done.etag));
    checksum_headers(&mut r, &done.checksums);
    Ok(r)
}

pub async fn complete(ctx: &Ctx, req: &mut Request<'_>, upload_id: &str) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Write).await?;
    let conditions = write_cond(&req.head)?;
    let body = read_small_body(req, ctx, xml::MAX_XML_BODY_BYTES).await?;
    let requested = xml::parse_complete_multipart(&body)?;
    for w in requested.windows(2) {
        if w[1].part_number <= w[0].part_number {
            return Err(S3Error::new(ErrorCode::InvalidPartOrder));
        }
    }
    // The part checksums the client listed, checked against the stored parts' in the commit.
    let part_checksums: Vec<Checksums> = requested
        .iter()
        .map(|p| Checksums {
            crc32: p.checksum_crc32.clone(),
            crc32c: p.checksum_crc32c.clone(),
            crc64nvme: p.checksum_crc64nvme.clone(),
            sha1: p.checksum_sha1.clone(),
            sha256: p.checksum_sha256.clone(),
            composite_parts: 0,
        })
        .collect();
    let c = CompleteUpload {
        bucket: ctx.bucket().to_string(),
        key: ctx.key().to_string(),
        upload_id: upload_id.to_string(),
        parts: requested
            .into_iter()
            .map(|p| (p.part_number, p.etag))
            .collect(),
        part_size_min: ctx.shared.config.multipart.part_size_min,
        cond: conditions,
        now_ms: now_ms(),
        upstream: None,
        expected_checksum: expected_checksum(&req.head)?,
        part_checksums,
        pinned: None,
    };
    let location = format!(
        "/{}/{}",
        ctx.bucket(),
        crate::auth::sigv4::uri_encode(ctx.key(), false)
    );
    let (bucket, key) = (ctx.bucket().to_string(), ctx.key().to_string());
    // The version made is a header: known when the answer is made at once, and named by the
    // engine before a long (upstream) assembly starts, so a kept-alive answer carries it too.
    let version = std::rc::Rc::new(std::cell::Cell::new(None));
    let (seen, named) = (version.clone(), version.clone());
    let assembles = crate::engine::multipart::assembles(upload_id);
    let work = crate::engine::multipart::complete(c, move |v| named.set(v));
    let render = move |done: crate::engine::multipart::Completed| {
        seen.set(done.version);
        let xml_checksums = to_xml_checksums(&done.checksums);
        let checksum_type = checksum::stored_type(&done.checksums).map(ChecksumType::name);
        xml::complete_multipart(
            &location,
            &bucket,
            &key,
            &done.etag,
            &xml_checksums,
            checksum_type,
        )
    };
    // An upstream may take long to assemble a large object: that answer is kept alive with
    // whitespace meanwhile, as AWS does. A completion that only commits records answers when
    // done, with its status and every header (a kept-alive answer's go out before the commit).
    let mut resp = if assembles {
        reply::kept_alive(&req.head, &ctx.request_id, work, render).await?
    } else {
        Response::xml(200, render(work.await?))
    };
    if let Some(v) = version.get() {
        resp.header("x-amz-version-id", crate::engine::versions::version_id(v));
    }
    Ok(resp)
}

/// The whole object's checksum sent with CompleteMultipartUpload (at most one algorithm).
fn expected_checksum(head: &RequestHead) -> S3Result<Option<(String, String)>> {
    let mut found = None;
    for a in checksum::ALL_ALGOS {
        if let Some(v) = head.header(a.header()) {
            if found.is_some() {
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    "Expecting a single x-amz-checksum- header",
                ));
            }
            found = Some((a.name().to_string(), v.to_string()));
        }
    }
    Ok(found)
}

pub async fn abort(ctx: &Ctx, upload_id: &str) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Write).await?;
    crate::engine::multipart::abort(ctx.bucket(), ctx.key(), upload_id).await?;
    Ok(Response::new(204))
}

fn owner(ctx: &Ctx, id: &str) -> xml::Owner {
    xml::Owner {
        id: id.to_string(),
        display_name: Some(ctx.users.display_name(id)),
    }
}

pub async fn list_parts(ctx: &Ctx, upload_id: &str) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Read).await?;
    let upload = load_upload(ctx, upload_id).await?;
    let marker = match ctx.route.param("part-number-marker") {
        Some(v) => v.parse::<u32>().map_err(|_| {
            S3Error::invalid_argument("Invalid part-number-marker", "part-number-marker", v)
        })?,
        None => 0,
    };
    let max = max_keys(ctx, "max-parts")?.min(LIST_PAGE_MAX);
    let (parts, truncated) =
        crate::engine::read::parts(ctx.bucket(), upload_id, marker, max).await?;
    let result = xml::ListPartsResult {
        bucket: ctx.bucket().to_string(),
        key: ctx.key().to_string(),
        upload_id: upload_id.to_string(),
        part_number_marker: marker,
        next_part_number_marker: parts.last().map(|(n, _)| *n),
        max_parts: max as u32,
        is_truncated: truncated,
        parts: parts
            .iter()
            .map(|(n, p)| xml::PartEntry {
                part_number: *n,
                last_modified_ms: p.last_modified_ms,
                etag: p.etag.clone(),
                size: p.size,
                checksums: to_xml_checksums(&p.checksums),
            })
            .collect(),
        initiator: owner(ctx, &upload.owner_id),
        owner: owner(ctx, &upload.owner_id),
        storage_class: "STANDARD".into(),
        checksum_algorithm: upload.checksum_algo_name().map(str::to_string),
        checksum_type: upload_checksum_type(&upload),
    };
    listing(xml::list_parts(&result))
}

pub async fn list_uploads(ctx: &Ctx) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Read).await?;
    let prefix = ctx.route.param("prefix").unwrap_or("").to_string();
    let delimiter = ctx.route.param("delimiter").unwrap_or("").to_string();
    let key_marker = ctx.route.param("key-marker").unwrap_or("").to_string();
    let id_marker = ctx
        .route
        .param("upload-id-marker")
        .unwrap_or("")
        .to_string();
    let max = max_keys(ctx, "max-uploads")?.min(LIST_PAGE_MAX);
    let url = ctx.route.param("encoding-type") == Some("url");
    let scanned = crate::engine::read::uploads(
        ctx.bucket(),
        &prefix,
        &key_marker,
        &id_marker,
        UPLOAD_SCAN_MAX,
    )
    .await?;
    let mut uploads = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut truncated = false;
    let mut next: Option<(String, String)> = None;
    for up in scanned {
        let rolled = (!delimiter.is_empty())
            .then(|| {
                up.key[prefix.len()..]
                    .find(&delimiter)
                    .map(|i| up.key[..prefix.len() + i + delimiter.len()].to_string())
            })
            .flatten();
        if let Some(cp) = &rolled {
            if prefixes.last() == Some(cp) {
                continue;
            }
        }
        if uploads.len() + prefixes.len() == max {
            truncated = true;
            break;
        }
        next = Some((up.key.clone(), up.upload_id.clone()));
        match rolled {
            Some(cp) => prefixes.push(cp),
            None => uploads.push(xml::UploadEntry {
                key: up.key.clone(),
                upload_id: up.upload_id.clone(),
                initiator: owner(ctx, &up.owner_id),
                owner: owner(ctx, &up.owner_id),
                storage_class: "STANDARD".into(),
                initiated_ms: up.initiated_ms,
                checksum_algorithm: up.checksum_algo_name().map(str::to_string),
                checksum_type: upload_checksum_type(&up),
            }),
        }
    }
    let result = xml::ListUploadsResult {
        bucket: ctx.bucket().to_string(),
        key_marker,
        upload_id_marker: id_marker,
        next_key_marker: if truncated {
            next.as_ref().map(|n| n.0.clone())
        } else {
            None
        },
        next_upload_id_marker: if truncated {
            next.as_ref().map(|n| n.1.clone())
        } else {
            None
        },
        prefix: (!prefix.is_empty()).then_some(prefix),
        delimiter: (!delimiter.is_empty()).then_some(delimiter),
        max_uploads: max as u32,
        encoding_type_url: url,
        is_truncated: truncated,
        uploads,
        common_prefixes: prefixes,
    };
    listing(xml::list_multipart_uploads(&result))
}

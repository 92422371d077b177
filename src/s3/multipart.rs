//! Multipart uploads. Each part is its own data file, written, hashed and fsync'd like a
//! PutObject body. Completion is a metadata operation: the object's record lists the part
//! files as its segments, so no byte is copied and a 10,000-part complete is one commit.

use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::meta::commands::{CompleteUpload, MetaCmd};
use crate::meta::tables;
use crate::meta::types::DataLoc;
use crate::meta::types::FULL_OBJECT_SUFFIX;
use crate::meta::types::{Checksums, PartMeta, Permission, UploadMeta};
use crate::runtime::{apply_for_bucket, on_shard, shard_for_bucket};
use crate::s3::acl;
use crate::s3::bucket::{authorize_bucket, now_ms, read_small_body};
use crate::s3::checksum::{self, Algo, ChecksumType};
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::object::{attrs_from_head, checksum_headers, etag_header, write_cond};
use crate::s3::payload::PayloadReader;
use crate::s3::service::Ctx;
use crate::s3::xml;
use crate::storage::gateway::bridge::PutTarget;
use crate::storage::gateway::upload_version;
use crate::storage::local;
use base64::Engine;

/// S3's limits on parts.
pub const PART_NUMBER_MAX: u32 = 10_000;
pub const PART_SIZE_MAX_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// Uploads or parts in one listing page, at most.
const LIST_PAGE_MAX: usize = 1000;
/// Upload records examined for one ListMultipartUploads page (delimiter roll-ups).
const UPLOAD_SCAN_MAX: usize = 100_000;

pub fn parse_part_number(s: &str) -> S3Result<u32> {
    s.parse::<u32>()
        .ok()
        .filter(|n| (1..=PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
                "partNumber",
                s,
            )
        })
}

fn new_upload_id() -> String {
    let bytes: [u8; 24] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn no_such_upload(id: &str) -> S3Error {
    S3Error::new(ErrorCode::NoSuchUpload).with("UploadId", id)
}

pub async fn create(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let bucket = authorize_bucket(ctx, Permission::Write).await?;
    let attrs = attrs_from_head(&req.head, ctx.shared.config.limits.metadata_bytes_max)?;
    let acl = acl::from_headers(&req.head, Some(&bucket.owner_id))?.unwrap_or_default();
    let (algo, checksum_type) = requested_checksum(&req.head)?;
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
        owner_id: ctx.caller_id().unwrap_or(&bucket.owner_id).to_string(),
        content_type: attrs.content_type,
        headers: attrs.headers,
        user_meta: attrs.user_meta,
        acl,
        checksum_algorithm,
    };
    let id = upload.upload_id.clone();
    apply_for_bucket(ctx.bucket(), MetaCmd::CreateUpload(upload), Vec::new()).await?;
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

/// Loads an upload, or NoSuchUpload.
pub async fn load_upload(ctx: &Ctx, upload_id: &str) -> S3Result<UploadMeta> {
    let (b, k, u) = (
        ctx.bucket().to_string(),
        ctx.key().to_string(),
        upload_id.to_string(),
    );
    on_shard(shard_for_bucket(ctx.bucket()), move |s| async move {
        let txn = s.read()?;
        if tables::get_bucket(&txn, &b)?.is_none() {
            return Err(S3Error::no_such_bucket(&b));
        }
        tables::get_upload(&txn, &b, &k, &u)?.ok_or_else(|| no_such_upload(&u))
    })
    .await
}

/// Records a part (replacing a same-numbered one) once its file is durable.
pub async fn commit_part(
    ctx: &Ctx,
    upload_id: &str,
    part_number: u32,
    part: PartMeta,
    dir: Option<std::path::PathBuf>,
) -> S3Result<()> {
    let new_file = part.file_id;
    let cmd = MetaCmd::PutPart {
        bucket: ctx.bucket().to_string(),
        key: ctx.key().to_string(),
        upload_id: upload_id.to_string(),
        part_number,
        part,
    };
    match apply_for_bucket(ctx.bucket(), cmd, dir.into_iter().collect()).await {
        Ok(reply) => {
            crate::s3::object::free_data(ctx, ctx.bucket(), ctx.key(), reply.freed);
            Ok(())
        }
        Err(e) => {
            crate::s3::object::free_data(ctx, ctx.bucket(), ctx.key(), vec![new_file]);
            Err(e)
        }
    }
}

pub async fn upload_part(
    ctx: &Ctx,
    req: &mut Request<'_>,
    upload_id: &str,
    part_number: &str,
) -> S3Result<Response> {
    let part_number = parse_part_number(part_number)?;
    authorize_bucket(ctx, Permission::Write).await?;
    let upload = load_upload(ctx, upload_id).await?;
    let head = req.head.clone();
    let extra: Vec<Algo> = upload
        .checksum_algo_name()
        .and_then(Algo::parse)
        .into_iter()
        .collect();
    let mut payload = PayloadReader::new(&mut req.body, &ctx.payload, &head, &extra)?;
    let declared = payload.declared_len();
    if declared.is_none() && head.header("transfer-encoding").is_none() {
        return Err(S3Error::new(ErrorCode::MissingContentLength));
    }
    if declared.map(|n| n > PART_SIZE_MAX_BYTES).unwrap_or(false) {
        return Err(S3Error::new(ErrorCode::EntityTooLarge));
    }
    if let Some(gw) = &ctx.shared.gateway {
        let lock_name = format!("{}\0{upload_id}\0{part_number}", ctx.key());
        let _turn = crate::s3::object::gateway_write_turn(ctx, &lock_name).await?;
        let target = PutTarget::Part {
            dst: gw.object_name(ctx.bucket(), ctx.key(), upload_version(upload_id)),
            upload_id: upload_id.to_string(),
            part_number,
        };
        let verified = crate::s3::object::gateway_put(
            ctx,
            gw,
            target,
            &mut payload,
            declared,
            PART_SIZE_MAX_BYTES,
        )
        .await?;
        let part = PartMeta {
            size: verified.len,
            etag: hex::encode(verified.md5),
            last_modified_ms: now_ms(),
            file_id: 0,
            checksums: verified.checksums.clone(),
            chunk_crc32c: Vec::new(),
        };
        let etag = part.etag.clone();
        commit_part(ctx, upload_id, part_number, part, None).await?;
        let mut r = Response::new(200);
        r.header("etag", etag_header(&etag));
        checksum_headers(&mut r, &verified.checksums);
        return Ok(r);
    }
    let written =
        local::write_file(&ctx.shared.data_dir, &mut payload, PART_SIZE_MAX_BYTES).await?;
    crate::observe::metrics::direct_written(written.len);
    let verified = match payload.finish() {
        Ok(v) => v,
        Err(e) => {
            local::remove_files_later(&ctx.shared.data_dir, vec![written.file_id]);
            return Err(e);
        }
    };
    let part = PartMeta {
        size: verified.len,
        etag: hex::encode(verified.md5),
        last_modified_ms: now_ms(),
        file_id: written.file_id,
        checksums: verified.checksums.clone(),
        chunk_crc32c: written.chunk_crc32c.clone(),
    };
    let etag = part.etag.clone();
    commit_part(ctx, upload_id, part_number, part, Some(written.dir)).await?;
    let mut r = Response::new(200);
    r.header("etag", etag_header(&etag));
    checksum_headers(&mut r, &verified.checksums);
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
    let mut c = CompleteUpload {
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
    };
    let _turn = crate::s3::object::gateway_write_turn(ctx, ctx.key()).await?;
    let upstream_parts = if ctx.shared.gateway.is_some() {
        assemble_upstream(ctx, &mut c).await?
    } else {
        Vec::new()
    };
    let cmd = MetaCmd::CompleteUpload(c);
    let reply = apply_for_bucket(ctx.bucket(), cmd, Vec::new()).await?;
    crate::s3::object::free_data(ctx, ctx.bucket(), ctx.key(), reply.freed);
    // Only now, with the object's record durable, may the staged parts go.
    discard_upstream_parts(ctx, upload_id, upstream_parts).await;
    let etag = reply.etag.unwrap_or_default();
    let checksums = reply.checksums.unwrap_or_default();
    let location = format!(
        "/{}/{}",
        ctx.bucket(),
        crate::auth::sigv4::uri_encode(ctx.key(), false)
    );
    let xml_checksums = to_xml_checksums(&checksums);
    let checksum_type = checksum::stored_type(&checksums).map(ChecksumType::name);
    Ok(Response::xml(
        200,
        xml::complete_multipart(
            &location,
            ctx.bucket(),
            ctx.key(),
            &etag,
            &xml_checksums,
            checksum_type,
        ),
    ))
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

/// Gateway backends: validates the part list as the commit will, then assembles the
/// parts upstream into the object, so the commit only records what already exists.
/// (An upload already completed is left to the commit, which answers a retry.) Returns
/// every stored part number, for discarding the staged parts after the commit.
async fn assemble_upstream(ctx: &Ctx, c: &mut CompleteUpload) -> S3Result<Vec<u32>> {
    c.upstream = Some(upload_version(&c.upload_id));
    let gw = crate::s3::object::gateway(ctx)?;
    let (b, k, u) = (c.bucket.clone(), c.key.clone(), c.upload_id.clone());
    let found = on_shard(shard_for_bucket(&b), move |s| async move {
        let txn = s.read()?;
        let Some(upload) = tables::get_upload(&txn, &b, &k, &u)? else {
            return Ok(None);
        };
        let (parts, _) = tables::list_parts(&txn, &u, 0, PART_NUMBER_MAX as usize + 1)?;
        Ok::<_, S3Error>(Some((upload, parts)))
    })
    .await?;
    let Some((upload, parts)) = found else {
        return Ok(Vec::new());
    };
    let existing = crate::s3::object::load_object_meta(&c.bucket, &c.key).await?;
    c.cond.check(&c.key, existing.as_ref())?;
    let meta = crate::meta::commands::assemble(&upload, &parts, c)?;
    let DataLoc::Upstream(segs) = &meta.data else {
        return Err(S3Error::internal("upstream assembly of a local upload"));
    };
    let chosen: Vec<(u32, u64)> = c
        .parts
        .iter()
        .zip(segs.iter())
        .map(|((n, _), s)| (*n, s.len))
        .collect();
    let stored: Vec<u32> = parts.iter().map(|(n, _)| *n).collect();
    gw.complete(
        gw.object_name(&c.bucket, &c.key, upload_version(&c.upload_id)),
        c.upload_id.clone(),
        chosen,
    )
    .await?;
    Ok(stored)
}

/// Gateway backends: discards an upload's parts upstream (after its record is gone).
async fn discard_upstream_parts(ctx: &Ctx, upload_id: &str, part_numbers: Vec<u32>) {
    if let Some(gw) = &ctx.shared.gateway {
        let dst = gw.object_name(ctx.bucket(), ctx.key(), upload_version(upload_id));
        if let Err(e) = gw.abort(dst, upload_id.to_string(), part_numbers).await {
            tracing::warn!(
                upload_id,
                code = e.code.as_str(),
                "gateway: discarding parts failed"
            );
        }
    }
}

pub fn to_xml_checksums(c: &Checksums) -> xml::Checksums {
    let suffix = |v: &Option<String>| {
        v.as_ref().map(|s| {
            if c.composite_parts > 0 {
                format!("{s}-{}", c.composite_parts)
            } else {
                s.clone()
            }
        })
    };
    xml::Checksums {
        crc32: suffix(&c.crc32),
        crc32c: suffix(&c.crc32c),
        crc64nvme: suffix(&c.crc64nvme),
        sha1: suffix(&c.sha1),
        sha256: suffix(&c.sha256),
    }
}

pub async fn abort(ctx: &Ctx, upload_id: &str) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Write).await?;
    let part_numbers = if ctx.shared.gateway.is_some() {
        let u = upload_id.to_string();
        on_shard(shard_for_bucket(ctx.bucket()), move |s| async move {
            let txn = s.read()?;
            let (parts, _) = tables::list_parts(&txn, &u, 0, PART_NUMBER_MAX as usize + 1)?;
            Ok::<_, S3Error>(parts.into_iter().map(|(n, _)| n).collect())
        })
        .await?
    } else {
        Vec::new()
    };
    let cmd = MetaCmd::AbortUpload {
        bucket: ctx.bucket().to_string(),
        key: ctx.key().to_string(),
        upload_id: upload_id.to_string(),
    };
    let reply = apply_for_bucket(ctx.bucket(), cmd, Vec::new()).await?;
    crate::s3::object::free_data(ctx, ctx.bucket(), ctx.key(), reply.freed);
    discard_upstream_parts(ctx, upload_id, part_numbers).await;
    Ok(Response::new(204))
}

fn owner(ctx: &Ctx, id: &str) -> xml::Owner {
    xml::Owner {
        id: id.to_string(),
        display_name: Some(ctx.shared.users.display_name(id)),
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
    let max = crate::s3::list::max_keys(ctx, "max-parts")?.min(LIST_PAGE_MAX);
    let u = upload_id.to_string();
    let (parts, truncated) = on_shard(shard_for_bucket(ctx.bucket()), move |s| async move {
        let txn = s.read()?;
        tables::list_parts(&txn, &u, marker, max)
    })
    .await?;
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
    crate::s3::list::listing(xml::list_parts(&result))
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
    let max = crate::s3::list::max_keys(ctx, "max-uploads")?.min(LIST_PAGE_MAX);
    let url = ctx.route.param("encoding-type") == Some("url");
    let (b, p, km, im) = (
        ctx.bucket().to_string(),
        prefix.clone(),
        key_marker.clone(),
        id_marker.clone(),
    );
    let scanned = on_shard(shard_for_bucket(ctx.bucket()), move |s| async move {
        let txn = s.read()?;
        tables::list_uploads(&txn, &b, &p, &km, &im, UPLOAD_SCAN_MAX)
    })
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
    crate::s3::list::listing(xml::list_multipart_uploads(&result))
}

/// Deletes uploads older than `ttl_s` on this core's shards: records first (one commit per
/// shard), files after, so a crash in between leaves only orphans for the start-up sweep.
pub async fn reap_expired(
    ttl_s: u64,
    data_dir: std::path::PathBuf,
    gateway: Option<std::sync::Arc<crate::storage::gateway::bridge::Gateway>>,
) {
    let core = crate::runtime::core();
    let cutoff = now_ms().saturating_sub(ttl_s.saturating_mul(1000));
    for shard in core.shards.values() {
        let expired = match shard
            .read()
            .and_then(|t| tables::all_uploads_before(&t, cutoff))
        {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "multipart reaper: cannot scan uploads");
                continue;
            }
        };
        if expired.is_empty() {
            continue;
        }
        let count = expired.len();
        let mut upstream_parts = Vec::new();
        if let Some(gw) = &gateway {
            for u in &expired {
                let parts = shard.read().and_then(|t| {
                    tables::list_parts(&t, &u.upload_id, 0, PART_NUMBER_MAX as usize + 1)
                });
                if let Ok((parts, _)) = parts {
                    let numbers: Vec<u32> = parts.into_iter().map(|(n, _)| n).collect();
                    upstream_parts.push((
                        gw.object_name(&u.bucket, &u.key, upload_version(&u.upload_id)),
                        u.upload_id.clone(),
                        numbers,
                    ));
                }
            }
        }
        let uploads = expired
            .into_iter()
            .map(|u| (u.bucket, u.key, u.upload_id))
            .collect();
        match shard
            .apply(MetaCmd::DropUploads { uploads }, Vec::new())
            .await
        {
            Ok(reply) => {
                tracing::info!(uploads = count, "reaped expired multipart uploads");
                local::remove_files_later(&data_dir, reply.freed);
                if let Some(gw) = &gateway {
                    for (dst, upload_id, numbers) in upstream_parts {
                        if let Err(e) = gw.abort(dst, upload_id, numbers).await {
                            tracing::warn!(
                                code = e.code.as_str(),
                                "reaper: discarding upstream parts failed"
                            );
                        }
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "multipart reaper: commit failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_numbers_are_bounded() {
        assert_eq!(parse_part_number("1").unwrap(), 1);
        assert_eq!(parse_part_number("10000").unwrap(), 10000);
        assert!(parse_part_number("0").is_err());
        assert!(parse_part_number("10001").is_err());
        assert!(parse_part_number("x").is_err());
    }
}

//! CopyObject and UploadPartCopy: the source is read with O_DIRECT and streamed into a new
//! data file, hashed on the way; inline sources are copied inside the metadata record.

use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::{BodyStream, Chunk, Response};
use crate::meta::types::{DataLoc, ObjectMeta, PartMeta, Permission};
use crate::s3::acl;
use crate::s3::bucket::{authorize_bucket, now_ms};
use crate::s3::checksum::{Algo, Hashers};
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::object::{attrs_from_head, commit_object, etag_matches, write_cond};
use crate::s3::service::Ctx;
use crate::s3::xml;
use crate::storage::gateway::bridge::PutTarget;
use crate::storage::{local, ByteSource};
use futures::future::LocalBoxFuture;

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=null]`, URL-encoded.
pub fn parse_copy_source(v: &str) -> S3Result<(String, String)> {
    let (path, query) = v.split_once('?').unwrap_or((v, ""));
    if let Some(version) = query.strip_prefix("versionId=") {
        if version != "null" {
            return Err(S3Error::invalid_argument(
                "Invalid version id specified",
                "x-amz-copy-source",
                v,
            ));
        }
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| {
            S3Error::invalid_argument("Invalid copy source encoding", "x-amz-copy-source", v)
        })?;
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    match trimmed.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(S3Error::invalid_argument(
            "Invalid copy source object key",
            "x-amz-copy-source",
            v,
        )),
    }
}

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

/// Gateway backends: a copy reads the source's upstream object and writes the
/// destination's in place, so it holds the source shared and the destination (`dest_lock`
/// in the request's bucket) alone, taken in one global order so crossing copies
/// (A→B beside B→A) cannot deadlock.
async fn gateway_copy_turns(
    ctx: &Ctx,
    head: &RequestHead,
    dest_lock: &str,
) -> S3Result<Vec<crate::runtime::key_lock::KeyGuard>> {
    use crate::runtime::key_lock::{lock, lock_shared};
    if ctx.shared.gateway.is_none() {
        return Ok(Vec::new());
    }
    let (sb, sk) = parse_copy_source(head.header("x-amz-copy-source").unwrap_or(""))?;
    let dest = (ctx.bucket(), dest_lock);
    let src = (sb.as_str(), sk.as_str());
    if src == dest {
        return Ok(vec![lock(dest.0, dest.1).await?]);
    }
    let mut guards = Vec::with_capacity(2);
    if src < dest {
        guards.push(lock_shared(src.0, src.1).await?);
        guards.push(lock(dest.0, dest.1).await?);
    } else {
        guards.push(lock(dest.0, dest.1).await?);
        guards.push(lock_shared(src.0, src.1).await?);
    }
    Ok(guards)
}

/// Loads the source object and checks the caller may read it.
async fn load_source(ctx: &Ctx, head: &RequestHead) -> S3Result<ObjectMeta> {
    let src = head.header("x-amz-copy-source").unwrap_or("");
    let (sb, sk) = parse_copy_source(src)?;
    // A missing source is NoSuchKey only to a caller who may list its bucket.
    let (_b, m) = crate::s3::bucket::load_object_guarded(ctx.caller.as_ref(), &sb, &sk).await?;
    acl::require(&m.owner_id, &m.acl, ctx.caller.as_ref(), Permission::Read)?;
    check_copy_conditions(head, &m)?;
    Ok(m)
}

/// Feeds a byte range of an object to a writer, hashing it.
struct ObjectSource {
    stream: Box<dyn BodyStream>,
    pending: Option<(Chunk, usize)>,
    hashers: Hashers,
}

impl ObjectSource {
    async fn read_into(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        if self.pending.is_none() {
            match self.stream.next_chunk().await {
                Ok(Some(c)) => self.pending = Some((c, 0)),
                Ok(None) => return Ok(0),
                Err(e) => return Err(S3Error::internal(format!("reading copy source: {e}"))),
            }
        }
        let Some((chunk, off)) = self.pending.as_mut() else {
            return Ok(0);
        };
        let n = (chunk.len() - *off).min(dst.len());
        dst[..n].copy_from_slice(&chunk[*off..*off + n]);
        self.hashers.update(&dst[..n]);
        *off += n;
        if *off == chunk.len() {
            self.pending = None;
        }
        Ok(n)
    }
}

impl ByteSource for ObjectSource {
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>> {
        Box::pin(self.read_into(dst))
    }
}

/// An in-memory (inline) source as a one-chunk stream.
struct OnceStream(Option<Vec<u8>>);

impl BodyStream for OnceStream {
    fn next_chunk(&mut self) -> LocalBoxFuture<'_, std::io::Result<Option<Chunk>>> {
        let c = self.0.take().map(|v| Box::new(v) as Chunk);
        Box::pin(async move { Ok(c) })
    }
}

type Copied = (
    DataLoc,
    [u8; 16],
    crate::meta::types::Checksums,
    Option<std::path::PathBuf>,
);

/// Where copied bytes go: an object (may stay inline on the local backend) or a part.
enum CopyDest<'a> {
    Object,
    Part {
        upload_id: &'a str,
        part_number: u32,
    },
}

/// Copies bytes `[start, end)` of `m` (object `src` = (bucket, key)) into new storage for
/// the request's key; returns location, md5 and the source's checksum kinds recomputed.
async fn copy_range(
    ctx: &Ctx,
    src: (&str, &str),
    m: &ObjectMeta,
    (start, end): (u64, u64),
    dest: CopyDest<'_>,
) -> S3Result<Copied> {
    let algos: Vec<Algo> = crate::s3::checksum::ALL_ALGOS
        .iter()
        .copied()
        .filter(|a| crate::s3::checksum::get(&m.checksums, *a).is_some())
        .collect();
    let len = end - start;
    if let (DataLoc::Inline(bytes), CopyDest::Object, None) = (&m.data, &dest, &ctx.shared.gateway)
    {
        let slice = &bytes[start as usize..end as usize];
        let mut h = Hashers::new(&algos);
        h.update(slice);
        let d = h.finish();
        let loc = DataLoc::Inline(slice.to_vec());
        return Ok((loc, d.md5, to_checksums(d.checksums), None));
    }
    let stream: Box<dyn BodyStream> = match &m.data {
        DataLoc::Inline(bytes) => Box::new(OnceStream(Some(
            bytes[start as usize..end as usize].to_vec(),
        ))),
        DataLoc::Files(segs) => {
            let s = local::FileStream::new(ctx.shared.data_dir.clone(), segs, start, end, None);
            if s.vanished() {
                // The source was replaced after its record was read: SDKs retry a 503.
                return Err(S3Error::new(ErrorCode::SlowDown)
                    .caused_by("copy source replaced while the copy started"));
            }
            Box::new(s)
        }
        DataLoc::Upstream(segs) => {
            let gw = crate::s3::object::gateway(ctx)?;
            let version = segs.first().map(|s| s.file_id).unwrap_or(0);
            let name = gw.object_name(src.0, src.1, version);
            Box::new(gw.get(name, start, end, m.size).await?)
        }
    };
    let mut source = ObjectSource {
        stream,
        pending: None,
        hashers: Hashers::new(&algos),
    };
    if let Some(gw) = &ctx.shared.gateway {
        let (target, version) = match dest {
            CopyDest::Object => {
                let version = local::new_file_id();
                let dst = gw.object_name(ctx.bucket(), ctx.key(), version);
                (PutTarget::Object(dst), version)
            }
            CopyDest::Part {
                upload_id,
                part_number,
            } => {
                let v = crate::storage::gateway::upload_version(upload_id);
                let target = PutTarget::Part {
                    dst: gw.object_name(ctx.bucket(), ctx.key(), v),
                    upload_id: upload_id.to_string(),
                    part_number,
                };
                (target, 0) // parts are named by upload and number, not by version
            }
        };
        let pending = gw.put(target, &mut source, len).await?;
        pending.commit().await?;
        let d = source.hashers.finish();
        let seg = crate::s3::object::upstream_segment(version, len, None);
        let loc = DataLoc::Upstream(vec![seg]);
        return Ok((loc, d.md5, to_checksums(d.checksums), None));
    }
    let written = local::write_file(&ctx.shared.data_dir, &mut source, len).await?;
    if written.len != len {
        local::remove_files_later(&ctx.shared.data_dir, vec![written.file_id]);
        return Err(S3Error::internal("copy source shorter than its record"));
    }
    let d = source.hashers.finish();
    let loc = DataLoc::Files(vec![written.segment(None)]);
    Ok((loc, d.md5, to_checksums(d.checksums), Some(written.dir)))
}

/// A whole-object copy inside the upstream, when the bytes need no re-hashing: the source
/// is a single-part upstream object, so its ETag (MD5) and checksums carry over as is.
async fn server_side_copy(
    ctx: &Ctx,
    src: (&str, &str),
    m: &ObjectMeta,
) -> S3Result<Option<Copied>> {
    let (Some(gw), DataLoc::Upstream(_), None) = (&ctx.shared.gateway, &m.data, m.parts_count())
    else {
        return Ok(None);
    };
    let Ok(md5) = <[u8; 16]>::try_from(hex::decode(&m.etag).unwrap_or_default()) else {
        return Ok(None);
    };
    let DataLoc::Upstream(segs) = &m.data else {
        return Ok(None);
    };
    let from = gw.object_name(src.0, src.1, segs.first().map(|s| s.file_id).unwrap_or(0));
    let version = local::new_file_id();
    gw.copy(from, gw.object_name(ctx.bucket(), ctx.key(), version))
        .await?;
    let seg = crate::s3::object::upstream_segment(version, m.size, None);
    let loc = DataLoc::Upstream(vec![seg]);
    Ok(Some((loc, md5, m.checksums.clone(), None)))
}

fn to_checksums(list: Vec<(Algo, String)>) -> crate::meta::types::Checksums {
    let mut c = crate::meta::types::Checksums::default();
    for (a, v) in list {
        crate::s3::checksum::set(&mut c, a, v);
    }
    c
}

pub async fn copy_object(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let dest_bucket = authorize_bucket(ctx, Permission::Write).await?;
    let head = req.head.clone();
    let _turns = gateway_copy_turns(ctx, &head, ctx.key()).await?;
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
    let new_acl = acl::from_headers(&head, Some(&dest_bucket.owner_id))?;
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
    if ctx.shared.gateway.is_some() {
        // The upstream object is replaced in place: check conditions before touching it.
        let existing = crate::s3::object::load_object_meta(ctx.bucket(), ctx.key()).await?;
        write_cond(&head)?.check(ctx.key(), existing.as_ref())?;
    }
    let from = (sb.as_str(), sk.as_str());
    let (data, md5, checksums, dir) = match server_side_copy(ctx, from, &src).await? {
        Some(copied) => copied,
        None => copy_range(ctx, from, &src, (0, src.size), CopyDest::Object).await?,
    };
    let (content_type, headers, user_meta) = if replace {
        let a = attrs_from_head(&head, ctx.shared.config.limits.metadata_bytes_max)?;
        (a.content_type, a.headers, a.user_meta)
    } else {
        (
            src.content_type.clone(),
            src.headers.clone(),
            src.user_meta.clone(),
        )
    };
    let meta = ObjectMeta {
        size: src.size,
        etag: hex::encode(md5),
        last_modified_ms: now_ms(),
        owner_id: ctx.caller_id().unwrap_or(&dest_bucket.owner_id).to_string(),
        content_type,
        headers,
        user_meta,
        checksums: checksums.clone(),
        acl: new_acl.unwrap_or_default(),
        data,
        upload_id: None,
    };
    let (etag, lm) = (meta.etag.clone(), meta.last_modified_ms);
    let new_files = meta.file_ids();
    let conditions = write_cond(&head)?;
    match commit_object(ctx.bucket(), ctx.key(), meta, conditions, dir).await {
        Ok(old) => crate::s3::object::free_data(ctx, ctx.bucket(), ctx.key(), old),
        Err(e) => {
            crate::s3::object::free_data(ctx, ctx.bucket(), ctx.key(), new_files);
            return Err(e);
        }
    }
    let xml_checksums = crate::s3::multipart::to_xml_checksums(&checksums);
    Ok(Response::xml(
        200,
        xml::copy_object_result(&etag, lm, &xml_checksums),
    ))
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
    let part_number = crate::s3::multipart::parse_part_number(part_number)?;
    authorize_bucket(ctx, Permission::Write).await?;
    crate::s3::multipart::load_upload(ctx, upload_id).await?;
    let head = req.head.clone();
    let lock_name = format!("{}\0{upload_id}\0{part_number}", ctx.key());
    let _turns = gateway_copy_turns(ctx, &head, &lock_name).await?;
    let src = load_source(ctx, &head).await?;
    let (sb, sk) = parse_copy_source(head.header("x-amz-copy-source").unwrap_or(""))?;
    let (start, end) = match head.header("x-amz-copy-source-range") {
        Some(r) => parse_source_range(r, src.size)?,
        None => (0, src.size),
    };
    if end - start > crate::s3::multipart::PART_SIZE_MAX_BYTES {
        return Err(S3Error::new(ErrorCode::EntityTooLarge));
    }
    // Parts always live in files (or upstream): completion references them without copying.
    let dest = CopyDest::Part {
        upload_id,
        part_number,
    };
    let (data, md5, checksums, dir) = copy_range(ctx, (&sb, &sk), &src, (start, end), dest).await?;
    let (file_id, chunk_crc32c) = match &data {
        DataLoc::Files(segs) => (segs[0].file_id, segs[0].chunk_crc32c.clone()),
        DataLoc::Upstream(_) => (0, Vec::new()), // parts are named by upload and number
        DataLoc::Inline(_) => return Err(S3Error::internal("part copy produced inline data")),
    };
    let part = PartMeta {
        size: end - start,
        etag: hex::encode(md5),
        last_modified_ms: now_ms(),
        file_id,
        checksums: checksums.clone(),
        chunk_crc32c,
    };
    let (etag, lm) = (part.etag.clone(), part.last_modified_ms);
    crate::s3::multipart::commit_part(ctx, upload_id, part_number, part, dir).await?;
    let xml_checksums = crate::s3::multipart::to_xml_checksums(&checksums);
    Ok(Response::xml(
        200,
        xml::copy_part_result(&etag, lm, &xml_checksums),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        assert_eq!(
            parse_copy_source("/b/k%20x").unwrap(),
            ("b".into(), "k x".into())
        );
        assert_eq!(
            parse_copy_source("b/a/b/c?versionId=null").unwrap(),
            ("b".into(), "a/b/c".into())
        );
        assert!(parse_copy_source("b").is_err());
        assert!(parse_copy_source("b/k?versionId=abc").is_err());
    }

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

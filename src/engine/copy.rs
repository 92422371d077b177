//! CopyObject and UploadPartCopy: the source is streamed into new storage, hashed on the
//! way; inline sources are copied inside the record where the store keeps them so, and a
//! store may copy a whole object without reading it back.

use super::object::{commit, ObjectAttrs};
use super::{now_ms, read, store};
use crate::error::{ErrorCode, Fault, S3Error, S3Result};
use crate::http::response::{BodyStream, Chunk};
use crate::meta::commands::WriteCond;
use crate::meta::types::{Acl, Checksums, DataLoc, ObjectMeta, PartMeta, Tags};
use crate::storage::{ByteSource, Payload, ReadFor, Turns, Verified, WriteTo};
use futures::future::LocalBoxFuture;

/// Hashes copied bytes: the ETag's MD5 and the source's kinds of checksum, recomputed.
pub trait Digester {
    fn update(&mut self, bytes: &[u8]);
    /// The MD5 and the checksums; call once.
    fn finish(&mut self) -> ([u8; 16], Checksums);
}

/// The turns a copy from `src` to `dst` (bucket, key or part lock name) holds.
pub async fn turns(src: (&str, &str), dst: (&str, &str)) -> S3Result<Turns> {
    store().copy_turns(src, dst).await
}

/// A copy to an object, parsed. `attrs` is called after the data is copied (None: keep
/// the source's).
pub struct CopyObject<'a> {
    pub src: (&'a str, &'a str),
    pub dst: (&'a str, &'a str),
    pub owner_id: String,
    pub acl: Acl,
    pub cond: WriteCond,
    /// The copy's tag set (x-amz-tagging-directive REPLACE); None keeps the source's.
    pub tags: Option<Tags>,
    /// The copy's Object Lock parameters (the source's lock state is not copied).
    pub lock: crate::meta::types::ObjectLock,
}

/// What a copy's response names.
pub struct CopyDone {
    pub etag: String,
    pub last_modified_ms: u64,
    pub checksums: Checksums,
    /// The version created (CopyObject into a versioning bucket).
    pub version: Option<crate::meta::types::VersionStamp>,
}

/// Copies the whole of `m` (the record of `c.src`) to `c.dst` and commits it.
pub async fn copy_object(
    c: CopyObject<'_>,
    m: &ObjectMeta,
    attrs: impl FnOnce() -> S3Result<Option<ObjectAttrs>>,
    digester: &mut dyn Digester,
) -> S3Result<CopyDone> {
    let store = store();
    if store.checks_before_write() {
        // The destination's bytes are replaced in place: check conditions before that.
        let existing = read::object(c.dst.0, c.dst.1).await?;
        c.cond.check(c.dst.1, existing.as_ref())?;
    }
    let copied = match copy_whole(c.src, m, c.dst).await? {
        Some(copied) => copied,
        None => copy_range(c.src, m, (0, m.size), CopyTo::Object(c.dst), digester).await?,
    };
    let attrs = attrs()?.unwrap_or_else(|| ObjectAttrs {
        content_type: m.content_type.clone(),
        headers: m.headers.clone(),
        user_meta: m.user_meta.clone(),
    });
    let meta = ObjectMeta {
        size: m.size,
        etag: hex::encode(copied.md5),
        last_modified_ms: now_ms(),
        owner_id: c.owner_id,
        content_type: attrs.content_type,
        headers: attrs.headers,
        user_meta: attrs.user_meta,
        checksums: copied.checksums.clone(),
        acl: c.acl,
        data: copied.data,
        upload_id: None,
        version: super::versions::new_stamp(),
        tags: c.tags.unwrap_or_else(|| m.tags.clone()),
        lock: c.lock,
    };
    let (etag, last_modified_ms) = (meta.etag.clone(), meta.last_modified_ms);
    let version = commit(c.dst.0, c.dst.1, meta, c.cond, copied.sync_dir).await?;
    Ok(CopyDone {
        etag,
        last_modified_ms,
        checksums: copied.checksums,
        version,
    })
}

/// A copy of bytes `range` of `m` (the record of `src`) to part `part_number` of upload
/// `upload_id` of `dst`, committed as that part.
pub async fn copy_part(
    src: (&str, &str),
    m: &ObjectMeta,
    range: (u64, u64),
    (dst, upload_id, part_number): ((&str, &str), &str, u32),
    digester: &mut dyn Digester,
) -> S3Result<CopyDone> {
    let to = CopyTo::Part(dst, upload_id, part_number);
    let copied = copy_range(src, m, range, to, digester).await?;
    let (file_id, chunk_crc32c) = match &copied.data {
        DataLoc::Files(segs) => (segs[0].file_id, segs[0].chunk_crc32c.clone()),
        DataLoc::Upstream(_) => (0, Vec::new()), // parts are named by upload and number
        DataLoc::Inline(_) => return Err(S3Error::internal("part copy produced inline data")),
    };
    let part = PartMeta {
        size: range.1 - range.0,
        etag: hex::encode(copied.md5),
        last_modified_ms: now_ms(),
        file_id,
        checksums: copied.checksums.clone(),
        chunk_crc32c,
    };
    let (etag, last_modified_ms) = (part.etag.clone(), part.last_modified_ms);
    let (bucket, key) = dst;
    super::multipart::commit_part(bucket, key, upload_id, part_number, part, copied.sync_dir)
        .await?;
    Ok(CopyDone {
        etag,
        last_modified_ms,
        checksums: copied.checksums,
        version: None,
    })
}

/// Copied bytes: where they are, their MD5 and checksums, a directory to fsync.
struct Copied {
    data: DataLoc,
    md5: [u8; 16],
    checksums: Checksums,
    sync_dir: Option<std::path::PathBuf>,
}

/// Where copied bytes go: an object (bucket, key) or a part (bucket, key, upload, number).
enum CopyTo<'a> {
    Object((&'a str, &'a str)),
    Part((&'a str, &'a str), &'a str, u32),
}

/// A whole-object copy inside the store, when the bytes need no re-hashing: the ETag must
/// be a plain MD5 so it carries over as it is, with the checksums.
async fn copy_whole(
    src: (&str, &str),
    m: &ObjectMeta,
    dst: (&str, &str),
) -> S3Result<Option<Copied>> {
    if !matches!(m.data, DataLoc::Upstream(_)) || m.parts_count().is_some() {
        return Ok(None);
    }
    let Ok(md5) = <[u8; 16]>::try_from(hex::decode(&m.etag).unwrap_or_default()) else {
        return Ok(None);
    };
    Ok(store().copy_whole(src, m, dst).await?.map(|data| Copied {
        data,
        md5,
        checksums: m.checksums.clone(),
        sync_dir: None,
    }))
}

/// Copies bytes `[start, end)` of `m` (the record of `src`) into new storage.
async fn copy_range(
    src: (&str, &str),
    m: &ObjectMeta,
    (start, end): (u64, u64),
    to: CopyTo<'_>,
    digester: &mut dyn Digester,
) -> S3Result<Copied> {
    let store = store();
    if let (DataLoc::Inline(bytes), CopyTo::Object(_), true) = (&m.data, &to, store.keeps_inline())
    {
        let slice = &bytes[start as usize..end as usize];
        digester.update(slice);
        let (md5, checksums) = digester.finish();
        let data = DataLoc::Inline(slice.to_vec());
        return Ok(Copied {
            data,
            md5,
            checksums,
            sync_dir: None,
        });
    }
    let stream: Box<dyn BodyStream> = match &m.data {
        DataLoc::Inline(bytes) => Box::new(OnceStream(Some(
            bytes[start as usize..end as usize].to_vec(),
        ))),
        DataLoc::Files(segs)
            if super::log::cluster()
                .is_some_and(|_| !store.holds_locally(&m.data, (start, end))) =>
        {
            let node = super::log::cluster().ok_or_else(|| S3Error::internal("no cluster"))?;
            match super::remote::RemoteStream::open(node, segs, (start, end)).await {
                Ok(remote) => Box::new(remote),
                // As for a local source: SDKs retry a 503.
                Err(e) if e.fault() == Some(Fault::Gone) => {
                    return Err(S3Error::new(ErrorCode::SlowDown)
                        .caused_by("copy source replaced while the copy started"))
                }
                Err(e) => return Err(e),
            }
        }
        data => store
            .open(src, data, (start, end), m.size, ReadFor::Copy)
            .await?
            .ok_or_else(|| S3Error::internal("copy source vanished"))?,
    };
    let len = end - start;
    let mut source = ObjectSource {
        stream,
        pending: None,
        digester,
        len,
        read: 0,
    };
    let to = match to {
        CopyTo::Object((bucket, key)) => WriteTo::Object {
            bucket,
            key,
            inline: false,
        },
        CopyTo::Part((bucket, key), upload_id, part_number) => WriteTo::Part {
            bucket,
            key,
            upload_id,
            part_number,
        },
    };
    let stored = store.write(to, &mut source, len).await?;
    Ok(Copied {
        data: stored.data,
        md5: stored.verified.md5,
        checksums: stored.verified.checksums,
        sync_dir: stored.sync_dir,
    })
}

/// Feeds a byte range of an object to a writer, hashing it.
struct ObjectSource<'d> {
    stream: Box<dyn BodyStream>,
    pending: Option<(Chunk, usize)>,
    digester: &'d mut dyn Digester,
    /// Bytes the record says the range holds, and bytes read so far.
    len: u64,
    read: u64,
}

impl ObjectSource<'_> {
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
        self.digester.update(&dst[..n]);
        *off += n;
        if *off == chunk.len() {
            self.pending = None;
        }
        self.read += n as u64;
        Ok(n)
    }
}

impl ByteSource for ObjectSource<'_> {
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>> {
        Box::pin(self.read_into(dst))
    }
}

impl Payload for ObjectSource<'_> {
    fn declared_len(&self) -> Option<u64> {
        Some(self.len)
    }

    fn finish(&mut self) -> S3Result<Verified> {
        if self.read != self.len {
            return Err(S3Error::internal("copy source shorter than its record"));
        }
        let (md5, checksums) = self.digester.finish();
        Ok(Verified {
            len: self.read,
            md5,
            checksums,
        })
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

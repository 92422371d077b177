//! [`DataStore`] over a gateway's upstream: every write goes to a fresh version-suffixed
//! upstream name, parts are staged against the upload's version and assembled upstream, and
//! a key's writers (and in-place readers) take turns.

use super::bridge::{Gateway, PutTarget};
use super::upload_version;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::http::response::BodyStream;
use crate::meta::types::{DataLoc, ObjectMeta, Segment};
use crate::runtime::key_lock::{lock, lock_many, lock_shared};
use crate::storage::local;
use crate::storage::local_store::LocalStore;
use crate::storage::{DataStore, Payload, ReadFor, Stored, StreamSource, Turns, WriteTo};
use futures::future::LocalBoxFuture;
use std::sync::Arc;

pub struct GatewayStore {
    gw: Arc<Gateway>,
    /// Data files recorded before a switch to this backend are still read from disk.
    local: LocalStore,
}

impl GatewayStore {
    pub fn new(gw: Arc<Gateway>, local: LocalStore) -> GatewayStore {
        GatewayStore { gw, local }
    }

    /// Streams a verified payload upstream. Upstreams need the length up front; a body of
    /// unknown length (chunked, no decoded length) is spooled to a local data file first
    /// (never memory) and sent from there.
    async fn put(
        &self,
        target: PutTarget,
        src: &mut dyn Payload,
        len_max: u64,
    ) -> S3Result<crate::storage::Verified> {
        if let Some(len) = src.declared_len() {
            if len > len_max {
                return Err(S3Error::new(ErrorCode::EntityTooLarge));
            }
            let pending = self.gw.put(target, src, len).await?;
            return match src.finish() {
                Ok(v) => {
                    pending.commit().await?;
                    Ok(v)
                }
                Err(e) => {
                    pending.abort().await;
                    Err(e)
                }
            };
        }
        let data_dir = self.local.data_dir();
        let spool = local::write_file(data_dir, src, len_max).await?;
        let result = async {
            let verified = src.finish()?;
            let seg = spool.segment(None);
            let stream = local::FileStream::new(data_dir.clone(), &[seg], 0, spool.len, None);
            let mut from = StreamSource::new(Box::new(stream));
            self.gw
                .put(target, &mut from, spool.len)
                .await?
                .commit()
                .await?;
            Ok(verified)
        }
        .await;
        local::remove_files_later(data_dir, vec![spool.file_id]);
        result
    }

    fn upload_name(&self, bucket: &str, key: &str, upload_id: &str) -> String {
        self.gw.object_name(bucket, key, upload_version(upload_id))
    }
}

/// A segment of an object whose bytes live upstream (no local file, no chunk CRCs).
fn upstream_segment(version: u128, len: u64) -> Segment {
    Segment {
        file_id: version,
        len,
        part_etag: None,
        chunk_crc32c: Vec::new(),
    }
}

impl DataStore for GatewayStore {
    fn write<'a>(
        &'a self,
        to: WriteTo<'a>,
        src: &'a mut dyn Payload,
        len_max: u64,
    ) -> LocalBoxFuture<'a, S3Result<Stored>> {
        Box::pin(async move {
            let (target, version) = match to {
                WriteTo::Object { bucket, key, .. } => {
                    let version = local::new_file_id();
                    let name = self.gw.object_name(bucket, key, version);
                    (PutTarget::Object(name), version)
                }
                WriteTo::Part {
                    bucket,
                    key,
                    upload_id,
                    part_number,
                } => {
                    let target = PutTarget::Part {
                        dst: self.upload_name(bucket, key, upload_id),
                        upload_id: upload_id.to_string(),
                        part_number,
                    };
                    (target, 0) // parts are named by upload and number, not by version
                }
            };
            let verified = self.put(target, src, len_max).await?;
            Ok(Stored {
                data: DataLoc::Upstream(vec![upstream_segment(version, verified.len)]),
                verified,
                sync_dir: None,
                direct_bytes: 0,
            })
        })
    }

    fn open<'a>(
        &'a self,
        (bucket, key): (&'a str, &'a str),
        data: &'a DataLoc,
        (start, end): (u64, u64),
        size: u64,
        purpose: ReadFor,
    ) -> LocalBoxFuture<'a, S3Result<Option<Box<dyn BodyStream>>>> {
        Box::pin(async move {
            match data {
                DataLoc::Upstream(segs) => {
                    let version = segs.first().map(|s| s.file_id).unwrap_or(0);
                    let name = self.gw.object_name(bucket, key, version);
                    let stream = self.gw.get(name, start, end, size).await?;
                    Ok(Some(Box::new(stream) as Box<dyn BodyStream>))
                }
                other => {
                    self.local
                        .open((bucket, key), other, (start, end), size, purpose)
                        .await
                }
            }
        })
    }

    fn free(&self, bucket: &str, key: &str, ids: Vec<u128>) {
        self.gw.free_versions(bucket, key, &ids);
    }

    fn free_files(&self, ids: Vec<u128>) {
        self.local.free_files(ids);
    }

    fn keeps_inline(&self) -> bool {
        false
    }

    fn checks_before_write(&self) -> bool {
        true
    }

    /// Only when the bytes need no re-hashing: a single-part upstream object, whose ETag
    /// (MD5) and checksums carry over as they are.
    fn copy_whole<'a>(
        &'a self,
        (sb, sk): (&'a str, &'a str),
        m: &'a ObjectMeta,
        (db, dk): (&'a str, &'a str),
    ) -> LocalBoxFuture<'a, S3Result<Option<DataLoc>>> {
        Box::pin(async move {
            let (DataLoc::Upstream(segs), None) = (&m.data, m.parts_count()) else {
                return Ok(None);
            };
            let from = self
                .gw
                .object_name(sb, sk, segs.first().map(|s| s.file_id).unwrap_or(0));
            let version = local::new_file_id();
            self.gw
                .copy(from, self.gw.object_name(db, dk, version))
                .await?;
            Ok(Some(DataLoc::Upstream(vec![upstream_segment(
                version, m.size,
            )])))
        })
    }

    fn assembled_version(&self, upload_id: &str) -> Option<u128> {
        Some(upload_version(upload_id))
    }

    fn assemble<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
        parts: Vec<(u32, u64)>,
    ) -> LocalBoxFuture<'a, S3Result<()>> {
        Box::pin(async move {
            let dst = self.upload_name(bucket, key, upload_id);
            self.gw.complete(dst, upload_id.to_string(), parts).await
        })
    }

    fn discards_parts(&self) -> bool {
        true
    }

    fn discard_parts<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
        part_numbers: Vec<u32>,
    ) -> LocalBoxFuture<'a, ()> {
        Box::pin(async move {
            let dst = self.upload_name(bucket, key, upload_id);
            if let Err(e) = self
                .gw
                .abort(dst, upload_id.to_string(), part_numbers)
                .await
            {
                tracing::warn!(
                    upload_id,
                    code = e.code.as_str(),
                    "gateway: discarding parts failed"
                );
            }
        })
    }

    /// The upstream bytes of a key (or part: `lock_name`) are written in place, so its
    /// writers take turns from before the upstream write to after the commit.
    fn write_turn<'a>(
        &'a self,
        bucket: &'a str,
        lock_name: &'a str,
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        Box::pin(async move { Ok(vec![lock(bucket, lock_name).await?]) })
    }

    /// The key's upstream object is read in place: no writer may replace it between reading
    /// the record and opening the upstream stream.
    fn read_turn<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        Box::pin(async move { Ok(vec![lock_shared(bucket, key).await?]) })
    }

    /// The source shared and the destination alone, taken in one global order so crossing
    /// copies (A→B beside B→A) cannot deadlock.
    fn copy_turns<'a>(
        &'a self,
        src: (&'a str, &'a str),
        dest: (&'a str, &'a str),
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        Box::pin(async move {
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
        })
    }

    fn delete_turns<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        Box::pin(lock_many(bucket, keys))
    }
}

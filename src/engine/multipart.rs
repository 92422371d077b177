//! Multipart uploads. Each part is stored like a PutObject body; completion is a metadata
//! operation (the object's record lists the parts' data as its segments) unless the store
//! assembles parts itself, and then it does so before the commit.

use super::log::{meta_log, submit_for_bucket};
use super::{now_ms, read, store};
use crate::error::{S3Error, S3Result};
pub use crate::meta::commands::CompleteUpload;
use crate::meta::commands::{MetaCmd, VersionPin};
use crate::meta::tables;
use crate::meta::types::{Checksums, DataLoc, PartMeta, UploadMeta, VersionStamp};
use crate::storage::{Payload, WriteTo};

/// S3's limit on part numbers.
pub const PART_NUMBER_MAX: u32 = 10_000;

pub async fn create(upload: UploadMeta) -> S3Result<()> {
    let bucket = upload.bucket.clone();
    submit_for_bucket(&bucket, MetaCmd::CreateUpload(upload), Vec::new()).await?;
    Ok(())
}

/// Records a part (replacing a same-numbered one, whose data is freed) once its data is
/// durable; frees the new data if the commit fails.
pub async fn commit_part(
    bucket: &str,
    key: &str,
    upload_id: &str,
    part_number: u32,
    part: PartMeta,
    sync_dir: Option<std::path::PathBuf>,
) -> S3Result<()> {
    let new_file = part.file_id;
    let cmd = MetaCmd::PutPart {
        bucket: bucket.to_string(),
        key: key.to_string(),
        upload_id: upload_id.to_string(),
        part_number,
        part,
    };
    match submit_for_bucket(bucket, cmd, sync_dir.into_iter().collect()).await {
        Ok(reply) => {
            store().free(bucket, key, reply.freed);
            Ok(())
        }
        Err(e) => {
            store().free(bucket, key, vec![new_file]);
            Err(e)
        }
    }
}

/// What an UploadPart's response names.
pub struct PartDone {
    pub etag: String,
    pub checksums: Checksums,
}

/// Stores part `part_number` of upload `upload_id` of `bucket/key` and commits it.
pub async fn upload_part(
    (bucket, key): (&str, &str),
    upload_id: &str,
    part_number: u32,
    payload: &mut dyn Payload,
    len_max: u64,
) -> S3Result<PartDone> {
    let store = store();
    let lock_name = format!("{key}\0{upload_id}\0{part_number}");
    let _turn = store.write_turn(bucket, &lock_name).await?;
    let to = WriteTo::Part {
        bucket,
        key,
        upload_id,
        part_number,
    };
    let stored = store.write(to, payload, len_max).await?;
    crate::observe::metrics::direct_written(stored.direct_bytes);
    let (file_id, chunk_crc32c) = match stored.data {
        DataLoc::Files(mut segs) if !segs.is_empty() => {
            let seg = segs.swap_remove(0);
            (seg.file_id, seg.chunk_crc32c)
        }
        _ => (0, Vec::new()), // upstream parts are named by upload and number
    };
    let verified = stored.verified;
    let part = PartMeta {
        size: verified.len,
        etag: hex::encode(verified.md5),
        last_modified_ms: now_ms(),
        file_id,
        checksums: verified.checksums.clone(),
        chunk_crc32c,
    };
    let etag = part.etag.clone();
    commit_part(bucket, key, upload_id, part_number, part, stored.sync_dir).await?;
    Ok(PartDone {
        etag,
        checksums: verified.checksums,
    })
}

/// What a completion's response names.
pub struct Completed {
    pub etag: String,
    pub checksums: Checksums,
    /// The version created, in a versioning bucket.
    pub version: Option<VersionStamp>,
}

/// Completes an upload: one commit turns the parts into the object (after the store
/// assembled them, if it does), then the replaced object's data and staged parts go.
///
/// A store that assembles may take long, so the answer may be kept alive and its headers
/// sent before the commit: `named` learns the version the commit will make before the
/// assembly starts (reserved by a commit inside the key's write turn, which every writer of
/// the key takes on such a store), and the commit makes exactly that version or refuses.
pub async fn complete(
    mut c: CompleteUpload,
    named: impl FnOnce(Option<VersionStamp>) + 'static,
) -> S3Result<Completed> {
    let store = store();
    let (bucket, key, upload_id) = (c.bucket.clone(), c.key.clone(), c.upload_id.clone());
    let _turn = store.write_turn(&bucket, &key).await?;
    let stored_parts = match store.assembled_version(&upload_id) {
        Some(version) => {
            c.upstream = Some(version);
            let pin = next_version(&c).await?;
            c.pinned = Some(VersionPin { version: pin });
            named(pin);
            assemble(&mut c).await?
        }
        None => Vec::new(),
    };
    let cmd = MetaCmd::CompleteUpload(c);
    let reply = submit_for_bucket(&bucket, cmd, Vec::new()).await?;
    store.free(&bucket, &key, reply.freed);
    // Only now, with the object's record durable, may the staged parts go.
    if store.discards_parts() {
        store
            .discard_parts(&bucket, &key, &upload_id, stored_parts)
            .await;
    }
    Ok(Completed {
        etag: reply.etag.unwrap_or_default(),
        checksums: reply.checksums.unwrap_or_default(),
        version: reply.version,
    })
}

/// Whether completing `upload_id` has the store assemble the parts (an upstream copy that
/// may take long), rather than only committing records.
pub fn assembles(upload_id: &str) -> bool {
    store().assembled_version(upload_id).is_some()
}

/// Reserves the version completing `c` will make (None in an unversioned bucket, which
/// needs no commit for it: were versioning enabled meanwhile, the completion refuses).
async fn next_version(c: &CompleteUpload) -> S3Result<Option<VersionStamp>> {
    if read::bucket(&c.bucket).await?.versioning == crate::meta::types::Versioning::Unversioned {
        return Ok(None);
    }
    let cmd = MetaCmd::ReserveVersion {
        bucket: c.bucket.clone(),
        key: c.key.clone(),
        proposal: c.seq_proposal(),
    };
    Ok(submit_for_bucket(&c.bucket, cmd, Vec::new()).await?.version)
}

/// Validates the part list as the commit will, then has the store assemble the parts into
/// the object, so the commit only records what already exists. (An upload already
/// completed is left to the commit, which answers a retry.) Returns every stored part
/// number, for discarding the staged parts after the commit.
async fn assemble(c: &mut CompleteUpload) -> S3Result<Vec<u32>> {
    let (b, k, u) = (c.bucket.clone(), c.key.clone(), c.upload_id.clone());
    let found = read::on_bucket_shard(&c.bucket, move |txn| {
        let Some(upload) = tables::get_upload(txn, &b, &k, &u)? else {
            return Ok(None);
        };
        let (parts, _) = tables::list_parts(txn, &u, 0, PART_NUMBER_MAX as usize + 1)?;
        Ok(Some((upload, parts)))
    })
    .await?;
    let Some((upload, parts)) = found else {
        return Ok(Vec::new());
    };
    let existing = read::object(&c.bucket, &c.key).await?;
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
    store()
        .assemble(&c.bucket, &c.key, &c.upload_id, chosen)
        .await?;
    Ok(stored)
}

/// Aborts an upload: its record and parts' records go in one commit, their data after.
pub async fn abort(bucket: &str, key: &str, upload_id: &str) -> S3Result<()> {
    let store = store();
    let part_numbers = if store.discards_parts() {
        let (parts, _) = read::parts(bucket, upload_id, 0, PART_NUMBER_MAX as usize + 1).await?;
        parts.into_iter().map(|(n, _)| n).collect()
    } else {
        Vec::new()
    };
    let cmd = MetaCmd::AbortUpload {
        bucket: bucket.to_string(),
        key: key.to_string(),
        upload_id: upload_id.to_string(),
    };
    let reply = submit_for_bucket(bucket, cmd, Vec::new()).await?;
    store.free(bucket, key, reply.freed);
    store
        .discard_parts(bucket, key, upload_id, part_numbers)
        .await;
    Ok(())
}

/// Deletes uploads older than `ttl_s` on this core's shards: records first (one commit per
/// shard), data after, so a crash in between leaves only orphans for the start-up sweep.
pub async fn reap_expired(ttl_s: u64) {
    let store = super::store();
    let cutoff = now_ms().saturating_sub(ttl_s.saturating_mul(1000));
    for (id, shard) in super::shards::local() {
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
        let mut staged = Vec::new();
        if store.discards_parts() {
            for u in &expired {
                let parts = shard.read().and_then(|t| {
                    tables::list_parts(&t, &u.upload_id, 0, PART_NUMBER_MAX as usize + 1)
                });
                if let Ok((parts, _)) = parts {
                    let numbers: Vec<u32> = parts.into_iter().map(|(n, _)| n).collect();
                    staged.push((
                        u.bucket.clone(),
                        u.key.clone(),
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
        match meta_log()
            .submit(id, MetaCmd::DropUploads { uploads }, Vec::new())
            .await
        {
            Ok(reply) => {
                tracing::info!(uploads = count, "reaped expired multipart uploads");
                store.free_files(reply.freed);
                for (bucket, key, upload_id, numbers) in staged {
                    store
                        .discard_parts(&bucket, &key, &upload_id, numbers)
                        .await;
                }
            }
            Err(e) => tracing::error!(error = %e, "multipart reaper: commit failed"),
        }
    }
}

//! Versioning: the bucket state, reads of one version, version listings. The model (which
//! table holds which version, how ids are made) is described in `meta::versions`; writes of
//! versions happen inside the PutObject / CompleteUpload / DeleteVersions commands, which
//! decide by the bucket's state at commit time.

use super::log::submit_for_bucket;
use super::now_ms;
use super::read::on_bucket_shard;
use crate::error::{S3Error, S3Result};
use crate::meta::commands::MetaCmd;
use crate::meta::tables;
use crate::meta::types::BucketMeta;
pub use crate::meta::types::{DeleteMarker, VersionRecord, VersionStamp, Versioning};
pub use crate::meta::versions::{
    invalid_version_id, parse_version_id, version_id, DeleteOutcome, VersionEntry, VersionSel,
    VersionsFrom, VersionsPage,
};
use std::sync::atomic::{AtomicU64, Ordering};

/// Versions proposed in one millisecond before the seq stops being time-ordered (the commit
/// still keeps each key's seqs increasing).
const SEQS_PER_MS: u64 = 1 << 16;

/// A stamp for a new version: its seq proposal (clock, then a counter), which the commit
/// raises past the key's newest version.
pub fn new_stamp() -> VersionStamp {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed) % SEQS_PER_MS;
    VersionStamp {
        seq: now_ms().saturating_mul(SEQS_PER_MS) | n,
        null: true,
    }
}

/// PutBucketVersioning: `Enabled` or `Suspended`.
pub async fn set_state(bucket: &str, state: Versioning) -> S3Result<()> {
    let cmd = MetaCmd::SetBucketVersioning {
        name: bucket.to_string(),
        state,
    };
    submit_for_bucket(bucket, cmd, Vec::new()).await?;
    Ok(())
}

/// The bucket and the version `sel` of `key` (with whether it is the newest), in one hop.
pub async fn bucket_and_version(
    bucket: &str,
    key: &str,
    sel: VersionSel,
) -> S3Result<(BucketMeta, Option<(VersionRecord, bool)>)> {
    let (b, k) = (bucket.to_string(), key.to_string());
    on_bucket_shard(bucket, move |txn| {
        let bm = tables::get_bucket(txn, &b)?.ok_or_else(|| S3Error::no_such_bucket(&b))?;
        let v = crate::meta::versions::find_version(txn, &b, &k, sel)?;
        Ok((bm, v))
    })
    .await
}

/// The key's newest version if it is a delete marker.
pub async fn latest_marker(bucket: &str, key: &str) -> S3Result<Option<DeleteMarker>> {
    let (b, k) = (bucket.to_string(), key.to_string());
    on_bucket_shard(bucket, move |txn| {
        crate::meta::versions::latest_marker(txn, &b, &k)
    })
    .await
}

/// A page of ListObjectVersions.
pub async fn list(
    bucket: &str,
    prefix: &str,
    delimiter: &str,
    from: VersionsFrom,
    max: usize,
) -> S3Result<VersionsPage> {
    let (b, p, d) = (
        bucket.to_string(),
        prefix.to_string(),
        delimiter.to_string(),
    );
    on_bucket_shard(bucket, move |txn| {
        crate::meta::versions::list_versions(txn, &b, &p, &d, &from, max)
    })
    .await
}

//! Start-up recovery: the orphan sweep deletes data files that no metadata names (left by a
//! crash between writing bytes and committing their record, or between a record's delete and
//! its files').

use crate::runtime::Shared;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Deletes data files that no metadata names. Only files older than this process are
/// candidates: anything newer may belong to a write in flight. Marks recovery finished.
pub async fn sweep_orphans_task(shared: Arc<Shared>) {
    let mut referenced: HashSet<u128> = HashSet::new();
    for shard in 0..shared.shard_count {
        let ids = super::shards::on_shard(shard, |s| async move {
            crate::meta::tables::referenced_files(&s.read()?)
        })
        .await;
        match ids {
            Ok(ids) => referenced.extend(ids),
            Err(e) => {
                tracing::error!(error = %e, "orphan sweep: could not read shard; skipping sweep");
                return;
            }
        }
    }
    let data_dir = shared.data_dir.clone();
    let cutoff = shared.started_at;
    let removed = glommio::executor()
        .spawn_blocking(move || {
            crate::storage::local::remove_unreferenced_files(&data_dir, &referenced, cutoff)
        })
        .await;
    if removed > 0 {
        tracing::info!(removed, "orphan sweep removed unreferenced data files");
    }
    shared.recovered.store(true, Ordering::Release);
}

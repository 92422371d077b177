//! The one path of metadata changes. Today's implementation is the local group commit of
//! each shard; cluster mode swaps in a replicated log here, without touching s3/ or the
//! engine's operations.

use crate::error::S3Result;
use crate::meta::commands::{MetaCmd, MetaReply};
use futures::future::LocalBoxFuture;
use std::path::PathBuf;

/// Applies metadata commands durably, in order per shard.
pub trait MetaLog {
    /// Applies `cmd` on `shard` once `sync_dirs` (directories of new data files) are
    /// durable too, and answers when the change is.
    fn submit(
        &self,
        shard: u32,
        cmd: MetaCmd,
        sync_dirs: Vec<PathBuf>,
    ) -> LocalBoxFuture<'_, S3Result<MetaReply>>;
}

/// The local group commit: the owning core's `MetaShard::apply`.
pub struct LocalLog;

impl MetaLog for LocalLog {
    fn submit(
        &self,
        shard: u32,
        cmd: MetaCmd,
        sync_dirs: Vec<PathBuf>,
    ) -> LocalBoxFuture<'_, S3Result<MetaReply>> {
        Box::pin(super::shards::on_shard(shard, move |s| async move {
            s.apply(cmd, sync_dirs).await
        }))
    }
}

/// The log every metadata change goes through.
pub fn meta_log() -> &'static dyn MetaLog {
    static LOCAL: LocalLog = LocalLog;
    &LOCAL
}

/// Submits `cmd` to the shard that owns `bucket`.
pub async fn submit_for_bucket(
    bucket: &str,
    cmd: MetaCmd,
    sync_dirs: Vec<PathBuf>,
) -> S3Result<MetaReply> {
    let shard = super::shards::shard_for_bucket(bucket);
    meta_log().submit(shard, cmd, sync_dirs).await
}

//! The one path of metadata changes: the local group commit of each shard, or in cluster
//! mode (`install_cluster` at boot) the shard's Raft group, without touching s3/ or the
//! engine's operations. Reads pass `read_barrier` first (`engine::read`): a no-op on one
//! node, a linearisable read index in a cluster.

use crate::cluster::node::ClusterNode;
use crate::error::S3Result;
use crate::meta::commands::{MetaCmd, MetaReply};
use futures::future::LocalBoxFuture;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

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

/// The local group commit: queued on the shard's committer through this core's handle to
/// its write queue (`shards::writer`), from whichever core; the first write from a core
/// that does not own the shard hops to the owner, which lends the handle.
pub struct LocalLog;

impl MetaLog for LocalLog {
    fn submit(
        &self,
        shard: u32,
        cmd: MetaCmd,
        sync_dirs: Vec<PathBuf>,
    ) -> LocalBoxFuture<'_, S3Result<MetaReply>> {
        Box::pin(async move {
            if let Some(w) = super::shards::writer(shard) {
                return w.apply(cmd, sync_dirs).await;
            }
            let (result, lent) = super::shards::on_shard(shard, move |s| async move {
                let lent = s.submitter();
                (s.apply(cmd, sync_dirs).await, lent)
            })
            .await;
            super::shards::lend_writer(shard, lent);
            result
        })
    }
}

/// Cluster mode: every command goes through its shard's Raft group (`cluster::node`), on
/// the leader, and is answered once committed by a quorum and applied on this node.
pub struct RaftLog {
    node: Arc<ClusterNode>,
}

impl MetaLog for RaftLog {
    fn submit(
        &self,
        shard: u32,
        cmd: MetaCmd,
        sync_dirs: Vec<PathBuf>,
    ) -> LocalBoxFuture<'_, S3Result<MetaReply>> {
        Box::pin(self.node.submit(shard, cmd, sync_dirs))
    }
}

static LOCAL: LocalLog = LocalLog;
/// Set once at boot in cluster mode, before any core serves; unset, the local log is used.
/// (One load and a branch on the single-node path, no allocation.)
static INSTALLED: OnceLock<&'static (dyn MetaLog + Sync)> = OnceLock::new();
static CLUSTER: OnceLock<Arc<ClusterNode>> = OnceLock::new();

/// Makes `node`'s Raft groups the log of every metadata change, for the rest of the process
/// (boot, once, before the cores start). A second call changes nothing and answers false.
pub fn install_cluster(node: Arc<ClusterNode>) -> bool {
    if CLUSTER.set(Arc::clone(&node)).is_err() {
        return false;
    }
    let log: &'static RaftLog = Box::leak(Box::new(RaftLog { node }));
    INSTALLED.set(log).is_ok()
}

/// The cluster node, in cluster mode.
pub fn cluster() -> Option<&'static Arc<ClusterNode>> {
    CLUSTER.get()
}

/// The log every metadata change goes through.
#[inline]
pub fn meta_log() -> &'static dyn MetaLog {
    match INSTALLED.get() {
        Some(log) => *log,
        None => &LOCAL,
    }
}

/// In cluster mode, waits until this node's replica of `shard` reflects every write
/// completed anywhere before the call; at once otherwise.
#[inline]
pub async fn read_barrier(shard: u32) -> S3Result<()> {
    match CLUSTER.get() {
        Some(node) => node.read_barrier(shard).await,
        None => Ok(()),
    }
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

//! One metadata shard: a redb database owned by one executor, with group commit.
//!
//! Reads run inline on the owning core (redb read transactions are MVCC snapshots and do
//! not wait on writers). Writes are `MetaCmd`s queued to the shard's committer task, which
//! applies a whole batch in one write transaction on the executor's blocking thread and
//! makes it durable with one commit: N concurrent writers pay for one fsync. No reply is
//! delivered before its batch is durable. A batch of commands is also exactly what a Raft
//! leader would propose in cluster mode (see `commands`).

use super::commands::{MetaCmd, MetaReply};
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use redb::{Database, Durability, ReadTransaction};
use std::path::{Path, PathBuf};
use std::sync::Arc;

type Reply = futures::channel::oneshot::Sender<S3Result<MetaReply>>;

struct Pending {
    cmd: MetaCmd,
    /// Directories whose new entries must be durable before this write commits.
    sync_dirs: Vec<PathBuf>,
    reply: Reply,
}

/// Bound on writes waiting for the committer; beyond it writers wait (backpressure).
const WRITE_QUEUE_MAX: usize = 8192;

pub struct MetaShard {
    pub id: u32,
    pub db: Arc<Database>,
    tx: async_channel::Sender<Pending>,
    rx: async_channel::Receiver<Pending>,
    group_commit_max: usize,
}

impl MetaShard {
    pub fn open(id: u32, path: &Path, group_commit_max: usize) -> Result<MetaShard, String> {
        let db = Database::builder()
            .set_cache_size(64 * 1024 * 1024)
            .create(path)
            .map_err(|e| format!("open metadata shard {}: {e}", path.display()))?;
        super::tables::init(&db).map_err(|e| format!("init shard {}: {e}", path.display()))?;
        let (tx, rx) = async_channel::bounded(WRITE_QUEUE_MAX);
        Ok(MetaShard {
            id,
            db: Arc::new(db),
            tx,
            rx,
            group_commit_max,
        })
    }

    pub fn read(&self) -> S3Result<ReadTransaction> {
        self.db.begin_read().map_err(S3Error::internal)
    }

    /// Queues a command and waits until it is durable (or failed).
    pub async fn apply(&self, cmd: MetaCmd, sync_dirs: Vec<PathBuf>) -> S3Result<MetaReply> {
        let (reply, reply_rx) = futures::channel::oneshot::channel();
        self.tx
            .send(Pending {
                cmd,
                sync_dirs,
                reply,
            })
            .await
            .map_err(|_| S3Error::internal("metadata committer stopped"))?;
        reply_rx
            .await
            .map_err(|_| S3Error::internal("metadata committer dropped a write"))?
    }

    /// The committer: runs forever on the owning executor.
    pub async fn run_committer(self: std::rc::Rc<Self>) {
        loop {
            let Ok(first) = self.rx.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < self.group_commit_max {
                match self.rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            let db = self.db.clone();
            let size = batch.len();
            let started = std::time::Instant::now();
            glommio::executor()
                .spawn_blocking(move || commit_batch(&db, batch))
                .await;
            crate::observe::metrics::record_commit(self.id, size, started.elapsed());
        }
    }
}

/// Applies a batch in one transaction and commits it durably; then delivers every reply.
fn commit_batch(db: &Database, batch: Vec<Pending>) {
    let mut dirs: Vec<PathBuf> = batch
        .iter()
        .flat_map(|p| p.sync_dirs.iter().cloned())
        .collect();
    dirs.sort();
    dirs.dedup();
    // fsync failure is fatal for every write in the batch: none may be acknowledged.
    let dir_result = dirs.iter().try_for_each(|d| sync_dir(d));
    let mut txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let err = S3Error::internal(e);
            for p in batch {
                let _ = p.reply.send(Err(err.clone()));
            }
            return;
        }
    };
    txn.set_durability(Durability::Immediate);
    let mut results = Vec::with_capacity(batch.len());
    let mut poisoned = false;
    for p in batch {
        let r = p.cmd.apply(&txn);
        poisoned |= matches!(&r, Err(e) if e.code == ErrorCode::InternalError);
        results.push((p.reply, r));
    }
    let fate = if let Err(e) = dir_result {
        let _ = txn.abort();
        Err(S3Error::internal(format!("fsync data directory: {e}")))
    } else if poisoned {
        // A storage error may have left an op half-applied: nothing of the batch commits.
        let _ = txn.abort();
        Err(S3Error::internal("batch abandoned after a storage error"))
    } else {
        txn.commit().map_err(commit_error)
    };
    for (reply, r) in results {
        let _ = reply.send(fate.clone().and(r));
    }
}

/// A failed commit: a full disk is the client-visible InsufficientStorage (507), anything
/// else an internal error. Either way nothing of the batch became durable.
fn commit_error(e: redb::CommitError) -> S3Error {
    let text = e.to_string();
    if text.contains("No space left") || text.contains("os error 28") {
        tracing::error!(error = %text, "metadata commit failed: disk full");
        return S3Error::new(ErrorCode::InsufficientStorage);
    }
    S3Error::internal(text)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

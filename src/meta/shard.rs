//! One metadata shard: a redb database owned by one executor, with group commit.
//!
//! Reads run inline on the owning core (redb read transactions are MVCC snapshots and do
//! not wait on writers). Writes are closures queued to the shard's committer task, which
//! applies a whole batch in one write transaction on the executor's blocking thread and
//! makes it durable with one commit: N concurrent writers pay for one fsync. No reply is
//! delivered before its batch is durable. The closure interface is the seam where a Raft
//! log (openraft) would slot in: a batch is the unit a leader would propose.

use crate::s3::error::{S3Error, S3Result};
use redb::{Database, Durability, ReadTransaction, WriteTransaction};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Applied inside the batch's write transaction; returns the reply to deliver once the
/// batch's fate (committed or not) is known, and whether the batch must be abandoned.
pub type WriteFn = Box<dyn FnOnce(&WriteTransaction) -> Applied + Send>;

pub struct Applied {
    pub deliver: Box<dyn FnOnce(S3Result<()>) + Send>,
    /// A storage error: the transaction may hold a half-applied op, so nothing commits.
    pub poisoned: bool,
}

struct Pending {
    apply: WriteFn,
    /// Directories whose new entries must be durable before this write commits.
    sync_dirs: Vec<PathBuf>,
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
        Ok(MetaShard { id, db: Arc::new(db), tx, rx, group_commit_max })
    }

    pub fn read(&self) -> S3Result<ReadTransaction> {
        self.db.begin_read().map_err(S3Error::internal)
    }

    /// Queues a write and waits until it is durable (or failed). `f` must validate before
    /// it writes, so an S3 error from it leaves the transaction untouched.
    pub async fn write<R, F>(&self, sync_dirs: Vec<PathBuf>, f: F) -> S3Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&WriteTransaction) -> S3Result<R> + Send + 'static,
    {
        let (reply_tx, reply_rx) = futures::channel::oneshot::channel::<S3Result<R>>();
        let apply: WriteFn = Box::new(move |txn| {
            let result = f(txn);
            let poisoned = matches!(&result, Err(e) if e.code == crate::s3::error::ErrorCode::InternalError);
            Applied {
                deliver: Box::new(move |fate| {
                    let _ = reply_tx.send(fate.and(result));
                }),
                poisoned,
            }
        });
        self.tx
            .send(Pending { apply, sync_dirs })
            .await
            .map_err(|_| S3Error::internal("metadata committer stopped"))?;
        reply_rx.await.map_err(|_| S3Error::internal("metadata committer dropped a write"))?
    }

    /// The committer: runs forever on the owning executor.
    pub async fn run_committer(self: std::rc::Rc<Self>) {
        loop {
            let Ok(first) = self.rx.recv().await else { return };
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
            glommio::executor().spawn_blocking(move || commit_batch(&db, batch)).await;
            crate::observe::metrics::record_commit(self.id, size, started.elapsed());
        }
    }
}

/// Applies a batch in one transaction and commits it durably; then delivers every reply.
fn commit_batch(db: &Database, batch: Vec<Pending>) {
    let mut dirs: Vec<PathBuf> = batch.iter().flat_map(|p| p.sync_dirs.iter().cloned()).collect();
    dirs.sort();
    dirs.dedup();
    let dir_result = dirs.iter().try_for_each(|d| sync_dir(d));
    let mut txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => return fail_all(batch, S3Error::internal(e)),
    };
    txn.set_durability(Durability::Immediate);
    let mut deliveries = Vec::with_capacity(batch.len());
    let mut poisoned = false;
    for p in batch {
        let applied = (p.apply)(&txn);
        poisoned |= applied.poisoned;
        deliveries.push(applied.deliver);
    }
    let fate = if let Err(e) = dir_result {
        // fsync failure is fatal for every write in the batch: none may be acknowledged.
        let _ = txn.abort();
        Err(S3Error::internal(format!("fsync data directory: {e}")))
    } else if poisoned {
        let _ = txn.abort();
        Err(S3Error::internal("batch abandoned after a storage error"))
    } else {
        txn.commit().map_err(commit_error)
    };
    for d in deliveries {
        d(fate.clone());
    }
}

/// A failed commit: a full disk is the client-visible InsufficientStorage (507), anything
/// else an internal error. Either way nothing of the batch became durable.
fn commit_error(e: redb::CommitError) -> S3Error {
    let text = e.to_string();
    if text.contains("No space left") || text.contains("os error 28") {
        tracing::error!(error = %text, "metadata commit failed: disk full");
        return S3Error::new(crate::s3::error::ErrorCode::InsufficientStorage);
    }
    S3Error::internal(text)
}

fn fail_all(batch: Vec<Pending>, err: S3Error) {
    // Nothing was applied; the closures still have to be run to get at their reply channels,
    // so run them against nothing by dropping them: a dropped oneshot reads as an error.
    drop(batch);
    tracing::error!(%err, "metadata batch failed before applying");
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

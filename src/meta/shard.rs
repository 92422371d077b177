//! One metadata shard: a redb database owned by one executor, with group commit.
//!
//! Reads run inline on any core: redb read transactions are MVCC snapshots and do not wait
//! on writers, and other cores borrow the handle (see `engine::shards::reader`). Writes are
//! `MetaCmd`s queued to the shard's committer task, which applies a whole batch in one write
//! transaction on the shard's offload thread (not pinned to the owning core, see
//! `runtime::offload`) and makes it durable with one commit: N concurrent writers pay for
//! one fsync. No reply is delivered before its batch is durable. A batch of commands is also
//! exactly what a Raft leader would propose in cluster mode (see `commands`).

use super::commands::{MetaCmd, MetaReply};
use crate::error::{ErrorCode, S3Error, S3Result};
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

/// Slots of the commit-generation table (shards share a slot modulo this: a commit to one
/// then also invalidates what readers cached from the other, never the reverse).
const GENERATION_SLOTS: usize = 256;

/// Per shard (modulo `GENERATION_SLOTS`), how many batches have finished committing. A
/// reader that loads it before opening its read transaction and finds it unchanged later
/// knows no commit landed in between, so what it decoded then is still the shard's state
/// (see `engine::records`). Bumped after the commit and before any reply goes out, so a
/// read that starts after an acknowledged write always sees the new value.
static GENERATIONS: [std::sync::atomic::AtomicU64; GENERATION_SLOTS] =
    [const { std::sync::atomic::AtomicU64::new(0) }; GENERATION_SLOTS];

/// The shard's commit generation (see `GENERATIONS`).
pub fn generation(shard: u32) -> u64 {
    GENERATIONS[shard as usize % GENERATION_SLOTS].load(std::sync::atomic::Ordering::Acquire)
}

/// Marks that a write transaction of `shard` ended (committed or not): every cached read of
/// it is stale from now on. (Cluster mode commits through its Raft applier and caches no
/// reads: `engine::records` is off there.)
pub fn bump_generation(shard: u32) {
    GENERATIONS[shard as usize % GENERATION_SLOTS]
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Bytes set aside next to each shard's database. A full disk that fills the metadata
/// store itself would otherwise leave no room for the deletes that could free it: on the
/// first out-of-space commit the reserve is released, so deletes can commit again.
pub const RESERVE_BYTES: u64 = 16 * 1024 * 1024;

pub struct MetaShard {
    pub id: u32,
    /// None only while a database that hit an I/O error is being reopened.
    db: std::cell::RefCell<Option<Arc<Database>>>,
    path: PathBuf,
    /// A commit failed at the storage level: redb refuses all further writes on that handle
    /// ("previous I/O error"), so the committer reopens the database before the next batch.
    broken: std::cell::Cell<bool>,
    tx: async_channel::Sender<Pending>,
    rx: async_channel::Receiver<Pending>,
    group_commit_max: usize,
    /// redb's cache for this shard's database (kept for a reopen).
    cache_bytes: u64,
    /// Runs the commits, off the owning core's request path.
    committer: crate::runtime::offload::Offload,
}

impl MetaShard {
    pub fn open(
        id: u32,
        path: &Path,
        group_commit_max: usize,
        cache_bytes: u64,
    ) -> Result<MetaShard, String> {
        let db = Self::open_database(path, cache_bytes)?;
        Self::with_database(id, path, db, group_commit_max, cache_bytes)
    }

    /// Opens (or creates) a shard's database with every table: in cluster mode the boot
    /// opens it before the cores, to hand it to the shard's Raft group as well.
    pub fn open_database(path: &Path, cache_bytes: u64) -> Result<Arc<Database>, String> {
        let db = open_db(path, cache_bytes)?;
        super::tables::init(&db).map_err(|e| format!("init shard {}: {e}", path.display()))?;
        Ok(Arc::new(db))
    }

    /// The shard over a database opened by [`MetaShard::open_database`]. (In cluster mode
    /// the Raft group holds the database too: its writes go through the group, never this
    /// shard's committer, so the committer's reopen-after-failure never runs on it.)
    pub fn with_database(
        id: u32,
        path: &Path,
        db: Arc<Database>,
        group_commit_max: usize,
        cache_bytes: u64,
    ) -> Result<MetaShard, String> {
        ensure_reserve(&reserve_path(path));
        let (tx, rx) = async_channel::bounded(WRITE_QUEUE_MAX);
        Ok(MetaShard {
            id,
            db: std::cell::RefCell::new(Some(db)),
            path: path.to_path_buf(),
            broken: std::cell::Cell::new(false),
            tx,
            rx,
            group_commit_max,
            cache_bytes,
            committer: crate::runtime::offload::Offload::spawn(format!("meta-commit-{id}"))
                .map_err(|e| format!("start the committer of shard {id}: {e}"))?,
        })
    }

    /// The database handle (None while it is reopened): for reads from any core
    /// (`engine::shards::reader`), and for benchmarks and offline tools that own the shard.
    /// Writes on the request path go through `apply`, never through this handle.
    pub fn database(&self) -> Option<Arc<Database>> {
        self.db.borrow().clone()
    }

    pub fn read(&self) -> S3Result<ReadTransaction> {
        match self.db.borrow().as_ref() {
            Some(db) => db.begin_read().map_err(S3Error::from_db),
            None => Err(S3Error::new(ErrorCode::ServiceUnavailable)
                .caused_by("metadata shard is being reopened")),
        }
    }

    /// After a storage-level commit failure: frees the reserve (the likely cause is a full
    /// disk) and reopens the database, whose handle redb has poisoned. Returns whether the
    /// shard has a usable database again; if not, the next batch tries again.
    fn recover(&self) -> bool {
        let _ = std::fs::remove_file(reserve_path(&self.path));
        let mut slot = self.db.borrow_mut();
        if let Some(db) = slot.as_ref() {
            if Arc::strong_count(db) > 1 {
                return false; // a commit or scan still holds it: retry on the next batch
            }
        }
        *slot = None; // closes the poisoned handle (redb allows one open handle per file)
        match open_db(&self.path, self.cache_bytes) {
            Ok(db) => {
                *slot = Some(Arc::new(db));
                self.broken.set(false);
                tracing::warn!(
                    shard = self.id,
                    "metadata shard reopened after a storage error"
                );
                true
            }
            Err(e) => {
                tracing::error!(shard = self.id, cause = %e, "metadata shard reopen failed");
                false
            }
        }
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

    /// The committer: runs forever on the owning executor; each batch's commit runs on the
    /// shard's offload thread. (Committing further batches straight from the offload thread
    /// was measured and not faster: batches got smaller by what the hop let accumulate.)
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
            assert!(!batch.is_empty() && batch.len() <= self.group_commit_max.max(1));
            let db = if self.broken.get() && !self.recover() {
                None
            } else {
                self.db.borrow().clone()
            };
            let Some(db) = db else {
                // Every op is answered: a dropped batch would read as a committer crash.
                for p in batch {
                    let _ = p.reply.send(Err(S3Error::new(ErrorCode::ServiceUnavailable)
                        .caused_by("metadata shard is recovering from a storage error")));
                }
                // Only a failed reopen leaves no handle, and it leaves the shard `broken`.
                assert!(self.broken.get(), "shard {}: no database handle", self.id);
                continue;
            };
            let size = batch.len();
            let started = std::time::Instant::now();
            let id = self.id;
            let broken = self
                .committer
                .run(move || commit_batch(id, &db, batch))
                .await;
            if broken {
                // Reopen at once: until then redb refuses reads on the poisoned handle too.
                self.broken.set(true);
                self.recover();
            }
            crate::observe::metrics::record_commit(self.id, size, started.elapsed());
        }
    }
}

fn open_db(path: &Path, cache_bytes: u64) -> Result<Database, String> {
    Database::builder()
        .set_cache_size(usize::try_from(cache_bytes).unwrap_or(usize::MAX))
        .create(path)
        .map_err(|e| format!("open metadata shard {}: {e}", path.display()))
}

fn reserve_path(db_path: &Path) -> PathBuf {
    db_path.with_extension("reserve")
}

/// Allocates the reserve file (real blocks, not a sparse file) when there is room for it.
fn ensure_reserve(path: &Path) {
    use std::os::unix::io::AsRawFd;
    if path
        .metadata()
        .map(|m| m.len() == RESERVE_BYTES)
        .unwrap_or(false)
    {
        return;
    }
    let Ok(f) = std::fs::File::create(path) else {
        return;
    };
    // SAFETY: fallocate on a file descriptor we own; no memory is passed.
    let rc = unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, RESERVE_BYTES as libc::off_t) };
    if rc != 0 {
        drop(f);
        let _ = std::fs::remove_file(path); // no room for it now; the next start tries again
    }
}

/// Applies a batch in one transaction and commits it durably; then delivers every reply.
/// Returns true when the database handle must be reopened (a storage-level failure).
fn commit_batch(shard: u32, db: &Database, batch: Vec<Pending>) -> bool {
    // fsync failure is fatal for every write in the batch: none may be acknowledged.
    let dir_result = sync_dirs(batch.iter().flat_map(|p| p.sync_dirs.iter()));
    let mut txn = match db.begin_write() {
        Ok(t) => t,
        Err(e) => {
            let err = storage_error(e);
            for p in batch {
                let _ = p.reply.send(Err(err.clone()));
            }
            return true;
        }
    };
    txn.set_durability(Durability::Immediate);
    let size = batch.len();
    let mut results = Vec::with_capacity(size);
    let mut poisoned = false;
    for p in batch {
        let r = p.cmd.apply(&txn);
        poisoned |= matches!(&r, Err(e) if e.poisons_transaction());
        results.push((p.reply, r));
    }
    // One result per op, before anything commits: each reply below answers exactly one write.
    assert_eq!(results.len(), size);
    let fate = if let Err(e) = dir_result {
        let _ = txn.abort();
        Err(S3Error::internal(format!("fsync data directory: {e}")))
    } else if poisoned {
        // A storage error may have left an op half-applied: nothing of the batch commits.
        let _ = txn.abort();
        Err(S3Error::internal("batch abandoned after a storage error"))
    } else {
        txn.commit().map_err(storage_error)
    };
    // Before the first reply: a read that starts after an acknowledged write misses every
    // record cached before it.
    bump_generation(shard);
    let broken = poisoned || fate.is_err();
    // A poisoned batch never commits: an acknowledged write is one that is durable.
    assert!(!(poisoned && fate.is_ok()));
    let mut answered = 0;
    for (reply, r) in results {
        let _ = reply.send(fate.clone().and(r));
        answered += 1;
    }
    assert_eq!(answered, size);
    broken
}

/// A failed commit: a full disk is the client-visible InsufficientStorage (507), anything
/// else an internal error. Either way nothing of the batch became durable.
fn storage_error<E: Into<redb::Error> + std::fmt::Display>(e: E) -> S3Error {
    let err = S3Error::from_db(e);
    if err.code == ErrorCode::InsufficientStorage {
        let text = err.cause.as_deref().unwrap_or_default();
        tracing::error!(error = %text, "metadata commit failed: disk full");
    }
    err
}

/// Makes the entries of every directory in `dirs` durable, each once (a batch's new data
/// files, before any record names them). Blocking.
pub fn sync_dirs<'a>(dirs: impl Iterator<Item = &'a PathBuf>) -> std::io::Result<()> {
    let mut dirs: Vec<&PathBuf> = dirs.collect();
    dirs.sort();
    dirs.dedup();
    dirs.iter()
        .try_for_each(|d| std::fs::File::open(d)?.sync_all())
}

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
use std::sync::atomic::{AtomicU64, Ordering};
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

/// Nice value of each shard's commit thread (when the process may lower it). Every write of
/// the shard waits on this one thread, and a batch's replies wake the executors, which then
/// preempted it and left it waiting for a core mid-batch: at nice 0 it waited ~28 µs per
/// 4 KiB PUT on a run queue (16 connections, 2 cores). At -5, 4 KiB PUT went 15.3k → 19.7k
/// ops/s at 64 connections and 9.5k → 10.2k at 16 (-10 and -20 were no better).
const COMMIT_NICE: i32 = -5;

/// Slots of the commit-generation table (shards share a slot modulo this: a commit to one
/// then also invalidates what readers cached from the other, never the reverse).
const GENERATION_SLOTS: usize = 256;

/// Slots of the per-key generation table (512 KiB): keys share a slot modulo this, so a
/// write to one also invalidates what readers cached of the others, never the reverse.
const KEY_GENERATION_SLOTS: usize = 1 << 16;

/// Per shard (modulo `GENERATION_SLOTS`), how many batches that changed a bucket's record or
/// configuration (or more keys than they name) have finished committing; and per key (by
/// `key_hash`, modulo `KEY_GENERATION_SLOTS`), how many batches that changed the key's
/// records have. A reader that loads both before opening its read transaction and finds
/// them unchanged later knows no commit that could change what it read landed in between,
/// so what it decoded then is still the shard's state for that key (see
/// `engine::records`). Bumped after the commit and before any reply goes out, so a read
/// that starts after an acknowledged write always sees the new value.
static GENERATIONS: [AtomicU64; GENERATION_SLOTS] = [const { AtomicU64::new(0) }; GENERATION_SLOTS];
static KEY_GENERATIONS: [AtomicU64; KEY_GENERATION_SLOTS] =
    [const { AtomicU64::new(0) }; KEY_GENERATION_SLOTS];

/// What a cached read of one key depends on: its shard's and its key's generations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub shard: u64,
    pub key: u64,
}

/// The generations a read of (`shard`, the key hashed to `key_hash`) starts from; load it
/// before the read transaction opens.
pub fn stamp(shard: u32, key_hash: u64) -> Stamp {
    Stamp {
        shard: shard_generation(shard),
        key: KEY_GENERATIONS[key_hash as usize % KEY_GENERATION_SLOTS].load(Ordering::Acquire),
    }
}

/// The shard's generation alone: what a cached bucket record depends on (a bucket's record
/// and configurations change only in commits that bump it).
pub fn shard_generation(shard: u32) -> u64 {
    GENERATIONS[shard as usize % GENERATION_SLOTS].load(Ordering::Acquire)
}

/// The hash that names (bucket, key) in the per-key generations and in readers' caches.
pub fn key_hash(bucket: &str, key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same on every thread, so readers and the committer agree.
    let mut h = std::hash::DefaultHasher::new();
    bucket.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

/// Keys one batch bumps one by one at most; a batch naming more bumps its whole shard.
const KEYS_BUMPED_MAX: usize = 4096;

/// What a batch's commands may change, for the generations: the keys they name, or (None)
/// anything in the shard.
fn changes(batch: &[Pending]) -> Option<smallvec::SmallVec<[u64; 32]>> {
    let mut keys = smallvec::SmallVec::new();
    let mut only_keys = true;
    for p in batch {
        only_keys &= p.cmd.keys_changed(|b, k| keys.push(key_hash(b, k)));
        if !only_keys || keys.len() > KEYS_BUMPED_MAX {
            return None;
        }
    }
    Some(keys)
}

/// Marks that a write transaction of `shard` ended (committed or not): every cached read of
/// `changed` keys (None: of any key of the shard) is stale from now on. (Cluster mode
/// commits through its Raft applier and caches no reads: `engine::records` is off there.)
fn bump_generations(shard: u32, changed: Option<&[u64]>) {
    match changed {
        Some(keys) => {
            for h in keys {
                KEY_GENERATIONS[*h as usize % KEY_GENERATION_SLOTS].fetch_add(1, Ordering::AcqRel);
            }
        }
        None => {
            GENERATIONS[shard as usize % GENERATION_SLOTS].fetch_add(1, Ordering::AcqRel);
        }
    }
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
            committer: crate::runtime::offload::Offload::spawn(
                format!("meta-commit-{id}"),
                COMMIT_NICE,
            )
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
        queue(&self.tx, cmd, sync_dirs).await
    }

    /// A handle other cores queue this shard's writes through (see [`Submitter`]).
    pub fn submitter(&self) -> Submitter {
        Submitter {
            tx: self.tx.clone(),
        }
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

/// Queues writes on a shard's committer from any core: the committer's queue and each
/// write's reply are thread-safe, and the commit runs on the shard's offload thread, which
/// answers the writer directly. So a core that does not own the shard needs no hop to the
/// owner and back (two executor wake-ups) for a write: the owner lends this on the first
/// one (`engine::shards::writer`). Batches, their order and durability are the owner's
/// committer's, whichever core queued.
#[derive(Clone)]
pub struct Submitter {
    tx: async_channel::Sender<Pending>,
}

impl Submitter {
    /// [`MetaShard::apply`], from any core.
    pub async fn apply(&self, cmd: MetaCmd, sync_dirs: Vec<PathBuf>) -> S3Result<MetaReply> {
        queue(&self.tx, cmd, sync_dirs).await
    }
}

async fn queue(
    tx: &async_channel::Sender<Pending>,
    cmd: MetaCmd,
    sync_dirs: Vec<PathBuf>,
) -> S3Result<MetaReply> {
    let (reply, reply_rx) = futures::channel::oneshot::channel();
    tx.send(Pending {
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
    let changed = changes(&batch);
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
    // record of what it changed cached before it.
    bump_generations(shard, changed.as_deref());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::commands::WriteCond;
    use crate::meta::types::{BucketMeta, ObjectMeta};

    type Answer = futures::channel::oneshot::Receiver<S3Result<MetaReply>>;

    fn pending(cmd: MetaCmd) -> (Pending, Answer) {
        let (reply, answer) = futures::channel::oneshot::channel();
        let sync_dirs = Vec::new();
        (
            Pending {
                cmd,
                sync_dirs,
                reply,
            },
            answer,
        )
    }

    fn put(bucket: &str, key: &str) -> MetaCmd {
        MetaCmd::PutObject {
            bucket: bucket.into(),
            key: key.into(),
            meta: ObjectMeta::test_empty("o"),
            cond: WriteCond::default(),
        }
    }

    fn commit(shard: u32, db: &Database, cmds: Vec<MetaCmd>) {
        let (batch, answers): (Vec<_>, Vec<_>) = cmds.into_iter().map(pending).unzip();
        assert!(!commit_batch(shard, db, batch));
        for mut a in answers {
            assert!(matches!(a.try_recv(), Ok(Some(Ok(_)))));
        }
    }

    #[test]
    fn a_commit_makes_stale_the_keys_it_names_and_a_bucket_change_the_whole_shard() {
        let dir = tempfile::tempdir().unwrap();
        let db = MetaShard::open_database(&dir.path().join("s.redb"), 1 << 20).unwrap();
        // A shard slot and names no other test commits to (the tables are process-wide).
        let (shard, bucket) = (201, "generations-test");
        let (k1, k2) = (key_hash(bucket, "one"), key_hash(bucket, "two"));
        let before = stamp(shard, k2);
        let create = MetaCmd::CreateBucket {
            meta: BucketMeta::test_new(bucket, "o"),
            configs: Vec::new(),
        };
        commit(shard, &db, vec![create]);
        let created = stamp(shard, k2);
        assert!(created.shard > before.shard, "a bucket change: every key");

        let one = stamp(shard, k1);
        commit(shard, &db, vec![put(bucket, "one")]);
        assert!(stamp(shard, k1).key > one.key, "the key written");
        assert_eq!(stamp(shard, k1).shard, one.shard);
        assert_eq!(stamp(shard, k2), created, "another key keeps its entries");

        // A batch naming more keys than it bumps one by one makes the whole shard stale.
        let many = (0..=KEYS_BUMPED_MAX).map(|i| put(bucket, &format!("m{i}")));
        commit(shard, &db, many.collect());
        assert!(stamp(shard, k2).shard > created.shard);
    }

    #[test]
    fn a_submitter_queues_writes_from_another_thread_on_the_owners_committer() {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .spawn(|| async {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("s.redb");
                let shard = std::rc::Rc::new(MetaShard::open(202, &path, 64, 1 << 20).unwrap());
                glommio::spawn_local(std::rc::Rc::clone(&shard).run_committer()).detach();
                let bucket = "submitter-test";
                let create = MetaCmd::CreateBucket {
                    meta: BucketMeta::test_new(bucket, "o"),
                    configs: Vec::new(),
                };
                shard.apply(create, Vec::new()).await.unwrap();
                // Another thread writes through the lent handle while this executor runs the
                // committer; its reply comes straight from the commit.
                let submitter = shard.submitter();
                let (done, answer) = futures::channel::oneshot::channel();
                std::thread::spawn(move || {
                    let writes =
                        (0..20).map(|i| submitter.apply(put(bucket, &format!("k{i}")), Vec::new()));
                    let results = futures::executor::block_on(futures::future::join_all(writes));
                    let _ = done.send(results.iter().filter(|r| r.is_ok()).count());
                });
                assert_eq!(answer.await.unwrap(), 20);
                let txn = shard.read().unwrap();
                for i in 0..20 {
                    let key = format!("k{i}");
                    assert!(
                        crate::meta::tables::get_object(&txn, bucket, &key)
                            .unwrap()
                            .is_some(),
                        "{key}"
                    );
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}

//! One Raft group per metadata shard, on openraft 0.9 (storage v2): the type configuration,
//! the log persisted in redb, and the state machine behind [`Applier`].
//!
//! A log entry is one group-commit batch of `MetaCmd`s ([`Batch`]). The log, the vote, the
//! committed index and the latest snapshot of a group live in one small redb file of its own
//! (`raft-group-<n>.redb` in the directory the caller names); every append, truncate, purge
//! and vote is committed with `Durability::Immediate` before openraft is told it is done, as
//! openraft requires. What the entries are applied to is an [`Applier`]: the next milestone
//! plugs the shard's `MetaShard` in; the tests use an in-memory one.

use crate::meta::commands::MetaCmd;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogReader,
    RaftSnapshotBuilder, SnapshotMeta, StorageError, StoredMembership, Vote,
};
use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::fmt;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub type NodeId = u64;

/// A log entry's data: one group-commit batch, applied in order as one unit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Batch(pub Vec<MetaCmd>);

/// What applying one entry answered: its log index and the [`Applier`]'s reply, opaque here
/// (the proposer of the batch decodes it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReply {
    pub log_index: u64,
    pub reply: Vec<u8>,
}

openraft::declare_raft_types!(
    /// The Raft types of a metadata group: entries carry [`Batch`]es, node ids are the
    /// `cluster.nodes` ids, a node's address is its peer address.
    pub TypeConfig:
        D = Batch,
        R = BatchReply,
        NodeId = u64,
        Node = BasicNode,
        Entry = Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
);

/// A failure of the [`Applier`] or of the group's own storage.
#[derive(Debug)]
pub struct ClusterError(pub String);

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

impl ClusterError {
    pub fn new(what: impl fmt::Display) -> ClusterError {
        ClusterError(what.to_string())
    }
}

/// The state a group's committed entries are applied to (the next milestone: a `MetaShard`).
///
/// Besides its data it stores a *position*: opaque bytes naming the last entry it reflects,
/// written in the same atomic step as the change they describe (one redb transaction for a
/// shard), so after a crash the state and its position agree and Raft re-applies exactly the
/// entries after it.
pub trait Applier: Send + 'static {
    /// The position stored by the last `apply` or `install`; None when nothing was applied.
    fn position(&self) -> Result<Option<Vec<u8>>, ClusterError>;
    /// Applies one committed batch in order (empty for Raft's own entries) and stores
    /// `position` with it. Deterministic: every replica applies the same batches.
    fn apply(&mut self, batch: &[MetaCmd], position: &[u8]) -> Result<Vec<u8>, ClusterError>;
    /// The whole state as bytes, for a follower too far behind for the log.
    fn snapshot(&self) -> Result<Vec<u8>, ClusterError>;
    /// Replaces the whole state with a snapshot's bytes and stores `position`.
    fn install(&mut self, snapshot: &[u8], position: &[u8]) -> Result<(), ClusterError>;
}

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state");
const KEY_VOTE: &str = "vote";
const KEY_COMMITTED: &str = "committed";
const KEY_PURGED: &str = "last_purged";
const KEY_SNAPSHOT: &str = "snapshot";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, BoxError> {
    Ok(bincode::serialize(value)?)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BoxError> {
    Ok(bincode::deserialize(bytes)?)
}

fn storage_error(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl fmt::Display,
) -> StorageError<NodeId> {
    StorageError::from_io_error(subject, verb, std::io::Error::other(e.to_string()))
}

/// Runs redb work (and the fsyncs of its commits) off the async workers.
async fn blocking<T: Send + 'static>(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    work: impl FnOnce() -> Result<T, BoxError> + Send + 'static,
) -> Result<T, StorageError<NodeId>> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(storage_error(subject, verb, e)),
        Err(e) => Err(storage_error(subject, verb, e)),
    }
}

fn write_txn(db: &Database, durability: Durability) -> Result<WriteTransaction, BoxError> {
    let mut txn = db.begin_write()?;
    txn.set_durability(durability);
    Ok(txn)
}

fn read_state<T: DeserializeOwned>(db: &Database, key: &str) -> Result<Option<T>, BoxError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(STATE)?;
    let value = table.get(key)?;
    value.map(|v| decode(v.value())).transpose()
}

fn write_state<T: Serialize>(
    db: &Database,
    key: &str,
    value: &T,
    durability: Durability,
) -> Result<(), BoxError> {
    let bytes = encode(value)?;
    let txn = write_txn(db, durability)?;
    txn.open_table(STATE)?.insert(key, bytes.as_slice())?;
    txn.commit()?;
    Ok(())
}

/// The file of group `group` under `dir`.
pub fn group_path(dir: &Path, group: u32) -> PathBuf {
    dir.join(format!("raft-group-{group}.redb"))
}

/// A group's database. openraft's tasks hold it (the log store, its readers, the state
/// machine) and end on their own after a shutdown; when the last handle goes, the file is
/// closed and [`Closed`] resolves, so the group can be opened again in the same process.
struct GroupDb {
    db: Database,
    _closed: tokio::sync::oneshot::Sender<()>,
}

impl std::ops::Deref for GroupDb {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.db
    }
}

/// Resolves once a group's file is closed.
pub struct Closed(tokio::sync::oneshot::Receiver<()>);

impl Closed {
    pub async fn wait(self) {
        // The sender is never used: only its drop, which ends the wait.
        let _ = self.0.await;
    }
}

fn open_db(path: &Path) -> Result<(Arc<GroupDb>, Closed), ClusterError> {
    let fail = |e: &dyn fmt::Display| ClusterError::new(format!("{}: {e}", path.display()));
    let db = Database::create(path).map_err(|e| fail(&e))?;
    let init = || -> Result<(), BoxError> {
        let txn = write_txn(&db, Durability::Immediate)?;
        txn.open_table(LOG)?;
        txn.open_table(STATE)?;
        txn.commit()?;
        Ok(())
    };
    init().map_err(|e| fail(&e))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    Ok((Arc::new(GroupDb { db, _closed: tx }), Closed(rx)))
}

/// A group's log and vote, in its redb file. Clones share the database (openraft reads
/// the log through a clone while it appends).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<GroupDb>,
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + fmt::Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let db = Arc::clone(&self.db);
        let bounds: (Bound<u64>, Bound<u64>) =
            (range.start_bound().cloned(), range.end_bound().cloned());
        blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
            let txn = db.begin_read()?;
            let table = txn.open_table(LOG)?;
            let mut entries = Vec::new();
            for row in table.range::<u64>(bounds)? {
                let (_, bytes) = row?;
                entries.push(decode(bytes.value())?);
            }
            Ok(entries)
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let db = Arc::clone(&self.db);
        blocking(ErrorSubject::Logs, ErrorVerb::Read, move || {
            let last_purged: Option<LogId<NodeId>> = read_state(&db, KEY_PURGED)?;
            let txn = db.begin_read()?;
            let table = txn.open_table(LOG)?;
            let last = match table.last()? {
                Some((_, bytes)) => Some(decode::<Entry<TypeConfig>>(bytes.value())?.log_id),
                None => last_purged,
            };
            Ok(LogState {
                last_purged_log_id: last_purged,
                last_log_id: last,
            })
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let (db, vote) = (Arc::clone(&self.db), *vote);
        blocking(ErrorSubject::Vote, ErrorVerb::Write, move || {
            write_state(&db, KEY_VOTE, &vote, Durability::Immediate)
        })
        .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        let db = Arc::clone(&self.db);
        blocking(ErrorSubject::Vote, ErrorVerb::Read, move || {
            read_state(&db, KEY_VOTE)
        })
        .await
    }

    /// Not needed for safety (openraft recomputes it), only to re-apply on restart what was
    /// committed: written without its own fsync, made durable by the next append or vote.
    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let db = Arc::clone(&self.db);
        blocking(ErrorSubject::Store, ErrorVerb::Write, move || {
            write_state(&db, KEY_COMMITTED, &committed, Durability::None)
        })
        .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        let db = Arc::clone(&self.db);
        blocking(ErrorSubject::Store, ErrorVerb::Read, move || {
            Ok(read_state::<Option<LogId<NodeId>>>(&db, KEY_COMMITTED)?.flatten())
        })
        .await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let rows = entries
            .into_iter()
            .map(|e| Ok((e.log_id.index, encode(&e)?)))
            .collect::<Result<Vec<_>, BoxError>>()
            .map_err(|e| storage_error(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        let db = Arc::clone(&self.db);
        let done = blocking(ErrorSubject::Logs, ErrorVerb::Write, move || {
            let txn = write_txn(&db, Durability::Immediate)?;
            {
                let mut table = txn.open_table(LOG)?;
                for (index, bytes) in &rows {
                    table.insert(*index, bytes.as_slice())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
        .await;
        // Durable (or failed) now: only then may openraft count these entries.
        match &done {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        done
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let db = Arc::clone(&self.db);
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            let txn = write_txn(&db, Durability::Immediate)?;
            txn.open_table(LOG)?
                .retain_in(log_id.index.., |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let db = Arc::clone(&self.db);
        blocking(ErrorSubject::Logs, ErrorVerb::Delete, move || {
            let purged = encode(&log_id)?;
            let txn = write_txn(&db, Durability::Immediate)?;
            txn.open_table(STATE)?
                .insert(KEY_PURGED, purged.as_slice())?;
            txn.open_table(LOG)?
                .retain_in(..=log_id.index, |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
        .await
    }
}

/// What the [`Applier`] reflects, as openraft sees it; stored through the applier as its
/// opaque position.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Position {
    applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
}

/// A snapshot as kept in the group's file: its metadata and the applier's bytes.
#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: Vec<u8>,
}

impl StoredSnapshot {
    fn into_snapshot(self) -> Snapshot<TypeConfig> {
        Snapshot {
            meta: self.meta,
            snapshot: Box::new(Cursor::new(self.data)),
        }
    }
}

/// The applier with its position, under one lock: a snapshot is taken between two applies.
struct Machine<A> {
    applier: A,
    position: Position,
}

impl<A: Applier> Machine<A> {
    fn apply_entry(&mut self, entry: Entry<TypeConfig>) -> Result<BatchReply, BoxError> {
        let index = entry.log_id.index;
        let mut position = self.position.clone();
        position.applied = Some(entry.log_id);
        let batch = match entry.payload {
            EntryPayload::Blank => Batch::default(),
            EntryPayload::Normal(batch) => batch,
            EntryPayload::Membership(m) => {
                position.membership = StoredMembership::new(Some(entry.log_id), m);
                Batch::default()
            }
        };
        let reply = self.applier.apply(&batch.0, &encode(&position)?)?;
        self.position = position;
        Ok(BatchReply {
            log_index: index,
            reply,
        })
    }

    fn install(
        &mut self,
        data: &[u8],
        meta: &SnapshotMeta<NodeId, BasicNode>,
    ) -> Result<(), BoxError> {
        let position = Position {
            applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        self.applier.install(data, &encode(&position)?)?;
        self.position = position;
        Ok(())
    }
}

fn lock<A>(machine: &Mutex<Machine<A>>) -> Result<std::sync::MutexGuard<'_, Machine<A>>, BoxError> {
    machine
        .lock()
        .map_err(|_| "the state machine panicked while applying".into())
}

/// openraft's state machine: committed entries go to the [`Applier`]; snapshots are its
/// bytes, kept in the group's file.
pub struct StateMachine<A> {
    machine: Arc<Mutex<Machine<A>>>,
    db: Arc<GroupDb>,
}

/// Builds a snapshot of the applier at the moment it runs.
pub struct SnapshotBuilder<A> {
    machine: Arc<Mutex<Machine<A>>>,
    db: Arc<GroupDb>,
}

impl<A: Applier> RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder<A> {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (machine, db) = (Arc::clone(&self.machine), Arc::clone(&self.db));
        let subject = ErrorSubject::Snapshot(None);
        let stored = blocking(subject, ErrorVerb::Write, move || {
            let (data, position) = {
                let m = lock(&machine)?;
                (m.applier.snapshot()?, m.position.clone())
            };
            let id = match position.applied {
                Some(l) => format!("{}-{}-{}", l.leader_id.term, l.index, rand::random::<u32>()),
                None => format!("empty-{}", rand::random::<u32>()),
            };
            let stored = StoredSnapshot {
                meta: SnapshotMeta {
                    last_log_id: position.applied,
                    last_membership: position.membership,
                    snapshot_id: id,
                },
                data,
            };
            write_state(&db, KEY_SNAPSHOT, &stored, Durability::Immediate)?;
            Ok(stored)
        })
        .await?;
        Ok(stored.into_snapshot())
    }
}

impl<A: Applier> RaftStateMachine<TypeConfig> for StateMachine<A> {
    type SnapshotBuilder = SnapshotBuilder<A>;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let m = lock(&self.machine)
            .map_err(|e| storage_error(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
        Ok((m.position.applied, m.position.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<BatchReply>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let machine = Arc::clone(&self.machine);
        blocking(ErrorSubject::StateMachine, ErrorVerb::Write, move || {
            let mut m = lock(&machine)?;
            entries.into_iter().map(|e| m.apply_entry(e)).collect()
        })
        .await
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            machine: Arc::clone(&self.machine),
            db: Arc::clone(&self.db),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let (machine, db) = (Arc::clone(&self.machine), Arc::clone(&self.db));
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: snapshot.into_inner(),
        };
        let subject = ErrorSubject::Snapshot(Some(meta.signature()));
        blocking(subject, ErrorVerb::Write, move || {
            lock(&machine)?.install(&stored.data, &stored.meta)?;
            write_state(&db, KEY_SNAPSHOT, &stored, Durability::Immediate)
        })
        .await
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let db = Arc::clone(&self.db);
        let stored = blocking(ErrorSubject::Snapshot(None), ErrorVerb::Read, move || {
            read_state::<StoredSnapshot>(&db, KEY_SNAPSHOT)
        })
        .await?;
        Ok(stored.map(StoredSnapshot::into_snapshot))
    }
}

/// Opens (or creates) group `group`'s file under `dir` and puts `applier` behind it. When
/// the file holds a snapshot newer than the applier's position (an applier that lost its
/// state, as an in-memory one does on restart), the snapshot is installed first: the log
/// before it may be purged. Blocking: call it at start-up or from a blocking task.
pub fn open_group_storage<A: Applier>(
    dir: &Path,
    group: u32,
    applier: A,
) -> Result<(LogStore, StateMachine<A>, Closed), ClusterError> {
    let path = group_path(dir, group);
    let (db, closed) = open_db(&path)?;
    let fail = |e: BoxError| ClusterError::new(format!("{}: {e}", path.display()));
    let position = match applier.position()? {
        Some(bytes) => decode::<Position>(&bytes).map_err(fail)?,
        None => Position::default(),
    };
    let mut machine = Machine { applier, position };
    if let Some(snap) = read_state::<StoredSnapshot>(&db, KEY_SNAPSHOT).map_err(fail)? {
        if snap.meta.last_log_id > machine.position.applied {
            machine.install(&snap.data, &snap.meta).map_err(fail)?;
        }
    }
    let log = LogStore {
        db: Arc::clone(&db),
    };
    let sm = StateMachine {
        machine: Arc::new(Mutex::new(machine)),
        db,
    };
    Ok((log, sm, closed))
}

/// An [`Applier`] that keeps every applied command in memory, for tests: what a node applied,
/// in order, can be compared between nodes.
#[cfg(test)]
pub(crate) mod mem {
    use super::{Applier, ClusterError};
    use crate::meta::commands::MetaCmd;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    pub struct MemState {
        pub cmds: Vec<MetaCmd>,
        pub position: Option<Vec<u8>>,
        /// Snapshots installed into this applier.
        pub installs: usize,
    }

    /// Shares its state with the test that made it.
    #[derive(Clone, Default)]
    pub struct MemApplier(pub Arc<Mutex<MemState>>);

    impl MemApplier {
        /// The commands applied so far, as text (MetaCmd has no equality).
        pub fn applied(&self) -> Vec<String> {
            let s = self.0.lock().unwrap();
            s.cmds.iter().map(|c| format!("{c:?}")).collect()
        }

        pub fn installs(&self) -> usize {
            self.0.lock().unwrap().installs
        }
    }

    impl Applier for MemApplier {
        fn position(&self) -> Result<Option<Vec<u8>>, ClusterError> {
            Ok(self.0.lock().unwrap().position.clone())
        }

        fn apply(&mut self, batch: &[MetaCmd], position: &[u8]) -> Result<Vec<u8>, ClusterError> {
            let mut s = self.0.lock().unwrap();
            s.cmds.extend_from_slice(batch);
            s.position = Some(position.to_vec());
            Ok((batch.len() as u32).to_be_bytes().to_vec())
        }

        fn snapshot(&self) -> Result<Vec<u8>, ClusterError> {
            let s = self.0.lock().unwrap();
            bincode::serialize(&s.cmds).map_err(ClusterError::new)
        }

        fn install(&mut self, snapshot: &[u8], position: &[u8]) -> Result<(), ClusterError> {
            let cmds = bincode::deserialize(snapshot).map_err(ClusterError::new)?;
            let mut s = self.0.lock().unwrap();
            s.cmds = cmds;
            s.position = Some(position.to_vec());
            s.installs += 1;
            Ok(())
        }
    }
}

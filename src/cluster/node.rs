//! This node's part of a cluster: one Raft group per metadata shard (group id = shard id),
//! the peer listener, and the two ways the engine uses them, both callable from any thread
//! or executor (the glommio cores hand work over on bounded tokio channels and await
//! futures-free oneshots):
//!
//! * [`ClusterNode::submit`]: a metadata command, queued to its group's batcher task, which
//!   takes up to [`Limits::batch_cmds_max`] queued commands (and at most
//!   [`Limits::batch_bytes_max`]) as one log entry (group commit), fsyncs their data
//!   directories here, then proposes the entry on the leader: itself through openraft, or
//!   another node by forwarding it over the peer transport. The reply comes once the entry is
//!   committed by a quorum and applied durably on this node, so a read here sees it.
//! * [`ClusterNode::read_barrier`]: before a read, a read index from the leader (confirmed
//!   by a quorum round), then a wait until this node has applied up to it. Concurrent
//!   barriers of a group share one round.
//!
//! No leader known (an election, a partition): requests wait and retry until their deadline,
//! then fail with 503 ServiceUnavailable, which clients retry.

use super::config::ClusterSpec;
use super::group::{form, raft_config, start_group, Group, GroupTuning};
use super::network::{
    fetch_data, forward_batch, forward_read_index, propose, read_index as read_index_here,
    read_local_data, DataFiles, ForwardError, Groups, MemberChange, ProposeError,
};
use super::raft::{Batch, BatchReply, ClusterError, NodeId, TypeConfig};
use super::read_pins::ReadPins;
use super::roster::{Roster, RosterCell};
use super::shard::{decode_replies, ShardApplier};
use super::transport::{PeerClient, PeerServer};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::meta::commands::{MetaCmd, MetaReply};
use futures::channel::oneshot;
use openraft::{Raft, ServerState};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Bounds on what a node queues, batches and waits for.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Commands in one log entry (one group-commit batch).
    pub batch_cmds_max: usize,
    /// Encoded command bytes in one log entry (one command larger than this still goes
    /// alone, up to the entry limit of `network::ENTRY_BYTES_MAX`).
    pub batch_bytes_max: usize,
    /// Commands waiting for a group's batcher; beyond it submitters wait (backpressure).
    pub queue_cmds_max: usize,
    /// Read barriers waiting for a group's next round.
    pub queue_reads_max: usize,
    /// Longest wait for one forwarded request to the leader.
    pub forward_timeout_ms: u64,
    /// Longest a write or a read barrier waits for a leader and its answer, retries
    /// included, before 503 ServiceUnavailable.
    pub request_timeout_ms: u64,
    /// Pause between two tries while no leader is known.
    pub retry_pause_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            batch_cmds_max: 256,
            batch_bytes_max: 2 * 1024 * 1024,
            queue_cmds_max: 4096,
            queue_reads_max: 4096,
            forward_timeout_ms: 5_000,
            request_timeout_ms: 8_000,
            retry_pause_ms: 50,
        }
    }
}

/// After a membership change, the wait before the repair pass that moves data: the change
/// reaches the other groups meanwhile.
const MEMBERSHIP_SETTLE_MS: u64 = 2_000;

/// A leader this long without a quorum's acknowledgement no longer counts as reachable.
const LEADER_QUORUM_ACK_MAX_MS: u64 = 2_000;

type Links = std::sync::Mutex<BTreeMap<NodeId, PeerClient>>;

struct Pending {
    cmd: MetaCmd,
    sync_dirs: Vec<PathBuf>,
    reply: oneshot::Sender<S3Result<MetaReply>>,
}

/// One group on this node, as the batcher and the reader see it.
struct GroupCtx {
    id: u32,
    node_id: NodeId,
    raft: Raft<TypeConfig>,
    roster: RosterCell,
    secret: super::transport::Secret,
    limits: Limits,
    /// Connections to the other members for forwarded writes (used by the batcher only).
    write_links: Links,
    /// Connections for read-index requests (used by the reader only).
    read_links: Links,
}

/// What one group looks like from this node, for /health and /readyz.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupStatus {
    pub group: u32,
    pub leader: Option<NodeId>,
    pub state: String,
    pub term: u64,
    pub last_applied: Option<u64>,
    pub last_log: Option<u64>,
    /// Whether this node has a leader it can reach for this group.
    pub has_reachable_leader: bool,
    /// On the group's leader only: per other member, the log entries it has yet to take
    /// (its replication lag; None while nothing is matched yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication_lag: Option<BTreeMap<NodeId, Option<u64>>>,
}

/// This node's view of the cluster.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    /// The voting members (each holds data), then every other node whose address is known
    /// (a learner catching up, a node removed since this one started).
    pub members: Vec<serde_json::Value>,
    pub other_nodes: Vec<serde_json::Value>,
    /// A membership change is under way (joint consensus, or a learner catching up).
    pub membership_changing: bool,
    pub groups: Vec<GroupStatus>,
    /// Copies of each data file (`cluster.replication_factor`, at most the members).
    pub replication_factor: usize,
    /// The last repair pass's figures (None before the first one ends).
    pub last_repair: Option<super::repair::RepairStats>,
    /// Repair passes finished since start.
    pub repair_passes: u64,
    /// Data file copies this node sent since start.
    pub copies: super::replica::CopyStats,
}

/// A running cluster node.
pub struct ClusterNode {
    node_id: NodeId,
    roster: RosterCell,
    secret: super::transport::Secret,
    /// Wakes the repair loop early: a group's membership changed.
    membership_moved: Arc<tokio::sync::Notify>,
    groups: BTreeMap<u32, GroupHandle>,
    /// The cluster's runtime: data reads asked from a glommio core run on it.
    handle: tokio::runtime::Handle,
    data: Arc<DataReader>,
    writer: Arc<super::replica::DataWriter>,
    /// Each group's shard database, for repair passes.
    shards: Vec<(u32, Arc<redb::Database>)>,
    /// The figures of the last repair pass.
    last_repair: std::sync::Mutex<(Option<super::repair::RepairStats>, u64)>,
    /// Deletes unreferenced local data files older than the age (None: no sweep).
    sweep: std::sync::Mutex<Option<(super::repair::DataSweep, Duration)>>,
    _server: PeerServer,
    _running: Vec<Group>,
}

struct GroupHandle {
    ctx: Arc<GroupCtx>,
    writes: mpsc::Sender<Pending>,
    reads: mpsc::Sender<oneshot::Sender<S3Result<()>>>,
}

fn unavailable(why: impl std::fmt::Display) -> S3Error {
    S3Error::msg(
        ErrorCode::ServiceUnavailable,
        "The metadata group of this bucket has no reachable leader right now; please retry.",
    )
    .caused_by(why)
}

impl ClusterNode {
    /// Starts one group per `(shard, database)` with its files under `raft_dir`, the peer
    /// listener on this node's peer address, and forms the groups from the static
    /// membership. Runs on the cluster's tokio runtime.
    pub async fn start(
        spec: &ClusterSpec,
        raft_dir: &Path,
        data_files: Option<DataFiles>,
        shards: Vec<(u32, Arc<redb::Database>)>,
        tuning: GroupTuning,
        limits: Limits,
    ) -> Result<Arc<ClusterNode>, ClusterError> {
        let this = spec
            .this()
            .ok_or_else(|| ClusterError::new("cluster.node_id is not a member"))?;
        let listener = tokio::net::TcpListener::bind(this.peer)
            .await
            .map_err(|e| ClusterError::new(format!("peer listener {}: {e}", this.peer)))?;
        Self::start_on(listener, spec, raft_dir, data_files, shards, tuning, limits).await
    }

    /// [`ClusterNode::start`] with the peer listener already bound.
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        spec: &ClusterSpec,
        raft_dir: &Path,
        data_files: Option<DataFiles>,
        shards: Vec<(u32, Arc<redb::Database>)>,
        tuning: GroupTuning,
        limits: Limits,
    ) -> Result<Arc<ClusterNode>, ClusterError> {
        std::fs::create_dir_all(raft_dir)
            .map_err(|e| ClusterError::new(format!("{}: {e}", raft_dir.display())))?;
        let config = raft_config(tuning)?;
        let registry = Groups::new();
        let pins = Arc::new(ReadPins::default());
        if let Some(files) = &data_files {
            registry.serve_data_from(Arc::clone(files), Arc::clone(&pins));
            tokio::spawn(sweep_read_pins(Arc::downgrade(&pins)));
        }
        let mut running = Vec::new();
        let kept_shards = shards.clone();
        for (shard, db) in shards {
            super::shard::check_joinable(&db, shard)?;
            let group = start_group(
                spec.node_id,
                shard,
                raft_dir,
                Arc::clone(&config),
                spec.secret.clone(),
                ShardApplier::new(db),
                &registry,
            )
            .await?;
            running.push((shard, group));
        }
        let server = PeerServer::start(listener, spec.secret.clone(), registry.handler())
            .map_err(|e| ClusterError::new(format!("peer listener: {e}")))?;
        let mut roster = Roster::from_spec(spec);
        if let Some((_, first)) = running.first() {
            // A log that holds a membership (a restart) rules over the configuration.
            let stored = first.raft.metrics().borrow().membership_config.clone();
            roster = roster.with_membership(stored.membership());
        }
        let roster = RosterCell::new(roster);
        let membership_moved = Arc::new(tokio::sync::Notify::new());
        let mut groups = BTreeMap::new();
        let mut kept = Vec::new();
        for (i, (shard, group)) in running.into_iter().enumerate() {
            if !spec.join {
                form(&group.raft, spec.node_id, &spec.nodes).await?;
            }
            tokio::spawn(follow_membership(
                group.raft.clone(),
                (i == 0).then(|| roster.clone()),
                Arc::clone(&membership_moved),
            ));
            let ctx = Arc::new(GroupCtx {
                id: shard,
                node_id: spec.node_id,
                raft: group.raft.clone(),
                roster: roster.clone(),
                secret: spec.secret.clone(),
                limits,
                write_links: Links::default(),
                read_links: Links::default(),
            });
            let (writes, write_rx) = mpsc::channel(limits.queue_cmds_max.max(1));
            let (reads, read_rx) = mpsc::channel(limits.queue_reads_max.max(1));
            tokio::spawn(run_batcher(Arc::clone(&ctx), write_rx));
            tokio::spawn(run_reader(Arc::clone(&ctx), read_rx));
            groups.insert(shard, GroupHandle { ctx, writes, reads });
            kept.push(group);
        }
        let (writer, removals) = super::replica::DataWriter::new(
            spec.node_id,
            roster.clone(),
            spec.secret.clone(),
            data_files.clone(),
            spec.replication_factor,
        );
        let writer = Arc::new(writer);
        tokio::spawn(super::replica::DataWriter::run_removals(
            Arc::downgrade(&writer),
            removals,
        ));
        let data = Arc::new(DataReader {
            node_id: spec.node_id,
            roster: roster.clone(),
            secret: spec.secret.clone(),
            data_files,
            pins,
            links: Links::default(),
        });
        let node = Arc::new(ClusterNode {
            node_id: spec.node_id,
            roster,
            secret: spec.secret.clone(),
            membership_moved,
            groups,
            handle: tokio::runtime::Handle::current(),
            data,
            writer,
            shards: kept_shards,
            last_repair: std::sync::Mutex::new((None, 0)),
            sweep: std::sync::Mutex::new(None),
            _server: server,
            _running: kept,
        });
        let weak = Arc::downgrade(&node);
        registry.serve_members_with(Arc::new(move |change| {
            let weak = weak.clone();
            Box::pin(async move {
                match weak.upgrade() {
                    Some(node) => node.change_members(change).await,
                    None => Err("this node is stopping".into()),
                }
            })
        }));
        Ok(node)
    }

    /// Makes `change` in every group, one after the other, each on its leader
    /// (`cluster::membership`); answers what each group did. Idempotent: asking again
    /// finishes a change cut short.
    pub async fn change_members(&self, change: MemberChange) -> Result<String, String> {
        let roster = self.roster.get();
        if !roster.voters.contains_key(&self.node_id) {
            return Err(format!(
                "{}: node {} (voters: {:?})",
                super::membership::NOT_A_VOTER,
                self.node_id,
                roster.voters.keys().collect::<Vec<_>>()
            ));
        }
        super::membership::check_change(change, &roster.known)?;
        let deadline =
            Instant::now() + Duration::from_millis(super::membership::MEMBERS_CHANGE_TIMEOUT_MS);
        tracing::warn!("membership: {change}, asked of node {}", self.node_id);
        let mut done = Vec::new();
        for (id, g) in &self.groups {
            let roster = self.roster.clone();
            let peer_of = move |n: NodeId| roster.get().known.get(&n).map(|m| m.peer);
            let r = super::membership::change_group_anywhere(
                &g.ctx.raft,
                *id,
                change,
                peer_of,
                &self.secret,
                deadline,
            )
            .await;
            match r {
                Ok(what) => done.push(format!("group {id}: {what}")),
                Err(e) => {
                    done.push(format!("group {id}: {e}"));
                    tracing::warn!("membership: {change} unfinished: {}", done.join("; "));
                    return Err(format!("{change} unfinished: {}", done.join("; ")));
                }
            }
        }
        tracing::warn!("membership: {change} done: {}", done.join("; "));
        Ok(done.join("; "))
    }

    fn group(&self, group: u32) -> S3Result<&GroupHandle> {
        self.groups
            .get(&group)
            .ok_or_else(|| S3Error::internal(format!("no Raft group {group} on this node")))
    }

    /// Applies `cmd` through group `group`'s log once `sync_dirs` are durable here; answers
    /// once it is committed by a quorum and applied on this node.
    pub async fn submit(
        &self,
        group: u32,
        cmd: MetaCmd,
        sync_dirs: Vec<PathBuf>,
    ) -> S3Result<MetaReply> {
        let g = self.group(group)?;
        let (reply, rx) = oneshot::channel();
        let pending = Pending {
            cmd,
            sync_dirs,
            reply,
        };
        g.writes
            .send(pending)
            .await
            .map_err(|_| S3Error::internal("the cluster batcher stopped"))?;
        rx.await
            .map_err(|_| S3Error::internal("the cluster batcher dropped a write"))?
    }

    /// Returns once this node's replica of group `group` reflects every write completed
    /// anywhere before the call (a linearisable read may follow).
    pub async fn read_barrier(&self, group: u32) -> S3Result<()> {
        let g = self.group(group)?;
        let (reply, rx) = oneshot::channel();
        g.reads
            .send(reply)
            .await
            .map_err(|_| S3Error::internal("the cluster reader stopped"))?;
        rx.await
            .map_err(|_| S3Error::internal("the cluster reader dropped a read"))?
    }

    /// Bytes `[offset, offset + len)` of object data file `file_id` (at most
    /// `network::DATA_READ_BYTES_MAX`), from this node's data directory or else from the
    /// first other member that holds the file, and, given `crc32c`, the first copy whose
    /// bytes match it (a corrupt copy is skipped): exactly `len` bytes, or an error when no
    /// reachable node holds them intact. Callable from any executor (runs on the cluster's
    /// runtime).
    pub async fn read_data(
        &self,
        file_id: u128,
        offset: u64,
        len: u32,
        crc32c: Option<u32>,
    ) -> S3Result<Vec<u8>> {
        let data = Arc::clone(&self.data);
        let task = self
            .handle
            .spawn(async move { data.read(file_id, offset, len, crc32c).await });
        let bytes = task
            .await
            .map_err(|e| S3Error::internal(format!("data read task: {e}")))??;
        if bytes.len() != len as usize {
            return Err(S3Error::internal(format!(
                "data file {file_id:032x}: {} bytes at {offset}, {len} expected",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// Copies this node's new data file `file_id` of `len` bytes to other nodes; returns once
    /// a write quorum of nodes holds it (`cluster::replica`).
    pub async fn replicate(&self, file_id: u128, len: u64) -> S3Result<()> {
        let writer = Arc::clone(&self.writer);
        self.handle
            .spawn(writer.replicate(file_id, len))
            .await
            .map_err(|e| S3Error::internal(format!("data copy task: {e}")))?
    }

    /// Lets repair passes delete local data files no record names once they are older than
    /// `age` (`repair::ORPHAN_AGE_MIN_S` in the server).
    pub fn sweep_orphans_with(&self, sweep: super::repair::DataSweep, age: Duration) {
        if let Ok(mut s) = self.sweep.lock() {
            *s = Some((sweep, age));
        }
    }

    /// One repair pass (`cluster::repair`): restores the data files this node should hold
    /// and does not, group by group after a read barrier, moves away the copies its place
    /// no longer includes, and (when every group was read) deletes old unreferenced files.
    pub async fn repair_pass(&self) -> super::repair::RepairStats {
        let started = Instant::now();
        let mut stats = super::repair::RepairStats {
            voters: self.roster.get().voters.keys().copied().collect(),
            ..Default::default()
        };
        let Some(files) = self.data.data_files.clone() else {
            return stats;
        };
        let started_at = std::time::SystemTime::now();
        let mut referenced = std::collections::HashSet::new();
        for (group, db) in &self.shards {
            if self.read_barrier(*group).await.is_err() {
                stats.groups_skipped += 1;
                continue;
            }
            let refs = db
                .begin_read()
                .map_err(|e| S3Error::internal(format!("repair read: {e}")))
                .and_then(|txn| crate::meta::tables::referenced_data(&txn));
            let refs = match refs {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("repair: group {group} not read: {e}");
                    stats.groups_skipped += 1;
                    continue;
                }
            };
            referenced.extend(refs.iter().map(|f| f.file_id));
            let mine = |id| self.writer.place(id).contains(&self.node_id);
            let (others, unrestored) =
                super::repair::restore_missing(refs, mine, &files, &self.data, &mut stats).await;
            stats.failed += self.still_referenced(*group, db, &unrestored).await;
            super::repair::trim_moved(others, &files, &self.writer, &mut stats).await;
        }
        let sweep = self.sweep.lock().ok().and_then(|s| s.clone());
        if let (Some((sweep, age)), 0) = (sweep, stats.groups_skipped) {
            let cutoff = started_at.checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
            let swept = tokio::task::spawn_blocking(move || sweep(&referenced, cutoff)).await;
            stats.orphans_removed = swept.unwrap_or(0) as u64;
        }
        stats.duration_ms = started.elapsed().as_millis() as u64;
        stats
    }

    /// How many of `ids` a record of `group` still names, after a fresh read barrier: a
    /// file the pass could not restore but that was freed meanwhile is no missing copy. When
    /// the group cannot be read again, every one of them counts.
    pub(super) async fn still_referenced(
        &self,
        group: u32,
        db: &redb::Database,
        ids: &[u128],
    ) -> u64 {
        if ids.is_empty() {
            return 0;
        }
        let refs = match self.read_barrier(group).await {
            Ok(()) => db
                .begin_read()
                .map_err(|e| S3Error::internal(format!("repair read: {e}")))
                .and_then(|txn| crate::meta::tables::referenced_data(&txn)),
            Err(e) => Err(e),
        };
        match refs {
            Ok(refs) => {
                let named: std::collections::HashSet<u128> =
                    refs.iter().map(|f| f.file_id).collect();
                ids.iter().filter(|id| named.contains(id)).count() as u64
            }
            Err(_) => ids.len() as u64,
        }
    }

    /// Runs a repair pass once every group has a reachable leader, then every `interval`,
    /// for the node's life; each pass's figures are logged and kept for `/health`.
    pub async fn run_repairs(self: Arc<Self>, interval: Duration) {
        loop {
            while !self.status().groups.iter().all(|g| g.has_reachable_leader) {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let stats = self.repair_pass().await;
            if stats.restored > 0
                || stats.failed > 0
                || stats.groups_skipped > 0
                || stats.moved_away > 0
                || stats.orphans_removed > 0
            {
                tracing::warn!(
                    "repair pass: {} data files named, {} restored ({} bytes), {} failed, \
                     {} moved away, {} orphans removed, {} groups skipped, {} ms",
                    stats.files,
                    stats.restored,
                    stats.restored_bytes,
                    stats.failed,
                    stats.moved_away,
                    stats.orphans_removed,
                    stats.groups_skipped,
                    stats.duration_ms
                );
            }
            if let Ok(mut last) = self.last_repair.lock() {
                *last = (Some(stats), last.1 + 1);
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.membership_moved.notified() => {
                    // The other groups follow within moments: one pass after them.
                    tokio::time::sleep(Duration::from_millis(MEMBERSHIP_SETTLE_MS)).await;
                }
            }
        }
    }

    /// Removes the copies other nodes hold of data files freed here (in the background,
    /// best effort).
    pub fn remove_copies(&self, ids: Vec<u128>) {
        self.writer.remove_copies(ids);
    }

    /// Group `group`'s Raft node (tests, metrics).
    pub fn raft(&self, group: u32) -> Option<&Raft<TypeConfig>> {
        self.groups.get(&group).map(|g| &g.ctx.raft)
    }

    /// Every group's id.
    pub fn group_ids(&self) -> Vec<u32> {
        self.groups.keys().copied().collect()
    }

    pub fn status(&self) -> ClusterStatus {
        let roster = self.roster.get();
        let (last_repair, repair_passes) = self
            .last_repair
            .lock()
            .map_or((None, 0), |l| (l.0.clone(), l.1));
        let groups = self
            .groups
            .values()
            .map(|g| {
                let m = g.ctx.raft.metrics().borrow().clone();
                let reachable = match (m.state, m.current_leader) {
                    (ServerState::Leader, Some(l)) if l == self.node_id => {
                        // A lone member is its own quorum.
                        roster.voters.len() == 1
                            || m.millis_since_quorum_ack
                                .is_some_and(|ms| ms <= LEADER_QUORUM_ACK_MAX_MS)
                    }
                    (ServerState::Follower | ServerState::Learner, Some(l)) => {
                        l != self.node_id && m.running_state.is_ok()
                    }
                    _ => false,
                };
                GroupStatus {
                    group: g.ctx.id,
                    leader: m.current_leader,
                    state: format!("{:?}", m.state),
                    term: m.current_term,
                    last_applied: m.last_applied.map(|l| l.index),
                    last_log: m.last_log_index,
                    has_reachable_leader: reachable && m.running_state.is_ok(),
                    replication_lag: m.replication.as_ref().map(|r| {
                        let last = m.last_log_index.unwrap_or(0);
                        r.iter()
                            .filter(|(id, _)| **id != self.node_id)
                            .map(|(id, matched)| {
                                (*id, matched.map(|l| last.saturating_sub(l.index)))
                            })
                            .collect()
                    }),
                }
            })
            .collect();
        let describe = |(id, m): (&NodeId, &super::config::Member)| serde_json::json!({"id": id, "s3": m.s3.to_string(), "peer": m.peer.to_string()});
        let members = roster.voters.iter().map(describe).collect();
        let other_nodes = roster
            .known
            .iter()
            .filter(|(id, _)| !roster.voters.contains_key(id))
            .map(describe)
            .collect();
        ClusterStatus {
            node_id: self.node_id,
            members,
            other_nodes,
            membership_changing: roster.changing,
            groups,
            replication_factor: self.writer.copies(),
            last_repair,
            repair_passes,
            copies: self.writer.copy_stats(),
        }
    }

    /// Stops every group (tests: a node that goes away and comes back in the same process).
    pub async fn shutdown(self: Arc<Self>) -> Result<(), ClusterError> {
        let node = Arc::try_unwrap(self)
            .map_err(|_| ClusterError::new("the cluster node is still in use"))?;
        drop(node._server);
        for g in node._running {
            g.shutdown().await?;
        }
        Ok(())
    }
}

/// Longest wait for one peer's answer to a data read.
pub const DATA_READ_TIMEOUT_MS: u64 = 5_000;

/// Finds and reads object data files: here first, then each other member in id order.
pub(super) struct DataReader {
    node_id: NodeId,
    /// Every node whose address is known is asked, voters or not: a file may still be on a
    /// node just removed, or already on one being added.
    roster: RosterCell,
    secret: super::transport::Secret,
    data_files: Option<DataFiles>,
    /// This node's files kept open for the streams reading them (shared with the peer
    /// listener, which serves the other nodes' reads).
    pins: Arc<ReadPins>,
    /// One kept connection per member (taken while a read uses it; concurrent reads open
    /// their own and the last one returned is kept).
    links: Links,
}

impl DataReader {
    /// Bytes of data file `file_id`: from here when it is here, else from each other member
    /// in turn; with `crc32c`, only bytes that match it (each corrupt copy is logged and the
    /// next one tried).
    pub(super) async fn read(
        &self,
        file_id: u128,
        offset: u64,
        len: u32,
        crc32c: Option<u32>,
    ) -> S3Result<Vec<u8>> {
        let intact = |bytes: &[u8], node: NodeId| {
            let ok = crc32c.is_none_or(|want| crc32c::crc32c(bytes) == want);
            if !ok {
                tracing::error!(
                    "data file {file_id:032x} at {offset}: node {node}'s copy fails its \
                     CRC32C; trying the next copy"
                );
            }
            ok
        };
        let mut why = Vec::new();
        if let Some(files) = &self.data_files {
            match read_local_data(files, Some(&self.pins), file_id, offset, len).await {
                Ok(Some(bytes)) if intact(&bytes, self.node_id) => return Ok(bytes),
                Ok(Some(_)) => why.push(format!("node {}: corrupt copy", self.node_id)),
                Ok(None) => {}
                Err(e) => why.push(format!("node {}: {e}", self.node_id)),
            }
        }
        let timeout = Duration::from_millis(DATA_READ_TIMEOUT_MS);
        let roster = self.roster.get();
        for (id, member) in &roster.known {
            if *id == self.node_id {
                continue;
            }
            let kept = self.links.lock().ok().and_then(|mut l| l.remove(id));
            let mut client =
                kept.unwrap_or_else(|| PeerClient::new(member.peer, self.secret.clone()));
            let mut got = fetch_data(&mut client, file_id, offset, len, timeout).await;
            if matches!(got, Err(ForwardError::Unknown(_))) {
                // A read changes nothing: once more, on a fresh connection.
                got = fetch_data(&mut client, file_id, offset, len, timeout).await;
            }
            if let Ok(mut l) = self.links.lock() {
                l.insert(*id, client);
            }
            match got {
                Ok(Some(bytes)) if intact(&bytes, *id) => return Ok(bytes),
                Ok(Some(_)) => why.push(format!("node {id}: corrupt copy")),
                Ok(None) => {}
                Err(e) => why.push(format!("node {id}: {e}")),
            }
        }
        if why.is_empty() {
            // Every node answered, none holds it: freed since the record was read.
            return Err(S3Error::data_gone(format!(
                "data file {file_id:032x}: no copy on any node"
            )));
        }
        // Every copy found failed its check: retrying will not help.
        let only_corrupt = why.iter().all(|w| w.ends_with("corrupt copy"));
        let why = format!(
            "data file {file_id:032x}: no intact copy on a reachable node ({})",
            why.join("; ")
        );
        Err(if only_corrupt {
            S3Error::checksum_mismatch(why)
        } else {
            S3Error::msg(
                ErrorCode::ServiceUnavailable,
                "The object's data is stored on another node of the cluster, which is not \
                 reachable right now; please retry.",
            )
            .caused_by(why)
        })
    }
}

/// Lets go of idle read pins every half idle time while the node runs, so a freed file's
/// space comes back without waiting for another read.
async fn sweep_read_pins(pins: std::sync::Weak<ReadPins>) {
    let every = Duration::from_millis(super::read_pins::PIN_IDLE_MS / 2);
    loop {
        tokio::time::sleep(every).await;
        match pins.upgrade() {
            Some(p) => {
                p.sweep();
            }
            None => return,
        }
    }
}

/// Follows one group's membership for the node's life: each change wakes the repair loop
/// (data moves to its new place), and group 0's also updates the roster.
async fn follow_membership(
    raft: Raft<TypeConfig>,
    roster: Option<RosterCell>,
    moved: Arc<tokio::sync::Notify>,
) {
    let mut metrics = raft.metrics();
    let mut seen = None;
    loop {
        let stored = metrics.borrow_and_update().membership_config.clone();
        // Metrics change with every entry applied; the membership seldom.
        if seen.as_ref() != Some(stored.log_id()) {
            // The first look (at start) is no change.
            let first = seen.is_none();
            seen = Some(*stored.log_id());
            if let Some(cell) = &roster {
                let next = cell.get().with_membership(stored.membership());
                if cell.set(next) && !first {
                    let r = cell.get();
                    tracing::warn!(
                        "membership: voters {:?}{}",
                        r.voters.keys().collect::<Vec<_>>(),
                        if r.changing { " (changing)" } else { "" }
                    );
                }
            }
            if !first {
                moved.notify_one();
            }
        }
        if metrics.changed().await.is_err() {
            return;
        }
    }
}

/// A group's batcher: queued commands become log entries, one at a time, in queue order.
async fn run_batcher(ctx: Arc<GroupCtx>, mut rx: mpsc::Receiver<Pending>) {
    let mut carry: Option<Pending> = None;
    loop {
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut bytes = cmd_bytes(&first.cmd);
        let mut batch = vec![first];
        while batch.len() < ctx.limits.batch_cmds_max {
            let Ok(p) = rx.try_recv() else { break };
            let size = cmd_bytes(&p.cmd);
            if bytes + size > ctx.limits.batch_bytes_max {
                carry = Some(p); // starts the next entry
                break;
            }
            bytes += size;
            batch.push(p);
        }
        commit_batch(&ctx, batch).await;
    }
}

fn cmd_bytes(cmd: &MetaCmd) -> usize {
    bincode::serialized_size(cmd).map_or(usize::MAX / 4, |n| n as usize)
}

/// Makes one batch durable through the group and answers each of its commands.
async fn commit_batch(ctx: &GroupCtx, batch: Vec<Pending>) {
    let dirs: Vec<PathBuf> = batch
        .iter()
        .flat_map(|p| p.sync_dirs.iter().cloned())
        .collect();
    let (cmds, replies): (Vec<MetaCmd>, Vec<_>) =
        batch.into_iter().map(|p| (p.cmd, p.reply)).unzip();
    // The new data files' directory entries are durable before any record names them.
    let synced = if dirs.is_empty() {
        Ok(())
    } else {
        match tokio::task::spawn_blocking(move || crate::meta::shard::sync_dirs(dirs.iter())).await
        {
            Ok(r) => r.map_err(|e| S3Error::internal(format!("fsync data directory: {e}"))),
            Err(e) => Err(S3Error::internal(format!("fsync data directory: {e}"))),
        }
    };
    let outcome = match synced {
        Ok(()) => write(ctx, Batch(cmds)).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(results) if results.len() == replies.len() => {
            for (reply, r) in replies.into_iter().zip(results) {
                let _ = reply.send(r);
            }
        }
        Ok(results) => {
            let e = S3Error::internal(format!(
                "{} replies for a batch of {}",
                results.len(),
                replies.len()
            ));
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// Proposes `batch` on the leader (here or forwarded), retrying while no leader is known;
/// returns the replies once the entry is applied on this node.
async fn write(ctx: &GroupCtx, batch: Batch) -> S3Result<Vec<S3Result<MetaReply>>> {
    let deadline = Instant::now() + Duration::from_millis(ctx.limits.request_timeout_ms);
    let mut why = String::from("no leader known");
    loop {
        let leader = ctx.raft.current_leader().await;
        match leader {
            Some(l) if l == ctx.node_id => {
                match propose_until(ctx, batch.clone(), deadline).await {
                    Ok(r) => return decode(&r),
                    // Deposed around the proposal: the entry may have been appended and may
                    // still commit under the next leader, so it is not proposed again here
                    // (that could apply it twice); the client retries.
                    Err(ProposeError::NotLeader(_)) => {
                        return Err(unavailable("leadership moved while proposing"))
                    }
                    Err(ProposeError::Failed(e)) => return Err(unavailable(e)),
                }
            }
            Some(l) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let timeout = left.min(Duration::from_millis(ctx.limits.forward_timeout_ms));
                let sent = match take_link(ctx, &ctx.write_links, l) {
                    Ok(mut c) => {
                        // The write may still commit after the leader moved: its outcome
                        // is unknown either way.
                        let sent = forward_batch(&mut c, ctx.id, batch.clone(), timeout);
                        match unless_leader_moves(ctx, l, timeout, sent).await {
                            Some(r) => {
                                put_link(&ctx.write_links, l, c);
                                r
                            }
                            // Its answer may still come on this connection: not kept.
                            None => Err(ForwardError::Unknown(format!(
                                "leader {l} was replaced while the write was in flight"
                            ))),
                        }
                    }
                    Err(e) => Err(e),
                };
                match sent {
                    Ok(r) => {
                        wait_applied(ctx, r.log_index, deadline).await?;
                        return decode(&r);
                    }
                    Err(ForwardError::NotLeader(_) | ForwardError::Unreachable(_)) => {
                        why = format!("leader {l} did not take the write");
                    }
                    // It may have been applied: the client decides whether to retry.
                    Err(e @ ForwardError::Unknown(_)) => return Err(unavailable(e)),
                }
            }
            None => {}
        }
        if Instant::now() >= deadline {
            return Err(unavailable(why));
        }
        tokio::time::sleep(Duration::from_millis(ctx.limits.retry_pause_ms)).await;
    }
}

/// Proposes on this node (the leader) and waits at most until `deadline` for the commit: a
/// leader cut off from its quorum would wait forever.
async fn propose_until(
    ctx: &GroupCtx,
    batch: Batch,
    deadline: Instant,
) -> Result<BatchReply, ProposeError> {
    let left = deadline.saturating_duration_since(Instant::now());
    match tokio::time::timeout(left, propose(&ctx.raft, batch)).await {
        Ok(r) => r,
        Err(_) => Err(ProposeError::Failed(ClusterError::new(
            "not committed in time (no quorum?): outcome unknown",
        ))),
    }
}

fn decode(r: &BatchReply) -> S3Result<Vec<S3Result<MetaReply>>> {
    decode_replies(&r.reply).map_err(S3Error::internal)
}

/// The kept connection to `leader` from `links` (a new one if none is kept); the caller
/// puts it back with [`put_link`] (a failed call leaves it ready to reconnect).
fn take_link(ctx: &GroupCtx, links: &Links, leader: NodeId) -> Result<PeerClient, ForwardError> {
    let Some(member) = ctx.roster.get().known.get(&leader).copied() else {
        return Err(ForwardError::Unreachable(format!(
            "node {leader} is not a member"
        )));
    };
    let kept = links.lock().ok().and_then(|mut l| l.remove(&leader));
    Ok(kept.unwrap_or_else(|| PeerClient::new(member.peer, ctx.secret.clone())))
}

fn put_link(links: &Links, leader: NodeId, client: PeerClient) {
    if let Ok(mut l) = links.lock() {
        l.insert(leader, client);
    }
}

async fn wait_applied(ctx: &GroupCtx, index: u64, deadline: Instant) -> S3Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    ctx.raft
        .wait(Some(left.max(Duration::from_millis(1))))
        .applied_index_at_least(Some(index), "applied here")
        .await
        .map(|_| ())
        .map_err(|e| unavailable(format!("entry {index} not applied here in time: {e}")))
}

/// A group's reader: each round takes every waiting barrier, gets one read index, and
/// answers them all once this node has applied up to it.
async fn run_reader(ctx: Arc<GroupCtx>, mut rx: mpsc::Receiver<oneshot::Sender<S3Result<()>>>) {
    loop {
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut waiters = vec![first];
        while waiters.len() < ctx.limits.queue_reads_max {
            match rx.try_recv() {
                Ok(w) => waiters.push(w),
                Err(_) => break,
            }
        }
        let deadline = Instant::now() + Duration::from_millis(ctx.limits.request_timeout_ms);
        let index = read_index(&ctx, deadline).await;
        // The wait for the apply runs apart, so the next round can start meanwhile.
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let result = match index {
                Ok(i) => wait_applied(&ctx, i, deadline).await,
                Err(e) => Err(e),
            };
            for w in waiters {
                let _ = w.send(result.clone());
            }
        });
    }
}

/// Runs `request` to leader `l`, or stops waiting for it (None) once this node sees another
/// leader: a stalled leader (not dead: its socket still accepts) answers nothing, and its
/// requests would wait out their whole timeout after a new leader was elected.
async fn unless_leader_moves<T>(
    ctx: &GroupCtx,
    l: NodeId,
    timeout: Duration,
    request: impl std::future::Future<Output = T>,
) -> Option<T> {
    let waiter = ctx.raft.wait(Some(timeout));
    let moved = waiter.metrics(
        move |m| m.current_leader.is_some_and(|x| x != l),
        "the leader moved",
    );
    tokio::select! {
        r = request => Some(r),
        Ok(_) = moved => None,
    }
}

/// A read index confirmed by the leader's quorum, asked here or of the leader.
async fn read_index(ctx: &GroupCtx, deadline: Instant) -> S3Result<u64> {
    let mut why = String::from("no leader known");
    loop {
        match ctx.raft.current_leader().await {
            Some(l) if l == ctx.node_id => {
                let left = deadline.saturating_duration_since(Instant::now());
                match tokio::time::timeout(left, read_index_here(&ctx.raft)).await {
                    Ok(Ok(index)) => return Ok(index),
                    Ok(Err(e)) => why = e.to_string(),
                    Err(_) => why = "leadership not confirmed in time".into(),
                }
            }
            Some(l) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let timeout = left.min(Duration::from_millis(ctx.limits.forward_timeout_ms));
                let asked = match take_link(ctx, &ctx.read_links, l) {
                    Ok(mut c) => {
                        let asked = forward_read_index(&mut c, ctx.id, timeout);
                        match unless_leader_moves(ctx, l, timeout, asked).await {
                            Some(r) => {
                                put_link(&ctx.read_links, l, c);
                                r
                            }
                            // Its answer may still come on this connection: not kept.
                            None => Err(ForwardError::Unknown(format!("leader {l} was replaced"))),
                        }
                    }
                    Err(e) => Err(e),
                };
                match asked {
                    Ok(i) => return Ok(i),
                    // A read changes nothing: any failure may be retried.
                    Err(e) => why = e.to_string(),
                }
            }
            None => {}
        }
        if Instant::now() >= deadline {
            return Err(unavailable(why));
        }
        tokio::time::sleep(Duration::from_millis(ctx.limits.retry_pause_ms)).await;
    }
}

//! Starting a metadata group on this node: its openraft configuration, its storage and
//! state machine, its registration with the peer listener, and its formation from the static
//! membership.

use super::config::Member;
use super::network::{Groups, PeerNetwork, SNAPSHOT_CHUNK_BYTES};
use super::raft::{open_group_storage, Applier, Closed, ClusterError, NodeId, TypeConfig};
use super::roster::node_addr;
use super::transport::Secret;
use openraft::error::{InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// Longest wait for one snapshot chunk to be taken (the last one installs the snapshot).
pub const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 30_000;

/// Raft timing and log retention of a group.
#[derive(Debug, Clone, Copy)]
pub struct GroupTuning {
    /// Leader heartbeat period; elections time out after 3 to 6 of them.
    pub heartbeat_ms: u64,
    /// A snapshot is built after this many entries since the last one; the log before it
    /// is then purged.
    pub snapshot_after_entries: u64,
}

impl Default for GroupTuning {
    fn default() -> Self {
        GroupTuning {
            heartbeat_ms: 100,
            snapshot_after_entries: 10_000,
        }
    }
}

/// openraft's configuration for one group.
pub fn raft_config(tuning: GroupTuning) -> Result<Arc<Config>, ClusterError> {
    let config = Config {
        cluster_name: "bleepstore".into(),
        heartbeat_interval: tuning.heartbeat_ms,
        election_timeout_min: tuning.heartbeat_ms * 3,
        election_timeout_max: tuning.heartbeat_ms * 6,
        install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(tuning.snapshot_after_entries),
        snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES as u64,
        // Keep nothing behind a snapshot: a follower that far behind gets the snapshot.
        max_in_snapshot_log_to_keep: 0,
        ..Default::default()
    };
    Ok(Arc::new(config.validate().map_err(ClusterError::new)?))
}

/// One running group on this node.
pub struct Group {
    pub raft: Raft<TypeConfig>,
    closed: Closed,
}

impl Group {
    /// Stops the Raft node and waits until its file is closed (it may then be opened again).
    pub async fn shutdown(self) -> Result<(), ClusterError> {
        self.raft.shutdown().await.map_err(ClusterError::new)?;
        self.closed.wait().await;
        Ok(())
    }
}

/// Opens group `group`'s storage under `dir`, starts its Raft node and registers it with
/// `groups` (the peer listener's router).
pub async fn start_group<A: Applier>(
    node_id: NodeId,
    group: u32,
    dir: &Path,
    config: Arc<Config>,
    secret: Secret,
    applier: A,
    groups: &Groups,
) -> Result<Group, ClusterError> {
    let dir = dir.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || open_group_storage(&dir, group, applier));
    let (log, sm, closed) = opened.await.map_err(ClusterError::new)??;
    let network = PeerNetwork::new(group, secret);
    let raft = Raft::new(node_id, config, network, log, sm)
        .await
        .map_err(ClusterError::new)?;
    groups.insert(group, raft.clone());
    Ok(Group { raft, closed })
}

/// Forms the group from the configured membership, on the member
/// with the lowest id only (`this` names the calling node; on the others this does nothing).
/// openraft allows every member to initialize with the same membership, but with its
/// default leader ids (term, node) a later initializer then wins a second election in the
/// same term: one initializer forms the group with one election. A node whose log already
/// holds the membership (formed before, restarted) keeps it.
pub async fn form(
    raft: &Raft<TypeConfig>,
    this: NodeId,
    members: &BTreeMap<NodeId, Member>,
) -> Result<(), ClusterError> {
    if members.keys().next() != Some(&this) {
        return Ok(());
    }
    let nodes: BTreeMap<NodeId, BasicNode> = members
        .iter()
        .map(|(id, m)| (*id, BasicNode::new(node_addr(m))))
        .collect();
    match raft.initialize(nodes).await {
        Ok(()) => Ok(()),
        Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
        Err(e) => Err(ClusterError::new(e)),
    }
}

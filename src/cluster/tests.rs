//! Three in-process nodes on loopback (ports picked at run time): election, ordered apply,
//! restart from the persisted log, snapshot install, and the secret. Every wait is on a
//! condition (openraft's metrics), bounded by [`WAIT`].

use super::group::{form, raft_config, start_group, Group, GroupTuning};
use super::network::{propose, Groups, PeerNetwork};
use super::raft::mem::MemApplier;
use super::raft::{Batch, NodeId};
use super::transport::{PeerServer, PeerStats, Secret};
use crate::meta::commands::MetaCmd;
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::VoteRequest;
use openraft::{BasicNode, Config, ServerState, Vote};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const GROUP: u32 = 7;
const SECRET: &[u8] = b"the cluster test secret";
/// Longest wait for any condition; a healthy run needs a fraction of it.
const WAIT: Duration = Duration::from_secs(20);

struct Node {
    group: Group,
    applier: MemApplier,
    groups: Arc<Groups>,
    /// None while the node is cut off (restarted, not listening yet).
    server: Option<PeerServer>,
}

struct Cluster {
    dir: tempfile::TempDir,
    config: Arc<Config>,
    addrs: BTreeMap<NodeId, SocketAddr>,
    nodes: BTreeMap<NodeId, Node>,
}

impl Cluster {
    async fn start(size: u64, tuning: GroupTuning) -> Cluster {
        let mut listeners = BTreeMap::new();
        for id in 1..=size {
            listeners.insert(id, TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs = listeners
            .iter()
            .map(|(id, l)| (*id, l.local_addr().unwrap()))
            .collect();
        let mut cluster = Cluster {
            dir: tempfile::tempdir().unwrap(),
            config: raft_config(tuning).unwrap(),
            addrs,
            nodes: BTreeMap::new(),
        };
        for (id, listener) in listeners {
            cluster.run(id, MemApplier::default()).await;
            cluster.serve(id, listener);
        }
        let members: BTreeMap<NodeId, super::config::Member> = cluster
            .addrs
            .iter()
            .map(|(id, a)| (*id, super::config::Member { s3: *a, peer: *a }))
            .collect();
        for (id, node) in &cluster.nodes {
            form(&node.group.raft, *id, &members).await.unwrap();
        }
        cluster
    }

    /// Starts node `id`'s group with its directory (kept across restarts), not listening.
    async fn run(&mut self, id: NodeId, applier: MemApplier) {
        let dir = self.dir.path().join(format!("node-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let groups = Groups::new();
        let group = start_group(
            id,
            GROUP,
            &dir,
            Arc::clone(&self.config),
            Secret::new(SECRET),
            applier.clone(),
            &groups,
        )
        .await
        .unwrap();
        let node = Node {
            group,
            applier,
            groups,
            server: None,
        };
        self.nodes.insert(id, node);
    }

    /// Node `id` starts answering its peers on `listener`.
    fn serve(&mut self, id: NodeId, listener: TcpListener) {
        let node = self.nodes.get_mut(&id).unwrap();
        let handler = node.groups.handler();
        node.server = Some(PeerServer::start(listener, Secret::new(SECRET), handler).unwrap());
    }

    /// Stops node `id` (Raft and listener); its files stay.
    async fn stop(&mut self, id: NodeId) {
        let node = self.nodes.remove(&id).unwrap();
        drop(node.server);
        tokio::time::timeout(WAIT, node.group.shutdown())
            .await
            .expect("the group's file was not closed")
            .unwrap();
    }

    /// Starts node `id` again with a fresh (empty) applier, cut off from its peers: what it
    /// had applied can only come back from its own files. Then it listens again.
    async fn restart(&mut self, id: NodeId, recovered: impl FnOnce(&Node)) {
        self.run(id, MemApplier::default()).await;
        recovered(self.node(id));
        let listener = TcpListener::bind(self.addrs[&id]).await.unwrap();
        self.serve(id, listener);
    }

    fn node(&self, id: NodeId) -> &Node {
        &self.nodes[&id]
    }

    /// Waits until every running node names the same leader; returns it.
    async fn leader(&self) -> NodeId {
        let first = self.nodes.values().next().unwrap();
        let m = first
            .group
            .raft
            .wait(Some(WAIT))
            // A committed vote: a quorum granted it (a candidate's own vote is not).
            .metrics(
                |m| m.vote.committed && m.current_leader.is_some(),
                "a leader",
            )
            .await
            .unwrap();
        let leader = m.current_leader.unwrap();
        for node in self.nodes.values() {
            node.group
                .raft
                .wait(Some(WAIT))
                .metrics(|m| m.current_leader == Some(leader), "the same leader")
                .await
                .unwrap();
        }
        leader
    }

    /// Writes `count` batches of three commands through the leader, numbered from `from`;
    /// returns the log index of the last one.
    async fn write(&self, from: usize, count: usize) -> u64 {
        let leader = self.node(self.leader().await);
        let mut last = 0;
        for i in from..from + count {
            let reply = propose(&leader.group.raft, batch(i)).await.unwrap();
            assert!(reply.log_index > last, "log indexes ascend");
            assert_eq!(
                reply.reply,
                3u32.to_be_bytes(),
                "the applier's reply comes back"
            );
            last = reply.log_index;
        }
        last
    }

    /// Writes `batches` batches, waits until a follower applied them, stops it; returns
    /// (leader, follower, index of the last batch the follower holds).
    async fn stop_a_follower(&mut self, batches: usize) -> (NodeId, NodeId, u64) {
        let leader = self.leader().await;
        let follower = self.nodes.keys().copied().find(|id| *id != leader).unwrap();
        let before = self.write(0, batches).await;
        self.wait_applied(follower, before).await;
        self.stop(follower).await;
        (leader, follower, before)
    }

    async fn wait_applied(&self, id: NodeId, index: u64) {
        self.node(id)
            .group
            .raft
            .wait(Some(WAIT))
            .applied_index_at_least(Some(index), "applied")
            .await
            .unwrap();
    }
}

fn batch(i: usize) -> Batch {
    Batch(
        (0..3)
            .map(|j| MetaCmd::DeleteBucket {
                name: format!("bucket-{i}-{j}"),
            })
            .collect(),
    )
}

/// What `write(0, n)` (and on) applies, in order.
fn expected(batches: usize) -> Vec<String> {
    (0..batches)
        .flat_map(|i| batch(i).0)
        .map(|c| format!("{c:?}"))
        .collect()
}

/// Short timing for loopback, with room for a loaded 2-core machine (elections after
/// 300-600 ms of silence).
fn quick(snapshot_after_entries: u64) -> GroupTuning {
    GroupTuning {
        heartbeat_ms: 100,
        snapshot_after_entries,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_one_leader_and_apply_batches_in_the_same_order() {
    let cluster = Cluster::start(3, quick(10_000)).await;
    let leader = cluster.leader().await;
    let leaders: Vec<NodeId> = cluster
        .nodes
        .iter()
        .filter(|(_, n)| n.group.raft.metrics().borrow().state == ServerState::Leader)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(leaders, vec![leader]);

    let last = cluster.write(0, 20).await;
    for id in 1..=3 {
        cluster.wait_applied(id, last).await;
        assert_eq!(
            cluster.node(id).applier.applied(),
            expected(20),
            "node {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_recovers_from_its_log_then_catches_up() {
    let mut cluster = Cluster::start(3, quick(10_000)).await;
    let (_, follower, _) = cluster.stop_a_follower(5).await;
    let last = cluster.write(5, 10).await;
    cluster
        .restart(follower, |node| {
            // Re-applied from its own persisted log and committed index while starting (it
            // cannot hear from its peers yet).
            assert_eq!(node.applier.applied(), expected(5));
        })
        .await;
    cluster.wait_applied(follower, last).await;
    let node = cluster.node(follower);
    assert_eq!(node.applier.applied(), expected(15));
    assert_eq!(
        node.applier.installs(),
        0,
        "caught up from the log, no snapshot"
    );
    assert!(node.group.raft.metrics().borrow().snapshot.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_far_behind_gets_a_snapshot() {
    let mut cluster = Cluster::start(3, quick(8)).await;
    let (leader, follower, before) = cluster.stop_a_follower(2).await;
    let last = cluster.write(2, 30).await;
    // The leader has snapshotted and purged past what the follower holds.
    cluster
        .node(leader)
        .group
        .raft
        .wait(Some(WAIT))
        .metrics(
            |m| m.purged.map(|p| p.index) > Some(before),
            "log purged past the follower",
        )
        .await
        .unwrap();
    cluster.restart(follower, |_| {}).await;
    cluster.wait_applied(follower, last).await;
    let node = cluster.node(follower);
    assert_eq!(node.applier.applied(), expected(32));
    assert!(node.applier.installs() >= 1, "a snapshot was installed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_the_secret_moves_nothing() {
    let cluster = Cluster::start(3, quick(10_000)).await;
    let leader = cluster.leader().await;
    let target = cluster.node(leader);
    let term = target.group.raft.metrics().borrow().current_term;

    // An intruder asks the leader for its vote in a far later term, with the wrong secret.
    let mut intruder = PeerNetwork::new(GROUP, Secret::new(b"not the cluster secret"));
    let node = BasicNode::new(cluster.addrs[&leader].to_string());
    let mut link = intruder.new_client(leader, &node).await;
    let rpc = VoteRequest::new(Vote::new(term + 100, 99), None);
    let option = RPCOption::new(Duration::from_secs(5));
    assert!(link.vote(rpc, option).await.is_err());

    let stats = target.server.as_ref().unwrap().stats();
    assert!(PeerStats::read(&stats.auth_refused) >= 1);
    let m = target.group.raft.metrics().borrow().clone();
    assert_eq!(m.current_term, term, "the term did not move");
    assert_eq!(m.state, ServerState::Leader);
}

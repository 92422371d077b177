//! Three in-process nodes with real redb shard databases (two groups each): metadata
//! commands submitted on any node replicate through Raft, every replica answers the same
//! reads after a read barrier, a restarted node catches up from the log, a lagging one from a
//! snapshot. Every wait is on a condition, bounded by [`WAIT`].

use super::config::{ClusterSpec, Member};
use super::group::GroupTuning;
use super::node::{ClusterNode, Limits};
use super::raft::{Applier, NodeId};
use super::shard::ShardApplier;
use super::transport::Secret;
use crate::error::ErrorCode;
use crate::meta::commands::{MetaCmd, WriteCond};
use crate::meta::tables;
use crate::meta::types::{BucketMeta, DataLoc, ObjectMeta};
use redb::Database;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const SECRET: &[u8] = b"the cluster test secret";
const WAIT: Duration = Duration::from_secs(20);
const GROUPS: [u32; 2] = [0, 1];

struct Cluster {
    dir: tempfile::TempDir,
    tuning: GroupTuning,
    limits: Limits,
    spec: BTreeMap<NodeId, Member>,
    nodes: BTreeMap<NodeId, Arc<ClusterNode>>,
    dbs: BTreeMap<NodeId, Vec<(u32, Arc<Database>)>>,
}

impl Cluster {
    async fn start(tuning: GroupTuning) -> Cluster {
        Cluster::start_with(tuning, Limits::default()).await
    }

    async fn start_with(tuning: GroupTuning, limits: Limits) -> Cluster {
        let mut listeners = BTreeMap::new();
        for id in 1..=3u64 {
            listeners.insert(id, TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let spec = listeners
            .iter()
            .map(|(id, l)| {
                let peer = l.local_addr().unwrap();
                (*id, Member { s3: peer, peer })
            })
            .collect();
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            tuning,
            limits,
            spec,
            nodes: BTreeMap::new(),
            dbs: BTreeMap::new(),
        };
        for (id, l) in listeners {
            c.run(id, l).await;
        }
        c.ready().await;
        c
    }

    fn db_path(&self, id: NodeId, group: u32) -> PathBuf {
        self.dir
            .path()
            .join(format!("node-{id}/shard-{group}.redb"))
    }

    async fn run(&mut self, id: NodeId, listener: TcpListener) {
        let node_dir = self.dir.path().join(format!("node-{id}"));
        std::fs::create_dir_all(&node_dir).unwrap();
        let mut shards = Vec::new();
        for g in GROUPS {
            let db = open_db(self.db_path(id, g)).await;
            tables::init(&db).unwrap();
            shards.push((g, Arc::new(db)));
        }
        let spec = ClusterSpec {
            node_id: id,
            secret: Secret::new(SECRET),
            replication_factor: 3,
            nodes: self.spec.clone(),
        };
        let node = ClusterNode::start_on(
            listener,
            &spec,
            &node_dir.join("raft"),
            Some(data_files(node_dir.join("data"))),
            shards.clone(),
            self.tuning,
            self.limits,
        )
        .await
        .unwrap();
        self.nodes.insert(id, node);
        self.dbs.insert(id, shards);
    }

    /// Stops node `id`; its files stay.
    async fn stop(&mut self, id: NodeId) {
        self.dbs.remove(&id);
        let node = self.nodes.remove(&id).unwrap();
        tokio::time::timeout(WAIT, node.shutdown())
            .await
            .expect("node stopped in time")
            .unwrap();
    }

    async fn restart(&mut self, id: NodeId) {
        let listener = TcpListener::bind(self.spec[&id].peer).await.unwrap();
        self.run(id, listener).await;
    }

    /// Waits until every running node has a reachable leader in every group.
    async fn ready(&self) {
        let until = tokio::time::Instant::now() + WAIT;
        loop {
            let ready = self
                .nodes
                .values()
                .all(|n| n.status().groups.iter().all(|g| g.has_reachable_leader));
            if ready {
                return;
            }
            assert!(tokio::time::Instant::now() < until, "no leaders in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn node(&self, id: NodeId) -> &ClusterNode {
        &self.nodes[&id]
    }

    fn db(&self, id: NodeId, group: u32) -> Arc<Database> {
        let dbs = &self.dbs[&id];
        Arc::clone(&dbs.iter().find(|(g, _)| *g == group).unwrap().1)
    }

    /// The leader of `group` as node 1 sees it.
    fn leader(&self, group: u32) -> NodeId {
        let status = self.nodes.values().next().unwrap().status();
        let g = status.groups.iter().find(|g| g.group == group).unwrap();
        g.leader.unwrap()
    }

    /// Everything in group `group`'s shard on node `id` (every table), after a read barrier.
    async fn contents(&self, id: NodeId, group: u32) -> Vec<u8> {
        self.node(id).read_barrier(group).await.unwrap();
        ShardApplier::new(self.db(id, group)).snapshot().unwrap()
    }
}

/// Opens (or creates) a shard database, waiting while a stopped node's state machine still
/// holds it (openraft drops it just after the shutdown).
async fn open_db(path: PathBuf) -> Database {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        match Database::create(&path) {
            Ok(db) => return db,
            Err(e) => assert!(tokio::time::Instant::now() < until, "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A flat data directory for the tests (the server uses the local store's layout).
fn data_files(dir: PathBuf) -> super::network::DataFiles {
    Arc::new(move |id| dir.join(format!("{id:032x}")))
}

fn create_bucket(name: &str) -> MetaCmd {
    MetaCmd::CreateBucket {
        meta: BucketMeta::test_new(name, "owner"),
        configs: vec![],
    }
}

fn put_inline(bucket: &str, key: &str, data: &[u8]) -> MetaCmd {
    let meta = ObjectMeta {
        size: data.len() as u64,
        etag: format!("etag-{key}"),
        data: DataLoc::Inline(data.to_vec()),
        ..ObjectMeta::test_empty("owner")
    };
    MetaCmd::PutObject {
        bucket: bucket.into(),
        key: key.into(),
        meta,
        cond: WriteCond::default(),
    }
}

fn object(db: &Database, bucket: &str, key: &str) -> Option<ObjectMeta> {
    let txn = db.begin_read().unwrap();
    tables::get_object(&txn, bucket, key).unwrap()
}

fn quick(snapshot_after_entries: u64) -> GroupTuning {
    GroupTuning {
        heartbeat_ms: 100,
        snapshot_after_entries,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_any_node_are_read_the_same_on_every_node() {
    let c = Cluster::start(quick(10_000)).await;
    // Group 0 from a node that is not its leader (forwarded), group 1 from its leader.
    let follower = (1..=3).find(|id| *id != c.leader(0)).unwrap();
    c.node(follower)
        .submit(0, create_bucket("b0"), vec![])
        .await
        .unwrap();
    let leader1 = c.leader(1);
    c.node(leader1)
        .submit(1, create_bucket("b1"), vec![])
        .await
        .unwrap();

    // A command's own error crosses the wire typed.
    for id in 1..=3 {
        let again = c.node(id).submit(0, create_bucket("b0"), vec![]).await;
        let e = again.expect_err("the bucket exists");
        assert_eq!(e.code, ErrorCode::BucketAlreadyOwnedByYou, "node {id}");
        assert!(e.extra.iter().any(|(n, v)| *n == "BucketName" && v == "b0"));
    }

    let node2 = c.node(2);
    node2
        .submit(0, put_inline("b0", "k", b"hello"), vec![])
        .await
        .unwrap();
    // Read on node 3 right after the write completed on node 2: the barrier makes it seen.
    c.node(3).read_barrier(0).await.unwrap();
    let got = object(&c.db(3, 0), "b0", "k").expect("replicated to node 3");
    assert!(matches!(&got.data, DataLoc::Inline(d) if d == b"hello"));

    for g in GROUPS {
        let first = c.contents(1, g).await;
        assert_eq!(c.contents(2, g).await, first, "group {g}: node 2 = node 1");
        assert_eq!(c.contents(3, g).await, first, "group {g}: node 3 = node 1");
    }

    let del = MetaCmd::DeleteObjects {
        bucket: "b0".into(),
        keys: vec!["k".into()],
    };
    c.node(3).submit(0, del, vec![]).await.unwrap();
    for id in 1..=3 {
        c.node(id).read_barrier(0).await.unwrap();
        assert!(object(&c.db(id, 0), "b0", "k").is_none(), "node {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up_from_the_log() {
    let mut c = Cluster::start(quick(10_000)).await;
    c.node(1)
        .submit(0, create_bucket("b"), vec![])
        .await
        .unwrap();
    let down = (1..=3).find(|id| *id != c.leader(0)).unwrap();
    let up = (1..=3).find(|id| *id != down).unwrap();
    c.contents(down, 0).await;
    c.stop(down).await;
    for i in 0..10 {
        let key = format!("k{i}");
        c.node(up)
            .submit(0, put_inline("b", &key, b"x"), vec![])
            .await
            .unwrap();
    }
    // Nothing of the writes made while it was down. (The file closes once openraft has
    // dropped the state machine, just after the shutdown.)
    let db = open_db(c.db_path(down, 0)).await;
    assert!(object(&db, "b", "k0").is_none());
    drop(db);
    c.restart(down).await;
    c.ready().await;
    assert_eq!(c.contents(down, 0).await, c.contents(up, 0).await);
    assert!(object(&c.db(down, 0), "b", "k9").is_some());
    let m = c.node(down).raft(0).unwrap().metrics().borrow().clone();
    assert!(m.snapshot.is_none(), "caught up from the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_gets_the_shard_as_a_snapshot() {
    let mut c = Cluster::start(quick(5)).await;
    c.node(1)
        .submit(0, create_bucket("b"), vec![])
        .await
        .unwrap();
    let leader = c.leader(0);
    let down = (1..=3).find(|id| *id != leader).unwrap();
    c.contents(down, 0).await;
    c.stop(down).await;
    let before = c
        .node(leader)
        .raft(0)
        .unwrap()
        .metrics()
        .borrow()
        .last_log_index;
    for i in 0..20 {
        let key = format!("k{i}");
        c.node(leader)
            .submit(0, put_inline("b", &key, b"y"), vec![])
            .await
            .unwrap();
    }
    // The leader purged its log past what the stopped follower holds.
    c.node(leader)
        .raft(0)
        .unwrap()
        .wait(Some(WAIT))
        .metrics(|m| m.purged.map(|p| p.index) > before, "purged")
        .await
        .unwrap();
    c.restart(down).await;
    c.ready().await;
    assert_eq!(c.contents(down, 0).await, c.contents(leader, 0).await);
    assert!(object(&c.db(down, 0), "b", "k19").is_some());
    let m = c.node(down).raft(0).unwrap().metrics().borrow().clone();
    assert!(m.snapshot.is_some(), "a snapshot was installed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_quorum_writes_and_reads_answer_503() {
    let limits = Limits {
        request_timeout_ms: 1_500,
        forward_timeout_ms: 1_000,
        ..Limits::default()
    };
    let mut c = Cluster::start_with(quick(10_000), limits).await;
    c.node(1)
        .submit(0, create_bucket("b"), vec![])
        .await
        .unwrap();
    // Keep the leader of group 0 and stop both others: it can commit nothing any more.
    let leader = c.leader(0);
    for id in (1..=3).filter(|id| *id != leader).collect::<Vec<_>>() {
        c.stop(id).await;
    }
    let started = std::time::Instant::now();
    let e = c
        .node(leader)
        .submit(0, put_inline("b", "k", b"z"), vec![])
        .await
        .expect_err("no quorum, no commit");
    assert_eq!(e.code, ErrorCode::ServiceUnavailable, "{e}");
    let e = c.node(leader).read_barrier(0).await.expect_err("no quorum");
    assert_eq!(e.code, ErrorCode::ServiceUnavailable, "{e}");
    // Bounded by the request timeout (with room for a loaded machine), not a hang.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !c.node(leader).status().groups[0].has_reachable_leader || {
            // The leader may still count its last quorum ack as recent: it expires.
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            !c.node(leader).status().groups[0].has_reachable_leader
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_are_read_from_the_node_that_holds_them() {
    let c = Cluster::start(quick(10_000)).await;
    let bytes: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let id = 0x42u128;
    let path = c.dir.path().join(format!("node-2/data/{id:032x}"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, &bytes).unwrap();
    // From another node, from the holder itself, at an offset.
    assert_eq!(c.node(1).read_data(id, 0, 3000).await.unwrap(), bytes);
    assert_eq!(c.node(2).read_data(id, 0, 3000).await.unwrap(), bytes);
    assert_eq!(
        c.node(3).read_data(id, 1000, 500).await.unwrap(),
        &bytes[1000..1500]
    );
    // Past the end of the file: short, an error rather than wrong bytes.
    assert!(c.node(1).read_data(id, 2900, 200).await.is_err());
    // A file no node holds: 503.
    let e = c.node(1).read_data(0x43, 0, 10).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServiceUnavailable, "{e}");
    // Over the per-read limit: refused by the holder, never read.
    let too_big = super::network::DATA_READ_BYTES_MAX + 1;
    assert!(c.node(1).read_data(id, 0, too_big).await.is_err());
}

//! Three in-process nodes with real redb shard databases (two groups each): metadata
//! commands submitted on any node replicate through Raft, every replica answers the same
//! reads after a read barrier, a restarted node catches up from the log, a lagging one from a
//! snapshot. Every wait is on a condition, bounded by [`WAIT`].

use super::config::{ClusterSpec, Member};
use super::group::GroupTuning;
use super::network::MemberChange;
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
    /// Nodes started with `cluster.join` (added at run time).
    joining: std::collections::BTreeSet<NodeId>,
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
            joining: Default::default(),
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
            join: self.joining.contains(&id),
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
    assert_eq!(c.node(1).read_data(id, 0, 3000, None).await.unwrap(), bytes);
    assert_eq!(c.node(2).read_data(id, 0, 3000, None).await.unwrap(), bytes);
    assert_eq!(
        c.node(3).read_data(id, 1000, 500, None).await.unwrap(),
        &bytes[1000..1500]
    );
    // Past the end of the file: short, an error rather than wrong bytes.
    assert!(c.node(1).read_data(id, 2900, 200, None).await.is_err());
    // A file no node holds: 503, marked gone (a reader reads the record again).
    let e = c.node(1).read_data(0x43, 0, 10, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServiceUnavailable, "{e}");
    assert_eq!(e.fault(), Some(crate::error::Fault::Gone), "{e}");
    // Over the per-read limit: refused by the holder, never read.
    let too_big = super::network::DATA_READ_BYTES_MAX + 1;
    assert!(c.node(1).read_data(id, 0, too_big, None).await.is_err());

    // Node 1 holds a corrupt copy: with the chunk's CRC32C the read skips it and takes node
    // 2's intact one; without it, the local bytes are what there is.
    let crc = Some(crc32c::crc32c(&bytes));
    let mut bad = bytes.clone();
    bad[7] ^= 0x40;
    write_data_file(&c, 1, id, &bad);
    assert_eq!(c.node(1).read_data(id, 0, 3000, crc).await.unwrap(), bytes);
    assert_eq!(c.node(1).read_data(id, 0, 3000, None).await.unwrap(), bad);
    // Every copy corrupt: an integrity failure, not a retryable 503.
    std::fs::write(&path, &bad).unwrap();
    let e = c.node(3).read_data(id, 0, 3000, crc).await.unwrap_err();
    assert_eq!(e.fault(), Some(crate::error::Fault::Checksum), "{e}");
}

/// Polls until `path` holds `bytes`, within [`WAIT`].
async fn wait_for_file(path: &std::path::Path, bytes: &[u8]) {
    let until = tokio::time::Instant::now() + WAIT;
    loop {
        if std::fs::read(path).ok().as_deref() == Some(bytes) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "{} never held the copy",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn write_data_file(c: &Cluster, node: NodeId, id: u128, bytes: &[u8]) {
    let path = c.dir.path().join(format!("node-{node}/data/{id:032x}"));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
}

/// A stream reading a file from another node reads on to its end after the file is freed
/// there (its holder keeps the file open for it); a file nobody was reading is gone at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_freed_while_another_node_streams_it_is_read_to_its_end() {
    let c = Cluster::start(quick(10_000)).await;
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let (read, unread) = (0x51u128, 0x52u128);
    write_data_file(&c, 2, read, &bytes);
    write_data_file(&c, 2, unread, &bytes);
    // Node 1 has read the first chunk of one of them from node 2.
    assert_eq!(
        c.node(1).read_data(read, 0, 2000, None).await.unwrap(),
        &bytes[..2000]
    );
    for id in [read, unread] {
        std::fs::remove_file(c.dir.path().join(format!("node-2/data/{id:032x}"))).unwrap();
    }
    // Its next chunks still come from node 2; not so for the file nobody was reading.
    assert_eq!(
        c.node(1).read_data(read, 2000, 3000, None).await.unwrap(),
        &bytes[2000..]
    );
    let e = c.node(1).read_data(unread, 0, 10, None).await.unwrap_err();
    assert_eq!(e.fault(), Some(crate::error::Fault::Gone), "{e}");
    // A copy to another node never sends a freed file.
    let e = c
        .node(2)
        .replicate(read, bytes.len() as u64)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ServiceUnavailable, "{e}");
    assert!(held_by(&c, 3, read).is_none());
}

fn held_by(c: &Cluster, node: NodeId, id: u128) -> Option<Vec<u8>> {
    std::fs::read(c.dir.path().join(format!("node-{node}/data/{id:032x}"))).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_are_copied_to_a_write_quorum_then_to_every_target() {
    let c = Cluster::start(quick(10_000)).await;
    // Two and a half pieces, so the copy takes three messages.
    let len = 5 * 1024 * 1024 / 2 + 17;
    let bytes: Vec<u8> = (0..len as u32)
        .map(|i| (i.wrapping_mul(7) % 253) as u8)
        .collect();
    let id = 0x77u128;
    write_data_file(&c, 2, id, &bytes);
    c.node(2).replicate(id, len as u64).await.unwrap();
    // Answered at the quorum: the file and at least one peer's copy, whole.
    let copies = [1, 3]
        .iter()
        .filter(|n| held_by(&c, **n, id).as_deref() == Some(&bytes[..]))
        .count();
    assert!(copies >= 1, "no peer held the copy when replicate returned");
    // Then the third copy: replication_factor 3 on three nodes is every node.
    for n in [1, 3] {
        wait_for_file(
            &c.dir.path().join(format!("node-{n}/data/{id:032x}")),
            &bytes,
        )
        .await;
        let incoming = c
            .dir
            .path()
            .join(format!("node-{n}/data/{id:032x}.incoming"));
        assert!(!incoming.exists(), "{} left behind", incoming.display());
    }
    // An empty file is one sealing piece.
    write_data_file(&c, 1, 0x78, b"");
    c.node(1).replicate(0x78, 0).await.unwrap();
    wait_for_file(
        &c.dir.path().join(format!("node-3/data/{:032x}", 0x78)),
        b"",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_needs_a_quorum_of_nodes_one_down_is_fine_two_is_503() {
    let mut c = Cluster::start(quick(10_000)).await;
    let bytes = vec![0xa5u8; 300_000];
    c.stop(3).await;
    write_data_file(&c, 1, 0x91, &bytes);
    c.node(1).replicate(0x91, bytes.len() as u64).await.unwrap();
    assert_eq!(held_by(&c, 2, 0x91).as_deref(), Some(&bytes[..]));
    c.stop(2).await;
    write_data_file(&c, 1, 0x92, &bytes);
    let e = c
        .node(1)
        .replicate(0x92, bytes.len() as u64)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ServiceUnavailable, "{e}");
    // A file this node does not have is no copy at all.
    c.restart(2).await;
    let e = c.node(1).replicate(0x93, 10).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServiceUnavailable, "{e}");
    assert!(held_by(&c, 2, 0x93).is_none());
    // With node 3 down, a file nodes 1 and 2 lack may be on node 3: unreachable, not gone.
    let e = c.node(1).read_data(0x94, 0, 10, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::ServiceUnavailable, "{e}");
    assert_eq!(e.fault(), None, "{e}");
}

#[tokio::test]
async fn a_copy_piece_that_fails_its_crc_or_comes_out_of_order_is_refused() {
    use super::network::{write_local_data, DataWrite};
    let dir = tempfile::tempdir().unwrap();
    let files = data_files(dir.path().to_path_buf());
    let piece = |offset: u64, bytes: &[u8], seal: Option<u64>| DataWrite {
        file_id: 5,
        offset,
        bytes: bytes.to_vec(),
        crc32c: crc32c::crc32c(bytes),
        seal,
    };
    let path = files(5);
    // Bad CRC32C: refused, nothing written.
    let mut bad = piece(0, b"hello", Some(5));
    bad.crc32c ^= 1;
    assert!(write_local_data(&files, bad).await.is_err());
    assert!(!path.exists() && !super::network::incoming_path(&path).exists());
    // A middle piece without its start: refused.
    assert!(write_local_data(&files, piece(5, b"world", Some(10)))
        .await
        .is_err());
    assert!(!path.exists());
    // A seal whose length disagrees with the bytes received: refused, never named.
    write_local_data(&files, piece(0, b"hello", None))
        .await
        .unwrap();
    assert!(!path.exists(), "named before its last piece");
    assert!(write_local_data(&files, piece(5, b"world", Some(11)))
        .await
        .is_err());
    assert!(!path.exists());
    // In order and whole: named, and the unfinished file is gone.
    write_local_data(&files, piece(0, b"hello", None))
        .await
        .unwrap();
    write_local_data(&files, piece(5, b"world", Some(10)))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"helloworld");
    assert!(!super::network::incoming_path(&path).exists());
    // What a crash leaves is swept.
    write_local_data(&files, piece(0, b"partial", None))
        .await
        .unwrap();
    let objects = tempfile::tempdir().unwrap();
    let sub = objects.path().join("05");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("ab.incoming"), b"x").unwrap();
    std::fs::write(sub.join("ab"), b"kept").unwrap();
    assert_eq!(super::network::sweep_incoming(objects.path()).unwrap(), 1);
    assert!(sub.join("ab").exists() && !sub.join("ab.incoming").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freed_files_are_removed_from_the_other_nodes() {
    let c = Cluster::start(quick(10_000)).await;
    let bytes = vec![7u8; 70_000];
    for id in [0xb1u128, 0xb2] {
        write_data_file(&c, 3, id, &bytes);
        c.node(3).replicate(id, bytes.len() as u64).await.unwrap();
        for n in [1, 2] {
            wait_for_file(
                &c.dir.path().join(format!("node-{n}/data/{id:032x}")),
                &bytes,
            )
            .await;
        }
    }
    // Freed on node 1, which never proposed them: gone from nodes 2 and 3.
    c.node(1).remove_copies(vec![0xb1, 0x1234]);
    let until = tokio::time::Instant::now() + WAIT;
    while held_by(&c, 2, 0xb1).is_some() || held_by(&c, 3, 0xb1).is_some() {
        assert!(
            tokio::time::Instant::now() < until,
            "copies not removed in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Node 1's own file is its store's to free; the other file is untouched everywhere.
    assert!(held_by(&c, 1, 0xb1).is_some());
    for n in [1, 2, 3] {
        assert_eq!(
            held_by(&c, n, 0xb2).as_deref(),
            Some(&bytes[..]),
            "node {n}"
        );
    }
}

fn put_files(bucket: &str, key: &str, id: u128, data: &[u8]) -> MetaCmd {
    let chunk_crc32c = data.chunks(1024 * 1024).map(crc32c::crc32c).collect();
    let meta = ObjectMeta {
        size: data.len() as u64,
        etag: format!("etag-{key}"),
        data: DataLoc::Files(vec![crate::meta::types::Segment {
            file_id: id,
            len: data.len() as u64,
            part_etag: None,
            chunk_crc32c,
        }]),
        ..ObjectMeta::test_empty("owner")
    };
    MetaCmd::PutObject {
        bucket: bucket.into(),
        key: key.into(),
        meta,
        cond: WriteCond::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_pass_restores_the_files_a_node_should_hold() {
    let c = Cluster::start(quick(10_000)).await;
    c.node(1)
        .submit(0, create_bucket("r"), vec![])
        .await
        .unwrap();
    // Two pieces and a bit; held by nodes 1 and 2 only (node 3 was "down" when written).
    let good: Vec<u8> = (0..(2 * 1024 * 1024 + 99) as u32)
        .map(|i| (i % 241) as u8)
        .collect();
    write_data_file(&c, 1, 0xc1, &good);
    write_data_file(&c, 2, 0xc1, &good);
    c.node(1)
        .submit(0, put_files("r", "good", 0xc1, &good), vec![])
        .await
        .unwrap();
    // A file whose only copy is corrupt: never restored as wrong bytes.
    let mut bad = vec![3u8; 5000];
    let cmd = put_files("r", "bad", 0xc2, &bad);
    bad[10] ^= 0xff;
    write_data_file(&c, 1, 0xc2, &bad);
    c.node(1).submit(0, cmd, vec![]).await.unwrap();

    let stats = c.node(3).repair_pass().await;
    assert_eq!(stats.files, 2, "{stats:?}");
    assert_eq!((stats.restored, stats.failed), (1, 1), "{stats:?}");
    assert_eq!(stats.restored_bytes, good.len() as u64);
    assert_eq!(held_by(&c, 3, 0xc1).as_deref(), Some(&good[..]));
    assert!(held_by(&c, 3, 0xc2).is_none());
    // A second pass: nothing left to restore, the corrupt-only file fails again.
    let again = c.node(3).repair_pass().await;
    assert_eq!((again.restored, again.failed), (0, 1), "{again:?}");
}

/// Group `g`'s voters as node `id` sees them.
fn voters(c: &Cluster, id: NodeId, g: u32) -> Vec<NodeId> {
    let metrics = c.node(id).raft(g).unwrap().metrics();
    let m = metrics.borrow();
    m.membership_config.membership().voter_ids().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joins_every_group_at_run_time_and_a_removed_one_leaves() {
    let mut c = Cluster::start(quick(10_000)).await;
    c.node(1)
        .submit(0, create_bucket("m"), vec![])
        .await
        .unwrap();
    c.node(2)
        .submit(0, put_inline("m", "before", b"old"), vec![])
        .await
        .unwrap();
    // Node 4 starts in join mode: it forms nothing and is no voter yet.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let peer = listener.local_addr().unwrap();
    // Its S3 address is only shown, never dialled here.
    let s3: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    c.spec.insert(4, Member { s3, peer });
    c.joining.insert(4);
    c.run(4, listener).await;
    let refused = c
        .node(4)
        .change_members(MemberChange::Remove { id: 1 })
        .await
        .unwrap_err();
    assert!(
        refused.contains(super::membership::NOT_A_VOTER),
        "{refused}"
    );
    // A bad add is refused before any group sees it.
    let clash = MemberChange::Add {
        id: 5,
        s3: c.spec[&2].peer,
        peer,
    };
    assert!(c.node(1).change_members(clash).await.is_err());

    let add = MemberChange::Add { id: 4, s3, peer };
    let done = c.node(3).change_members(add).await.unwrap();
    assert_eq!(done.matches("added").count(), GROUPS.len(), "{done}");
    // Asking again changes nothing.
    let again = c.node(1).change_members(add).await.unwrap();
    assert_eq!(
        again.matches("votes already").count(),
        GROUPS.len(),
        "{again}"
    );
    c.ready().await;
    for g in GROUPS {
        assert_eq!(voters(&c, 1, g), [1, 2, 3, 4], "group {g}");
    }
    // It holds what was written before it joined, and takes writes.
    assert_eq!(c.contents(4, 0).await, c.contents(1, 0).await);
    c.node(4)
        .submit(0, put_inline("m", "after", b"new"), vec![])
        .await
        .unwrap();
    let status = c.node(4).status();
    assert_eq!(status.members.len(), 4, "{status:?}");
    assert!(!status.membership_changing);

    // The leader of group 0 goes: the others carry on without it.
    let leader = c.leader(0);
    let asker = if leader == 1 { 2 } else { 1 };
    let done = c
        .node(asker)
        .change_members(MemberChange::Remove { id: leader })
        .await
        .unwrap();
    assert_eq!(done.matches("removed").count(), GROUPS.len(), "{done}");
    c.stop(leader).await;
    c.ready().await;
    let rest: Vec<NodeId> = c.nodes.keys().copied().collect();
    for g in GROUPS {
        assert_eq!(voters(&c, rest[0], g), rest, "group {g}");
    }
    c.node(rest[1])
        .submit(0, put_inline("m", "later", b"3"), vec![])
        .await
        .unwrap();
    for id in &rest {
        let db = c.db(*id, 0);
        c.node(*id).read_barrier(0).await.unwrap();
        for key in ["before", "after", "later"] {
            assert!(object(&db, "m", key).is_some(), "node {id}: {key}");
        }
    }
    let status = c.node(rest[0]).status();
    assert_eq!(status.members.len(), 3, "{status:?}");
    assert!(
        status.other_nodes.iter().any(|n| n["id"] == leader),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_pass_deletes_old_files_no_record_names() {
    let c = Cluster::start(quick(10_000)).await;
    c.node(1)
        .submit(0, create_bucket("o"), vec![])
        .await
        .unwrap();
    let kept = vec![5u8; 3000];
    for n in 1..=3 {
        write_data_file(&c, n, 0xe1, &kept);
    }
    c.node(1)
        .submit(0, put_files("o", "kept", 0xe1, &kept), vec![])
        .await
        .unwrap();
    // A copy node 3 kept of a file freed while it was down.
    write_data_file(&c, 3, 0xe2, b"orphan");
    let dir = c.dir.path().join("node-3/data");
    let sweep: super::repair::DataSweep = Arc::new(move |referenced, cutoff| {
        let mut removed = 0;
        for f in std::fs::read_dir(&dir).unwrap().flatten() {
            let id = u128::from_str_radix(f.file_name().to_str().unwrap(), 16).unwrap();
            let old = f.metadata().unwrap().modified().unwrap() < cutoff;
            if !referenced.contains(&id) && old && std::fs::remove_file(f.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    });
    // Younger than the age: kept (it may belong to a write not committed yet).
    c.node(3)
        .sweep_orphans_with(Arc::clone(&sweep), Duration::from_secs(3600));
    let young = c.node(3).repair_pass().await;
    assert_eq!(young.orphans_removed, 0, "{young:?}");
    assert!(held_by(&c, 3, 0xe2).is_some());
    c.node(3).sweep_orphans_with(sweep, Duration::ZERO);
    // Modification times may be coarse: the cutoff must pass the file's.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let old = c.node(3).repair_pass().await;
    assert_eq!(old.orphans_removed, 1, "{old:?}");
    assert!(held_by(&c, 3, 0xe2).is_none());
    assert_eq!(held_by(&c, 3, 0xe1).as_deref(), Some(&kept[..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_freed_during_a_repair_pass_does_not_count_as_missing() {
    let c = Cluster::start(quick(10_000)).await;
    c.node(1)
        .submit(0, create_bucket("f"), vec![])
        .await
        .unwrap();
    for (id, key) in [(0xf1, "k"), (0xf2, "j")] {
        let body = vec![id as u8; 100];
        write_data_file(&c, 1, id, &body);
        c.node(1)
            .submit(0, put_files("f", key, id, &body), vec![])
            .await
            .unwrap();
    }
    // A pass on node 3 could restore neither file; meanwhile "k" is overwritten, which frees
    // 0xf1. Only 0xf2 is still missing; 0xf9 was never named.
    let fresh = vec![3u8; 100];
    write_data_file(&c, 1, 0xf3, &fresh);
    c.node(1)
        .submit(0, put_files("f", "k", 0xf3, &fresh), vec![])
        .await
        .unwrap();
    let db = c.db(3, 0);
    let node = c.node(3);
    assert_eq!(node.still_referenced(0, &db, &[0xf1, 0xf2, 0xf9]).await, 1);
    assert_eq!(node.still_referenced(0, &db, &[0xf2, 0xf3]).await, 2);
    assert_eq!(node.still_referenced(0, &db, &[]).await, 0);
}

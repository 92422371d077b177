//! Copies of object data files on other nodes (`cluster.replication_factor`).
//!
//! A data file's place is the `replication_factor` members that rank first for its id by
//! rendezvous hashing (each file id is one version's or one part's bytes, so a version's
//! copies spread with its files). The node that received the bytes keeps its file and copies
//! it to the other members of the place; a write is answered once a write quorum of the place
//! (`replication_factor / 2 + 1` nodes, this one included when it is in the place) holds the
//! file durably, and the remaining copies finish in the background.
//! Each copy is sent piece by piece (1 MiB, CRC32C-checked on arrival) and made durable and
//! named by its last piece, so a half-sent copy is never a file a read could find.
//!
//! Files freed here (an object replaced or deleted, an upload aborted, a write that failed)
//! are removed on the other nodes too, in batches, best effort: a node down at that moment
//! keeps its copies until a repair pass deletes them as orphans (`cluster::repair`), which
//! also restores copies that are missing.

use super::network::{
    read_local_data, send_data, send_removals, DataFiles, DataWrite, DATA_READ_BYTES_MAX,
    REMOVE_IDS_MAX,
};
use super::raft::NodeId;
use super::roster::{Roster, RosterCell};
use super::transport::{PeerClient, Secret};
use crate::error::{ErrorCode, S3Error, S3Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest wait for one peer to write one piece.
pub const DATA_WRITE_TIMEOUT_MS: u64 = 10_000;
/// Pieces being copied at once to one peer: each holds one piece's bytes (≤ 1 MiB) twice
/// (read, encoded), so at most ~64 MiB per peer. Per peer, so a stalled peer's copies, which
/// wait out their timeouts, never hold up the copies to the others.
pub const PIECES_IN_FLIGHT_PER_PEER_MAX: usize = 32;
/// Longest a copy waits for its peer's budget before it gives up (counted as a failed copy).
const PIECE_BUDGET_WAIT_MS: u64 = 2_000;
/// Idle connections kept per peer for copies.
const LINKS_PER_PEER_MAX: usize = 8;
/// Batches of freed file ids waiting to be removed on other nodes; past it a batch is
/// dropped (logged; its copies stay as orphans) rather than slow the request that freed it.
const REMOVAL_BATCHES_QUEUED_MAX: usize = 1024;
/// Longest wait for one peer to remove one batch.
const REMOVE_TIMEOUT_MS: u64 = 10_000;

/// Where copies of this node's data files go, and how they get there.
pub struct DataWriter {
    node_id: NodeId,
    /// The membership now: files are placed over its voters.
    roster: RosterCell,
    secret: Secret,
    data_files: Option<DataFiles>,
    /// Copies of each file wanted, this node's included (capped at the voters).
    copies_wanted: usize,
    links: Mutex<BTreeMap<NodeId, Vec<PeerClient>>>,
    /// Per peer: pieces in flight (a budget is made on a peer's first copy).
    pieces: Mutex<BTreeMap<NodeId, Arc<tokio::sync::Semaphore>>>,
    removals: tokio::sync::mpsc::Sender<Vec<u128>>,
    counters: CopyCounters,
}

/// Copies sent by this node since it started (`/metrics`).
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct CopyStats {
    /// Copies a peer sealed.
    pub made: u64,
    /// Copies that failed (the peer down, stalled or refusing), foreground or background.
    pub failed: u64,
    /// Bytes of the copies made.
    pub bytes: u64,
}

#[derive(Default)]
struct CopyCounters {
    made: AtomicU64,
    failed: AtomicU64,
    bytes: AtomicU64,
}

/// The queue [`DataWriter::run_removals`] drains.
pub type Removals = tokio::sync::mpsc::Receiver<Vec<u128>>;

/// Copies a write needs before its answer, this node's included: a majority of the copies.
pub fn write_quorum(copies: usize) -> usize {
    copies / 2 + 1
}

/// A node's rank for a file: a 64-bit mix of both (splitmix64's finaliser), the same on every
/// node and every build.
fn rendezvous_score(file_id: u128, node: NodeId) -> u64 {
    let mut x = (file_id as u64) ^ ((file_id >> 64) as u64).rotate_left(32) ^ node;
    for _ in 0..2 {
        x ^= x >> 30;
        x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x ^= x >> 27;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
    }
    x
}

/// Copies a file gets in `roster`: `wanted`, at most one per voter, at least one.
pub fn copies_placed(wanted: usize, roster: &Roster) -> usize {
    wanted.clamp(1, roster.voters.len().max(1))
}

/// The place of `file_id`: the `copies` members that rank first for it, best first.
pub fn placement(
    file_id: u128,
    members: impl Iterator<Item = NodeId>,
    copies: usize,
) -> Vec<NodeId> {
    let mut ranked: Vec<(u64, NodeId)> = members
        .map(|id| (rendezvous_score(file_id, id), id))
        .collect();
    ranked.sort_unstable_by(|a, b| b.cmp(a));
    ranked.into_iter().take(copies).map(|(_, id)| id).collect()
}

impl DataWriter {
    pub fn new(
        node_id: NodeId,
        roster: RosterCell,
        secret: Secret,
        data_files: Option<DataFiles>,
        replication_factor: usize,
    ) -> (DataWriter, Removals) {
        let (removals, queued) = tokio::sync::mpsc::channel(REMOVAL_BATCHES_QUEUED_MAX);
        let writer = DataWriter {
            node_id,
            roster,
            secret,
            data_files,
            copies_wanted: replication_factor.max(1),
            links: Mutex::new(BTreeMap::new()),
            pieces: Mutex::new(BTreeMap::new()),
            removals,
            counters: CopyCounters::default(),
        };
        (writer, queued)
    }

    /// Queues the removal of freed files' copies on the other nodes (any thread; never
    /// waits).
    pub fn remove_copies(&self, ids: Vec<u128>) {
        if ids.is_empty() || self.roster.get().known.len() < 2 {
            return;
        }
        if let Err(e) = self.removals.try_send(ids) {
            tracing::warn!("copies of freed data files stay on other nodes: {e}");
        }
    }

    /// Sends queued removals to every other member, merging what is queued into batches of
    /// at most `REMOVE_IDS_MAX` ids. Runs on the cluster's runtime until the writer is
    /// dropped (its queue's sender with it).
    pub async fn run_removals(writer: std::sync::Weak<Self>, mut queued: Removals) {
        while let Some(mut ids) = queued.recv().await {
            let Some(this) = writer.upgrade() else {
                return;
            };
            while ids.len() < REMOVE_IDS_MAX {
                match queued.try_recv() {
                    Ok(more) => ids.extend(more),
                    Err(_) => break,
                }
            }
            // Every node whose address is known: a node just removed may still hold copies.
            let roster = this.roster.get();
            for batch in ids.chunks(REMOVE_IDS_MAX) {
                let peers = roster.known.keys().filter(|id| **id != this.node_id);
                futures::future::join_all(peers.map(|p| this.remove_on(*p, batch.to_vec()))).await;
            }
        }
    }

    async fn remove_on(&self, peer: NodeId, ids: Vec<u128>) {
        let Some(mut client) = self.link(peer) else {
            return;
        };
        let timeout = Duration::from_millis(REMOVE_TIMEOUT_MS);
        match send_removals(&mut client, ids, timeout).await {
            Ok(_) => self.keep_link(peer, client),
            Err(e) => tracing::warn!("copies of freed data files stay on node {peer}: {e}"),
        }
    }

    /// A connection to `peer`: a kept one, or a new one.
    fn link(&self, peer: NodeId) -> Option<PeerClient> {
        let member = *self.roster.get().known.get(&peer)?;
        let kept = self
            .links
            .lock()
            .ok()
            .and_then(|mut l| l.get_mut(&peer).and_then(Vec::pop));
        Some(kept.unwrap_or_else(|| PeerClient::new(member.peer, self.secret.clone())))
    }

    fn keep_link(&self, peer: NodeId, client: PeerClient) {
        if let Ok(mut l) = self.links.lock() {
            let idle = l.entry(peer).or_default();
            if idle.len() < LINKS_PER_PEER_MAX {
                idle.push(client);
            }
        }
    }

    /// The copies sent so far.
    pub fn copy_stats(&self) -> CopyStats {
        CopyStats {
            made: self.counters.made.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
        }
    }

    /// Copies each file gets now, this node's included: the wanted number, at most one per
    /// voting member.
    pub fn copies(&self) -> usize {
        copies_placed(self.copies_wanted, &self.roster.get())
    }

    /// The place of `file_id` (`placement`) in the membership now.
    pub fn place(&self, file_id: u128) -> Vec<NodeId> {
        let roster = self.roster.get();
        let copies = copies_placed(self.copies_wanted, &roster);
        placement(file_id, roster.voters.keys().copied(), copies)
    }

    /// Connections and a budget to `peer` (a known node) for a repair pass's questions.
    pub(super) fn peer_client(&self, peer: NodeId) -> Option<PeerClient> {
        self.link(peer)
    }

    pub(super) fn return_client(&self, peer: NodeId, client: PeerClient) {
        self.keep_link(peer, client)
    }

    /// `peer`'s budget of pieces in flight, made on first use.
    fn budget(&self, peer: NodeId) -> Option<Arc<tokio::sync::Semaphore>> {
        let mut pieces = self.pieces.lock().ok()?;
        let b = pieces.entry(peer).or_insert_with(|| {
            Arc::new(tokio::sync::Semaphore::new(PIECES_IN_FLIGHT_PER_PEER_MAX))
        });
        Some(Arc::clone(b))
    }

    /// Copies the local data file `file_id` of `len` bytes to its targets; returns once a
    /// write quorum holds it (the other copies go on in the background, a failure there is
    /// logged). Fewer copies than a quorum: 503 ServiceUnavailable, which clients retry.
    /// Runs on the cluster's runtime.
    pub async fn replicate(self: std::sync::Arc<Self>, file_id: u128, len: u64) -> S3Result<()> {
        let place = self.place(file_id);
        let here = usize::from(place.contains(&self.node_id));
        let needed = write_quorum(place.len()) - here;
        let targets: Vec<NodeId> = place.into_iter().filter(|n| *n != self.node_id).collect();
        if targets.is_empty() {
            return Ok(());
        }
        let (done, mut results) = tokio::sync::mpsc::channel(targets.len());
        for peer in targets {
            let w = std::sync::Arc::clone(&self);
            let done = done.clone();
            tokio::spawn(async move {
                let r = w.copy_to(peer, file_id, len).await;
                if r.is_ok() {
                    w.counters.made.fetch_add(1, Ordering::Relaxed);
                    w.counters.bytes.fetch_add(len, Ordering::Relaxed);
                }
                if let Err(e) = &r {
                    w.counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "copy of data file {file_id:032x} to node {peer} failed: {e} \
                         (the file has fewer copies until it is written again)"
                    );
                }
                // The writer may have its quorum and be gone.
                let _ = done.send((peer, r)).await;
            });
        }
        drop(done);
        let (mut held, mut why) = (0, Vec::new());
        if needed == 0 {
            return Ok(());
        }
        while let Some((peer, r)) = results.recv().await {
            match r {
                Ok(()) => {
                    held += 1;
                    if held >= needed {
                        return Ok(());
                    }
                }
                Err(e) => why.push(format!("node {peer}: {e}")),
            }
        }
        Err(S3Error::msg(
            ErrorCode::ServiceUnavailable,
            "Too few nodes of the cluster could take a copy of the data; please retry.",
        )
        .caused_by(format!(
            "data file {file_id:032x}: {held} of {needed} copies on other nodes ({})",
            why.join("; ")
        )))
    }

    /// Sends the whole file to `peer`, piece by piece, the last one sealing it there.
    async fn copy_to(&self, peer: NodeId, file_id: u128, len: u64) -> Result<(), String> {
        let files = self
            .data_files
            .as_ref()
            .ok_or("this node keeps no data files")?;
        let mut client = self
            .link(peer)
            .ok_or_else(|| format!("node {peer} is not a member"))?;
        let budget = self
            .budget(peer)
            .ok_or_else(|| format!("node {peer}: no copy budget"))?;
        let timeout = Duration::from_millis(DATA_WRITE_TIMEOUT_MS);
        let mut offset = 0u64;
        loop {
            let n = (len - offset).min(u64::from(DATA_READ_BYTES_MAX)) as u32;
            let wait = Duration::from_millis(PIECE_BUDGET_WAIT_MS);
            let _piece = match tokio::time::timeout(wait, budget.acquire()).await {
                Ok(Ok(permit)) => permit,
                Ok(Err(e)) => return Err(format!("copy budget: {e}")),
                Err(_) => {
                    return Err(format!(
                        "node {peer} has {PIECES_IN_FLIGHT_PER_PEER_MAX} pieces in flight already"
                    ))
                }
            };
            let bytes = read_local_data(files, None, file_id, offset, n)
                .await?
                .ok_or("the local data file is gone")?;
            if bytes.len() != n as usize {
                return Err(format!(
                    "the local data file has {} bytes at {offset}, {n} expected",
                    bytes.len()
                ));
            }
            let last = offset + u64::from(n) == len;
            let piece = DataWrite {
                file_id,
                offset,
                crc32c: crc32c::crc32c(&bytes),
                bytes,
                seal: last.then_some(len),
            };
            send_data(&mut client, piece, timeout)
                .await
                .map_err(|e| e.to_string())?;
            offset += u64::from(n);
            if last {
                break;
            }
        }
        self.keep_link(peer, client);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_is_a_majority_of_the_copies() {
        assert_eq!(write_quorum(1), 1);
        assert_eq!(write_quorum(2), 2);
        assert_eq!(write_quorum(3), 2);
        assert_eq!(write_quorum(5), 3);
    }

    #[test]
    fn placement_is_stable_and_distinct() {
        let members = [1u64, 2, 3, 4, 5];
        for id in 0..200u128 {
            let file = id.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834);
            let a = placement(file, members.iter().copied(), 3);
            assert_eq!(a.len(), 3);
            assert!(a[0] != a[1] && a[1] != a[2] && a[0] != a[2], "{a:?}");
            // The same answer from any order of the members.
            let b = placement(file, members.iter().rev().copied(), 3);
            assert_eq!(a, b);
            // Rendezvous: losing a member outside the place moves nothing.
            let outside = members.iter().copied().find(|m| !a.contains(m)).unwrap();
            let c = placement(file, members.iter().copied().filter(|m| *m != outside), 3);
            assert_eq!(a, c);
        }
        // Fewer members than copies: every member.
        assert_eq!(placement(7, [1u64, 2].into_iter(), 3).len(), 2);
    }

    #[test]
    fn placement_spreads_files_over_the_members() {
        let mut first = BTreeMap::<NodeId, usize>::new();
        for id in 0..3000u128 {
            let file = (id << 8) | 0x5a;
            let p = placement(file, [2u64, 3, 4].into_iter(), 1);
            *first.entry(p[0]).or_default() += 1;
        }
        assert_eq!(first.len(), 3);
        for n in first.values() {
            assert!((800..1200).contains(n), "{first:?}");
        }
    }
}

//! Repair: a node restores the copies of data files it should hold and does not (it was down
//! while they were written, a background copy failed, its data directory was wiped).
//!
//! A pass reads, per metadata group and after a read barrier (so every write completed
//! before it is seen), every local data file the group's records name; for each one whose
//! place (`replica::placement`) includes this node and that is not here, it fetches the bytes
//! from the nodes that hold them, checks each 1 MiB against the record's CRC32C, and writes
//! them the way a copy is written (`<file>.incoming`, fsync, rename, directory fsync). The
//! pass is paced to [`REPAIR_BYTES_PER_S`] so requests keep their speed. A file whose object
//! is deleted during the pass may be restored after its removal and stay as an orphan.
//!
//! After a membership change a file's place may move: the nodes now in it fetch it as above,
//! and a node that holds it and is no longer in its place removes its copy once every node of
//! the place confirms it holds the file ([`trim_moved`]), so no file ever has fewer copies
//! than its place. A pass runs after every membership change.
//!
//! A pass that read every group also deletes the local data files no record names and that
//! are older than [`ORPHAN_AGE_MIN_S`] (a copy whose removal this node missed while down, a
//! write that failed after its copies were made): anything younger may belong to a write
//! whose record is not committed yet.

use super::network::{
    ask_held, held_local_data, remove_local_data, write_local_data, DataFiles, DataWrite,
    DATA_READ_BYTES_MAX, REMOVE_IDS_MAX,
};
use super::node::DataReader;
use super::raft::NodeId;
use super::replica::DataWriter;
use crate::error::{S3Error, S3Result};
use crate::meta::tables::FileRef;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Bytes a repair pass restores per second at most.
pub const REPAIR_BYTES_PER_S: u64 = 64 * 1024 * 1024;
/// Pause between two passes (one runs at boot, once the node has a leader in every group).
pub const REPAIR_INTERVAL_S: u64 = 600;
/// Youngest unreferenced data file a pass deletes: a write's files are named by a record
/// within its request's timeouts, far sooner.
pub const ORPHAN_AGE_MIN_S: u64 = 3600;

/// Deletes the local data files whose id is not in the set and that were last modified
/// before the time; answers how many (the boot passes the local store's sweep). Blocking.
pub type DataSweep = std::sync::Arc<
    dyn Fn(&std::collections::HashSet<u128>, std::time::SystemTime) -> usize + Send + Sync,
>;

/// What a pass did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RepairStats {
    /// Data files named by the records read.
    pub files: u64,
    /// Of those, files this node should hold and did not, now restored.
    pub restored: u64,
    pub restored_bytes: u64,
    /// Files that could not be restored (no reachable node held them intact).
    pub failed: u64,
    /// Groups skipped (no read barrier: no reachable leader).
    pub groups_skipped: u64,
    /// Copies removed here because the file's place moved to other nodes, which hold it.
    pub moved_away: u64,
    /// Local data files no record names, older than [`ORPHAN_AGE_MIN_S`], deleted.
    pub orphans_removed: u64,
    pub duration_ms: u64,
    /// The voting members the pass placed files over (taken at its start): after a
    /// membership change, a pass with the new voters has moved the data.
    pub voters: Vec<NodeId>,
}

/// Restores the files of `refs` that `mine` says belong here and are missing; returns the
/// ids of those that are not this node's (for [`trim_moved`]) and of those it could not
/// restore (counted in `stats.failed` by the caller, only if a record still names them: a
/// file freed during the pass, by an overwrite or a delete, is not missing).
pub(super) async fn restore_missing(
    refs: Vec<FileRef>,
    mine: impl Fn(u128) -> bool,
    files: &DataFiles,
    reader: &DataReader,
    stats: &mut RepairStats,
) -> (Vec<u128>, Vec<u128>) {
    let started = Instant::now();
    let mut paced_bytes = 0u64;
    let mut others = Vec::new();
    let mut unrestored = Vec::new();
    for f in refs {
        stats.files += 1;
        if !mine(f.file_id) {
            others.push(f.file_id);
            continue;
        }
        if files(f.file_id).exists() {
            continue;
        }
        match restore_one(&f, files, reader).await {
            Ok(()) => {
                stats.restored += 1;
                stats.restored_bytes += f.len;
                paced_bytes += f.len;
            }
            Err(e) => {
                unrestored.push(f.file_id);
                // Freed everywhere since the pass read the records: no copy is missing
                // (`still_referenced` checks it), nothing to warn about.
                if e.fault() == Some(crate::error::Fault::Gone) {
                    tracing::debug!("repair: data file {:032x} freed meanwhile", f.file_id);
                } else {
                    tracing::warn!("repair: data file {:032x} not restored: {e}", f.file_id);
                }
            }
        }
        // Never ahead of the pace: sleep off what this pass restored too fast.
        let due = Duration::from_secs_f64(paced_bytes as f64 / REPAIR_BYTES_PER_S as f64);
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            tokio::time::sleep(ahead).await;
        }
    }
    (others, unrestored)
}

/// Longest wait for a node to say which files it holds.
const HELD_TIMEOUT_MS: u64 = 10_000;

/// Removes this node's copies of `candidates` (files whose place does not include it) that
/// every node of their place holds; a node that does not answer keeps every copy here.
pub(super) async fn trim_moved(
    candidates: Vec<u128>,
    files: &DataFiles,
    writer: &DataWriter,
    stats: &mut RepairStats,
) {
    let mut here = Vec::new();
    for chunk in candidates.chunks(REMOVE_IDS_MAX) {
        match held_local_data(files, chunk.to_vec()).await {
            Ok(held) => here.extend(
                chunk
                    .iter()
                    .zip(held)
                    .filter(|(_, h)| *h)
                    .map(|(id, _)| *id),
            ),
            Err(e) => tracing::warn!("repair: local copies not listed: {e}"),
        }
    }
    if here.is_empty() {
        return;
    }
    // Per file, the nodes of its place; per node, the files to ask it about.
    let places: BTreeMap<u128, Vec<NodeId>> =
        here.iter().map(|id| (*id, writer.place(*id))).collect();
    let mut asks: BTreeMap<NodeId, Vec<u128>> = BTreeMap::new();
    for (id, place) in &places {
        for node in place {
            asks.entry(*node).or_default().push(*id);
        }
    }
    let mut confirmed: BTreeMap<u128, usize> = BTreeMap::new();
    let timeout = Duration::from_millis(HELD_TIMEOUT_MS);
    for (node, ids) in asks {
        let Some(mut client) = writer.peer_client(node) else {
            continue;
        };
        let mut answered = true;
        for chunk in ids.chunks(REMOVE_IDS_MAX) {
            match ask_held(&mut client, chunk.to_vec(), timeout).await {
                Ok(held) => {
                    for (id, h) in chunk.iter().zip(held) {
                        if h {
                            *confirmed.entry(*id).or_default() += 1;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("repair: node {node} did not say which files it holds: {e}");
                    answered = false;
                    break;
                }
            }
        }
        if answered {
            writer.return_client(node, client);
        }
    }
    let movable: Vec<u128> = places
        .iter()
        .filter(|(id, place)| !place.is_empty() && confirmed.get(id) == Some(&place.len()))
        .map(|(id, _)| *id)
        .collect();
    for chunk in movable.chunks(REMOVE_IDS_MAX) {
        match remove_local_data(files, chunk.to_vec()).await {
            Ok(n) => stats.moved_away += n as u64,
            Err(e) => tracing::warn!("repair: moved copies not removed: {e}"),
        }
    }
}

/// Fetches one file piece by piece, each checked against its CRC32C, and writes it here.
async fn restore_one(f: &FileRef, files: &DataFiles, reader: &DataReader) -> S3Result<()> {
    let mut offset = 0u64;
    let mut index = 0usize;
    loop {
        let n = (f.len - offset).min(u64::from(DATA_READ_BYTES_MAX)) as u32;
        let last = offset + u64::from(n) == f.len;
        let (bytes, crc32c) = if n == 0 {
            (Vec::new(), crc32c::crc32c(&[]))
        } else {
            let want = f.chunk_crc32c.get(index).copied().ok_or_else(|| {
                S3Error::internal(format!("chunk {index}: no CRC32C in the record"))
            })?;
            // Only a copy matching the record's CRC32C comes back (checked by the reader).
            let bytes = reader.read(f.file_id, offset, n, Some(want)).await?;
            if bytes.len() != n as usize {
                return Err(S3Error::internal(format!(
                    "chunk {index}: {} bytes read, {n} expected",
                    bytes.len()
                )));
            }
            (bytes, want)
        };
        let piece = DataWrite {
            file_id: f.file_id,
            offset,
            crc32c,
            bytes,
            seal: last.then_some(f.len),
        };
        write_local_data(files, piece)
            .await
            .map_err(S3Error::internal)?;
        if last {
            return Ok(());
        }
        offset += u64::from(n);
        index += 1;
    }
}

//! openraft's network over the peer transport: AppendEntries, Vote and InstallSnapshot as
//! bincode messages in authenticated frames (`cluster::transport`).
//!
//! One peer listener serves every group of a node: each request names its group, and
//! [`Groups`] routes it to that group's `Raft`. A request too large for one frame is
//! refused locally with openraft's `PayloadTooLarge`, which makes the leader send fewer
//! entries at a time; a single entry always fits (`raft_config`, [`ENTRY_BYTES_MAX`]).

use super::raft::{Batch, BatchReply, ClusterError, NodeId, TypeConfig};
use super::read_pins::ReadPins;
use super::transport::{Handler, PeerClient, PeerError, Secret, FRAME_BYTES_MAX};
use bincode::Options;
use openraft::error::{
    CheckIsLeaderError, ClientWriteError, InstallSnapshotError, NetworkError, PayloadTooLarge,
    RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

/// Largest encoded [`Batch`] a group accepts (4 MiB): with the entry's own framing it fits a
/// frame many times over, so an AppendEntries of one entry is never too large.
pub const ENTRY_BYTES_MAX: usize = FRAME_BYTES_MAX / 4;
/// Snapshot bytes per InstallSnapshot request (8 MiB), well inside a frame.
pub const SNAPSHOT_CHUNK_BYTES: usize = FRAME_BYTES_MAX / 2;

/// The encoding of every peer message: bincode. Unbounded on the way out, so an oversized
/// request is measured and refused as `PayloadTooLarge` rather than failing to encode.
fn encoder() -> impl Options {
    bincode::DefaultOptions::new().with_fixint_encoding()
}

/// The same encoding on the way in, bounded by the frame size.
fn decoder() -> impl Options {
    encoder().with_limit(FRAME_BYTES_MAX as u64)
}

#[derive(Serialize, Deserialize)]
enum RaftRpc {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
    /// A follower forwards a batch for the leader to propose ([`forward_batch`]).
    Forward(Batch),
    /// A follower asks the leader for a read index ([`forward_read_index`]).
    ReadIndex,
    /// Bytes of a local data file, for a node serving an object whose bytes it does not hold
    /// ([`fetch_data`]; the group is not used).
    ReadData {
        file_id: u128,
        offset: u64,
        len: u32,
    },
    /// Bytes of a copy of another node's data file, sent in order ([`send_data`]; the group
    /// is not used).
    WriteData(DataWrite),
    /// Data files no record names any more, to delete here if present ([`send_removals`];
    /// the group is not used).
    RemoveData(Vec<u128>),
    /// Which of these data files are here, sealed ([`ask_held`]; the group is not used).
    HasData(Vec<u128>),
    /// On the group's leader: one membership change of this group
    /// (`membership::change_group`).
    ChangeGroup(MemberChange),
    /// To any node, from an operator (`bleepstore cluster add-node`): a membership change
    /// of every group, which this node carries out (`ClusterNode::change_members`).
    ChangeMembers(MemberChange),
}

/// A change of the membership: a node added (as a learner that catches up, then a voter) or
/// removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberChange {
    Add {
        id: NodeId,
        s3: std::net::SocketAddr,
        peer: std::net::SocketAddr,
    },
    Remove {
        id: NodeId,
    },
}

impl fmt::Display for MemberChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemberChange::Add { id, s3, peer } => {
                write!(f, "add node {id} (S3 {s3}, peer {peer})")
            }
            MemberChange::Remove { id } => write!(f, "remove node {id}"),
        }
    }
}

/// One piece of a data file copied to this node ([`write_local_data`]).
#[derive(Serialize, Deserialize)]
pub struct DataWrite {
    pub file_id: u128,
    pub offset: u64,
    /// As one byte string on the wire (serde's default encodes a `Vec<u8>` byte by byte).
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// CRC32C of `bytes`, checked before they are written.
    pub crc32c: u32,
    /// On the last piece, the file's length: the copy is then made durable and named.
    pub seal: Option<u64>,
}

/// Why a leader did not take a forwarded request.
#[derive(Debug, Serialize, Deserialize)]
pub enum Refusal {
    /// This node is not the leader (the leader it knows, if any): nothing was proposed.
    NotLeader(Option<NodeId>),
    /// It tried and failed (its Raft stopped, the batch is too large).
    Failed(String),
}

#[derive(Serialize, Deserialize)]
enum RaftRpcReply {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// The request could not be served at all (no such group, undecodable).
    Refused(String),
    Forward(Result<BatchReply, Refusal>),
    ReadIndex(Result<u64, Refusal>),
    /// The bytes read (short at the end of the file), None when the file is not here.
    Data(Result<Option<serde_bytes::ByteBuf>, String>),
    /// A piece of a copy written (durable and named, on the last one).
    Wrote(Result<(), String>),
    /// How many of the named files were here and are now deleted.
    Removed(Result<usize, String>),
    /// For each file asked about, whether it is here.
    Held(Result<Vec<bool>, String>),
    /// What a group's leader did, or why it did not.
    ChangedGroup(Result<String, Refusal>),
    /// What the change of every group did.
    ChangedMembers(Result<String, String>),
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    group: u32,
    rpc: RaftRpc,
}

/// A message that could not be encoded, decoded or served.
#[derive(Debug)]
struct WireError(String);

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WireError {}

/// The groups this node serves, by group id; the peer listener's handler.
#[derive(Default)]
pub struct Groups {
    rafts: RwLock<HashMap<u32, Raft<TypeConfig>>>,
    /// Where this node's object data files are, for `ReadData` (None: it serves none), and
    /// the files kept open for the streams reading them.
    data_files: RwLock<Option<(DataFiles, Arc<ReadPins>)>>,
    /// Carries out an operator's membership change (set once the node runs).
    members: RwLock<Option<MembersHook>>,
}

/// What serves `ChangeMembers` on this node: the change of every group, reported as text.
pub type MembersHook = Arc<
    dyn Fn(MemberChange) -> futures::future::BoxFuture<'static, Result<String, String>>
        + Send
        + Sync,
>;

impl Groups {
    pub fn new() -> Arc<Groups> {
        Arc::new(Groups::default())
    }

    pub fn insert(&self, group: u32, raft: Raft<TypeConfig>) {
        if let Ok(mut map) = self.rafts.write() {
            map.insert(group, raft);
        }
    }

    /// Serves `ReadData` requests from the data files `files` locates, through `pins`.
    pub fn serve_data_from(&self, files: DataFiles, pins: Arc<ReadPins>) {
        if let Ok(mut d) = self.data_files.write() {
            *d = Some((files, pins));
        }
    }

    fn files(&self) -> Option<DataFiles> {
        self.data_files
            .read()
            .ok()?
            .as_ref()
            .map(|(f, _)| Arc::clone(f))
    }

    /// Serves `ChangeMembers` requests with `hook`.
    pub fn serve_members_with(&self, hook: MembersHook) {
        if let Ok(mut m) = self.members.write() {
            *m = Some(hook);
        }
    }

    pub fn remove(&self, group: u32) -> Option<Raft<TypeConfig>> {
        self.rafts.write().ok()?.remove(&group)
    }

    fn get(&self, group: u32) -> Option<Raft<TypeConfig>> {
        self.rafts.read().ok()?.get(&group).cloned()
    }

    /// The transport handler: decodes a request, hands it to its group, encodes the reply.
    pub fn handler(self: &Arc<Self>) -> Handler {
        let groups = Arc::clone(self);
        Arc::new(move |payload| {
            let groups = Arc::clone(&groups);
            Box::pin(async move { groups.serve(&payload).await })
        })
    }

    async fn serve(&self, payload: &[u8]) -> Vec<u8> {
        let reply = match decoder().deserialize::<Envelope>(payload) {
            Err(e) => RaftRpcReply::Refused(format!("undecodable request: {e}")),
            Ok(Envelope {
                rpc:
                    RaftRpc::ReadData {
                        file_id,
                        offset,
                        len,
                    },
                ..
            }) => {
                let served = self.data_files.read().ok().and_then(|d| d.clone());
                RaftRpcReply::Data(match served {
                    None => Ok(None),
                    Some((files, pins)) => {
                        read_local_data(&files, Some(&pins), file_id, offset, len)
                            .await
                            .map(|b| b.map(serde_bytes::ByteBuf::from))
                    }
                })
            }
            Ok(Envelope {
                rpc: RaftRpc::WriteData(piece),
                ..
            }) => {
                let files = self.files();
                RaftRpcReply::Wrote(match files {
                    None => Err("this node keeps no data files".into()),
                    Some(files) => write_local_data(&files, piece).await,
                })
            }
            Ok(Envelope {
                rpc: RaftRpc::RemoveData(ids),
                ..
            }) => {
                let files = self.files();
                RaftRpcReply::Removed(match files {
                    None => Ok(0),
                    Some(files) => remove_local_data(&files, ids).await,
                })
            }
            Ok(Envelope {
                rpc: RaftRpc::HasData(ids),
                ..
            }) => {
                let files = self.files();
                RaftRpcReply::Held(match files {
                    None => Ok(vec![false; ids.len()]),
                    Some(files) => held_local_data(&files, ids).await,
                })
            }
            Ok(Envelope {
                rpc: RaftRpc::ChangeMembers(change),
                ..
            }) => {
                let hook = self.members.read().ok().and_then(|m| m.clone());
                RaftRpcReply::ChangedMembers(match hook {
                    None => Err("this node is still starting".into()),
                    Some(hook) => hook(change).await,
                })
            }
            Ok(env) => match self.get(env.group) {
                None => RaftRpcReply::Refused(format!("no group {} here", env.group)),
                Some(raft) => dispatch(&raft, env.rpc).await,
            },
        };
        // Our own reply always encodes; an empty frame would read as a failure anyway.
        encoder().serialize(&reply).unwrap_or_default()
    }
}

async fn dispatch(raft: &Raft<TypeConfig>, rpc: RaftRpc) -> RaftRpcReply {
    match rpc {
        RaftRpc::Append(r) => RaftRpcReply::Append(raft.append_entries(r).await),
        RaftRpc::Vote(r) => RaftRpcReply::Vote(raft.vote(r).await),
        RaftRpc::Snapshot(r) => RaftRpcReply::Snapshot(raft.install_snapshot(r).await),
        RaftRpc::Forward(batch) => RaftRpcReply::Forward(forwarded(raft, batch).await),
        RaftRpc::ChangeGroup(change) => {
            RaftRpcReply::ChangedGroup(super::membership::change_group(raft, change).await)
        }
        RaftRpc::ReadData { .. }
        | RaftRpc::WriteData(_)
        | RaftRpc::RemoveData(_)
        | RaftRpc::HasData(_)
        | RaftRpc::ChangeMembers(_) => RaftRpcReply::Refused("the request names no group".into()),
        RaftRpc::ReadIndex => RaftRpcReply::ReadIndex(match read_index(raft).await {
            Ok(index) => Ok(index),
            Err(ReadIndexError::NotLeader(l)) => Err(Refusal::NotLeader(l)),
            Err(ReadIndexError::Failed(e)) => Err(Refusal::Failed(e.to_string())),
        }),
    }
}

/// Longest a leader works on one forwarded request (a leader that lost its quorum would wait
/// for a commit forever); the follower's own timeout is shorter.
pub const SERVE_FORWARDED_TIMEOUT_MS: u64 = 15_000;

/// Why no read index.
#[derive(Debug)]
pub enum ReadIndexError {
    NotLeader(Option<NodeId>),
    Failed(ClusterError),
}

impl fmt::Display for ReadIndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadIndexError::NotLeader(l) => write!(f, "not the leader ({l:?} is)"),
            ReadIndexError::Failed(e) => e.fmt(f),
        }
    }
}

/// A read index on this node, which must be the leader: the log index every write completed
/// so far is at or below, confirmed by a quorum (openraft's `get_read_log_id`), within
/// [`SERVE_FORWARDED_TIMEOUT_MS`].
pub async fn read_index(raft: &Raft<TypeConfig>) -> Result<u64, ReadIndexError> {
    let wait = std::time::Duration::from_millis(SERVE_FORWARDED_TIMEOUT_MS);
    match tokio::time::timeout(wait, raft.get_read_log_id()).await {
        Ok(Ok((read, _))) => Ok(read.map(|l| l.index).unwrap_or(0)),
        Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
            Err(ReadIndexError::NotLeader(f.leader_id))
        }
        Ok(Err(e)) => Err(ReadIndexError::Failed(ClusterError::new(e))),
        Err(_) => Err(ReadIndexError::Failed(ClusterError::new(
            "leadership not confirmed by a quorum in time",
        ))),
    }
}

/// Proposes a batch a follower forwarded. "Not the leader" is answered only when nothing was
/// proposed (checked before proposing), so the follower may safely try the next leader; a
/// leader deposed while proposing answers a failure: the entry may still commit.
async fn forwarded(raft: &Raft<TypeConfig>, batch: Batch) -> Result<BatchReply, Refusal> {
    let (me, leader) = {
        let m = raft.metrics();
        let m = m.borrow();
        (m.id, m.current_leader)
    };
    if leader != Some(me) {
        return Err(Refusal::NotLeader(leader));
    }
    let wait = std::time::Duration::from_millis(SERVE_FORWARDED_TIMEOUT_MS);
    let proposed = tokio::time::timeout(wait, propose(raft, batch)).await;
    let Ok(proposed) = proposed else {
        return Err(Refusal::Failed(
            "not committed in time: outcome unknown".into(),
        ));
    };
    proposed.map_err(|e| match e {
        ProposeError::NotLeader(_) => {
            Refusal::Failed("leadership moved while proposing: outcome unknown".into())
        }
        ProposeError::Failed(e) => Refusal::Failed(e.to_string()),
    })
}

/// Most bytes one `ReadData` asks for (one data-file chunk of the local store, 1 MiB).
pub const DATA_READ_BYTES_MAX: u32 = 1024 * 1024;

/// Where this node keeps object data file `id` (the boot passes the local store's layout:
/// the cluster layer does not know the storage layer).
pub type DataFiles = Arc<dyn Fn(u128) -> PathBuf + Send + Sync>;

/// Reads `[offset, offset + len)` of data file `file_id` (short at its end); None when the
/// file is not here. With `pins` (a reader's stream), a file freed since this node last read
/// it, within `read_pins`'s idle time, is read through its pin, so the stream reads on to
/// its end; without (a copy to another node), a freed file is not here.
pub async fn read_local_data(
    files: &DataFiles,
    pins: Option<&Arc<ReadPins>>,
    file_id: u128,
    offset: u64,
    len: u32,
) -> Result<Option<Vec<u8>>, String> {
    if len > DATA_READ_BYTES_MAX {
        return Err(format!(
            "a read of {len} bytes is over {DATA_READ_BYTES_MAX}"
        ));
    }
    let path = files(file_id);
    let pins = pins.map(Arc::clone);
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
        use std::os::unix::fs::FileExt;
        let opened = match &pins {
            Some(pins) => pins.open(&path),
            None => super::read_pins::open_if_here(&path).map(|f| f.map(Arc::new)),
        };
        let Some(file) = opened? else {
            return Ok(None);
        };
        let mut buf = vec![0u8; len as usize];
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], offset + got as u64)? {
                0 => break,
                n => got += n,
            }
        }
        buf.truncate(got);
        Ok(Some(buf))
    });
    match read.await {
        Ok(r) => r.map_err(|e| format!("read data file: {e}")),
        Err(e) => Err(format!("read data file: {e}")),
    }
}

/// Where a copy of data file `path` is written until its last piece makes it durable: beside
/// it, so the rename that names it stays in one directory. A crash leaves only such files,
/// which name no object ([`sweep_incoming`]).
pub fn incoming_path(path: &std::path::Path) -> PathBuf {
    path.with_extension("incoming")
}

/// Writes one piece of a copy of a data file, in order: the first piece creates
/// `<file>.incoming`, the last (`seal`) fsyncs it, checks its length, renames it to the
/// file's name and fsyncs the directory. Bytes failing their CRC32C are refused unwritten.
pub async fn write_local_data(files: &DataFiles, piece: DataWrite) -> Result<(), String> {
    if piece.bytes.len() > DATA_READ_BYTES_MAX as usize {
        return Err(format!(
            "a piece of {} bytes is over {DATA_READ_BYTES_MAX}",
            piece.bytes.len()
        ));
    }
    if crc32c::crc32c(&piece.bytes) != piece.crc32c {
        return Err(format!(
            "data file {:032x}: the piece at {} failed its CRC32C",
            piece.file_id, piece.offset
        ));
    }
    let path = files(piece.file_id);
    let write = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let tmp = incoming_path(&path);
        let dir = path.parent().map(PathBuf::from).unwrap_or_default();
        let file = if piece.offset == 0 {
            std::fs::create_dir_all(&dir)?;
            std::fs::File::create(&tmp)?
        } else {
            // Pieces come in order on one connection: a missing file is a copy restarted
            // elsewhere or swept, not one to create in the middle.
            std::fs::OpenOptions::new().write(true).open(&tmp)?
        };
        file.write_all_at(&piece.bytes, piece.offset)?;
        if let Some(len) = piece.seal {
            file.sync_data()?;
            let have = file.metadata()?.len();
            if have != len {
                return Err(std::io::Error::other(format!(
                    "the copy holds {have} bytes, {len} sent"
                )));
            }
            drop(file);
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&dir)?.sync_all()?;
        }
        Ok(())
    });
    match write.await {
        Ok(r) => r.map_err(|e| format!("write data file copy: {e}")),
        Err(e) => Err(format!("write data file copy: {e}")),
    }
}

/// Most file ids in one `RemoveData`.
pub const REMOVE_IDS_MAX: usize = 4096;

/// Deletes the named data files (and unfinished copies of them) where present.
pub async fn remove_local_data(files: &DataFiles, ids: Vec<u128>) -> Result<usize, String> {
    if ids.len() > REMOVE_IDS_MAX {
        return Err(format!(
            "{} files in one removal, over {REMOVE_IDS_MAX}",
            ids.len()
        ));
    }
    let paths: Vec<PathBuf> = ids.into_iter().map(|id| files(id)).collect();
    let removed = tokio::task::spawn_blocking(move || {
        let mut removed = 0;
        for p in paths {
            let _ = std::fs::remove_file(incoming_path(&p));
            if std::fs::remove_file(&p).is_ok() {
                removed += 1;
            }
        }
        removed
    });
    removed.await.map_err(|e| format!("remove data files: {e}"))
}

/// For each of `ids` (at most [`REMOVE_IDS_MAX`]), whether its data file is here, sealed.
pub async fn held_local_data(files: &DataFiles, ids: Vec<u128>) -> Result<Vec<bool>, String> {
    if ids.len() > REMOVE_IDS_MAX {
        return Err(format!(
            "{} files in one question, over {REMOVE_IDS_MAX}",
            ids.len()
        ));
    }
    let paths: Vec<PathBuf> = ids.into_iter().map(|id| files(id)).collect();
    let held = tokio::task::spawn_blocking(move || paths.iter().map(|p| p.exists()).collect());
    held.await.map_err(|e| format!("look for data files: {e}"))
}

/// Asks the node behind `client` which of `ids` it holds.
pub async fn ask_held(
    client: &mut PeerClient,
    ids: Vec<u128>,
    timeout: std::time::Duration,
) -> Result<Vec<bool>, ForwardError> {
    let asked = ids.len();
    match forward_call(client, 0, RaftRpc::HasData(ids), timeout).await? {
        RaftRpcReply::Held(Ok(held)) if held.len() == asked => Ok(held),
        RaftRpcReply::Held(Ok(held)) => Err(ForwardError::Unknown(format!(
            "{} answers for {asked} files",
            held.len()
        ))),
        RaftRpcReply::Held(Err(e)) => Err(ForwardError::Unknown(e)),
        _ => Err(ForwardError::Unknown("a reply of the wrong kind".into())),
    }
}

/// Asks group `group`'s leader behind `client` to make `change` in that group.
pub async fn forward_group_change(
    client: &mut PeerClient,
    group: u32,
    change: MemberChange,
    timeout: std::time::Duration,
) -> Result<String, ForwardError> {
    match forward_call(client, group, RaftRpc::ChangeGroup(change), timeout).await? {
        RaftRpcReply::ChangedGroup(r) => r.map_err(refused),
        _ => Err(ForwardError::Unknown("a reply of the wrong kind".into())),
    }
}

/// Asks the node behind `client` to make `change` in every group (an operator's request).
pub async fn request_member_change(
    client: &mut PeerClient,
    change: MemberChange,
    timeout: std::time::Duration,
) -> Result<String, ForwardError> {
    match forward_call(client, 0, RaftRpc::ChangeMembers(change), timeout).await? {
        RaftRpcReply::ChangedMembers(r) => r.map_err(ForwardError::Unknown),
        _ => Err(ForwardError::Unknown("a reply of the wrong kind".into())),
    }
}

/// Asks the node behind `client` to delete the named data files where it has them.
pub async fn send_removals(
    client: &mut PeerClient,
    ids: Vec<u128>,
    timeout: std::time::Duration,
) -> Result<usize, ForwardError> {
    match forward_call(client, 0, RaftRpc::RemoveData(ids), timeout).await? {
        RaftRpcReply::Removed(r) => r.map_err(ForwardError::Unknown),
        _ => Err(ForwardError::Unknown("a reply of the wrong kind".into())),
    }
}

/// Removes the unfinished copies (`*.incoming`) under `objects`, the directories of data
/// files, at boot: a copy that was never sealed names no object. Returns how many.
pub fn sweep_incoming(objects: &std::path::Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let dirs = match std::fs::read_dir(objects) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for dir in dirs {
        let dir = dir?.path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir)? {
            let f = f?.path();
            if f.extension().is_some_and(|e| e == "incoming") {
                std::fs::remove_file(&f)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Sends one piece of a copy of a data file to the node behind `client`.
pub async fn send_data(
    client: &mut PeerClient,
    piece: DataWrite,
    timeout: std::time::Duration,
) -> Result<(), ForwardError> {
    match forward_call(client, 0, RaftRpc::WriteData(piece), timeout).await? {
        RaftRpcReply::Wrote(r) => r.map_err(ForwardError::Unknown),
        _ => Err(ForwardError::Unknown("a reply of the wrong kind".into())),
    }
}

/// Asks the node behind `client` for bytes of its data file `file_id`: None when it does not
/// hold the file.
pub async fn fetch_data(
    client: &mut PeerClient,
    file_id: u128,
    offset: u64,
    len: u32,
    timeout: std::time::Duration,
) -> Result<Option<Vec<u8>>, ForwardError> {
    let rpc = RaftRpc::ReadData {
        file_id,
        offset,
        len,
    };
    match forward_call(client, 0, rpc, timeout).await? {
        RaftRpcReply::Data(r) => r
            .map(|b| b.map(serde_bytes::ByteBuf::into_vec))
            .map_err(ForwardError::Unknown),
        _ => Err(ForwardError::Unknown("a reply of the wrong kind".into())),
    }
}

/// Makes the per-target clients of one group.
#[derive(Clone)]
pub struct PeerNetwork {
    group: u32,
    secret: Secret,
}

impl PeerNetwork {
    pub fn new(group: u32, secret: Secret) -> PeerNetwork {
        PeerNetwork { group, secret }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerLink;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerLink {
        // The address comes from the membership, which comes from the configuration.
        let client = super::roster::peer_addr(&node.addr)
            .map(|addr| PeerClient::new(addr, self.secret.clone()));
        PeerLink {
            target,
            group: self.group,
            addr: node.addr.clone(),
            client,
        }
    }
}

/// One group's messages to one target node.
pub struct PeerLink {
    target: NodeId,
    group: u32,
    addr: String,
    client: Option<PeerClient>,
}

/// Why a call failed before the target's Raft answered.
enum Failure {
    Unreachable(PeerError),
    Network(Box<dyn std::error::Error + Send + Sync>),
    TooLarge,
}

impl Failure {
    fn into_rpc<E: std::error::Error>(self, entries: usize) -> RPCError<NodeId, BasicNode, E> {
        match self {
            Failure::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            Failure::Network(e) => RPCError::Network(NetworkError::new(&WireError(e.to_string()))),
            Failure::TooLarge => {
                let hint = (entries / 2).max(1) as u64;
                RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(hint))
            }
        }
    }
}

impl PeerLink {
    async fn call(&mut self, rpc: RaftRpc, option: &RPCOption) -> Result<RaftRpcReply, Failure> {
        let Some(client) = self.client.as_mut() else {
            let e = WireError(format!(
                "node {}: bad peer address {:?}",
                self.target, self.addr
            ));
            return Err(Failure::Network(Box::new(e)));
        };
        let env = Envelope {
            group: self.group,
            rpc,
        };
        let bytes = encoder()
            .serialize(&env)
            .map_err(|e| Failure::Network(Box::new(e)))?;
        if bytes.len() > FRAME_BYTES_MAX {
            return Err(Failure::TooLarge);
        }
        let reply = client.call(&bytes, option.hard_ttl()).await.map_err(|e| {
            if e.is_unreachable() {
                Failure::Unreachable(e)
            } else {
                Failure::Network(Box::new(e))
            }
        })?;
        match decoder().deserialize::<RaftRpcReply>(&reply) {
            Ok(RaftRpcReply::Refused(why)) => Err(Failure::Network(Box::new(WireError(why)))),
            Ok(r) => Ok(r),
            Err(e) => Err(Failure::Network(Box::new(e))),
        }
    }

    fn unexpected(&self) -> Failure {
        let e = WireError(format!("node {}: a reply of the wrong kind", self.target));
        Failure::Network(Box::new(e))
    }
}

impl RaftNetwork<TypeConfig> for PeerLink {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let entries = rpc.entries.len();
        match self.call(RaftRpc::Append(rpc), &option).await {
            Ok(RaftRpcReply::Append(r)) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected().into_rpc(entries)),
            Err(f) => Err(f.into_rpc(entries)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self.call(RaftRpc::Snapshot(rpc), &option).await {
            Ok(RaftRpcReply::Snapshot(r)) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected().into_rpc(0)),
            Err(f) => Err(f.into_rpc(0)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self.call(RaftRpc::Vote(rpc), &option).await {
            Ok(RaftRpcReply::Vote(r)) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(self.unexpected().into_rpc(0)),
            Err(f) => Err(f.into_rpc(0)),
        }
    }
}

/// Why a proposal was not applied.
#[derive(Debug)]
pub enum ProposeError {
    /// This node is not the leader (the one it knows, if any). Normally nothing was
    /// proposed; a leader deposed after appending the entry answers the same, and the entry
    /// may still commit under the next leader.
    NotLeader(Option<NodeId>),
    /// The batch is too large, the node's Raft stopped, or the outcome is unknown.
    Failed(ClusterError),
}

impl fmt::Display for ProposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProposeError::NotLeader(Some(l)) => write!(f, "not the leader (node {l} is)"),
            ProposeError::NotLeader(None) => f.write_str("not the leader (none known)"),
            ProposeError::Failed(e) => e.fmt(f),
        }
    }
}

/// Proposes one batch to the group through this node, which must be its leader: the reply
/// comes once the entry is committed (durable on a majority) and applied here.
pub async fn propose(raft: &Raft<TypeConfig>, batch: Batch) -> Result<BatchReply, ProposeError> {
    let size = encoder()
        .serialized_size(&batch)
        .map_err(|e| ProposeError::Failed(ClusterError::new(e)))?;
    if size > ENTRY_BYTES_MAX as u64 {
        return Err(ProposeError::Failed(ClusterError::new(format!(
            "a batch of {size} bytes is over the {ENTRY_BYTES_MAX}-byte entry limit"
        ))));
    }
    match raft.client_write(batch).await {
        Ok(written) => Ok(written.data),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            Err(ProposeError::NotLeader(f.leader_id))
        }
        Err(e) => Err(ProposeError::Failed(ClusterError::new(e))),
    }
}

/// Why a request forwarded to a leader did not succeed.
#[derive(Debug)]
pub enum ForwardError {
    /// The target is not the leader (it names the one it knows): nothing was proposed.
    NotLeader(Option<NodeId>),
    /// The target could not be reached at all: nothing was sent.
    Unreachable(String),
    /// The request may or may not have been carried out (timeout, broken connection,
    /// a failure on the leader): a write must not be retried blindly.
    Unknown(String),
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardError::NotLeader(Some(l)) => write!(f, "not the leader (node {l} is)"),
            ForwardError::NotLeader(None) => f.write_str("not the leader (none known)"),
            ForwardError::Unreachable(e) => write!(f, "leader unreachable: {e}"),
            ForwardError::Unknown(e) => write!(f, "forwarded request failed: {e}"),
        }
    }
}

async fn forward_call(
    client: &mut PeerClient,
    group: u32,
    rpc: RaftRpc,
    timeout: std::time::Duration,
) -> Result<RaftRpcReply, ForwardError> {
    let env = Envelope { group, rpc };
    let bytes = encoder()
        .serialize(&env)
        .map_err(|e| ForwardError::Unreachable(format!("encode: {e}")))?;
    if bytes.len() > FRAME_BYTES_MAX {
        return Err(ForwardError::Unreachable(format!(
            "a request of {} bytes is over the {FRAME_BYTES_MAX}-byte frame limit",
            bytes.len()
        )));
    }
    let reply = client.call(&bytes, timeout).await.map_err(|e| {
        if e.is_unreachable() {
            ForwardError::Unreachable(e.to_string())
        } else {
            ForwardError::Unknown(e.to_string())
        }
    })?;
    match decoder().deserialize::<RaftRpcReply>(&reply) {
        Ok(RaftRpcReply::Refused(why)) => Err(ForwardError::Unknown(why)),
        Ok(r) => Ok(r),
        Err(e) => Err(ForwardError::Unknown(format!("undecodable reply: {e}"))),
    }
}

fn refused(r: Refusal) -> ForwardError {
    match r {
        Refusal::NotLeader(l) => ForwardError::NotLeader(l),
        Refusal::Failed(e) => ForwardError::Unknown(e),
    }
}

/// Sends `batch` to the group's leader over `client` for it to propose; the reply comes once
/// the entry is committed and applied on the leader (the caller then waits for its own
/// replica to apply it).
pub async fn forward_batch(
    client: &mut PeerClient,
    group: u32,
    batch: Batch,
    timeout: std::time::Duration,
) -> Result<BatchReply, ForwardError> {
    match forward_call(client, group, RaftRpc::Forward(batch), timeout).await? {
        RaftRpcReply::Forward(r) => r.map_err(refused),
        _ => Err(ForwardError::Unknown("a reply of the wrong kind".into())),
    }
}

/// Asks the group's leader for a read index: once this node has applied up to it, a read
/// here sees every write completed before the call.
pub async fn forward_read_index(
    client: &mut PeerClient,
    group: u32,
    timeout: std::time::Duration,
) -> Result<u64, ForwardError> {
    match forward_call(client, group, RaftRpc::ReadIndex, timeout).await? {
        RaftRpcReply::ReadIndex(r) => r.map_err(refused),
        _ => Err(ForwardError::Unknown("a reply of the wrong kind".into())),
    }
}

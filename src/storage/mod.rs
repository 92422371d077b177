//! Object bytes behind one interface, [`DataStore`], chosen once at boot: `local` keeps them
//! in O_DIRECT data files named by internal id (never by key), the gateway backends in an
//! AWS S3, GCS or Azure bucket.

pub mod cache;
pub mod gateway;
pub mod local;
pub mod local_store;

use crate::error::S3Result;
use crate::http::response::BodyStream;
use crate::meta::types::{Checksums, DataLoc, ObjectMeta};
use futures::future::LocalBoxFuture;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a write's bytes belong.
#[derive(Clone, Copy)]
pub enum WriteTo<'a> {
    /// A new version of `bucket/key`; `inline` lets a small payload of declared length live
    /// in the record instead (where the store keeps records' bytes at all).
    Object {
        bucket: &'a str,
        key: &'a str,
        inline: bool,
    },
    /// Part `part_number` of an upload of `bucket/key`.
    Part {
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
        part_number: u32,
    },
}

/// What a fully read and verified payload was.
pub struct Verified {
    pub len: u64,
    pub md5: [u8; 16],
    pub checksums: Checksums,
}

/// A payload that checks itself once read to its end (digests, signature, checksums).
pub trait Payload: ByteSource {
    /// The length announced up front, if any.
    fn declared_len(&self) -> Option<u64>;
    /// Verifies everything read and returns the digests. Reads nothing more; call once.
    fn finish(&mut self) -> S3Result<Verified>;
}

/// A payload written and verified: where its bytes are, and what the commit needs.
pub struct Stored {
    pub data: DataLoc,
    pub verified: Verified,
    /// A directory to fsync with the commit that names the data.
    pub sync_dir: Option<PathBuf>,
    /// Bytes written to local data files with O_DIRECT.
    pub direct_bytes: u64,
}

/// Why stored bytes are read.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ReadFor {
    /// A GET response: data found gone means the record is stale (`Ok(None)`: read it again).
    Response,
    /// A copy source: data found gone is SlowDown (SDKs retry).
    Copy,
}

/// Per-key turns a store needs its callers to hold (dropped to release).
pub type Turns = Vec<crate::runtime::key_lock::KeyGuard>;

/// Object bytes: written from a [`Payload`], read as a [`BodyStream`], freed after the
/// records that name them are gone. One implementation is chosen at boot.
pub trait DataStore: Send + Sync {
    /// Stores a payload of at most `len_max` bytes (EntityTooLarge past it). Nothing is
    /// referenced until a commit names the result; on any error nothing is left behind.
    fn write<'a>(
        &'a self,
        to: WriteTo<'a>,
        src: &'a mut dyn Payload,
        len_max: u64,
    ) -> LocalBoxFuture<'a, S3Result<Stored>>;

    /// Opens bytes `[start, end)` of `bucket/key` stored as `data` (not inline) of an object
    /// of `size` bytes. `Ok(None)`: the data was replaced meanwhile (for a response only).
    fn open<'a>(
        &'a self,
        object: (&'a str, &'a str),
        data: &'a DataLoc,
        range: (u64, u64),
        size: u64,
        purpose: ReadFor,
    ) -> LocalBoxFuture<'a, S3Result<Option<Box<dyn BodyStream>>>>;

    /// Whether every byte of `[start, end)` of `data` is on this node (cluster mode: object
    /// bytes stay where they were received). A store that does not keep files says yes.
    fn holds_locally(&self, _data: &DataLoc, _range: (u64, u64)) -> bool {
        true
    }

    /// Frees the data of `bucket/key` a commit no longer references (off the request path).
    fn free(&self, bucket: &str, key: &str, ids: Vec<u128>);

    /// Frees local data files named by id alone (the parts of reaped uploads).
    fn free_files(&self, ids: Vec<u128>);

    /// Whether a copy of an inline object may stay inline.
    fn keeps_inline(&self) -> bool;

    /// Whether write conditions must be checked before the bytes are written (a store that
    /// writes a key's bytes in place cannot undo them at commit time).
    fn checks_before_write(&self) -> bool;

    /// A whole-object copy inside the store, without reading the bytes back; None when it
    /// cannot do one for `m` (then the caller copies through a stream).
    fn copy_whole<'a>(
        &'a self,
        src: (&'a str, &'a str),
        m: &'a ObjectMeta,
        dst: (&'a str, &'a str),
    ) -> LocalBoxFuture<'a, S3Result<Option<DataLoc>>>;

    /// For a store that assembles an upload's parts itself: the version the completed
    /// object's data will have (None: completion is a metadata operation only).
    fn assembled_version(&self, upload_id: &str) -> Option<u128>;

    /// Assembles the chosen (part number, length) of an upload into `bucket/key`.
    fn assemble<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
        parts: Vec<(u32, u64)>,
    ) -> LocalBoxFuture<'a, S3Result<()>>;

    /// Whether [`DataStore::discard_parts`] needs the upload's part numbers.
    fn discards_parts(&self) -> bool;

    /// Discards an upload's staged parts (after its record is gone); failures are logged.
    fn discard_parts<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
        part_numbers: Vec<u32>,
    ) -> LocalBoxFuture<'a, ()>;

    /// The turn a writer of `lock_name` in `bucket` holds from before its write to after
    /// its commit.
    fn write_turn<'a>(
        &'a self,
        bucket: &'a str,
        lock_name: &'a str,
    ) -> LocalBoxFuture<'a, S3Result<Turns>>;

    /// The turn a GET holds from reading the record to opening the data.
    fn read_turn<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> LocalBoxFuture<'a, S3Result<Turns>>;

    /// The turns of a copy from `src` (read) to `dst` (written), deadlock-free.
    fn copy_turns<'a>(
        &'a self,
        src: (&'a str, &'a str),
        dst: (&'a str, &'a str),
    ) -> LocalBoxFuture<'a, S3Result<Turns>>;

    /// The turns of a batch delete of `keys` in `bucket`.
    fn delete_turns<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> LocalBoxFuture<'a, S3Result<Turns>>;
}

/// The store the configuration asks for: the gateway's when one was started, else local.
pub fn choose_store(
    gateway: Option<Arc<gateway::bridge::Gateway>>,
    data_dir: PathBuf,
    inline_bytes_max: u64,
) -> Arc<dyn DataStore> {
    let local = local_store::LocalStore::new(data_dir, inline_bytes_max);
    match gateway {
        Some(gw) => Arc::new(gateway::store::GatewayStore::new(gw, local)),
        None => Arc::new(local),
    }
}

/// Where a writer pulls payload from (the decoded, hashed request body).
pub trait ByteSource {
    /// Reads payload into `dst`; 0 means the end.
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>>;
}

/// A response-style chunk stream read as a `ByteSource` (a spooled file fed upstream).
pub struct StreamSource {
    stream: Box<dyn crate::http::response::BodyStream>,
    pending: Option<(crate::http::response::Chunk, usize)>,
}

impl StreamSource {
    pub fn new(stream: Box<dyn crate::http::response::BodyStream>) -> StreamSource {
        StreamSource {
            stream,
            pending: None,
        }
    }

    async fn read_into(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        if self.pending.is_none() {
            match self.stream.next_chunk().await {
                Ok(Some(c)) => self.pending = Some((c, 0)),
                Ok(None) => return Ok(0),
                Err(e) => return Err(crate::error::S3Error::internal_error(&e)),
            }
        }
        let Some((chunk, off)) = self.pending.as_mut() else {
            return Ok(0);
        };
        let n = (chunk.len() - *off).min(dst.len());
        dst[..n].copy_from_slice(&chunk[*off..*off + n]);
        *off += n;
        if *off == chunk.len() {
            self.pending = None;
        }
        Ok(n)
    }
}

impl ByteSource for StreamSource {
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>> {
        Box::pin(self.read_into(dst))
    }
}

//! Cluster mode: object bytes read through the cluster, from whichever node holds an intact
//! copy (this node's first). Each 1 MiB chunk of a data file is fetched whole
//! (`ClusterNode::read_data`, which skips copies failing the chunk's CRC32C) and checked
//! against the CRC32C its record carries before any of it is sent, so a corrupt or short
//! copy is skipped or an error, never wrong bytes. It also takes over a local read whose
//! copy turns out corrupt ([`FallbackStream`]).

use crate::cluster::node::ClusterNode;
use crate::error::{S3Error, S3Result};
use crate::http::response::{BodyStream, Chunk};
use crate::meta::types::Segment;
use crate::storage::local::IO_CHUNK_BYTES;
use futures::future::LocalBoxFuture;
use std::sync::Arc;

// One chunk is one peer read.
const _: () = assert!(IO_CHUNK_BYTES as u64 <= crate::cluster::network::DATA_READ_BYTES_MAX as u64);

/// Bytes `[start, end)` of an object stored as `segs`, read chunk by chunk through the
/// cluster.
pub struct RemoteStream {
    node: &'static Arc<ClusterNode>,
    segs: Vec<Segment>,
    pos: u64,
    end: u64,
    /// The first chunk, read before the answer's headers go out.
    first: Option<Vec<u8>>,
}

impl RemoteStream {
    /// Opens the range and reads its first chunk now: a node that cannot reach the data
    /// answers an error instead of headers.
    pub async fn open(
        node: &'static Arc<ClusterNode>,
        segs: &[Segment],
        (start, end): (u64, u64),
    ) -> S3Result<RemoteStream> {
        let mut s = RemoteStream {
            node,
            segs: segs.to_vec(),
            pos: start,
            end,
            first: None,
        };
        if start < end {
            s.first = Some(s.read_next().await?);
        }
        Ok(s)
    }

    /// The bytes from `pos` to the end of its chunk (or of the range), checked.
    async fn read_next(&mut self) -> S3Result<Vec<u8>> {
        let mut seg_start = 0u64;
        let seg = self
            .segs
            .iter()
            .find(|s| {
                let found = self.pos < seg_start + s.len;
                if !found {
                    seg_start += s.len;
                }
                found
            })
            .ok_or_else(|| S3Error::internal("range past the object's segments"))?;
        let within = self.pos - seg_start;
        let index = within / IO_CHUNK_BYTES as u64;
        let chunk_start = index * IO_CHUNK_BYTES as u64;
        let chunk_len = (seg.len - chunk_start).min(IO_CHUNK_BYTES as u64);
        let Some(want) = seg.chunk_crc32c.get(index as usize).copied() else {
            return Err(S3Error::checksum_mismatch(format!(
                "data file {:032x} chunk {index}: no CRC32C recorded",
                seg.file_id
            )));
        };
        // The first copy that matches the record's CRC32C, wherever it is (checked there).
        let bytes = self
            .node
            .read_data(seg.file_id, chunk_start, chunk_len as u32, Some(want))
            .await?;
        let from = (within - chunk_start) as usize;
        let to = (chunk_len.min(self.end - seg_start - chunk_start)) as usize;
        let out = bytes[from..to].to_vec();
        self.pos += out.len() as u64;
        Ok(out)
    }
}

impl BodyStream for RemoteStream {
    fn next_chunk(&mut self) -> LocalBoxFuture<'_, std::io::Result<Option<Chunk>>> {
        Box::pin(async move {
            if let Some(first) = self.first.take() {
                return Ok(Some(Box::new(first) as Chunk));
            }
            if self.pos >= self.end {
                return Ok(None);
            }
            match self.read_next().await {
                Ok(bytes) => Ok(Some(Box::new(bytes) as Chunk)),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            }
        })
    }
}

/// A local read in cluster mode that, when a chunk of this node's copy fails its CRC32C,
/// goes on from the same byte through the cluster ([`RemoteStream`], which skips the corrupt
/// copy), so a client gets intact bytes while another node holds them.
pub struct FallbackStream {
    local: Box<dyn BodyStream>,
    remote: Option<RemoteStream>,
    node: &'static Arc<ClusterNode>,
    segs: Vec<Segment>,
    pos: u64,
    end: u64,
}

impl FallbackStream {
    pub fn new(
        local: Box<dyn BodyStream>,
        node: &'static Arc<ClusterNode>,
        segs: &[Segment],
        (start, end): (u64, u64),
    ) -> FallbackStream {
        FallbackStream {
            local,
            remote: None,
            node,
            segs: segs.to_vec(),
            pos: start,
            end,
        }
    }
}

impl BodyStream for FallbackStream {
    fn next_chunk(&mut self) -> LocalBoxFuture<'_, std::io::Result<Option<Chunk>>> {
        Box::pin(async move {
            if let Some(remote) = &mut self.remote {
                return remote.next_chunk().await;
            }
            match self.local.next_chunk().await {
                Ok(Some(chunk)) => {
                    self.pos += chunk.len() as u64;
                    Ok(Some(chunk))
                }
                Ok(None) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData && self.pos < self.end => {
                    tracing::warn!(
                        "local copy corrupt at byte {} of the range: reading on through the \
                         cluster",
                        self.pos
                    );
                    let remote = RemoteStream::open(self.node, &self.segs, (self.pos, self.end))
                        .await
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                    self.remote.insert(remote).next_chunk().await
                }
                Err(e) => Err(e),
            }
        })
    }
}

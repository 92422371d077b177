//! Cluster mode over the local store: every data file a write or a copy makes here is copied
//! to other nodes (`cluster::replica`) before the write returns, so the commit that names it
//! only ever names bytes a write quorum of nodes holds durably. Everything else is the local
//! store's; reads of files not here go through the cluster (`engine::remote`). Frees reach
//! every node's copies.

use crate::cluster::node::ClusterNode;
use crate::error::S3Result;
use crate::http::response::BodyStream;
use crate::meta::types::{DataLoc, ObjectMeta};
use crate::storage::{DataStore, Payload, ReadFor, Stored, Turns, WriteTo};
use futures::future::LocalBoxFuture;
use std::sync::Arc;

/// A store whose new data files get copies on other nodes.
pub struct ReplicatedStore {
    inner: Arc<dyn DataStore>,
    node: Arc<ClusterNode>,
}

impl ReplicatedStore {
    pub fn new(inner: Arc<dyn DataStore>, node: Arc<ClusterNode>) -> ReplicatedStore {
        ReplicatedStore { inner, node }
    }

    /// Copies each file of `data`; on failure frees them here (nothing names them yet).
    async fn replicate(&self, data: &DataLoc) -> S3Result<()> {
        let DataLoc::Files(segs) = data else {
            return Ok(());
        };
        for seg in segs {
            if let Err(e) = self.node.replicate(seg.file_id, seg.len).await {
                self.free_files(segs.iter().map(|s| s.file_id).collect());
                return Err(e);
            }
        }
        Ok(())
    }
}

impl DataStore for ReplicatedStore {
    fn write<'a>(
        &'a self,
        to: WriteTo<'a>,
        src: &'a mut dyn Payload,
        len_max: u64,
    ) -> LocalBoxFuture<'a, S3Result<Stored>> {
        Box::pin(async move {
            let stored = self.inner.write(to, src, len_max).await?;
            self.replicate(&stored.data).await?;
            Ok(stored)
        })
    }

    fn open<'a>(
        &'a self,
        object: (&'a str, &'a str),
        data: &'a DataLoc,
        range: (u64, u64),
        size: u64,
        purpose: ReadFor,
    ) -> LocalBoxFuture<'a, S3Result<Option<Box<dyn BodyStream>>>> {
        Box::pin(async move {
            let opened = self.inner.open(object, data, range, size, purpose).await;
            let (DataLoc::Files(segs), Some(node)) = (data, super::log::cluster()) else {
                return opened;
            };
            match opened {
                // A chunk found corrupt later is read on from another node's copy.
                Ok(Some(local)) => Ok(Some(Box::new(super::remote::FallbackStream::new(
                    local, node, segs, range,
                )) as Box<dyn BodyStream>)),
                // This node's copy is corrupt from the first chunk: another node's.
                Err(e) if e.fault() == Some(crate::error::Fault::Checksum) => {
                    tracing::warn!("local copy of {}/{} corrupt: {e}", object.0, object.1);
                    let remote = super::remote::RemoteStream::open(node, segs, range).await?;
                    Ok(Some(Box::new(remote) as Box<dyn BodyStream>))
                }
                other => other,
            }
        })
    }

    fn holds_locally(&self, data: &DataLoc, range: (u64, u64)) -> bool {
        self.inner.holds_locally(data, range)
    }

    /// Frees here and, in the background, the other nodes' copies: also files this node
    /// never held, which a command proposed here freed.
    fn free(&self, bucket: &str, key: &str, ids: Vec<u128>) {
        self.node.remove_copies(ids.clone());
        self.inner.free(bucket, key, ids)
    }

    fn free_files(&self, ids: Vec<u128>) {
        self.node.remove_copies(ids.clone());
        self.inner.free_files(ids)
    }

    fn keeps_inline(&self) -> bool {
        self.inner.keeps_inline()
    }

    fn checks_before_write(&self) -> bool {
        self.inner.checks_before_write()
    }

    fn copy_whole<'a>(
        &'a self,
        src: (&'a str, &'a str),
        m: &'a ObjectMeta,
        dst: (&'a str, &'a str),
    ) -> LocalBoxFuture<'a, S3Result<Option<DataLoc>>> {
        Box::pin(async move {
            let copied = self.inner.copy_whole(src, m, dst).await?;
            if let Some(data) = &copied {
                self.replicate(data).await?;
            }
            Ok(copied)
        })
    }

    fn assembled_version(&self, upload_id: &str) -> Option<u128> {
        self.inner.assembled_version(upload_id)
    }

    fn assemble<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
        parts: Vec<(u32, u64)>,
    ) -> LocalBoxFuture<'a, S3Result<()>> {
        self.inner.assemble(bucket, key, upload_id, parts)
    }

    fn discards_parts(&self) -> bool {
        self.inner.discards_parts()
    }

    fn discard_parts<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        upload_id: &'a str,
        part_numbers: Vec<u32>,
    ) -> LocalBoxFuture<'a, ()> {
        self.inner
            .discard_parts(bucket, key, upload_id, part_numbers)
    }

    fn write_turn<'a>(
        &'a self,
        bucket: &'a str,
        lock_name: &'a str,
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        self.inner.write_turn(bucket, lock_name)
    }

    fn read_turn<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        self.inner.read_turn(bucket, key)
    }

    fn copy_turns<'a>(
        &'a self,
        src: (&'a str, &'a str),
        dst: (&'a str, &'a str),
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        self.inner.copy_turns(src, dst)
    }

    fn delete_turns<'a>(
        &'a self,
        bucket: &'a str,
        keys: &'a [String],
    ) -> LocalBoxFuture<'a, S3Result<Turns>> {
        self.inner.delete_turns(bucket, keys)
    }
}

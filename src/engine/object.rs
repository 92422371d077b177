//! Objects: PutObject's write and commit, the bytes a GET answers with, object ACLs.

use super::log::submit_for_bucket;
use super::{now_ms, read, store};
use crate::error::{Fault, S3Error, S3Result};
use crate::http::response::{Body, SharedBytes};
use crate::meta::commands::{MetaCmd, WriteCond};
use crate::meta::types::{Acl, Checksums, DataLoc, ObjectLock, ObjectMeta, Tags, VersionStamp};
use crate::meta::versions::VersionSel;
use crate::storage::{Payload, ReadFor, Turns, WriteTo};
use std::rc::Rc;

/// The parts of a PUT / CreateMultipartUpload / CopyObject(REPLACE) that describe the object.
pub struct ObjectAttrs {
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub user_meta: crate::meta::types::UserMeta,
}

/// A PutObject, parsed.
pub struct PutObject<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub owner_id: String,
    pub attrs: ObjectAttrs,
    pub acl: Acl,
    pub cond: WriteCond,
    pub len_max: u64,
    /// x-amz-tagging, validated.
    pub tags: Tags,
}

/// What a stored object's response names.
pub struct PutDone {
    pub etag: String,
    pub checksums: Checksums,
    /// The version created, in a versioning bucket.
    pub version: Option<VersionStamp>,
}

/// Writes the payload, then commits it as the key's new version (the replaced version's
/// data is freed after the commit; the new data if the commit fails).
pub async fn put(p: PutObject<'_>, payload: &mut dyn Payload) -> S3Result<PutDone> {
    put_with_lock(p, payload, ObjectLock::default()).await
}

/// `put` of a version with the lock parameters `lock` (Object Lock headers); the bucket's
/// default retention applies in the commit when `lock` has no retention.
pub async fn put_with_lock(
    p: PutObject<'_>,
    payload: &mut dyn Payload,
    lock: ObjectLock,
) -> S3Result<PutDone> {
    let store = store();
    let _turn = store.write_turn(p.bucket, p.key).await?;
    if p.cond.if_none_match_any || p.cond.if_match.is_some() || store.checks_before_write() {
        // Fail fast before the body streams in; the commit checks again atomically.
        let existing = read::object(p.bucket, p.key).await?;
        p.cond.check(p.key, existing.as_ref())?;
    }
    let to = WriteTo::Object {
        bucket: p.bucket,
        key: p.key,
        inline: true,
    };
    let stored = store.write(to, payload, p.len_max).await?;
    crate::observe::metrics::direct_written(stored.direct_bytes);
    let verified = stored.verified;
    let meta = ObjectMeta {
        size: verified.len,
        etag: hex::encode(verified.md5),
        last_modified_ms: now_ms(),
        owner_id: p.owner_id,
        content_type: p.attrs.content_type,
        headers: p.attrs.headers,
        user_meta: p.attrs.user_meta,
        checksums: verified.checksums.clone(),
        acl: p.acl,
        data: stored.data,
        upload_id: None,
        version: super::versions::new_stamp(),
        tags: p.tags,
        lock,
    };
    let etag = meta.etag.clone();
    let version = commit(p.bucket, p.key, meta, p.cond, stored.sync_dir).await?;
    Ok(PutDone {
        etag,
        checksums: verified.checksums,
        version,
    })
}

/// Commits a new object version and frees the data it replaced (or, if the commit fails,
/// its own). Answers the version made, in a versioning bucket.
pub async fn commit(
    bucket: &str,
    key: &str,
    meta: ObjectMeta,
    cond: WriteCond,
    sync_dir: Option<std::path::PathBuf>,
) -> S3Result<Option<VersionStamp>> {
    let new_files = meta.file_ids();
    let cmd = MetaCmd::PutObject {
        bucket: bucket.to_string(),
        key: key.to_string(),
        meta,
        cond,
    };
    match submit_for_bucket(bucket, cmd, sync_dir.into_iter().collect()).await {
        Ok(reply) => {
            store().free(bucket, key, reply.freed);
            Ok(reply.version)
        }
        Err(e) => {
            store().free(bucket, key, new_files);
            Err(e)
        }
    }
}

/// The turn a GET of `bucket/key` holds from reading the record to opening the data.
pub async fn read_turn(bucket: &str, key: &str) -> S3Result<Turns> {
    let store = store();
    // Only a store that writes a key's bytes in place has turns to give; asking the others
    // would cost a boxed future per GET for nothing.
    if !store.checks_before_write() {
        return Ok(Turns::new());
    }
    store.read_turn(bucket, key).await
}

impl SharedBytes for ObjectMeta {
    /// An inline object's bytes (none for data kept elsewhere).
    fn shared_bytes(&self) -> &[u8] {
        match &self.data {
            DataLoc::Inline(b) => b,
            DataLoc::Files(_) | DataLoc::Upstream(_) => &[],
        }
    }
}

/// A GET's body, opened.
pub enum Opened {
    Body(Body),
    /// An empty range of stored (not inline) data: no body.
    Nothing,
    /// The data was replaced after the record was read: read the record again.
    Vanished,
}

/// Opens bytes `[start, end)` of object `bucket/key` described by `m`.
pub async fn open(
    bucket: &str,
    key: &str,
    m: &Rc<ObjectMeta>,
    (start, end): (u64, u64),
) -> S3Result<Opened> {
    if let DataLoc::Inline(_) = &m.data {
        // The record's own bytes, shared: no copy (the record may be the core's cached one).
        let range = start as usize..end as usize;
        return Body::shared(m.clone(), range)
            .map(Opened::Body)
            .ok_or_else(|| S3Error::corrupt("an inline object's range passes its bytes"));
    }
    if end <= start {
        return Ok(Opened::Nothing);
    }
    // Cluster mode: a range with a file that is not here is read through the cluster from
    // the node holding it (checked chunk by chunk), its first chunk before the headers.
    if let Some(node) = super::log::cluster() {
        if let DataLoc::Files(segs) = &m.data {
            if !store().holds_locally(&m.data, (start, end)) {
                return match super::remote::RemoteStream::open(node, segs, (start, end)).await {
                    Ok(stream) => Ok(Opened::Body(Body::Stream {
                        len: end - start,
                        stream: Box::new(stream),
                    })),
                    // No node holds it any more: the record was replaced meanwhile.
                    Err(e) if e.fault() == Some(Fault::Gone) => Ok(Opened::Vanished),
                    Err(e) => Err(e),
                };
            }
        }
    }
    let stream = store()
        .open(
            (bucket, key),
            &m.data,
            (start, end),
            m.size,
            ReadFor::Response,
        )
        .await?;
    Ok(match stream {
        Some(stream) => Opened::Body(Body::Stream {
            len: end - start,
            stream,
        }),
        // Replaced meanwhile, or (cluster mode) moved off this node by a repair pass: the
        // record read again says which, and where the bytes are now.
        None => Opened::Vanished,
    })
}

/// Replaces the ACL of one version of `bucket/key` (the current object when `version` is
/// None) in one commit; answers the version changed. A delete marker is MethodNotAllowed.
pub async fn set_acl(
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
    acl: Acl,
) -> S3Result<VersionStamp> {
    let cmd = MetaCmd::SetObjectAcl {
        bucket: bucket.to_string(),
        key: key.to_string(),
        acl,
        version,
    };
    let reply = submit_for_bucket(bucket, cmd, Vec::new()).await?;
    reply
        .version
        .ok_or_else(|| S3Error::internal("SetObjectAcl answered no version"))
}

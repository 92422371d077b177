//! Metadata writes as data. Every change to a shard is one `MetaCmd`: serializable, and
//! applied deterministically (timestamps and ids travel inside the command, nothing is read
//! from the clock or a RNG while applying). Today a batch of commands is applied and
//! committed locally by the shard's group committer; in cluster mode the same batch is what
//! a Raft leader (openraft) would append to its log and every replica would apply.

use super::lock::{self as lk, LockChange, LockCheck};
use super::tables::{self as t};
use super::types::{
    Acl, BucketMeta, Checksums, ConfigKind, DataLoc, ObjectMeta, PartMeta, Segment, Tags,
    UploadMeta, VersionStamp, Versioning,
};
use super::versions::{self as v, DeleteOutcome, VersionSel};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::hash::checksum::{self, Algo};
use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

/// Conditions a write is subject to, checked against the current record inside the commit.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WriteCond {
    /// `If-None-Match: *`: only if the key does not exist.
    pub if_none_match_any: bool,
    /// `If-Match`: only if the current ETag matches (header syntax, may list several).
    pub if_match: Option<String>,
}

impl WriteCond {
    /// Whether the write holds whatever the current record is (no If-Match / If-None-Match):
    /// then the commit need not look the record up before replacing it.
    pub fn is_none(&self) -> bool {
        !self.if_none_match_any && self.if_match.is_none()
    }

    pub fn check(&self, key: &str, existing: Option<&ObjectMeta>) -> S3Result<()> {
        if self.if_none_match_any && existing.is_some() {
            return Err(
                S3Error::new(ErrorCode::PreconditionFailed).with("Condition", "If-None-Match")
            );
        }
        if let Some(want) = &self.if_match {
            match existing {
                None => return Err(S3Error::no_such_key(key)),
                Some(m) if !etag_matches(want, &m.etag) => {
                    return Err(
                        S3Error::new(ErrorCode::PreconditionFailed).with("Condition", "If-Match")
                    )
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Compares a header ETag list (`"a", "b"`, or `*`) with a stored bare ETag.
pub fn etag_matches(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(|t| t.trim().trim_start_matches("W/").trim_matches('"'))
        .any(|t| t == "*" || t == etag)
}

// A command is built once and moved into the log: its size is not worth a box per write.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum MetaCmd {
    /// A new bucket with the configurations it is created with (object lock, ownership).
    CreateBucket {
        meta: BucketMeta,
        configs: Vec<(ConfigKind, Vec<u8>)>,
    },
    DeleteBucket {
        name: String,
    },
    SetBucketAcl {
        name: String,
        acl: Acl,
    },
    PutObject {
        bucket: String,
        key: String,
        meta: ObjectMeta,
        cond: WriteCond,
    },
    /// Replaces the ACL of one version (the current object when `version` is None).
    SetObjectAcl {
        bucket: String,
        key: String,
        acl: Acl,
        version: Option<VersionSel>,
    },
    DeleteObjects {
        bucket: String,
        keys: Vec<String>,
    },
    CreateUpload(UploadMeta),
    PutPart {
        bucket: String,
        key: String,
        upload_id: String,
        part_number: u32,
        part: PartMeta,
    },
    CompleteUpload(CompleteUpload),
    AbortUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    /// Drops uploads (expired ones, found by the reaper) with their parts.
    DropUploads {
        uploads: Vec<(String, String, String)>,
    },
    /// PutBucketVersioning (`Enabled` or `Suspended`).
    SetBucketVersioning {
        name: String,
        state: Versioning,
    },
    /// DeleteObject / DeleteObjects in any bucket state, with or without version ids.
    DeleteVersions(DeleteVersions),
    /// Replaces the tag set (empty: removes it) of one version (the current object when
    /// `version` is None).
    SetObjectTags {
        bucket: String,
        key: String,
        tags: Tags,
        version: Option<VersionSel>,
    },
    /// Replaces a bucket's tag set (empty: removes it).
    SetBucketTags {
        name: String,
        tags: Tags,
    },
    /// Sets (`Some`) or removes (`None`) one of a bucket's configurations.
    SetBucketConfig {
        name: String,
        kind: ConfigKind,
        value: Option<Vec<u8>>,
    },
    // ---- Object Lock (meta::lock) ----
    /// PutObjectLockConfiguration: stores the encoded `lock::LockConfig`; only on a bucket
    /// whose versioning is Enabled (InvalidBucketState otherwise), checked in the commit.
    SetObjectLockConfig {
        name: String,
        config: Vec<u8>,
    },
    /// PutObjectRetention / PutObjectLegalHold on one version (the current object when
    /// `version` is None), checked against the version's lock state in the commit.
    SetObjectLock {
        bucket: String,
        key: String,
        version: Option<VersionSel>,
        change: LockChange,
        check: LockCheck,
    },
    /// Removals a bucket's lifecycle rules selected, each re-checked against the record it
    /// names (`meta::lifecycle`).
    LifecycleExpire(LifecycleExpire),
    /// Reserves the version a CompleteMultipartUpload of `key` will make
    /// (`meta::versions::w_reserve_stamp`), before the store assembles its parts.
    ReserveVersion {
        bucket: String,
        key: String,
        proposal: u64,
    },
}

pub use super::lifecycle::{LifecycleAction, LifecycleExpire};

/// Deletes of keys or key versions (`meta::versions`). A target without a version removes
/// the object (unversioned bucket) or adds a delete marker (versioning bucket).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteVersions {
    pub bucket: String,
    pub targets: Vec<(String, Option<VersionSel>)>,
    pub owner_id: String,
    pub now_ms: u64,
    /// Proposed seq of a delete marker (raised past the key's newest version).
    pub seq: u64,
    /// `x-amz-bypass-governance-retention: true` from a caller allowed to bypass: versions
    /// under a GOVERNANCE retention may be removed (never COMPLIANCE or a legal hold).
    #[serde(default)]
    pub bypass_governance: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompleteUpload {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// (part number, ETag) as the client listed them, already checked to ascend.
    pub parts: Vec<(u32, String)>,
    pub part_size_min: u64,
    pub cond: WriteCond,
    pub now_ms: u64,
    /// The parts were assembled in a gateway's upstream: the object is `DataLoc::Upstream`.
    /// (Its upstream version; the segments carry it as their `file_id`.)
    #[serde(default)]
    pub upstream: Option<u128>,
    /// The whole object's checksum the client sent with Complete (`x-amz-checksum-*`):
    /// (algorithm name, value), checked against the one the parts make.
    #[serde(default)]
    pub expected_checksum: Option<(String, String)>,
    /// Per listed part (same order as `parts`), the checksums the client gave for it.
    #[serde(default)]
    pub part_checksums: Vec<Checksums>,
    /// The version the answer already named (`meta::versions::w_reserve_stamp`, reserved
    /// inside the key's write turn): the commit makes exactly this version or refuses,
    /// writing nothing.
    #[serde(default)]
    pub pinned: Option<VersionPin>,
}

impl CompleteUpload {
    /// The version seq the completed object proposes (the commit raises it past the key's
    /// newest version).
    pub fn seq_proposal(&self) -> u64 {
        self.now_ms << 16
    }
}

/// A version named before its commit: `version` None means "no version" (unversioned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionPin {
    pub version: Option<VersionStamp>,
}

/// What applying a command produced. `freed` lists data files no record names any more:
/// the caller deletes them once the commit is durable. Plain data (serde): in cluster mode
/// the replica that applied a batch sends its replies back to the proposer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MetaReply {
    pub freed: Vec<u128>,
    /// Per key, for DeleteObjects: whether a record was removed (in request order).
    pub per_key_freed: Vec<Vec<u128>>,
    /// For CompleteUpload: the object's ETag and checksums.
    pub etag: Option<String>,
    pub checksums: Option<Checksums>,
    /// For DeleteBucket: the uploads dropped with the bucket (their files are in `freed` of
    /// each entry, to be freed after the commit as an abort frees them).
    pub dropped_uploads: Vec<DroppedUpload>,
    /// For writes to a versioning bucket: the version written.
    pub version: Option<VersionStamp>,
    /// For DeleteVersions: per target, in request order.
    pub deleted: Vec<DeleteOutcome>,
}

/// An in-progress upload removed with its bucket.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DroppedUpload {
    pub key: String,
    pub upload_id: String,
    pub part_numbers: Vec<u32>,
    pub freed: Vec<u128>,
}

fn no_such_upload(id: &str) -> S3Error {
    S3Error::new(ErrorCode::NoSuchUpload).with("UploadId", id)
}

impl MetaCmd {
    /// Calls `f(bucket, key)` for every key whose records (current object, versions,
    /// uploads) this command may change, and returns true; false when it may change more:
    /// a bucket's record or configuration, or keys it does not name (lifecycle), which
    /// makes every cached read of the shard stale (`meta::shard`'s generations).
    pub fn keys_changed(&self, mut f: impl FnMut(&str, &str)) -> bool {
        match self {
            MetaCmd::PutObject { bucket, key, .. }
            | MetaCmd::SetObjectAcl { bucket, key, .. }
            | MetaCmd::PutPart { bucket, key, .. }
            | MetaCmd::AbortUpload { bucket, key, .. }
            | MetaCmd::SetObjectTags { bucket, key, .. }
            | MetaCmd::SetObjectLock { bucket, key, .. }
            | MetaCmd::ReserveVersion { bucket, key, .. } => f(bucket, key),
            MetaCmd::CreateUpload(u) => f(&u.bucket, &u.key),
            MetaCmd::CompleteUpload(c) => f(&c.bucket, &c.key),
            MetaCmd::DeleteObjects { bucket, keys } => keys.iter().for_each(|k| f(bucket, k)),
            MetaCmd::DeleteVersions(d) => d.targets.iter().for_each(|(k, _)| f(&d.bucket, k)),
            MetaCmd::DropUploads { uploads } => uploads.iter().for_each(|(b, k, _)| f(b, k)),
            MetaCmd::CreateBucket { .. }
            | MetaCmd::DeleteBucket { .. }
            | MetaCmd::SetBucketAcl { .. }
            | MetaCmd::SetBucketVersioning { .. }
            | MetaCmd::SetBucketTags { .. }
            | MetaCmd::SetBucketConfig { .. }
            | MetaCmd::SetObjectLockConfig { .. }
            | MetaCmd::LifecycleExpire(_) => return false,
        }
        true
    }

    /// Applies the command inside `txn`. Validation happens before any write, so an S3 error
    /// leaves the transaction as it was (only storage errors may leave it half-applied, and
    /// those abandon the whole batch).
    pub fn apply(self, txn: &WriteTransaction) -> S3Result<MetaReply> {
        let done = MetaReply::default();
        match self {
            MetaCmd::CreateBucket { mut meta, configs } => {
                if let Some(existing) = t::get_bucket(txn, &meta.name)? {
                    let code = if existing.owner_id == meta.owner_id {
                        ErrorCode::BucketAlreadyOwnedByYou
                    } else {
                        ErrorCode::BucketAlreadyExists
                    };
                    return Err(S3Error::new(code).with("BucketName", &meta.name));
                }
                meta.configs = 0;
                t::w_put_bucket(txn, &meta)?;
                for (kind, value) in configs {
                    t::w_set_bucket_config(txn, &meta.name, kind, Some(&value))?;
                }
                Ok(done)
            }
            MetaCmd::DeleteBucket { name } => {
                // In-progress uploads do not keep a bucket: they go with it, in this commit.
                let dropped_uploads = t::w_delete_bucket(txn, &name)?
                    .into_iter()
                    .map(|(u, parts)| DroppedUpload {
                        key: u.key,
                        upload_id: u.upload_id,
                        part_numbers: parts.iter().map(|(n, _)| *n).collect(),
                        freed: parts.iter().map(|(_, p)| p.file_id).collect(),
                    })
                    .collect();
                Ok(MetaReply {
                    dropped_uploads,
                    ..done
                })
            }
            MetaCmd::SetBucketAcl { name, acl } => {
                let mut meta = t::w_require_bucket(txn, &name)?;
                meta.acl = acl;
                t::w_put_bucket(txn, &meta).map(|_| done)
            }
            MetaCmd::PutObject {
                bucket,
                key,
                mut meta,
                cond,
            } => {
                let bm = t::w_require_bucket(txn, &bucket)?;
                let state = bm.versioning;
                lk::w_new_version(txn, &bm, &mut meta.lock, meta.last_modified_ms)?;
                if state != Versioning::Unversioned {
                    let check = |e: Option<&ObjectMeta>| cond.check(&key, e);
                    let (stamp, freed) =
                        v::w_install(txn, &bucket, &key, meta, state, false, check)?;
                    return Ok(MetaReply {
                        freed,
                        version: Some(stamp),
                        ..done
                    });
                }
                let keep = meta.file_ids();
                let old = if cond.is_none() {
                    // The replaced record comes back from the insert: one B-tree walk, not two.
                    t::w_put_object(txn, &bucket, &key, &meta)?
                } else {
                    t::w_replace_object(txn, &bucket, &key, &meta, |e| cond.check(&key, e))?
                };
                Ok(MetaReply {
                    freed: freed_by(old.as_ref(), &keep),
                    ..done
                })
            }
            MetaCmd::SetObjectAcl {
                bucket,
                key,
                acl,
                version,
            } => {
                let set = |m: &mut ObjectMeta| {
                    m.acl = acl;
                    Ok(())
                };
                edit_version(txn, &bucket, &key, version, set)
            }
            MetaCmd::DeleteObjects { bucket, keys } => {
                t::w_require_bucket(txn, &bucket)?;
                let mut per_key = Vec::with_capacity(keys.len());
                for k in &keys {
                    per_key.push(
                        t::w_delete_object(txn, &bucket, k)?
                            .map(|m| m.file_ids())
                            .unwrap_or_default(),
                    );
                }
                Ok(MetaReply {
                    per_key_freed: per_key,
                    ..done
                })
            }
            MetaCmd::CreateUpload(upload) => {
                t::w_require_bucket(txn, &upload.bucket)?;
                t::w_put_upload(txn, &upload).map(|_| done)
            }
            MetaCmd::PutPart {
                bucket,
                key,
                upload_id,
                part_number,
                part,
            } => {
                t::get_upload(txn, &bucket, &key, &upload_id)?
                    .ok_or_else(|| no_such_upload(&upload_id))?;
                let old = t::w_put_part(txn, &upload_id, part_number, &part)?;
                Ok(MetaReply {
                    freed: old.map(|p| vec![p.file_id]).unwrap_or_default(),
                    ..done
                })
            }
            MetaCmd::CompleteUpload(c) => complete(txn, c),
            MetaCmd::AbortUpload {
                bucket,
                key,
                upload_id,
            } => {
                let upload = t::get_upload(txn, &bucket, &key, &upload_id)?
                    .ok_or_else(|| no_such_upload(&upload_id))?;
                let freed = t::w_delete_upload(txn, &upload)?
                    .into_iter()
                    .map(|(_, p)| p.file_id)
                    .collect();
                Ok(MetaReply { freed, ..done })
            }
            MetaCmd::SetBucketVersioning { name, state } => {
                let mut meta = t::w_require_bucket(txn, &name)?;
                if state != Versioning::Enabled && lk::bucket_config(txn, &meta)?.is_some() {
                    return Err(S3Error::msg(
                        ErrorCode::InvalidBucketState,
                        "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
                    ));
                }
                meta.versioning = state;
                t::w_put_bucket(txn, &meta).map(|_| done)
            }
            MetaCmd::DeleteVersions(d) => delete_versions(txn, d),
            MetaCmd::DropUploads { uploads } => {
                let mut freed = Vec::new();
                for (b, k, u) in &uploads {
                    if let Some(upload) = t::get_upload(txn, b, k, u)? {
                        freed.extend(
                            t::w_delete_upload(txn, &upload)?
                                .into_iter()
                                .map(|(_, p)| p.file_id),
                        );
                    }
                }
                Ok(MetaReply { freed, ..done })
            }
            MetaCmd::SetObjectTags {
                bucket,
                key,
                tags,
                version,
            } => {
                let set = |m: &mut ObjectMeta| {
                    m.tags = tags;
                    Ok(())
                };
                edit_version(txn, &bucket, &key, version, set)
            }
            MetaCmd::SetBucketTags { name, tags } => {
                let mut meta = t::w_require_bucket(txn, &name)?;
                meta.tags = tags;
                t::w_put_bucket(txn, &meta).map(|_| done)
            }
            MetaCmd::SetBucketConfig { name, kind, value } => {
                t::w_set_bucket_config(txn, &name, kind, value.as_deref()).map(|_| done)
            }
            MetaCmd::SetObjectLockConfig { name, config } => {
                let meta = t::w_require_bucket(txn, &name)?;
                if meta.versioning != Versioning::Enabled {
                    return Err(S3Error::msg(
                        ErrorCode::InvalidBucketState,
                        "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration",
                    ));
                }
                let kind = ConfigKind::ObjectLock;
                t::w_set_bucket_config(txn, &name, kind, Some(&config)).map(|_| done)
            }
            MetaCmd::SetObjectLock {
                bucket,
                key,
                version,
                change,
                check,
            } => {
                let bm = t::w_require_bucket(txn, &bucket)?;
                if lk::bucket_config(txn, &bm)?.is_none_or(|c| !c.enabled) {
                    return Err(lk::missing_config());
                }
                let f = |m: &mut ObjectMeta| change.apply_to(&mut m.lock, check);
                let stamp = v::w_update_version(txn, &bucket, &key, version, f)?;
                Ok(MetaReply {
                    version: Some(stamp),
                    ..done
                })
            }
            MetaCmd::LifecycleExpire(x) => super::lifecycle::apply(txn, x),
            MetaCmd::ReserveVersion {
                bucket,
                key,
                proposal,
            } => Ok(MetaReply {
                version: v::w_reserve_stamp(txn, &bucket, &key, proposal)?,
                ..done
            }),
        }
    }
}

/// Edits one version's record in place (`v::w_update_version`), in an existing bucket;
/// the reply names the version changed.
fn edit_version(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
    f: impl FnOnce(&mut ObjectMeta) -> S3Result<()>,
) -> S3Result<MetaReply> {
    t::w_require_bucket(txn, bucket)?;
    let stamp = v::w_update_version(txn, bucket, key, version, f)?;
    Ok(MetaReply {
        version: Some(stamp),
        ..Default::default()
    })
}

/// Files of `old` that the new record does not reuse.
fn freed_by(old: Option<&ObjectMeta>, keep: &[u128]) -> Vec<u128> {
    old.map(|o| {
        o.file_ids()
            .into_iter()
            .filter(|id| !keep.contains(id))
            .collect()
    })
    .unwrap_or_default()
}

/// Deletes each target as the bucket's versioning state says (see `DeleteVersions`).
fn delete_versions(txn: &WriteTransaction, d: DeleteVersions) -> S3Result<MetaReply> {
    let state = v::w_bucket_versioning(txn, &d.bucket)?;
    let mut deleted = Vec::with_capacity(d.targets.len());
    let check = LockCheck {
        now_ms: d.now_ms,
        bypass_governance: d.bypass_governance,
    };
    for (key, sel) in &d.targets {
        let outcome = match (sel, state) {
            // A locked version is refused before anything of it is written: that target
            // answers AccessDenied, the others go on (DeleteObjects' per-key errors).
            (Some(sel), _) => match v::w_delete_version(txn, &d.bucket, key, *sel, check) {
                Err(e) if e.code == ErrorCode::AccessDenied => DeleteOutcome {
                    refused: Some(e),
                    ..Default::default()
                },
                other => other?,
            },
            (None, Versioning::Unversioned) => DeleteOutcome {
                freed: t::w_delete_object(txn, &d.bucket, key)?
                    .map(|m| m.file_ids())
                    .unwrap_or_default(),
                ..Default::default()
            },
            (None, _) => {
                let when = (d.now_ms, d.seq);
                v::w_add_marker(txn, &d.bucket, key, state, &d.owner_id, when)?
            }
        };
        deleted.push(outcome);
    }
    Ok(MetaReply {
        deleted,
        ..Default::default()
    })
}

fn complete(txn: &WriteTransaction, c: CompleteUpload) -> S3Result<MetaReply> {
    let state = v::w_bucket_versioning(txn, &c.bucket)?;
    let Some(upload) = t::get_upload(txn, &c.bucket, &c.key, &c.upload_id)? else {
        // A retried Complete after success answers as the first one did.
        return match t::get_object(txn, &c.bucket, &c.key)? {
            Some(o) if o.upload_id.as_deref() == Some(c.upload_id.as_str()) => Ok(MetaReply {
                etag: Some(o.etag),
                checksums: Some(o.checksums),
                ..Default::default()
            }),
            _ => Err(no_such_upload(&c.upload_id)),
        };
    };
    let stored = t::w_all_parts(txn, &c.upload_id)?;
    let mut meta = assemble(&upload, &stored, &c)?;
    let bm = t::w_require_bucket(txn, &c.bucket)?;
    lk::w_new_version(txn, &bm, &mut meta.lock, c.now_ms)?;
    if let Some(pin) = c.pinned {
        // Checked before the first write: a refusal leaves the batch clean.
        if !v::pin_holds(txn, &c.bucket, &c.key, pin.version)? {
            return Err(S3Error::msg(
                ErrorCode::InternalError,
                "The object's versioning changed while the upload completed; please retry.",
            ));
        }
        if let Some(stamp) = pin.version {
            meta.version.seq = stamp.seq;
        }
    }
    let reserved = c.pinned.is_some();
    let (etag, checksums) = (meta.etag.clone(), meta.checksums.clone());
    let used = meta.file_ids();
    let (version, old_freed) = if state == Versioning::Unversioned {
        let existing = t::get_object(txn, &c.bucket, &c.key)?;
        c.cond.check(&c.key, existing.as_ref())?;
        let old = t::w_put_object(txn, &c.bucket, &c.key, &meta)?;
        (None, freed_by(old.as_ref(), &used))
    } else {
        let check = |e: Option<&ObjectMeta>| c.cond.check(&c.key, e);
        let (stamp, freed) = v::w_install(txn, &c.bucket, &c.key, meta, state, reserved, check)?;
        (Some(stamp), freed)
    };
    let removed = t::w_delete_upload(txn, &upload)?;
    let mut freed: Vec<u128> = removed
        .iter()
        .map(|(_, p)| p.file_id)
        .filter(|id| !used.contains(id))
        .collect();
    freed.extend(old_freed);
    Ok(MetaReply {
        freed,
        etag: Some(etag),
        checksums: Some(checksums),
        version,
        ..Default::default()
    })
}

/// The multipart ETag: MD5 of the concatenated binary part MD5s, then `-N`.
///
/// Every part ETag was computed here as a hex MD5 when the part was stored, so one that does
/// not decode to 16 bytes is a corrupt record: refused, never skipped (skipping would give
/// the object a wrong ETag).
pub fn multipart_etag(part_etags: &[&str]) -> S3Result<String> {
    let mut h = crate::hash::md5::Md5::new();
    for e in part_etags {
        let bytes = match hex::decode(e) {
            Ok(b) if b.len() == 16 => b,
            _ => {
                debug_assert!(false, "stored part ETag {e:?} is not a hex MD5");
                return Err(S3Error::corrupt(format!(
                    "stored part ETag {e:?} is not a hex MD5"
                )));
            }
        };
        h.update(&bytes);
    }
    Ok(format!(
        "{}-{}",
        hex::encode(h.finalize()),
        part_etags.len()
    ))
}

/// A composite checksum: the algorithm over the concatenated binary part checksums.
fn composite_checksum(algo: Algo, parts: &[&PartMeta]) -> Option<String> {
    use base64::Engine;
    let raw: Option<Vec<Vec<u8>>> = parts
        .iter()
        .map(|p| {
            let v = p.checksums.get(algo)?;
            base64::engine::general_purpose::STANDARD.decode(v).ok()
        })
        .collect();
    Some(checksum::digest_b64(algo, raw?.iter().map(Vec::as_slice)))
}

/// The completed object's checksum: a composite of the parts' checksums (`value-N`), or for
/// a FULL_OBJECT upload the parts' CRCs combined into the CRC of the whole object. Checked
/// against the value the client sent with Complete, if any.
fn object_checksums(
    upload: &UploadMeta,
    chosen: &[&PartMeta],
    c: &CompleteUpload,
) -> S3Result<Checksums> {
    let full = upload.full_object_checksum();
    let mut checksums = Checksums {
        composite_parts: if full { 0 } else { chosen.len() as u32 },
        ..Default::default()
    };
    let algo = upload.checksum_algo_name().and_then(Algo::parse);
    if let Some(algo) = algo {
        let value = if full {
            let pieces: Option<Vec<(&str, u64)>> = chosen
                .iter()
                .map(|p| p.checksums.get(algo).map(|v| (v.as_str(), p.size)))
                .collect();
            pieces.and_then(|p| checksum::combine_full_object(algo, &p))
        } else {
            composite_checksum(algo, chosen)
        };
        if let Some(v) = value {
            checksums.set(algo, v);
        }
    }
    if let Some((name, want)) = &c.expected_checksum {
        let Some(got) = algo
            .filter(|a| a.name() == name)
            .and_then(|a| checksums.get(a))
        else {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                format!(
                    "The upload was created using {} checksum algorithm, but the complete request carries a {name} checksum.",
                    upload.checksum_algo_name().unwrap_or("no")
                ),
            ));
        };
        // A composite value may be sent with its `-N` suffix.
        let want_bare = match want.rsplit_once('-') {
            Some((v, n)) if !full && n.parse::<u32>().is_ok() => v,
            _ => want.as_str(),
        };
        if want_bare != got {
            return Err(S3Error::msg(
                ErrorCode::BadDigest,
                format!("The {name} you specified did not match the calculated checksum."),
            ));
        }
    }
    Ok(checksums)
}

/// Validates the client's part list against the stored parts and builds the object record.
pub fn assemble(
    upload: &UploadMeta,
    stored: &[(u32, PartMeta)],
    c: &CompleteUpload,
) -> S3Result<ObjectMeta> {
    let mut chosen: Vec<&PartMeta> = Vec::with_capacity(c.parts.len());
    for (i, (number, etag)) in c.parts.iter().enumerate() {
        let found = stored
            .binary_search_by_key(number, |(n, _)| *n)
            .ok()
            .map(|idx| &stored[idx].1)
            .filter(|p| p.etag == etag.trim_matches('"'))
            .ok_or_else(|| {
                S3Error::new(ErrorCode::InvalidPart)
                    .with("UploadId", &upload.upload_id)
                    .with("PartNumber", number.to_string())
                    .with("ETag", etag)
            })?;
        // A part checksum the client listed must be the one stored for the part.
        if let Some(given) = c.part_checksums.get(i) {
            for a in checksum::ALL_ALGOS {
                let (want, have) = (given.get(a), found.checksums.get(a));
                if want.is_some() && want != have {
                    return Err(S3Error::new(ErrorCode::InvalidPart)
                        .with("UploadId", &upload.upload_id)
                        .with("PartNumber", number.to_string())
                        .with("ETag", etag));
                }
            }
        }
        let last = i + 1 == c.parts.len();
        if !last && found.size < c.part_size_min {
            return Err(S3Error::new(ErrorCode::EntityTooSmall)
                .with("ProposedSize", found.size.to_string())
                .with("MinSizeAllowed", c.part_size_min.to_string())
                .with("PartNumber", number.to_string())
                .with("ETag", etag));
        }
        chosen.push(found);
    }
    let etags: Vec<&str> = chosen.iter().map(|p| p.etag.as_str()).collect();
    let checksums = object_checksums(upload, &chosen, c)?;
    let segments: Vec<Segment> = chosen
        .iter()
        .map(|p| Segment {
            file_id: p.file_id,
            len: p.size,
            part_etag: Some(p.etag.clone()),
            chunk_crc32c: p.chunk_crc32c.clone(),
        })
        .collect();
    let size: u64 = chosen.iter().map(|p| p.size).sum();
    // Before the record commits: one segment per listed part, and together they are the
    // object (reads plan byte ranges over the segments end to end).
    assert_eq!(segments.len(), c.parts.len());
    assert_eq!(segments.iter().map(|s| s.len).sum::<u64>(), size);
    Ok(ObjectMeta {
        size,
        etag: multipart_etag(&etags)?,
        last_modified_ms: c.now_ms,
        owner_id: upload.owner_id.clone(),
        content_type: upload.content_type.clone(),
        headers: upload.headers.clone(),
        user_meta: upload.user_meta.clone(),
        checksums,
        acl: upload.acl.clone(),
        data: match c.upstream {
            Some(version) => DataLoc::Upstream(
                segments
                    .into_iter()
                    .map(|s| Segment {
                        file_id: version,
                        ..s
                    })
                    .collect(),
            ),
            None => DataLoc::Files(segments),
        },
        upload_id: Some(upload.upload_id.clone()),
        version: VersionStamp {
            seq: c.seq_proposal(),
            null: true,
        },
        tags: upload.tags.clone(),
        lock: upload.lock.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_serialize_for_a_log() {
        let cmd = MetaCmd::DeleteObjects {
            bucket: "b".into(),
            keys: vec!["k".into()],
        };
        let bytes = bincode::serialize(&cmd).unwrap();
        let back: MetaCmd = bincode::deserialize(&bytes).unwrap();
        assert!(
            matches!(back, MetaCmd::DeleteObjects { ref keys, .. } if keys == &["k".to_string()])
        );
    }

    fn apply(db: &redb::Database, cmd: MetaCmd) -> S3Result<MetaReply> {
        let txn = db.begin_write().unwrap();
        let r = cmd.apply(&txn);
        if r.is_ok() {
            txn.commit().unwrap();
        }
        r
    }

    /// CreateMultipartUpload of `key` in `bucket` by "o", nothing else asked for.
    fn create_upload(bucket: &str, key: &str, upload_id: &str) -> MetaCmd {
        MetaCmd::CreateUpload(UploadMeta {
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
            initiated_ms: 1,
            owner_id: "o".into(),
            content_type: String::new(),
            headers: vec![],
            user_meta: vec![],
            acl: crate::meta::types::Acl::default(),
            checksum_algorithm: None,
            tags: vec![],
            lock: Default::default(),
        })
    }

    /// A database holding one bucket, owned by "o", with versioning enabled.
    fn versioned_bucket(name: &str) -> (tempfile::TempDir, redb::Database) {
        let (dir, db) = t::test_db();
        let create = MetaCmd::CreateBucket {
            meta: crate::meta::types::BucketMeta::test_new(name, "o"),
            configs: vec![],
        };
        apply(&db, create).unwrap();
        let enable = MetaCmd::SetBucketVersioning {
            name: name.into(),
            state: Versioning::Enabled,
        };
        apply(&db, enable).unwrap();
        (dir, db)
    }

    /// PutObject of `key` proposing `seq`; answers the seq of the version made.
    fn put_version(db: &redb::Database, key: &str, seq: u64) -> u64 {
        let mut meta = ObjectMeta::test_empty("o");
        meta.version.seq = seq;
        let put = MetaCmd::PutObject {
            bucket: "b".into(),
            key: key.into(),
            meta,
            cond: WriteCond::default(),
        };
        apply(db, put).unwrap().version.unwrap().seq
    }

    #[test]
    fn version_ids_are_unique_across_keys() {
        let (_dir, db) = versioned_bucket("b");
        let mut seqs = Vec::new();
        // One DeleteObjects proposes one seq for the markers of all its keys.
        let delete = MetaCmd::DeleteVersions(DeleteVersions {
            bucket: "b".into(),
            targets: vec![("x".into(), None), ("y".into(), None), ("z".into(), None)],
            owner_id: "o".into(),
            now_ms: 1,
            seq: 10 << 16,
            bypass_governance: false,
        });
        let deleted = apply(&db, delete).unwrap().deleted;
        assert!(deleted.iter().all(|d| d.delete_marker));
        seqs.extend(deleted.iter().map(|d| d.version.unwrap().seq));
        // Two writes of "a" committing in the opposite order of their proposals: the later
        // one is raised past the key's newest, onto another key's proposal.
        seqs.push(put_version(&db, "a", (20 << 16) + 1));
        seqs.push(put_version(&db, "a", 20 << 16));
        seqs.push(put_version(&db, "b", (20 << 16) + 2));
        let mut unique = seqs.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seqs.len(), "{seqs:?}");
        // Each key's versions still ascend in commit order.
        assert!(seqs[4] > seqs[3]);
    }

    #[test]
    fn a_pinned_completion_makes_the_named_version_or_nothing() {
        let (_dir, db) = versioned_bucket("b");
        apply(&db, create_upload("b", "k", "u")).unwrap();
        let etag = "0123456789abcdef0123456789abcdef".to_string();
        let part = MetaCmd::PutPart {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "u".into(),
            part_number: 1,
            part: PartMeta {
                size: 1,
                etag: etag.clone(),
                last_modified_ms: 1,
                file_id: 7,
                checksums: Checksums::default(),
                chunk_crc32c: vec![],
            },
        };
        apply(&db, part).unwrap();
        let complete = |pinned| {
            MetaCmd::CompleteUpload(CompleteUpload {
                bucket: "b".into(),
                key: "k".into(),
                upload_id: "u".into(),
                parts: vec![(1, etag.clone())],
                part_size_min: 5 << 20,
                cond: WriteCond::default(),
                now_ms: 5,
                upstream: None,
                expected_checksum: None,
                part_checksums: vec![],
                pinned,
            })
        };
        let predict = || {
            let reserve = MetaCmd::ReserveVersion {
                bucket: "b".into(),
                key: "k".into(),
                proposal: 5 << 16,
            };
            apply(&db, reserve).unwrap().version
        };
        let stale = predict().expect("a versioned bucket names a version");
        // Another writer of the key commits in between: the named version is no longer
        // the one the commit would make, so it refuses and writes nothing.
        let mut meta = ObjectMeta::test_empty("o");
        meta.version.seq = 9 << 16;
        let put = MetaCmd::PutObject {
            bucket: "b".into(),
            key: "k".into(),
            meta,
            cond: WriteCond::default(),
        };
        let other = apply(&db, put).unwrap().version.unwrap();
        let refused = apply(
            &db,
            complete(Some(VersionPin {
                version: Some(stale),
            })),
        );
        let e = refused.expect_err("a stale pin is refused");
        assert_eq!(e.code, ErrorCode::InternalError);
        assert!(!e.poisons_transaction());
        {
            let txn = db.begin_read().unwrap();
            assert!(t::get_upload(&txn, "b", "k", "u").unwrap().is_some());
            let cur = t::get_object(&txn, "b", "k").unwrap().unwrap();
            assert_eq!(cur.version, other);
        }
        let fresh = predict();
        assert!(fresh.unwrap().seq > other.seq);
        let done = apply(&db, complete(Some(VersionPin { version: fresh }))).unwrap();
        assert_eq!(done.version, fresh);
        let txn = db.begin_read().unwrap();
        assert_eq!(
            t::get_object(&txn, "b", "k").unwrap().unwrap().version,
            fresh.unwrap()
        );
        assert!(t::get_upload(&txn, "b", "k", "u").unwrap().is_none());
    }

    #[test]
    fn delete_bucket_drops_its_uploads_in_the_same_commit() {
        use crate::meta::types::BucketMeta;
        let (_dir, db) = t::test_db();
        let bucket = |name: &str| MetaCmd::CreateBucket {
            meta: BucketMeta::test_new(name, "o"),
            configs: vec![],
        };
        let upload = create_upload;
        let part = |b: &str, key: &str, id: &str, n: u32, file_id: u128| MetaCmd::PutPart {
            bucket: b.into(),
            key: key.into(),
            upload_id: id.into(),
            part_number: n,
            part: PartMeta {
                size: 1,
                etag: "e".into(),
                last_modified_ms: 1,
                file_id,
                checksums: Checksums::default(),
                chunk_crc32c: vec![],
            },
        };
        for cmd in [
            bucket("a"),
            bucket("ab"),
            upload("a", "k", "u1"),
            upload("a", "k2", "u2"),
            upload("ab", "k", "u3"),
            part("a", "k", "u1", 1, 11),
            part("a", "k", "u1", 2, 12),
            part("ab", "k", "u3", 1, 31),
        ] {
            apply(&db, cmd).unwrap();
        }
        let reply = apply(&db, MetaCmd::DeleteBucket { name: "a".into() }).unwrap();
        let mut dropped: Vec<_> = reply
            .dropped_uploads
            .iter()
            .map(|d| (d.key.as_str(), d.upload_id.as_str(), d.freed.clone()))
            .collect();
        dropped.sort();
        assert_eq!(
            dropped,
            vec![("k", "u1", vec![11, 12]), ("k2", "u2", vec![])]
        );
        let txn = db.begin_read().unwrap();
        assert!(t::get_bucket(&txn, "a").unwrap().is_none());
        assert!(t::get_upload(&txn, "a", "k", "u1").unwrap().is_none());
        assert!(t::list_parts(&txn, "u1", 0, 10).unwrap().0.is_empty());
        // The neighbour bucket ("ab" sorts right after "a") keeps its upload and part.
        assert!(t::get_upload(&txn, "ab", "k", "u3").unwrap().is_some());
        assert_eq!(t::list_parts(&txn, "u3", 0, 10).unwrap().0.len(), 1);
        drop(txn);
        // Objects still make a bucket non-empty, and the refusal drops nothing.
        apply(&db, upload("ab", "k2", "u4")).unwrap();
        let obj = MetaCmd::PutObject {
            bucket: "ab".into(),
            key: "o".into(),
            meta: ObjectMeta::test_empty("o"),
            cond: WriteCond::default(),
        };
        apply(&db, obj).unwrap();
        let err = apply(&db, MetaCmd::DeleteBucket { name: "ab".into() }).unwrap_err();
        assert_eq!(err.code, ErrorCode::BucketNotEmpty);
        let txn = db.begin_read().unwrap();
        assert!(t::get_upload(&txn, "ab", "k2", "u4").unwrap().is_some());
        assert_eq!(t::list_parts(&txn, "u3", 0, 10).unwrap().0.len(), 1);
    }

    #[test]
    fn multipart_etag_matches_aws_formula() {
        use md5::{Digest, Md5};
        let a = "0cc175b9c0f1b6a831c399e269772661";
        let b = "92eb5ffee6ae2fec3ad71c777531578f";
        let mut h = Md5::new();
        h.update(hex::decode(a).unwrap());
        h.update(hex::decode(b).unwrap());
        assert_eq!(
            multipart_etag(&[a, b]).unwrap(),
            format!("{}-2", hex::encode(h.finalize()))
        );
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn undecodable_part_etag_is_refused_not_skipped() {
        let a = "0cc175b9c0f1b6a831c399e269772661";
        for bad in ["zz", "0cc175b9", ""] {
            let e = multipart_etag(&[a, bad]).unwrap_err();
            assert_eq!(e.code, ErrorCode::InternalError);
            assert!(e.poisons_transaction());
        }
    }

    #[test]
    fn etag_lists_match() {
        assert!(etag_matches("\"abc\"", "abc"));
        assert!(etag_matches("\"x\", \"abc\"", "abc"));
        assert!(etag_matches("*", "abc"));
        assert!(!etag_matches("\"abd\"", "abc"));
    }

    #[test]
    fn tags_are_set_in_one_command() {
        let (_dir, db) = t::test_db();
        let tags = vec![("k".to_string(), "v".to_string())];
        let set_obj = |key: &str, tags: &Tags| MetaCmd::SetObjectTags {
            bucket: "b".into(),
            key: key.into(),
            tags: tags.clone(),
            version: None,
        };
        let err = apply(&db, set_obj("o", &tags)).unwrap_err();
        assert_eq!(err.code, ErrorCode::NoSuchBucket);
        apply(
            &db,
            MetaCmd::CreateBucket {
                meta: BucketMeta::test_new("b", "o"),
                configs: vec![],
            },
        )
        .unwrap();
        let err = apply(&db, set_obj("o", &tags)).unwrap_err();
        assert_eq!(err.code, ErrorCode::NoSuchKey);
        let meta = ObjectMeta::test_empty("o");
        let put = MetaCmd::PutObject {
            bucket: "b".into(),
            key: "o".into(),
            meta,
            cond: WriteCond::default(),
        };
        apply(&db, put).unwrap();
        apply(&db, set_obj("o", &tags)).unwrap();
        let bucket_tags = MetaCmd::SetBucketTags {
            name: "b".into(),
            tags: tags.clone(),
        };
        apply(&db, bucket_tags).unwrap();
        let txn = db.begin_read().unwrap();
        let o = t::get_object(&txn, "b", "o").unwrap().unwrap();
        assert_eq!((o.tags, o.etag.as_str()), (tags.clone(), "e"));
        assert_eq!(t::get_bucket(&txn, "b").unwrap().unwrap().tags, tags);
        drop(txn);
        apply(&db, set_obj("o", &vec![])).unwrap();
        let txn = db.begin_read().unwrap();
        assert!(t::get_object(&txn, "b", "o")
            .unwrap()
            .unwrap()
            .tags
            .is_empty());
    }

    #[test]
    fn tags_and_acls_of_a_noncurrent_version_change_in_place() {
        use crate::meta::types::{Grant, Grantee, Permission, VersionRecord};
        let (_dir, db) = versioned_bucket("b");
        let put = |etag: &str, seq: u64| {
            let mut meta = ObjectMeta::test_empty("o");
            meta.etag = etag.into();
            meta.version.seq = seq;
            let cmd = MetaCmd::PutObject {
                bucket: "b".into(),
                key: "k".into(),
                meta,
                cond: WriteCond::default(),
            };
            apply(&db, cmd).unwrap().version.unwrap()
        };
        let v1 = put("one", 10 << 16);
        let v2 = put("two", 20 << 16);
        let sel1 = Some(VersionSel::Seq(v1.seq));
        let tags = vec![("t".to_string(), "1".to_string())];
        let set_tags = |version| MetaCmd::SetObjectTags {
            bucket: "b".into(),
            key: "k".into(),
            tags: tags.clone(),
            version,
        };
        assert_eq!(apply(&db, set_tags(sel1)).unwrap().version, Some(v1));
        let acl = Acl {
            grants: vec![Grant {
                grantee: Grantee::AllUsers,
                permission: Permission::Read,
            }],
        };
        let set_acl = |version| MetaCmd::SetObjectAcl {
            bucket: "b".into(),
            key: "k".into(),
            acl: acl.clone(),
            version,
        };
        assert_eq!(apply(&db, set_acl(sel1)).unwrap().version, Some(v1));
        let txn = db.begin_read().unwrap();
        let Some((VersionRecord::Object(old), false)) =
            v::find_version(&txn, "b", "k", VersionSel::Seq(v1.seq)).unwrap()
        else {
            panic!("v1 stays a noncurrent object version");
        };
        assert_eq!(
            (old.tags, old.acl, old.etag.as_str()),
            (tags.clone(), acl.clone(), "one")
        );
        let cur = t::get_object(&txn, "b", "k").unwrap().unwrap();
        assert_eq!((cur.version, cur.tags.len()), (v2, 0));
        assert_eq!(cur.acl, Acl::default());
        drop(txn);
        // A delete marker has neither: 405; an unknown version: NoSuchVersion.
        let delete = MetaCmd::DeleteVersions(DeleteVersions {
            bucket: "b".into(),
            targets: vec![("k".into(), None)],
            owner_id: "o".into(),
            now_ms: 1,
            seq: 30 << 16,
            bypass_governance: false,
        });
        let marker = apply(&db, delete).unwrap().deleted[0].version.unwrap();
        let by_marker = Some(VersionSel::Seq(marker.seq));
        let code = |cmd| apply(&db, cmd).unwrap_err().code;
        assert_eq!(code(set_tags(by_marker)), ErrorCode::MethodNotAllowed);
        assert_eq!(code(set_acl(by_marker)), ErrorCode::MethodNotAllowed);
        assert_eq!(code(set_tags(None)), ErrorCode::MethodNotAllowed);
        let unknown = Some(VersionSel::Seq(5));
        assert_eq!(code(set_acl(unknown)), ErrorCode::NoSuchVersion);
    }

    #[test]
    fn bucket_configs_are_rows_flagged_in_the_bucket_record_and_go_with_it() {
        let (_dir, db) = t::test_db();
        let create = MetaCmd::CreateBucket {
            meta: BucketMeta::test_new("b", "o"),
            configs: vec![(ConfigKind::ObjectLock, b"lock".to_vec())],
        };
        apply(&db, create).unwrap();
        let set = |kind, value: Option<&[u8]>| MetaCmd::SetBucketConfig {
            name: "b".into(),
            kind,
            value: value.map(|v| v.to_vec()),
        };
        apply(&db, set(ConfigKind::Cors, Some(b"cors"))).unwrap();
        let read = |kind| {
            let txn = db.begin_read().unwrap();
            let b = t::get_bucket(&txn, "b").unwrap().unwrap();
            let row = t::get_bucket_config(&txn, "b", kind).unwrap();
            (b.has_config(kind), row)
        };
        assert_eq!(read(ConfigKind::ObjectLock), (true, Some(b"lock".to_vec())));
        assert_eq!(read(ConfigKind::Cors), (true, Some(b"cors".to_vec())));
        assert_eq!(read(ConfigKind::Policy), (false, None));
        apply(&db, set(ConfigKind::Cors, None)).unwrap();
        assert_eq!(read(ConfigKind::Cors), (false, None));
        let missing = apply(&db, set(ConfigKind::Cors, Some(b"x"))).map(|_| ());
        assert!(missing.is_ok());
        let other = MetaCmd::SetBucketConfig {
            name: "nope".into(),
            kind: ConfigKind::Cors,
            value: Some(vec![1]),
        };
        let err = apply(&db, other).unwrap_err();
        assert_eq!(err.code, ErrorCode::NoSuchBucket);
        apply(&db, MetaCmd::DeleteBucket { name: "b".into() }).unwrap();
        let recreate = MetaCmd::CreateBucket {
            meta: BucketMeta::test_new("b", "o"),
            configs: vec![],
        };
        apply(&db, recreate).unwrap();
        assert_eq!(read(ConfigKind::ObjectLock), (false, None));
        assert_eq!(read(ConfigKind::Cors), (false, None));
    }

    #[test]
    fn object_lock_is_enforced_in_the_commands() {
        use crate::meta::lock::{DefaultRetention, LockConfig, Period};
        use crate::meta::types::{encode, LockMode, ObjectLock, Retention};
        let (_dir, db) = t::test_db();
        // A plain bucket: lock parameters and lock configurations are refused.
        let plain = MetaCmd::CreateBucket {
            meta: BucketMeta::test_new("p", "o"),
            configs: vec![],
        };
        apply(&db, plain).unwrap();
        let retained = |until_ms| ObjectLock {
            retention: Some(Retention {
                mode: LockMode::Governance,
                until_ms,
            }),
            legal_hold: Default::default(),
        };
        let put = |bucket: &str, key: &str, lock: ObjectLock, now: u64| MetaCmd::PutObject {
            bucket: bucket.into(),
            key: key.into(),
            meta: ObjectMeta {
                lock,
                last_modified_ms: now,
                version: VersionStamp {
                    seq: now,
                    null: true,
                },
                ..ObjectMeta::test_empty("o")
            },
            cond: WriteCond::default(),
        };
        let err = apply(&db, put("p", "k", retained(100), 10)).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        let config = |default| LockConfig {
            enabled: true,
            default,
        };
        let set_config = |name: &str, c: &LockConfig| MetaCmd::SetObjectLockConfig {
            name: name.into(),
            config: encode(c),
        };
        let err = apply(&db, set_config("p", &config(None))).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidBucketState);
        // A lock bucket (versioning Enabled, as CreateBucket with the header makes it).
        let mut meta = BucketMeta::test_new("b", "o");
        meta.versioning = Versioning::Enabled;
        let lock_bucket = MetaCmd::CreateBucket {
            meta,
            configs: vec![(ConfigKind::ObjectLock, encode(&config(None)))],
        };
        apply(&db, lock_bucket).unwrap();
        let suspend = MetaCmd::SetBucketVersioning {
            name: "b".into(),
            state: Versioning::Suspended,
        };
        assert_eq!(
            apply(&db, suspend).unwrap_err().code,
            ErrorCode::InvalidBucketState
        );
        let v1 = apply(&db, put("b", "k", retained(100), 10))
            .unwrap()
            .version
            .unwrap();
        let v2 = apply(&db, put("b", "k", ObjectLock::default(), 20))
            .unwrap()
            .version
            .unwrap();
        let delete = |sel: VersionSel, now_ms: u64, bypass_governance: bool| {
            MetaCmd::DeleteVersions(DeleteVersions {
                bucket: "b".into(),
                targets: vec![("k".into(), Some(sel))],
                owner_id: "o".into(),
                now_ms,
                seq: now_ms,
                bypass_governance,
            })
        };
        let sel1 = VersionSel::Seq(v1.seq);
        let reply = apply(&db, delete(sel1, 50, false)).unwrap();
        assert_eq!(
            reply.deleted[0].refused.as_ref().unwrap().code,
            ErrorCode::AccessDenied
        );
        assert_eq!(reply.deleted[0].version, None);
        // A legal hold on the noncurrent version, by version id; never bypassed.
        let hold = |on: bool| MetaCmd::SetObjectLock {
            bucket: "b".into(),
            key: "k".into(),
            version: Some(sel1),
            change: LockChange::LegalHold(on),
            check: LockCheck {
                now_ms: 50,
                bypass_governance: false,
            },
        };
        assert_eq!(apply(&db, hold(true)).unwrap().version, Some(v1));
        let reply = apply(&db, delete(sel1, 200, true)).unwrap();
        assert!(reply.deleted[0].refused.is_some());
        apply(&db, hold(false)).unwrap();
        // Shortening GOVERNANCE needs the bypass.
        let shorten = |bypass_governance| MetaCmd::SetObjectLock {
            bucket: "b".into(),
            key: "k".into(),
            version: Some(sel1),
            change: LockChange::Retention(retained(60).retention),
            check: LockCheck {
                now_ms: 50,
                bypass_governance,
            },
        };
        assert_eq!(
            apply(&db, shorten(false)).unwrap_err().code,
            ErrorCode::AccessDenied
        );
        apply(&db, shorten(true)).unwrap();
        // With the bypass, or once expired, the version goes.
        let reply = apply(&db, delete(sel1, 55, true)).unwrap();
        assert_eq!(reply.deleted[0].version, Some(v1));
        assert!(reply.deleted[0].refused.is_none());
        // The bucket's default retention is given to new versions without their own.
        let default = DefaultRetention {
            mode: LockMode::Compliance,
            period: Period::Days(1),
        };
        apply(&db, set_config("b", &config(Some(default)))).unwrap();
        apply(&db, put("b", "d", ObjectLock::default(), 1_000)).unwrap();
        apply(&db, put("b", "e", retained(5_000), 1_000)).unwrap();
        let txn = db.begin_read().unwrap();
        let d = t::get_object(&txn, "b", "d").unwrap().unwrap();
        assert_eq!(
            d.lock.retention,
            Some(Retention {
                mode: LockMode::Compliance,
                until_ms: 1_000 + crate::meta::lock::DAY_MS
            })
        );
        let e = t::get_object(&txn, "b", "e").unwrap().unwrap();
        assert_eq!(e.lock, retained(5_000));
        let cur = t::get_object(&txn, "b", "k").unwrap().unwrap();
        assert_eq!(cur.version, v2);
    }
}

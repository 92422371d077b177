//! The lifecycle worker's removals as one command (`MetaCmd::LifecycleExpire`). The worker
//! selects versions from a read snapshot; each action names the exact version it selected,
//! and applying it re-checks that against the records of this transaction: a version that
//! changed since (a new PUT, a delete, a version that became current again) or that is under
//! retention or legal hold is skipped (a default `DeleteOutcome`), never removed.

use super::lock::LockCheck;
use super::tables::{self as t, dec, ie, Tables, VERSIONS};
use super::types::{ObjectLock, VersionRecord, VersionStamp, Versioning};
use super::versions::{self as v, DeleteOutcome, VersionSel};
use crate::error::S3Result;
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LifecycleExpire {
    pub bucket: String,
    pub actions: Vec<LifecycleAction>,
    pub now_ms: u64,
    /// Proposed seq of the delete markers added (raised past each key's newest version).
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleAction {
    /// Expiration of the current object, if it is still the version `stamp` with `etag`:
    /// removed (unversioned bucket) or hidden by a new delete marker (versioning bucket).
    ExpireCurrent {
        key: String,
        stamp: VersionStamp,
        etag: String,
    },
    /// NoncurrentVersionExpiration: removes the version or delete marker `stamp` if it is
    /// still noncurrent.
    RemoveNoncurrent { key: String, stamp: VersionStamp },
    /// ExpiredObjectDeleteMarker: removes the delete marker `stamp` if it is still the key's
    /// only version.
    RemoveSoleMarker { key: String, stamp: VersionStamp },
}

impl LifecycleAction {
    pub fn key(&self) -> &str {
        match self {
            LifecycleAction::ExpireCurrent { key, .. }
            | LifecycleAction::RemoveNoncurrent { key, .. }
            | LifecycleAction::RemoveSoleMarker { key, .. } => key,
        }
    }
}

fn sel_of(stamp: VersionStamp) -> VersionSel {
    if stamp.null {
        VersionSel::Null
    } else {
        VersionSel::Seq(stamp.seq)
    }
}

/// Whether a version's lock forbids removing it now (lifecycle never bypasses governance).
/// Lifecycle never bypasses a retention: a version Object Lock protects stays.
fn check(now_ms: u64) -> LockCheck {
    LockCheck {
        now_ms,
        bypass_governance: false,
    }
}

fn locked(lock: &ObjectLock, now_ms: u64) -> bool {
    super::lock::deletion_refused(lock, check(now_ms)).is_some()
}

/// Applies each action, re-checked; the reply's `deleted` has one outcome per action, in
/// order (a default outcome: skipped).
pub fn apply(txn: &WriteTransaction, x: LifecycleExpire) -> S3Result<super::commands::MetaReply> {
    let state = v::w_bucket_versioning(txn, &x.bucket)?;
    let owner = t::get_bucket(txn, &x.bucket)?
        .map(|b| b.owner_id)
        .unwrap_or_default();
    let mut deleted = Vec::with_capacity(x.actions.len());
    for a in &x.actions {
        deleted.push(apply_one(txn, &x, a, state, &owner)?);
    }
    Ok(super::commands::MetaReply {
        deleted,
        ..Default::default()
    })
}

fn apply_one(
    txn: &WriteTransaction,
    x: &LifecycleExpire,
    a: &LifecycleAction,
    state: Versioning,
    owner: &str,
) -> S3Result<DeleteOutcome> {
    let b = x.bucket.as_str();
    let skip = Ok(DeleteOutcome::default());
    match a {
        LifecycleAction::ExpireCurrent { key, stamp, etag } => {
            let Some(cur) = t::get_object(txn, b, key)? else {
                return skip;
            };
            if cur.version != *stamp || cur.etag != *etag {
                return skip;
            }
            // A versioning bucket only gains a delete marker, which Object Lock allows (the
            // protected version stays, noncurrent), as AWS's lifecycle does.
            if state == Versioning::Unversioned {
                if locked(&cur.lock, x.now_ms) {
                    return skip;
                }
                let freed = t::w_delete_object(txn, b, key)?
                    .map(|m| m.file_ids())
                    .unwrap_or_default();
                return Ok(DeleteOutcome {
                    freed,
                    version: Some(*stamp),
                    delete_marker: false,
                    refused: None,
                });
            }
            v::w_add_marker(txn, b, key, state, owner, (x.now_ms, x.seq))
        }
        LifecycleAction::RemoveNoncurrent { key, stamp } => {
            match v::find_version(txn, b, key, sel_of(*stamp))? {
                Some((VersionRecord::Object(m), false))
                    if m.version == *stamp && !locked(&m.lock, x.now_ms) => {}
                Some((VersionRecord::Marker(d), false)) if d.version == *stamp => {}
                _ => return skip,
            }
            v::w_delete_version(txn, b, key, sel_of(*stamp), check(x.now_ms))
        }
        LifecycleAction::RemoveSoleMarker { key, stamp } => {
            if t::get_object(txn, b, key)?.is_some() {
                return skip;
            }
            let table = txn.table(VERSIONS)?;
            let mut only = None;
            for (n, item) in table
                .range((b, key.as_str(), 0u64)..=(b, key.as_str(), u64::MAX))
                .map_err(ie)?
                .enumerate()
            {
                if n > 0 {
                    return skip;
                }
                let r: VersionRecord = dec(item.map_err(ie)?.1.value())?;
                only = Some(r);
            }
            drop(table);
            match only {
                Some(VersionRecord::Marker(m)) if m.version == *stamp => {
                    v::w_delete_version(txn, b, key, sel_of(*stamp), check(x.now_ms))
                }
                _ => skip,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::commands::{DeleteVersions, MetaCmd, MetaReply, WriteCond};
    use crate::meta::types::{BucketMeta, ObjectMeta, Retention};

    fn db() -> (tempfile::TempDir, redb::Database) {
        t::test_db()
    }

    fn run(db: &redb::Database, cmd: MetaCmd) -> MetaReply {
        let txn = db.begin_write().unwrap();
        let r = cmd.apply(&txn).unwrap();
        txn.commit().unwrap();
        r
    }

    fn put(db: &redb::Database, key: &str, etag: &str, seq: u64) -> VersionStamp {
        let mut meta = ObjectMeta::test_empty("o");
        meta.etag = etag.into();
        meta.version.seq = seq;
        let _ = run(
            db,
            MetaCmd::PutObject {
                bucket: "b".into(),
                key: key.into(),
                meta,
                cond: WriteCond::default(),
            },
        );
        let txn = db.begin_read().unwrap();
        t::get_object(&txn, "b", key).unwrap().unwrap().version
    }

    fn expire(db: &redb::Database, actions: Vec<LifecycleAction>) -> Vec<bool> {
        run(
            db,
            MetaCmd::LifecycleExpire(LifecycleExpire {
                bucket: "b".into(),
                actions,
                now_ms: 1_000_000,
                seq: 1_000_000 << 16,
            }),
        )
        .deleted
        .iter()
        .map(|o| o.version.is_some())
        .collect()
    }

    #[test]
    fn each_action_is_rechecked_inside_the_commit() {
        let (_d, db) = db();
        run(
            &db,
            MetaCmd::CreateBucket {
                meta: BucketMeta::test_new("b", "o"),
                configs: vec![],
            },
        );
        // unversioned: a replaced object (other etag) is not expired; the selected one is
        let s = put(&db, "k", "e1", 0);
        let stale = LifecycleAction::ExpireCurrent {
            key: "k".into(),
            stamp: s,
            etag: "e0".into(),
        };
        let live = LifecycleAction::ExpireCurrent {
            key: "k".into(),
            stamp: s,
            etag: "e1".into(),
        };
        assert_eq!(expire(&db, vec![stale]), vec![false]);
        assert_eq!(expire(&db, vec![live.clone()]), vec![true]);
        assert_eq!(expire(&db, vec![live]), vec![false]); // idempotent
                                                          // versioned: expiration adds a marker; noncurrent removal only while noncurrent
        run(
            &db,
            MetaCmd::SetBucketVersioning {
                name: "b".into(),
                state: Versioning::Enabled,
            },
        );
        let v1 = put(&db, "v", "a", 10 << 16);
        let v2 = put(&db, "v", "b", 20 << 16);
        let current_v2 = LifecycleAction::RemoveNoncurrent {
            key: "v".into(),
            stamp: v2,
        };
        assert_eq!(expire(&db, vec![current_v2]), vec![false]);
        let out = run(
            &db,
            MetaCmd::LifecycleExpire(LifecycleExpire {
                bucket: "b".into(),
                actions: vec![LifecycleAction::ExpireCurrent {
                    key: "v".into(),
                    stamp: v2,
                    etag: "b".into(),
                }],
                now_ms: 1,
                seq: 30 << 16,
            }),
        );
        assert!(out.deleted[0].delete_marker);
        let marker = out.deleted[0].version.unwrap();
        // a locked noncurrent version stays
        {
            let txn = db.begin_write().unwrap();
            let (r, _) = v::find_version(&txn, "b", "v", sel_of(v1))
                .unwrap()
                .unwrap();
            let VersionRecord::Object(mut m) = r else {
                panic!()
            };
            m.lock.retention = Some(Retention {
                mode: crate::meta::types::LockMode::Compliance,
                until_ms: u64::MAX,
            });
            // rewrite v1 with its retention
            v::w_delete_version(&txn, "b", "v", sel_of(v1), check(0)).unwrap();
            let bytes = crate::meta::types::encode(&VersionRecord::Object(m));
            txn.open_table(VERSIONS)
                .unwrap()
                .insert(("b", "v", v::order_of(v1.seq)), bytes.as_slice())
                .unwrap();
            drop(txn.open_table(VERSIONS).unwrap());
            txn.commit().unwrap();
        }
        let nc = |s| LifecycleAction::RemoveNoncurrent {
            key: "v".into(),
            stamp: s,
        };
        assert_eq!(expire(&db, vec![nc(v1), nc(v2)]), vec![false, true]);
        // the marker is not the only version (v1 remains): kept
        let sole = LifecycleAction::RemoveSoleMarker {
            key: "v".into(),
            stamp: marker,
        };
        assert_eq!(expire(&db, vec![sole.clone()]), vec![false]);
        // a key whose only version is a marker: removed
        let _ = run(
            &db,
            MetaCmd::DeleteVersions(DeleteVersions {
                bucket: "b".into(),
                targets: vec![("m".into(), None)],
                owner_id: "o".into(),
                now_ms: 5,
                seq: 40 << 16,
                bypass_governance: false,
            }),
        );
        let txn = db.begin_read().unwrap();
        let m = v::latest_marker(&txn, "b", "m").unwrap().unwrap();
        drop(txn);
        let sole_m = LifecycleAction::RemoveSoleMarker {
            key: "m".into(),
            stamp: m.version,
        };
        assert_eq!(expire(&db, vec![sole_m]), vec![true]);
        let txn = db.begin_read().unwrap();
        assert!(v::latest_marker(&txn, "b", "m").unwrap().is_none());
    }

    #[test]
    fn noncurrent_markers_are_removed_only_while_noncurrent() {
        let (_d, db) = db();
        let create = MetaCmd::CreateBucket {
            meta: BucketMeta::test_new("b", "o"),
            configs: vec![],
        };
        let enable = MetaCmd::SetBucketVersioning {
            name: "b".into(),
            state: Versioning::Enabled,
        };
        for cmd in [create, enable] {
            run(&db, cmd);
        }
        put(&db, "k", "a", 10 << 16);
        let delete = MetaCmd::DeleteVersions(DeleteVersions {
            bucket: "b".into(),
            targets: vec![("k".into(), None)],
            owner_id: "o".into(),
            now_ms: 5,
            seq: 20 << 16,
            bypass_governance: false,
        });
        let marker = run(&db, delete).deleted[0].version.unwrap();
        let remove = LifecycleAction::RemoveNoncurrent {
            key: "k".into(),
            stamp: marker,
        };
        // The marker is the key's newest version: not noncurrent, kept.
        assert_eq!(expire(&db, vec![remove.clone()]), vec![false]);
        put(&db, "k", "b", 30 << 16);
        assert_eq!(expire(&db, vec![remove.clone()]), vec![true]);
        assert_eq!(expire(&db, vec![remove]), vec![false]); // idempotent
        let txn = db.begin_read().unwrap();
        assert!(v::find_version(&txn, "b", "k", sel_of(marker))
            .unwrap()
            .is_none());
        assert_eq!(t::get_object(&txn, "b", "k").unwrap().unwrap().etag, "b");
    }

    #[test]
    fn the_command_serializes_for_a_log() {
        let cmd = MetaCmd::LifecycleExpire(LifecycleExpire {
            bucket: "b".into(),
            actions: vec![LifecycleAction::RemoveSoleMarker {
                key: "k".into(),
                stamp: VersionStamp::NULL,
            }],
            now_ms: 1,
            seq: 2,
        });
        let bytes = bincode::serialize(&cmd).unwrap();
        let back: MetaCmd = bincode::deserialize(&bytes).unwrap();
        assert!(matches!(back, MetaCmd::LifecycleExpire(x) if x.actions[0].key() == "k"));
    }
}

//! DeleteObject and DeleteObjects: records go in one group-committed write per shard hop,
//! data is freed after the commit. In a versioning bucket a delete without a version id
//! adds a delete marker, and one with a version id removes that version for good
//! (`meta::versions`).

use super::log::submit_for_bucket;
use super::{now_ms, store};
use crate::error::S3Result;
use crate::meta::commands::{DeleteVersions, MetaCmd};
use crate::meta::versions::{DeleteOutcome, VersionSel};

/// Deletes one key or key version (absent is not an error). A version under Object Lock is
/// refused (AccessDenied), GOVERNANCE retention included: see `delete_object_bypassing`.
pub async fn delete_object(
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
    owner_id: &str,
) -> S3Result<DeleteOutcome> {
    delete_object_bypassing(bucket, key, version, owner_id, false).await
}

/// `delete_object`, where `bypass_governance` (a permitted caller's
/// `x-amz-bypass-governance-retention: true`) lets a GOVERNANCE retention be bypassed.
pub async fn delete_object_bypassing(
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
    owner_id: &str,
    bypass_governance: bool,
) -> S3Result<DeleteOutcome> {
    let store = store();
    let _turn = store.write_turn(bucket, key).await?;
    let targets = vec![(key.to_string(), version)];
    let mut outcomes = delete_targets(bucket, targets, owner_id, bypass_governance).await?;
    let outcome = outcomes.pop().unwrap_or_default();
    if let Some(e) = outcome.refused {
        return Err(e);
    }
    store.free(bucket, key, outcome.freed.clone());
    Ok(outcome)
}

/// Deletes keys or key versions in one transaction (absent ones are not errors: S3 answers
/// Deleted); one outcome per target, in order. A locked version is not removed: its
/// outcome carries the refusal (`DeleteOutcome::refused`).
pub async fn delete_objects(
    bucket: &str,
    targets: Vec<(String, Option<VersionSel>)>,
    owner_id: &str,
) -> S3Result<Vec<DeleteOutcome>> {
    delete_objects_bypassing(bucket, targets, owner_id, false).await
}

/// `delete_objects` with `bypass_governance` (see `delete_object_bypassing`).
pub async fn delete_objects_bypassing(
    bucket: &str,
    targets: Vec<(String, Option<VersionSel>)>,
    owner_id: &str,
    bypass_governance: bool,
) -> S3Result<Vec<DeleteOutcome>> {
    let store = store();
    let keys: Vec<String> = targets.iter().map(|(k, _)| k.clone()).collect();
    let _turns = store.delete_turns(bucket, &keys).await?;
    let outcomes = delete_targets(bucket, targets, owner_id, bypass_governance).await?;
    for (key, o) in keys.iter().zip(&outcomes) {
        store.free(bucket, key, o.freed.clone());
    }
    Ok(outcomes)
}

async fn delete_targets(
    bucket: &str,
    targets: Vec<(String, Option<VersionSel>)>,
    owner_id: &str,
    bypass_governance: bool,
) -> S3Result<Vec<DeleteOutcome>> {
    let cmd = MetaCmd::DeleteVersions(DeleteVersions {
        bucket: bucket.to_string(),
        targets,
        owner_id: owner_id.to_string(),
        now_ms: now_ms(),
        seq: super::versions::new_stamp().seq,
        bypass_governance,
    });
    Ok(submit_for_bucket(bucket, cmd, Vec::new()).await?.deleted)
}

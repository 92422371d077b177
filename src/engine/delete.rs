//! DeleteObject and DeleteObjects: records go in one group-committed write per shard hop,
//! data is freed after the commit.

use super::log::submit_for_bucket;
use super::store;
use crate::error::S3Result;
use crate::meta::commands::MetaCmd;

/// Deletes one key (absent is not an error).
pub async fn delete_object(bucket: &str, key: &str) -> S3Result<()> {
    let store = store();
    let _turn = store.write_turn(bucket, key).await?;
    let ids = delete_keys(bucket, vec![key.to_string()]).await?;
    store.free(bucket, key, ids.into_iter().flatten().collect());
    Ok(())
}

/// Deletes keys in one transaction (absent keys are not errors: S3 answers Deleted).
pub async fn delete_objects(bucket: &str, keys: &[String]) -> S3Result<()> {
    let store = store();
    let _turns = store.delete_turns(bucket, keys).await?;
    let freed = delete_keys(bucket, keys.to_vec()).await?;
    for (key, ids) in keys.iter().zip(freed) {
        store.free(bucket, key, ids);
    }
    Ok(())
}

/// Returns each key's freed data.
async fn delete_keys(bucket: &str, keys: Vec<String>) -> S3Result<Vec<Vec<u128>>> {
    let cmd = MetaCmd::DeleteObjects {
        bucket: bucket.to_string(),
        keys,
    };
    Ok(submit_for_bucket(bucket, cmd, Vec::new())
        .await?
        .per_key_freed)
}

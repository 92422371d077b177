//! Buckets' records: create, delete (with the uploads it drops), ACL.

use super::log::submit_for_bucket;
use super::store;
use crate::error::S3Result;
use crate::meta::commands::MetaCmd;
use crate::meta::types::{Acl, BucketMeta, ConfigKind};

/// Creates a bucket with the configurations it starts with (see `set_config`), atomically.
pub async fn create(meta: BucketMeta, configs: Vec<(ConfigKind, Vec<u8>)>) -> S3Result<()> {
    let name = meta.name.clone();
    submit_for_bucket(&name, MetaCmd::CreateBucket { meta, configs }, Vec::new()).await?;
    Ok(())
}

/// A bucket's `kind` configuration as stored (`None`: not set), read only when the bucket's
/// record says it has one.
pub async fn config(bucket: &BucketMeta, kind: ConfigKind) -> S3Result<Option<Vec<u8>>> {
    if !bucket.has_config(kind) {
        return Ok(None);
    }
    let name = bucket.name.clone();
    super::read::on_bucket_shard(&bucket.name, move |txn| {
        crate::meta::tables::get_bucket_config(txn, &name, kind)
    })
    .await
}

/// Sets (`Some`) or removes (`None`) a bucket's `kind` configuration. The engine module that
/// owns a kind encodes it (with its own format byte); `meta` stores the bytes.
pub async fn set_config(name: &str, kind: ConfigKind, value: Option<Vec<u8>>) -> S3Result<()> {
    let cmd = MetaCmd::SetBucketConfig {
        name: name.to_string(),
        kind,
        value,
    };
    submit_for_bucket(name, cmd, Vec::new()).await?;
    Ok(())
}

pub async fn set_acl(name: &str, acl: Acl) -> S3Result<()> {
    let cmd = MetaCmd::SetBucketAcl {
        name: name.to_string(),
        acl,
    };
    submit_for_bucket(name, cmd, Vec::new()).await?;
    Ok(())
}

/// Deletes an empty bucket. The uploads go with it in that commit; their parts are freed
/// after it, as an abort frees them (a crash before leaves orphans for the start-up sweep).
pub async fn delete(name: &str) -> S3Result<()> {
    let cmd = MetaCmd::DeleteBucket {
        name: name.to_string(),
    };
    let reply = submit_for_bucket(name, cmd, Vec::new()).await?;
    let store = store();
    for u in reply.dropped_uploads {
        store.free(name, &u.key, u.freed);
        store
            .discard_parts(name, &u.key, &u.upload_id, u.part_numbers)
            .await;
    }
    Ok(())
}

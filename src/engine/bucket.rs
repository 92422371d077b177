//! Buckets' records: create, delete (with the uploads it drops), ACL.

use super::log::submit_for_bucket;
use super::store;
use crate::error::S3Result;
use crate::meta::commands::MetaCmd;
use crate::meta::types::{Acl, BucketMeta};

pub async fn create(meta: BucketMeta) -> S3Result<()> {
    let name = meta.name.clone();
    submit_for_bucket(&name, MetaCmd::CreateBucket(meta), Vec::new()).await?;
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

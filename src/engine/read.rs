//! Metadata reads: each runs on a read transaction of the shard that owns the bucket.

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::meta::tables::{self, ListPage};
use crate::meta::types::{BucketMeta, ObjectMeta, PartMeta, UploadMeta};
use redb::ReadTransaction;
use std::sync::Arc;

/// Runs `f` on a read transaction of the shard that owns `bucket`: on this core when it can
/// read the shard (`shards::reader`), else on the owner's core, which lends its handle back
/// for the next read. In cluster mode after a read barrier: it sees every write completed on
/// any node before the call.
pub async fn on_bucket_shard<R, F>(bucket: &str, f: F) -> S3Result<R>
where
    R: Send + 'static,
    F: FnOnce(&ReadTransaction) -> S3Result<R> + Send + 'static,
{
    on_shard_read(super::shards::shard_for_bucket(bucket), f).await
}

/// `on_bucket_shard` for a caller that has the bucket's shard already.
pub async fn on_shard_read<R, F>(shard: u32, f: F) -> S3Result<R>
where
    R: Send + 'static,
    F: FnOnce(&ReadTransaction) -> S3Result<R> + Send + 'static,
{
    super::log::read_barrier(shard).await?;
    if let Some(db) = super::shards::reader(shard) {
        let txn = db.begin_read().map_err(S3Error::from_db)?;
        return f(&txn);
    }
    let (result, handle) = super::shards::on_shard(shard, move |s| async move {
        let result = s.read().and_then(|txn| f(&txn));
        (result, s.database().map(|db| Arc::downgrade(&db)))
    })
    .await;
    if let Some(handle) = handle {
        super::shards::lend(shard, handle);
    }
    result
}

pub fn no_such_upload(id: &str) -> S3Error {
    S3Error::new(ErrorCode::NoSuchUpload).with("UploadId", id)
}

/// A bucket's record, or NoSuchBucket.
pub async fn bucket(name: &str) -> S3Result<BucketMeta> {
    bucket_on(super::shards::shard_for_bucket(name), name).await
}

/// `bucket` on the bucket's `shard`, already known.
pub async fn bucket_on(shard: u32, name: &str) -> S3Result<BucketMeta> {
    let n = name.to_string();
    on_shard_read(shard, move |txn| {
        tables::get_bucket(txn, &n)?.ok_or_else(|| S3Error::no_such_bucket(&n))
    })
    .await
}

/// An object's record (None when absent; NoSuchBucket when the bucket is).
pub async fn object(bucket: &str, key: &str) -> S3Result<Option<ObjectMeta>> {
    let (b, k) = (bucket.to_string(), key.to_string());
    on_bucket_shard(bucket, move |txn| {
        if tables::get_bucket(txn, &b)?.is_none() {
            return Err(S3Error::no_such_bucket(&b));
        }
        tables::get_object(txn, &b, &k)
    })
    .await
}

/// Bucket and object in one hop (NoSuchBucket, NoSuchKey).
pub async fn bucket_and_object(bucket: &str, key: &str) -> S3Result<(BucketMeta, ObjectMeta)> {
    let (bm, om) = bucket_and_maybe_object(bucket, key).await?;
    Ok((bm, om.ok_or_else(|| S3Error::no_such_key(key))?))
}

/// Bucket and, if present, object in one hop (NoSuchBucket).
pub async fn bucket_and_maybe_object(
    bucket: &str,
    key: &str,
) -> S3Result<(BucketMeta, Option<ObjectMeta>)> {
    let shard = super::shards::shard_for_bucket(bucket);
    bucket_and_maybe_object_on(shard, bucket, key).await
}

/// `bucket_and_maybe_object` on the bucket's `shard`, already known.
pub async fn bucket_and_maybe_object_on(
    shard: u32,
    bucket: &str,
    key: &str,
) -> S3Result<(BucketMeta, Option<ObjectMeta>)> {
    let (b, k) = (bucket.to_string(), key.to_string());
    on_shard_read(shard, move |txn| {
        let bm = tables::get_bucket(txn, &b)?.ok_or_else(|| S3Error::no_such_bucket(&b))?;
        let om = tables::get_object(txn, &b, &k)?;
        Ok((bm, om))
    })
    .await
}

/// An upload's record (NoSuchBucket, NoSuchUpload).
pub async fn upload(bucket: &str, key: &str, upload_id: &str) -> S3Result<UploadMeta> {
    let (b, k, u) = (bucket.to_string(), key.to_string(), upload_id.to_string());
    on_bucket_shard(bucket, move |txn| {
        if tables::get_bucket(txn, &b)?.is_none() {
            return Err(S3Error::no_such_bucket(&b));
        }
        tables::get_upload(txn, &b, &k, &u)?.ok_or_else(|| no_such_upload(&u))
    })
    .await
}

/// A page of an upload's parts after `marker`, and whether more follow.
pub async fn parts(
    bucket: &str,
    upload_id: &str,
    marker: u32,
    max: usize,
) -> S3Result<(Vec<(u32, PartMeta)>, bool)> {
    let u = upload_id.to_string();
    on_bucket_shard(bucket, move |txn| tables::list_parts(txn, &u, marker, max)).await
}

/// Uploads of `bucket` under `prefix` after (`key_marker`, `id_marker`), at most `max`.
pub async fn uploads(
    bucket: &str,
    prefix: &str,
    key_marker: &str,
    id_marker: &str,
    max: usize,
) -> S3Result<Vec<UploadMeta>> {
    let (b, p, km, im) = (
        bucket.to_string(),
        prefix.to_string(),
        key_marker.to_string(),
        id_marker.to_string(),
    );
    on_bucket_shard(bucket, move |txn| {
        tables::list_uploads(txn, &b, &p, &km, &im, max)
    })
    .await
}

/// A page of keys (and delimiter roll-ups) of `bucket` under `prefix`, after `after`.
pub async fn objects(
    bucket: &str,
    prefix: &str,
    after: &str,
    delimiter: &str,
    max: usize,
) -> S3Result<ListPage> {
    let (b, p, a, d) = (
        bucket.to_string(),
        prefix.to_string(),
        after.to_string(),
        delimiter.to_string(),
    );
    on_bucket_shard(bucket, move |txn| {
        tables::list_objects(txn, &b, &p, &a, &d, max)
    })
    .await
}

/// Buckets, from every shard on every core, that `keep` accepts (unsorted).
pub async fn buckets<F>(keep: F) -> S3Result<Vec<BucketMeta>>
where
    F: Fn(&BucketMeta) -> bool + Send + Sync + Clone + 'static,
{
    if let Some(node) = super::log::cluster() {
        let barriers = node.group_ids().into_iter().map(|g| node.read_barrier(g));
        futures::future::try_join_all(barriers).await?;
    }
    let per_core = crate::runtime::on_all_cores(move || {
        let keep = keep.clone();
        async move {
            let mut out = Vec::new();
            for (_, shard) in super::shards::local() {
                let txn = shard.read()?;
                out.extend(tables::list_buckets(&txn)?.into_iter().filter(|b| keep(b)));
            }
            S3Result::Ok(out)
        }
    })
    .await;
    let mut all = Vec::new();
    for r in per_core {
        all.extend(r?);
    }
    Ok(all)
}

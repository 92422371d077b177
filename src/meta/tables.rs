//! Table layout of a shard and the transaction-level operations on it.
//!
//! Keys are tuples so redb orders them the way listings need: objects by (bucket, key),
//! uploads by (bucket, key, upload id), parts by (upload id, part number).

use super::types::{
    decode, encode, BucketMeta, ConfigKind, DataLoc, ObjectMeta, PartMeta, Record, UploadMeta,
    VersionRecord,
};
use crate::error::{ErrorCode, S3Error, S3Result};
use redb::{
    Database, Key, ReadTransaction, ReadableTable, ReadableTableMetadata, TableDefinition, Value,
    WriteTransaction,
};

pub const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
pub const OBJECTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("objects");
pub const UPLOADS: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("uploads");
pub const PARTS: TableDefinition<(&str, u32), &[u8]> = TableDefinition::new("parts");
pub const INFO: TableDefinition<&str, &[u8]> = TableDefinition::new("info");
/// Versions other than the current object, and delete markers: (bucket, key, u64::MAX - seq),
/// so a key's versions scan newest first (see `meta::versions`).
pub const VERSIONS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("versions");
/// Bucket configurations, one row per (bucket, `ConfigKind as u8`): the value is the
/// configuration as the engine encodes it (`meta` does not read it).
pub const BUCKET_CONFIGS: TableDefinition<(&str, u8), &[u8]> =
    TableDefinition::new("bucket_configs");

/// Creates every table so later read transactions never meet a missing one.
pub fn init(db: &Database) -> Result<(), Box<redb::Error>> {
    let txn = db.begin_write().map_err(|e| Box::new(e.into()))?;
    let open = |r: Result<(), redb::TableError>| r.map_err(|e| Box::new(redb::Error::from(e)));
    open(txn.open_table(BUCKETS).map(drop))?;
    open(txn.open_table(OBJECTS).map(drop))?;
    open(txn.open_table(UPLOADS).map(drop))?;
    open(txn.open_table(PARTS).map(drop))?;
    open(txn.open_table(INFO).map(drop))?;
    open(txn.open_table(VERSIONS).map(drop))?;
    open(txn.open_table(BUCKET_CONFIGS).map(drop))?;
    txn.commit().map_err(|e| Box::new(e.into()))?;
    Ok(())
}

/// A fresh shard database with every table, in a temporary directory (unit tests).
#[cfg(test)]
pub fn test_db() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("m.redb")).unwrap();
    init(&db).unwrap();
    (dir, db)
}

/// A redb failure inside a transaction (typed: it poisons a write batch).
pub(super) fn ie<E: Into<redb::Error> + std::fmt::Display>(e: E) -> S3Error {
    S3Error::from_db(e)
}

pub(super) fn dec<T: Record>(bytes: &[u8]) -> S3Result<T> {
    decode(bytes).map_err(|e| S3Error::corrupt(format!("corrupt metadata record: {e}")))
}

// ---- reads -------------------------------------------------------------------------------

/// A transaction the tables can be read in: a read snapshot, or the write transaction of a
/// group commit. One getter serves both (redb's `ReadableTable`), so a read inside a commit
/// and one outside it cannot drift apart.
pub trait Tables {
    type Table<'t, K: Key + 'static, V: Value + 'static>: ReadableTable<K, V>
    where
        Self: 't;
    fn table<'t, K: Key + 'static, V: Value + 'static>(
        &'t self,
        def: TableDefinition<'_, K, V>,
    ) -> S3Result<Self::Table<'t, K, V>>;
}

impl Tables for ReadTransaction {
    type Table<'t, K: Key + 'static, V: Value + 'static> = redb::ReadOnlyTable<K, V>;
    fn table<'t, K: Key + 'static, V: Value + 'static>(
        &'t self,
        def: TableDefinition<'_, K, V>,
    ) -> S3Result<Self::Table<'t, K, V>> {
        self.open_table(def).map_err(ie)
    }
}

impl Tables for WriteTransaction {
    type Table<'t, K: Key + 'static, V: Value + 'static> = redb::Table<'t, K, V>;
    fn table<'t, K: Key + 'static, V: Value + 'static>(
        &'t self,
        def: TableDefinition<'_, K, V>,
    ) -> S3Result<Self::Table<'t, K, V>> {
        self.open_table(def).map_err(ie)
    }
}

pub fn get_bucket(txn: &impl Tables, name: &str) -> S3Result<Option<BucketMeta>> {
    let t = txn.table(BUCKETS)?;
    let v = t.get(name).map_err(ie)?;
    v.map(|g| dec(g.value())).transpose()
}

/// A bucket's `kind` configuration as stored, if it has one.
pub fn get_bucket_config(
    txn: &impl Tables,
    bucket: &str,
    kind: ConfigKind,
) -> S3Result<Option<Vec<u8>>> {
    let t = txn.table(BUCKET_CONFIGS)?;
    let v = t.get((bucket, kind as u8)).map_err(ie)?;
    Ok(v.map(|g| g.value().to_vec()))
}

pub fn list_buckets(txn: &ReadTransaction) -> S3Result<Vec<BucketMeta>> {
    let t = txn.open_table(BUCKETS).map_err(ie)?;
    let mut out = Vec::new();
    for item in t.iter().map_err(ie)? {
        let (_, v) = item.map_err(ie)?;
        out.push(dec(v.value())?);
    }
    Ok(out)
}

pub fn get_object(txn: &impl Tables, bucket: &str, key: &str) -> S3Result<Option<ObjectMeta>> {
    let t = txn.table(OBJECTS)?;
    let v = t.get((bucket, key)).map_err(ie)?;
    v.map(|g| dec(g.value())).transpose()
}

pub fn get_upload(
    txn: &impl Tables,
    bucket: &str,
    key: &str,
    upload_id: &str,
) -> S3Result<Option<UploadMeta>> {
    let t = txn.table(UPLOADS)?;
    let v = t.get((bucket, key, upload_id)).map_err(ie)?;
    v.map(|g| dec(g.value())).transpose()
}

/// Parts of an upload from `after` (exclusive), at most `max`; plus whether more remain.
pub fn list_parts(
    txn: &ReadTransaction,
    upload_id: &str,
    after: u32,
    max: usize,
) -> S3Result<(Vec<(u32, PartMeta)>, bool)> {
    let t = txn.open_table(PARTS).map_err(ie)?;
    let mut out = Vec::new();
    for item in t
        .range((upload_id, after.saturating_add(1))..=(upload_id, u32::MAX))
        .map_err(ie)?
    {
        let (k, v) = item.map_err(ie)?;
        if out.len() == max {
            return Ok((out, true));
        }
        out.push((k.value().1, dec(v.value())?));
    }
    Ok((out, false))
}

/// One page of a listing: objects and common prefixes merged in key order.
#[derive(Debug, Default)]
pub struct ListPage {
    pub objects: Vec<(String, ObjectMeta)>,
    pub prefixes: Vec<String>,
    pub truncated: bool,
    /// The last key or prefix returned (the next marker).
    pub last: Option<String>,
}

/// Lists keys of `bucket` starting with `prefix`, strictly after `after`. A key containing
/// `delimiter` after the prefix rolls up into a common prefix, and the scan then seeks past
/// every key under that prefix, so a page costs O(page) whatever the bucket holds.
pub fn list_objects(
    txn: &ReadTransaction,
    bucket: &str,
    prefix: &str,
    after: &str,
    delimiter: &str,
    max: usize,
) -> S3Result<ListPage> {
    let t = txn.open_table(OBJECTS).map_err(ie)?;
    let mut page = ListPage::default();
    let mut start: String = if after >= prefix {
        after.to_string()
    } else {
        prefix.to_string()
    };
    let mut inclusive = after < prefix;
    if max == 0 {
        return Ok(page);
    }
    'seek: loop {
        let range = t.range((bucket, start.as_str())..).map_err(ie)?;
        for item in range {
            let (k, v) = item.map_err(ie)?;
            let (b, key) = k.value();
            if b != bucket || !key.starts_with(prefix) {
                break 'seek;
            }
            if !inclusive && key == start {
                continue;
            }
            if !delimiter.is_empty() {
                if let Some(pos) = key[prefix.len()..].find(delimiter) {
                    let cp = &key[..prefix.len() + pos + delimiter.len()];
                    if page.last.as_deref() == Some(cp) || cp <= after {
                        // Already rolled up (or the caller's marker is inside it): skip past it.
                    } else {
                        if page.objects.len() + page.prefixes.len() == max {
                            page.truncated = true;
                            break 'seek;
                        }
                        page.prefixes.push(cp.to_string());
                        page.last = Some(cp.to_string());
                    }
                    match successor(cp) {
                        Some(next) => {
                            start = next;
                            inclusive = true;
                            continue 'seek;
                        }
                        None => break 'seek,
                    }
                }
            }
            if page.objects.len() + page.prefixes.len() == max {
                page.truncated = true;
                break 'seek;
            }
            page.objects.push((key.to_string(), dec(v.value())?));
            page.last = Some(key.to_string());
        }
        break;
    }
    Ok(page)
}

/// The smallest string greater than every string that starts with `s`, if one exists.
pub(super) fn successor(s: &str) -> Option<String> {
    let mut chars: Vec<char> = s.chars().collect();
    while let Some(c) = chars.pop() {
        let mut n = c as u32 + 1;
        if (0xD800..=0xDFFF).contains(&n) {
            n = 0xE000;
        }
        if let Some(next) = char::from_u32(n) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// In-progress uploads of a bucket in (key, upload id) order after the markers.
pub fn list_uploads(
    txn: &ReadTransaction,
    bucket: &str,
    prefix: &str,
    key_marker: &str,
    upload_id_marker: &str,
    max_scan: usize,
) -> S3Result<Vec<UploadMeta>> {
    let t = txn.open_table(UPLOADS).map_err(ie)?;
    let start_key = if key_marker >= prefix {
        key_marker
    } else {
        prefix
    };
    let mut out = Vec::new();
    for item in t.range((bucket, start_key, "")..).map_err(ie)? {
        let (k, v) = item.map_err(ie)?;
        let (b, key, id) = k.value();
        if b != bucket || !key.starts_with(prefix) {
            break;
        }
        if !key_marker.is_empty() {
            let after_marker = if upload_id_marker.is_empty() {
                key > key_marker
            } else {
                key > key_marker || (key == key_marker && id > upload_id_marker)
            };
            if !after_marker {
                continue;
            }
        }
        out.push(dec(v.value())?);
        if out.len() >= max_scan {
            break;
        }
    }
    Ok(out)
}

pub fn bucket_has_content(txn: &ReadTransaction, bucket: &str) -> S3Result<bool> {
    let objects = txn.open_table(OBJECTS).map_err(ie)?;
    if let Some(item) = objects.range((bucket, "")..).map_err(ie)?.next() {
        if item.map_err(ie)?.0.value().0 == bucket {
            return Ok(true);
        }
    }
    // In-progress uploads do not count: DeleteBucket drops them with the bucket.
    has_versions(txn, bucket)
}

/// Whether `bucket` has noncurrent versions or delete markers.
fn has_versions(txn: &impl Tables, bucket: &str) -> S3Result<bool> {
    let t = txn.table(VERSIONS)?;
    let mut r = t.range((bucket, "", 0u64)..).map_err(ie)?;
    let found = match r.next() {
        Some(item) => item.map_err(ie)?.0.value().0 == bucket,
        None => false,
    };
    Ok(found)
}

// ---- writes (run inside a group-committed transaction; validate before writing) ----------

pub fn w_require_bucket(txn: &WriteTransaction, name: &str) -> S3Result<BucketMeta> {
    get_bucket(txn, name)?.ok_or_else(|| S3Error::no_such_bucket(name))
}

/// Whether the bucket exists, without decoding its record (the per-object write check).
pub fn w_bucket_exists(txn: &WriteTransaction, name: &str) -> S3Result<bool> {
    let t = txn.open_table(BUCKETS).map_err(ie)?;
    let found = t.get(name).map_err(ie)?.is_some();
    Ok(found)
}

pub fn w_put_bucket(txn: &WriteTransaction, meta: &BucketMeta) -> S3Result<()> {
    let mut t = txn.open_table(BUCKETS).map_err(ie)?;
    t.insert(meta.name.as_str(), encode(meta).as_slice())
        .map_err(ie)?;
    Ok(())
}

/// Sets (`Some`) or removes (`None`) a bucket's `kind` configuration, and its bit in the
/// bucket's record.
pub fn w_set_bucket_config(
    txn: &WriteTransaction,
    bucket: &str,
    kind: ConfigKind,
    value: Option<&[u8]>,
) -> S3Result<()> {
    let mut meta = w_require_bucket(txn, bucket)?;
    let mut t = txn.open_table(BUCKET_CONFIGS).map_err(ie)?;
    match value {
        Some(v) => {
            t.insert((bucket, kind as u8), v).map_err(ie)?;
            meta.configs |= kind.bit();
        }
        None => {
            t.remove((bucket, kind as u8)).map_err(ie)?;
            meta.configs &= !kind.bit();
        }
    }
    drop(t);
    w_put_bucket(txn, &meta)
}

/// Removes an empty bucket (no objects) together with its in-progress uploads and their
/// part records; returns those uploads with their parts, whose files the caller frees.
#[allow(clippy::type_complexity)]
pub fn w_delete_bucket(
    txn: &WriteTransaction,
    name: &str,
) -> S3Result<Vec<(UploadMeta, Vec<(u32, PartMeta)>)>> {
    w_require_bucket(txn, name)?;
    let mut pending: Vec<UploadMeta> = Vec::new();
    {
        let objects = txn.open_table(OBJECTS).map_err(ie)?;
        let mut r = objects.range((name, "")..).map_err(ie)?;
        if let Some(item) = r.next() {
            if item.map_err(ie)?.0.value().0 == name {
                return Err(S3Error::new(ErrorCode::BucketNotEmpty).with("BucketName", name));
            }
        }
        if has_versions(txn, name)? {
            return Err(S3Error::new(ErrorCode::BucketNotEmpty).with("BucketName", name));
        }
        let uploads = txn.open_table(UPLOADS).map_err(ie)?;
        for item in uploads.range((name, "", "")..).map_err(ie)? {
            let (k, v) = item.map_err(ie)?;
            if k.value().0 != name {
                break;
            }
            pending.push(dec(v.value())?);
        }
    }
    let mut dropped = Vec::with_capacity(pending.len());
    for u in pending {
        let parts = w_delete_upload(txn, &u)?;
        dropped.push((u, parts));
    }
    let mut configs = txn.open_table(BUCKET_CONFIGS).map_err(ie)?;
    for kind in ConfigKind::ALL {
        configs.remove((name, kind as u8)).map_err(ie)?;
    }
    let mut t = txn.open_table(BUCKETS).map_err(ie)?;
    t.remove(name).map_err(ie)?;
    Ok(dropped)
}

/// Stores an object if `check` accepts the one it would replace, and returns that one (whose
/// data the caller frees after commit). One table open and one decode: this is the PUT hot
/// path, run once per object inside a group commit.
pub fn w_replace_object(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
    check: impl FnOnce(Option<&ObjectMeta>) -> S3Result<()>,
) -> S3Result<Option<ObjectMeta>> {
    let mut t = txn.open_table(OBJECTS).map_err(ie)?;
    let existing = match t.get((bucket, key)).map_err(ie)? {
        Some(g) => Some(dec::<ObjectMeta>(g.value())?),
        None => None,
    };
    check(existing.as_ref())?;
    t.insert((bucket, key), encode(meta).as_slice())
        .map_err(ie)?;
    Ok(existing)
}

/// Stores an object, returning the one it replaced (whose data the caller frees after commit).
pub fn w_put_object(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
    meta: &ObjectMeta,
) -> S3Result<Option<ObjectMeta>> {
    let mut t = txn.open_table(OBJECTS).map_err(ie)?;
    let old = t
        .insert((bucket, key), encode(meta).as_slice())
        .map_err(ie)?;
    old.map(|g| dec(g.value())).transpose()
}

pub fn w_delete_object(
    txn: &WriteTransaction,
    bucket: &str,
    key: &str,
) -> S3Result<Option<ObjectMeta>> {
    let mut t = txn.open_table(OBJECTS).map_err(ie)?;
    let old = t.remove((bucket, key)).map_err(ie)?;
    old.map(|g| dec(g.value())).transpose()
}

pub fn w_put_upload(txn: &WriteTransaction, u: &UploadMeta) -> S3Result<()> {
    let mut t = txn.open_table(UPLOADS).map_err(ie)?;
    t.insert(
        (u.bucket.as_str(), u.key.as_str(), u.upload_id.as_str()),
        encode(u).as_slice(),
    )
    .map_err(ie)?;
    Ok(())
}

/// Removes an upload and all its part records; returns the parts' data files.
pub fn w_delete_upload(txn: &WriteTransaction, u: &UploadMeta) -> S3Result<Vec<(u32, PartMeta)>> {
    let mut uploads = txn.open_table(UPLOADS).map_err(ie)?;
    uploads
        .remove((u.bucket.as_str(), u.key.as_str(), u.upload_id.as_str()))
        .map_err(ie)?;
    let mut parts = txn.open_table(PARTS).map_err(ie)?;
    let mut removed = Vec::new();
    let id = u.upload_id.as_str();
    let extracted = parts
        .extract_from_if((id, 0u32)..=(id, u32::MAX), |_, _| true)
        .map_err(ie)?;
    for item in extracted {
        let (k, v) = item.map_err(ie)?;
        removed.push((k.value().1, dec(v.value())?));
    }
    Ok(removed)
}

pub fn w_put_part(
    txn: &WriteTransaction,
    upload_id: &str,
    part_number: u32,
    part: &PartMeta,
) -> S3Result<Option<PartMeta>> {
    let mut t = txn.open_table(PARTS).map_err(ie)?;
    let old = t
        .insert((upload_id, part_number), encode(part).as_slice())
        .map_err(ie)?;
    old.map(|g| dec(g.value())).transpose()
}

pub fn w_all_parts(txn: &WriteTransaction, upload_id: &str) -> S3Result<Vec<(u32, PartMeta)>> {
    let t = txn.open_table(PARTS).map_err(ie)?;
    let mut out = Vec::new();
    for item in t
        .range((upload_id, 0u32)..=(upload_id, u32::MAX))
        .map_err(ie)?
    {
        let (k, v) = item.map_err(ie)?;
        out.push((k.value().1, dec(v.value())?));
    }
    Ok(out)
}

pub fn w_info_get(txn: &WriteTransaction, name: &str) -> S3Result<Option<Vec<u8>>> {
    let t = txn.open_table(INFO).map_err(ie)?;
    let v = t.get(name).map_err(ie)?;
    Ok(v.map(|g| g.value().to_vec()))
}

pub fn w_info_put(txn: &WriteTransaction, name: &str, value: &[u8]) -> S3Result<()> {
    let mut t = txn.open_table(INFO).map_err(ie)?;
    t.insert(name, value).map_err(ie)?;
    Ok(())
}

/// Calls `object` with every object record and stored version of the shard, `part` with
/// every uploaded part.
fn each_record(
    txn: &ReadTransaction,
    mut object: impl FnMut(&ObjectMeta),
    mut part: impl FnMut(&PartMeta),
) -> S3Result<()> {
    let objects = txn.open_table(OBJECTS).map_err(ie)?;
    for item in objects.iter().map_err(ie)? {
        let (_, v) = item.map_err(ie)?;
        object(&dec::<ObjectMeta>(v.value())?);
    }
    let parts = txn.open_table(PARTS).map_err(ie)?;
    for item in parts.iter().map_err(ie)? {
        let (_, v) = item.map_err(ie)?;
        part(&dec::<PartMeta>(v.value())?);
    }
    let versions = txn.open_table(VERSIONS).map_err(ie)?;
    for item in versions.iter().map_err(ie)? {
        let (_, v) = item.map_err(ie)?;
        if let VersionRecord::Object(m) = dec::<VersionRecord>(v.value())? {
            object(&m);
        }
    }
    Ok(())
}

/// Every data file the shard's records name (objects and uploaded parts), for the sweep.
pub fn referenced_files(txn: &ReadTransaction) -> S3Result<Vec<u128>> {
    let (mut out, mut parts) = (Vec::new(), Vec::new());
    each_record(txn, |m| out.extend(m.file_ids()), |p| parts.push(p.file_id))?;
    out.extend(parts);
    Ok(out)
}

/// A local data file a record names: what a copy of it must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub file_id: u128,
    pub len: u64,
    /// See `Segment::chunk_crc32c`.
    pub chunk_crc32c: Vec<u32>,
}

/// Every local data file (not an upstream object) the shard's records name, for a repair.
pub fn referenced_data(txn: &ReadTransaction) -> S3Result<Vec<FileRef>> {
    let (mut out, mut parts) = (Vec::new(), Vec::new());
    each_record(
        txn,
        |m| {
            if let DataLoc::Files(segs) = &m.data {
                out.extend(segs.iter().map(|s| FileRef {
                    file_id: s.file_id,
                    len: s.len,
                    chunk_crc32c: s.chunk_crc32c.clone(),
                }));
            }
        },
        |p| {
            parts.push(FileRef {
                file_id: p.file_id,
                len: p.size,
                chunk_crc32c: p.chunk_crc32c.clone(),
            })
        },
    )?;
    out.extend(parts);
    Ok(out)
}

/// Counts for the metrics endpoint: (buckets, objects).
pub fn counts(txn: &ReadTransaction) -> S3Result<(u64, u64)> {
    let b = txn.open_table(BUCKETS).map_err(ie)?.len().map_err(ie)?;
    let o = txn.open_table(OBJECTS).map_err(ie)?.len().map_err(ie)?;
    Ok((b, o))
}

/// Uploads initiated before `cutoff_ms` (for the reaper).
pub fn all_uploads_before(txn: &ReadTransaction, cutoff_ms: u64) -> S3Result<Vec<UploadMeta>> {
    let t = txn.open_table(UPLOADS).map_err(ie)?;
    let mut out = Vec::new();
    for item in t.iter().map_err(ie)? {
        let (_, v) = item.map_err(ie)?;
        let u: UploadMeta = dec(v.value())?;
        if u.initiated_ms < cutoff_ms {
            out.push(u);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_is_past_every_extension() {
        assert_eq!(successor("a/").as_deref(), Some("a0"));
        let s = successor("photos/").unwrap();
        assert!(s.as_str() > "photos/\u{10FFFF}zzz");
        assert!(s.as_str() <= "photos0");
    }
}

//! A per-core cache of decoded bucket and object records, for the reads GET and HEAD make,
//! and of bucket records alone, for every request that loads its bucket.
//!
//! Why: a warm 4 KiB GET spent most of its allocations (29 of 51) and a large share of its
//! cycles opening redb tables and decoding the same two records again. A hit costs a hash,
//! two string compares and two atomic loads, and hands out shared (`Rc`) records.
//!
//! Why it is never stale: every entry carries the generations it was read at
//! (`meta::shard::Stamp`: the shard's, bumped by commits that change a bucket, and the key's,
//! bumped by commits that change that key's records), loaded *before* the read transaction
//! that produced it, and is used only while both are unchanged, i.e. while no batch that
//! could change what it holds has committed since. The committer bumps them after the
//! commit and before any reply, so a read that starts after an acknowledged write never
//! hits an entry older than it. A write invalidates the entries of the keys it names (and of
//! keys sharing their slot of the generation table); a change to a bucket, those of the
//! whole shard. A miss only costs the read the request would have made anyway. Cluster mode
//! does not cache (reads pass a read barrier and apply through Raft; `read_through` goes
//! straight to the shard).

use crate::error::{S3Error, S3Result};
use crate::meta::shard::{key_hash, Stamp};
use crate::meta::types::{BucketMeta, DataLoc, ObjectMeta};
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;

/// Bytes of records one core keeps at most (estimated: inline data and strings).
pub const RECORD_CACHE_BYTES_MAX: usize = 16 * 1024 * 1024;
/// Entries one core keeps at most.
const RECORD_CACHE_ENTRIES_MAX: usize = 65_536;
/// Records whose estimate passes this are not cached (a large inline object would push out
/// hundreds of small ones).
const RECORD_BYTES_MAX: usize = 256 * 1024;

/// Bucket records one core keeps at most (beside the objects' entries; a record is a few
/// hundred bytes, an ACL of many grants a few KiB).
const BUCKETS_CACHED_MAX: usize = 256;

/// A bucket record and one of its objects, decoded once and shared.
pub type Records = (Rc<BucketMeta>, Rc<ObjectMeta>);

struct Entry {
    bucket: Box<str>,
    key: Box<str>,
    stamp: Stamp,
    bytes: usize,
    records: Records,
}

#[derive(Default)]
struct Cache {
    /// By a hash of (bucket, key); a collision only replaces the other entry (each entry
    /// names its bucket and key, checked on every hit).
    map: HashMap<u64, Entry, BuildHasherDefault<IdentityHasher>>,
    bytes: usize,
    hits: u64,
    misses: u64,
    /// Bucket records alone (every request on a bucket loads its record: a PUT then opens no
    /// read transaction at all), each with the shard generation it was read at.
    buckets: HashMap<Box<str>, (u64, Rc<BucketMeta>)>,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

/// What this core's cache holds: (bytes, entries, hits, misses).
pub fn stats() -> (usize, usize, u64, u64) {
    CACHE.with(|c| {
        let c = c.borrow();
        (c.bytes, c.map.len(), c.hits, c.misses)
    })
}

/// The bucket's record and the object's current one (NoSuchBucket, NoSuchKey), from this
/// core's cache while no commit that could change them has landed since they were read.
pub async fn bucket_and_object(bucket: &str, key: &str) -> S3Result<Records> {
    let shard = super::shards::shard_for_bucket(bucket);
    if super::log::cluster().is_some() {
        return read_through(shard, bucket, key).await;
    }
    let id = key_hash(bucket, key);
    let stamp = crate::meta::shard::stamp(shard, id);
    if let Some(records) = CACHE.with(|c| c.borrow_mut().get(id, bucket, key, stamp)) {
        return Ok(records);
    }
    let records = read_through(shard, bucket, key).await?;
    if crate::meta::shard::stamp(shard, id) != stamp {
        // Stale already (a commit landed meanwhile): under writes, keeping it would only
        // cost an insert and evict a live entry.
        return Ok(records);
    }
    CACHE.with(|c| c.borrow_mut().put(id, bucket, key, stamp, records.clone()));
    Ok(records)
}

/// A bucket's record (NoSuchBucket), from this core's cache while no commit that could
/// change it (one that bumps the shard's generation: every change to a bucket's record or
/// configurations does) has landed since it was read.
pub async fn bucket(name: &str) -> S3Result<Rc<BucketMeta>> {
    let shard = super::shards::shard_for_bucket(name);
    if super::log::cluster().is_some() {
        return super::read::bucket_on(shard, name).await.map(Rc::new);
    }
    let generation = crate::meta::shard::shard_generation(shard);
    if let Some(b) = CACHE.with(|c| c.borrow().bucket(name, generation)) {
        return Ok(b);
    }
    let b = Rc::new(super::read::bucket_on(shard, name).await?);
    if crate::meta::shard::shard_generation(shard) == generation {
        CACHE.with(|c| c.borrow_mut().put_bucket(name, generation, b.clone()));
    }
    Ok(b)
}

async fn read_through(shard: u32, bucket: &str, key: &str) -> S3Result<Records> {
    let (b, o) = super::read::bucket_and_maybe_object_on(shard, bucket, key).await?;
    let o = o.ok_or_else(|| S3Error::no_such_key(key))?;
    Ok((Rc::new(b), Rc::new(o)))
}

impl Cache {
    fn bucket(&self, name: &str, generation: u64) -> Option<Rc<BucketMeta>> {
        let (at, b) = self.buckets.get(name)?;
        (*at == generation).then(|| b.clone())
    }

    fn put_bucket(&mut self, name: &str, generation: u64, bucket: Rc<BucketMeta>) {
        if self.buckets.len() >= BUCKETS_CACHED_MAX && !self.buckets.contains_key(name) {
            // Any entry goes (the map's order is as good as random here).
            if let Some(victim) = self.buckets.keys().next().cloned() {
                self.buckets.remove(&victim);
            }
        }
        self.buckets.insert(name.into(), (generation, bucket));
        assert!(self.buckets.len() <= BUCKETS_CACHED_MAX);
    }

    fn get(&mut self, id: u64, bucket: &str, key: &str, stamp: Stamp) -> Option<Records> {
        let hit = self.map.get(&id).and_then(|e| {
            (e.stamp == stamp && &*e.bucket == bucket && &*e.key == key).then(|| e.records.clone())
        });
        match hit {
            Some(_) => self.hits += 1,
            None => self.misses += 1,
        }
        hit
    }

    fn put(&mut self, id: u64, bucket: &str, key: &str, stamp: Stamp, records: Records) {
        let bytes = estimate(bucket, key, &records);
        if bytes > RECORD_BYTES_MAX {
            return;
        }
        if let Some(old) = self.map.remove(&id) {
            self.bytes -= old.bytes;
        }
        while self.bytes + bytes > RECORD_CACHE_BYTES_MAX
            || self.map.len() >= RECORD_CACHE_ENTRIES_MAX
        {
            // Any entry goes (the map's order is the hash's: as good as random here).
            let Some(victim) = self.map.keys().next().copied() else {
                break;
            };
            if let Some(old) = self.map.remove(&victim) {
                self.bytes -= old.bytes;
            }
        }
        self.bytes += bytes;
        self.map.insert(
            id,
            Entry {
                bucket: bucket.into(),
                key: key.into(),
                stamp,
                bytes,
                records,
            },
        );
        debug_assert_eq!(
            self.bytes,
            self.map.values().map(|e| e.bytes).sum::<usize>()
        );
        assert!(self.bytes <= RECORD_CACHE_BYTES_MAX);
    }
}

/// Heap bytes an entry keeps alive, roughly: the records' structs, strings and inline data.
fn estimate(bucket: &str, key: &str, (b, o): &Records) -> usize {
    let inline = match &o.data {
        DataLoc::Inline(d) => d.len(),
        DataLoc::Files(s) | DataLoc::Upstream(s) => s.len() * 64,
    };
    let strings = o.etag.len()
        + o.owner_id.len()
        + o.content_type.len()
        + o.headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 48)
            .sum::<usize>()
        + o.user_meta
            .iter()
            .map(|(n, v)| n.len() + v.len() + 48)
            .sum::<usize>()
        + o.tags
            .iter()
            .map(|(n, v)| n.len() + v.len() + 48)
            .sum::<usize>()
        + o.acl.grants.len() * 96
        + b.acl.grants.len() * 96
        + b.name.len()
        + b.owner_id.len()
        + b.region.len();
    std::mem::size_of::<Entry>()
        + std::mem::size_of::<BucketMeta>()
        + std::mem::size_of::<ObjectMeta>()
        + bucket.len()
        + key.len()
        + inline
        + strings
}

/// The map's keys are already SipHash values: hashing them again would only cost time.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(etag: &str) -> Records {
        let b = BucketMeta::test_new("b", "o");
        let mut o = ObjectMeta::test_empty("o");
        o.etag = etag.into();
        (Rc::new(b), Rc::new(o))
    }

    fn at(shard: u64, key: u64) -> Stamp {
        Stamp { shard, key }
    }

    #[test]
    fn an_entry_serves_only_its_key_and_generation() {
        let mut c = Cache::default();
        let id = key_hash("b", "k");
        c.put(id, "b", "k", at(7, 3), records("e1"));
        assert_eq!(
            c.get(id, "b", "k", at(7, 3)).map(|r| r.1.etag.clone()),
            Some("e1".into())
        );
        assert!(
            c.get(id, "b", "k", at(8, 3)).is_none(),
            "a bucket changed since: stale"
        );
        assert!(
            c.get(id, "b", "k", at(7, 4)).is_none(),
            "the key changed since: stale"
        );
        assert!(
            c.get(id, "b", "k2", at(7, 3)).is_none(),
            "another key on the same slot"
        );
        assert!(
            c.get(id, "b2", "k", at(7, 3)).is_none(),
            "another bucket on the same slot"
        );
        c.put(id, "b", "k", at(8, 3), records("e2"));
        assert_eq!(
            c.get(id, "b", "k", at(8, 3)).map(|r| r.1.etag.clone()),
            Some("e2".into())
        );
        assert_eq!(c.map.len(), 1);
        assert_eq!((c.hits, c.misses), (2, 4));
    }

    #[test]
    fn a_bucket_entry_serves_only_its_generation_and_the_map_stays_bounded() {
        let mut c = Cache::default();
        let b = |owner: &str| Rc::new(BucketMeta::test_new("b", owner));
        c.put_bucket("b", 4, b("o1"));
        assert_eq!(
            c.bucket("b", 4).map(|m| m.owner_id.clone()),
            Some("o1".into())
        );
        assert!(c.bucket("b", 5).is_none(), "a bucket changed since: stale");
        assert!(c.bucket("b2", 4).is_none(), "another bucket");
        c.put_bucket("b", 5, b("o2"));
        assert_eq!(
            c.bucket("b", 5).map(|m| m.owner_id.clone()),
            Some("o2".into())
        );
        for i in 0..BUCKETS_CACHED_MAX * 2 {
            c.put_bucket(&format!("b{i}"), 5, b("o"));
            assert!(c.buckets.len() <= BUCKETS_CACHED_MAX);
        }
        assert_eq!(c.buckets.len(), BUCKETS_CACHED_MAX);
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let mut c = Cache::default();
        let one = estimate("b", "k00000", &records("e"));
        let fit = RECORD_CACHE_BYTES_MAX / one;
        for i in 0..fit + 100 {
            let key = format!("k{i:05}");
            c.put(key_hash("b", &key), "b", &key, at(1, 1), records("e"));
            assert!(c.bytes <= RECORD_CACHE_BYTES_MAX);
        }
        assert!(
            c.map.len() <= fit && c.map.len() >= fit - 1,
            "{} of {fit}",
            c.map.len()
        );
        assert_eq!(c.bytes, c.map.values().map(|e| e.bytes).sum::<usize>());
    }
}

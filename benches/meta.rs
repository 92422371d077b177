//! The metadata shard (redb) on a temporary database: one object put per transaction (with
//! and without the fsync a 2xx waits for), a point get, a 1,000-key scan, and group commit
//! through `MetaShard::apply` (a `MetaCmd::PutObject`, as a PUT sends it) with 1, 8 and 64
//! concurrent writers on a glommio executor, and a CompleteMultipartUpload of 10,000 parts
//! (one `MetaCmd::CompleteUpload`: read every part, check, write the object; target ≤ 1 s,
//! measured 0.35-0.6 s end to end through the server on an idle 2-core box).

use bleepstore::meta::commands::{CompleteUpload, MetaCmd, WriteCond};
use bleepstore::meta::shard::MetaShard;
use bleepstore::meta::tables::{
    get_object, list_objects, w_put_bucket, w_put_object, w_put_part, w_put_upload,
};
use bleepstore::meta::types::{
    Acl, BucketMeta, Checksums, DataLoc, ObjectMeta, PartMeta, Segment, UploadMeta,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use glommio::{LocalExecutor, LocalExecutorBuilder, Placement};
use redb::Durability;
use std::cell::Cell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

const BUCKET: &str = "photos";
/// Objects in the bucket that get / scan run against.
const POPULATION: u64 = 10_000;
/// The server's default `metadata.group_commit_max`.
const GROUP_COMMIT_MAX: usize = 512;

fn meta(i: u64) -> ObjectMeta {
    ObjectMeta {
        size: 1 << 20,
        etag: format!("{:032x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        last_modified_ms: 1_709_294_400_000 + i,
        owner_id: "bleepstore".into(),
        content_type: "image/jpeg".into(),
        headers: vec![("cache-control".into(), "max-age=3600".into())],
        user_meta: vec![("camera".into(), "Pentax K-1".into())],
        checksums: Checksums {
            crc32: Some("AAAAAA==".into()),
            ..Default::default()
        },
        acl: Acl::default(),
        data: DataLoc::Files(vec![Segment {
            file_id: u128::from(i) << 64 | 7,
            len: 1 << 20,
            part_etag: None,
            // One CRC32C per `storage::local::IO_CHUNK_BYTES` chunk of the 1 MiB file.
            chunk_crc32c: vec![0x1234_5678],
        }]),
        upload_id: None,
        version: Default::default(),
        tags: vec![],
        lock: Default::default(),
    }
}

fn key(i: u64) -> String {
    format!("2024/{:02}/IMG_{i:08}.jpg", i % 12 + 1)
}

fn open(dir: &tempfile::TempDir) -> MetaShard {
    MetaShard::open(
        0,
        &dir.path().join("shard-0.redb"),
        GROUP_COMMIT_MAX,
        64 << 20,
    )
    .expect("open shard")
}

/// Small objects keep their bytes in the record (`storage.inline_bytes_max`, 64 KiB by
/// default); listings decode those records too.
const INLINE_SIZES: [(&str, usize); 2] = [("inline-4KiB", 4096), ("inline-64KiB", 65536)];

fn populate(shard: &MetaShard) {
    let mut txn = shard.database().unwrap().begin_write().unwrap();
    txn.set_durability(Durability::Immediate);
    for i in 0..POPULATION {
        w_put_object(&txn, BUCKET, &key(i), &meta(i)).unwrap();
    }
    for (bucket, size) in INLINE_SIZES {
        for i in 0..1000 {
            let mut m = meta(i);
            m.size = size as u64;
            m.data = DataLoc::Inline(vec![7u8; size]);
            w_put_object(&txn, bucket, &key(i), &m).unwrap();
        }
    }
    txn.commit().unwrap();
}

fn single_ops(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let shard = open(&dir);
    populate(&shard);
    let mut g = c.benchmark_group("meta");
    g.throughput(Throughput::Elements(1));

    let mut n = POPULATION;
    for (name, durability) in [
        ("put_no_fsync", Durability::None),
        ("put_fsync", Durability::Immediate),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let mut txn = shard.database().unwrap().begin_write().unwrap();
                txn.set_durability(durability);
                w_put_object(&txn, BUCKET, &key(n), &meta(n)).unwrap();
                txn.commit().unwrap();
            })
        });
    }

    let mut i = 0u64;
    g.bench_function("get", |b| {
        b.iter(|| {
            i = (i + 7919) % POPULATION;
            let txn = shard.read().unwrap();
            get_object(&txn, BUCKET, black_box(&key(i)))
                .unwrap()
                .unwrap()
        })
    });

    let txn = shard.read().unwrap();
    assert_eq!(
        list_objects(&txn, BUCKET, "", "", "", 1000)
            .unwrap()
            .objects
            .len(),
        1000
    );
    drop(txn);
    g.throughput(Throughput::Elements(1000));
    g.bench_function("scan_1000_keys", |b| {
        b.iter(|| {
            let txn = shard.read().unwrap();
            list_objects(&txn, BUCKET, black_box("2024/"), "", "", 1000).unwrap()
        })
    });
    for (bucket, _) in INLINE_SIZES {
        g.bench_function(format!("scan_1000_keys_{bucket}"), |b| {
            b.iter(|| {
                let txn = shard.read().unwrap();
                let page = list_objects(&txn, black_box(bucket), "", "", "", 1000).unwrap();
                assert_eq!(page.objects.len(), 1000);
                page
            })
        });
    }
    g.finish();
}

/// `writers` tasks each doing `per_writer` puts through the shard's group commit; the time
/// from first submission to the last durable reply.
fn group_commit_round(
    ex: &LocalExecutor,
    shard: &Rc<MetaShard>,
    next: &Rc<Cell<u64>>,
    writers: usize,
    per_writer: u64,
) -> Duration {
    ex.run(async {
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(writers);
        for _ in 0..writers {
            let shard = shard.clone();
            let next = next.clone();
            tasks.push(glommio::spawn_local(async move {
                for _ in 0..per_writer {
                    let i = next.get();
                    next.set(i + 1);
                    let cmd = MetaCmd::PutObject {
                        bucket: BUCKET.to_string(),
                        key: key(i),
                        meta: meta(i),
                        cond: WriteCond::default(),
                    };
                    shard.apply(cmd, Vec::new()).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await;
        }
        started.elapsed()
    })
}

/// A shard holding [`BUCKET`], its committer queued on a fresh executor.
fn committing_shard(dir: &tempfile::TempDir) -> (LocalExecutor, Rc<MetaShard>) {
    let shard = Rc::new(open(dir));
    let txn = shard.database().unwrap().begin_write().unwrap();
    let bucket = BucketMeta {
        name: BUCKET.into(),
        owner_id: "bleepstore".into(),
        created_ms: 1_709_294_400_000,
        region: "us-east-1".into(),
        acl: Acl::default(),
        versioning: Default::default(),
        tags: vec![],
        configs: 0,
    };
    w_put_bucket(&txn, &bucket).unwrap();
    txn.commit().unwrap();
    let ex = LocalExecutorBuilder::new(Placement::Unbound)
        .make()
        .expect("glommio executor");
    // One committer for the whole benchmark: it stays queued on the executor between runs.
    ex.run(async {
        glommio::spawn_local(shard.clone().run_committer()).detach();
    });
    (ex, shard)
}

fn group_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (ex, shard) = committing_shard(&dir);
    let next = Rc::new(Cell::new(0u64));
    let mut g = c.benchmark_group("meta_group_commit");
    for writers in [1usize, 8, 64] {
        g.throughput(Throughput::Elements(writers as u64));
        g.bench_function(format!("{writers}_writers"), |b| {
            // One iteration = one durable put by every writer; criterion reports puts/s.
            b.iter_custom(|iters| group_commit_round(&ex, &shard, &next, writers, iters))
        });
    }
    g.finish();
}

/// The parts of one multipart upload, as UploadPart commits them.
const COMPLETE_PARTS: u32 = 10_000;

/// Stages upload `n` of [`COMPLETE_PARTS`] parts in one transaction (not timed).
fn stage_upload(shard: &MetaShard, n: u64) -> CompleteUpload {
    let (key, upload_id) = (format!("big/{n}"), format!("upload-{n}"));
    let txn = shard.database().unwrap().begin_write().unwrap();
    let upload = UploadMeta {
        bucket: BUCKET.into(),
        key: key.clone(),
        upload_id: upload_id.clone(),
        initiated_ms: 1_709_294_400_000,
        owner_id: "bleepstore".into(),
        content_type: "application/octet-stream".into(),
        headers: Vec::new(),
        user_meta: Vec::new(),
        acl: Acl::default(),
        checksum_algorithm: None,
        tags: Vec::new(),
        lock: Default::default(),
    };
    w_put_upload(&txn, &upload).unwrap();
    let mut parts = Vec::with_capacity(COMPLETE_PARTS as usize);
    for p in 1..=COMPLETE_PARTS {
        let etag = format!("{:032x}", u64::from(p).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let part = PartMeta {
            size: 5 << 20,
            etag: etag.clone(),
            last_modified_ms: 1_709_294_400_000,
            file_id: u128::from(n) << 64 | u128::from(p),
            checksums: Checksums::default(),
            chunk_crc32c: vec![0x1234_5678; 5],
        };
        w_put_part(&txn, &upload_id, p, &part).unwrap();
        parts.push((p, etag));
    }
    txn.commit().unwrap();
    CompleteUpload {
        bucket: BUCKET.into(),
        key,
        upload_id,
        parts,
        part_size_min: 5 << 20,
        cond: WriteCond::default(),
        now_ms: 1_709_294_500_000,
        upstream: None,
        expected_checksum: None,
        part_checksums: Vec::new(),
        pinned: None,
    }
}

fn complete_upload(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (ex, shard) = committing_shard(&dir);
    let next = Cell::new(0u64);
    let mut g = c.benchmark_group("meta_complete_upload");
    g.sample_size(10);
    g.bench_function(format!("{COMPLETE_PARTS}_parts"), |b| {
        b.iter_custom(|iters| {
            let mut took = Duration::ZERO;
            for _ in 0..iters {
                next.set(next.get() + 1);
                let cmd = MetaCmd::CompleteUpload(stage_upload(&shard, next.get()));
                took += ex.run(async {
                    let started = Instant::now();
                    let reply = shard.apply(cmd, Vec::new()).await.unwrap();
                    assert!(reply.etag.is_some(), "the upload completed");
                    started.elapsed()
                });
            }
            took
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = single_ops, group_commit, complete_upload
}
criterion_main!(benches);

//! Payload digests through `s3::checksum::Hashers`, as a PUT computes them: the MD5 ETag
//! always, plus the requested S3 checksum. The `raw/*` rows time each algorithm's crate alone,
//! so the MD5 share of a `hashers/*` row can be read off.

use bleepstore::s3::checksum::{Algo, Hashers};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const SIZES: [(&str, usize); 2] = [("4KiB", 4 * 1024), ("1MiB", 1024 * 1024)];

fn data(n: usize) -> Vec<u8> {
    bleepstore::test_support::det_bytes(1, n)
}

fn hashers(algos: &[Algo], buf: &[u8]) -> [u8; 16] {
    let mut h = Hashers::new(algos);
    // The server feeds the body as it arrives: 64 KiB at a time at most.
    for piece in buf.chunks(64 * 1024) {
        h.update(piece);
    }
    h.finish().md5
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksums");
    let combos: [(&str, &[Algo]); 5] = [
        ("md5", &[]),
        ("md5+sha256", &[Algo::Sha256]),
        ("md5+crc32", &[Algo::Crc32]),
        ("md5+crc32c", &[Algo::Crc32c]),
        ("md5+crc64nvme", &[Algo::Crc64Nvme]),
    ];
    for (size_name, size) in SIZES {
        let buf = data(size);
        g.throughput(Throughput::Bytes(size as u64));
        for (name, algos) in combos {
            g.bench_with_input(
                BenchmarkId::new(format!("hashers/{name}"), size_name),
                &buf,
                |b, buf| b.iter(|| hashers(algos, black_box(buf))),
            );
        }
        g.bench_with_input(BenchmarkId::new("raw/sha256", size_name), &buf, |b, buf| {
            use sha2::Digest;
            b.iter(|| sha2::Sha256::digest(black_box(buf)))
        });
        g.bench_with_input(BenchmarkId::new("raw/crc32", size_name), &buf, |b, buf| {
            b.iter(|| crc32fast::hash(black_box(buf)))
        });
        g.bench_with_input(BenchmarkId::new("raw/crc32c", size_name), &buf, |b, buf| {
            b.iter(|| crc32c::crc32c(black_box(buf)))
        });
        g.bench_with_input(
            BenchmarkId::new("raw/crc64nvme", size_name),
            &buf,
            |b, buf| {
                b.iter(|| {
                    let mut d = crc64fast_nvme::Digest::new();
                    d.write(black_box(buf));
                    d.sum64()
                })
            },
        );
    }
    g.finish();
    lanes(c);
}

/// MD5 of 1, 2, 4 and 8 independent 1 MiB streams at once through `md5_lanes`: how the
/// per-core batcher's throughput grows with the number of PUTs hashing together.
fn lanes(c: &mut Criterion) {
    use bleepstore::hash::md5_lanes::{compress_lanes, LaneJob};
    let mut g = c.benchmark_group("md5_lanes");
    let bufs: Vec<Vec<u8>> = (0..8).map(|i| data(1024 * 1024 + i)).collect();
    for streams in [1usize, 2, 4, 8] {
        g.throughput(Throughput::Bytes((streams * 1024 * 1024) as u64));
        g.bench_function(BenchmarkId::new("1MiB_streams", streams), |b| {
            b.iter(|| {
                let mut jobs: Vec<LaneJob> = bufs[..streams]
                    .iter()
                    .map(|d| LaneJob {
                        state: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476],
                        blocks: &d.as_chunks::<64>().0[..16384],
                    })
                    .collect();
                compress_lanes(black_box(&mut jobs));
                jobs[0].state
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);

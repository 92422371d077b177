//! Rendering a full 1,000-key ListObjectsV2 page (the largest a listing returns).

use bleepstore::s3::xml::{list_objects_v2, ListObjectsV2Result, ObjectEntry};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn page(url: bool) -> ListObjectsV2Result {
    let contents: Vec<ObjectEntry> = (0..1000u64)
        .map(|i| {
            let mut e = ObjectEntry::new(
                format!("photos/2024/{:02}/IMG_{i:06} & co.jpg", i % 12 + 1),
                1_709_294_400_000 + i * 1000,
                format!("{:032x}", i.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                4096 + i,
            );
            if i % 4 == 0 {
                e.checksum_algorithm = Some("CRC32".into());
            }
            e
        })
        .collect();
    ListObjectsV2Result {
        name: "photos".into(),
        prefix: "photos/".into(),
        delimiter: None,
        max_keys: 1000,
        encoding_type_url: url,
        is_truncated: true,
        key_count: contents.len(),
        continuation_token: None,
        next_continuation_token: Some("cGhvdG9zLzIwMjQvMDQvSU1HXzAwMDk5OS5qcGc".into()),
        start_after: None,
        contents,
        common_prefixes: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("xml_list");
    for (name, url) in [
        ("list_objects_v2_1000_keys", false),
        ("list_objects_v2_1000_keys_url_encoded", true),
    ] {
        let r = page(url);
        let out = list_objects_v2(&r);
        assert_eq!(out.matches("<Contents>").count(), 1000);
        g.throughput(Throughput::Bytes(out.len() as u64));
        g.bench_function(name, |b| b.iter(|| list_objects_v2(black_box(&r))));
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);

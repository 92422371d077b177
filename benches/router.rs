//! `route()` over a mix of requests: what every request pays before its handler runs.

use bleepstore::http::head::{Method, RequestHead};
use bleepstore::s3::endpoint::{route, Endpoint};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn head(method: &str, target: &str, host: &str, extra: &[(&str, &str)]) -> RequestHead {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = vec![
        ("host".to_string(), host.to_string()),
        ("x-amz-date".to_string(), "20240301T120000Z".to_string()),
        (
            "x-amz-content-sha256".to_string(),
            "UNSIGNED-PAYLOAD".to_string(),
        ),
        (
            "authorization".to_string(),
            "AWS4-HMAC-SHA256 Credential=bleepstore/20240301/us-east-1/s3/aws4_request, \
             SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=00"
                .to_string(),
        ),
    ];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    RequestHead {
        method: Method::parse(method),
        method_raw: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        opaque: Vec::new(),
        version_minor: 1,
    }
}

fn mix() -> Vec<(RequestHead, Endpoint)> {
    let h = "127.0.0.1:9000";
    vec![
        (
            head("GET", "/photos/2024/01/IMG_000123.jpg", h, &[]),
            Endpoint::GetObject,
        ),
        (
            head(
                "PUT",
                "/photos/2024/01/IMG_000124.jpg",
                h,
                &[("content-length", "4096")],
            ),
            Endpoint::PutObject,
        ),
        (
            head("HEAD", "/photos/2024/01/IMG_000123.jpg", h, &[]),
            Endpoint::HeadObject,
        ),
        (
            head("DELETE", "/photos/a%20b/c%2Bd.txt", h, &[]),
            Endpoint::DeleteObject,
        ),
        (
            head(
                "GET",
                "/photos?list-type=2&prefix=2024%2F01%2F&delimiter=%2F&max-keys=1000",
                h,
                &[],
            ),
            Endpoint::ListObjectsV2,
        ),
        (
            head("POST", "/photos/big.iso?uploads", h, &[]),
            Endpoint::CreateMultipartUpload,
        ),
        (
            head(
                "PUT",
                "/photos/big.iso?partNumber=7&uploadId=0123456789abcdef0123456789abcdef",
                h,
                &[],
            ),
            Endpoint::UploadPart {
                upload_id: "0123456789abcdef0123456789abcdef".into(),
                part_number: "7".into(),
            },
        ),
        (
            head(
                "POST",
                "/photos/big.iso?uploadId=0123456789abcdef0123456789abcdef",
                h,
                &[],
            ),
            Endpoint::CompleteMultipartUpload {
                upload_id: "0123456789abcdef0123456789abcdef".into(),
            },
        ),
        (
            head(
                "PUT",
                "/photos/copy.jpg",
                h,
                &[("x-amz-copy-source", "/photos/2024/01/IMG_000123.jpg")],
            ),
            Endpoint::CopyObject,
        ),
        (head("HEAD", "/photos", h, &[]), Endpoint::HeadBucket),
        (head("GET", "/", h, &[]), Endpoint::ListBuckets),
        (
            head("GET", "/photos/x.jpg?tagging", h, &[]),
            Endpoint::NotImplemented("GetObjectTagging"),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let requests = mix();
    for (h, want) in &requests {
        assert_eq!(
            &route(h, "").unwrap().endpoint,
            want,
            "{} {}",
            h.method_raw,
            h.path
        );
    }
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(requests.len() as u64));
    g.bench_function("mix_of_12", |b| {
        b.iter(|| {
            for (h, _) in &requests {
                black_box(route(black_box(h), "").unwrap());
            }
        })
    });
    let vhost = head(
        "GET",
        "/2024/01/IMG_000123.jpg",
        "photos.s3.local:9000",
        &[],
    );
    g.throughput(Throughput::Elements(1));
    g.bench_function("get_object_virtual_host", |b| {
        b.iter(|| route(black_box(&vhost), "s3.local").unwrap())
    });
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

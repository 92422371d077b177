//! `parse_head` on the request heads S3 clients actually send (boto3 / aws CLI shapes).

use bleepstore::http::conn::{parse_head, Limits};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const GET_HEAD: &[u8] = b"GET /photos/2024/01/IMG_000123.jpg HTTP/1.1\r\n\
Host: 127.0.0.1:9000\r\n\
Accept-Encoding: identity\r\n\
User-Agent: Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.0\r\n\
X-Amz-Date: 20240301T120000Z\r\n\
X-Amz-Content-SHA256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=bleepstore/20240301/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n\
amz-sdk-invocation-id: 3f1c2f5e-8c1d-4a6e-9a57-0d3c7f0b1a22\r\n\
amz-sdk-request: attempt=1\r\n\
\r\n";

const PUT_HEAD: &[u8] = b"PUT /photos/2024/01/IMG_000123.jpg HTTP/1.1\r\n\
Host: 127.0.0.1:9000\r\n\
Accept-Encoding: identity\r\n\
Content-Type: image/jpeg\r\n\
User-Agent: aws-cli/2.15.0 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe sid/s3 md/prompt#off md/command#s3.cp\r\n\
Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==\r\n\
Expect: 100-continue\r\n\
X-Amz-Date: 20240301T120000Z\r\n\
X-Amz-Content-SHA256: UNSIGNED-PAYLOAD\r\n\
x-amz-meta-camera: Pentax K-1\r\n\
x-amz-checksum-crc32: AAAAAA==\r\n\
x-amz-sdk-checksum-algorithm: CRC32\r\n\
Authorization: AWS4-HMAC-SHA256 Credential=bleepstore/20240301/us-east-1/s3/aws4_request, SignedHeaders=content-md5;content-type;host;x-amz-checksum-crc32;x-amz-content-sha256;x-amz-date;x-amz-meta-camera;x-amz-sdk-checksum-algorithm, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n\
amz-sdk-invocation-id: 3f1c2f5e-8c1d-4a6e-9a57-0d3c7f0b1a22\r\n\
amz-sdk-request: attempt=1; max=3\r\n\
Content-Length: 1048576\r\n\
\r\n";

/// The server's defaults (`server.request_head_bytes_max`, `server.header_count_max`).
fn limits() -> Limits {
    Limits {
        head_bytes_max: 16 * 1024,
        header_count_max: 128,
        idle_timeout_ms: 60_000,
        header_timeout_ms: 10_000,
        body_timeout_ms: 60_000,
    }
}

fn bench(c: &mut Criterion) {
    let limits = limits();
    let mut g = c.benchmark_group("http_parse");
    for (name, head) in [("get", GET_HEAD), ("put", PUT_HEAD)] {
        let (parsed, used) = parse_head(head, &limits).unwrap().unwrap();
        assert_eq!(used, head.len());
        assert!(parsed.header("authorization").is_some());
        g.throughput(Throughput::Bytes(head.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                parse_head(black_box(head), black_box(&limits))
                    .unwrap()
                    .unwrap()
            })
        });
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

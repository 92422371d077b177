//! SigV4 verification: `authenticate()` for header auth and presigned URLs (with the per-core
//! signing-key cache warm, as on the server, and cold), and one signed aws-chunked 64 KiB
//! chunk through `AwsChunkedDecoder`.

use bleepstore::auth::authenticate;
use bleepstore::auth::chunked::{
    chunk_signature, AwsChunkedDecoder, Streaming, AWS_CHUNK_SIZE_MAX_BYTES,
};
use bleepstore::auth::signer::{amz_date, presign, sign_headers};
use bleepstore::auth::sigv4::{
    derive_signing_key, scope, sha256_hex, ChunkSigningContext, PayloadMode, SecretLookup,
    SigningKeyCache, UNSIGNED_PAYLOAD,
};
use bleepstore::http::head::{Method, RequestHead};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, SystemTime};

const AK: &str = "bleepstore";
const SECRET: &str = "bleepstore-secret";
const REGION: &str = "us-east-1";
const HOST: &str = "127.0.0.1:9000";

struct Keys;
impl SecretLookup for Keys {
    fn secret_for(&self, access_key: &str) -> Option<&str> {
        (access_key == AK).then_some(SECRET)
    }
}

fn head(method: &str, target: &str, headers: &[(String, String)]) -> RequestHead {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    RequestHead {
        method: Method::parse(method),
        method_raw: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
            .collect(),
        opaque: Vec::new(),
        version_minor: 1,
    }
}

/// A GET as boto3 signs it (host, x-amz-content-sha256, x-amz-date) plus unsigned extras.
fn header_get(now: SystemTime) -> RequestHead {
    let path = "/photos/2024/01/IMG_000123.jpg";
    let mut headers = vec![
        ("host".to_string(), HOST.to_string()),
        (
            "x-amz-content-sha256".to_string(),
            UNSIGNED_PAYLOAD.to_string(),
        ),
        ("x-amz-date".to_string(), amz_date(now)),
    ];
    let auth = sign_headers(
        "GET",
        path,
        "",
        &headers,
        UNSIGNED_PAYLOAD,
        AK,
        SECRET,
        REGION,
        "s3",
        now,
    );
    headers.push(("authorization".to_string(), auth));
    headers.push((
        "user-agent".to_string(),
        "Boto3/1.34.0 Botocore/1.34.0".to_string(),
    ));
    headers.push(("accept-encoding".to_string(), "identity".to_string()));
    head("GET", path, &headers)
}

fn presigned_get(now: SystemTime) -> RequestHead {
    let target = presign(
        "GET",
        HOST,
        "/photos/2024/01/IMG_000123.jpg",
        "",
        AK,
        SECRET,
        REGION,
        now,
        3600,
    );
    head("GET", &target, &[("host".to_string(), HOST.to_string())])
}

/// One signed 64 KiB chunk and the final chunk, as the SDKs frame them.
fn chunked_body(ctx: &ChunkSigningContext) -> (Vec<u8>, usize) {
    let data = vec![b'a'; 64 * 1024];
    let sig1 = chunk_signature(ctx, &ctx.seed_signature, &data);
    let sig2 = chunk_signature(ctx, &sig1, b"");
    let mut body = format!("{:x};chunk-signature={sig1}\r\n", data.len()).into_bytes();
    body.extend_from_slice(&data);
    body.extend_from_slice(format!("\r\n0;chunk-signature={sig2}\r\n\r\n").as_bytes());
    (body, data.len())
}

fn decode_all(ctx: &ChunkSigningContext, body: &[u8]) -> u64 {
    let mut d = AwsChunkedDecoder::new(Streaming::Signed(ctx.clone()), AWS_CHUNK_SIZE_MAX_BYTES);
    let mut pos = 0;
    while !d.is_done() {
        let step = d.feed(&body[pos..]).unwrap();
        if let Some(r) = step.payload {
            black_box(&body[pos..][r]);
        }
        pos += step.consumed;
        if step.done {
            break;
        }
        assert!(step.consumed > 0, "decoder stalled");
    }
    d.finish().unwrap();
    d.decoded_len()
}

fn bench(c: &mut Criterion) {
    let now = SystemTime::now();
    let mut g = c.benchmark_group("sigv4");
    g.throughput(Throughput::Elements(1));

    let h = header_get(now);
    let mut cache = SigningKeyCache::new();
    assert_eq!(
        authenticate(&h, &Keys, &mut cache, now)
            .unwrap()
            .access_key
            .as_deref(),
        Some(AK)
    );
    g.bench_function("header_auth_get", |b| {
        b.iter(|| authenticate(black_box(&h), &Keys, &mut cache, now).unwrap())
    });
    g.bench_function("header_auth_get_cold_key_cache", |b| {
        b.iter_batched_ref(
            SigningKeyCache::new,
            |cache| authenticate(black_box(&h), &Keys, cache, now).unwrap(),
            BatchSize::SmallInput,
        )
    });

    let p = presigned_get(now);
    assert_eq!(
        authenticate(&p, &Keys, &mut cache, now).unwrap().payload,
        PayloadMode::Unsigned
    );
    g.bench_function("presigned_get", |b| {
        b.iter(|| authenticate(black_box(&p), &Keys, &mut cache, now).unwrap())
    });

    // Client side: what a signing client pays per request (the project's signer).
    g.bench_function("sign_headers_client", |b| {
        let headers = vec![
            ("host".to_string(), HOST.to_string()),
            (
                "x-amz-content-sha256".to_string(),
                UNSIGNED_PAYLOAD.to_string(),
            ),
            ("x-amz-date".to_string(), amz_date(now)),
        ];
        b.iter(|| {
            sign_headers(
                "GET",
                black_box("/photos/x.jpg"),
                "",
                &headers,
                UNSIGNED_PAYLOAD,
                AK,
                SECRET,
                REGION,
                "s3",
                now,
            )
        })
    });

    let date = amz_date(now);
    let ctx = ChunkSigningContext {
        signing_key: derive_signing_key(SECRET, &date[..8], REGION, "s3"),
        scope: scope(&date[..8], REGION, "s3"),
        amz_date: date.clone(),
        seed_signature: sha256_hex(b"seed"),
    };
    let (body, payload) = chunked_body(&ctx);
    assert_eq!(decode_all(&ctx, &body), payload as u64);
    g.throughput(Throughput::Bytes(payload as u64));
    g.bench_function("aws_chunked_signed_64KiB", |b| {
        b.iter(|| decode_all(&ctx, black_box(&body)))
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

//! The allocation bench's cells, shared by `benches/alloc.rs` (prints the figures) and
//! `tests/alloc.rs` (fails above a bound): GET, HEAD and PUT of a 4 KiB inline object, PUT
//! of a 1 MiB object (its data in a file),
//! each a SigV4 header-signed request built with the project's own signer, and a presigned
//! GET (as wrk and browsers send them: the signature in the query), run through the
//! whole request path of an in-process core (`server::in_process`) with the access log on.
//!
//! Per request = (counts of a connection of `2n` requests - counts of one of `n`) / `n`,
//! both after a warm-up connection: what a connection costs once (its read buffer) cancels,
//! what every request costs stays. The binary must install `CountingAlloc`.

use bleepstore::auth::signer::{amz_date, presign, sign_headers};
use bleepstore::auth::sigv4::sha256_hex;
use bleepstore::config::Config;
use bleepstore::server::in_process::InProcess;
use bleepstore::test_support::{det_bytes, AllocCounts, CountingAlloc};
use std::cell::RefCell;
use std::rc::Rc;

pub const BUCKET: &str = "alloc-bench";
pub const KEY: &str = "dir/inline-4k.bin";
pub const OBJECT_BYTES: usize = 4096;
pub const BIG_KEY: &str = "dir/file-1m.bin";
pub const BIG_OBJECT_BYTES: usize = 1 << 20;

/// One cell's figures, per request.
#[derive(Debug, Clone, Copy)]
pub struct PerRequest {
    pub name: &'static str,
    /// On the core's thread (the request path itself).
    pub core_allocs: f64,
    pub core_bytes: f64,
    /// On every thread (adds the metadata committer's offload thread and the log writer).
    pub all_allocs: f64,
    pub all_bytes: f64,
}

/// A signed request's bytes, with `body` after the head.
fn signed(method: &str, path: &str, body: &[u8], config: &Config) -> Vec<u8> {
    let now = std::time::SystemTime::now();
    let payload_hash = sha256_hex(body);
    let mut headers = vec![
        ("host".to_string(), "127.0.0.1:9000".to_string()),
        ("x-amz-content-sha256".to_string(), payload_hash.clone()),
        ("x-amz-date".to_string(), amz_date(now)),
    ];
    if method == "PUT" {
        headers.push(("content-length".to_string(), body.len().to_string()));
    }
    let auth = sign_headers(
        method,
        path,
        "",
        &headers,
        &payload_hash,
        &config.auth.access_key,
        &config.auth.secret_key,
        &config.server.region,
        "s3",
        now,
    );
    let mut out = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    for (n, v) in headers.iter().chain([&("authorization".to_string(), auth)]) {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A presigned GET's bytes (valid for an hour).
fn presigned_get(path: &str, config: &Config) -> Vec<u8> {
    let host = "127.0.0.1:9000";
    let target = presign(
        "GET",
        host,
        path,
        "",
        &config.auth.access_key,
        &config.auth.secret_key,
        &config.server.region,
        std::time::SystemTime::now(),
        3600,
    );
    format!("GET {target} HTTP/1.1\r\nhost: {host}\r\n\r\n").into_bytes()
}

/// Sends `request` `repeats` times on one connection; panics unless every answer is
/// `expect_status`. Returns what the core's thread and all threads allocated meanwhile.
async fn run(
    server: &InProcess,
    request: &Rc<[u8]>,
    repeats: u64,
    expect_status: &str,
    reply: &Rc<RefCell<Vec<u8>>>,
) -> (AllocCounts, AllocCounts) {
    reply.borrow_mut().clear();
    let reply_max = reply.borrow().capacity();
    let (core0, all0) = (CountingAlloc::this_thread(), CountingAlloc::all_threads());
    server
        .exchange(request.clone(), repeats, reply.clone(), reply_max)
        .await;
    let (core1, all1) = (CountingAlloc::this_thread(), CountingAlloc::all_threads());
    let status_line = format!("HTTP/1.1 {expect_status}\r\n");
    let answered = count(&reply.borrow(), status_line.as_bytes());
    assert_eq!(
        answered,
        repeats,
        "answers with {expect_status}; first bytes: {}",
        String::from_utf8_lossy(&reply.borrow()[..reply.borrow().len().min(600)])
    );
    (core1.since(core0), all1.since(all0))
}

fn count(hay: &[u8], needle: &[u8]) -> u64 {
    hay.windows(needle.len()).filter(|w| *w == needle).count() as u64
}

/// One cell: a warm-up connection, then connections of `n` and `2n` requests.
async fn cell(
    server: &InProcess,
    name: &'static str,
    request: Vec<u8>,
    n: u64,
    reply: &Rc<RefCell<Vec<u8>>>,
) -> PerRequest {
    let request: Rc<[u8]> = request.into();
    run(server, &request, n, "200 OK", reply).await;
    let (core_n, all_n) = run(server, &request, n, "200 OK", reply).await;
    let (core_2n, all_2n) = run(server, &request, 2 * n, "200 OK", reply).await;
    let per = |a: u64, b: u64| (b as f64 - a as f64) / n as f64;
    PerRequest {
        name,
        core_allocs: per(core_n.allocs, core_2n.allocs),
        core_bytes: per(core_n.bytes, core_2n.bytes),
        all_allocs: per(all_n.allocs, all_2n.allocs),
        all_bytes: per(all_n.bytes, all_2n.bytes),
    }
}

/// Starts an in-process core over a fresh data directory, creates the bucket and the
/// object, and measures GET, HEAD and PUT with `n` requests per connection.
pub fn measure(n: u64) -> Vec<PerRequest> {
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            let dir = tempfile::tempdir().expect("a temporary data directory");
            let mut config = Config::default();
            config.storage.data_dir = dir.path().to_path_buf();
            config.server.access_log = true;
            bleepstore::observe::log::start_discarding();
            bleepstore::observe::log::set_access_log(true, false);
            let server = InProcess::start(config.clone()).expect("start an in-process core");
            // Room for every answer of the largest connection (GET: head + 4 KiB each).
            let reply = Rc::new(RefCell::new(Vec::with_capacity(
                (2 * n as usize + 1) * (OBJECT_BYTES + 1024),
            )));
            let create: Rc<[u8]> = signed("PUT", &format!("/{BUCKET}"), b"", &config).into();
            run(&server, &create, 1, "200 OK", &reply).await;
            let path = format!("/{BUCKET}/{KEY}");
            let body = det_bytes(7, OBJECT_BYTES);
            let put = signed("PUT", &path, &body, &config);
            let get = signed("GET", &path, b"", &config);
            let head = signed("HEAD", &path, b"", &config);
            let put_request = put.clone();
            let put_cell = cell(&server, "PUT 4 KiB", put, n, &reply).await;
            // A body 256 times larger, streamed to a data file rather than kept inline:
            // per-request counts that do not grow with it are O(1) in the body's size.
            let big_body = det_bytes(8, BIG_OBJECT_BYTES);
            let big_put = signed("PUT", &format!("/{BUCKET}/{BIG_KEY}"), &big_body, &config);
            let big_put_request = big_put.clone();
            let big_put_cell = cell(&server, "PUT 1 MiB", big_put, (n / 4).max(8), &reply).await;
            let get_request = get.clone();
            let get_cell = cell(&server, "GET 4 KiB inline", get, n, &reply).await;
            let head_cell = cell(&server, "HEAD 4 KiB inline", head, n, &reply).await;
            let presigned = presigned_get(&path, &config);
            let presigned_cell = cell(&server, "GET presigned", presigned, n, &reply).await;
            if std::env::var_os("ALLOC_SITES").is_some() {
                print_sites(&server, "GET", get_request, &reply).await;
                print_sites(&server, "PUT", put_request, &reply).await;
                print_sites(&server, "PUT 1 MiB", big_put_request, &reply).await;
            }
            drop(server);
            drop(dir);
            vec![get_cell, head_cell, presigned_cell, put_cell, big_put_cell]
        })
        .expect("start the bench executor")
        .join()
        .expect("the bench executor's thread")
}

/// With ALLOC_SITES set: where one warm request of `request` allocates on the core's
/// thread, by call site (the innermost frames of this crate).
async fn print_sites(
    server: &InProcess,
    name: &str,
    request: Vec<u8>,
    reply: &Rc<RefCell<Vec<u8>>>,
) {
    let request: Rc<[u8]> = request.into();
    run(server, &request, 4, "200 OK", reply).await;
    let _ = CountingAlloc::take_sites();
    CountingAlloc::trace_sites(true);
    run(server, &request, 1, "200 OK", reply).await;
    CountingAlloc::trace_sites(false);
    println!("allocation sites of one {name} (core thread):");
    for (site, n) in CountingAlloc::take_sites() {
        println!("{n:>5}  {site}");
    }
}

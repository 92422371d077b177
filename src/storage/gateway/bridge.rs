//! The glommio ⇄ tokio bridge: shard loops hand upstream calls to the gateway's tokio pool
//! and await the answers without blocking their core.
//!
//! Sketch: a 1 MiB PUT through a gateway crosses the channel as four 256 KiB `Bytes` (one
//! copy out of the socket buffer); at most `BODY_CHUNKS_INFLIGHT_MAX` chunks wait per
//! request, so a request costs ≤ 1 MiB of queue memory whatever the object size, and a
//! slow upstream (or a client that stops reading a GET) pushes back instead of piling up.

use super::upstream::{ByteStream, UpResult, Upstream, UpstreamError, UpstreamErrorKind};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::http::response::{BodyStream, Chunk};
use crate::storage::ByteSource;
use bytes::{Bytes, BytesMut};
use futures::channel::mpsc;
use futures::future::{BoxFuture, LocalBoxFuture};
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes per chunk handed across the bridge.
pub const BODY_CHUNK_BYTES: usize = 256 * 1024;
/// Chunks queued per request in either direction.
pub const BODY_CHUNKS_INFLIGHT_MAX: usize = 4;
/// How often the upstream is probed for /health and /readyz.
pub const PROBE_INTERVAL_MS: u64 = 2_000;

/// One configured upstream and the tokio runtime that drives it.
pub struct Gateway {
    runtime: tokio::runtime::Handle,
    upstream: Arc<dyn Upstream>,
    prefix: String,
    /// Last probe (or request) outcome: the upstream answered with valid credentials.
    healthy: AtomicBool,
    probes: AtomicU64,
    /// Why the last probe failed (written by the probe task only; read by /health).
    last_error: Mutex<String>,
}

impl Gateway {
    /// Starts the tokio pool (`threads` workers) and the periodic probe.
    pub fn start(
        upstream: Arc<dyn Upstream>,
        prefix: String,
        threads: usize,
    ) -> std::io::Result<Arc<Gateway>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("gateway")
            .enable_all()
            .build()?;
        let gw = Arc::new(Gateway {
            runtime: runtime.handle().clone(),
            upstream,
            prefix,
            healthy: AtomicBool::new(false),
            probes: AtomicU64::new(0),
            last_error: Mutex::new("not probed yet".into()),
        });
        let probe = gw.clone();
        runtime.spawn(async move {
            let mut tick =
                tokio::time::interval(std::time::Duration::from_millis(PROBE_INTERVAL_MS));
            loop {
                tick.tick().await;
                probe.probe_once().await;
            }
        });
        // The process lives as long as the runtime: keep it without a join point.
        std::mem::forget(runtime);
        Ok(gw)
    }

    async fn probe_once(&self) {
        let result = self.upstream.probe().await;
        let ok = result.is_ok();
        if let Ok(mut last) = self.last_error.lock() {
            *last = match &result {
                Ok(()) => String::new(),
                Err(e) => e.to_string(),
            };
        }
        let was = self.healthy.swap(ok, Ordering::AcqRel);
        self.probes.fetch_add(1, Ordering::Relaxed);
        match (was, result) {
            (false, Ok(())) => tracing::info!(upstream = self.kind(), "upstream reachable"),
            (true, Err(e)) => {
                tracing::warn!(upstream = self.kind(), cause = %e, "upstream unreachable")
            }
            _ => {}
        }
    }

    pub fn kind(&self) -> &'static str {
        self.upstream.kind()
    }

    /// Ready to serve: the last probe succeeded.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// (healthy, probes so far, last error) for /health.
    pub fn status(&self) -> (bool, u64, String) {
        let err = self
            .last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default();
        (self.is_healthy(), self.probes.load(Ordering::Relaxed), err)
    }

    /// The upstream name of one version of an object's bytes:
    /// `{prefix}{bucket}/{key}.{version as 32 hex digits}`.
    ///
    /// Each write goes to a fresh name and the metadata commit alone decides which one the
    /// key means, exactly as local data files do: a crash between the upstream write and
    /// the commit leaves an unreferenced upstream object, never an acknowledged version
    /// overwritten by an unacknowledged one. (The fixed-length suffix keeps names
    /// injective: stripping 33 characters gives back `{bucket}/{key}`.)
    pub fn object_name(&self, bucket: &str, key: &str, version: u128) -> String {
        format!("{}{bucket}/{key}.{version:032x}", self.prefix)
    }

    /// Deletes the given versions of `bucket/key` in the background (after the records
    /// that named them are gone); zero ids (gateway parts) are skipped.
    pub fn free_versions(&self, bucket: &str, key: &str, versions: &[u128]) {
        let names: Vec<String> = versions
            .iter()
            .filter(|v| **v != 0)
            .map(|v| self.object_name(bucket, key, *v))
            .collect();
        if names.is_empty() {
            return;
        }
        let up = self.upstream.clone();
        self.runtime.spawn(async move {
            for name in names {
                if let Err(e) = super::upstream::retry(|| up.delete(&name)).await {
                    tracing::warn!(name = %name, cause = %e, "gateway: freeing an old version failed");
                }
            }
        });
    }

    /// Runs an upstream call on the tokio pool and awaits it from the calling core.
    async fn call<T, F>(&self, f: F) -> S3Result<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn Upstream>) -> BoxFuture<'static, UpResult<T>> + Send + 'static,
    {
        let up = self.upstream.clone();
        let task = self.runtime.spawn(async move { f(up).await });
        match task.await {
            Ok(r) => r.map_err(to_s3_error),
            Err(e) => Err(S3Error::internal(format!("gateway task failed: {e}"))),
        }
    }

    pub async fn copy(&self, src: String, dst: String) -> S3Result<()> {
        self.call(move |up| Box::pin(async move { up.copy(&src, &dst).await }))
            .await
    }

    /// Assembles the parts (part_number, len) of an upload into `dst`.
    pub async fn complete(
        &self,
        dst: String,
        upload_id: String,
        parts: Vec<(u32, u64)>,
    ) -> S3Result<()> {
        self.call(move |up| Box::pin(async move { up.complete(&dst, &upload_id, &parts).await }))
            .await
    }

    pub async fn abort(&self, dst: String, upload_id: String, parts: Vec<u32>) -> S3Result<()> {
        self.call(move |up| Box::pin(async move { up.abort(&dst, &upload_id, &parts).await }))
            .await
    }

    /// Streams bytes `[start, end)` of `name`; `expect_size` is the object size the metadata
    /// records, checked against the upstream's so a stale or foreign object is never served.
    pub async fn get(
        &self,
        name: String,
        start: u64,
        end: u64,
        expect_size: u64,
    ) -> S3Result<GatewayStream> {
        let (tx, rx) = mpsc::channel::<UpResult<Bytes>>(BODY_CHUNKS_INFLIGHT_MAX);
        let range = if start == 0 && end == expect_size {
            None
        } else {
            Some((start, end))
        };
        let opened = self
            .call(move |up| {
                Box::pin(async move {
                    let (size, body) = super::upstream::retry(|| up.get(&name, range)).await?;
                    if size != expect_size {
                        return Err(UpstreamError::new(
                            UpstreamErrorKind::Other,
                            None,
                            format!("get {name}: upstream holds {size} bytes, metadata says {expect_size}"),
                        ));
                    }
                    Ok(body)
                })
            })
            .await?;
        self.runtime.spawn(forward(opened, tx));
        Ok(GatewayStream {
            rx,
            left: end - start,
        })
    }

    /// Streams `src` (exactly `len` bytes) towards `target`, holding back the last chunk:
    /// the upstream cannot complete the object until `PendingPut::commit`, so a body that
    /// fails verification afterwards is aborted upstream instead of stored.
    pub async fn put(
        &self,
        target: PutTarget,
        src: &mut dyn ByteSource,
        len: u64,
    ) -> S3Result<PendingPut> {
        let (mut tx, rx) = mpsc::channel::<UpResult<Bytes>>(BODY_CHUNKS_INFLIGHT_MAX);
        if len == 0 {
            // An empty body would complete upstream at once: start it only on commit.
            let mut probe = [0u8; 1];
            if src.read(&mut probe).await? != 0 {
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
            return Ok(PendingPut {
                tx: Some(tx),
                held: None,
                _tail_lease: None,
                task: None,
                deferred: Some((self.runtime.clone(), self.upstream.clone(), target, rx)),
            });
        }
        // The held-back last chunk waits in memory until the body is verified: it is on the
        // core's budget for buffered request bytes, taken before the upstream is called.
        let tail_lease =
            crate::runtime::budget::Lease::take(BODY_CHUNK_BYTES.min(len as usize)).await?;
        let mut task = Some(self.spawn_put(target, rx.boxed(), len));
        let mut got: u64 = 0;
        let mut held: Option<Bytes> = None;
        loop {
            let mut buf = BytesMut::zeroed(BODY_CHUNK_BYTES);
            let n = match fill(src, &mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    abort_put(tx, task.take()).await;
                    return Err(e);
                }
            };
            if n == 0 {
                break;
            }
            got += n as u64;
            if got > len {
                abort_put(tx, task.take()).await;
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
            if let Some(prev) = held.take() {
                if tx.send(Ok(prev)).await.is_err() {
                    // The upstream request ended early: its error says why.
                    return Err(finish_put(task.take()).await.err().unwrap_or_else(|| {
                        S3Error::internal("upstream put ended before its body")
                    }));
                }
            }
            buf.truncate(n);
            held = Some(buf.freeze());
        }
        if got != len {
            abort_put(tx, task.take()).await;
            return Err(S3Error::new(ErrorCode::IncompleteBody));
        }
        Ok(PendingPut {
            tx: Some(tx),
            held,
            _tail_lease: Some(tail_lease),
            task,
            deferred: None,
        })
    }

    fn spawn_put(
        &self,
        target: PutTarget,
        body: ByteStream,
        len: u64,
    ) -> tokio::task::JoinHandle<UpResult<()>> {
        spawn_put(&self.runtime, self.upstream.clone(), target, body, len)
    }
}

fn spawn_put(
    runtime: &tokio::runtime::Handle,
    up: Arc<dyn Upstream>,
    target: PutTarget,
    body: ByteStream,
    len: u64,
) -> tokio::task::JoinHandle<UpResult<()>> {
    {
        runtime.spawn(async move {
            match target {
                PutTarget::Object(name) => up.put(&name, body, len).await,
                PutTarget::Part {
                    dst,
                    upload_id,
                    part_number,
                } => up.put_part(&dst, &upload_id, part_number, body, len).await,
            }
        })
    }
}

/// Where a gateway put goes.
pub enum PutTarget {
    Object(String),
    Part {
        dst: String,
        upload_id: String,
        part_number: u32,
    },
}

/// An upload whose bytes are all upstream but the last chunk: commit or abort it.
pub struct PendingPut {
    tx: Option<mpsc::Sender<UpResult<Bytes>>>,
    held: Option<Bytes>,
    /// `held`'s share of the core's budget for buffered request bytes.
    _tail_lease: Option<crate::runtime::budget::Lease>,
    task: Option<tokio::task::JoinHandle<UpResult<()>>>,
    /// An empty upload not started yet (see `Gateway::put`).
    deferred: Option<DeferredPut>,
}

type DeferredPut = (
    tokio::runtime::Handle,
    Arc<dyn Upstream>,
    PutTarget,
    mpsc::Receiver<UpResult<Bytes>>,
);

impl PendingPut {
    /// Sends the last chunk and waits for the upstream to store the object.
    pub async fn commit(mut self) -> S3Result<()> {
        if let Some((rt, up, target, rx)) = self.deferred.take() {
            self.task = Some(spawn_put(&rt, up, target, rx.boxed(), 0));
        }
        if let (Some(tx), Some(last)) = (self.tx.as_mut(), self.held.take()) {
            let _ = tx.send(Ok(last)).await;
        }
        self.tx = None;
        finish_put(self.task.take()).await
    }

    /// Fails the upstream request so nothing is stored.
    pub async fn abort(mut self) {
        if let Some(tx) = self.tx.take() {
            abort_put(tx, self.task.take()).await;
        }
    }
}

impl Drop for PendingPut {
    fn drop(&mut self) {
        // Dropped without a decision (the request future was cancelled): make the upstream
        // request fail rather than complete with the held chunk missing.
        if let Some(mut tx) = self.tx.take() {
            let _ = tx.try_send(Err(aborted()));
        }
    }
}

fn aborted() -> UpstreamError {
    UpstreamError::new(UpstreamErrorKind::Aborted, None, "request body aborted")
}

async fn abort_put(
    mut tx: mpsc::Sender<UpResult<Bytes>>,
    task: Option<tokio::task::JoinHandle<UpResult<()>>>,
) {
    let _ = tx.send(Err(aborted())).await;
    drop(tx);
    if let Some(t) = task {
        let _ = t.await;
    }
}

async fn finish_put(task: Option<tokio::task::JoinHandle<UpResult<()>>>) -> S3Result<()> {
    match task {
        Some(t) => match t.await {
            Ok(r) => r.map_err(to_s3_error),
            Err(e) => Err(S3Error::internal(format!("gateway put task failed: {e}"))),
        },
        None => Ok(()),
    }
}

async fn fill(src: &mut dyn ByteSource, dst: &mut [u8]) -> S3Result<usize> {
    crate::http::body::fill_from(dst, async |d: &mut [u8]| src.read(d).await).await
}

/// Pumps an upstream body into the bounded channel; stops when the reader goes away.
async fn forward(mut body: ByteStream, mut tx: mpsc::Sender<UpResult<Bytes>>) {
    while let Some(item) = body.next().await {
        let stop = item.is_err();
        if tx.send(item).await.is_err() || stop {
            return;
        }
    }
}

/// An upstream object's bytes as a response body (and a copy source).
pub struct GatewayStream {
    rx: mpsc::Receiver<UpResult<Bytes>>,
    left: u64,
}

impl GatewayStream {
    pub async fn next_bytes(&mut self) -> std::io::Result<Option<Bytes>> {
        if self.left == 0 {
            return Ok(None);
        }
        match self.rx.next().await {
            Some(Ok(b)) => {
                let b = if b.len() as u64 > self.left {
                    b.slice(..self.left as usize)
                } else {
                    b
                };
                self.left -= b.len() as u64;
                Ok(Some(b))
            }
            Some(Err(e)) => Err(std::io::Error::other(e.to_string())),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("upstream body ended {} bytes short", self.left),
            )),
        }
    }
}

impl BodyStream for GatewayStream {
    fn next_chunk(&mut self) -> LocalBoxFuture<'_, std::io::Result<Option<Chunk>>> {
        Box::pin(async move { Ok(self.next_bytes().await?.map(|b| Box::new(b) as Chunk)) })
    }
}

/// The S3 error a client sees for an upstream failure; the cause chain goes to the log.
pub fn to_s3_error(e: UpstreamError) -> S3Error {
    let code = match e.kind {
        UpstreamErrorKind::NotFound => ErrorCode::NoSuchKey,
        UpstreamErrorKind::AccessDenied => ErrorCode::AccessDenied,
        UpstreamErrorKind::InvalidRange => ErrorCode::InvalidRange,
        UpstreamErrorKind::Throttled => ErrorCode::SlowDown,
        UpstreamErrorKind::Unavailable => ErrorCode::ServiceUnavailable,
        UpstreamErrorKind::Aborted => ErrorCode::IncompleteBody,
        UpstreamErrorKind::Other => ErrorCode::InternalError,
    };
    tracing::warn!(cause = %e, code = code.as_str(), "gateway upstream error");
    S3Error::new(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// An upstream in memory: stores a put only if its body ended cleanly, and records
    /// how many bytes each put has received so far.
    #[derive(Default)]
    struct MemUpstream {
        objects: Mutex<HashMap<String, Vec<u8>>>,
        received: Mutex<HashMap<String, usize>>,
    }

    impl Upstream for MemUpstream {
        fn kind(&self) -> &'static str {
            "mem"
        }
        fn probe(&self) -> BoxFuture<'_, UpResult<()>> {
            Box::pin(async { Ok(()) })
        }
        fn put<'a>(
            &'a self,
            name: &'a str,
            mut body: ByteStream,
            len: u64,
        ) -> BoxFuture<'a, UpResult<()>> {
            Box::pin(async move {
                let mut data = Vec::new();
                while let Some(chunk) = body.next().await {
                    data.extend_from_slice(&chunk?);
                    self.received
                        .lock()
                        .unwrap()
                        .insert(name.into(), data.len());
                }
                assert_eq!(data.len() as u64, len, "body length");
                self.objects.lock().unwrap().insert(name.into(), data);
                Ok(())
            })
        }
        fn get<'a>(
            &'a self,
            name: &'a str,
            range: Option<(u64, u64)>,
        ) -> BoxFuture<'a, UpResult<(u64, ByteStream)>> {
            Box::pin(async move {
                let objects = self.objects.lock().unwrap();
                let data = objects
                    .get(name)
                    .ok_or_else(|| UpstreamError::from_status(404, format!("get {name}")))?;
                let (a, b) = range.unwrap_or((0, data.len() as u64));
                let part = Bytes::copy_from_slice(&data[a as usize..b as usize]);
                let chunks: Vec<UpResult<Bytes>> = part
                    .chunks(1000)
                    .map(|c| Ok(Bytes::copy_from_slice(c)))
                    .collect();
                Ok((data.len() as u64, futures::stream::iter(chunks).boxed()))
            })
        }
        fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, UpResult<()>> {
            Box::pin(async move {
                self.objects.lock().unwrap().remove(name);
                Ok(())
            })
        }
        fn copy<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, UpResult<()>> {
            Box::pin(async { Ok(()) })
        }
        fn put_part<'a>(
            &'a self,
            _: &'a str,
            upload_id: &'a str,
            part_number: u32,
            body: ByteStream,
            len: u64,
        ) -> BoxFuture<'a, UpResult<()>> {
            let name = format!("{upload_id}/{part_number}");
            Box::pin(async move { self.put(&name, body, len).await })
        }
        fn complete<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a [(u32, u64)],
        ) -> BoxFuture<'a, UpResult<()>> {
            Box::pin(async { Ok(()) })
        }
        fn abort<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: &'a [u32],
        ) -> BoxFuture<'a, UpResult<()>> {
            Box::pin(async { Ok(()) })
        }
    }

    struct VecSource(Vec<u8>, usize);

    impl ByteSource for VecSource {
        fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>> {
            // Short reads, as a socket gives them.
            let n = (self.0.len() - self.1).min(dst.len()).min(70_000);
            dst[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Box::pin(async move { Ok(n) })
        }
    }

    use crate::test_support::on_executor as run;

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn put_holds_back_the_last_chunk_until_commit() {
        let mem = Arc::new(MemUpstream::default());
        let gw = Gateway::start(mem.clone(), "p/".into(), 1).unwrap();
        let len = 3 * BODY_CHUNK_BYTES + 12_345;
        run(move || async move {
            let data = body(len);
            let name = gw.object_name("b", "k", 0xab);
            assert_eq!(name, "p/b/k.000000000000000000000000000000ab");
            let mut src = VecSource(data.clone(), 0);
            let pending = gw
                .put(PutTarget::Object(name.clone()), &mut src, len as u64)
                .await
                .unwrap();
            assert!(
                mem.objects.lock().unwrap().get(&name).is_none(),
                "stored before commit"
            );
            let seen = mem
                .received
                .lock()
                .unwrap()
                .get(&name)
                .copied()
                .unwrap_or(0);
            assert!(
                seen < len,
                "the upstream saw every byte before commit ({seen})"
            );
            pending.commit().await.unwrap();
            assert_eq!(mem.objects.lock().unwrap().get(&name), Some(&data));

            // A ranged read across chunk boundaries.
            let mut s = gw
                .get(name.clone(), 1000, 600_000, len as u64)
                .await
                .unwrap();
            let mut got = Vec::new();
            while let Some(b) = s.next_bytes().await.unwrap() {
                got.extend_from_slice(&b);
            }
            assert_eq!(got, data[1000..600_000]);
            // A size mismatch with the record is refused, never served.
            assert!(gw.get(name, 0, 10, len as u64 + 1).await.is_err());
        });
    }

    #[test]
    fn aborted_put_stores_nothing() {
        let mem = Arc::new(MemUpstream::default());
        let gw = Gateway::start(mem.clone(), String::new(), 1).unwrap();
        run(move || async move {
            for len in [0usize, 10, BODY_CHUNK_BYTES, 2 * BODY_CHUNK_BYTES + 1] {
                let name = format!("b/k{len}");
                let mut src = VecSource(body(len), 0);
                let pending = gw
                    .put(PutTarget::Object(name.clone()), &mut src, len as u64)
                    .await
                    .unwrap();
                pending.abort().await;
                assert!(
                    mem.objects.lock().unwrap().get(&name).is_none(),
                    "len {len}"
                );
            }
            // A body longer or shorter than declared is refused and stores nothing.
            let mut src = VecSource(body(1000), 0);
            let e = gw
                .put(PutTarget::Object("b/long".into()), &mut src, 999)
                .await;
            assert_eq!(e.err().map(|e| e.code), Some(ErrorCode::IncompleteBody));
            let mut src = VecSource(body(1000), 0);
            let e = gw
                .put(PutTarget::Object("b/short".into()), &mut src, 1001)
                .await;
            assert_eq!(e.err().map(|e| e.code), Some(ErrorCode::IncompleteBody));
            assert!(mem.objects.lock().unwrap().is_empty());
            // An empty object is created on commit only.
            let mut src = VecSource(Vec::new(), 0);
            let p = gw
                .put(PutTarget::Object("b/empty".into()), &mut src, 0)
                .await
                .unwrap();
            assert!(mem.objects.lock().unwrap().is_empty());
            p.commit().await.unwrap();
            assert_eq!(
                mem.objects.lock().unwrap().get("b/empty"),
                Some(&Vec::new())
            );
        });
    }

    #[test]
    fn upstream_errors_map_to_s3_errors() {
        let cases = [
            (404, ErrorCode::NoSuchKey),
            (403, ErrorCode::AccessDenied),
            (503, ErrorCode::SlowDown),
            (500, ErrorCode::ServiceUnavailable),
            (400, ErrorCode::InternalError),
        ];
        for (status, code) in cases {
            assert_eq!(
                to_s3_error(UpstreamError::from_status(status, "x")).code,
                code
            );
        }
    }
}

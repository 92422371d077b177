//! The contract every gateway backend implements: a handful of blob operations on one
//! upstream bucket/container, run on the gateway's tokio pool (so everything is `Send`).
//!
//! Names passed in are complete upstream object names (`{prefix}{bucket}/{key}`, already
//! prefixed). Parts of a multipart upload are the backend's business: `put_part` stores
//! them where it likes (AWS/GCS: `{prefix}.parts/{upload_id}/{part_number}` objects; Azure:
//! uncommitted blocks on the destination blob) and `complete` assembles them into `dst`.

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::StreamExt;
use std::fmt;
use std::sync::Arc;

/// A streamed body, either direction. An `Err` item from a request body means "abort": the
/// backend must fail the upload so the upstream never stores the truncated object.
pub type ByteStream = BoxStream<'static, Result<Bytes, UpstreamError>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamErrorKind {
    /// 404: the object (or the upstream bucket) does not exist.
    NotFound,
    /// 401/403: credentials refused.
    AccessDenied,
    /// 416 on a ranged read.
    InvalidRange,
    /// 429/503 after retries: the upstream asks us to slow down.
    Throttled,
    /// Connection refused/reset, timeouts, 5xx after retries: the upstream is unreachable.
    Unavailable,
    /// The request body stream reported an error (client body failed verification).
    Aborted,
    /// Anything else (unexpected status, malformed answer).
    Other,
}

#[derive(Debug, Clone)]
pub struct UpstreamError {
    pub kind: UpstreamErrorKind,
    /// Upstream HTTP status, when there was one.
    pub status: Option<u16>,
    /// Human-readable cause chain (operation, name, upstream message).
    pub message: String,
}

impl UpstreamError {
    pub fn new(kind: UpstreamErrorKind, status: Option<u16>, message: impl Into<String>) -> Self {
        UpstreamError {
            kind,
            status,
            message: message.into(),
        }
    }

    /// Classifies an upstream HTTP status that was not a success.
    pub fn from_status(status: u16, message: impl Into<String>) -> Self {
        let kind = match status {
            404 => UpstreamErrorKind::NotFound,
            401 | 403 => UpstreamErrorKind::AccessDenied,
            416 => UpstreamErrorKind::InvalidRange,
            429 | 503 => UpstreamErrorKind::Throttled,
            500..=599 => UpstreamErrorKind::Unavailable,
            _ => UpstreamErrorKind::Other,
        };
        UpstreamError::new(kind, Some(status), message)
    }

    /// Whether an idempotent request that failed this way is worth retrying.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            UpstreamErrorKind::Throttled | UpstreamErrorKind::Unavailable
        )
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(s) => write!(f, "upstream {s}: {}", self.message),
            None => write!(f, "upstream: {}", self.message),
        }
    }
}

impl std::error::Error for UpstreamError {}

pub type UpResult<T> = Result<T, UpstreamError>;

/// One upstream object store. Implementations hold their own `reqwest::Client` (pooled
/// connections, timeouts) and retry idempotent calls with backoff (see `retry`).
pub trait Upstream: Send + Sync + 'static {
    /// "aws", "gcp" or "azure", for /health and logs.
    fn kind(&self) -> &'static str;

    /// Checks reachability and credentials (e.g. HEAD on the upstream bucket/container).
    fn probe(&self) -> BoxFuture<'_, UpResult<()>>;

    /// Stores `body` (exactly `len` bytes) as `name`, replacing any object of that name.
    /// Must not leave a (partial) object behind if `body` yields an `Err`.
    fn put<'a>(&'a self, name: &'a str, body: ByteStream, len: u64) -> BoxFuture<'a, UpResult<()>>;

    /// Reads bytes `[start, end)` of `name` (`range: None` = the whole object). The answer
    /// is the object's total size upstream and the byte stream of the requested bytes.
    fn get<'a>(
        &'a self,
        name: &'a str,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, UpResult<(u64, ByteStream)>>;

    /// Deletes `name`; a missing object is success.
    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, UpResult<()>>;

    /// Server-side copy of the whole object `src` to `dst` (`src != dst`).
    fn copy<'a>(&'a self, src: &'a str, dst: &'a str) -> BoxFuture<'a, UpResult<()>>;

    /// Stores part `part_number` (1..=10000) of multipart upload `upload_id` whose object
    /// will be `dst`; a re-upload of the same part number replaces it.
    fn put_part<'a>(
        &'a self,
        dst: &'a str,
        upload_id: &'a str,
        part_number: u32,
        body: ByteStream,
        len: u64,
    ) -> BoxFuture<'a, UpResult<()>>;

    /// Assembles the listed parts, in order, into `dst` (replacing it). The parts are left
    /// in place: the caller discards them with `abort` once its metadata commit is durable,
    /// so a crash in between can be retried. `parts`: (part_number, len).
    fn complete<'a>(
        &'a self,
        dst: &'a str,
        upload_id: &'a str,
        parts: &'a [(u32, u64)],
    ) -> BoxFuture<'a, UpResult<()>>;

    /// Discards the stored parts of an upload (best effort; missing parts are fine).
    fn abort<'a>(
        &'a self,
        dst: &'a str,
        upload_id: &'a str,
        part_numbers: &'a [u32],
    ) -> BoxFuture<'a, UpResult<()>>;
}

/// The upstream object name of a part for backends that keep parts as objects.
/// The HTTP client settings every upstream shares (`gateway.*`): connect timeout, idle pool
/// per host, TCP_NODELAY, user agent. Callers add a read timeout, or not, per client.
pub fn client_builder(gw: &crate::config::GatewayConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_millis(gw.connect_timeout_ms))
        .pool_max_idle_per_host(gw.pool_idle_per_host_max)
        .tcp_nodelay(true)
        .user_agent(concat!("bleepstore-gateway/", env!("CARGO_PKG_VERSION")))
}

pub fn part_name(prefix: &str, upload_id: &str, part_number: u32) -> String {
    format!("{prefix}.parts/{upload_id}/{part_number}")
}

/// Attempts of an idempotent upstream call before giving up.
pub const RETRY_ATTEMPTS_MAX: u32 = 4;
/// First backoff; doubled per attempt (100, 200, 400 ms).
pub const RETRY_BACKOFF_MS: u64 = 100;

/// Runs an idempotent upstream call, retrying retryable failures with exponential backoff.
pub async fn retry<T, F, Fut>(mut call: F) -> UpResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = UpResult<T>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Err(e) if e.retryable() && attempt + 1 < RETRY_ATTEMPTS_MAX => {
                let delay_ms = RETRY_BACKOFF_MS << attempt;
                tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Maps a reqwest transport error (no HTTP status) to an upstream error.
pub fn transport_error(op: &str, name: &str, e: reqwest::Error) -> UpstreamError {
    use std::error::Error;
    let mut msg = format!("{op} {name}: {e}");
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    UpstreamError::new(UpstreamErrorKind::Unavailable, None, msg)
}

/// Reads a failed response into an upstream error (status + the start of its body).
pub async fn status_error(op: &str, name: &str, resp: reqwest::Response) -> UpstreamError {
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    let body: String = body.chars().take(512).collect();
    UpstreamError::from_status(status, format!("{op} {name}: {body}"))
}

/// A parsed `Content-Range` answer header: `bytes a-b/total`, `bytes */total`,
/// `bytes a-b/*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    /// First and last byte (inclusive), None for `*`.
    pub range: Option<(u64, u64)>,
    /// Complete length, None for `*`.
    pub total: Option<u64>,
}

pub fn parse_content_range(v: &str) -> Option<ContentRange> {
    let rest = v.trim().strip_prefix("bytes")?;
    // "bytes" is followed by a space (RFC 9110); tolerate the '=' some servers send.
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    let (r, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    let range = match r.trim() {
        "*" => None,
        r => {
            let (a, b) = r.split_once('-')?;
            let (a, b) = (a.trim().parse::<u64>().ok()?, b.trim().parse::<u64>().ok()?);
            if b < a {
                return None;
            }
            Some((a, b))
        }
    };
    if range.is_none() && total.is_none() {
        return None;
    }
    Some(ContentRange { range, total })
}

/// The total size in a `Content-Range: bytes a-b/TOTAL` header (every upstream answers a
/// ranged read with one).
pub fn content_range_total(v: &str) -> Option<u64> {
    parse_content_range(v)?.total
}

/// Turns a reqwest response body into a `ByteStream`.
pub fn response_stream(op: &'static str, resp: reqwest::Response) -> ByteStream {
    use futures::StreamExt;
    resp.bytes_stream()
        .map(move |r| r.map_err(|e| transport_error(op, "body", e)))
        .boxed()
}

// ---- request and response bodies shared by every backend -----------------------------

/// Where a request body's source error is recorded, so a failed request can be told
/// apart from an aborted body.
pub type AbortSlot = Arc<std::sync::Mutex<Option<UpstreamError>>>;

struct GuardState {
    inner: ByteStream,
    held: Option<Bytes>,
    seen: u64,
    len: u64,
    abort: AbortSlot,
    finished: bool,
}

impl GuardState {
    fn fail(mut self, e: UpstreamError) -> Option<(Result<Bytes, UpstreamError>, Self)> {
        if let Ok(mut slot) = self.abort.lock() {
            slot.get_or_insert_with(|| e.clone());
        }
        self.finished = true;
        self.held = None;
        Some((Err(e), self))
    }
}

/// Wraps an upload body: checks it is exactly `len` bytes, records a source error in
/// `abort`, and holds back the latest chunk until the next one (or the clean end) arrives.
/// The upstream therefore never receives the last bytes of a body whose source failed, so
/// it cannot store the object, however the HTTP stack handles the error.
pub fn guard_body(
    inner: ByteStream,
    len: u64,
    abort: AbortSlot,
) -> impl futures::Stream<Item = Result<Bytes, UpstreamError>> + Send + 'static {
    let state = GuardState {
        inner,
        held: None,
        seen: 0,
        len,
        abort,
        finished: false,
    };
    futures::stream::unfold(state, |mut g| async move {
        if g.finished {
            return None;
        }
        loop {
            match g.inner.next().await {
                Some(Ok(b)) => {
                    if b.is_empty() {
                        continue;
                    }
                    g.seen += b.len() as u64;
                    if g.seen > g.len {
                        let msg = format!("body longer than its declared {} bytes", g.len);
                        return g.fail(UpstreamError::new(UpstreamErrorKind::Aborted, None, msg));
                    }
                    if let Some(prev) = g.held.replace(b) {
                        return Some((Ok(prev), g));
                    }
                }
                Some(Err(e)) => return g.fail(e),
                None => {
                    if g.seen != g.len {
                        let msg = format!("body ended after {} of {} bytes", g.seen, g.len);
                        return g.fail(UpstreamError::new(UpstreamErrorKind::Aborted, None, msg));
                    }
                    g.finished = true;
                    return g.held.take().map(|b| (Ok(b), g));
                }
            }
        }
    })
}

/// The body's recorded source error, if any, with the operation's context.
pub fn take_abort(abort: &AbortSlot, op: &str, name: &str) -> Option<UpstreamError> {
    let e = abort.lock().ok()?.take()?;
    Some(UpstreamError::new(
        e.kind,
        e.status,
        format!("{op} {name}: request body failed: {}", e.message),
    ))
}

/// Bytes `[skip, skip + take)` of a stream (for a server that ignored our Range).
pub fn slice_stream(inner: ByteStream, skip: u64, take: u64) -> ByteStream {
    futures::stream::unfold(
        (inner, skip, take),
        |(mut inner, mut skip, mut take)| async move {
            loop {
                if take == 0 {
                    return None;
                }
                match inner.next().await? {
                    Ok(b) => {
                        let n = b.len() as u64;
                        if skip >= n {
                            skip -= n;
                            continue;
                        }
                        let mut b = b.slice(skip as usize..);
                        skip = 0;
                        if b.len() as u64 > take {
                            b.truncate(take as usize);
                        }
                        take -= b.len() as u64;
                        return Some((Ok(b), (inner, skip, take)));
                    }
                    Err(e) => return Some((Err(e), (inner, skip, 0))),
                }
            }
        },
    )
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_parsing() {
        let cr = parse_content_range;
        let full = |a, b, t| {
            Some(ContentRange {
                range: Some((a, b)),
                total: Some(t),
            })
        };
        assert_eq!(cr("bytes 0-99/1000"), full(0, 99, 1000));
        assert_eq!(cr("bytes 5-5/6"), full(5, 5, 6));
        assert_eq!(
            cr("  bytes  20971510-20971519/20971520 "),
            full(20971510, 20971519, 20971520)
        );
        assert_eq!(
            cr("bytes */1000"),
            Some(ContentRange {
                range: None,
                total: Some(1000)
            })
        );
        assert_eq!(
            cr("bytes 0-9/*"),
            Some(ContentRange {
                range: Some((0, 9)),
                total: None
            })
        );
        assert_eq!(cr("bytes=0-1/2"), full(0, 1, 2));
        assert_eq!(content_range_total(" bytes 0-0/5368709120 "), Some(5 << 30));
        assert_eq!(content_range_total("bytes */42"), Some(42));
        assert_eq!(content_range_total("bytes 0-9/*"), None);
        for bad in [
            "",
            "bytes",
            "bytes */*",
            "items 0-1/2",
            "bytes 0-1",
            "bytes 5-1/10",
            "bytes a-b/10",
            "bytes 0-1/x",
            "bytes -1/10",
        ] {
            assert_eq!(cr(bad), None, "{bad:?}");
        }
    }
}

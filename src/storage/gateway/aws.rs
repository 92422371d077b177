//! `AwsUpstream`: object bytes in an S3 (or S3-compatible) bucket, spoken to over plain
//! HTTP(S) with requests signed by our own SigV4 signer (`auth::signer`), no SDK.
//!
//! Requests:
//! - put / put_part: `PUT` with `Content-Length` and the streamed body (`UNSIGNED-PAYLOAD`).
//!   The last chunk is held back until the body stream has ended, so a body that reports an
//!   error at its very end still aborts the request instead of completing the object.
//! - get: `GET`, ranged with `Range: bytes=a-b`; the total size comes from `Content-Range`.
//! - delete: `DELETE` (404 is success); copy: `PUT` with `x-amz-copy-source`.
//! - complete: native multipart upload on `dst` with `UploadPartCopy` from the part objects
//!   (server side, no bytes through us). S3 wants every part but the last to be ≥ 5 MiB, so
//!   runs of smaller parts are concatenated (streamed through us) into `UploadPart`s of
//!   5 MiB or more; see [`plan`]. A single part is a plain server-side copy.
//! - abort / part cleanup: `DeleteObjects` batches (falling back to single deletes).
//! - probe: `HEAD` on the bucket.
//!
//! Object names are arbitrary S3 keys and are URI-encoded byte by byte. One exception: a
//! path segment that is `.` or `..` would be resolved away by the URL parser every HTTP
//! client uses (`a/../b` would become `b`, a different object), so segments of the form
//! `.{1,2}~*` get one extra `~` (`..` is stored upstream as `..~`, `..~` as `..~~`); the
//! mapping is injective, so distinct names stay distinct. See [`upstream_key`]. And S3 keys
//! hold at most 1024 bytes while names carry a prefix and the bucket before a key that may
//! itself be 1024 bytes long: a name whose key would be longer is stored as
//! `{prefix}.long/{sha256 of the name}` instead (a namespace no bucket name can reach,
//! like `{prefix}.parts/`). See [`stored_key`].
//!
//! Timeouts: reqwest's `read_timeout` also bounds the wait for response headers from the
//! moment a request is sent, which a long streamed upload would exceed; uploads and
//! server-side copies therefore use a second client without it: uploads are watched for
//! progress instead (no body bytes for `read_timeout_ms`, or no answer that long after
//! the body ended, fails them) and copies get a generous total timeout.

use super::upstream::{
    guard_body, part_name, retry, slice_stream, transport_error, AbortSlot, ByteStream, UpResult,
    Upstream, UpstreamError, UpstreamErrorKind,
};
use crate::config::{AwsConfig, GatewayConfig};
use crate::hash::md5::Md5;
use crate::hash::sigv4::{
    amz_date, sha256_hex, sign_headers, uri_encode, EMPTY_SHA256_HEX, UNSIGNED_PAYLOAD,
};
use base64::Engine as _;
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Region when the config names none.
pub const REGION_DEFAULT: &str = "us-east-1";
/// S3's smallest part (all but the last part of a multipart upload).
pub const S3_PART_SIZE_MIN: u64 = 5 * 1024 * 1024;
/// `UploadPartCopy` / `UploadPart` calls in flight for one complete.
pub const PART_UPLOADS_CONCURRENT_MAX: usize = 8;
/// Part reads opened ahead while concatenating small parts (tiny parts are latency bound:
/// 10,000 parts of 1 KiB are 10,000 reads).
pub const CONCAT_PREFETCH: usize = 16;
/// Keys per `DeleteObjects` request (S3's limit).
pub const DELETE_BATCH_MAX: usize = 1000;
/// Single deletes in flight when a batch delete is not available.
pub const DELETES_CONCURRENT_MAX: usize = 8;
/// `DeleteObjects` batches in flight.
pub const DELETE_BATCHES_CONCURRENT_MAX: usize = 4;
/// Smallest total timeout of a server-side copy (S3 copies up to 5 GiB per call).
pub const COPY_TIMEOUT_MIN_MS: u64 = 15 * 60 * 1000;
/// Characters of an upstream error body kept in messages.
const ERROR_BODY_CHARS_MAX: usize = 512;

/// Credentials requests are signed with.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        f.debug_struct("Credentials")
            .field("access_key", &self.access_key)
            .field("session_token", &self.session_token.is_some())
            .finish_non_exhaustive()
    }
}

/// The validated `storage.aws` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub bucket: String,
    pub region: String,
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` exactly as sent in `Host` (with `{bucket}.` for virtual-host style).
    pub authority: String,
    /// Path before the encoded object name, without a trailing `/`: `/{bucket}` for
    /// path-style, empty for virtual-host style (plus any path the endpoint carries).
    pub base_path: String,
    pub credentials: Credentials,
    pub prefix: String,
}

/// Validates the config; `env` looks up environment variables (empty counts as unset).
pub fn settings(cfg: &AwsConfig, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
    let bucket = cfg.bucket.trim();
    if bucket.is_empty() {
        return Err("storage.aws.bucket: required".into());
    }
    if bucket.len() > 255
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(format!(
            "storage.aws.bucket: {bucket:?} is not a valid bucket name"
        ));
    }
    let region = match cfg.region.trim() {
        "" => REGION_DEFAULT.to_string(),
        r => r.to_string(),
    };
    let endpoint = match cfg.endpoint_url.trim() {
        "" => format!("https://s3.{region}.amazonaws.com"),
        e => e.to_string(),
    };
    let url = url::Url::parse(&endpoint)
        .map_err(|e| format!("storage.aws.endpoint_url: {endpoint:?}: {e}"))?;
    let scheme = url.scheme().to_string();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "storage.aws.endpoint_url: {endpoint:?}: scheme must be http or https"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "storage.aws.endpoint_url: {endpoint:?}: must not carry a query, fragment or user"
        ));
    }
    let host = match url.host() {
        Some(h) => h,
        None => return Err(format!("storage.aws.endpoint_url: {endpoint:?}: no host")),
    };
    let is_ip = matches!(host, url::Host::Ipv4(_) | url::Host::Ipv6(_));
    let host_str = url.host_str().unwrap_or_default().to_string();
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let endpoint_path = url.path().trim_end_matches('/').to_string();
    // Virtual-host style cannot address an IP endpoint, and a dotted bucket name breaks
    // the TLS wildcard certificate: both fall back to path style, as the AWS SDKs do.
    let path_style = cfg.use_path_style || is_ip || (scheme == "https" && bucket.contains('.'));
    let (authority, base_path) = if path_style {
        (
            format!("{host_str}{port}"),
            format!("{endpoint_path}/{}", uri_encode(bucket, true)),
        )
    } else {
        (format!("{bucket}.{host_str}{port}"), endpoint_path)
    };
    let credentials = credentials(cfg, env)?;
    Ok(Settings {
        bucket: bucket.to_string(),
        region,
        scheme,
        authority,
        base_path,
        credentials,
        prefix: cfg.prefix.clone(),
    })
}

/// Config credentials, each empty field filled from the environment. The session token is
/// taken from AWS_SESSION_TOKEN only when the access key also came from the environment (a
/// token belongs to its key).
fn credentials(
    cfg: &AwsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, String> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let key_from_env = cfg.access_key_id.trim().is_empty();
    let access_key = if key_from_env {
        env("AWS_ACCESS_KEY_ID").unwrap_or_default()
    } else {
        cfg.access_key_id.trim().to_string()
    };
    let secret_key = if cfg.secret_access_key.is_empty() {
        env("AWS_SECRET_ACCESS_KEY").unwrap_or_default()
    } else {
        cfg.secret_access_key.clone()
    };
    if access_key.is_empty() || secret_key.is_empty() {
        return Err(
            "storage.aws: no credentials: set storage.aws.access_key_id and \
                    storage.aws.secret_access_key, or AWS_ACCESS_KEY_ID and \
                    AWS_SECRET_ACCESS_KEY"
                .into(),
        );
    }
    let session_token = if !cfg.session_token.trim().is_empty() {
        Some(cfg.session_token.trim().to_string())
    } else if key_from_env {
        env("AWS_SESSION_TOKEN")
    } else {
        None
    };
    Ok(Credentials {
        access_key,
        secret_key,
        session_token,
    })
}

/// Builds the backend from its config section (env credentials fill what it leaves out).
pub fn build(cfg: &AwsConfig, gw: &GatewayConfig) -> Result<Arc<dyn Upstream>, String> {
    let settings = settings(cfg, &|k| std::env::var(k).ok())?;
    Ok(Arc::new(AwsUpstream::new(settings, gw)?))
}

// ---------------------------------------------------------------------------------------------
// Names and URLs

/// The S3 key an upstream name is stored under: the name itself, except that `.`/`..`
/// path segments (and `.`/`..` followed by tildes) get one more `~` so no URL parser can
/// resolve them away.
pub fn upstream_key(name: &str) -> Cow<'_, str> {
    fn escaped(seg: &str) -> bool {
        let dots = seg.bytes().take_while(|&b| b == b'.').count();
        (1..=2).contains(&dots) && seg.bytes().skip(dots).all(|b| b == b'~')
    }
    if !name.split('/').any(escaped) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for (i, seg) in name.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(seg);
        if escaped(seg) {
            out.push('~');
        }
    }
    Cow::Owned(out)
}

/// The longest S3 object key, in bytes.
pub const S3_KEY_BYTES_MAX: usize = 1024;

/// The S3 key an upstream name is stored under: [`upstream_key`], or for a name that would
/// exceed S3's key length, `{prefix}.long/{sha256 hex of the name}`.
pub fn stored_key<'a>(prefix: &str, name: &'a str) -> Cow<'a, str> {
    let key = upstream_key(name);
    if key.len() <= S3_KEY_BYTES_MAX {
        return key;
    }
    Cow::Owned(format!("{prefix}.long/{}", sha256_hex(name.as_bytes())))
}

/// The URI-encoded key of an upstream name (S3 `UriEncode`, `/` kept), before the length
/// rule of [`stored_key`].
pub fn encode_key(name: &str) -> String {
    uri_encode(&upstream_key(name), false)
}

pub use super::upstream::content_range_total;

// ---------------------------------------------------------------------------------------------
// XML

/// Local name of the root element.
pub fn xml_root(body: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body.trim_start());
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                return Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Unescaped text of every element with local name `tag`, in document order.
pub fn xml_texts(body: &str, tag: &str) -> Vec<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(body.trim_start());
    let mut out = Vec::new();
    let mut depth_in: Option<usize> = None;
    let mut depth = 0usize;
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                depth += 1;
                if depth_in.is_none() && e.local_name().as_ref() == tag.as_bytes() {
                    depth_in = Some(depth);
                    text.clear();
                }
            }
            Ok(Event::Empty(e)) => {
                if depth_in.is_none() && e.local_name().as_ref() == tag.as_bytes() {
                    out.push(String::new());
                }
            }
            Ok(Event::End(_)) => {
                if depth_in == Some(depth) {
                    out.push(std::mem::take(&mut text));
                    depth_in = None;
                }
                depth = depth.saturating_sub(1);
            }
            Ok(Event::Text(t)) if depth_in.is_some() => match t.unescape() {
                Ok(s) => text.push_str(&s),
                Err(_) => text.push_str(&String::from_utf8_lossy(&t)),
            },
            Ok(Event::CData(t)) if depth_in.is_some() => {
                text.push_str(&String::from_utf8_lossy(&t));
            }
            Ok(Event::Eof) | Err(_) => return out,
            Ok(_) => {}
        }
    }
}

/// Text of the first element named `tag`.
pub fn xml_text(body: &str, tag: &str) -> Option<String> {
    xml_texts(body, tag).into_iter().next()
}

/// Escapes text for an XML element (the one escaping of the crate, `error::escape_into`).
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    crate::error::escape_into(&mut out, s);
    out
}

/// The kind of an S3 `<Error>` code (for errors inside 200 answers).
fn kind_of_code(code: &str) -> UpstreamErrorKind {
    match code {
        "NoSuchKey" | "NoSuchBucket" | "NoSuchUpload" => UpstreamErrorKind::NotFound,
        "AccessDenied" | "SignatureDoesNotMatch" | "InvalidAccessKeyId" | "ExpiredToken" => {
            UpstreamErrorKind::AccessDenied
        }
        "SlowDown" | "Throttling" | "RequestLimitExceeded" => UpstreamErrorKind::Throttled,
        "InternalError" | "ServiceUnavailable" | "RequestTimeout" => UpstreamErrorKind::Unavailable,
        _ => UpstreamErrorKind::Other,
    }
}

/// `Code: Message` of an S3 error body, or its start.
fn error_summary(body: &str) -> String {
    match (xml_text(body, "Code"), xml_text(body, "Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => body.trim().chars().take(ERROR_BODY_CHARS_MAX).collect(),
    }
}

/// The error an `<Error>` body in a 2xx answer stands for (S3 copies and completes report
/// late failures that way), or None when the body is a result.
pub fn error_in_body(op: &str, name: &str, status: u16, body: &str) -> Option<UpstreamError> {
    if xml_root(body).as_deref() != Some("Error") {
        return None;
    }
    let kind = kind_of_code(&xml_text(body, "Code").unwrap_or_default());
    Some(UpstreamError::new(
        kind,
        Some(status),
        format!("{op} {name}: {}", error_summary(body)),
    ))
}

// ---------------------------------------------------------------------------------------------
// Multipart plan

/// Bytes `[start, end)` of part `part` (whose size is `part_len`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub part: u32,
    pub part_len: u64,
    pub start: u64,
    pub end: u64,
}

impl Piece {
    fn whole(&self) -> bool {
        self.start == 0 && self.end == self.part_len
    }
    fn len(&self) -> u64 {
        self.end - self.start
    }
}

/// One part of the upstream multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `UploadPartCopy` of (a range of) one part object.
    Copy(Piece),
    /// `UploadPart` of these pieces concatenated (read back through us).
    Concat(Vec<Piece>),
}

impl Segment {
    /// Bytes of the upstream part.
    pub fn size(&self) -> u64 {
        match self {
            Segment::Copy(p) => p.len(),
            Segment::Concat(ps) => ps.iter().map(Piece::len).sum(),
        }
    }
}

/// Lays the parts `(number, len)` out as upstream parts that all but the last reach `min`
/// bytes: a part of `min` or more is copied server side; smaller parts are gathered until
/// they reach `min`, topping up from the head of a following large part when needed (the
/// rest of that part is then a ranged copy); a lone small last part is copied too.
/// Zero-length parts contribute nothing. Never
/// more segments than parts; a concatenation is under `3 * min` bytes.
pub fn plan(parts: &[(u32, u64)], min: u64) -> Vec<Segment> {
    let parts: Vec<(u32, u64)> = parts.iter().copied().filter(|&(_, l)| l > 0).collect();
    let mut segs = Vec::new();
    let mut pending: Vec<Piece> = Vec::new();
    let mut pending_len = 0u64;
    for (i, &(part, len)) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let whole = Piece {
            part,
            part_len: len,
            start: 0,
            end: len,
        };
        if len < min {
            pending.push(whole);
            pending_len += len;
            if pending_len >= min {
                segs.push(Segment::Concat(std::mem::take(&mut pending)));
                pending_len = 0;
            }
            continue;
        }
        if pending.is_empty() {
            segs.push(Segment::Copy(whole));
            continue;
        }
        // pending_len < min <= len: top the pending run up to `min` from this part.
        let need = min - pending_len;
        let rest = len - need;
        if rest >= min || (last && rest > 0) {
            pending.push(Piece {
                part,
                part_len: len,
                start: 0,
                end: need,
            });
            segs.push(Segment::Concat(std::mem::take(&mut pending)));
            segs.push(Segment::Copy(Piece {
                part,
                part_len: len,
                start: need,
                end: len,
            }));
        } else {
            pending.push(whole);
            segs.push(Segment::Concat(std::mem::take(&mut pending)));
        }
        pending_len = 0;
    }
    match pending.len() {
        0 => {}
        // A lone last part needs no bytes through us.
        1 => segs.extend(pending.pop().map(Segment::Copy)),
        _ => segs.push(Segment::Concat(pending)),
    }
    segs
}

/// The `CompleteMultipartUpload` body.
fn complete_xml(etags: &[(u32, String)]) -> String {
    let mut xml = String::with_capacity(64 + etags.len() * 80);
    xml.push_str("<CompleteMultipartUpload>");
    for (n, etag) in etags {
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{}</ETag></Part>",
            xml_escape(etag)
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

/// The `DeleteObjects` body (quiet: only failures are reported).
fn delete_xml(keys: &[String]) -> String {
    let mut xml = String::from("<Delete><Quiet>true</Quiet>");
    for k in keys {
        xml.push_str("<Object><Key>");
        xml.push_str(&xml_escape(k));
        xml.push_str("</Key></Object>");
    }
    xml.push_str("</Delete>");
    xml
}

// ---------------------------------------------------------------------------------------------
// Upload bodies

/// Time since a start, shared between an upload body and its watchdog.
struct Progress {
    start: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    fn new() -> Arc<Progress> {
        Arc::new(Progress {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Resolves once nothing happened for `limit`.
    async fn stalled(&self, limit: Duration) {
        loop {
            let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
            let idle = self.start.elapsed().saturating_sub(last);
            if idle >= limit {
                return;
            }
            tokio::time::sleep(limit - idle).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The upstream

/// One signed request, before it is sent.
struct Call {
    method: Method,
    /// Encoded path as sent.
    path: String,
    /// Encoded query as sent (no `?`), or empty.
    query: String,
    /// Extra headers, all signed.
    headers: Vec<(&'static str, String)>,
    payload_hash: String,
}

impl Call {
    fn new(method: Method, path: String, query: impl Into<String>) -> Call {
        Call {
            method,
            path,
            query: query.into(),
            headers: Vec::new(),
            payload_hash: UNSIGNED_PAYLOAD.into(),
        }
    }
}

struct Shared {
    s: Settings,
    /// GET/HEAD/DELETE and small XML requests: bounded wait for answers and body bytes.
    client: reqwest::Client,
    /// Streamed uploads (watched for progress) and server-side copies (total timeout).
    long_client: reqwest::Client,
    read_timeout: Duration,
    copy_timeout: Duration,
}

/// The S3 upstream (cheap to clone: request bodies that outlive a call hold a clone).
#[derive(Clone)]
pub struct AwsUpstream {
    sh: Arc<Shared>,
}

fn ok_or_transport<T>(op: &str, name: &str, r: reqwest::Result<T>) -> UpResult<T> {
    r.map_err(|e| transport_error(op, name, e))
}

/// Reads a failed answer into an error: status kind, S3 code and message.
async fn fail(op: &str, name: &str, resp: reqwest::Response) -> UpstreamError {
    let status = resp.status().as_u16();
    let region = resp
        .headers()
        .get("x-amz-bucket-region")
        .and_then(|v| v.to_str().ok())
        .map(|r| format!(" (bucket region: {r})"))
        .unwrap_or_default();
    let body = resp.text().await.unwrap_or_default();
    let summary = if body.trim().is_empty() {
        format!("HTTP {status}")
    } else {
        error_summary(&body)
    };
    UpstreamError::from_status(status, format!("{op} {name}: {summary}{region}"))
}

fn header<'r>(resp: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn other(op: &str, name: &str, msg: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::new(
        UpstreamErrorKind::Other,
        None,
        format!("{op} {name}: {msg}"),
    )
}

/// An error the request body reported, as the cause of the upload's failure.
fn body_error(op: &str, name: &str, e: UpstreamError) -> UpstreamError {
    UpstreamError::new(
        e.kind,
        e.status,
        format!("{op} {name}: request body: {}", e.message),
    )
}

impl AwsUpstream {
    pub fn new(s: Settings, gw: &GatewayConfig) -> Result<AwsUpstream, String> {
        let read_timeout = Duration::from_millis(gw.read_timeout_ms);
        let builder = || super::upstream::client_builder(gw);
        let client = builder()
            .read_timeout(read_timeout)
            .build()
            .map_err(|e| format!("storage.aws: http client: {e}"))?;
        let long_client = builder()
            .build()
            .map_err(|e| format!("storage.aws: http client: {e}"))?;
        let copy_timeout = Duration::from_millis(gw.read_timeout_ms.max(COPY_TIMEOUT_MIN_MS));
        Ok(AwsUpstream {
            sh: Arc::new(Shared {
                s,
                client,
                long_client,
                read_timeout,
                copy_timeout,
            }),
        })
    }

    fn object_path(&self, name: &str) -> String {
        format!("{}/{}", self.sh.s.base_path, self.encoded_key(name))
    }

    /// The URI-encoded S3 key of an upstream name.
    fn encoded_key(&self, name: &str) -> String {
        uri_encode(&stored_key(&self.sh.s.prefix, name), false)
    }

    fn bucket_path(&self) -> String {
        if self.sh.s.base_path.is_empty() {
            "/".to_string()
        } else {
            self.sh.s.base_path.clone()
        }
    }

    /// `x-amz-copy-source` of an upstream name.
    fn copy_source(&self, name: &str) -> String {
        format!(
            "/{}/{}",
            uri_encode(&self.sh.s.bucket, true),
            self.encoded_key(name)
        )
    }

    fn part_name(&self, upload_id: &str, part: u32) -> String {
        part_name(&self.sh.s.prefix, upload_id, part)
    }

    /// The full URL of a path and query.
    fn url(&self, path: &str, query: &str) -> String {
        let s = &self.sh.s;
        let mut url = format!("{}://{}{}", s.scheme, s.authority, path);
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// Signs `call` now and returns the request, ready for a body.
    fn request(&self, client: &reqwest::Client, call: Call) -> reqwest::RequestBuilder {
        let s = &self.sh.s;
        let now = SystemTime::now();
        let mut signed: Vec<(String, String)> = Vec::with_capacity(call.headers.len() + 4);
        signed.push(("host".into(), s.authority.clone()));
        signed.push(("x-amz-date".into(), amz_date(now)));
        signed.push(("x-amz-content-sha256".into(), call.payload_hash.clone()));
        if let Some(t) = &s.credentials.session_token {
            signed.push(("x-amz-security-token".into(), t.clone()));
        }
        for (n, v) in &call.headers {
            signed.push(((*n).to_string(), v.clone()));
        }
        let auth = sign_headers(
            call.method.as_str(),
            &call.path,
            &call.query,
            &signed,
            &call.payload_hash,
            &s.credentials.access_key,
            &s.credentials.secret_key,
            &s.region,
            "s3",
            now,
        );
        let mut rb = client.request(call.method, self.url(&call.path, &call.query));
        // reqwest derives Host from the URL: the same authority as signed.
        for (n, v) in signed.into_iter().skip(1) {
            rb = rb.header(n, v);
        }
        rb.header(reqwest::header::AUTHORIZATION, auth)
    }

    /// A bodiless request on the short-timeout client.
    async fn send_simple(&self, op: &str, name: &str, call: Call) -> UpResult<reqwest::Response> {
        let r = self.request(&self.sh.client, call).send().await;
        ok_or_transport(op, name, r)
    }

    /// A request with a small XML body (signed with its real hash).
    async fn send_xml(
        &self,
        op: &str,
        name: &str,
        client: &reqwest::Client,
        mut call: Call,
        xml: String,
        content_md5: bool,
    ) -> UpResult<reqwest::Response> {
        call.payload_hash = sha256_hex(xml.as_bytes());
        call.headers
            .push(("content-type", "application/xml".to_string()));
        if content_md5 {
            let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(xml.as_bytes()));
            call.headers.push(("content-md5", md5));
        }
        let r = self.request(client, call).body(xml).send().await;
        ok_or_transport(op, name, r)
    }

    /// Streams `body` (exactly `len` bytes) with `PUT {name}?{query}`; returns the ETag.
    async fn upload(
        &self,
        op: &str,
        name: &str,
        query: String,
        body: ByteStream,
        len: u64,
    ) -> UpResult<Option<String>> {
        let mut body = body;
        if len == 0 {
            // An empty upload completes without hyper ever polling the body: settle first.
            while let Some(item) = body.next().await {
                match item {
                    Ok(b) if b.is_empty() => {}
                    Ok(_) => {
                        return Err(UpstreamError::new(
                            UpstreamErrorKind::Aborted,
                            None,
                            format!("{op} {name}: request body longer than 0 bytes"),
                        ))
                    }
                    Err(e) => return Err(body_error(op, name, e)),
                }
            }
            body = stream::empty().boxed();
        }
        let error: AbortSlot = Arc::new(Mutex::new(None));
        let progress = Progress::new();
        let touched = progress.clone();
        let watched = body.inspect(move |_| touched.touch()).boxed();
        let upload = guard_body(watched, len, error.clone());
        let call = Call::new(Method::PUT, self.object_path(name), query);
        let send = self
            .request(&self.sh.long_client, call)
            .header(reqwest::header::CONTENT_LENGTH, len)
            .body(reqwest::Body::wrap_stream(upload))
            .send();
        let outcome = tokio::select! {
            r = send => Some(r),
            () = progress.stalled(self.sh.read_timeout) => None,
        };
        let body_err = error.lock().ok().and_then(|mut e| e.take());
        if let Some(e) = body_err {
            return Err(body_error(op, name, e));
        }
        match outcome {
            None => Err(UpstreamError::new(
                UpstreamErrorKind::Unavailable,
                None,
                format!(
                    "{op} {name}: no progress for {} ms",
                    self.sh.read_timeout.as_millis()
                ),
            )),
            Some(Err(e)) => Err(transport_error(op, name, e)),
            Some(Ok(resp)) if resp.status().is_success() => {
                Ok(header(&resp, "etag").map(str::to_string))
            }
            Some(Ok(resp)) => Err(fail(op, name, resp).await),
        }
    }

    async fn get_once(&self, name: &str, range: Option<(u64, u64)>) -> UpResult<(u64, ByteStream)> {
        const OP: &str = "get";
        let mut call = Call::new(Method::GET, self.object_path(name), "");
        match range {
            Some((start, end)) if start < end => {
                call.headers
                    .push(("range", format!("bytes={start}-{}", end - 1)));
            }
            // Nothing to read: only the size is wanted.
            Some(_) => call.method = Method::HEAD,
            None => {}
        }
        let head = call.method == Method::HEAD;
        let resp = self.send_simple(OP, name, call).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(OP, name, resp).await);
        }
        if status == StatusCode::PARTIAL_CONTENT {
            let total = header(&resp, "content-range")
                .and_then(content_range_total)
                .ok_or_else(|| other(OP, name, "206 without a usable Content-Range"))?;
            return Ok((total, super::upstream::response_stream(OP, resp)));
        }
        let total: u64 = header(&resp, "content-length")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| other(OP, name, "answer without Content-Length"))?;
        if head {
            return Ok((total, stream::empty().boxed()));
        }
        let body = super::upstream::response_stream(OP, resp);
        match range {
            // The upstream ignored the range: cut it out of the whole object.
            Some((start, end)) if start < end => {
                if start >= total {
                    return Err(UpstreamError::new(
                        UpstreamErrorKind::InvalidRange,
                        Some(416),
                        format!("{OP} {name}: range starts at {start}, object has {total} bytes"),
                    ));
                }
                Ok((total, slice_stream(body, start, end - start)))
            }
            _ => Ok((total, body)),
        }
    }

    async fn delete_once(&self, op: &str, name: &str) -> UpResult<()> {
        let call = Call::new(Method::DELETE, self.object_path(name), "");
        let resp = self.send_simple(op, name, call).await?;
        if resp.status().is_success() || resp.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(fail(op, name, resp).await)
    }

    /// A server-side copy request (`CopyObject` or `UploadPartCopy`); returns the answer
    /// body after checking it is not an `<Error>`.
    async fn copy_request(
        &self,
        op: &str,
        dst: &str,
        query: String,
        headers: Vec<(&'static str, String)>,
        src: &str,
    ) -> UpResult<String> {
        let mut call = Call::new(Method::PUT, self.object_path(dst), query);
        call.headers = headers;
        call.headers
            .push(("x-amz-copy-source", self.copy_source(src)));
        let what = format!("{src} -> {dst}");
        let r = self
            .request(&self.sh.long_client, call)
            .timeout(self.sh.copy_timeout)
            .send()
            .await;
        let resp = ok_or_transport(op, &what, r)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(op, &what, resp).await);
        }
        let body = ok_or_transport(op, &what, resp.text().await)?;
        if let Some(e) = error_in_body(op, &what, status.as_u16(), &body) {
            return Err(e);
        }
        Ok(body)
    }

    async fn copy_once(&self, src: &str, dst: &str) -> UpResult<()> {
        let headers = vec![("x-amz-metadata-directive", "COPY".to_string())];
        self.copy_request("copy", dst, String::new(), headers, src)
            .await
            .map(|_| ())
    }

    async fn probe_once(&self) -> UpResult<()> {
        const OP: &str = "probe bucket";
        let bucket = self.sh.s.bucket.clone();
        let call = Call::new(Method::HEAD, self.bucket_path(), "");
        let resp = self.send_simple(OP, &bucket, call).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(fail(OP, &bucket, resp).await)
    }

    /// Deletes upstream names, best effort: `DeleteObjects` in batches, single deletes when
    /// a batch is refused. Failures are logged, not returned.
    async fn delete_names(&self, op: &str, names: Vec<String>) {
        stream::iter(names.chunks(DELETE_BATCH_MAX))
            .for_each_concurrent(DELETE_BATCHES_CONCURRENT_MAX, |batch| async move {
                match self.delete_batch(op, batch).await {
                    Ok(0) => {}
                    Ok(failed) => {
                        tracing::warn!(op, failed, "gateway aws: some part objects not deleted")
                    }
                    Err(e) => {
                        tracing::debug!(op, cause = %e, "gateway aws: batch delete refused, deleting one by one");
                        stream::iter(batch)
                            .for_each_concurrent(DELETES_CONCURRENT_MAX, |name| async move {
                                if let Err(e) = retry(|| self.delete_once(op, name)).await {
                                    tracing::warn!(op, name = %name, cause = %e, "gateway aws: delete failed");
                                }
                            })
                            .await;
                    }
                }
            })
            .await;
    }

    /// One `DeleteObjects` call; the answer is how many keys it failed to delete.
    async fn delete_batch(&self, op: &str, names: &[String]) -> UpResult<usize> {
        let keys: Vec<String> = names
            .iter()
            .map(|n| stored_key(&self.sh.s.prefix, n).into_owned())
            .collect();
        let xml = delete_xml(&keys);
        let what = format!("{} objects", keys.len());
        let resp = retry(|| {
            let call = Call::new(Method::POST, self.bucket_path(), "delete");
            self.send_xml(op, &what, &self.sh.client, call, xml.clone(), true)
        })
        .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(op, &what, resp).await);
        }
        let body = ok_or_transport(op, &what, resp.text().await)?;
        if let Some(e) = error_in_body(op, &what, status.as_u16(), &body) {
            return Err(e);
        }
        Ok(xml_texts(&body, "Code").len())
    }

    /// `CreateMultipartUpload` on `dst`; the upstream upload id.
    async fn create_multipart(&self, dst: &str) -> UpResult<String> {
        const OP: &str = "create multipart upload";
        let mut call = Call::new(Method::POST, self.object_path(dst), "uploads");
        call.payload_hash = EMPTY_SHA256_HEX.into();
        let resp = self.send_simple(OP, dst, call).await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(OP, dst, resp).await);
        }
        let body = ok_or_transport(OP, dst, resp.text().await)?;
        if let Some(e) = error_in_body(OP, dst, status.as_u16(), &body) {
            return Err(e);
        }
        match xml_text(&body, "UploadId") {
            Some(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
            _ => Err(other(OP, dst, "answer without UploadId")),
        }
    }

    fn part_query(part: u32, upload: &str) -> String {
        format!("partNumber={part}&uploadId={}", uri_encode(upload, true))
    }

    /// The bytes of `pieces` (of this upload's part objects), read back in order.
    fn concat_body(&self, upload_id: &str, pieces: Vec<Piece>) -> ByteStream {
        let me = self.clone();
        let upload_id = upload_id.to_string();
        stream::iter(pieces)
            .map(move |p| {
                let me = me.clone();
                let name = me.part_name(&upload_id, p.part);
                async move {
                    let range = (!p.whole()).then_some((p.start, p.end));
                    let (size, body) = retry(|| me.get_once(&name, range)).await?;
                    if size != p.part_len {
                        let msg = format!("part holds {size} bytes, expected {}", p.part_len);
                        return Err(other("read part", &name, msg));
                    }
                    Ok(body)
                }
            })
            .buffered(CONCAT_PREFETCH)
            .try_flatten()
            .boxed()
    }

    /// Uploads one segment as part `n` of upstream upload `upload`; its ETag.
    async fn upload_segment(
        &self,
        dst: &str,
        upload_id: &str,
        upload: &str,
        n: u32,
        seg: &Segment,
    ) -> UpResult<String> {
        let query = Self::part_query(n, upload);
        match seg {
            Segment::Copy(p) => {
                const OP: &str = "upload part copy";
                let src = self.part_name(upload_id, p.part);
                let mut headers = Vec::new();
                if !p.whole() {
                    let range = format!("bytes={}-{}", p.start, p.end - 1);
                    headers.push(("x-amz-copy-source-range", range));
                }
                let body = self.copy_request(OP, dst, query, headers, &src).await?;
                match xml_text(&body, "ETag") {
                    Some(e) if !e.trim().is_empty() => Ok(e.trim().to_string()),
                    _ => Err(other(OP, dst, format!("part {n}: answer without ETag"))),
                }
            }
            Segment::Concat(pieces) => {
                const OP: &str = "upload part";
                let body = self.concat_body(upload_id, pieces.clone());
                let etag = self.upload(OP, dst, query, body, seg.size()).await?;
                etag.ok_or_else(|| other(OP, dst, format!("part {n}: answer without ETag")))
            }
        }
    }

    async fn complete_multipart(
        &self,
        dst: &str,
        upload: &str,
        etags: &[(u32, String)],
    ) -> UpResult<()> {
        const OP: &str = "complete multipart upload";
        let query = format!("uploadId={}", uri_encode(upload, true));
        let call = Call::new(Method::POST, self.object_path(dst), query);
        let xml = complete_xml(etags);
        // S3 may take long to assemble (it keeps the connection alive with whitespace).
        let resp = self
            .send_xml(OP, dst, &self.sh.long_client, call, xml, false)
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(OP, dst, resp).await);
        }
        let body = ok_or_transport(OP, dst, resp.text().await)?;
        match error_in_body(OP, dst, status.as_u16(), &body) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn abort_multipart(&self, dst: &str, upload: &str) -> UpResult<()> {
        const OP: &str = "abort multipart upload";
        let query = format!("uploadId={}", uri_encode(upload, true));
        let call = Call::new(Method::DELETE, self.object_path(dst), query);
        let resp = self.send_simple(OP, dst, call).await?;
        if resp.status().is_success() || resp.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(fail(OP, dst, resp).await)
    }

    /// Native multipart upload of `segs` into `dst`; aborted upstream on any failure.
    async fn multipart(&self, dst: &str, upload_id: &str, segs: &[Segment]) -> UpResult<()> {
        let upload = retry(|| self.create_multipart(dst)).await?;
        let result = async {
            // The futures are built up front (not in a stream closure): a closure taking
            // borrowed segments trips the higher-ranked `Send` check of the boxed future.
            let upload = upload.as_str();
            let calls: Vec<_> = segs
                .iter()
                .enumerate()
                .map(|(i, seg)| {
                    let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    async move {
                        let etag =
                            retry(|| self.upload_segment(dst, upload_id, upload, n, seg)).await?;
                        Ok::<_, UpstreamError>((n, etag))
                    }
                })
                .collect();
            let mut etags: Vec<(u32, String)> = stream::iter(calls)
                .buffer_unordered(PART_UPLOADS_CONCURRENT_MAX)
                .try_collect()
                .await?;
            etags.sort_unstable_by_key(|(n, _)| *n);
            retry(|| self.complete_multipart(dst, upload, &etags)).await
        }
        .await;
        if let Err(e) = result {
            if let Err(ae) = retry(|| self.abort_multipart(dst, &upload)).await {
                tracing::warn!(dst = %dst, cause = %ae, "gateway aws: abort multipart upload failed");
            }
            return Err(e);
        }
        Ok(())
    }

    async fn complete_inner(
        &self,
        dst: &str,
        upload_id: &str,
        parts: &[(u32, u64)],
    ) -> UpResult<()> {
        if parts.is_empty() {
            return Err(other("complete", dst, "no parts"));
        }
        let segs = plan(parts, S3_PART_SIZE_MIN);
        match segs.as_slice() {
            [] => {
                // Only empty parts: an empty object.
                retry(|| self.upload("complete", dst, String::new(), stream::empty().boxed(), 0))
                    .await?;
            }
            [Segment::Copy(p)] if p.whole() => {
                let src = self.part_name(upload_id, p.part);
                retry(|| self.copy_once(&src, dst)).await?;
            }
            [seg @ Segment::Concat(pieces)] => {
                retry(|| {
                    let body = self.concat_body(upload_id, pieces.clone());
                    self.upload("complete", dst, String::new(), body, seg.size())
                })
                .await?;
            }
            segs => self.multipart(dst, upload_id, segs).await?,
        }
        // The parts stay until the caller's metadata commit: a crash before it must leave a
        // retried Complete something to assemble. The caller discards them with `abort`.
        Ok(())
    }
}

impl Upstream for AwsUpstream {
    fn kind(&self) -> &'static str {
        "aws"
    }

    fn probe(&self) -> BoxFuture<'_, UpResult<()>> {
        Box::pin(self.probe_once())
    }

    fn put<'a>(&'a self, name: &'a str, body: ByteStream, len: u64) -> BoxFuture<'a, UpResult<()>> {
        Box::pin(async move {
            self.upload("put", name, String::new(), body, len)
                .await
                .map(|_| ())
        })
    }

    fn get<'a>(
        &'a self,
        name: &'a str,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, UpResult<(u64, ByteStream)>> {
        Box::pin(retry(move || self.get_once(name, range)))
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, UpResult<()>> {
        Box::pin(retry(move || self.delete_once("delete", name)))
    }

    fn copy<'a>(&'a self, src: &'a str, dst: &'a str) -> BoxFuture<'a, UpResult<()>> {
        Box::pin(retry(move || self.copy_once(src, dst)))
    }

    fn put_part<'a>(
        &'a self,
        _dst: &'a str,
        upload_id: &'a str,
        part_number: u32,
        body: ByteStream,
        len: u64,
    ) -> BoxFuture<'a, UpResult<()>> {
        Box::pin(async move {
            let name = self.part_name(upload_id, part_number);
            self.upload("put part", &name, String::new(), body, len)
                .await
                .map(|_| ())
        })
    }

    fn complete<'a>(
        &'a self,
        dst: &'a str,
        upload_id: &'a str,
        parts: &'a [(u32, u64)],
    ) -> BoxFuture<'a, UpResult<()>> {
        Box::pin(self.complete_inner(dst, upload_id, parts))
    }

    fn abort<'a>(
        &'a self,
        _dst: &'a str,
        upload_id: &'a str,
        part_numbers: &'a [u32],
    ) -> BoxFuture<'a, UpResult<()>> {
        Box::pin(async move {
            let names = part_numbers
                .iter()
                .map(|&n| self.part_name(upload_id, n))
                .collect();
            self.delete_names("abort", names).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::det_bytes;
    use bytes::Bytes;
    use std::collections::HashMap;

    const MIB: u64 = 1024 * 1024;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn cfg(bucket: &str, endpoint: &str, path_style: bool) -> AwsConfig {
        AwsConfig {
            bucket: bucket.into(),
            endpoint_url: endpoint.into(),
            use_path_style: path_style,
            access_key_id: "AK".into(),
            secret_access_key: "SK".into(),
            ..AwsConfig::default()
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    const ODD_NAMES: &[&str] = &[
        "gw/b/../../etc/passwd",
        "gw/b/a//b",
        "gw/b//leading",
        "gw/b/trailing/",
        "gw/b/with space",
        "gw/b/plus+sign",
        "gw/b/percent%20literal%",
        "gw/b/question?mark#hash",
        "gw/b/specials !$&'()*+,;=:@~",
        "gw/b/xml<&>'\"chars",
        "gw/b/tab\there\nnewline\\back",
        "gw/b/ünïcødé/日本語/🙂",
        "gw/b/./dot/./segments/..",
        "gw/b/.%2e/%2E%2e/x",
    ];

    #[test]
    fn encodes_keys_like_s3() {
        assert_eq!(encode_key("a b"), "a%20b");
        assert_eq!(encode_key("p%20q%"), "p%2520q%25");
        assert_eq!(encode_key("a+b"), "a%2Bb");
        assert_eq!(encode_key("q?x#y"), "q%3Fx%23y");
        assert_eq!(encode_key("ü/日"), "%C3%BC/%E6%97%A5");
        assert_eq!(encode_key("Az09-._~/x"), "Az09-._~/x");
        assert_eq!(encode_key("a//b/"), "a//b/");
        assert_eq!(encode_key("t\tn\n"), "t%09n%0A");
        assert_eq!(encode_key("x<&>'\""), "x%3C%26%3E%27%22");
    }

    #[test]
    fn long_names_are_hashed() {
        let key = "k".repeat(1024);
        let name = format!("gw/bucket/{key}");
        let stored = stored_key("gw/", &name);
        assert_eq!(stored, format!("gw/.long/{}", sha256_hex(name.as_bytes())));
        let other = format!("gw/bucket2/{key}");
        assert_ne!(stored_key("gw/", &other), stored);
        let fits = "k".repeat(S3_KEY_BYTES_MAX);
        assert_eq!(stored_key("gw/", &fits), fits.as_str());
        let over = format!("{fits}x");
        assert!(stored_key("", &over).starts_with(".long/"));
        // Escaping counts: 1023 bytes of `..` segments grow past the limit.
        let dots = vec![".."; 341].join("/");
        assert_eq!(dots.len(), 1022);
        assert!(stored_key("", &dots).starts_with(".long/"));
    }

    #[test]
    fn dot_segments_are_escaped_injectively() {
        assert_eq!(upstream_key("gw/b/../../etc"), "gw/b/..~/..~/etc");
        assert_eq!(upstream_key("./d/./s/.."), ".~/d/.~/s/..~");
        assert_eq!(upstream_key("a/..~/b"), "a/..~~/b");
        assert_eq!(upstream_key("a/.~~"), "a/.~~~");
        for plain in ["a/.../b", "a/.x/b", "a/..a", "a/~", "a/b.", "a/b..", "..x"] {
            assert!(matches!(upstream_key(plain), Cow::Borrowed(_)), "{plain}");
        }
        let names = ["..", "..~", "..~~", ".", ".~", "...", "~", ".~."];
        let mapped: std::collections::HashSet<String> =
            names.iter().map(|n| upstream_key(n).into_owned()).collect();
        assert_eq!(mapped.len(), names.len());
    }

    #[test]
    fn urls_keep_odd_keys_exactly() {
        let up = AwsUpstream::new(
            settings(&cfg("bkt", "http://127.0.0.1:9000", true), &no_env).unwrap(),
            &GatewayConfig::default(),
        )
        .unwrap();
        for name in ODD_NAMES {
            let path = up.object_path(name);
            let url = reqwest::Url::parse(&up.url(&path, "")).unwrap();
            assert_eq!(url.path(), path, "{name:?}");
            assert!(
                url.query().is_none() && url.fragment().is_none(),
                "{name:?}"
            );
            // What the server decodes is the (escaped) key.
            let decoded = percent_encoding::percent_decode_str(&path["/bkt/".len()..])
                .decode_utf8()
                .unwrap();
            assert_eq!(decoded, upstream_key(name), "{name:?}");
        }
        let q = AwsUpstream::part_query(3, "a+b/c=");
        let url = reqwest::Url::parse(&up.url("/bkt/k", &q)).unwrap();
        assert_eq!(url.query(), Some("partNumber=3&uploadId=a%2Bb%2Fc%3D"));
        assert_eq!(up.copy_source("gw/b/a b"), "/bkt/gw/b/a%20b");
    }

    #[test]
    fn path_style_and_virtual_host_urls() {
        let s = settings(&cfg("bkt", "http://127.0.0.1:19000", true), &no_env).unwrap();
        assert_eq!(
            (
                s.scheme.as_str(),
                s.authority.as_str(),
                s.base_path.as_str()
            ),
            ("http", "127.0.0.1:19000", "/bkt")
        );
        // An IP endpoint cannot be virtual-hosted.
        let s = settings(&cfg("bkt", "http://127.0.0.1:19000/", false), &no_env).unwrap();
        assert_eq!(
            (s.authority.as_str(), s.base_path.as_str()),
            ("127.0.0.1:19000", "/bkt")
        );
        let s = settings(&cfg("bkt", "", false), &no_env).unwrap();
        assert_eq!(s.region, "us-east-1");
        assert_eq!(
            (
                s.scheme.as_str(),
                s.authority.as_str(),
                s.base_path.as_str()
            ),
            ("https", "bkt.s3.us-east-1.amazonaws.com", "")
        );
        let mut c = cfg("bkt", "", false);
        c.region = "eu-west-3".into();
        let s = settings(&c, &no_env).unwrap();
        assert_eq!(s.authority, "bkt.s3.eu-west-3.amazonaws.com");
        assert_eq!(s.region, "eu-west-3");
        // Default ports are not part of Host; others are; an endpoint path is kept.
        let s = settings(&cfg("bkt", "https://minio.local:443/s3/", true), &no_env).unwrap();
        assert_eq!(
            (s.authority.as_str(), s.base_path.as_str()),
            ("minio.local", "/s3/bkt")
        );
        let s = settings(&cfg("bkt", "http://minio.local:9000", false), &no_env).unwrap();
        assert_eq!(
            (s.authority.as_str(), s.base_path.as_str()),
            ("bkt.minio.local:9000", "")
        );
        // Dotted bucket over TLS: path style.
        let s = settings(&cfg("my.bkt", "", false), &no_env).unwrap();
        assert_eq!(
            (s.authority.as_str(), s.base_path.as_str()),
            ("s3.us-east-1.amazonaws.com", "/my.bkt")
        );

        let up = AwsUpstream::new(
            settings(&cfg("bkt", "https://s3.example.com", false), &no_env).unwrap(),
            &GatewayConfig::default(),
        )
        .unwrap();
        assert_eq!(
            up.url(&up.object_path("gw/b/k 1"), ""),
            "https://bkt.s3.example.com/gw/b/k%201"
        );
        assert_eq!(up.url(&up.bucket_path(), ""), "https://bkt.s3.example.com/");
        let up = AwsUpstream::new(
            settings(&cfg("bkt", "https://s3.example.com", true), &no_env).unwrap(),
            &GatewayConfig::default(),
        )
        .unwrap();
        assert_eq!(
            up.url(&up.object_path("gw/b/k 1"), ""),
            "https://s3.example.com/bkt/gw/b/k%201"
        );
        assert_eq!(
            up.url(&up.bucket_path(), "delete"),
            "https://s3.example.com/bkt?delete"
        );
    }

    #[test]
    fn config_validation() {
        let e = settings(&cfg("", "", true), &no_env).unwrap_err();
        assert!(e.contains("storage.aws.bucket"), "{e}");
        assert!(settings(&cfg("a/b", "", true), &no_env).is_err());
        assert!(settings(&cfg("b", "ftp://x", true), &no_env).is_err());
        assert!(settings(&cfg("b", "not a url", true), &no_env).is_err());
        assert!(settings(&cfg("b", "http://h/?x=1", true), &no_env).is_err());
        let mut c = cfg("b", "", true);
        c.prefix = "gw/".into();
        assert_eq!(settings(&c, &no_env).unwrap().prefix, "gw/");
    }

    #[test]
    fn credentials_fall_back_to_env() {
        let mut c = cfg("b", "", true);
        c.access_key_id.clear();
        c.secret_access_key.clear();
        let e = settings(&c, &no_env).unwrap_err();
        assert!(e.contains("no credentials"), "{e}");
        // Empty env values count as unset.
        let env = env_of(&[("AWS_ACCESS_KEY_ID", ""), ("AWS_SECRET_ACCESS_KEY", "")]);
        assert!(settings(&c, &env).is_err());

        let env = env_of(&[
            ("AWS_ACCESS_KEY_ID", "EK"),
            ("AWS_SECRET_ACCESS_KEY", "ES"),
            ("AWS_SESSION_TOKEN", "ET"),
        ]);
        let cr = settings(&c, &env).unwrap().credentials;
        assert_eq!(
            cr,
            Credentials {
                access_key: "EK".into(),
                secret_key: "ES".into(),
                session_token: Some("ET".into())
            }
        );
        // Config keys win; the env token does not belong to them.
        let c2 = cfg("b", "", true);
        let cr = settings(&c2, &env).unwrap().credentials;
        assert_eq!(
            (cr.access_key.as_str(), cr.secret_key.as_str()),
            ("AK", "SK")
        );
        assert_eq!(cr.session_token, None);
        let mut c3 = cfg("b", "", true);
        c3.session_token = "CT".into();
        assert_eq!(
            settings(&c3, &env)
                .unwrap()
                .credentials
                .session_token
                .as_deref(),
            Some("CT")
        );
        // A missing field alone is filled from the env.
        let mut c4 = cfg("b", "", true);
        c4.secret_access_key.clear();
        let cr = settings(&c4, &env).unwrap().credentials;
        assert_eq!(
            (cr.access_key.as_str(), cr.secret_key.as_str()),
            ("AK", "ES")
        );
        // Secrets are not printed.
        assert!(!format!("{cr:?}").contains("ES"));
    }

    #[test]
    fn parses_s3_xml() {
        let init = r#"<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><Key>k&amp;1</Key><UploadId>VXBsb2FkIElE+/=</UploadId>
</InitiateMultipartUploadResult>"#;
        assert_eq!(
            xml_root(init).as_deref(),
            Some("InitiateMultipartUploadResult")
        );
        assert_eq!(
            xml_text(init, "UploadId").as_deref(),
            Some("VXBsb2FkIElE+/=")
        );
        assert_eq!(xml_text(init, "Key").as_deref(), Some("k&1"));
        assert_eq!(error_in_body("op", "n", 200, init).map(|e| e.kind), None);

        // S3 keeps a long copy alive with whitespace before the document.
        let copy = "\n   \n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyPartResult>\
            <LastModified>2024-01-01T00:00:00.000Z</LastModified>\
            <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyPartResult>";
        assert_eq!(
            xml_text(copy, "ETag").as_deref(),
            Some("\"9b2cf535f27731c974343645a3985328\"")
        );
        assert!(error_in_body("op", "n", 200, copy).is_none());

        let err = "  <?xml version=\"1.0\"?><Error><Code>InternalError</Code>\
            <Message>We encountered an internal error. Please try again.</Message>\
            <RequestId>1</RequestId></Error>";
        let e = error_in_body("copy", "a -> b", 200, err).unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::Unavailable);
        assert!(e.retryable());
        assert_eq!(e.status, Some(200));
        assert!(
            e.message
                .contains("copy a -> b: InternalError: We encountered"),
            "{}",
            e.message
        );
        let e = error_in_body("copy", "x", 200, "<Error><Code>NoSuchKey</Code></Error>").unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound);
        let e = error_in_body("copy", "x", 200, "<Error><Code>SlowDown</Code></Error>").unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::Throttled);
        let e = error_in_body("copy", "x", 200, "<Error><Code>Weird</Code></Error>").unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::Other);
        assert!(error_in_body("op", "n", 200, "").is_none());
        assert!(error_in_body("op", "n", 200, "not xml <").is_none());

        let del = "<DeleteResult><Error><Key>a</Key><Code>AccessDenied</Code></Error>\
            <Error><Key>b</Key><Code>InternalError</Code></Error></DeleteResult>";
        assert_eq!(xml_texts(del, "Code"), ["AccessDenied", "InternalError"]);
        assert!(xml_texts("<DeleteResult/>", "Code").is_empty());
        assert_eq!(
            xml_text("<a><ETag><![CDATA[\"x\"]]></ETag></a>", "ETag").as_deref(),
            Some("\"x\"")
        );
    }

    #[test]
    fn renders_request_xml() {
        let xml = complete_xml(&[(1, "\"a\"".into()), (2, "\"b\"".into())]);
        assert_eq!(
            xml,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag>\
             </Part><Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part>\
             </CompleteMultipartUpload>"
        );
        assert_eq!(xml_texts(&xml, "ETag"), ["\"a\"", "\"b\""]);
        let xml = delete_xml(&["k<&>".into(), "..~/x".into()]);
        assert_eq!(xml_texts(&xml, "Key"), ["k<&>", "..~/x"]);
        assert_eq!(xml_text(&xml, "Quiet").as_deref(), Some("true"));
    }

    /// Checks a plan covers the parts in order, exactly once, within S3's part sizes.
    fn check_plan(parts: &[(u32, u64)], min: u64) -> Vec<Segment> {
        let segs = plan(parts, min);
        assert!(segs.len() <= parts.len().max(1));
        for (i, s) in segs.iter().enumerate() {
            if i + 1 < segs.len() {
                assert!(s.size() >= min, "segment {i} of {parts:?}: {s:?}");
            }
            assert!(s.size() > 0);
            if let Segment::Concat(_) = s {
                assert!(s.size() < 3 * min);
            }
        }
        let pieces: Vec<Piece> = segs
            .iter()
            .flat_map(|s| match s {
                Segment::Copy(p) => vec![p.clone()],
                Segment::Concat(ps) => ps.clone(),
            })
            .collect();
        let mut expect = parts.iter().filter(|p| p.1 > 0).peekable();
        let mut at = 0u64;
        for p in &pieces {
            let &&(n, len) = expect.peek().unwrap();
            assert_eq!((p.part, p.part_len, p.start), (n, len, at), "{pieces:?}");
            assert!(p.end > p.start && p.end <= len);
            at = p.end;
            if at == len {
                expect.next();
                at = 0;
            }
        }
        assert!(expect.next().is_none());
        segs
    }

    #[test]
    fn plans_server_side_copies_for_big_parts() {
        let segs = check_plan(&[(1, 5 * MIB), (2, 5 * MIB), (3, 1)], 5 * MIB);
        assert!(matches!(
            segs.as_slice(),
            [Segment::Copy(_), Segment::Copy(_), Segment::Copy(_)]
        ));
        let segs = check_plan(&[(7, 6 * MIB)], 5 * MIB);
        assert!(matches!(segs.as_slice(), [Segment::Copy(p)] if p.whole()));
    }

    #[test]
    fn plans_concatenations_for_small_parts() {
        let min = 100;
        let segs = check_plan(&[(1, 10), (2, 10), (3, 10)], min);
        assert!(matches!(segs.as_slice(), [Segment::Concat(ps)] if ps.len() == 3));
        // Topped up from a following big part, the rest of it copied by range.
        let segs = check_plan(&[(1, 30), (2, 500), (3, 10)], min);
        assert_eq!(
            segs,
            vec![
                Segment::Concat(vec![
                    Piece {
                        part: 1,
                        part_len: 30,
                        start: 0,
                        end: 30
                    },
                    Piece {
                        part: 2,
                        part_len: 500,
                        start: 0,
                        end: 70
                    },
                ]),
                Segment::Copy(Piece {
                    part: 2,
                    part_len: 500,
                    start: 70,
                    end: 500
                }),
                Segment::Copy(Piece {
                    part: 3,
                    part_len: 10,
                    start: 0,
                    end: 10
                }),
            ]
        );
        // A big part whose rest would be too small is taken whole.
        let segs = check_plan(&[(1, 30), (2, 120), (3, 10)], min);
        assert_eq!(segs.len(), 2);
        // ... unless it is the last part.
        let segs = check_plan(&[(1, 30), (2, 120)], min);
        assert_eq!(segs.len(), 2);
        assert!(matches!(&segs[1], Segment::Copy(p) if p.start == 70));
        // Empty parts vanish.
        assert!(plan(&[(1, 0), (2, 0)], min).is_empty());
        check_plan(&[(1, 0), (2, 150), (3, 0), (4, 5)], min);
        // Many shapes.
        let sizes = [0u64, 1, 50, 99, 100, 101, 150, 199, 200, 250, 1000];
        for a in sizes {
            for b in sizes {
                for c in sizes {
                    for d in [1u64, 99, 100, 300] {
                        check_plan(&[(1, a), (2, b), (3, c), (4, d)], min);
                    }
                }
            }
        }
        let tiny: Vec<(u32, u64)> = (1..=10_000).map(|n| (n, 7)).collect();
        check_plan(&tiny, min);
    }

    fn chunks(items: Vec<UpResult<Bytes>>) -> ByteStream {
        stream::iter(items).boxed()
    }

    fn drain(
        (body, error): (ByteStream, AbortSlot),
    ) -> (Vec<UpResult<Bytes>>, Option<UpstreamError>) {
        let out = futures::executor::block_on(body.collect::<Vec<_>>());
        let e = error.lock().unwrap().take();
        (out, e)
    }

    fn upload_body(inner: ByteStream, len: u64) -> (ByteStream, AbortSlot) {
        let error: AbortSlot = Arc::new(Mutex::new(None));
        (guard_body(inner, len, error.clone()).boxed(), error)
    }

    #[test]
    fn upload_body_passes_exact_bodies() {
        let b = |s: &'static str| Ok(Bytes::from_static(s.as_bytes()));
        let (out, e) = drain(upload_body(chunks(vec![b("ab"), b(""), b("cd")]), 4));
        assert!(e.is_none());
        let got: Vec<Bytes> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(got, [Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]);
    }

    #[test]
    fn upload_body_aborts_on_late_errors_and_wrong_lengths() {
        let b = |s: &'static str| Ok(Bytes::from_static(s.as_bytes()));
        let aborted = || {
            Err(UpstreamError::new(
                UpstreamErrorKind::Aborted,
                None,
                "bad checksum",
            ))
        };
        // All bytes, then an error: the last chunk must never be released.
        let (out, e) = drain(upload_body(chunks(vec![b("ab"), b("cd"), aborted()]), 4));
        assert_eq!(out.len(), 2);
        assert!(out[1].is_err());
        assert_eq!(e.unwrap().kind, UpstreamErrorKind::Aborted);
        // Short.
        let (out, e) = drain(upload_body(chunks(vec![b("ab")]), 4));
        assert!(out.last().unwrap().is_err());
        assert!(e.unwrap().message.contains("after 2 of 4"));
        // Long.
        let (out, e) = drain(upload_body(chunks(vec![b("abc"), b("de")]), 4));
        assert!(out.last().unwrap().is_err());
        assert!(e.is_some());
        let (_, e) = drain(upload_body(chunks(vec![b("abcd"), b("e")]), 4));
        assert!(e.is_some());
    }

    #[test]
    fn slices_streams() {
        let body = chunks(
            ["abc", "defg", "hij"]
                .iter()
                .map(|s| Ok(Bytes::from_static(s.as_bytes())))
                .collect(),
        );
        let got: Vec<u8> = futures::executor::block_on(
            slice_stream(body, 2, 6).map_ok(|b| b.to_vec()).try_concat(),
        )
        .unwrap()
        .to_vec();
        assert_eq!(got, b"cdefgh");
    }

    // ------------------------------------------------------------------------------------
    // Against a real S3 endpoint (CI: a second BleepStore on the local backend):
    //   BLEEPSTORE_TEST_AWS_ENDPOINT=http://127.0.0.1:19000 BLEEPSTORE_TEST_AWS_BUCKET=...
    //   BLEEPSTORE_TEST_AWS_ACCESS_KEY=... BLEEPSTORE_TEST_AWS_SECRET_KEY=... \
    //   cargo test --release --lib aws_upstream_contract -- --ignored

    fn contract_config() -> AwsConfig {
        let var = |k: &str| std::env::var(format!("BLEEPSTORE_TEST_AWS_{k}")).ok();
        AwsConfig {
            bucket: var("BUCKET").unwrap_or_else(|| "gateway-upstream".into()),
            region: var("REGION").unwrap_or_default(),
            endpoint_url: var("ENDPOINT").expect("BLEEPSTORE_TEST_AWS_ENDPOINT"),
            use_path_style: true,
            access_key_id: var("ACCESS_KEY").unwrap_or_else(|| "upstream".into()),
            secret_access_key: var("SECRET_KEY").unwrap_or_else(|| "upstream-secret".into()),
            session_token: String::new(),
            prefix: String::new(),
        }
    }

    fn body_of(data: &[u8], chunk: usize) -> ByteStream {
        let chunks: Vec<UpResult<Bytes>> = data
            .chunks(chunk.max(1))
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        stream::iter(chunks).boxed()
    }

    async fn read_all(
        up: &dyn Upstream,
        name: &str,
        range: Option<(u64, u64)>,
    ) -> UpResult<(u64, Vec<u8>)> {
        let (size, body) = up.get(name, range).await?;
        let bytes = body.map_ok(|b| b.to_vec()).try_concat().await?;
        Ok((size, bytes))
    }

    async fn missing(up: &dyn Upstream, name: &str) -> bool {
        matches!(up.get(name, None).await, Err(e) if e.kind == UpstreamErrorKind::NotFound)
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore = "needs an S3 endpoint: BLEEPSTORE_TEST_AWS_ENDPOINT"]
    async fn aws_upstream_contract() {
        let run = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let mut cfg = contract_config();
        cfg.prefix = format!("contract-{run}/");
        let up = build(&cfg, &GatewayConfig::default()).unwrap();
        let up = up.as_ref();
        let p = cfg.prefix.clone();
        let n = |k: &str| format!("{p}b/{k}");

        up.probe().await.unwrap();

        // put + get, whole and ranged.
        let small = n("small");
        up.put(&small, body_of(b"hello world", 4), 11)
            .await
            .unwrap();
        assert_eq!(
            read_all(up, &small, None).await.unwrap(),
            (11, b"hello world".to_vec())
        );
        assert_eq!(
            read_all(up, &small, Some((6, 11))).await.unwrap(),
            (11, b"world".to_vec())
        );
        assert_eq!(
            read_all(up, &small, Some((0, 1))).await.unwrap(),
            (11, b"h".to_vec())
        );
        assert_eq!(
            read_all(up, &small, Some((3, 3))).await.unwrap(),
            (11, Vec::new())
        );
        let e = read_all(up, &small, Some((20, 30))).await.unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::InvalidRange, "{e}");
        // Overwrite.
        up.put(&small, body_of(b"HELLO", 5), 5).await.unwrap();
        assert_eq!(
            read_all(up, &small, None).await.unwrap(),
            (5, b"HELLO".to_vec())
        );
        // Empty object.
        let empty = n("empty");
        up.put(&empty, stream::empty().boxed(), 0).await.unwrap();
        assert_eq!(read_all(up, &empty, None).await.unwrap(), (0, Vec::new()));

        // Odd names round-trip and stay distinct.
        for (i, key) in ODD_NAMES.iter().enumerate() {
            let name = format!("{p}{key}");
            let data = format!("value {i} for {key}");
            up.put(&name, body_of(data.as_bytes(), 7), data.len() as u64)
                .await
                .unwrap_or_else(|e| panic!("put {key:?}: {e}"));
        }
        for (i, key) in ODD_NAMES.iter().enumerate() {
            let name = format!("{p}{key}");
            let data = format!("value {i} for {key}");
            let (_, got) = read_all(up, &name, None)
                .await
                .unwrap_or_else(|e| panic!("get {key:?}: {e}"));
            assert_eq!(got, data.as_bytes(), "{key:?}");
            up.delete(&name).await.unwrap();
            assert!(missing(up, &name).await, "{key:?}");
        }

        // Names beyond S3's key length (a 1024-byte key behind prefix and bucket).
        let long_a = n(&"é".repeat(512));
        let long_b = n(&"k".repeat(1024));
        up.put(&long_a, body_of(b"long", 2), 4).await.unwrap();
        up.copy(&long_a, &long_b).await.unwrap();
        assert_eq!(
            read_all(up, &long_b, None).await.unwrap(),
            (4, b"long".to_vec())
        );
        up.put_part(&long_b, "upload-long", 1, body_of(b"ab", 1), 2)
            .await
            .unwrap();
        up.put_part(&long_b, "upload-long", 2, body_of(b"cd", 1), 2)
            .await
            .unwrap();
        up.complete(&long_b, "upload-long", &[(1, 2), (2, 2)])
            .await
            .unwrap();
        assert_eq!(
            read_all(up, &long_b, None).await.unwrap(),
            (4, b"abcd".to_vec())
        );
        for name in [&long_a, &long_b] {
            up.delete(name).await.unwrap();
            assert!(missing(up, name).await);
        }

        // 20 MiB streamed in 256 KiB chunks.
        let big = n("big");
        let data = det_bytes(1, 20 * MIB as usize);
        up.put(&big, body_of(&data, 256 * 1024), data.len() as u64)
            .await
            .unwrap();
        let (size, got) = read_all(up, &big, None).await.unwrap();
        assert_eq!(size, data.len() as u64);
        assert!(got == data, "20 MiB round trip differs");
        let (a, b) = (10 * MIB - 5, 10 * MIB + 5);
        let (_, got) = read_all(up, &big, Some((a, b))).await.unwrap();
        assert_eq!(got, &data[a as usize..b as usize]);

        // Bodies that fail leave nothing behind: midway, at the very end, short, long.
        let failing = |data: &[u8], at_end: bool| -> ByteStream {
            let mut items: Vec<UpResult<Bytes>> = data
                .chunks(256 * 1024)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            if !at_end {
                items.truncate(items.len() / 2);
            }
            items.push(Err(UpstreamError::new(
                UpstreamErrorKind::Aborted,
                None,
                "client body failed",
            )));
            stream::iter(items).boxed()
        };
        let ab = n("aborted");
        for at_end in [false, true] {
            let e = up
                .put(&ab, failing(&data[..4 * MIB as usize], at_end), 4 * MIB)
                .await
                .unwrap_err();
            assert_eq!(e.kind, UpstreamErrorKind::Aborted, "{e}");
            assert!(
                missing(up, &ab).await,
                "aborted put (at end: {at_end}) left an object"
            );
        }
        let e = up
            .put(&ab, body_of(&data[..MIB as usize], 65536), 2 * MIB)
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::Aborted, "{e}");
        let e = up
            .put(&ab, body_of(&data[..MIB as usize], 65536), MIB - 1)
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::Aborted, "{e}");
        assert!(missing(up, &ab).await);

        // Missing objects.
        let e = up.get(&n("nope"), None).await.err().unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{e}");
        let e = up.get(&n("nope"), Some((0, 5))).await.err().unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{e}");
        up.delete(&n("nope")).await.unwrap();

        // copy, delete.
        let copied = n("copy of big");
        up.copy(&big, &copied).await.unwrap();
        let (size, got) = read_all(up, &copied, None).await.unwrap();
        assert_eq!(size, data.len() as u64);
        assert!(got == data);
        let e = up.copy(&n("nope"), &n("nope2")).await.unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{e}");
        for name in [&copied, &big, &small, &empty] {
            up.delete(name).await.unwrap();
            assert!(missing(up, name).await);
        }

        // Multipart: 5 MiB + 5 MiB + 1 byte (server-side part copies).
        let mp = n("multi/part ü");
        let sizes = [5 * MIB, 5 * MIB, 1];
        let mut whole = Vec::new();
        let mut parts = Vec::new();
        for (i, &len) in sizes.iter().enumerate() {
            let part = det_bytes(100 + i as u64, len as usize);
            let num = i as u32 + 1;
            up.put_part(&mp, "upload-1", num, body_of(&part, 256 * 1024), len)
                .await
                .unwrap();
            whole.extend_from_slice(&part);
            parts.push((num, len));
        }
        // A re-uploaded part replaces the first one.
        let part1 = det_bytes(999, 5 * MIB as usize);
        up.put_part(&mp, "upload-1", 1, body_of(&part1, 1 << 20), 5 * MIB)
            .await
            .unwrap();
        whole[..5 * MIB as usize].copy_from_slice(&part1);
        up.complete(&mp, "upload-1", &parts).await.unwrap();
        let (size, got) = read_all(up, &mp, None).await.unwrap();
        assert_eq!(size, whole.len() as u64);
        assert!(got == whole, "multipart round trip differs");
        for (num, _) in &parts {
            assert!(
                missing(up, &part_name(&p, "upload-1", *num)).await,
                "part {num} left"
            );
        }

        // Parts below S3's minimum: concatenated (and a big part topped up / ranged).
        for (upload, sizes) in [
            ("upload-small", vec![1000u64, 1, 70_000]),
            ("upload-mixed", vec![300_000, 6 * MIB, 1234, 2 * MIB, 0, 77]),
            ("upload-single", vec![12_345]),
            // Topped up from the big part, whose rest is a ranged UploadPartCopy.
            ("upload-ranged", vec![1000, 12 * MIB + 3, 5]),
            ("upload-many", vec![50_000; 300]),
        ] {
            let mut whole = Vec::new();
            let mut parts = Vec::new();
            for (i, &len) in sizes.iter().enumerate() {
                let part = det_bytes(200 + i as u64, len as usize);
                let num = i as u32 + 1;
                up.put_part(&mp, upload, num, body_of(&part, 100_000), len)
                    .await
                    .unwrap();
                whole.extend_from_slice(&part);
                parts.push((num, len));
            }
            up.complete(&mp, upload, &parts)
                .await
                .unwrap_or_else(|e| panic!("{upload}: {e}"));
            let (size, got) = read_all(up, &mp, None).await.unwrap();
            assert_eq!(size, whole.len() as u64, "{upload}");
            assert!(got == whole, "{upload}: round trip differs");
            for (num, _) in &parts {
                assert!(
                    missing(up, &part_name(&p, upload, *num)).await,
                    "{upload}: part {num} left"
                );
            }
        }
        // Completing with a missing part fails and leaves the previous object.
        let e = up
            .complete(&mp, "upload-none", &[(1, 6 * MIB), (2, 10)])
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{e}");
        let e = up
            .complete(&mp, "upload-none", &[(1, 10), (2, 10)])
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{e}");
        assert!(!missing(up, &mp).await);
        up.delete(&mp).await.unwrap();

        // abort removes the stored parts; unknown ones are fine.
        for num in [1u32, 2] {
            up.put_part(&mp, "upload-2", num, body_of(b"part", 2), 4)
                .await
                .unwrap();
        }
        up.abort(&mp, "upload-2", &[1, 2, 3]).await.unwrap();
        for num in [1u32, 2] {
            assert!(missing(up, &part_name(&p, "upload-2", num)).await);
        }

        // probe failures.
        let mut bad = cfg.clone();
        bad.bucket = format!("no-such-bucket-{run}");
        let e = build(&bad, &GatewayConfig::default())
            .unwrap()
            .probe()
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{e}");
        let mut bad = cfg.clone();
        bad.secret_access_key = "wrong".into();
        let bad = build(&bad, &GatewayConfig::default()).unwrap();
        let e = bad.probe().await.unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::AccessDenied, "{e}");
        let e = bad.get(&n("x"), None).await.err().unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::AccessDenied, "{e}");
    }
}

//! AzureUpstream: object bytes as block blobs in one Azure Blob Storage container, over the
//! Blob REST API (Shared Key or SAS authorization).
//!
//! - `put`: Put Blob for objects up to `PUT_BLOB_MAX`; larger ones are streamed as Put Block
//!   calls of `BLOCK_SIZE` bytes (cut from the same body stream, nothing buffered) and
//!   committed with Put Block List. A failing body aborts the request before the commit, so
//!   no blob (and no partial blob) is ever left behind.
//! - multipart: each part is an uncommitted block on the destination blob, block id
//!   `base64("{upload_id}:{part:05}")`; `complete` commits them in order with Put Block List;
//!   `abort` leaves the uncommitted blocks to Azure's garbage collection (7 days).
//! - `copy`: Copy Blob (same account) and polling Get Blob Properties until it finishes.
//!
//! Timeouts: requests without a streamed body use the client's read timeout (until the
//! answer's headers, then between body bytes). Requests that stream a caller's body use a
//! client without one (reqwest's read timeout would run from the start of the upload) and
//! a progress watchdog instead: the request fails when no body byte moved and no answer
//! came for `read_timeout_ms`.

use super::upstream::{
    response_stream, retry, status_error, transport_error, ByteStream, UpResult, Upstream,
    UpstreamError, UpstreamErrorKind,
};
use crate::config::{AzureConfig, GatewayConfig};
use base64::Engine;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::Method;
use sha2::Sha256;
use std::borrow::Cow;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

/// The Blob REST API version we speak (Put Blob ≤ 5000 MiB, Put Block ≤ 4000 MiB).
const X_MS_VERSION: &str = "2021-08-06";
/// Objects up to this size go up in one Put Blob; larger ones as blocks.
const PUT_BLOB_MAX: u64 = 256 * 1024 * 1024;
/// Block size of a large `put`.
const BLOCK_SIZE: u64 = 100 * 1024 * 1024;
/// Largest block (= multipart part) the service takes.
const BLOCK_MAX: u64 = 4000 * 1024 * 1024;
/// Most blocks in one committed blob.
const BLOCKS_PER_BLOB_MAX: u64 = 50_000;
/// Length of the server's multipart upload ids (24 random bytes, URL-safe base64, see
/// `s3::multipart::new_upload_id`). Every block id of a blob must have the same length, so
/// the ids of parts and of large puts are all built from 32-character ids.
const UPLOAD_ID_LEN: usize = 32;
/// Longest wait for a pending Copy Blob to finish.
const COPY_WAIT_MAX: Duration = Duration::from_secs(15 * 60);

/// The emulator's well-known account (Azurite, `UseDevelopmentStorage=true`).
const DEV_ACCOUNT: &str = "devstoreaccount1";
const DEV_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT: &str = "http://127.0.0.1:10000/devstoreaccount1";

/// Percent-encoding of a URL path segment or query value: everything but RFC 3986
/// unreserved characters.
const STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

// ---- configuration ------------------------------------------------------------------

/// The pieces of a storage connection string (or of any other credential source).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Creds {
    account: String,
    key: String,
    /// Blob service endpoint (`BlobEndpoint`, or built from protocol + suffix).
    endpoint: String,
    sas: String,
}

/// Parses `Key=Value;Key=Value` (keys case-insensitive; values may contain `=`).
fn parse_connection_string(s: &str) -> Result<Creds, String> {
    let mut c = Creds::default();
    let (mut protocol, mut suffix, mut dev) = (String::new(), String::new(), false);
    for (i, item) in s.split(';').map(str::trim).enumerate() {
        if item.is_empty() {
            continue;
        }
        // (The item is not quoted: it may be a piece of a key.)
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("item {} is not Key=Value", i + 1))?;
        let v = v.trim().to_string();
        match k.trim().to_ascii_lowercase().as_str() {
            "accountname" => c.account = v,
            "accountkey" => c.key = v,
            "blobendpoint" => c.endpoint = v,
            "sharedaccesssignature" => c.sas = v,
            "defaultendpointsprotocol" => protocol = v,
            "endpointsuffix" => suffix = v,
            "usedevelopmentstorage" => dev = v.eq_ignore_ascii_case("true"),
            _ => {} // QueueEndpoint, TableEndpoint, DevelopmentStorageProxyUri, ...
        }
    }
    if dev {
        if c.account.is_empty() {
            c.account = DEV_ACCOUNT.into();
        }
        if c.key.is_empty() && c.sas.is_empty() {
            c.key = DEV_KEY.into();
        }
        if c.endpoint.is_empty() {
            c.endpoint = DEV_ENDPOINT.into();
        }
    }
    if c.endpoint.is_empty() && !c.account.is_empty() && !(protocol.is_empty() && suffix.is_empty())
    {
        let protocol = if protocol.is_empty() {
            "https"
        } else {
            &protocol
        };
        let suffix = if suffix.is_empty() {
            "core.windows.net"
        } else {
            &suffix
        };
        c.endpoint = format!("{protocol}://{}.blob.{suffix}", c.account);
    }
    Ok(c)
}

/// What the environment offers (AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT,
/// AZURE_STORAGE_KEY); empty = unset.
#[derive(Debug, Default, Clone)]
struct EnvCreds {
    connection_string: String,
    account: String,
    key: String,
}

impl EnvCreds {
    fn from_env() -> EnvCreds {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        EnvCreds {
            connection_string: var("AZURE_STORAGE_CONNECTION_STRING"),
            account: var("AZURE_STORAGE_ACCOUNT"),
            key: var("AZURE_STORAGE_KEY"),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Auth {
    /// The decoded account key.
    SharedKey(Vec<u8>),
    /// A SAS token (without the leading `?`), appended to every URL.
    Sas(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::SharedKey(_) => f.write_str("SharedKey(..)"),
            Auth::Sas(_) => f.write_str("Sas(..)"),
        }
    }
}

/// The resolved, validated backend settings.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    account: String,
    /// Blob service endpoint without a trailing `/`: `https://acct.blob.core.windows.net`,
    /// or path-style `http://127.0.0.1:10000/acct` (the account as first path segment).
    endpoint: String,
    container: String,
    auth: Auth,
}

/// The account named by an endpoint: the first path segment of a path-style endpoint, else
/// the first label of the host name (`acct.blob.core.windows.net`).
fn account_from_endpoint(endpoint: &str) -> Option<String> {
    let url = url::Url::parse(endpoint).ok()?;
    if let Some(seg) = url.path_segments().and_then(|mut s| s.next()) {
        if !seg.is_empty() {
            return Some(seg.to_string());
        }
    }
    match url.host()? {
        url::Host::Domain(d) if d.contains('.') => Some(d.split('.').next()?.to_string()),
        _ => None,
    }
}

/// Resolves the config section with the environment filling what it leaves out. Sources in
/// order: explicit keys, `connection_string`, AZURE_STORAGE_CONNECTION_STRING,
/// AZURE_STORAGE_ACCOUNT/AZURE_STORAGE_KEY. A later source only contributes when it names
/// no account or the same account as the one already chosen.
fn resolve(cfg: &AzureConfig, env: &EnvCreds) -> Result<Settings, String> {
    let mut sources = vec![Creds {
        account: cfg.account.trim().to_string(),
        key: cfg.account_key.trim().to_string(),
        endpoint: cfg.endpoint_url.trim().to_string(),
        sas: cfg.sas_token.trim().to_string(),
    }];
    if !cfg.connection_string.trim().is_empty() {
        sources.push(
            parse_connection_string(&cfg.connection_string)
                .map_err(|e| format!("storage.azure.connection_string: {e}"))?,
        );
    }
    if !env.connection_string.trim().is_empty() {
        sources.push(
            parse_connection_string(&env.connection_string)
                .map_err(|e| format!("AZURE_STORAGE_CONNECTION_STRING: {e}"))?,
        );
    }
    sources.push(Creds {
        account: env.account.trim().to_string(),
        key: env.key.trim().to_string(),
        ..Creds::default()
    });

    let mut account = sources
        .iter()
        .map(|s| s.account.clone())
        .find(|a| !a.is_empty())
        .unwrap_or_default();
    if account.is_empty() {
        if let Some(e) = sources.iter().find(|s| !s.endpoint.is_empty()) {
            account = account_from_endpoint(&e.endpoint).unwrap_or_default();
        }
    }
    let usable: Vec<&Creds> = sources
        .iter()
        .enumerate()
        .filter(|(i, s)| *i == 0 || s.account.is_empty() || s.account == account)
        .map(|(_, s)| s)
        .collect();
    let first = |f: fn(&Creds) -> &String| {
        usable
            .iter()
            .map(|s| f(s).clone())
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    };
    let (key, endpoint, sas) = (first(|s| &s.key), first(|s| &s.endpoint), first(|s| &s.sas));

    let container = cfg.container.trim().to_string();
    validate_container(&container)?;

    let auth = if !cfg.sas_token.trim().is_empty() || (key.is_empty() && !sas.is_empty()) {
        let sas = sas.trim_start_matches('?').to_string();
        if sas.contains('#') || sas.contains(char::is_whitespace) {
            return Err("storage.azure.sas_token: not a URL query string".into());
        }
        Auth::Sas(sas)
    } else if !key.is_empty() {
        let k = base64::engine::general_purpose::STANDARD
            .decode(key.as_bytes())
            .map_err(|e| format!("storage.azure.account_key: not base64 ({e})"))?;
        if k.is_empty() {
            return Err("storage.azure.account_key: empty".into());
        }
        if account.is_empty() {
            return Err("storage.azure.account: needed with an account key".into());
        }
        Auth::SharedKey(k)
    } else {
        return Err(
            "storage.azure: no credentials; set account_key, sas_token or \
                    connection_string (or AZURE_STORAGE_CONNECTION_STRING / \
                    AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY)"
                .into(),
        );
    };

    let endpoint = if endpoint.is_empty() {
        if account.is_empty() {
            return Err("storage.azure: set account or endpoint_url".into());
        }
        format!("https://{account}.blob.core.windows.net")
    } else {
        endpoint
    };
    let endpoint = validate_endpoint(&endpoint)?;
    Ok(Settings {
        account,
        endpoint,
        container,
        auth,
    })
}

/// Container names: 3-63 of `[a-z0-9-]`, starting and ending with a letter or digit, no
/// `--` (or the special `$root`).
fn validate_container(c: &str) -> Result<(), String> {
    let ok = c == "$root"
        || ((3..=63).contains(&c.len())
            && c.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
            && !c.contains("--"));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "storage.azure.container: `{c}` is not a container name (3-63 of a-z, 0-9, -)"
        ))
    }
}

/// Checks an endpoint URL and returns it without a trailing `/`.
fn validate_endpoint(e: &str) -> Result<String, String> {
    let url =
        url::Url::parse(e).map_err(|err| format!("storage.azure.endpoint_url `{e}`: {err}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "storage.azure.endpoint_url `{e}`: not an http(s) URL"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!(
            "storage.azure.endpoint_url `{e}`: no query, fragment or user info (SAS goes in sas_token)"
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

// ---- signing and URLs ---------------------------------------------------------------

/// The blob name of an upstream object name. Azure does not keep every name as given: a
/// `\` becomes `/`, and the front end drops a `.` that ends a path segment (so `a.`
/// would be `a`, and `a/../b` could resolve to `b`); control characters are trouble in
/// listings. So those characters are escaped as `%XX`, and with them `%` itself (which
/// keeps the mapping one-to-one). Names without `%`, `\`, control characters or a `.`
/// before a `/` or at the end go up unchanged.
fn blob_name(name: &str) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    let escape = |i: usize, b: u8| match b {
        b'%' | b'\\' | 0..=0x1f | 0x7f => true,
        b'.' => i + 1 == bytes.len() || bytes[i + 1] == b'/',
        _ => false,
    };
    if !bytes.iter().enumerate().any(|(i, &b)| escape(i, b)) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 16);
    for (i, c) in name.char_indices() {
        if c.is_ascii() && escape(i, c as u8) {
            out.push_str(&format!("%{:02X}", c as u8));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A blob name as URL path: each `/`-separated segment percent-encoded. A name with a `.`
/// or `..` segment has its `/` encoded too (`%2F`, which the service decodes back), as URL
/// parsers would otherwise resolve the dot segments and change the name.
fn encode_name(name: &str) -> String {
    if name.split('/').any(|s| s == "." || s == "..") {
        return utf8_percent_encode(name, STRICT).to_string();
    }
    let mut out = String::with_capacity(name.len() + 16);
    for (i, seg) in name.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(seg, STRICT));
    }
    out
}

/// The Shared Key string-to-sign (version 2015-02-21 and later). `headers` are the request
/// headers with lowercase names; `path` is the encoded URL path as sent; `query` the
/// (decoded) query parameters.
fn string_to_sign(
    method: &str,
    headers: &[(&str, String)],
    account: &str,
    path: &str,
    query: &[(&str, String)],
) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let mut s = String::with_capacity(256);
    s.push_str(method);
    s.push('\n');
    for h in [
        "content-encoding",
        "content-language",
        "content-length",
        "content-md5",
        "content-type",
        "date",
        "if-modified-since",
        "if-match",
        "if-none-match",
        "if-unmodified-since",
        "range",
    ] {
        let v = header(h);
        if !(h == "content-length" && v == "0") {
            s.push_str(v);
        }
        s.push('\n');
    }
    let mut ms: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-ms-"))
        .map(|(k, v)| (*k, v.trim()))
        .collect();
    ms.sort();
    for (k, v) in ms {
        s.push_str(k);
        s.push(':');
        s.push_str(v);
        s.push('\n');
    }
    s.push('/');
    s.push_str(account);
    s.push_str(path);
    let mut q: Vec<(String, &str)> = query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    q.sort();
    let mut i = 0;
    while i < q.len() {
        let mut values = vec![q[i].1];
        while i + values.len() < q.len() && q[i + values.len()].0 == q[i].0 {
            values.push(q[i + values.len()].1);
        }
        s.push('\n');
        s.push_str(&q[i].0);
        s.push(':');
        s.push_str(&values.join(","));
        i += values.len();
    }
    s
}

/// `base64(HMAC-SHA256(key, string_to_sign))`.
fn sign(key: &[u8], string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The block id of part `part` of `upload_id` (also used for the blocks of a large put,
/// with a random 32-character id).
fn block_id(upload_id: &str, part: u32) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{upload_id}:{part:05}"))
}

fn check_upload_id(op: &str, dst: &str, upload_id: &str) -> UpResult<()> {
    if upload_id.len() == UPLOAD_ID_LEN && !upload_id.contains(':') {
        Ok(())
    } else {
        Err(UpstreamError::new(
            UpstreamErrorKind::Other,
            None,
            format!(
                "{op} {dst}: upload id `{upload_id}` is not {UPLOAD_ID_LEN} characters \
                 (all block ids of a blob must have one length)"
            ),
        ))
    }
}

use super::upstream::content_range_total;

fn header_str<'r>(resp: &'r reqwest::Response, name: &str) -> Option<&'r str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

fn other(msg: String) -> UpstreamError {
    UpstreamError::new(UpstreamErrorKind::Other, None, msg)
}

// ---- streamed request bodies ----------------------------------------------------------

/// The caller's body stream, shared by the block bodies cut from it.
struct Source {
    stream: ByteStream,
    /// Bytes read past the end of the current block (the start of the next one).
    leftover: Option<Bytes>,
    /// The first failure (the stream's own error, or a length mismatch).
    error: Option<UpstreamError>,
    /// When the last byte went out (or the current request started), for the watchdog.
    activity: Instant,
}

type SharedSource = Arc<Mutex<Source>>;

fn shared_source(stream: ByteStream) -> SharedSource {
    Arc::new(Mutex::new(Source {
        stream,
        leftover: None,
        error: None,
        activity: Instant::now(),
    }))
}

/// Exactly `remaining` bytes of the shared source, as one request body. For the last block
/// (`last`) the final bytes are held back until the source has ended, so a body that is
/// longer than declared (or fails at its very end) aborts the request before the upstream
/// has the whole blob.
struct BlockBody {
    src: SharedSource,
    remaining: u64,
    last: bool,
    held: Option<Bytes>,
    done: bool,
}

impl BlockBody {
    fn new(src: SharedSource, len: u64, last: bool) -> BlockBody {
        src.lock().expect("source lock").activity = Instant::now();
        BlockBody {
            src,
            remaining: len,
            last,
            held: None,
            done: false,
        }
    }
}

impl Stream for BlockBody {
    type Item = Result<Bytes, UpstreamError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let src_arc = this.src.clone();
        let mut src = src_arc.lock().expect("source lock");
        let fail = |done: &mut bool, src: &mut Source, e: UpstreamError| {
            *done = true;
            let e = src.error.get_or_insert(e).clone();
            Poll::Ready(Some(Err(e)))
        };
        loop {
            if this.remaining == 0 {
                if !this.last {
                    this.done = true;
                    return Poll::Ready(None);
                }
                // The last block: the source must end here.
                if src.leftover.take().is_some_and(|b| !b.is_empty()) {
                    return fail(&mut this.done, &mut src, length_error("longer"));
                }
                match src.stream.poll_next_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => {
                        this.last = false;
                        src.activity = Instant::now();
                        match this.held.take() {
                            Some(b) => return Poll::Ready(Some(Ok(b))),
                            None => continue,
                        }
                    }
                    Poll::Ready(Some(Ok(b))) if b.is_empty() => continue,
                    Poll::Ready(Some(Ok(_))) => {
                        return fail(&mut this.done, &mut src, length_error("longer"))
                    }
                    Poll::Ready(Some(Err(e))) => return fail(&mut this.done, &mut src, e),
                }
            }
            let mut chunk = match src.leftover.take() {
                Some(b) => b,
                None => match src.stream.poll_next_unpin(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(None) => {
                        return fail(&mut this.done, &mut src, length_error("shorter"))
                    }
                    Poll::Ready(Some(Err(e))) => return fail(&mut this.done, &mut src, e),
                    Poll::Ready(Some(Ok(b))) => b,
                },
            };
            if chunk.is_empty() {
                continue;
            }
            if chunk.len() as u64 > this.remaining {
                src.leftover = Some(chunk.split_off(this.remaining as usize));
            }
            this.remaining -= chunk.len() as u64;
            src.activity = Instant::now();
            if this.remaining == 0 && this.last {
                this.held = Some(chunk);
                continue;
            }
            return Poll::Ready(Some(Ok(chunk)));
        }
    }
}

fn length_error(what: &str) -> UpstreamError {
    UpstreamError::new(
        UpstreamErrorKind::Aborted,
        None,
        format!("request body is {what} than its declared length"),
    )
}

/// Runs a request that streams `src`, failing it when neither a body byte nor the answer
/// moved for `idle`. A failure caused by the body stream reports the stream's error.
async fn send_streamed(
    op: &str,
    name: &str,
    rb: reqwest::RequestBuilder,
    src: &SharedSource,
    idle: Duration,
) -> UpResult<reqwest::Response> {
    let send = rb.send();
    futures::pin_mut!(send);
    let source_error = || src.lock().expect("source lock").error.clone();
    loop {
        let last = src.lock().expect("source lock").activity;
        let timer = tokio::time::sleep_until((last + idle).into());
        futures::pin_mut!(timer);
        match futures::future::select(send.as_mut(), timer).await {
            futures::future::Either::Left((Ok(resp), _)) => {
                if resp.status().is_success() {
                    return Ok(resp);
                }
                if let Some(e) = source_error() {
                    return Err(e);
                }
                return Err(azure_status_error(op, name, resp).await);
            }
            futures::future::Either::Left((Err(e), _)) => {
                return Err(source_error().unwrap_or_else(|| transport_error(op, name, e)));
            }
            futures::future::Either::Right(((), _)) => {
                if src.lock().expect("source lock").activity == last {
                    return Err(UpstreamError::new(
                        UpstreamErrorKind::Unavailable,
                        None,
                        format!("{op} {name}: no progress for {} ms", idle.as_millis()),
                    ));
                }
            }
        }
    }
}

/// `status_error` plus the service's `x-ms-error-code` (HEAD answers have no body).
async fn azure_status_error(op: &str, name: &str, resp: reqwest::Response) -> UpstreamError {
    let code = header_str(&resp, "x-ms-error-code").map(str::to_string);
    let mut e = status_error(op, name, resp).await;
    if let Some(code) = code {
        e.message = format!("{} [{code}]", e.message);
    }
    e
}

// ---- the backend ----------------------------------------------------------------------

pub struct AzureUpstream {
    s: Settings,
    /// For requests without a streamed body (read timeout set).
    client: reqwest::Client,
    /// For requests streaming a caller's body (no read timeout; see `send_streamed`).
    upload_client: reqwest::Client,
    idle: Duration,
    put_blob_max: u64,
    block_size: u64,
}

/// Builds the backend from its config section (env credentials fill what it leaves out).
pub fn build(cfg: &AzureConfig, gw: &GatewayConfig) -> Result<Arc<dyn Upstream>, String> {
    let s = resolve(cfg, &EnvCreds::from_env())?;
    if cfg.prefix.len() > 512 {
        return Err("storage.azure.prefix: longer than 512 bytes".into());
    }
    Ok(Arc::new(AzureUpstream::new(
        s,
        gw,
        PUT_BLOB_MAX,
        BLOCK_SIZE,
    )?))
}

impl AzureUpstream {
    fn new(
        s: Settings,
        gw: &GatewayConfig,
        put_blob_max: u64,
        block_size: u64,
    ) -> Result<AzureUpstream, String> {
        let idle = Duration::from_millis(gw.read_timeout_ms);
        let builder = || super::upstream::client_builder(gw);
        let client = builder()
            .read_timeout(idle)
            .build()
            .map_err(|e| format!("storage.azure: HTTP client: {e}"))?;
        let upload_client = builder()
            .build()
            .map_err(|e| format!("storage.azure: HTTP client: {e}"))?;
        Ok(AzureUpstream {
            s,
            client,
            upload_client,
            idle,
            put_blob_max,
            block_size: block_size.clamp(1, BLOCK_MAX),
        })
    }

    /// `{endpoint}/{container}[/{name}]?{query}[&{sas}]`.
    fn url(&self, name: Option<&str>, query: &[(&str, String)]) -> url::Url {
        let mut u = format!("{}/{}", self.s.endpoint, self.s.container);
        if let Some(name) = name {
            u.push('/');
            u.push_str(&encode_name(&blob_name(name)));
        }
        let mut sep = '?';
        for (k, v) in query {
            u.push(sep);
            u.push_str(k);
            u.push('=');
            u.extend(utf8_percent_encode(v, STRICT));
            sep = '&';
        }
        if let Auth::Sas(sas) = &self.s.auth {
            if !sas.is_empty() {
                u.push(sep);
                u.push_str(sas);
            }
        }
        url::Url::parse(&u).expect("endpoint validated, path and query encoded")
    }

    /// A signed request. `headers`: lowercase names; include `content-length` with a body.
    fn request(
        &self,
        client: &reqwest::Client,
        method: Method,
        name: Option<&str>,
        query: &[(&str, String)],
        mut headers: Vec<(&str, String)>,
    ) -> reqwest::RequestBuilder {
        let url = self.url(name, query);
        headers.push(("x-ms-date", httpdate::fmt_http_date(SystemTime::now())));
        headers.push(("x-ms-version", X_MS_VERSION.to_string()));
        if let Auth::SharedKey(key) = &self.s.auth {
            let sts = string_to_sign(
                method.as_str(),
                &headers,
                &self.s.account,
                url.path(),
                query,
            );
            let auth = format!("SharedKey {}:{}", self.s.account, sign(key, &sts));
            headers.push(("authorization", auth));
        }
        let mut rb = client.request(method, url);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        rb
    }

    /// Sends a request without a streamed body; non-2xx answers become errors.
    async fn send(
        &self,
        op: &str,
        name: &str,
        rb: reqwest::RequestBuilder,
    ) -> UpResult<reqwest::Response> {
        let resp = rb.send().await.map_err(|e| transport_error(op, name, e))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(azure_status_error(op, name, resp).await)
        }
    }

    /// Put Blob of `len` bytes from `src` (not retried: the body is consumed).
    async fn put_blob(&self, name: &str, src: &SharedSource, len: u64) -> UpResult<()> {
        let body = BlockBody::new(src.clone(), len, true);
        let headers = vec![
            ("content-length", len.to_string()),
            ("x-ms-blob-type", "BlockBlob".to_string()),
        ];
        let rb = self
            .request(&self.upload_client, Method::PUT, Some(name), &[], headers)
            .body(reqwest::Body::wrap_stream(body));
        send_streamed("put", name, rb, src, self.idle)
            .await
            .map(drop)
    }

    /// Put Block: the next `len` bytes of `src` as uncommitted block `id` of `name`.
    async fn put_block(
        &self,
        op: &str,
        name: &str,
        id: &str,
        src: &SharedSource,
        len: u64,
        last: bool,
    ) -> UpResult<()> {
        let body = BlockBody::new(src.clone(), len, last);
        let query = [("comp", "block".to_string()), ("blockid", id.to_string())];
        let headers = vec![("content-length", len.to_string())];
        let rb = self
            .request(
                &self.upload_client,
                Method::PUT,
                Some(name),
                &query,
                headers,
            )
            .body(reqwest::Body::wrap_stream(body));
        send_streamed(op, name, rb, src, self.idle).await.map(drop)
    }

    /// Put Block List: commits `ids` (uncommitted, else already committed: a retry after a
    /// lost answer finds them committed) as the content of `name`.
    async fn put_block_list(&self, op: &str, name: &str, ids: &[String]) -> UpResult<()> {
        let mut xml = String::with_capacity(64 + ids.len() * 80);
        xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
        for id in ids {
            xml.push_str("<Latest>");
            xml.push_str(id); // base64: nothing to escape
            xml.push_str("</Latest>");
        }
        xml.push_str("</BlockList>");
        let xml = Bytes::from(xml);
        retry(|| async {
            let headers = vec![
                ("content-length", xml.len().to_string()),
                ("content-type", "application/xml".to_string()),
            ];
            let query = [("comp", "blocklist".to_string())];
            let rb = self
                .request(&self.client, Method::PUT, Some(name), &query, headers)
                .body(xml.clone());
            self.send(op, name, rb).await.map(drop)
        })
        .await
    }

    /// A large put: `BLOCK_SIZE` blocks streamed from the body, then one commit.
    async fn put_blocks(&self, name: &str, src: &SharedSource, len: u64) -> UpResult<()> {
        let count = len.div_ceil(self.block_size);
        if count > BLOCKS_PER_BLOB_MAX {
            return Err(other(format!(
                "put {name}: {len} bytes need too many blocks"
            )));
        }
        let put_id =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
        let mut ids = Vec::with_capacity(count as usize);
        let mut off = 0;
        while off < len {
            let n = self.block_size.min(len - off);
            let id = block_id(&put_id, ids.len() as u32);
            self.put_block("put", name, &id, src, n, off + n == len)
                .await?;
            ids.push(id);
            off += n;
        }
        self.put_block_list("put", name, &ids).await
    }

    /// Get Blob Properties: the answer's headers.
    async fn properties(&self, op: &str, name: &str) -> UpResult<reqwest::Response> {
        retry(|| async {
            let rb = self.request(&self.client, Method::HEAD, Some(name), &[], vec![]);
            self.send(op, name, rb).await
        })
        .await
    }

    async fn do_get(&self, name: &str, range: Option<(u64, u64)>) -> UpResult<(u64, ByteStream)> {
        if let Some((start, end)) = range {
            if end <= start {
                let resp = self.properties("get", name).await?;
                // (Not `content_length()`: that is the size of the HEAD answer's body.)
                let size = header_str(&resp, "content-length")
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| other(format!("get {name}: no object size in the answer")))?;
                return Ok((size, futures::stream::empty().boxed()));
            }
        }
        let resp = retry(|| async {
            let mut headers = vec![];
            if let Some((start, end)) = range {
                headers.push(("x-ms-range", format!("bytes={start}-{}", end - 1)));
            }
            let rb = self.request(&self.client, Method::GET, Some(name), &[], headers);
            self.send("get", name, rb).await
        })
        .await?;
        let size = match (resp.status().as_u16(), range) {
            (206, _) => header_str(&resp, "content-range").and_then(content_range_total),
            (200, None) => resp.content_length(),
            (status, _) => {
                return Err(UpstreamError::new(
                    UpstreamErrorKind::Other,
                    Some(status),
                    format!("get {name}: ranged read answered {status}"),
                ))
            }
        };
        let size =
            size.ok_or_else(|| other(format!("get {name}: no object size in the answer")))?;
        Ok((size, response_stream("get", resp)))
    }

    async fn do_delete(&self, name: &str) -> UpResult<()> {
        let r = retry(|| async {
            let rb = self.request(&self.client, Method::DELETE, Some(name), &[], vec![]);
            self.send("delete", name, rb).await
        })
        .await;
        match r {
            Ok(_) => Ok(()),
            // A missing blob is success; a missing container is not.
            Err(e)
                if e.kind == UpstreamErrorKind::NotFound
                    && !e.message.contains("ContainerNotFound") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    async fn do_copy(&self, src: &str, dst: &str) -> UpResult<()> {
        let source = self.url(Some(src), &[]).to_string();
        let resp = retry(|| async {
            let headers = vec![("x-ms-copy-source", source.clone())];
            let rb = self.request(&self.client, Method::PUT, Some(dst), &[], headers);
            self.send("copy", dst, rb).await
        })
        .await?;
        let copy_id = header_str(&resp, "x-ms-copy-id").unwrap_or("").to_string();
        let mut status = header_str(&resp, "x-ms-copy-status")
            .unwrap_or("")
            .to_string();
        drop(resp);
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        loop {
            match status.as_str() {
                "success" => return Ok(()),
                "pending" => {}
                s => {
                    return Err(other(format!("copy {src} -> {dst}: copy status `{s}`")));
                }
            }
            if started.elapsed() > COPY_WAIT_MAX {
                return Err(UpstreamError::new(
                    UpstreamErrorKind::Unavailable,
                    None,
                    format!("copy {src} -> {dst}: still pending after {COPY_WAIT_MAX:?}"),
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
            let props = self.properties("copy", dst).await?;
            let id = header_str(&props, "x-ms-copy-id").unwrap_or("");
            if !copy_id.is_empty() && id != copy_id {
                // Another write replaced the blob after our copy: that write wins.
                return Ok(());
            }
            status = header_str(&props, "x-ms-copy-status")
                .unwrap_or("")
                .to_string();
            if let Some(d) = header_str(&props, "x-ms-copy-status-description") {
                if status != "pending" && status != "success" {
                    status = format!("{status}: {d}");
                }
            }
        }
    }

    async fn do_put_part(
        &self,
        dst: &str,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        len: u64,
    ) -> UpResult<()> {
        check_upload_id("put_part", dst, upload_id)?;
        if !(1..=10_000).contains(&part_number) {
            return Err(other(format!("put_part {dst}: part number {part_number}")));
        }
        if len > BLOCK_MAX {
            return Err(other(format!(
                "put_part {dst}: part of {len} bytes is larger than an Azure block ({BLOCK_MAX})"
            )));
        }
        let src = shared_source(body);
        if len == 0 {
            // The service refuses empty blocks; `complete` leaves empty parts out.
            let mut empty = BlockBody::new(src, 0, true);
            return match empty.next().await {
                Some(Err(e)) => Err(e),
                _ => Ok(()),
            };
        }
        let id = block_id(upload_id, part_number);
        self.put_block("put_part", dst, &id, &src, len, true).await
    }

    async fn do_complete(&self, dst: &str, upload_id: &str, parts: &[(u32, u64)]) -> UpResult<()> {
        check_upload_id("complete", dst, upload_id)?;
        let ids: Vec<String> = parts
            .iter()
            .filter(|(_, len)| *len > 0)
            .map(|(n, _)| block_id(upload_id, *n))
            .collect();
        self.put_block_list("complete", dst, &ids).await
    }

    async fn do_probe(&self) -> UpResult<()> {
        let name = self.s.container.as_str();
        retry(|| async {
            let query = [("restype", "container".to_string())];
            let rb = self.request(&self.client, Method::GET, None, &query, vec![]);
            self.send("probe", name, rb).await.map(drop)
        })
        .await
    }
}

impl Upstream for AzureUpstream {
    fn kind(&self) -> &'static str {
        "azure"
    }

    fn probe(&self) -> BoxFuture<'_, UpResult<()>> {
        self.do_probe().boxed()
    }

    fn put<'a>(&'a self, name: &'a str, body: ByteStream, len: u64) -> BoxFuture<'a, UpResult<()>> {
        async move {
            let src = shared_source(body);
            if len > self.put_blob_max {
                self.put_blocks(name, &src, len).await
            } else {
                self.put_blob(name, &src, len).await
            }
        }
        .boxed()
    }

    fn get<'a>(
        &'a self,
        name: &'a str,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, UpResult<(u64, ByteStream)>> {
        self.do_get(name, range).boxed()
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, UpResult<()>> {
        self.do_delete(name).boxed()
    }

    fn copy<'a>(&'a self, src: &'a str, dst: &'a str) -> BoxFuture<'a, UpResult<()>> {
        self.do_copy(src, dst).boxed()
    }

    fn put_part<'a>(
        &'a self,
        dst: &'a str,
        upload_id: &'a str,
        part_number: u32,
        body: ByteStream,
        len: u64,
    ) -> BoxFuture<'a, UpResult<()>> {
        self.do_put_part(dst, upload_id, part_number, body, len)
            .boxed()
    }

    fn complete<'a>(
        &'a self,
        dst: &'a str,
        upload_id: &'a str,
        parts: &'a [(u32, u64)],
    ) -> BoxFuture<'a, UpResult<()>> {
        self.do_complete(dst, upload_id, parts).boxed()
    }

    fn abort<'a>(
        &'a self,
        _dst: &'a str,
        _upload_id: &'a str,
        _part_numbers: &'a [u32],
    ) -> BoxFuture<'a, UpResult<()>> {
        // Uncommitted blocks cannot be deleted one by one; the service drops them a week
        // after their last change (or when the blob is next committed).
        async { Ok(()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use sha2::Digest;

    const KEY32: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";

    fn cfg() -> AzureConfig {
        AzureConfig {
            container: "gateway-upstream".into(),
            ..AzureConfig::default()
        }
    }

    fn key_of(s: &Settings) -> Vec<u8> {
        match &s.auth {
            Auth::SharedKey(k) => k.clone(),
            Auth::Sas(_) => panic!("expected Shared Key"),
        }
    }

    #[test]
    fn connection_string_full() {
        let c = parse_connection_string(
            "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5==;EndpointSuffix=core.chinacloudapi.cn",
        )
        .unwrap();
        assert_eq!(c.account, "acct");
        assert_eq!(c.key, "a2V5==");
        assert_eq!(c.endpoint, "https://acct.blob.core.chinacloudapi.cn");
        assert_eq!(c.sas, "");
    }

    #[test]
    fn connection_string_blob_endpoint_and_sas() {
        let c = parse_connection_string(
            " BlobEndpoint=https://x.example.net/ ; QueueEndpoint=https://q; \
             SharedAccessSignature=sv=2021-08-06&ss=b&sig=a%2Bb%3D;",
        )
        .unwrap();
        assert_eq!(c.endpoint, "https://x.example.net/");
        assert_eq!(c.sas, "sv=2021-08-06&ss=b&sig=a%2Bb%3D");
        assert_eq!(c.account, "");
        // Only the protocol given: default suffix.
        let c =
            parse_connection_string("AccountName=a1;AccountKey=k;DefaultEndpointsProtocol=http")
                .unwrap();
        assert_eq!(c.endpoint, "http://a1.blob.core.windows.net");
        // Neither: the endpoint is left to the default.
        let c = parse_connection_string("AccountName=a1;AccountKey=k").unwrap();
        assert_eq!(c.endpoint, "");
        assert!(parse_connection_string("AccountName=a;garbage").is_err());
    }

    #[test]
    fn connection_string_development_storage() {
        let c = parse_connection_string("UseDevelopmentStorage=true").unwrap();
        assert_eq!(c.account, DEV_ACCOUNT);
        assert_eq!(c.key, DEV_KEY);
        assert_eq!(c.endpoint, DEV_ENDPOINT);
        let c = parse_connection_string(
            "usedevelopmentstorage=TRUE;BlobEndpoint=http://127.0.0.1:5/devstoreaccount1",
        )
        .unwrap();
        assert_eq!(c.endpoint, "http://127.0.0.1:5/devstoreaccount1");
        let mut cfg = cfg();
        cfg.connection_string = "UseDevelopmentStorage=true".into();
        let s = resolve(&cfg, &EnvCreds::default()).unwrap();
        assert_eq!(s.account, DEV_ACCOUNT);
        assert_eq!(s.endpoint, DEV_ENDPOINT);
        assert_eq!(
            key_of(&s),
            base64::engine::general_purpose::STANDARD
                .decode(DEV_KEY)
                .unwrap()
        );
    }

    #[test]
    fn resolve_explicit_and_defaults() {
        let mut c = cfg();
        c.account = "acct".into();
        c.account_key = "a2V5".into();
        let s = resolve(&c, &EnvCreds::default()).unwrap();
        assert_eq!(s.endpoint, "https://acct.blob.core.windows.net");
        assert_eq!(key_of(&s), b"key");
        assert_eq!(s.container, "gateway-upstream");
        // Trailing slash dropped; explicit keys beat the connection string.
        c.endpoint_url = "http://127.0.0.1:10000/acct/".into();
        c.connection_string = "AccountName=other;AccountKey=b3RoZXI=;BlobEndpoint=http://x".into();
        let s = resolve(&c, &EnvCreds::default()).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:10000/acct");
        assert_eq!(s.account, "acct");
        assert_eq!(key_of(&s), b"key");
    }

    #[test]
    fn resolve_env_fallback() {
        let env = EnvCreds {
            connection_string: String::new(),
            account: "envacct".into(),
            key: "ZW52a2V5".into(),
        };
        let s = resolve(&cfg(), &env).unwrap();
        assert_eq!(s.account, "envacct");
        assert_eq!(key_of(&s), b"envkey");
        assert_eq!(s.endpoint, "https://envacct.blob.core.windows.net");

        // Config names the account, env supplies the key (same account or none named).
        let mut c = cfg();
        c.account = "envacct".into();
        assert_eq!(key_of(&resolve(&c, &env).unwrap()), b"envkey");
        let env_key_only = EnvCreds {
            key: "ZW52a2V5".into(),
            ..EnvCreds::default()
        };
        assert_eq!(key_of(&resolve(&c, &env_key_only).unwrap()), b"envkey");
        // A key for another account is not borrowed.
        c.account = "mine".into();
        let e = resolve(&c, &env).unwrap_err();
        assert!(e.contains("no credentials"), "{e}");

        // The env connection string fills endpoint + key; config's container stays.
        let env = EnvCreds {
            connection_string: "UseDevelopmentStorage=true".into(),
            account: "ignored".into(),
            key: "aWdub3JlZA==".into(),
        };
        let s = resolve(&cfg(), &env).unwrap();
        assert_eq!(s.account, DEV_ACCOUNT);
        assert_eq!(s.endpoint, DEV_ENDPOINT);
        // The config's own connection string comes before the environment.
        let mut c = cfg();
        c.connection_string = "AccountName=cs;AccountKey=Y3M=".into();
        let s = resolve(&c, &env).unwrap();
        assert_eq!((s.account.as_str(), key_of(&s)), ("cs", b"cs".to_vec()));
        assert_eq!(s.endpoint, "https://cs.blob.core.windows.net");
    }

    #[test]
    fn resolve_sas() {
        let mut c = cfg();
        c.endpoint_url = "https://acct.blob.core.windows.net".into();
        c.sas_token = "?sv=2021-08-06&sig=abc%3D".into();
        c.account_key = "a2V5".into(); // an explicit SAS wins
        let s = resolve(&c, &EnvCreds::default()).unwrap();
        assert_eq!(s.auth, Auth::Sas("sv=2021-08-06&sig=abc%3D".into()));
        assert_eq!(s.account, "acct"); // from the host name
                                       // Connection-string SAS when there is no key.
        let mut c = cfg();
        c.connection_string =
            "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;SharedAccessSignature=sig=x".into();
        let s = resolve(&c, &EnvCreds::default()).unwrap();
        assert_eq!(s.auth, Auth::Sas("sig=x".into()));
        assert_eq!(s.account, "devstoreaccount1"); // from the path
        let u = AzureUpstream::new(s, &GatewayConfig::default(), PUT_BLOB_MAX, BLOCK_SIZE).unwrap();
        assert_eq!(
            u.url(Some("a b"), &[("comp", "block".into())]).as_str(),
            "http://127.0.0.1:1/devstoreaccount1/gateway-upstream/a%20b?comp=block&sig=x"
        );
        assert_eq!(
            u.url(Some("k"), &[]).as_str(),
            "http://127.0.0.1:1/devstoreaccount1/gateway-upstream/k?sig=x"
        );
    }

    #[test]
    fn resolve_errors() {
        let e = resolve(&cfg(), &EnvCreds::default()).unwrap_err();
        assert!(e.contains("no credentials"), "{e}");
        let mut c = cfg();
        c.account = "a".into();
        c.account_key = "not base64!".into();
        assert!(resolve(&c, &EnvCreds::default())
            .unwrap_err()
            .contains("base64"));
        c.account_key = "a2V5".into();
        for bad in ["", "ab", "Upper", "a--b", "-ab", "under_score"] {
            c.container = bad.into();
            assert!(resolve(&c, &EnvCreds::default()).is_err(), "{bad}");
        }
        c.container = "ok-1".into();
        for bad in ["ftp://x", "not a url", "https://h/?sv=1", "https://u:p@h"] {
            c.endpoint_url = bad.into();
            assert!(resolve(&c, &EnvCreds::default()).is_err(), "{bad}");
        }
        // A key without any account.
        let mut c = cfg();
        c.account_key = "a2V5".into();
        c.endpoint_url = "http://127.0.0.1:10000".into();
        assert!(resolve(&c, &EnvCreds::default())
            .unwrap_err()
            .contains("account"));
    }

    #[test]
    fn shared_key_signature() {
        // Expected values computed independently (Python hmac/hashlib) from the documented
        // string-to-sign layout.
        let id = block_id(KEY32, 7);
        assert_eq!(id, "QWJDZEVmR2hJaktsTW5PcFFyU3RVdld4WXowMTIzNDU6MDAwMDc=");
        let headers = [
            ("content-length", "1048576".to_string()),
            ("x-ms-version", "2021-08-06".to_string()),
            ("x-ms-date", "Tue, 25 Nov 2025 06:00:00 GMT".to_string()),
        ];
        let query = [("comp", "block".to_string()), ("blockid", id)];
        let sts = string_to_sign(
            "PUT",
            &headers,
            "devstoreaccount1",
            "/devstoreaccount1/gateway-upstream/gw/b/odd%20key%2B%25",
            &query,
        );
        assert_eq!(
            sts,
            "PUT\n\n\n1048576\n\n\n\n\n\n\n\n\nx-ms-date:Tue, 25 Nov 2025 06:00:00 GMT\n\
             x-ms-version:2021-08-06\n\
             /devstoreaccount1/devstoreaccount1/gateway-upstream/gw/b/odd%20key%2B%25\n\
             blockid:QWJDZEVmR2hJaktsTW5PcFFyU3RVdld4WXowMTIzNDU6MDAwMDc=\ncomp:block"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(DEV_KEY)
            .unwrap();
        assert_eq!(
            sign(&key, &sts),
            "jRi2UbJlJIXuc5U9r7i9NtbbuzKgvUhXt7q7A4Vh4Vg="
        );

        // GET, host-style, Content-Length 0 signs as empty, x-ms headers sorted.
        let headers = [
            ("content-length", "0".to_string()),
            ("x-ms-version", "2021-08-06".to_string()),
            ("x-ms-range", "bytes=0-99".to_string()),
            ("x-ms-date", "Tue, 25 Nov 2025 06:00:00 GMT".to_string()),
        ];
        let sts = string_to_sign("GET", &headers, "myaccount", "/mycontainer/a/b.txt", &[]);
        assert_eq!(
            sts,
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Tue, 25 Nov 2025 06:00:00 GMT\n\
             x-ms-range:bytes=0-99\nx-ms-version:2021-08-06\n/myaccount/mycontainer/a/b.txt"
        );
        assert_eq!(
            sign(&key, &sts),
            "Yd/GGBYdma2w9YtOIPf/k9Ym4ZuN0FT9rACaVeN5WFQ="
        );

        // Repeated query parameters: one line, values sorted, comma-separated.
        let q = [
            ("b", "2".to_string()),
            ("A", "y".to_string()),
            ("a", "x".to_string()),
        ];
        assert!(string_to_sign("GET", &[], "ac", "/c", &q).ends_with("/ac/c\na:x,y\nb:2"));
    }

    #[test]
    fn request_is_signed_over_the_sent_path() {
        let mut c = cfg();
        c.connection_string = "UseDevelopmentStorage=true".into();
        let s = resolve(&c, &EnvCreds::default()).unwrap();
        let u = AzureUpstream::new(s, &GatewayConfig::default(), PUT_BLOB_MAX, BLOCK_SIZE).unwrap();
        let req = u
            .request(&u.client, Method::GET, Some("gw/b/k y"), &[], vec![])
            .build()
            .unwrap();
        assert_eq!(
            req.url().as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/gateway-upstream/gw/b/k%20y"
        );
        let h = |n: &str| req.headers()[n].to_str().unwrap().to_string();
        let headers = [
            ("x-ms-date", h("x-ms-date")),
            ("x-ms-version", h("x-ms-version")),
        ];
        let sts = string_to_sign(
            "GET",
            &headers,
            DEV_ACCOUNT,
            "/devstoreaccount1/gateway-upstream/gw/b/k%20y",
            &[],
        );
        assert!(sts.ends_with("\n/devstoreaccount1/devstoreaccount1/gateway-upstream/gw/b/k%20y"));
        let key = base64::engine::general_purpose::STANDARD
            .decode(DEV_KEY)
            .unwrap();
        assert_eq!(
            h("authorization"),
            format!("SharedKey {DEV_ACCOUNT}:{}", sign(&key, &sts))
        );
        assert_eq!(h("x-ms-version"), X_MS_VERSION);
    }

    #[test]
    fn odd_names_encode() {
        // (object name, blob name, URL path after the container)
        let cases = [
            ("gw/b/plain.txt", "gw/b/plain.txt", "gw/b/plain.txt"),
            ("gw/b/sp ace", "gw/b/sp ace", "gw/b/sp%20ace"),
            (
                "gw/b/p%c+q?r#s&t=u;v",
                "gw/b/p%25c+q?r#s&t=u;v",
                "gw/b/p%2525c%2Bq%3Fr%23s%26t%3Du%3Bv",
            ),
            (
                "gw/b/ünï/😀",
                "gw/b/ünï/😀",
                "gw/b/%C3%BCn%C3%AF/%F0%9F%98%80",
            ),
            ("gw/b/a//b/", "gw/b/a//b/", "gw/b/a//b/"),
            (
                "gw/b/tab\tnl\nbs\\",
                "gw/b/tab%09nl%0Abs%5C",
                "gw/b/tab%2509nl%250Abs%255C",
            ),
            ("gw/b/~-_.", "gw/b/~-_%2E", "gw/b/~-_%252E"),
            ("gw/b/../x", "gw/b/.%2E/x", "gw/b/.%252E/x"),
            ("gw/b/./x", "gw/b/%2E/x", "gw/b/%252E/x"),
            ("gw/b/..x/.y", "gw/b/..x/.y", "gw/b/..x/.y"),
            ("gw/b/a./b..", "gw/b/a%2E/b.%2E", "gw/b/a%252E/b.%252E"),
        ];
        let mut c = cfg();
        c.connection_string = "UseDevelopmentStorage=true".into();
        let path_style = AzureUpstream::new(
            resolve(&c, &EnvCreds::default()).unwrap(),
            &GatewayConfig::default(),
            1,
            1,
        )
        .unwrap();
        let mut c = cfg();
        c.account = "acct".into();
        c.account_key = "a2V5".into();
        let host_style = AzureUpstream::new(
            resolve(&c, &EnvCreds::default()).unwrap(),
            &GatewayConfig::default(),
            1,
            1,
        )
        .unwrap();
        for (name, blob, path) in cases {
            assert_eq!(blob_name(name), blob, "{name:?}");
            assert_eq!(encode_name(blob), path, "{name:?}");
            // The URL parser leaves the encoded path alone (what we sign is what is sent).
            let u = path_style.url(Some(name), &[]);
            assert_eq!(
                u.path(),
                format!("/devstoreaccount1/gateway-upstream/{path}")
            );
            let u = host_style.url(Some(name), &[]);
            assert_eq!(u.host_str(), Some("acct.blob.core.windows.net"));
            assert_eq!(u.path(), format!("/gateway-upstream/{path}"));
            // Decoding the URL gives the blob name, unescaping that the object name.
            let decoded = percent_encoding::percent_decode_str(path)
                .decode_utf8()
                .unwrap();
            assert_eq!(decoded, blob);
            let unescaped = percent_encoding::percent_decode_str(blob)
                .decode_utf8()
                .unwrap();
            assert_eq!(unescaped, name);
        }
        // Names the service would merge stay apart.
        let distinct = [
            "a/b", "a\\b", "a%5Cb", "a%2Fb", "x", "x.", "x%2E", "x..", "a/b/c", "a/b/../c",
            "a/./b", "a/b.", "a./b",
        ];
        let mapped: std::collections::HashSet<String> =
            distinct.iter().map(|n| blob_name(n).into_owned()).collect();
        assert_eq!(mapped.len(), distinct.len());
        for b in &mapped {
            assert!(
                !b.contains('\\') && !b.ends_with('.') && !b.contains("./"),
                "{b}"
            );
        }
        // Common names are untouched (no copy).
        assert!(matches!(
            blob_name("gw/bucket/dir/file.tar.gz"),
            Cow::Borrowed(_)
        ));
        // Dot segments that still reach the URL layer keep their slashes encoded.
        assert_eq!(encode_name("a/../b"), "a%2F..%2Fb");
    }

    #[test]
    fn block_ids() {
        let id = block_id(KEY32, 1);
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&id)
                .unwrap(),
            format!("{KEY32}:00001").as_bytes()
        );
        // All ids of one blob have one length, within the service's 64-byte limit.
        let lens: std::collections::HashSet<usize> = [1, 9, 10, 99, 10_000]
            .iter()
            .map(|&p| block_id(KEY32, p).len())
            .collect();
        assert_eq!(lens.len(), 1);
        const { assert!(UPLOAD_ID_LEN + 6 <= 64) };
        let put_id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([7u8; 24]);
        assert_eq!(put_id.len(), UPLOAD_ID_LEN);
        assert_eq!(block_id(&put_id, 0).len(), block_id(KEY32, 10_000).len());
        // The base64 is URL-encoded in the query.
        let mut c = cfg();
        c.connection_string = "UseDevelopmentStorage=true".into();
        let u = AzureUpstream::new(
            resolve(&c, &EnvCreds::default()).unwrap(),
            &GatewayConfig::default(),
            1,
            1,
        )
        .unwrap();
        let id = base64::engine::general_purpose::STANDARD.encode([0xfbu8, 0xff, 0x3e, 0x01]);
        assert_eq!(id, "+/8+AQ==");
        let url = u.url(Some("k"), &[("comp", "block".into()), ("blockid", id)]);
        assert_eq!(url.query(), Some("comp=block&blockid=%2B%2F8%2BAQ%3D%3D"));
        // Upload ids of another length are refused.
        assert!(check_upload_id("put_part", "k", KEY32).is_ok());
        assert!(check_upload_id("put_part", "k", "short").is_err());
        assert!(check_upload_id("put_part", "k", &format!("{KEY32}x")).is_err());
    }

    fn chunks(parts: Vec<Result<&'static [u8], ()>>) -> ByteStream {
        futures::stream::iter(parts.into_iter().map(|p| {
            p.map(Bytes::from_static)
                .map_err(|_| UpstreamError::new(UpstreamErrorKind::Aborted, None, "client body"))
        }))
        .boxed()
    }

    fn collect(body: BlockBody) -> (Vec<u8>, Option<UpstreamError>) {
        block_on(async {
            let mut out = vec![];
            let mut body = body;
            while let Some(item) = body.next().await {
                match item {
                    Ok(b) => out.extend_from_slice(&b),
                    Err(e) => return (out, Some(e)),
                }
            }
            (out, None)
        })
    }

    fn collect_ok(body: BlockBody) -> Vec<u8> {
        let (out, err) = collect(body);
        assert!(err.is_none(), "{err:?}");
        out
    }

    #[test]
    fn block_bodies_cut_the_source() {
        let src = shared_source(chunks(vec![Ok(b"abc"), Ok(b""), Ok(b"defgh"), Ok(b"ij")]));
        assert_eq!(
            collect_ok(BlockBody::new(src.clone(), 4, false)),
            b"abcd".to_vec()
        );
        assert_eq!(
            collect_ok(BlockBody::new(src.clone(), 4, false)),
            b"efgh".to_vec()
        );
        assert_eq!(
            collect_ok(BlockBody::new(src.clone(), 2, true)),
            b"ij".to_vec()
        );
        assert!(src.lock().unwrap().error.is_none());

        // Longer than declared: the last bytes are never sent.
        let src = shared_source(chunks(vec![Ok(b"abc"), Ok(b"def")]));
        let (out, err) = collect(BlockBody::new(src.clone(), 5, true));
        assert_eq!(out, b"abc");
        assert_eq!(err.unwrap().kind, UpstreamErrorKind::Aborted);
        assert!(src.lock().unwrap().error.is_some());
        let src = shared_source(chunks(vec![Ok(b"abc"), Ok(b"d")]));
        let (out, err) = collect(BlockBody::new(src, 3, true));
        assert_eq!(out, b"");
        assert!(err.is_some());

        // Shorter than declared.
        let src = shared_source(chunks(vec![Ok(b"abc")]));
        let (out, err) = collect(BlockBody::new(src, 5, true));
        assert_eq!(out, b"abc");
        assert!(err.unwrap().message.contains("shorter"));

        // The stream's own error (even right at the end) is what the request reports.
        let src = shared_source(chunks(vec![Ok(b"abc"), Err(())]));
        let (out, err) = collect(BlockBody::new(src.clone(), 3, true));
        assert_eq!(out, b"");
        assert_eq!(err.unwrap().message, "client body");
        assert_eq!(
            src.lock().unwrap().error.as_ref().unwrap().message,
            "client body"
        );

        // Empty body.
        let src = shared_source(chunks(vec![Ok(b"")]));
        assert!(collect_ok(BlockBody::new(src, 0, true)).is_empty());
        let src = shared_source(chunks(vec![Ok(b"x")]));
        assert!(collect(BlockBody::new(src, 0, true)).1.is_some());
    }

    // ---- against a live service (Azurite: tests/e2e/upstreams/start_azure.sh) ----------

    /// Deterministic test data: chunk `i` (of `chunk` bytes) is a pseudo-random function of
    /// `seed` and `i`, so misplaced blocks show.
    fn data(seed: u64, len: u64, chunk: usize) -> impl Iterator<Item = Bytes> {
        let mut off = 0u64;
        let mut i = 0u64;
        std::iter::from_fn(move || {
            if off >= len {
                return None;
            }
            let n = (chunk as u64).min(len - off) as usize;
            let mut x = seed ^ (i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1;
            let mut v = Vec::with_capacity(n + 8);
            while v.len() < n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.extend_from_slice(&x.to_le_bytes());
            }
            v.truncate(n);
            off += n as u64;
            i += 1;
            Some(Bytes::from(v))
        })
    }

    fn data_stream(seed: u64, len: u64, chunk: usize) -> ByteStream {
        futures::stream::iter(data(seed, len, chunk).map(Ok)).boxed()
    }

    fn digest(seed: u64, len: u64, chunk: usize) -> Vec<u8> {
        let mut h = Sha256::new();
        data(seed, len, chunk).for_each(|b| h.update(&b));
        h.finalize().to_vec()
    }

    fn bytes_of(seed: u64, len: u64, chunk: usize) -> Vec<u8> {
        data(seed, len, chunk).flat_map(|b| b.to_vec()).collect()
    }

    fn once(b: &'static [u8]) -> ByteStream {
        chunks(vec![Ok(b)])
    }

    /// Data then an error after `ok` bytes.
    fn failing(seed: u64, ok: u64, chunk: usize) -> ByteStream {
        data_stream(seed, ok, chunk)
            .chain(futures::stream::once(async {
                Err(UpstreamError::new(
                    UpstreamErrorKind::Aborted,
                    None,
                    "client body failed",
                ))
            }))
            .boxed()
    }

    async fn read_all(
        up: &AzureUpstream,
        name: &str,
        range: Option<(u64, u64)>,
    ) -> UpResult<(u64, Vec<u8>)> {
        let (size, mut s) = up.get(name, range).await?;
        let mut out = vec![];
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b?);
        }
        Ok((size, out))
    }

    async fn hash_all(up: &AzureUpstream, name: &str) -> (u64, u64, Vec<u8>) {
        let (size, mut s) = up.get(name, None).await.unwrap();
        let (mut n, mut h) = (0u64, Sha256::new());
        while let Some(b) = s.next().await {
            let b = b.unwrap();
            n += b.len() as u64;
            h.update(&b);
        }
        (size, n, h.finalize().to_vec())
    }

    async fn kind_of_get(up: &AzureUpstream, name: &str) -> Option<UpstreamErrorKind> {
        read_all(up, name, None).await.err().map(|e| e.kind)
    }

    /// Names listed under `prefix` (List Blobs), to check names arrive unaltered.
    async fn list(up: &AzureUpstream, prefix: &str) -> Vec<String> {
        let query = [
            ("restype", "container".to_string()),
            ("comp", "list".to_string()),
            ("prefix", prefix.to_string()),
        ];
        let rb = up.request(&up.client, Method::GET, None, &query, vec![]);
        let xml = up
            .send("list", prefix, rb)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let mut reader = quick_xml::Reader::from_str(&xml);
        let (mut names, mut in_name) = (vec![], false);
        loop {
            match reader.read_event().unwrap() {
                quick_xml::events::Event::Start(e) => in_name = e.name().as_ref() == b"Name",
                quick_xml::events::Event::Text(t) if in_name => {
                    names.push(t.unescape().unwrap().into_owned())
                }
                quick_xml::events::Event::End(_) => in_name = false,
                quick_xml::events::Event::Eof => break,
                _ => {}
            }
        }
        names
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore]
    async fn azure_upstream_contract() {
        let Ok(endpoint) = std::env::var("BLEEPSTORE_TEST_AZURE_ENDPOINT") else {
            eprintln!("BLEEPSTORE_TEST_AZURE_ENDPOINT not set: skipped");
            return;
        };
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        let cfg = AzureConfig {
            container: var("BLEEPSTORE_TEST_AZURE_CONTAINER", "gateway-upstream"),
            account: var("BLEEPSTORE_TEST_AZURE_ACCOUNT", DEV_ACCOUNT),
            endpoint_url: endpoint,
            account_key: var("BLEEPSTORE_TEST_AZURE_KEY", DEV_KEY),
            sas_token: var("BLEEPSTORE_TEST_AZURE_SAS", ""),
            ..AzureConfig::default()
        };
        let s = resolve(&cfg, &EnvCreds::default()).unwrap();
        let gw = GatewayConfig::default();
        let up = AzureUpstream::new(s.clone(), &gw, PUT_BLOB_MAX, BLOCK_SIZE).unwrap();
        // Small thresholds: a 3 MiB put goes up as 256 KiB+3 blocks.
        let small = AzureUpstream::new(s.clone(), &gw, 1 << 20, 256 * 1024 + 3).unwrap();
        let run = format!("gw-test/{}/", hex::encode(rand::random::<[u8; 6]>()));
        let n = |k: &str| format!("{run}b/{k}");
        const MIB: u64 = 1024 * 1024;

        // probe
        up.probe().await.unwrap();
        let mut other_c = s.clone();
        other_c.container = "no-such-container-bleep".into();
        let missing = AzureUpstream::new(other_c, &gw, PUT_BLOB_MAX, BLOCK_SIZE).unwrap();
        assert_eq!(
            missing.probe().await.unwrap_err().kind,
            UpstreamErrorKind::NotFound
        );
        assert_eq!(
            missing.delete(&n("x")).await.unwrap_err().kind,
            UpstreamErrorKind::NotFound
        );
        if let Auth::SharedKey(_) = s.auth {
            let mut bad = s.clone();
            bad.auth = Auth::SharedKey(b"wrong key".to_vec());
            let bad = AzureUpstream::new(bad, &gw, PUT_BLOB_MAX, BLOCK_SIZE).unwrap();
            assert_eq!(
                bad.probe().await.unwrap_err().kind,
                UpstreamErrorKind::AccessDenied
            );
        }

        // small put, whole and ranged reads
        up.put(&n("small"), once(b"hello world"), 11).await.unwrap();
        assert_eq!(
            read_all(&up, &n("small"), None).await.unwrap(),
            (11, b"hello world".to_vec())
        );
        assert_eq!(
            read_all(&up, &n("small"), Some((0, 5))).await.unwrap(),
            (11, b"hello".to_vec())
        );
        assert_eq!(
            read_all(&up, &n("small"), Some((6, 11))).await.unwrap(),
            (11, b"world".to_vec())
        );
        assert_eq!(
            read_all(&up, &n("small"), Some((10, 11))).await.unwrap(),
            (11, b"d".to_vec())
        );
        assert_eq!(
            read_all(&up, &n("small"), Some((3, 3))).await.unwrap(),
            (11, vec![])
        );
        assert_eq!(
            read_all(&up, &n("small"), Some((20, 30)))
                .await
                .unwrap_err()
                .kind,
            UpstreamErrorKind::InvalidRange
        );
        // replace
        up.put(&n("small"), chunks(vec![Ok(b"hel"), Ok(b"lo!")]), 6)
            .await
            .unwrap();
        assert_eq!(
            read_all(&up, &n("small"), None).await.unwrap(),
            (6, b"hello!".to_vec())
        );
        // empty object
        up.put(&n("empty"), chunks(vec![]), 0).await.unwrap();
        assert_eq!(read_all(&up, &n("empty"), None).await.unwrap(), (0, vec![]));

        // missing
        assert_eq!(
            kind_of_get(&up, &n("missing")).await,
            Some(UpstreamErrorKind::NotFound)
        );
        assert_eq!(
            up.get(&n("missing"), Some((0, 1)))
                .await
                .err()
                .map(|e| e.kind),
            Some(UpstreamErrorKind::NotFound)
        );
        up.delete(&n("missing")).await.unwrap();

        // 20 MiB streamed in odd-sized chunks
        let big = 20 * MIB;
        up.put(&n("20m"), data_stream(1, big, 64 * 1024 + 1), big)
            .await
            .unwrap();
        assert_eq!(
            hash_all(&up, &n("20m")).await,
            (big, big, digest(1, big, 64 * 1024 + 1))
        );
        let all = bytes_of(1, big, 64 * 1024 + 1);
        let (a, b) = (7 * MIB - 5, 13 * MIB + 11);
        let (size, got) = read_all(&up, &n("20m"), Some((a, b))).await.unwrap();
        assert_eq!(size, big);
        assert!(got == all[a as usize..b as usize]);
        drop(all);

        // aborted bodies leave nothing behind (Put Blob and block paths)
        let e = up
            .put(&n("aborted"), failing(2, 3 * MIB, 100_000), 5 * MIB)
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::Aborted, "{e}");
        assert_eq!(
            kind_of_get(&up, &n("aborted")).await,
            Some(UpstreamErrorKind::NotFound)
        );
        let e = small
            .put(&n("aborted-blocks"), failing(2, 2 * MIB, 100_000), 3 * MIB)
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::Aborted, "{e}");
        assert_eq!(
            kind_of_get(&up, &n("aborted-blocks")).await,
            Some(UpstreamErrorKind::NotFound)
        );
        // ... and so do bodies of the wrong length
        assert!(up.put(&n("long"), once(b"0123456789!"), 10).await.is_err());
        assert!(up.put(&n("short"), once(b"012345678"), 10).await.is_err());
        assert!(small
            .put(
                &n("long-blocks"),
                data_stream(3, 2 * MIB + 1, 65536),
                2 * MIB
            )
            .await
            .is_err());
        for k in ["long", "short", "long-blocks"] {
            assert_eq!(
                kind_of_get(&up, &n(k)).await,
                Some(UpstreamErrorKind::NotFound),
                "{k}"
            );
        }
        // a failure at the very end of an exact-length body still aborts
        let tail_err = data_stream(4, 1000, 1000)
            .chain(futures::stream::once(async {
                Err(UpstreamError::new(UpstreamErrorKind::Aborted, None, "late"))
            }))
            .boxed();
        assert!(up.put(&n("late"), tail_err, 1000).await.is_err());
        assert_eq!(
            kind_of_get(&up, &n("late")).await,
            Some(UpstreamErrorKind::NotFound)
        );

        // block path with small thresholds
        let len = 3 * MIB + 5;
        small
            .put(&n("blocks"), data_stream(5, len, 100_003), len)
            .await
            .unwrap();
        assert_eq!(
            hash_all(&up, &n("blocks")).await,
            (len, len, digest(5, len, 100_003))
        );

        // copy
        up.copy(&n("small"), &n("copied")).await.unwrap();
        assert_eq!(
            read_all(&up, &n("copied"), None).await.unwrap(),
            (6, b"hello!".to_vec())
        );
        up.copy(&n("20m"), &n("copied")).await.unwrap();
        assert_eq!(
            hash_all(&up, &n("copied")).await.2,
            digest(1, big, 64 * 1024 + 1)
        );
        assert_eq!(
            up.copy(&n("missing"), &n("copied2"))
                .await
                .unwrap_err()
                .kind,
            UpstreamErrorKind::NotFound
        );

        // delete
        up.delete(&n("small")).await.unwrap();
        assert_eq!(
            kind_of_get(&up, &n("small")).await,
            Some(UpstreamErrorKind::NotFound)
        );
        up.delete(&n("small")).await.unwrap();

        // multipart: 3 parts (part 2 uploaded twice), an empty part, completed out of order
        let upload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
        let mp = n("multi part");
        up.put_part(&mp, &upload, 1, data_stream(11, 2 * MIB, 65536), 2 * MIB)
            .await
            .unwrap();
        up.put_part(&mp, &upload, 2, data_stream(99, MIB, 65536), MIB)
            .await
            .unwrap();
        up.put_part(&mp, &upload, 3, data_stream(13, 1024, 100), 1024)
            .await
            .unwrap();
        up.put_part(&mp, &upload, 2, data_stream(12, 3 * MIB, 65536), 3 * MIB)
            .await
            .unwrap();
        up.put_part(&mp, &upload, 4, chunks(vec![]), 0)
            .await
            .unwrap();
        assert_eq!(
            kind_of_get(&up, &mp).await,
            Some(UpstreamErrorKind::NotFound)
        );
        // an aborted part body fails the part
        let e = up
            .put_part(&mp, &upload, 5, failing(7, MIB, 65536), 2 * MIB)
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::Aborted);
        assert!(up
            .put_part(&mp, "short-id", 1, once(b"x"), 1)
            .await
            .is_err());
        up.complete(
            &mp,
            &upload,
            &[(1, 2 * MIB), (2, 3 * MIB), (3, 1024), (4, 0)],
        )
        .await
        .unwrap();
        let mut want = bytes_of(11, 2 * MIB, 65536);
        want.extend(bytes_of(12, 3 * MIB, 65536));
        want.extend(bytes_of(13, 1024, 100));
        let (size, got) = read_all(&up, &mp, None).await.unwrap();
        assert_eq!(size, want.len() as u64);
        assert!(got == want);
        // completing again (a retry after a lost answer) is harmless
        up.complete(
            &mp,
            &upload,
            &[(1, 2 * MIB), (2, 3 * MIB), (3, 1024), (4, 0)],
        )
        .await
        .unwrap();
        assert_eq!(hash_all(&up, &mp).await.1, want.len() as u64);
        drop(want);
        // a part missing upstream fails the completion and leaves the object as it was
        let upload2 =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>());
        up.put_part(&mp, &upload2, 1, once(b"abc"), 3)
            .await
            .unwrap();
        assert!(up.complete(&mp, &upload2, &[(1, 3), (2, 3)]).await.is_err());
        assert_eq!(hash_all(&up, &mp).await.1, 5 * MIB + 1024);
        // abort
        up.abort(&mp, &upload2, &[1]).await.unwrap();
        let mp2 = n("aborted multipart");
        up.put_part(&mp2, &upload2, 1, once(b"abc"), 3)
            .await
            .unwrap();
        up.abort(&mp2, &upload2, &[1, 2]).await.unwrap();
        assert_eq!(
            kind_of_get(&up, &mp2).await,
            Some(UpstreamErrorKind::NotFound)
        );
        // a single empty part gives an empty object
        let mp3 = n("empty multipart");
        up.put_part(&mp3, &upload2, 1, chunks(vec![]), 0)
            .await
            .unwrap();
        up.complete(&mp3, &upload2, &[(1, 0)]).await.unwrap();
        assert_eq!(read_all(&up, &mp3, None).await.unwrap(), (0, vec![]));

        // odd names stay distinct and arrive as their blob names
        let odd = [
            "sp ace",
            "p%c+q?r#s&t=u;v",
            "ünïcødé/ключ/😀",
            "../x/./y",
            "a/../../b",
            "../b",
            "a//b",
            "a/b",
            "a\\b",
            "a%5Cb",
            "trailing.",
            "trailing",
            "dot./seg",
            "dot/seg",
            "tab\there\\back",
            "ctl\u{1}\u{7f}",
            "..",
            "dir/",
        ];
        for k in odd {
            let body: &'static [u8] = k.as_bytes().to_vec().leak();
            up.put(&n(k), once(body), k.len() as u64).await.unwrap();
        }
        for k in odd {
            let name = n(k);
            let got = read_all(&up, &name, None).await.unwrap().1;
            assert_eq!(String::from_utf8(got).unwrap(), k, "{name:?}");
            let blob = blob_name(&name).into_owned();
            let listed = list(&up, &blob).await;
            assert!(listed.contains(&blob), "{name:?}: {listed:?}");
        }

        // 300 MiB through the default thresholds: three 100 MiB blocks
        if std::env::var("BLEEPSTORE_TEST_AZURE_SKIP_HUGE").is_err() {
            let huge = 300 * MIB;
            let t = Instant::now();
            up.put(&n("300m"), data_stream(21, huge, 1 << 20), huge)
                .await
                .unwrap();
            let put_s = t.elapsed();
            assert_eq!(
                hash_all(&up, &n("300m")).await,
                (huge, huge, digest(21, huge, 1 << 20))
            );
            eprintln!("300 MiB: put {put_s:?}, put+get {:?}", t.elapsed());
        }

        // clean up
        for blob in list(&up, &run).await {
            let name = percent_encoding::percent_decode_str(&blob)
                .decode_utf8()
                .unwrap();
            up.delete(&name).await.unwrap();
        }
        assert!(list(&up, &run).await.is_empty());
    }
}

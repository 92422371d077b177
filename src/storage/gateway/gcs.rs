//! Google Cloud Storage backend, over the JSON API.
//!
//! - put: a simple (`uploadType=media`) upload up to `SIMPLE_UPLOAD_MAX`, above it a
//!   resumable session whose whole body goes up in one PUT. Bodies stream through
//!   `guard_body`, which holds back the latest chunk until the source stream has ended
//!   cleanly, so a source error can never let the upstream see a complete body.
//! - get: `alt=media` with a `Range` header; the total size comes from Content-Range.
//! - copy: `rewriteTo`, looping on `rewriteToken`.
//! - multipart: parts are objects (`part_name`), assembled by `compose` (at most 32
//!   sources a call; more go through intermediate composites, see `compose_plan`).
//! - auth: a service-account JSON (RS256 JWT exchanged for an OAuth2 access token, cached
//!   until shortly before it expires) or an `authorized_user` JSON (refresh token); with no
//!   credentials requests go unauthenticated (emulators such as fake-gcs-server).

use super::upstream::{
    guard_body, parse_content_range, part_name, response_stream, retry, slice_stream, status_error,
    take_abort, transport_error, AbortSlot, ByteStream, UpResult, Upstream, UpstreamError,
    UpstreamErrorKind,
};
use crate::config::{GatewayConfig, GcpConfig};
use base64::Engine;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryStreamExt};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION, RANGE};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The public Cloud Storage endpoint, used when `endpoint_url` is empty.
pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
/// OAuth2 scope asked for in the service-account JWT.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
/// Token endpoint when the credentials JSON names none.
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Env var naming the credentials JSON when `credentials_file` is empty.
const CREDENTIALS_ENV: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// Largest body sent as a simple upload; larger ones use a resumable session.
const SIMPLE_UPLOAD_MAX: u64 = 8 << 20;
/// Source objects one compose call accepts.
const COMPOSE_SOURCES_MAX: usize = 32;
/// Compose calls of one level in flight at once.
const COMPOSE_CONCURRENCY: usize = 8;
/// Deletes of parts/intermediates in flight at once during clean-up.
const CLEANUP_CONCURRENCY: usize = 16;
/// Lifetime asked for in the JWT (the maximum Google accepts).
const JWT_LIFETIME_S: u64 = 3600;
/// A cached access token is renewed this long before it expires (at most half its life).
const TOKEN_REFRESH_MARGIN_S: u64 = 300;
/// Rewrite calls for one copy before giving up (same-bucket rewrites finish in one).
const REWRITE_CALLS_MAX: u32 = 10_000;

/// Bytes left as they are in a path segment or query value: RFC 3986 unreserved. All else
/// (including '/', '%', '+', '?', '#', space and non-ASCII) is percent-encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes an object or bucket name for one path segment or query value.
fn encode(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// `{ep}/storage/v1/b/{bucket}/o/{name}`: the object's JSON API resource.
fn object_url(endpoint: &str, bucket: &str, name: &str) -> String {
    format!(
        "{endpoint}/storage/v1/b/{}/o/{}",
        encode(bucket),
        encode(name)
    )
}

/// `{ep}/upload/storage/v1/b/{bucket}/o?uploadType={kind}&name={name}`.
fn upload_url(endpoint: &str, bucket: &str, kind: &str, name: &str) -> String {
    format!(
        "{endpoint}/upload/storage/v1/b/{}/o?uploadType={kind}&name={}",
        encode(bucket),
        encode(name)
    )
}

/// `{ep}/storage/v1/b/{bucket}/o/{src}/rewriteTo/b/{bucket}/o/{dst}[?rewriteToken=..]`.
fn rewrite_url(endpoint: &str, bucket: &str, src: &str, dst: &str, token: Option<&str>) -> String {
    let mut u = format!(
        "{}/rewriteTo/b/{}/o/{}",
        object_url(endpoint, bucket, src),
        encode(bucket),
        encode(dst)
    );
    if let Some(t) = token {
        u.push_str("?rewriteToken=");
        u.push_str(&encode(t));
    }
    u
}

/// One compose call: `sources` (1..=32 names, in order) into `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ComposeStep {
    sources: Vec<String>,
    target: String,
}

/// Plans the compose calls that assemble `sources` (in order) into `dst`: levels of
/// independent steps, each level reading only objects that exist before it starts. While
/// more than 32 names remain, groups of 32 are composed into intermediates
/// (`intermediate(level, index)`; a group of one is carried over as it is). The last level
/// is a single step into `dst`. Empty `sources` gives an empty plan.
fn compose_plan(
    sources: &[String],
    dst: &str,
    intermediate: impl Fn(usize, usize) -> String,
) -> Vec<Vec<ComposeStep>> {
    let mut levels = Vec::new();
    if sources.is_empty() {
        return levels;
    }
    let mut current: Vec<String> = sources.to_vec();
    let mut level = 0;
    while current.len() > COMPOSE_SOURCES_MAX {
        let mut steps = Vec::new();
        let mut next = Vec::with_capacity(current.len().div_ceil(COMPOSE_SOURCES_MAX));
        for (i, group) in current.chunks(COMPOSE_SOURCES_MAX).enumerate() {
            if group.len() == 1 {
                next.push(group[0].clone());
                continue;
            }
            let target = intermediate(level, i);
            next.push(target.clone());
            steps.push(ComposeStep {
                sources: group.to_vec(),
                target,
            });
        }
        levels.push(steps);
        current = next;
        level += 1;
    }
    levels.push(vec![ComposeStep {
        sources: current,
        target: dst.to_string(),
    }]);
    levels
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// `storage.gcp` after validation and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Settings {
    bucket: String,
    /// Without a trailing '/'.
    endpoint: String,
    prefix: String,
    /// The credentials JSON to read; None = unauthenticated.
    credentials_file: Option<String>,
}

/// Validates `cfg`, filling defaults; `env_credentials` is GOOGLE_APPLICATION_CREDENTIALS
/// (taken as an argument so this stays a pure function).
fn resolve(cfg: &GcpConfig, env_credentials: Option<&str>) -> Result<Settings, String> {
    let bucket = cfg.bucket.trim();
    if bucket.is_empty() {
        return Err("storage.gcp.bucket is required for the gcp backend".into());
    }
    if bucket.contains('/') || bucket.chars().any(char::is_whitespace) {
        return Err(format!(
            "storage.gcp.bucket {bucket:?} is not a bucket name (no '/' or spaces; put \
             object name prefixes in storage.gcp.prefix)"
        ));
    }
    let endpoint = match cfg.endpoint_url.trim() {
        "" => DEFAULT_ENDPOINT.to_string(),
        e => e.trim_end_matches('/').to_string(),
    };
    let parsed = url::Url::parse(&endpoint)
        .map_err(|e| format!("storage.gcp.endpoint_url {endpoint:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!(
            "storage.gcp.endpoint_url {endpoint:?}: needs http:// or https:// and a host"
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(format!(
            "storage.gcp.endpoint_url {endpoint:?}: no query or fragment allowed"
        ));
    }
    let credentials_file = [Some(cfg.credentials_file.as_str()), env_credentials]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string);
    Ok(Settings {
        bucket: bucket.to_string(),
        endpoint,
        prefix: cfg.prefix.clone(),
        credentials_file,
    })
}

// ---------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------

enum Credentials {
    /// `"type": "service_account"`: a JWT signed with the account's key.
    ServiceAccount {
        client_email: String,
        key: ring::signature::RsaKeyPair,
        token_uri: String,
    },
    /// `"type": "authorized_user"` (gcloud application-default login): a refresh token.
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
    },
}

impl Credentials {
    fn token_uri(&self) -> &str {
        match self {
            Credentials::ServiceAccount { token_uri, .. }
            | Credentials::AuthorizedUser { token_uri, .. } => token_uri,
        }
    }
}

fn json_str(v: &serde_json::Value, field: &str) -> Result<String, String> {
    match v.get(field).and_then(|f| f.as_str()) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => Err(format!("missing field {field:?}")),
    }
}

/// Parses a credentials JSON (service account or authorized user).
fn parse_credentials(text: &str) -> Result<Credentials, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let token_uri = v
        .get("token_uri")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
        .unwrap_or(DEFAULT_TOKEN_URI)
        .to_string();
    let kind = v.get("type").and_then(|t| t.as_str()).unwrap_or("");
    match kind {
        "service_account" | "" => {
            let client_email = json_str(&v, "client_email")?;
            let pem = json_str(&v, "private_key")?;
            let key = rsa_key_from_pem(&pem)?;
            Ok(Credentials::ServiceAccount {
                client_email,
                key,
                token_uri,
            })
        }
        "authorized_user" => Ok(Credentials::AuthorizedUser {
            client_id: json_str(&v, "client_id")?,
            client_secret: json_str(&v, "client_secret")?,
            refresh_token: json_str(&v, "refresh_token")?,
            token_uri,
        }),
        other => Err(format!(
            "credentials of type {other:?} are not supported (service_account or \
             authorized_user)"
        )),
    }
}

/// PEM → DER: the base64 of the lines between the BEGIN/END markers.
fn pem_to_der(pem: &str) -> Result<Vec<u8>, String> {
    let mut in_body = false;
    let mut b64 = String::new();
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN") {
            in_body = true;
        } else if line.starts_with("-----END") {
            break;
        } else if in_body {
            b64.push_str(line);
        }
    }
    if b64.is_empty() {
        return Err("private_key is not a PEM block".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| format!("private_key: bad base64: {e}"))
}

/// An RSA key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what Google issues) or PKCS#1.
fn rsa_key_from_pem(pem: &str) -> Result<ring::signature::RsaKeyPair, String> {
    let der = pem_to_der(pem)?;
    ring::signature::RsaKeyPair::from_pkcs8(&der)
        .or_else(|e8| ring::signature::RsaKeyPair::from_der(&der).map_err(|_| e8))
        .map_err(|e| format!("private_key: not a usable RSA key: {e}"))
}

fn b64url(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

/// The signed RS256 JWT a service account exchanges for an access token.
fn jwt_assertion(
    client_email: &str,
    key: &ring::signature::RsaKeyPair,
    token_uri: &str,
    now_s: u64,
) -> Result<String, String> {
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    let claims = serde_json::json!({
        "iss": client_email,
        "scope": SCOPE,
        "aud": token_uri,
        "iat": now_s,
        "exp": now_s + JWT_LIFETIME_S,
    });
    let mut jwt = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        jwt.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "signing the JWT failed".to_string())?;
    jwt.push('.');
    jwt.push_str(&b64url(&sig));
    Ok(jwt)
}

/// `application/x-www-form-urlencoded` body of `pairs`.
fn form_body(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The token request body for `creds` at `now_s`.
fn token_request_body(creds: &Credentials, now_s: u64) -> Result<String, String> {
    Ok(match creds {
        Credentials::ServiceAccount {
            client_email,
            key,
            token_uri,
        } => {
            let jwt = jwt_assertion(client_email, key, token_uri, now_s)?;
            form_body(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", &jwt),
            ])
        }
        Credentials::AuthorizedUser {
            client_id,
            client_secret,
            refresh_token,
            ..
        } => form_body(&[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("refresh_token", refresh_token),
        ]),
    })
}

struct CachedToken {
    token: String,
    /// When to fetch a new one (some minutes before it expires).
    refresh_at: Instant,
}

/// Fetches and caches OAuth2 access tokens. The lock is held across a fetch, so
/// concurrent requests wait for one refresh instead of each starting their own.
struct TokenSource {
    creds: Credentials,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

impl TokenSource {
    fn new(creds: Credentials) -> Self {
        TokenSource {
            creds,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    async fn token(&self, client: &reqwest::Client) -> UpResult<String> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let (token, ttl_s) = retry(|| self.fetch(client)).await?;
        let margin = TOKEN_REFRESH_MARGIN_S.min(ttl_s / 2);
        *cached = Some(CachedToken {
            token: token.clone(),
            refresh_at: Instant::now() + Duration::from_secs(ttl_s - margin),
        });
        Ok(token)
    }

    /// Drops the cached token (after the upstream refused it).
    async fn invalidate(&self, refused: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == refused) {
            *cached = None;
        }
    }

    /// One token request: (access token, lifetime in seconds).
    async fn fetch(&self, client: &reqwest::Client) -> UpResult<(String, u64)> {
        let uri = self.creds.token_uri();
        let now_s = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let body = token_request_body(&self.creds, now_s)
            .map_err(|e| UpstreamError::new(UpstreamErrorKind::Other, None, e))?;
        let resp = client
            .post(uri)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error("token", uri, e))?;
        let status = resp.status().as_u16();
        if !resp.status().is_success() {
            let mut err = status_error("token", uri, resp).await;
            if matches!(status, 400 | 401 | 403) {
                // invalid_grant / invalid_client: the credentials were refused.
                err.kind = UpstreamErrorKind::AccessDenied;
            }
            return Err(err);
        }
        let v = read_json("token", uri, resp).await?;
        let token = v
            .get("access_token")
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                UpstreamError::new(
                    UpstreamErrorKind::Other,
                    Some(status),
                    format!("token {uri}: answer has no access_token"),
                )
            })?;
        let ttl_s = v
            .get("expires_in")
            .and_then(|e| {
                e.as_u64()
                    .or_else(|| e.as_str().and_then(|s| s.parse().ok()))
            })
            .unwrap_or(JWT_LIFETIME_S);
        tracing::debug!(token_uri = uri, ttl_s, "gcs: fetched access token");
        Ok((token.to_string(), ttl_s))
    }
}

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Reads a JSON answer.
async fn read_json(op: &str, name: &str, resp: reqwest::Response) -> UpResult<serde_json::Value> {
    let status = resp.status().as_u16();
    let body = resp
        .bytes()
        .await
        .map_err(|e| transport_error(op, name, e))?;
    serde_json::from_slice(&body).map_err(|e| {
        UpstreamError::new(
            UpstreamErrorKind::Other,
            Some(status),
            format!("{op} {name}: malformed JSON answer: {e}"),
        )
    })
}

/// The `size` of an object resource (a decimal string in the JSON API).
fn resource_size(v: &serde_json::Value) -> Option<u64> {
    let s = v.get("size")?;
    s.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| s.as_u64())
}

// ---------------------------------------------------------------------------------------
// The backend
// ---------------------------------------------------------------------------------------

pub struct GcsUpstream {
    client: reqwest::Client,
    endpoint: String,
    bucket: String,
    prefix: String,
    auth: Option<TokenSource>,
}

/// Builds the backend from its config section (env credentials fill what it leaves out).
pub fn build(cfg: &GcpConfig, gw: &GatewayConfig) -> Result<Arc<dyn Upstream>, String> {
    let env = std::env::var(CREDENTIALS_ENV).ok();
    let settings = resolve(cfg, env.as_deref())?;
    Ok(Arc::new(GcsUpstream::new(settings, gw)?))
}

impl GcsUpstream {
    fn new(s: Settings, gw: &GatewayConfig) -> Result<Self, String> {
        let auth = match &s.credentials_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("storage.gcp: reading credentials {path}: {e}"))?;
                let creds = parse_credentials(&text)
                    .map_err(|e| format!("storage.gcp: credentials {path}: {e}"))?;
                Some(TokenSource::new(creds))
            }
            None => None,
        };
        let builder = super::upstream::client_builder(gw)
            .read_timeout(Duration::from_millis(gw.read_timeout_ms));
        let client = builder
            .build()
            .map_err(|e| format!("storage.gcp: building the HTTP client: {e}"))?;
        tracing::info!(
            endpoint = %s.endpoint,
            bucket = %s.bucket,
            prefix = %s.prefix,
            authenticated = auth.is_some(),
            "gcs gateway upstream"
        );
        Ok(GcsUpstream {
            client,
            endpoint: s.endpoint,
            bucket: s.bucket,
            prefix: s.prefix,
            auth,
        })
    }

    fn object_url(&self, name: &str) -> String {
        object_url(&self.endpoint, &self.bucket, name)
    }

    /// Sends a request (with a bearer token when authenticated) and returns the answer
    /// whatever its status. A 401 on a replayable request drops the cached token and
    /// tries once more with a fresh one.
    async fn send(
        &self,
        op: &str,
        name: &str,
        rb: reqwest::RequestBuilder,
    ) -> UpResult<reqwest::Response> {
        let Some(auth) = &self.auth else {
            return rb.send().await.map_err(|e| transport_error(op, name, e));
        };
        let with_context = |e: UpstreamError| {
            UpstreamError::new(e.kind, e.status, format!("{op} {name}: {}", e.message))
        };
        let token = auth.token(&self.client).await.map_err(with_context)?;
        let replay = rb.try_clone();
        let resp = rb
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| transport_error(op, name, e))?;
        match replay {
            Some(replay) if resp.status() == reqwest::StatusCode::UNAUTHORIZED => {
                auth.invalidate(&token).await;
                let token = auth.token(&self.client).await.map_err(with_context)?;
                replay
                    .bearer_auth(token)
                    .send()
                    .await
                    .map_err(|e| transport_error(op, name, e))
            }
            _ => Ok(resp),
        }
    }

    /// `send`, with any non-2xx answer turned into an error.
    async fn send_ok(
        &self,
        op: &str,
        name: &str,
        rb: reqwest::RequestBuilder,
    ) -> UpResult<reqwest::Response> {
        let resp = self.send(op, name, rb).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(status_error(op, name, resp).await)
        }
    }

    /// Uploads `body` as `name`: simple upload up to 8 MiB, resumable session above.
    /// Not retried (the body is consumed).
    async fn upload(&self, op: &str, name: &str, body: ByteStream, len: u64) -> UpResult<()> {
        let abort: AbortSlot = Arc::new(StdMutex::new(None));
        let body = reqwest::Body::wrap_stream(guard_body(body, len, abort.clone()));
        if len <= SIMPLE_UPLOAD_MAX {
            let rb = self
                .client
                .post(upload_url(&self.endpoint, &self.bucket, "media", name))
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, len)
                .body(body);
            let res = self.send(op, name, rb).await;
            return self.finish_upload(op, name, res, &abort).await;
        }

        // Resumable: open a session (retryable: it stores nothing), then one PUT.
        let init_url = upload_url(&self.endpoint, &self.bucket, "resumable", name);
        let session = retry(|| async {
            let rb = self
                .client
                .post(&init_url)
                .header("X-Upload-Content-Type", "application/octet-stream")
                .header("X-Upload-Content-Length", len)
                .header(CONTENT_LENGTH, 0);
            let resp = self.send_ok(op, name, rb).await?;
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .map(str::to_string);
            location.ok_or_else(|| {
                UpstreamError::new(
                    UpstreamErrorKind::Other,
                    None,
                    format!("{op} {name}: resumable upload answer has no Location"),
                )
            })
        })
        .await?;
        let rb = self
            .client
            .put(&session)
            .header(CONTENT_LENGTH, len)
            .body(body);
        let res = self.send(op, name, rb).await;
        let out = self.finish_upload(op, name, res, &abort).await;
        if out.is_err() {
            // Cancel the session (GCS answers 499); it would expire in a week anyway.
            let rb = self.client.delete(&session).header(CONTENT_LENGTH, 0);
            if let Err(e) = self.send(op, name, rb).await {
                tracing::debug!(name, error = %e, "gcs: cancelling resumable session failed");
            }
        }
        out
    }

    /// The outcome of an upload request, giving a body source error precedence.
    async fn finish_upload(
        &self,
        op: &str,
        name: &str,
        res: UpResult<reqwest::Response>,
        abort: &AbortSlot,
    ) -> UpResult<()> {
        if let Some(e) = take_abort(abort, op, name) {
            if matches!(&res, Ok(r) if r.status().is_success()) {
                // Cannot happen with guard_body holding the tail back; never keep it.
                tracing::warn!(
                    name,
                    "gcs: upload succeeded despite a failed body; deleting"
                );
                let _ = self.delete_object(name).await;
            }
            return Err(e);
        }
        let resp = res?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(status_error(op, name, resp).await)
        }
    }

    async fn delete_object(&self, name: &str) -> UpResult<()> {
        let url = self.object_url(name);
        retry(|| async {
            let resp = self.send("delete", name, self.client.delete(&url)).await?;
            let status = resp.status();
            if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
                Ok(())
            } else {
                Err(status_error("delete", name, resp).await)
            }
        })
        .await
    }

    /// Deletes `names` concurrently, logging (not returning) failures.
    async fn delete_best_effort(&self, what: &str, names: Vec<String>) {
        let deletes: Vec<_> = names
            .into_iter()
            .map(|n| async move {
                let r = self.delete_object(&n).await;
                (n, r)
            })
            .collect();
        let mut results = futures::stream::iter(deletes).buffer_unordered(CLEANUP_CONCURRENCY);
        while let Some((n, r)) = results.next().await {
            if let Err(e) = r {
                tracing::warn!(name = %n, error = %e, "gcs: {what} clean-up failed");
            }
        }
    }

    async fn get_object(
        &self,
        name: &str,
        range: Option<(u64, u64)>,
    ) -> UpResult<(u64, ByteStream)> {
        if let Some((start, end)) = range {
            if end <= start {
                // An empty range cannot be asked for with a Range header.
                let size = self.object_size(name).await?;
                if start > size {
                    return Err(UpstreamError::from_status(
                        416,
                        format!("get {name}: range starts at {start} past size {size}"),
                    ));
                }
                return Ok((size, futures::stream::empty().boxed()));
            }
        }
        let url = format!("{}?alt=media", self.object_url(name));
        let resp = retry(|| async {
            let mut rb = self.client.get(&url);
            if let Some((start, end)) = range {
                rb = rb.header(RANGE, format!("bytes={}-{}", start, end - 1));
            }
            self.send_ok("get", name, rb).await
        })
        .await?;
        let status = resp.status().as_u16();
        let headers = resp.headers();
        let header = |h: &str| headers.get(h).and_then(|v| v.to_str().ok());
        let length = header(CONTENT_LENGTH.as_str())
            .or_else(|| header("x-goog-stored-content-length"))
            .and_then(|v| v.trim().parse::<u64>().ok());
        let content_range = header(CONTENT_RANGE.as_str()).and_then(parse_content_range);
        let malformed = |what: &str| {
            UpstreamError::new(
                UpstreamErrorKind::Other,
                Some(status),
                format!("get {name}: {what}"),
            )
        };
        match (status, range) {
            (206, Some((start, _))) => {
                let cr = content_range.ok_or_else(|| malformed("206 without a Content-Range"))?;
                let total = cr
                    .total
                    .ok_or_else(|| malformed("Content-Range without the total size"))?;
                if cr.range.is_some_and(|(a, _)| a != start) {
                    return Err(malformed("206 for a different range than asked"));
                }
                Ok((total, response_stream("get", resp)))
            }
            (200, None) => {
                let total = length.ok_or_else(|| malformed("answer without Content-Length"))?;
                Ok((total, response_stream("get", resp)))
            }
            (200, Some((start, end))) => {
                // The server ignored the Range header: cut the range out ourselves.
                let total = length.ok_or_else(|| malformed("answer without Content-Length"))?;
                if start >= total && total > 0 {
                    return Err(UpstreamError::from_status(
                        416,
                        format!("get {name}: range starts at {start} past size {total}"),
                    ));
                }
                let take = end.min(total).saturating_sub(start);
                let body = response_stream("get", resp);
                Ok((total, slice_stream(body, start, take)))
            }
            _ => Err(malformed("unexpected success status")),
        }
    }

    /// The object's size, from its metadata.
    async fn object_size(&self, name: &str) -> UpResult<u64> {
        let url = self.object_url(name);
        let v = retry(|| async {
            let resp = self.send_ok("stat", name, self.client.get(&url)).await?;
            read_json("stat", name, resp).await
        })
        .await?;
        resource_size(&v).ok_or_else(|| {
            UpstreamError::new(
                UpstreamErrorKind::Other,
                None,
                format!("stat {name}: metadata without size"),
            )
        })
    }

    async fn copy_object(&self, src: &str, dst: &str) -> UpResult<()> {
        let what = format!("{src} -> {dst}");
        let what = what.as_str();
        let mut token: Option<String> = None;
        for _ in 0..REWRITE_CALLS_MAX {
            let url = rewrite_url(&self.endpoint, &self.bucket, src, dst, token.as_deref());
            let v = retry(|| async {
                let rb = self.client.post(&url).header(CONTENT_LENGTH, 0);
                let resp = self.send_ok("copy", what, rb).await?;
                read_json("copy", what, resp).await
            })
            .await?;
            if v.get("done").and_then(|d| d.as_bool()) == Some(true) {
                return Ok(());
            }
            match v.get("rewriteToken").and_then(|t| t.as_str()) {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => {
                    return Err(UpstreamError::new(
                        UpstreamErrorKind::Other,
                        None,
                        format!("copy {what}: rewrite not done and no rewriteToken"),
                    ))
                }
            }
        }
        Err(UpstreamError::new(
            UpstreamErrorKind::Other,
            None,
            format!("copy {what}: rewrite still not done after {REWRITE_CALLS_MAX} calls"),
        ))
    }

    /// One compose call; answers the composite's size when the upstream reports it.
    async fn compose(&self, step: &ComposeStep) -> UpResult<Option<u64>> {
        let url = format!("{}/compose", self.object_url(&step.target));
        let sources: Vec<_> = step
            .sources
            .iter()
            .map(|s| serde_json::json!({ "name": s }))
            .collect();
        let body = serde_json::json!({
            "sourceObjects": sources,
            "destination": { "contentType": "application/octet-stream" },
        });
        let body = Bytes::from(body.to_string());
        let name = step.target.as_str();
        let v = retry(|| async {
            let rb = self
                .client
                .post(&url)
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
            let resp = self.send_ok("complete", name, rb).await?;
            read_json("complete", name, resp).await
        })
        .await?;
        Ok(resource_size(&v))
    }

    /// Runs the compose calls of one level, a few at a time; answers their sizes.
    async fn compose_level(&self, level: &[ComposeStep]) -> UpResult<Vec<Option<u64>>> {
        let calls: Vec<_> = level.iter().map(|step| self.compose(step)).collect();
        futures::stream::iter(calls)
            .buffered(COMPOSE_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn complete_upload(
        &self,
        dst: &str,
        upload_id: &str,
        parts: &[(u32, u64)],
    ) -> UpResult<()> {
        if parts.is_empty() {
            return Err(UpstreamError::new(
                UpstreamErrorKind::Other,
                None,
                format!("complete {dst}: no parts"),
            ));
        }
        let sources: Vec<String> = parts
            .iter()
            .map(|(n, _)| part_name(&self.prefix, upload_id, *n))
            .collect();
        let expected: u64 = parts.iter().map(|(_, len)| len).sum();
        let prefix = &self.prefix;
        let plan = compose_plan(&sources, dst, |level, i| {
            format!("{prefix}.parts/{upload_id}/compose-{level}-{i}")
        });
        let intermediates: Vec<String> = plan
            .iter()
            .flatten()
            .map(|s| s.target.clone())
            .filter(|t| t != dst)
            .collect();

        let mut result: UpResult<()> = Ok(());
        for level in &plan {
            match self.compose_level(level).await {
                Err(e) => {
                    result = Err(e);
                    break;
                }
                Ok(sizes) => {
                    let last = level.len() == 1 && level[0].target == dst;
                    if let (true, Some(Some(size))) = (last, sizes.first()) {
                        if *size != expected {
                            result = Err(UpstreamError::new(
                                UpstreamErrorKind::Other,
                                None,
                                format!(
                                    "complete {dst}: composed {size} bytes, the parts add up \
                                     to {expected}"
                                ),
                            ));
                        }
                    }
                }
            }
        }

        // Intermediates go; the parts stay until the caller's metadata commit (a crash before
        // it must leave a retried Complete something to compose) and are then discarded with
        // `abort`.
        let _ = sources;
        self.delete_best_effort("complete", intermediates).await;
        result
    }

    async fn probe_bucket(&self) -> UpResult<()> {
        let url = format!("{}/storage/v1/b/{}", self.endpoint, encode(&self.bucket));
        let bucket = self.bucket.as_str();
        retry(|| async {
            self.send_ok("probe", bucket, self.client.get(&url)).await?;
            Ok(())
        })
        .await
    }

    async fn abort_upload(&self, upload_id: &str, part_numbers: &[u32]) -> UpResult<()> {
        let names = part_numbers
            .iter()
            .map(|n| part_name(&self.prefix, upload_id, *n))
            .collect();
        self.delete_best_effort("abort", names).await;
        Ok(())
    }

    async fn upload_part(
        &self,
        upload_id: &str,
        part_number: u32,
        body: ByteStream,
        len: u64,
    ) -> UpResult<()> {
        let name = part_name(&self.prefix, upload_id, part_number);
        self.upload("put_part", &name, body, len).await
    }
}

impl Upstream for GcsUpstream {
    fn kind(&self) -> &'static str {
        "gcp"
    }

    fn probe(&self) -> BoxFuture<'_, UpResult<()>> {
        self.probe_bucket().boxed()
    }

    fn put<'a>(&'a self, name: &'a str, body: ByteStream, len: u64) -> BoxFuture<'a, UpResult<()>> {
        self.upload("put", name, body, len).boxed()
    }

    fn get<'a>(
        &'a self,
        name: &'a str,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, UpResult<(u64, ByteStream)>> {
        self.get_object(name, range).boxed()
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, UpResult<()>> {
        self.delete_object(name).boxed()
    }

    fn copy<'a>(&'a self, src: &'a str, dst: &'a str) -> BoxFuture<'a, UpResult<()>> {
        self.copy_object(src, dst).boxed()
    }

    fn put_part<'a>(
        &'a self,
        _dst: &'a str,
        upload_id: &'a str,
        part_number: u32,
        body: ByteStream,
        len: u64,
    ) -> BoxFuture<'a, UpResult<()>> {
        self.upload_part(upload_id, part_number, body, len).boxed()
    }

    fn complete<'a>(
        &'a self,
        dst: &'a str,
        upload_id: &'a str,
        parts: &'a [(u32, u64)],
    ) -> BoxFuture<'a, UpResult<()>> {
        self.complete_upload(dst, upload_id, parts).boxed()
    }

    fn abort<'a>(
        &'a self,
        _dst: &'a str,
        upload_id: &'a str,
        part_numbers: &'a [u32],
    ) -> BoxFuture<'a, UpResult<()>> {
        self.abort_upload(upload_id, part_numbers).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway 2048-bit RSA key (openssl genpkey), for signing tests only.
    const TEST_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCRxI7RtthMYQO9
iASsOJX8kkjddFXrjqmQGh2uGl95Mv8KH4FDMepHIUi8Y5S67K7dcQltZgi/6dAC
M9kwIUNx+OoxNf3L39zsNfeBbx7qWhtCDB9wHx+KppGL+zxOz6jtOsjy25oS+dk4
38EpWhtCvGpqhBBB4JhF9vXQjGF5zKecCQWZGwp79q5C81uqLnFu8Crub0kI7EKc
ervozvl5o/HyeSbqRJTpzYxn4Y8x4bWI+C5mCF5fRG0OxX8R8E/ZVj9ITg4OiIR1
FO9IIV9YpygChpf3qwC4Ts8I89dqivXZ02PTONrMvRZnTTcnVC720CXb0tzObbnK
Ws/B/27hAgMBAAECggEAAuj195vQhPMphvQbMRukFY8PY1Rk5AyiDUgS2vHt1qvn
ntpy0yuWQ2XtCiMWygXa69LLibflaXy6dADNpNdVKFumw+VnCVXmbCobpHrabCVG
XAgv7HttPsWv1tKPfqdIoQvGYorIcE6Klpxo7RwTupOrsDADab1DwknO2Hik+DB6
Vzxopi8/dRtZ5bzT9MZvF0ckl0SaoB1LXECoZf/Ru7bwoMsPJ7Ah5Ftro9GRj/Uv
OwaaQ66AoDusCvNwlauV70fmucV9XmpWteommpC+zhHzOCfj1ikoojTZO2I4+eBP
q/VmjFTUM3jm4Mtl+Sb0+aQhy9M29Q7RMDZlNa79QQKBgQDNYdRxO4wv+J6KVedE
NJ9sm3UCA0a/SckGD9CT6S0HVpPoMF2vijOHykc8DE3eJ1YVw7NPbqhXbc5wkFif
UFUxyRzhfFOCS3K3YP09RT5dY+MqZ2J6yD6T+gxK7B3kYLpGwRvYebK/nrTwyZzg
KMie/fY3lRSQ3z9nNSwE/xWyiQKBgQC1sXtecMDzGRGAyTp1uAJ9WWc6L/7hqDHi
TeqqL3awrdsTRIySsBqn7ovbwe+lhjFA5TIYX0FxTu6o86q7JQmd/d0CaxSbkIeG
dSvg1ObIh+QndVsIf+jYWtS5rjGly4lJwKbg6M9gtrgMwp27Q8KmniuifuXt9b9U
iJxqFecjmQKBgQCEnup+n9QbWfCOJYBr04sqp4u72//AH9Y2Gto12Lkh5u8lXK3y
X0x9H8o15UAW9tGoxjEwVqVPp3FJ0HvZjBcnSdVjaVPHbA7MiU2dVew6g/i5df7q
iAmYpjtv2d5HjYpbi/D+LT+WatYuMhIh0VQTDq0CITshfXdEntoo88q/+QKBgQCN
iRA9ZUApHuIPnLG5efoWg0pyfWjjiA4z59ZhdE/VGdmKjN+kdSKOpri0G8L/AiXk
E6aObcWg6ofnfMkGt7diJ5u+goOvG0s3ZpcjsTWGCLWmNzkOyfUsdLU5X4S1TnRH
y5czpKfHAw8kgYY1lndPK+95ybh7QfAlfbW6vg0sIQKBgH80Sr0xF3CeVo5+EqwC
SPM3xBXEoJXqJ7PYGOmcImHrgoHF+ODzSqnMeLbPr0M4cp6KEy4G5IZsgjZrAth8
tncuRfdXHKeiZTVhgTmKVDFw48tvtEEdhac0g1QR/UsOJagNOuRQJe8yI88XjgP4
O/N2fUgy6xFEVRM9L+ywkcvp
-----END PRIVATE KEY-----
";

    fn decode_component(s: &str) -> String {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .unwrap()
            .into_owned()
    }

    const ODD_NAMES: &[&str] = &[
        "gw/bkt/plain.txt",
        "gw/bkt/with space",
        "gw/bkt/100%25 %",
        "gw/bkt/a+b=c&d",
        "gw/bkt/what?x=1#frag",
        "gw/bkt/ünïcødé/日本語/🦀",
        "gw/bkt/../../etc/passwd",
        "gw/bkt/./x/..",
        "gw/bkt/semi;colon,comma:colon@at!bang*star'quote\"dq(paren)",
        "gw/bkt/back\\slash\ttab\nnewline",
        "gw/bkt/tilde~under_score-dash.dot",
    ];

    #[test]
    fn encode_escapes_everything_but_unreserved() {
        assert_eq!(encode("a b"), "a%20b");
        assert_eq!(encode("100%"), "100%25");
        assert_eq!(encode("a+b"), "a%2Bb");
        assert_eq!(encode("q?x#f"), "q%3Fx%23f");
        assert_eq!(encode("dir/file"), "dir%2Ffile");
        assert_eq!(encode("../x"), "..%2Fx");
        assert_eq!(encode("ü"), "%C3%BC");
        assert_eq!(encode("A-z_0.9~"), "A-z_0.9~");
    }

    #[test]
    fn object_urls_survive_url_parsing_for_odd_names() {
        let ep = "http://127.0.0.1:4443";
        for name in ODD_NAMES {
            let u = object_url(ep, "my-bucket", name);
            let parsed = url::Url::parse(&u).unwrap();
            let segs: Vec<&str> = parsed.path_segments().unwrap().collect();
            // storage/v1/b/{bucket}/o/{name}: the whole name is one segment.
            assert_eq!(segs.len(), 6, "{name:?} -> {u}");
            assert_eq!(&segs[..5], &["storage", "v1", "b", "my-bucket", "o"]);
            assert_eq!(decode_component(segs[5]), *name, "{u}");
            assert!(
                parsed.query().is_none() && parsed.fragment().is_none(),
                "{u}"
            );
            // With ?alt=media the query stays apart from the name.
            let parsed = url::Url::parse(&format!("{u}?alt=media")).unwrap();
            assert_eq!(parsed.query(), Some("alt=media"));
            let last = parsed.path_segments().unwrap().nth(5).unwrap();
            assert_eq!(decode_component(last), *name);

            let u = upload_url(ep, "my-bucket", "media", name);
            let parsed = url::Url::parse(&u).unwrap();
            assert_eq!(parsed.path(), "/upload/storage/v1/b/my-bucket/o");
            let q: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
            assert_eq!(
                q,
                vec![
                    ("uploadType".to_string(), "media".to_string()),
                    ("name".to_string(), name.to_string())
                ],
                "{u}"
            );

            let u = rewrite_url(ep, "my-bucket", name, "gw/bkt/dst key", Some("t/k+n=="));
            let parsed = url::Url::parse(&u).unwrap();
            let segs: Vec<String> = parsed
                .path_segments()
                .unwrap()
                .map(decode_component)
                .collect();
            assert_eq!(segs.len(), 11, "{u}");
            assert_eq!(segs[5], *name);
            assert_eq!(segs[6], "rewriteTo");
            assert_eq!(&segs[7..10], &["b", "my-bucket", "o"]);
            assert_eq!(segs[10], "gw/bkt/dst key");
            let q: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
            assert_eq!(q, vec![("rewriteToken".into(), "t/k+n==".into())]);
        }
    }

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("p/.parts/u/{i}")).collect()
    }

    /// Expands `name` through the plan's steps back to the original parts.
    fn expand(name: &str, steps: &[ComposeStep], out: &mut Vec<String>) {
        match steps.iter().find(|s| s.target == name) {
            Some(s) => s.sources.iter().for_each(|src| expand(src, steps, out)),
            None => out.push(name.to_string()),
        }
    }

    fn check_plan(n: usize) -> Vec<Vec<ComposeStep>> {
        let plan = compose_plan(&names(n), "dst", |l, i| {
            format!("p/.parts/u/compose-{l}-{i}")
        });
        let all: Vec<ComposeStep> = plan.iter().flatten().cloned().collect();
        // Ends in one step into dst.
        let last = plan.last().unwrap();
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].target, "dst");
        // Every call within the compose limit; all targets distinct.
        let mut targets: Vec<&str> = all.iter().map(|s| s.target.as_str()).collect();
        targets.sort();
        targets.dedup();
        assert_eq!(targets.len(), all.len());
        for s in &all {
            assert!(!s.sources.is_empty() && s.sources.len() <= COMPOSE_SOURCES_MAX);
            if s.target != "dst" {
                assert!(s.sources.len() >= 2, "pointless intermediate {s:?}");
            }
        }
        // A step reads only parts or targets of earlier levels.
        for (l, level) in plan.iter().enumerate() {
            for s in level {
                for src in &s.sources {
                    let made = plan
                        .iter()
                        .position(|lv| lv.iter().any(|x| &x.target == src));
                    if let Some(m) = made {
                        assert!(m < l, "{src} used at level {l}, made at {m}");
                    }
                }
            }
        }
        // Expanding dst gives the parts in order, each exactly once.
        let mut flat = Vec::new();
        expand("dst", &all, &mut flat);
        assert_eq!(flat, names(n));
        plan
    }

    #[test]
    fn compose_plan_shapes() {
        assert!(compose_plan(&[], "dst", |_, _| unreachable!()).is_empty());

        let p = check_plan(1);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][0].sources, names(1));

        let p = check_plan(32);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][0].sources.len(), 32);

        let p = check_plan(33);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].len(), 1);
        assert_eq!(p[0][0].target, "p/.parts/u/compose-0-0");
        assert_eq!(
            p[1][0].sources,
            vec![
                "p/.parts/u/compose-0-0".to_string(),
                "p/.parts/u/33".to_string()
            ]
        );

        let p = check_plan(1000);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].len(), 32); // 31 x 32 + 8
        assert_eq!(p[1][0].sources.len(), 32);

        let p = check_plan(10_000);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].len(), 313); // 312 x 32 + 16
        assert_eq!(p[1].len(), 10); // 313 = 9 x 32 + 25
        assert_eq!(p[2][0].sources.len(), 10);
        assert_eq!(p.iter().map(Vec::len).sum::<usize>(), 324);

        for n in [2, 31, 64, 65, 1024, 1025, 1057] {
            check_plan(n);
        }
    }

    #[test]
    fn jwt_is_rs256_signed_and_verifies() {
        let key = rsa_key_from_pem(TEST_KEY_PEM).unwrap();
        let email = "svc@proj.iam.gserviceaccount.com";
        let aud = "https://oauth2.googleapis.com/token";
        let jwt = jwt_assertion(email, &key, aud, 1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let dec = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let header: serde_json::Value = serde_json::from_slice(&dec(parts[0])).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "JWT"}));
        let claims: serde_json::Value = serde_json::from_slice(&dec(parts[1])).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({
                "iss": email,
                "scope": "https://www.googleapis.com/auth/devstorage.read_write",
                "aud": aud,
                "iat": 1_700_000_000u64,
                "exp": 1_700_003_600u64,
            })
        );
        let sig = dec(parts[2]);
        assert_eq!(sig.len(), 256);
        let signed = format!("{}.{}", parts[0], parts[1]);
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            key.public().as_ref(),
        );
        public.verify(signed.as_bytes(), &sig).unwrap();
        // A tampered claim set does not verify.
        let tampered = format!("{}.{}", parts[0], b64url(b"{\"iss\":\"evil\"}"));
        assert!(public.verify(tampered.as_bytes(), &sig).is_err());
        // PKCS#1 v1.5 signing is deterministic.
        assert_eq!(jwt, jwt_assertion(email, &key, aud, 1_700_000_000).unwrap());
    }

    #[test]
    fn credentials_json_parsing() {
        let sa = serde_json::json!({
            "type": "service_account",
            "project_id": "proj",
            "private_key_id": "abc",
            "private_key": TEST_KEY_PEM.replace('\n', "\r\n"),
            "client_email": "svc@proj.iam.gserviceaccount.com",
            "token_uri": "https://example.test/token",
        })
        .to_string();
        let creds = parse_credentials(&sa).unwrap();
        assert_eq!(creds.token_uri(), "https://example.test/token");
        let body = token_request_body(&creds, 1_700_000_000).unwrap();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            pairs[0],
            (
                "grant_type".to_string(),
                "urn:ietf:params:oauth:grant-type:jwt-bearer".to_string()
            )
        );
        assert_eq!(pairs[1].0, "assertion");
        assert_eq!(pairs[1].1.split('.').count(), 3);

        // No token_uri: Google's default.
        let no_uri = serde_json::json!({
            "type": "service_account",
            "private_key": TEST_KEY_PEM,
            "client_email": "svc@proj.iam.gserviceaccount.com",
        })
        .to_string();
        let creds = parse_credentials(&no_uri).unwrap();
        assert_eq!(creds.token_uri(), DEFAULT_TOKEN_URI);

        let user = serde_json::json!({
            "type": "authorized_user",
            "client_id": "id",
            "client_secret": "s e+cret",
            "refresh_token": "r/t",
        })
        .to_string();
        let creds = parse_credentials(&user).unwrap();
        assert_eq!(
            token_request_body(&creds, 0).unwrap(),
            "grant_type=refresh_token&client_id=id&client_secret=s%20e%2Bcret&refresh_token=r%2Ft"
        );

        let bad_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        for bad in [
            "not json".to_string(),
            serde_json::json!({"type": "service_account", "client_email": "x"}).to_string(),
            serde_json::json!({"client_email": "x", "private_key": bad_pem}).to_string(),
            serde_json::json!({"client_email": "x", "private_key": "garbage"}).to_string(),
            serde_json::json!({"type": "external_account"}).to_string(),
        ] {
            assert!(parse_credentials(&bad).is_err(), "{bad}");
        }
    }

    fn gcp(bucket: &str, endpoint: &str, creds: &str) -> GcpConfig {
        GcpConfig {
            bucket: bucket.into(),
            project: String::new(),
            endpoint_url: endpoint.into(),
            credentials_file: creds.into(),
            prefix: "gw/".into(),
        }
    }

    #[test]
    fn config_validation_and_env_fallback() {
        // Bucket required.
        assert!(resolve(&gcp("", "", ""), None).is_err());
        assert!(resolve(&gcp("  ", "", ""), None).is_err());
        assert!(resolve(&gcp("a/b", "", ""), None).is_err());

        // Defaults: public endpoint, unauthenticated.
        let s = resolve(&gcp("bkt", "", ""), None).unwrap();
        assert_eq!(
            s,
            Settings {
                bucket: "bkt".into(),
                endpoint: "https://storage.googleapis.com".into(),
                prefix: "gw/".into(),
                credentials_file: None,
            }
        );

        // Endpoint: trailing slashes dropped; must be http(s) with a host.
        let s = resolve(&gcp("bkt", "http://127.0.0.1:4443/", ""), None).unwrap();
        assert_eq!(s.endpoint, "http://127.0.0.1:4443");
        for bad in [
            "ftp://x",
            "127.0.0.1:4443",
            "http://",
            "http://h/?q=1",
            "nonsense",
        ] {
            assert!(resolve(&gcp("bkt", bad, ""), None).is_err(), "{bad}");
        }

        // Credentials: the config wins, the env fills in, empty means none.
        let s = resolve(&gcp("bkt", "", "/etc/sa.json"), Some("/env/sa.json")).unwrap();
        assert_eq!(s.credentials_file.as_deref(), Some("/etc/sa.json"));
        let s = resolve(&gcp("bkt", "", ""), Some("/env/sa.json")).unwrap();
        assert_eq!(s.credentials_file.as_deref(), Some("/env/sa.json"));
        let s = resolve(&gcp("bkt", "", ""), Some("")).unwrap();
        assert_eq!(s.credentials_file, None);
    }

    #[test]
    fn build_reports_unreadable_credentials() {
        let gw = GatewayConfig::default();
        let settings = resolve(&gcp("bkt", "", "/nonexistent/sa.json"), None).unwrap();
        let err = GcsUpstream::new(settings, &gw).err().unwrap();
        assert!(err.contains("/nonexistent/sa.json"), "{err}");
        // A valid key file builds (outside any runtime), as does no credentials at all.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sa.json");
        let sa = serde_json::json!({
            "type": "service_account",
            "private_key": TEST_KEY_PEM,
            "client_email": "svc@proj.iam.gserviceaccount.com",
        });
        std::fs::write(&path, sa.to_string()).unwrap();
        let cfg = gcp("bkt", "http://127.0.0.1:1", path.to_str().unwrap());
        let up = GcsUpstream::new(resolve(&cfg, None).unwrap(), &gw).unwrap();
        assert!(up.auth.is_some());
        let up = GcsUpstream::new(resolve(&gcp("bkt", "", ""), None).unwrap(), &gw).unwrap();
        assert!(up.auth.is_none());
        assert_eq!(up.kind(), "gcp");
    }

    /// One request seen by `canned_server`.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
    }

    fn read_request(s: &mut std::net::TcpStream) -> Option<Seen> {
        use std::io::Read;
        let mut buf = Vec::new();
        let mut tmp = [0u8; 4096];
        let head_end = loop {
            let n = s.read(&mut tmp).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&tmp[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next()?.split(' ');
        let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = buf[head_end + 4..].to_vec();
        while body.len() < len {
            let n = s.read(&mut tmp).ok()?;
            if n == 0 {
                return None;
            }
            body.extend_from_slice(&tmp[..n]);
        }
        Some(Seen {
            method,
            path,
            headers,
            body,
        })
    }

    type Seens = Arc<StdMutex<Vec<Seen>>>;

    /// A tiny HTTP/1.1 server on 127.0.0.1 (one request per connection) answering with
    /// `handler`; returns its base URL and the requests it saw. Lives as long as the test
    /// process.
    fn canned_server(handler: impl Fn(&Seen) -> (u16, String) + Send + 'static) -> (String, Seens) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seens = Arc::new(StdMutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(req) = read_request(&mut stream) else {
                    continue;
                };
                let (status, body) = handler(&req);
                log.lock().unwrap().push(req);
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        (url, seen)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn service_account_token_is_fetched_cached_and_renewed_on_401() {
        let tokens = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let issued = tokens.clone();
        let (ep, seen) = canned_server(move |req| match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/token") => {
                let n = issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let body = format!(r#"{{"access_token":"tok-{n}","expires_in":3600}}"#);
                (200, body)
            }
            ("POST", "/badtoken") => (400, r#"{"error":"invalid_grant"}"#.into()),
            ("GET", "/storage/v1/b/bkt") => match req.header("authorization") {
                // The first token is "revoked": the client must fetch a new one.
                Some("Bearer tok-1") => (401, r#"{"error":{"code":401}}"#.into()),
                Some(a) if a.starts_with("Bearer tok-") => (200, r#"{"name":"bkt"}"#.into()),
                _ => (403, r#"{"error":{"code":403}}"#.into()),
            },
            _ => (404, "{}".into()),
        });

        let dir = tempfile::tempdir().unwrap();
        let write_sa = |file: &str, token_uri: String| {
            let sa = serde_json::json!({
                "type": "service_account",
                "private_key": TEST_KEY_PEM,
                "client_email": "svc@proj.iam.gserviceaccount.com",
                "token_uri": token_uri,
            });
            let path = dir.path().join(file);
            std::fs::write(&path, sa.to_string()).unwrap();
            path.to_str().unwrap().to_string()
        };
        let gw = GatewayConfig::default();
        let good = write_sa("good.json", format!("{ep}/token"));
        let up = GcsUpstream::new(resolve(&gcp("bkt", &ep, &good), None).unwrap(), &gw).unwrap();

        up.probe().await.unwrap();
        up.probe().await.unwrap();
        let reqs = seen.lock().unwrap().clone();
        let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
        // token, bucket (401), token, bucket (200), bucket (200, cached token).
        assert_eq!(
            paths,
            [
                "/token",
                "/storage/v1/b/bkt",
                "/token",
                "/storage/v1/b/bkt",
                "/storage/v1/b/bkt"
            ]
        );
        assert_eq!(reqs[4].header("authorization"), Some("Bearer tok-2"));

        // The token request: a form with an RS256 JWT that verifies against the key.
        let t = &reqs[0];
        assert_eq!(
            t.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        let form: Vec<(String, String)> =
            url::form_urlencoded::parse(&t.body).into_owned().collect();
        assert_eq!(form[0].1, "urn:ietf:params:oauth:grant-type:jwt-bearer");
        let jwt = &form[1].1;
        let (signed, sig) = jwt.rsplit_once('.').unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        let key = rsa_key_from_pem(TEST_KEY_PEM).unwrap();
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            key.public().as_ref(),
        )
        .verify(signed.as_bytes(), &sig)
        .unwrap();
        let claims = signed.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(claims)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["aud"], format!("{ep}/token"));
        assert_eq!(claims["iss"], "svc@proj.iam.gserviceaccount.com");
        let (iat, exp) = (
            claims["iat"].as_u64().unwrap(),
            claims["exp"].as_u64().unwrap(),
        );
        assert_eq!(exp - iat, 3600);

        // Refused credentials: AccessDenied, not retried as an outage.
        let bad = write_sa("bad.json", format!("{ep}/badtoken"));
        let up = GcsUpstream::new(resolve(&gcp("bkt", &ep, &bad), None).unwrap(), &gw).unwrap();
        let e = up.probe().await.unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::AccessDenied, "{e}");
        assert!(e.message.contains("invalid_grant"), "{e}");

        // Unauthenticated: no Authorization header at all, 403 → AccessDenied.
        let up = GcsUpstream::new(resolve(&gcp("bkt", &ep, ""), None).unwrap(), &gw).unwrap();
        let e = up.probe().await.unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::AccessDenied, "{e}");
        let last = seen.lock().unwrap().last().cloned().unwrap();
        assert_eq!(last.header("authorization"), None);
    }

    fn chunks(data: &[u8], size: usize) -> Vec<Result<Bytes, UpstreamError>> {
        data.chunks(size)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect()
    }

    async fn collect(mut s: ByteStream) -> UpResult<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(b) = s.next().await {
            out.extend_from_slice(&b?);
        }
        Ok(out)
    }

    fn aborted(msg: &str) -> UpstreamError {
        UpstreamError::new(UpstreamErrorKind::Aborted, None, msg)
    }

    #[tokio::test]
    async fn guard_body_holds_back_the_tail_until_a_clean_end() {
        let data: Vec<u8> = (0..100u8).collect();
        // Clean: everything passes, in order.
        let abort: AbortSlot = Arc::new(StdMutex::new(None));
        let s = futures::stream::iter(chunks(&data, 30)).boxed();
        let out = collect(guard_body(s, 100, abort.clone()).boxed()).await;
        assert_eq!(out.unwrap(), data);
        assert!(abort.lock().unwrap().is_none());

        // A source error after all the bytes: the last chunk never goes out.
        let abort: AbortSlot = Arc::new(StdMutex::new(None));
        let mut items = chunks(&data, 30);
        items.push(Err(aborted("bad checksum")));
        let s = futures::stream::iter(items).boxed();
        let mut g = guard_body(s, 100, abort.clone()).boxed();
        let (mut sent, mut failed) = (0, false);
        while let Some(item) = g.next().await {
            match item {
                Ok(b) => sent += b.len(),
                Err(e) => {
                    assert_eq!(e.kind, UpstreamErrorKind::Aborted);
                    failed = true;
                }
            }
        }
        assert!(failed);
        assert_eq!(sent, 90);
        let e = take_abort(&abort, "put", "x").unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::Aborted);
        assert!(e.message.contains("bad checksum"), "{}", e.message);

        // Short and long bodies fail too.
        for (declared, real) in [(101u64, 100usize), (99, 100)] {
            let abort: AbortSlot = Arc::new(StdMutex::new(None));
            let s = futures::stream::iter(chunks(&data[..real], 30)).boxed();
            assert!(collect(guard_body(s, declared, abort.clone()).boxed())
                .await
                .is_err());
            assert!(abort.lock().unwrap().is_some());
        }

        // Empty body.
        let abort: AbortSlot = Arc::new(StdMutex::new(None));
        let s = futures::stream::empty().boxed();
        let out = collect(guard_body(s, 0, abort).boxed()).await;
        assert!(out.unwrap().is_empty());
    }

    #[tokio::test]
    async fn slice_stream_cuts_ranges() {
        let data: Vec<u8> = (0..=255u8).collect();
        for (skip, take) in [
            (0u64, 256u64),
            (0, 1),
            (10, 30),
            (29, 2),
            (255, 1),
            (100, 0),
            (200, 56),
        ] {
            let s = futures::stream::iter(chunks(&data, 30)).boxed();
            let out = collect(slice_stream(s, skip, take)).await.unwrap();
            assert_eq!(out, &data[skip as usize..(skip + take) as usize]);
        }
    }

    // -----------------------------------------------------------------------------------
    // Contract test against GCS or the emulator (tests/e2e/upstreams/start_gcp.sh):
    //   BLEEPSTORE_TEST_GCS_ENDPOINT=http://127.0.0.1:PORT \
    //   [BLEEPSTORE_TEST_GCS_BUCKET=gateway-upstream] \
    //     cargo test --release --lib gcs_upstream_contract -- --ignored
    // -----------------------------------------------------------------------------------

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| ((i as u64).wrapping_mul(2_654_435_761) >> 7) as u8 ^ seed)
            .collect()
    }

    fn body_of(data: &[u8], chunk: usize) -> ByteStream {
        futures::stream::iter(chunks(data, chunk)).boxed()
    }

    fn failing_body(data: &[u8], chunk: usize) -> ByteStream {
        let mut items = chunks(data, chunk);
        items.push(Err(aborted("client body failed verification")));
        futures::stream::iter(items).boxed()
    }

    async fn read(up: &dyn Upstream, name: &str, range: Option<(u64, u64)>) -> (u64, Vec<u8>) {
        let (total, s) = up
            .get(name, range)
            .await
            .unwrap_or_else(|e| panic!("get {name} {range:?}: {e}"));
        (total, collect(s).await.unwrap())
    }

    async fn assert_missing(up: &dyn Upstream, name: &str) {
        match up.get(name, None).await {
            Err(e) => assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{name}: {e}"),
            Ok(_) => panic!("{name} exists"),
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    #[ignore]
    async fn gcs_upstream_contract() {
        let Some(endpoint) = std::env::var("BLEEPSTORE_TEST_GCS_ENDPOINT")
            .ok()
            .filter(|e| !e.is_empty())
        else {
            eprintln!("gcs_upstream_contract: BLEEPSTORE_TEST_GCS_ENDPOINT not set, skipped");
            return;
        };
        let bucket = std::env::var("BLEEPSTORE_TEST_GCS_BUCKET")
            .ok()
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "gateway-upstream".into());
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!("contract-{run}/");
        let cfg = GcpConfig {
            bucket,
            project: String::new(),
            endpoint_url: endpoint,
            credentials_file: String::new(),
            prefix: prefix.clone(),
        };
        let gw = GatewayConfig::default();
        let up = build(&cfg, &gw).unwrap();
        let up: &dyn Upstream = up.as_ref();
        assert_eq!(up.kind(), "gcp");

        // probe: ok, and NotFound for a missing bucket.
        up.probe().await.unwrap();
        let other = GcpConfig {
            bucket: format!("no-such-bucket-{run}"),
            ..cfg.clone()
        };
        let missing = build(&other, &gw).unwrap();
        let e = missing.probe().await.unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{e}");

        // Small put with an odd name; whole and ranged gets.
        let small_name = format!("{prefix}bkt/dir/odd name+%?#ü/../x");
        let small = pattern(100_000, 1);
        up.put(&small_name, body_of(&small, 7000), small.len() as u64)
            .await
            .unwrap();
        let (total, got) = read(up, &small_name, None).await;
        assert_eq!(total, 100_000);
        assert!(got == small, "small object differs");
        for (a, b) in [
            (0u64, 1u64),
            (1, 2),
            (99_999, 100_000),
            (12_345, 67_890),
            (0, 100_000),
        ] {
            let (total, got) = read(up, &small_name, Some((a, b))).await;
            assert_eq!(total, 100_000);
            assert!(got == small[a as usize..b as usize], "range {a}..{b}");
        }
        let (total, got) = read(up, &small_name, Some((5, 5))).await;
        assert_eq!((total, got.len()), (100_000, 0));

        // Empty object.
        let empty_name = format!("{prefix}bkt/empty");
        up.put(&empty_name, futures::stream::empty().boxed(), 0)
            .await
            .unwrap();
        let (total, got) = read(up, &empty_name, None).await;
        assert_eq!((total, got.len()), (0, 0));

        // 20 MiB streamed through a resumable session.
        let big_name = format!("{prefix}bkt/big");
        let big = pattern(20 << 20, 2);
        up.put(&big_name, body_of(&big, 256 << 10), big.len() as u64)
            .await
            .unwrap();
        let (total, got) = read(up, &big_name, None).await;
        assert_eq!(total, 20 << 20);
        assert!(got == big, "20 MiB object differs");
        let mid = 10usize << 20;
        let (total, got) = read(up, &big_name, Some((mid as u64, mid as u64 + 4096))).await;
        assert_eq!(total, 20 << 20);
        assert!(got == big[mid..mid + 4096]);
        let (_, got) = read(up, &big_name, Some(((20 << 20) - 3, 20 << 20))).await;
        assert_eq!(got, &big[(20 << 20) - 3..]);

        // Aborted and truncated bodies store nothing (simple and resumable paths).
        for (name, len) in [
            (format!("{prefix}bkt/aborted-small"), 3usize << 20),
            (format!("{prefix}bkt/aborted-big"), 12 << 20),
        ] {
            let data = pattern(len, 3);
            let e = up
                .put(&name, failing_body(&data, 256 << 10), len as u64)
                .await
                .unwrap_err();
            assert_eq!(e.kind, UpstreamErrorKind::Aborted, "{e}");
            assert_missing(up, &name).await;
            let e = up
                .put(&name, body_of(&data[..len / 2], 256 << 10), len as u64)
                .await
                .unwrap_err();
            assert_eq!(e.kind, UpstreamErrorKind::Aborted, "{e}");
            assert_missing(up, &name).await;
        }
        // ... nor replace an existing object.
        let e = up
            .put(
                &small_name,
                failing_body(&pattern(50_000, 9), 10_000),
                50_000,
            )
            .await
            .unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::Aborted);
        assert!(read(up, &small_name, None).await.1 == small);

        // Missing objects.
        let nope = format!("{prefix}bkt/nope");
        assert_missing(up, &nope).await;
        let e = up.get(&nope, Some((0, 10))).await.err().unwrap();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound);

        // Copy (server-side rewrite), replacing an existing destination.
        let copy_name = format!("{prefix}bkt/copy of ü+%");
        up.copy(&small_name, &copy_name).await.unwrap();
        assert!(read(up, &copy_name, None).await.1 == small);
        up.copy(&big_name, &copy_name).await.unwrap();
        assert_eq!(read(up, &copy_name, None).await.0, 20 << 20);
        let e = up.copy(&nope, &copy_name).await.unwrap_err();
        assert_eq!(e.kind, UpstreamErrorKind::NotFound, "{e}");

        // Delete; deleting a missing object is fine.
        up.delete(&copy_name).await.unwrap();
        assert_missing(up, &copy_name).await;
        up.delete(&copy_name).await.unwrap();
        up.delete(&big_name).await.unwrap();
        up.delete(&empty_name).await.unwrap();

        // Multipart: 3 parts (part 1 re-uploaded), complete, parts gone.
        let mp_name = format!("{prefix}bkt/multi part");
        let upload_id = format!("up-{run}");
        let p = [pattern(300_000, 11), pattern(9 << 20, 12), pattern(17, 13)];
        up.put_part(
            &mp_name,
            &upload_id,
            1,
            body_of(&pattern(1000, 99), 100),
            1000,
        )
        .await
        .unwrap();
        for (i, data) in p.iter().enumerate() {
            let n = i as u32 + 1;
            up.put_part(
                &mp_name,
                &upload_id,
                n,
                body_of(data, 128 << 10),
                data.len() as u64,
            )
            .await
            .unwrap();
        }
        let parts: Vec<(u32, u64)> = p
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u32 + 1, d.len() as u64))
            .collect();
        up.complete(&mp_name, &upload_id, &parts).await.unwrap();
        let want: Vec<u8> = p.concat();
        let (total, got) = read(up, &mp_name, None).await;
        assert_eq!(total, want.len() as u64);
        assert!(got == want, "3-part object differs");
        let (_, got) = read(up, &mp_name, Some((299_990, 300_010))).await;
        assert_eq!(got, &want[299_990..300_010]);
        for n in 1..=3 {
            assert_missing(up, &part_name(&prefix, &upload_id, n)).await;
        }

        // 40 parts: compose through an intermediate level.
        let mp40 = format!("{prefix}bkt/forty");
        let upload_id40 = format!("up40-{run}");
        let p40: Vec<Vec<u8>> = (0..40).map(|i| pattern(1000 + i * 37, i as u8)).collect();
        let uploads: Vec<_> = p40
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let n = i as u32 + 1;
                up.put_part(&mp40, &upload_id40, n, body_of(d, 512), d.len() as u64)
            })
            .collect();
        let mut uploads = futures::stream::iter(uploads).buffer_unordered(8);
        while let Some(r) = uploads.next().await {
            r.unwrap();
        }
        drop(uploads);
        let parts40: Vec<(u32, u64)> = p40
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u32 + 1, d.len() as u64))
            .collect();
        up.complete(&mp40, &upload_id40, &parts40).await.unwrap();
        let want40 = p40.concat();
        let (total, got) = read(up, &mp40, None).await;
        assert_eq!(total, want40.len() as u64);
        assert!(got == want40, "40-part object differs");
        assert_missing(up, &format!("{prefix}.parts/{upload_id40}/compose-0-0")).await;
        for n in [1, 33, 40] {
            assert_missing(up, &part_name(&prefix, &upload_id40, n)).await;
        }

        // A complete with a missing part fails, leaves dst alone and keeps the parts (the
        // client may retry). GCS answers 404; fake-gcs-server answers 500 ("Error running
        // compose"), which maps to Unavailable after the retries.
        let bad_id = format!("bad-{run}");
        up.put_part(&mp_name, &bad_id, 1, body_of(b"abc", 3), 3)
            .await
            .unwrap();
        let e = up
            .complete(&mp_name, &bad_id, &[(1, 3), (2, 5)])
            .await
            .unwrap_err();
        let emulator_500 = e.kind == UpstreamErrorKind::Unavailable && e.status == Some(500);
        assert!(e.kind == UpstreamErrorKind::NotFound || emulator_500, "{e}");
        assert_eq!(read(up, &mp_name, None).await.0, want.len() as u64);
        let kept = part_name(&prefix, &bad_id, 1);
        assert_eq!(read(up, &kept, None).await.1, b"abc");

        // Abort removes the parts (missing ones are fine).
        up.put_part(&mp_name, &bad_id, 2, body_of(b"defgh", 2), 5)
            .await
            .unwrap();
        up.abort(&mp_name, &bad_id, &[1, 2, 3]).await.unwrap();
        for n in 1..=3 {
            assert_missing(up, &part_name(&prefix, &bad_id, n)).await;
        }

        for name in [&small_name, &mp_name, &mp40] {
            up.delete(name).await.unwrap();
            assert_missing(up, name).await;
        }
    }
}

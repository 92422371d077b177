//! Server-side AWS Signature Version 4 verification (Authorization header and presigned URLs).
//!
//! The canonicalization is `hash::sigv4`, which `auth::signer` and the AWS gateway sign with,
//! so client and server can never disagree about what a canonical request is.
//!
//! Everything a request carries is hostile until the signature matches: parsing never panics,
//! errors name the S3 code AWS would answer with, and error details never contain a secret.

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::http::head::{QueryPair, RequestHead};
// The signing primitives live below storage (the AWS gateway signs with them); re-exported
// here where the verifier and its callers have always found them.
use crate::hash::sigv4::format_iso8601;
use crate::hash::sigv4::{
    amz_date_stack, canonical_headers_into, canonical_query_into, canonical_uri_into,
    sign_canonical,
};
pub use crate::hash::sigv4::{
    canonical_headers, canonical_headers_bytes, canonical_query, canonical_request, canonical_uri,
    derive_signing_key, format_amz_date, hmac_sha256, scope, sha256_hex, string_to_sign, unix_secs,
    uri_encode, CanonicalParts, ALGORITHM, EMPTY_SHA256_HEX, TERMINATOR, UNSIGNED_PAYLOAD,
};
use crate::hash::stack_str::SmallString;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use subtle::ConstantTimeEq;

/// `x-amz-content-sha256` value: aws-chunked body, every chunk signed.
pub const STREAMING_SIGNED: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// `x-amz-content-sha256` value: aws-chunked body, chunks and trailers signed.
pub const STREAMING_SIGNED_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// `x-amz-content-sha256` value: aws-chunked body with trailers, nothing signed.
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// How far a request's clock may be from ours (AWS allows 15 minutes).
pub const CLOCK_SKEW_MAX_SECS: i64 = 15 * 60;
/// The longest lifetime of a presigned URL (AWS: seven days).
pub const PRESIGN_EXPIRES_MAX_SECS: i64 = 7 * 24 * 3600;
/// Entries kept by a [`SigningKeyCache`] before it starts over.
pub const SIGNING_KEY_CACHE_MAX_ENTRIES: usize = 1024;

const SERVICE: &str = "s3";
const NOT_SIGNED_MESSAGE: &str = "There were headers present in the request which were not signed";
const ALGORITHM_MESSAGE: &str =
    "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";

/// Where secrets come from; implemented by the credential store.
pub trait SecretLookup {
    /// Borrowed: looking a secret up on every request must not copy it.
    fn secret_for(&self, access_key: &str) -> Option<&str>;
    /// The region requests must be signed for; None accepts any region.
    fn region(&self) -> Option<&str> {
        None
    }
}

/// Everything the aws-chunked decoder needs to verify chunk and trailer signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct ChunkSigningContext {
    pub signing_key: [u8; 32],
    /// `date/region/service/aws4_request`.
    pub scope: String,
    /// The request time as `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    /// Hex signature of the request head: the first "previous signature" of the chain.
    pub seed_signature: String,
}

impl fmt::Debug for ChunkSigningContext {
    /// The key is a credential; keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSigningContext")
            .field("signing_key", &"<redacted>")
            .field("scope", &self.scope)
            .field("amz_date", &self.amz_date)
            .field("seed_signature", &self.seed_signature)
            .finish()
    }
}

/// How the body of an authenticated request must be read and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadMode {
    /// Nothing to check.
    Unsigned,
    /// The body's SHA-256 must equal this (else `XAmzContentSHA256Mismatch`).
    Sha256([u8; 32]),
    /// aws-chunked, each chunk signed.
    StreamingSigned(ChunkSigningContext),
    /// aws-chunked, each chunk and the trailer section signed.
    StreamingSignedTrailer(ChunkSigningContext),
    /// aws-chunked with trailers (checksums), no signatures.
    StreamingUnsignedTrailer,
    /// SigV4 header auth without `x-amz-content-sha256` (generic signers: botocore's
    /// `SigV4Auth`, curl `--aws-sigv4`, requests-aws4auth): the signature covers the hex
    /// SHA-256 of the body, so it can only be checked once the body has been hashed. Whoever
    /// reads the body must call [`DeferredSignature::verify`] before any side effect; until
    /// then the caller is NOT authenticated.
    DeferredSignature(Box<DeferredSignature>),
    /// A body already read whole and verified (a deferred signature settled before the
    /// handler ran): the reader serves these bytes instead of the connection's.
    Buffered(Vec<u8>),
}

/// Everything needed to finish a SigV4 check once the body's SHA-256 is known.
#[derive(Clone, PartialEq, Eq)]
pub struct DeferredSignature {
    pub access_key: String,
    /// The canonical request up to and including the signed-headers line and its `\n`:
    /// only the payload hash is missing. One per reading of the headers (see
    /// [`python_reading`]), tried in order.
    canonical_prefixes: Vec<Vec<u8>>,
    amz_date: String,
    scope: String,
    signing_key: [u8; 32],
    signature: [u8; 32],
    signature_raw: String,
}

impl fmt::Debug for DeferredSignature {
    /// The key is a credential; keep it out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredSignature")
            .field("access_key", &self.access_key)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl DeferredSignature {
    /// Checks the signature against the body's SHA-256 (constant-time compare).
    pub fn verify(&self, body_sha256: &[u8; 32]) -> S3Result<()> {
        let body_hash = hex::encode(body_sha256);
        let mut first_failure = None;
        for prefix in &self.canonical_prefixes {
            let mut canonical = prefix.clone();
            canonical.extend_from_slice(body_hash.as_bytes());
            let to_sign = string_to_sign(&self.amz_date, &self.scope, &canonical);
            let expected = hmac_sha256(&self.signing_key, to_sign.as_bytes());
            if bool::from(expected.ct_eq(&self.signature)) {
                return Ok(());
            }
            first_failure.get_or_insert((to_sign, canonical));
        }
        let (to_sign, canonical) = first_failure.unwrap_or_default();
        Err(S3Error::new(ErrorCode::SignatureDoesNotMatch)
            .with("AWSAccessKeyId", self.access_key.clone())
            .with("StringToSign", to_sign)
            .with("SignatureProvided", self.signature_raw.clone())
            .with("CanonicalRequest", String::from_utf8_lossy(&canonical)))
    }
}

impl PayloadMode {
    /// Whether the body is `aws-chunked` framed.
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            PayloadMode::StreamingSigned(_)
                | PayloadMode::StreamingSignedTrailer(_)
                | PayloadMode::StreamingUnsignedTrailer
        )
    }
}

/// Who sent the request and how to treat its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    /// `None` for an anonymous request (inline: access keys are short).
    pub access_key: Option<SmallString>,
    pub payload: PayloadMode,
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form AWS uses in error details.
pub(crate) fn unix_secs_to_iso8601(secs: i64) -> String {
    format_iso8601(secs)
}

/// Parses `YYYYMMDDTHHMMSSZ`; `None` for anything else.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let day = u8::try_from(num(6..8)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let hms = [num(9..11)?, num(11..13)?, num(13..15)?];
    let [h, m, sec] = hms.map(|v| u8::try_from(v).unwrap_or(u8::MAX));
    let clock = time::Time::from_hms(h, m, sec).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

fn is_date_stamp(s: &str) -> bool {
    s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit())
}

// ---------------------------------------------------------------------------------------------
// Signing-key cache
// ---------------------------------------------------------------------------------------------

struct CachedKey {
    /// The secret the key was derived from, so a rotated secret is never served stale.
    secret: String,
    key: [u8; 32],
}

/// Derived signing keys per (access key, date, region, service): they change once a day, and
/// deriving one costs four HMACs per request. One cache per core, so no locking.
pub struct SigningKeyCache {
    entries: HashMap<String, CachedKey>,
    max_entries: usize,
    /// Where a lookup's key is written: reused, so a hit allocates nothing.
    id: String,
}

impl Default for SigningKeyCache {
    fn default() -> Self {
        SigningKeyCache::new()
    }
}

impl SigningKeyCache {
    pub fn new() -> Self {
        SigningKeyCache::with_max_entries(SIGNING_KEY_CACHE_MAX_ENTRIES)
    }

    pub fn with_max_entries(max_entries: usize) -> Self {
        SigningKeyCache {
            entries: HashMap::new(),
            max_entries: max_entries.max(1),
            id: String::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The signing key, derived on a miss. When full the cache is simply cleared: entries are
    /// cheap to rebuild and a clear keeps the bound trivially true.
    pub fn signing_key(
        &mut self,
        access_key: &str,
        secret: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> [u8; 32] {
        self.id.clear();
        for (i, part) in [access_key, date, region, service].into_iter().enumerate() {
            if i > 0 {
                self.id.push('\0');
            }
            self.id.push_str(part);
        }
        if let Some(hit) = self.entries.get(self.id.as_str()) {
            if hit.secret == secret {
                return hit.key;
            }
        }
        let id = self.id.clone();
        let key = derive_signing_key(secret, date, region, service);
        if self.entries.len() >= self.max_entries {
            self.entries.clear();
        }
        self.entries.insert(
            id,
            CachedKey {
                secret: secret.to_string(),
                key,
            },
        );
        key
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing what the client claims
// ---------------------------------------------------------------------------------------------

/// `AK/date/region/service/aws4_request`, borrowed from the request.
#[derive(Debug)]
struct Credential<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

impl Credential<'_> {
    fn scope(&self) -> String {
        scope(self.date, self.region, self.service)
    }
    fn scope_parts(&self) -> [&str; 3] {
        [self.date, self.region, self.service]
    }
}

/// Parses a credential; the error is the message for whichever error code the caller uses.
fn parse_credential(s: &str) -> Result<Credential<'_>, &'static str> {
    const SHAPE: &str = "the Credential is mal-formed; expecting \
                         \"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".";
    let mut parts = s.rsplitn(5, '/');
    let mut next = || parts.next().ok_or(SHAPE);
    let (terminator, service, region, date) = (next()?, next()?, next()?, next()?);
    let access_key = next()?;
    if access_key.is_empty() || !is_date_stamp(date) {
        return Err(SHAPE);
    }
    if service != SERVICE {
        return Err("Credential should be scoped to correct service: 's3'.");
    }
    if terminator != TERMINATOR {
        return Err("Credential should be scoped with a valid terminator: 'aws4_request'.");
    }
    Ok(Credential {
        access_key,
        date,
        region,
        service,
    })
}

fn parse_signature(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok().map(|_| out)
}

/// The signed-header names (lower-cased for lookups: copied only when they are not) or
/// `None` if the list is garbled.
/// Signed header names held inline (a request signs ~5–10; more spill to the heap).
type SignedNames<'a> = smallvec::SmallVec<[Cow<'a, str>; 16]>;

fn parse_signed_headers(s: &str) -> Option<SignedNames<'_>> {
    let lower = |n: &str| -> bool { !n.bytes().any(|b| b.is_ascii_uppercase()) };
    let names: SignedNames<'_> = s
        .split(';')
        .map(|n| match lower(n) {
            true => Cow::Borrowed(n),
            false => Cow::Owned(n.to_ascii_lowercase()),
        })
        .collect();
    let valid = names
        .iter()
        .all(|n| !n.is_empty() && !n.bytes().any(|b| b <= b' ' || b == b':'));
    valid.then_some(names)
}

/// What a SigV4 request claims, whichever way (header or query) it arrived.
struct Claim<'a> {
    credential: Credential<'a>,
    /// The SignedHeaders text as sent (it is signed verbatim).
    signed_headers_raw: &'a str,
    signed_headers: SignedNames<'a>,
    signature_raw: &'a str,
    signature: [u8; 32],
    /// The request time, seconds since the epoch.
    request_secs: i64,
    payload_hash: &'a str,
    presigned: bool,
}

/// The components of `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
struct AuthHeaderParts<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

pub(super) fn malformed_header(detail: &str) -> S3Error {
    S3Error::msg(
        ErrorCode::AuthorizationHeaderMalformed,
        format!("The authorization header is malformed; {detail}"),
    )
}

fn parse_auth_header(value: &str) -> S3Result<AuthHeaderParts<'_>> {
    let value = value.trim();
    let (algorithm, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if algorithm == "AWS" {
        return Err(S3Error::msg(ErrorCode::InvalidRequest, ALGORITHM_MESSAGE));
    }
    if algorithm != ALGORITHM {
        return Err(S3Error::invalid_argument(
            "Unsupported Authorization Type",
            "Authorization",
            value,
        ));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let (name, v) = component
            .split_once('=')
            .ok_or_else(|| malformed_header("a component is not of the form Name=Value."))?;
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return Err(malformed_header("it has an unknown component.")),
        };
        if slot.replace(v.trim()).is_some() {
            return Err(malformed_header("a component is repeated."));
        }
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => Ok(AuthHeaderParts {
            credential,
            signed_headers,
            signature,
        }),
        _ => Err(malformed_header(
            "it must contain Credential, SignedHeaders and Signature.",
        )),
    }
}

/// The request time from `x-amz-date`, else from `Date` (RFC 1123).
fn request_time(head: &RequestHead) -> S3Result<i64> {
    let parsed = match head.header("x-amz-date") {
        Some(v) => parse_amz_date(v),
        None => head
            .header("date")
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .map(unix_secs),
    };
    parsed.ok_or_else(|| {
        S3Error::msg(
            ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    })
}

pub(crate) fn too_skewed(request_secs: i64, now_secs: i64) -> S3Error {
    S3Error::new(ErrorCode::RequestTimeTooSkewed)
        .with("RequestTime", format_iso8601(request_secs))
        .with("ServerTime", format_iso8601(now_secs))
        .with(
            "MaxAllowedSkewMilliseconds",
            (CLOCK_SKEW_MAX_SECS * 1000).to_string(),
        )
}

/// What `x-amz-content-sha256` announces, before we know the signing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayloadClaim {
    Unsigned,
    Sha256([u8; 32]),
    StreamingSigned,
    StreamingSignedTrailer,
    StreamingUnsignedTrailer,
    /// No `x-amz-content-sha256`: the signature covers the body's hex SHA-256.
    Deferred,
}

fn parse_payload_claim(value: &str) -> S3Result<PayloadClaim> {
    match value {
        UNSIGNED_PAYLOAD => Ok(PayloadClaim::Unsigned),
        STREAMING_SIGNED => Ok(PayloadClaim::StreamingSigned),
        STREAMING_SIGNED_TRAILER => Ok(PayloadClaim::StreamingSignedTrailer),
        STREAMING_UNSIGNED_TRAILER => Ok(PayloadClaim::StreamingUnsignedTrailer),
        _ => parse_signature(value)
            .map(PayloadClaim::Sha256)
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, \
                 STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, \
                 STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
                    "x-amz-content-sha256",
                    value,
                )
            }),
    }
}

/// The payload mode of a SigV2 request: the signature never covers the body, so an
/// `x-amz-content-sha256` (signed like every x-amz-* header) is honoured as a body hash or an
/// unsigned aws-chunked body; signed chunks need a SigV4 seed and are refused.
pub(crate) fn parse_payload_claim_v2(value: Option<&str>) -> S3Result<PayloadMode> {
    match value {
        None => Ok(PayloadMode::Unsigned),
        Some(v) => payload_mode(parse_payload_claim(v)?, None),
    }
}

/// Turns a payload claim into the mode the body reader follows; signed streaming needs the
/// context of a verified request.
fn payload_mode(claim: PayloadClaim, ctx: Option<ChunkSigningContext>) -> S3Result<PayloadMode> {
    let need_signature = || {
        S3Error::msg(
            ErrorCode::AccessDenied,
            "Signed aws-chunked payloads require a signed request.",
        )
    };
    Ok(match claim {
        PayloadClaim::Unsigned => PayloadMode::Unsigned,
        PayloadClaim::Sha256(h) => PayloadMode::Sha256(h),
        PayloadClaim::StreamingUnsignedTrailer => PayloadMode::StreamingUnsignedTrailer,
        PayloadClaim::StreamingSigned => {
            PayloadMode::StreamingSigned(ctx.ok_or_else(need_signature)?)
        }
        PayloadClaim::StreamingSignedTrailer => {
            PayloadMode::StreamingSignedTrailer(ctx.ok_or_else(need_signature)?)
        }
        // Settled by `verified_outcome` before a mode is asked for.
        PayloadClaim::Deferred => return Err(need_signature()),
    })
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

/// Verifies a SigV4 `Authorization` header (the dispatch between SigV4, SigV2 and anonymous
/// requests is `auth::verify`).
pub(super) fn authenticate_header(
    head: &RequestHead,
    value: &str,
    lookup: &dyn SecretLookup,
    cache: &mut SigningKeyCache,
    now_secs: i64,
) -> S3Result<AuthOutcome> {
    let (claim, payload) = header_claim(head, value, now_secs)?;
    verified_outcome(head, &claim, payload, lookup, cache)
}

/// Verifies a SigV4 presigned query (`X-Amz-Algorithm`, `X-Amz-Credential`, ...).
pub(super) fn authenticate_query(
    head: &RequestHead,
    query: &[QueryPair],
    lookup: &dyn SecretLookup,
    cache: &mut SigningKeyCache,
    now_secs: i64,
) -> S3Result<AuthOutcome> {
    let (claim, payload) = query_claim(head, query, now_secs)?;
    verified_outcome(head, &claim, payload, lookup, cache)
}

/// An unsigned request. A body hash or an unsigned aws-chunked body is still honoured so the
/// body is read and checked correctly; signed chunks cannot be checked without a signature.
pub(super) fn anonymous(head: &RequestHead) -> S3Result<AuthOutcome> {
    let claim = match head.header("x-amz-content-sha256") {
        Some(v) => parse_payload_claim(v)?,
        None => PayloadClaim::Unsigned,
    };
    Ok(AuthOutcome {
        access_key: None,
        payload: payload_mode(claim, None)?,
    })
}

fn header_claim<'a>(
    head: &'a RequestHead,
    value: &'a str,
    now_secs: i64,
) -> S3Result<(Claim<'a>, PayloadClaim)> {
    let parts = parse_auth_header(value)?;
    let credential = parse_credential(parts.credential).map_err(malformed_header)?;
    let signed_headers = parse_signed_headers(parts.signed_headers)
        .ok_or_else(|| malformed_header("the SignedHeaders list is malformed."))?;
    let signature = parse_signature(parts.signature)
        .ok_or_else(|| malformed_header("the Signature must be 64 hexadecimal digits."))?;
    let request_secs = request_time(head)?;
    if (request_secs - now_secs).abs() > CLOCK_SKEW_MAX_SECS {
        return Err(too_skewed(request_secs, now_secs));
    }
    if amz_date_stack(request_secs).get(..8) != Some(credential.date) {
        return Err(malformed_header(
            "Invalid credential date. Date is not the same as X-Amz-Date.",
        ));
    }
    // Without x-amz-content-sha256 (generic SigV4 signers) the body's hash is signed: the
    // check waits for it (see `PayloadMode::DeferredSignature`).
    let (payload_hash, payload) = match head.header("x-amz-content-sha256") {
        Some(v) => (v, parse_payload_claim(v)?),
        None => ("", PayloadClaim::Deferred),
    };
    require_signed(head, &signed_headers, &[])?;
    let claim = Claim {
        credential,
        signed_headers_raw: parts.signed_headers,
        signed_headers,
        signature_raw: parts.signature,
        signature,
        request_secs,
        payload_hash,
        presigned: false,
    };
    Ok((claim, payload))
}

/// `host` must always be signed, and so must every `x-amz-*` header present, so nobody holding
/// or relaying a signed request can add one (as AWS requires, presigned URLs included:
/// otherwise a URL signed for a plain PUT could carry `x-amz-copy-source` or `x-amz-acl`).
///
/// `exempt` names headers the server ignores for this kind of request: a presigned request
/// takes its payload hash from the query, so an `x-amz-content-sha256` header sent along
/// with it has no effect, and S3 tolerates it unsigned.
fn require_signed(head: &RequestHead, signed: &[Cow<'_, str>], exempt: &[&str]) -> S3Result<()> {
    let is_signed = |name: &str| signed.iter().any(|s| s == name);
    let mut missing: Vec<&str> = Vec::new();
    if !is_signed("host") {
        missing.push("host");
    }
    for (name, _) in head.headers_bytes() {
        if name.starts_with("x-amz-")
            && !is_signed(name)
            && !exempt.contains(&name)
            && !missing.contains(&name)
        {
            missing.push(name);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(S3Error::msg(ErrorCode::AccessDenied, NOT_SIGNED_MESSAGE)
        .with("HeadersNotSigned", missing.join(", ")))
}

fn query_error(message: impl Into<String>) -> S3Error {
    S3Error::msg(ErrorCode::AuthorizationQueryParametersError, message)
}

/// The single value of a query parameter; a repeated auth parameter is refused.
fn single_param<'a>(query: &'a [QueryPair], name: &str) -> S3Result<&'a str> {
    let mut values = query
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str());
    match (values.next(), values.next()) {
        (Some(v), None) => Ok(v),
        (None, _) => Err(query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, \
             X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and \
             X-Amz-Expires parameters.",
        )),
        (Some(_), Some(_)) => Err(query_error(format!("{name} must be given only once."))),
    }
}

/// `X-Amz-Expires`: seconds, 0 to 604800 (0 is valid and expires at once), with AWS's
/// messages for a value that is not a number, negative, or over a week.
pub fn parse_expires(value: &str) -> S3Result<i64> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(query_error("X-Amz-Expires should be a number"));
    }
    if value.starts_with('-') {
        return Err(query_error("X-Amz-Expires must be non-negative"));
    }
    match digits.parse::<i64>() {
        Ok(secs) if secs <= PRESIGN_EXPIRES_MAX_SECS => Ok(secs),
        _ => Err(query_error(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given \
             X-Amz-Expires must be less than 604800 seconds",
        )),
    }
}

fn query_claim<'a>(
    head: &RequestHead,
    query: &'a [QueryPair],
    now_secs: i64,
) -> S3Result<(Claim<'a>, PayloadClaim)> {
    if single_param(query, "X-Amz-Algorithm")? != ALGORITHM {
        return Err(query_error(
            "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"",
        ));
    }
    let credential = parse_credential(single_param(query, "X-Amz-Credential")?)
        .map_err(|m| query_error(format!("Error parsing the X-Amz-Credential parameter; {m}")))?;
    let date_raw = single_param(query, "X-Amz-Date")?;
    let request_secs = parse_amz_date(date_raw).ok_or_else(|| {
        query_error("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    })?;
    let expires = parse_expires(single_param(query, "X-Amz-Expires")?)?;
    let signed_headers_raw = single_param(query, "X-Amz-SignedHeaders")?;
    let signed_headers = parse_signed_headers(signed_headers_raw)
        .ok_or_else(|| query_error("X-Amz-SignedHeaders is malformed."))?;
    let signature_raw = single_param(query, "X-Amz-Signature")?;
    let signature = parse_signature(signature_raw)
        .ok_or_else(|| query_error("X-Amz-Signature must be 64 hexadecimal digits."))?;
    check_presigned_window(request_secs, expires, now_secs)?;
    if date_raw.get(..8) != Some(credential.date) {
        return Err(query_error(
            "Invalid credential date. Date is not the same as X-Amz-Date.",
        ));
    }
    require_signed(head, &signed_headers, &["x-amz-content-sha256"])?;
    let (payload_hash, payload) = presigned_payload(query)?;
    let claim = Claim {
        credential,
        signed_headers_raw,
        signed_headers,
        signature_raw,
        signature,
        request_secs,
        payload_hash,
        presigned: true,
    };
    Ok((claim, payload))
}

/// A presigned URL is valid from its date (give or take the clock skew) for `expires` seconds.
/// Both refusals are 403 AccessDenied, as S3 answers them.
fn check_presigned_window(request_secs: i64, expires: i64, now_secs: i64) -> S3Result<()> {
    if request_secs - now_secs > CLOCK_SKEW_MAX_SECS {
        return Err(
            S3Error::msg(ErrorCode::AccessDenied, "Request is not valid yet")
                .with("X-Amz-Date", format_amz_date(request_secs))
                .with("ServerTime", format_iso8601(now_secs)),
        );
    }
    let expiry = request_secs.saturating_add(expires);
    if now_secs > expiry {
        return Err(S3Error::msg(ErrorCode::AccessDenied, "Request has expired")
            .with("X-Amz-Expires", expires.to_string())
            .with("Expires", format_iso8601(expiry))
            .with("ServerTime", format_iso8601(now_secs)));
    }
    Ok(())
}

/// Presigned URLs sign `UNSIGNED-PAYLOAD` unless `X-Amz-Content-Sha256` names a body hash;
/// an aws-chunked body cannot ride on a presigned URL.
fn presigned_payload(query: &[QueryPair]) -> S3Result<(&str, PayloadClaim)> {
    let Some((_, value)) = query.iter().find(|(n, _)| n == "X-Amz-Content-Sha256") else {
        return Ok((UNSIGNED_PAYLOAD, PayloadClaim::Unsigned));
    };
    match parse_payload_claim(value)? {
        claim @ (PayloadClaim::Unsigned | PayloadClaim::Sha256(_)) => Ok((value.as_str(), claim)),
        _ => Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Presigned requests cannot carry an aws-chunked payload.",
        )),
    }
}

/// The canonical request the server computes for a claim, ending with `payload_hash`.
/// Header values are signed as the bytes received.
fn server_canonical_request(head: &RequestHead, claim: &Claim<'_>, payload_hash: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    server_canonical_request_into(head, claim, payload_hash, &mut out);
    out
}

/// [`server_canonical_request`], appended to `out`: the same lines as
/// [`canonical_request`], each canonicalized straight into the buffer.
fn server_canonical_request_into(
    head: &RequestHead,
    claim: &Claim<'_>,
    payload_hash: &str,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(head.method_raw.as_bytes());
    out.push(b'\n');
    canonical_uri_into(&head.path, out);
    out.push(b'\n');
    canonical_query_into(&head.query, claim.presigned, out);
    out.push(b'\n');
    canonical_headers_into(&claim.signed_headers, head.headers_bytes(), out);
    out.push(b'\n');
    out.extend_from_slice(claim.signed_headers_raw.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
}

thread_local! {
    /// This thread's canonical-request buffer, reused request after request.
    static CANONICAL: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The signature of `head`'s canonical request for the claim, computed in this thread's
/// reused buffer (no allocation once it has grown).
fn server_signature(
    head: &RequestHead,
    claim: &Claim<'_>,
    payload_hash: &str,
    key: &[u8; 32],
    amz_date: &str,
) -> [u8; 32] {
    let scope = claim.credential.scope_parts();
    let sign = |buf: &mut Vec<u8>| {
        buf.clear();
        server_canonical_request_into(head, claim, payload_hash, buf);
        sign_canonical(key, amz_date, scope, buf)
    };
    CANONICAL.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => sign(&mut buf),
        Err(_) => sign(&mut Vec::new()),
    })
}

/// The second reading of a head with header values that are not UTF-8 (obs-text; only
/// `x-amz-meta-*` values get this far), tried when the bytes as sent do not match.
///
/// Real clients sign such a value two ways:
/// - as the bytes they send: the Go SDK, curl `--aws-sigv4`, anything holding byte strings
///   (the first reading, [`server_canonical_request`] of the head itself);
/// - as text whose latin-1 encoding they send: python's http.client writes `str` header
///   values as latin-1 while botocore's signers (and requests-aws4auth) hash that `str` as
///   UTF-8, so a wire byte 0xE9 was signed as C3 A9. Their Trimall is python's
///   `' '.join(v.split())`, whose whitespace also includes U+0085 and U+00A0.
///
/// Accepting both is unambiguous: latin-1 → UTF-8 is one-to-one, and a value that is not
/// UTF-8 never canonicalises to the same bytes as one that is, so whichever matches, the
/// client signed the bytes that are stored (up to whitespace: a 0xA0 or 0x85 may stand for a
/// space, as runs of spaces already do under AWS's own Trimall). A head whose values are all
/// UTF-8 has only the first reading (None here).
fn python_reading(head: &RequestHead) -> Option<RequestHead> {
    let mut reading = head.latin1_reading()?;
    for (_, value) in &mut reading.headers {
        if value.contains(['\u{85}', '\u{a0}']) {
            *value = value.replace(['\u{85}', '\u{a0}'], " ");
        }
    }
    Some(reading)
}

/// The signature of the first reading of `head` that matches the claim (see
/// [`python_reading`]), or the string to sign and canonical request of the bytes as sent.
fn matching_signature(
    head: &RequestHead,
    claim: &Claim<'_>,
    payload_hash: &str,
    key: &[u8; 32],
    amz_date: &str,
) -> Result<[u8; 32], (String, Vec<u8>)> {
    let signed = |h: &RequestHead| {
        let expected = server_signature(h, claim, payload_hash, key, amz_date);
        (bool::from(expected.ct_eq(&claim.signature)), expected)
    };
    if let (true, expected) = signed(head) {
        return Ok(expected);
    }
    if let Some(python) = python_reading(head) {
        if let (true, expected) = signed(&python) {
            return Ok(expected);
        }
    }
    // The error names what was signed as the bytes were sent: built only now.
    let canonical = server_canonical_request(head, claim, payload_hash);
    let to_sign = string_to_sign(amz_date, &claim.credential.scope(), &canonical);
    Err((to_sign, canonical))
}

/// Looks the secret up, recomputes the signature and compares it in constant time.
fn verified_outcome(
    head: &RequestHead,
    claim: &Claim<'_>,
    payload: PayloadClaim,
    lookup: &dyn SecretLookup,
    cache: &mut SigningKeyCache,
) -> S3Result<AuthOutcome> {
    let cred = &claim.credential;
    if let Some(region) = lookup.region() {
        if cred.region != region {
            let msg = format!(
                "the region '{}' is wrong; expecting '{region}'",
                cred.region
            );
            let err = if head.header("authorization").is_some() {
                S3Error::msg(
                    ErrorCode::AuthorizationHeaderMalformed,
                    format!("The authorization header is malformed; {msg}"),
                )
            } else {
                S3Error::msg(
                    ErrorCode::AuthorizationQueryParametersError,
                    format!("Error parsing the X-Amz-Credential parameter; {msg}"),
                )
            };
            return Err(err.with("Region", region));
        }
    }
    let secret = lookup.secret_for(cred.access_key).ok_or_else(|| {
        S3Error::new(ErrorCode::InvalidAccessKeyId).with("AWSAccessKeyId", cred.access_key)
    })?;
    let key = cache.signing_key(
        cred.access_key,
        secret,
        cred.date,
        cred.region,
        cred.service,
    );
    let amz_date = amz_date_stack(claim.request_secs);
    let mut payload_hash = claim.payload_hash;
    if payload == PayloadClaim::Deferred {
        if has_body(head) {
            let python = python_reading(head);
            let canonical_prefixes = std::iter::once(head)
                .chain(python.as_ref())
                .map(|h| server_canonical_request(h, claim, ""))
                .collect();
            return Ok(AuthOutcome {
                access_key: Some(SmallString::from(cred.access_key)),
                payload: PayloadMode::DeferredSignature(Box::new(DeferredSignature {
                    access_key: cred.access_key.to_string(),
                    canonical_prefixes,
                    amz_date: amz_date.to_string(),
                    scope: cred.scope(),
                    signing_key: key,
                    signature: claim.signature,
                    signature_raw: claim.signature_raw.to_string(),
                })),
            });
        }
        payload_hash = EMPTY_SHA256_HEX;
    }
    let expected = match matching_signature(head, claim, payload_hash, &key, &amz_date) {
        Ok(expected) => expected,
        Err((to_sign, canonical)) => {
            return Err(S3Error::new(ErrorCode::SignatureDoesNotMatch)
                .with("AWSAccessKeyId", cred.access_key)
                .with("StringToSign", to_sign)
                .with("SignatureProvided", claim.signature_raw)
                .with("CanonicalRequest", String::from_utf8_lossy(&canonical)))
        }
    };
    let payload = match payload {
        PayloadClaim::Deferred => PayloadMode::Sha256(EMPTY_SHA256),
        // Only signed chunks need the chain's context: built for them alone.
        other @ (PayloadClaim::StreamingSigned | PayloadClaim::StreamingSignedTrailer) => {
            let ctx = ChunkSigningContext {
                signing_key: key,
                scope: cred.scope(),
                amz_date: amz_date.to_string(),
                seed_signature: hex::encode(expected),
            };
            payload_mode(other, Some(ctx))?
        }
        other => payload_mode(other, None)?,
    };
    Ok(AuthOutcome {
        access_key: Some(SmallString::from(cred.access_key)),
        payload,
    })
}

/// SHA-256 of the empty body.
const EMPTY_SHA256: [u8; 32] = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// Whether the head announces a body: any Transfer-Encoding, or a Content-Length that is not
/// zero (a malformed one counts as a body; the HTTP layer refuses it anyway).
fn has_body(head: &RequestHead) -> bool {
    head.header("transfer-encoding").is_some()
        || head
            .header("content-length")
            .is_some_and(|v| v.trim() != "0")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::auth::verify::authenticate;
    use crate::http::head::Method;
    use sha2::{Digest, Sha256};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    pub(crate) const AK: &str = "AKIAIOSFODNN7EXAMPLE";
    pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const EMPTY: &str = EMPTY_SHA256_HEX;

    pub(crate) struct OneKey;
    impl SecretLookup for OneKey {
        fn secret_for(&self, access_key: &str) -> Option<&str> {
            (access_key == AK).then_some(SECRET)
        }
    }

    pub(crate) fn at(amz_date: &str) -> SystemTime {
        let secs = parse_amz_date(amz_date).unwrap_or_default();
        UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or_default())
    }

    /// 2013-05-24T00:00:00Z, the time of all AWS examples.
    pub(crate) fn example_time() -> SystemTime {
        at("20130524T000000Z")
    }

    pub(crate) fn head(method: &str, target: &str, headers: &[(&str, &str)]) -> RequestHead {
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

    fn auth_value(signed: &str, signature: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders={signed},Signature={signature}"
        )
    }

    fn run(h: &RequestHead, now: SystemTime) -> S3Result<AuthOutcome> {
        authenticate(h, &OneKey, &mut SigningKeyCache::new(), now)
    }

    fn code(r: S3Result<AuthOutcome>) -> ErrorCode {
        match r {
            Ok(o) => panic!("expected an error, got {o:?}"),
            Err(e) => e.code,
        }
    }

    fn get_object_example(signature: &str) -> RequestHead {
        let auth = auth_value("host;range;x-amz-content-sha256;x-amz-date", signature);
        head(
            "GET",
            "/test.txt",
            &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY),
                ("x-amz-date", "20130524T000000Z"),
                ("Authorization", &auth),
            ],
        )
    }

    const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";

    #[test]
    fn aws_example_get_object() {
        let out = run(&get_object_example(GET_OBJECT_SIG), example_time()).unwrap();
        assert_eq!(out.access_key.as_deref(), Some(AK));
        let mut empty = [0u8; 32];
        hex::decode_to_slice(EMPTY, &mut empty).unwrap();
        assert_eq!(out.payload, PayloadMode::Sha256(empty));
    }

    #[test]
    fn aws_example_put_object() {
        let payload = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
        let auth = auth_value(
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        );
        let h = head(
            "PUT",
            "/test$file.text",
            &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", payload),
                ("Authorization", &auth),
            ],
        );
        assert!(matches!(
            run(&h, example_time()).unwrap().payload,
            PayloadMode::Sha256(_)
        ));
    }

    fn bucket_get(target: &str, signature: &str) -> RequestHead {
        let auth = auth_value("host;x-amz-content-sha256;x-amz-date", signature);
        head(
            "GET",
            target,
            &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-content-sha256", EMPTY),
                ("Authorization", &auth),
            ],
        )
    }

    #[test]
    fn aws_example_get_lifecycle() {
        let sig = "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
        assert!(run(&bucket_get("/?lifecycle", sig), example_time()).is_ok());
    }

    #[test]
    fn aws_example_list_objects() {
        let sig = "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
        assert!(run(&bucket_get("/?max-keys=2&prefix=J", sig), example_time()).is_ok());
        // The same query in another order is the same canonical request.
        assert!(run(&bucket_get("/?prefix=J&max-keys=2", sig), example_time()).is_ok());
    }

    pub(crate) fn presigned_example() -> RequestHead {
        head(
            "GET",
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
            &[("Host", "examplebucket.s3.amazonaws.com")],
        )
    }

    #[test]
    fn aws_example_presigned_and_its_expiry() {
        let start = example_time();
        let out = run(&presigned_example(), start).unwrap();
        assert_eq!(out.access_key.as_deref(), Some(AK));
        assert_eq!(out.payload, PayloadMode::Unsigned);
        assert!(run(&presigned_example(), start + Duration::from_secs(86_400)).is_ok());
        let late = run(&presigned_example(), start + Duration::from_secs(86_401)).unwrap_err();
        assert_eq!(late.code, ErrorCode::AccessDenied);
        assert_eq!(late.message, "Request has expired");
        // Dated in the future: fine within the skew, refused beyond it.
        assert!(run(&presigned_example(), start - Duration::from_secs(900)).is_ok());
        let early = run(&presigned_example(), start - Duration::from_secs(901)).unwrap_err();
        assert_eq!((early.code, early.status()), (ErrorCode::AccessDenied, 403));
        assert_eq!(early.message, "Request is not valid yet");
    }

    /// A URL signed for `host` only cannot be replayed with `x-amz-*` headers that change what
    /// the request does (a copy source, an ACL, a grant): each is named in the refusal.
    #[test]
    fn presigned_refuses_unsigned_amz_headers() {
        for extra in [
            ("x-amz-copy-source", "/other-bucket/secret"),
            ("x-amz-acl", "public-read"),
            ("x-amz-grant-full-control", "id=\"mallory\""),
            ("x-amz-meta-x", "1"),
            ("x-amz-date", "20130524T000000Z"),
        ] {
            let mut h = presigned_example();
            h.headers.push((extra.0.into(), extra.1.into()));
            let err = run(&h, example_time()).unwrap_err();
            assert_eq!(err.code, ErrorCode::AccessDenied, "{extra:?}");
            assert_eq!(err.status(), 403);
            assert_eq!(err.message, NOT_SIGNED_MESSAGE);
            assert!(err
                .extra
                .contains(&("HeadersNotSigned", extra.0.to_string())));
        }
        let mut h = presigned_example();
        h.headers.push(("x-amz-acl".into(), "public-read".into()));
        h.headers.push(("x-amz-copy-source".into(), "/b/k".into()));
        let err = run(&h, example_time()).unwrap_err();
        assert!(err.extra.contains(&(
            "HeadersNotSigned",
            "x-amz-acl, x-amz-copy-source".to_string()
        )));
        // Ignored for presigned requests (the payload hash comes from the query): tolerated.
        let mut h = presigned_example();
        h.headers
            .push(("x-amz-content-sha256".into(), UNSIGNED_PAYLOAD.into()));
        assert!(run(&h, example_time()).is_ok());
        // Headers that are not x-amz-* stay the signer's choice, as in AWS.
        let mut h = presigned_example();
        h.headers.push(("content-type".into(), "text/plain".into()));
        assert!(run(&h, example_time()).is_ok());
    }

    /// A request signed the way generic SigV4 signers do: no x-amz-content-sha256 header,
    /// the body's hex SHA-256 in the canonical request.
    fn generic_signed(method: &str, body: &[u8], content_length: Option<&str>) -> RequestHead {
        let now = example_time();
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), "examplebucket.s3.amazonaws.com".into()),
            ("x-amz-date".into(), crate::auth::signer::amz_date(now)),
        ];
        if let Some(len) = content_length {
            headers.push(("content-length".into(), len.into()));
        }
        let auth = crate::auth::signer::sign_headers(
            method,
            "/b/k",
            "",
            &headers,
            &sha256_hex(body),
            AK,
            SECRET,
            "us-east-1",
            "s3",
            now,
        );
        headers.push(("authorization".into(), auth));
        RequestHead {
            headers,
            ..head(method, "/b/k", &[])
        }
    }

    #[test]
    fn no_content_sha256_and_no_body_is_checked_at_once() {
        let out = run(&generic_signed("GET", b"", None), example_time()).unwrap();
        assert_eq!(out.access_key.as_deref(), Some(AK));
        assert_eq!(out.payload, PayloadMode::Sha256(EMPTY_SHA256));
        assert_eq!(hex::encode(EMPTY_SHA256), EMPTY_SHA256_HEX);
        let out = run(&generic_signed("DELETE", b"", Some("0")), example_time()).unwrap();
        assert_eq!(out.payload, PayloadMode::Sha256(EMPTY_SHA256));
        // Signed over a body that never comes: refused at once.
        let h = generic_signed("GET", b"x", None);
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn no_content_sha256_with_a_body_is_checked_against_its_hash() {
        let h = generic_signed("PUT", b"hello", Some("5"));
        let out = run(&h, example_time()).unwrap();
        let PayloadMode::DeferredSignature(d) = out.payload else {
            panic!("expected a deferred signature, got {:?}", out.payload);
        };
        let hash = |b: &[u8]| -> [u8; 32] { Sha256::digest(b).into() };
        assert!(d.verify(&hash(b"hello")).is_ok());
        let err = d.verify(&hash(b"hellp")).unwrap_err();
        assert_eq!(
            (err.code, err.status()),
            (ErrorCode::SignatureDoesNotMatch, 403)
        );
        assert!(!format!("{d:?}").contains(&hex::encode(derive_signing_key(
            SECRET,
            "20130524",
            "us-east-1",
            "s3"
        ))));
        // A forged signature is not accepted either: it only fails later, at the body's end.
        let mut forged = generic_signed("PUT", b"hello", Some("5"));
        for (n, v) in &mut forged.headers {
            if n == "authorization" {
                *v = format!("{}0", &v[..v.len() - 1]);
            }
        }
        let PayloadMode::DeferredSignature(d) = run(&forged, example_time()).unwrap().payload
        else {
            panic!("expected a deferred signature");
        };
        assert_eq!(
            d.verify(&hash(b"hello")).unwrap_err().code,
            ErrorCode::SignatureDoesNotMatch
        );
        // Chunked transfer: a body of unknown length, deferred too.
        let mut h = generic_signed("PUT", b"hello", None);
        h.headers
            .push(("transfer-encoding".into(), "chunked".into()));
        assert!(matches!(
            run(&h, example_time()).unwrap().payload,
            PayloadMode::DeferredSignature(_)
        ));
    }

    fn chunked_example(content_sha: &str, signed: &str, seed: &str) -> RequestHead {
        let auth = auth_value(signed, seed);
        head(
            "PUT",
            "/examplebucket/chunkObject.txt",
            &[
                ("Host", "s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("Authorization", &auth),
                ("x-amz-content-sha256", content_sha),
                ("Content-Encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"),
                ("Content-Length", "66824"),
                ("x-amz-trailer", "x-amz-checksum-crc32c"),
            ],
        )
    }

    pub(crate) const CHUNKED_SEED: &str =
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    pub(crate) const TRAILER_SEED: &str =
        "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";

    /// The head of AWS's chunked-upload example; its context seeds the chunk decoder tests.
    pub(crate) fn chunked_example_outcome() -> AuthOutcome {
        let mut h = chunked_example(
            STREAMING_SIGNED,
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class",
            CHUNKED_SEED,
        );
        h.headers.retain(|(n, _)| n != "x-amz-trailer");
        run(&h, example_time()).unwrap()
    }

    pub(crate) fn trailer_example_outcome() -> AuthOutcome {
        let mut h = chunked_example(
            STREAMING_SIGNED_TRAILER,
            "content-encoding;host;x-amz-content-sha256;x-amz-date;\
             x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer",
            TRAILER_SEED,
        );
        h.headers.retain(|(n, _)| n != "content-length");
        run(&h, example_time()).unwrap()
    }

    #[test]
    fn aws_example_chunked_seed() {
        let PayloadMode::StreamingSigned(ctx) = chunked_example_outcome().payload else {
            panic!("expected signed streaming");
        };
        assert_eq!(ctx.seed_signature, CHUNKED_SEED);
        assert_eq!(ctx.scope, "20130524/us-east-1/s3/aws4_request");
        assert_eq!(ctx.amz_date, "20130524T000000Z");
        assert_eq!(
            ctx.signing_key,
            derive_signing_key(SECRET, "20130524", "us-east-1", "s3")
        );
        assert!(!format!("{ctx:?}").contains(&hex::encode(ctx.signing_key)));
        let PayloadMode::StreamingSignedTrailer(ctx) = trailer_example_outcome().payload else {
            panic!("expected signed streaming with trailer");
        };
        assert_eq!(ctx.seed_signature, TRAILER_SEED);
    }

    #[test]
    fn clock_skew_is_bounded_both_ways() {
        let sig = GET_OBJECT_SIG;
        for secs in [0, 900] {
            let d = Duration::from_secs(secs);
            assert!(run(&get_object_example(sig), example_time() + d).is_ok());
            assert!(run(&get_object_example(sig), example_time() - d).is_ok());
        }
        let d = Duration::from_secs(901);
        let late = run(&get_object_example(sig), example_time() + d);
        assert_eq!(code(late), ErrorCode::RequestTimeTooSkewed);
        let early = run(&get_object_example(sig), example_time() - d).unwrap_err();
        assert_eq!(early.code, ErrorCode::RequestTimeTooSkewed);
        assert_eq!(early.status(), 403);
    }

    #[test]
    fn wrong_signature_or_secret_does_not_match() {
        let wrong = GET_OBJECT_SIG.replace("f0e8", "f0e9");
        let err = run(&get_object_example(&wrong), example_time()).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
        let extra = |name: &str| {
            err.extra
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(extra("AWSAccessKeyId").as_deref(), Some(AK));
        assert!(extra("CanonicalRequest")
            .unwrap_or_default()
            .starts_with("GET\n/test.txt\n\n"));
        assert!(extra("StringToSign")
            .unwrap_or_default()
            .starts_with("AWS4-HMAC-SHA256\n"));
        assert!(err.extra.iter().all(|(_, v)| !v.contains(SECRET)));

        struct OtherSecret;
        impl SecretLookup for OtherSecret {
            fn secret_for(&self, _: &str) -> Option<&str> {
                Some("not-the-secret")
            }
        }
        let h = get_object_example(GET_OBJECT_SIG);
        let r = authenticate(
            &h,
            &OtherSecret,
            &mut SigningKeyCache::new(),
            example_time(),
        );
        assert_eq!(code(r), ErrorCode::SignatureDoesNotMatch);
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let mut h = get_object_example(GET_OBJECT_SIG);
        h.path = "/test2.txt".into();
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
        let mut h = get_object_example(GET_OBJECT_SIG);
        h.method_raw = "DELETE".into();
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
        let mut h = get_object_example(GET_OBJECT_SIG);
        h.query = "acl".into();
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
        let mut h = get_object_example(GET_OBJECT_SIG);
        h.headers.push(("x-amz-meta-late".into(), "1".into()));
        let err = run(&h, example_time()).unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied);
    }

    #[test]
    fn unknown_access_key() {
        let mut h = get_object_example(GET_OBJECT_SIG);
        for (n, v) in &mut h.headers {
            if n == "authorization" {
                *v = v.replace(AK, "AKIDUNKNOWN");
            }
        }
        let err = run(&h, example_time()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidAccessKeyId);
        assert_eq!(err.status(), 403);
    }

    fn with_auth(value: &str) -> RequestHead {
        let mut h = get_object_example(GET_OBJECT_SIG);
        for (n, v) in &mut h.headers {
            if n == "authorization" {
                *v = value.to_string();
            }
        }
        h
    }

    #[test]
    fn authorization_header_variations_are_tolerated() {
        let spaced = format!(
            "AWS4-HMAC-SHA256 Credential={AK}/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature={GET_OBJECT_SIG}"
        );
        assert!(run(&with_auth(&spaced), example_time()).is_ok());
        let reordered = format!(
            "AWS4-HMAC-SHA256  Signature={GET_OBJECT_SIG} ,SignedHeaders=host;range;\
             x-amz-content-sha256;x-amz-date,Credential={AK}/20130524/us-east-1/s3/aws4_request"
        );
        assert!(run(&with_auth(&reordered), example_time()).is_ok());
    }

    #[test]
    fn malformed_authorization_headers() {
        let parts = |cred: &str, signed: &str, sig: &str| {
            format!("AWS4-HMAC-SHA256 Credential={cred}, SignedHeaders={signed}, Signature={sig}")
        };
        let cred = |date: &str, service: &str, tail: &str| {
            format!("{AK}/{date}/us-east-1/{service}{tail}")
        };
        let good = cred("20130524", "s3", "/aws4_request");
        let signed = "host;range;x-amz-content-sha256;x-amz-date";
        let sig = GET_OBJECT_SIG;
        let malformed = [
            format!("AWS4-HMAC-SHA256 Credential={good}, SignedHeaders={signed}"),
            parts(&cred("20130524", "s3", ""), signed, sig),
            parts(&cred("20130524", "ec2", "/aws4_request"), signed, sig),
            parts(&cred("20130524", "s3", "/aws5_request"), signed, sig),
            parts(&cred("2013052", "s3", "/aws4_request"), signed, sig),
            parts(&cred("20130523", "s3", "/aws4_request"), signed, sig),
            parts(&good, signed, "abc"),
            parts(&good, "host;;x", sig),
            parts(&format!("{good}, Credential={good}"), signed, sig),
            parts(&format!("{good}, Foo=bar"), signed, sig),
            "AWS4-HMAC-SHA256".to_string(),
            "AWS4-HMAC-SHA256 garbage".to_string(),
        ];
        for value in &malformed {
            let err = run(&with_auth(value), example_time()).unwrap_err();
            assert_eq!(err.code, ErrorCode::AuthorizationHeaderMalformed, "{value}");
            assert_eq!(err.status(), 400);
        }
        // A SigV2 header is checked as one (see auth::sigv2): here it does not match.
        let v2 = run(
            &with_auth("AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg="),
            example_time(),
        );
        assert_eq!(code(v2), ErrorCode::SignatureDoesNotMatch);
        let other = run(&with_auth("Bearer token"), example_time());
        assert_eq!(code(other), ErrorCode::InvalidArgument);
    }

    #[test]
    fn host_must_be_signed() {
        let auth = auth_value("x-amz-content-sha256;x-amz-date", GET_OBJECT_SIG);
        let h = head(
            "GET",
            "/test.txt",
            &[
                ("Host", "examplebucket.s3.amazonaws.com"),
                ("x-amz-content-sha256", EMPTY),
                ("x-amz-date", "20130524T000000Z"),
                ("Authorization", &auth),
            ],
        );
        let err = run(&h, example_time()).unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied);
        assert!(err
            .extra
            .contains(&("HeadersNotSigned", "host".to_string())));
    }

    #[test]
    fn content_sha256_is_validated() {
        // Signed as a header, then left out: the canonical request differs.
        let mut h = get_object_example(GET_OBJECT_SIG);
        h.headers.retain(|(n, _)| n != "x-amz-content-sha256");
        let err = run(&h, example_time()).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
        let mut h = get_object_example(GET_OBJECT_SIG);
        for (n, v) in &mut h.headers {
            if n == "x-amz-content-sha256" {
                *v = "not-a-hash".into();
            }
        }
        assert_eq!(code(run(&h, example_time())), ErrorCode::InvalidArgument);
    }

    #[test]
    fn missing_or_garbled_date() {
        let mut h = get_object_example(GET_OBJECT_SIG);
        h.headers.retain(|(n, _)| n != "x-amz-date");
        assert_eq!(code(run(&h, example_time())), ErrorCode::AccessDenied);
        let mut h = get_object_example(GET_OBJECT_SIG);
        for (n, v) in &mut h.headers {
            if n == "x-amz-date" {
                *v = "20130524T250000Z".into();
            }
        }
        assert_eq!(code(run(&h, example_time())), ErrorCode::AccessDenied);
    }

    #[test]
    fn anonymous_requests() {
        let h = head("GET", "/bucket/key?list-type=2", &[("Host", "x")]);
        let out = run(&h, example_time()).unwrap();
        assert_eq!(
            out,
            AuthOutcome {
                access_key: None,
                payload: PayloadMode::Unsigned
            }
        );
        let h = head(
            "PUT",
            "/b/k",
            &[("x-amz-content-sha256", STREAMING_UNSIGNED_TRAILER)],
        );
        assert_eq!(
            run(&h, example_time()).unwrap().payload,
            PayloadMode::StreamingUnsignedTrailer
        );
        let h = head("PUT", "/b/k", &[("x-amz-content-sha256", STREAMING_SIGNED)]);
        assert_eq!(code(run(&h, example_time())), ErrorCode::AccessDenied);
        // SigV2 query authentication (auth::sigv2): this one expired in 1970.
        let h = head("GET", "/b/k?AWSAccessKeyId=AK&Expires=1&Signature=x", &[]);
        assert_eq!(code(run(&h, example_time())), ErrorCode::AccessDenied);
    }

    #[test]
    fn header_and_query_auth_together_are_refused() {
        let mut h = presigned_example();
        h.headers
            .push(("authorization".into(), auth_value("host", GET_OBJECT_SIG)));
        assert_eq!(code(run(&h, example_time())), ErrorCode::InvalidArgument);
    }

    fn presigned_with(replace: &str, by: &str) -> RequestHead {
        let mut h = presigned_example();
        h.query = h.query.replace(replace, by);
        h
    }

    #[test]
    fn presigned_parameter_errors() {
        let cases = [
            ("X-Amz-Expires=86400", "X-Amz-Expires=604801"),
            ("X-Amz-Expires=86400", "X-Amz-Expires=-5"),
            ("X-Amz-Expires=86400", "X-Amz-Expires=1e3"),
            ("X-Amz-Expires=86400", ""),
            ("X-Amz-Date=20130524T000000Z", "X-Amz-Date=2013-05-24"),
            (
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Algorithm=AWS4-HMAC-SHA1",
            ),
            ("%2Fs3%2F", "%2Fec2%2F"),
            (
                "X-Amz-SignedHeaders=host",
                "X-Amz-SignedHeaders=host&X-Amz-SignedHeaders=host",
            ),
            ("X-Amz-Signature=aeeed9", "X-Amz-Signature=zzeed9"),
            (
                "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524",
                "X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130525",
            ),
        ];
        for (from, to) in cases {
            let r = run(&presigned_with(from, to), example_time());
            assert_eq!(
                code(r),
                ErrorCode::AuthorizationQueryParametersError,
                "{to}"
            );
        }
        let message = |to: &str| {
            let err = run(&presigned_with("X-Amz-Expires=86400", to), example_time());
            let err = err.unwrap_err();
            assert_eq!(err.status(), 400);
            err.message
        };
        assert_eq!(
            message("X-Amz-Expires=-5"),
            "X-Amz-Expires must be non-negative"
        );
        assert_eq!(
            message("X-Amz-Expires=1e3"),
            "X-Amz-Expires should be a number"
        );
        assert_eq!(
            message("X-Amz-Expires="),
            "X-Amz-Expires should be a number"
        );
        assert_eq!(
            message("X-Amz-Expires=-"),
            "X-Amz-Expires should be a number"
        );
        for big in ["604801", "99999999999999999999999"] {
            assert!(message(&format!("X-Amz-Expires={big}")).contains("604800 seconds"));
        }
        // Zero is a valid lifetime that is over once the signing second has passed.
        let late = example_time() + Duration::from_secs(1);
        let err = run(
            &presigned_with("X-Amz-Expires=86400", "X-Amz-Expires=0"),
            late,
        );
        let err = err.unwrap_err();
        assert_eq!((err.code, err.status()), (ErrorCode::AccessDenied, 403));
        assert_eq!(err.message, "Request has expired");
        let r = run(&presigned_with("aeeed9", "aeeed8"), example_time());
        assert_eq!(code(r), ErrorCode::SignatureDoesNotMatch);
        let streaming = format!("X-Amz-SignedHeaders=host&X-Amz-Content-Sha256={STREAMING_SIGNED}");
        let r = run(
            &presigned_with("X-Amz-SignedHeaders=host", &streaming),
            example_time(),
        );
        assert_eq!(code(r), ErrorCode::InvalidRequest);
    }

    #[test]
    fn uri_encoding_follows_aws() {
        assert_eq!(uri_encode("a b+c/~_-.é$", false), "a%20b%2Bc/~_-.%C3%A9%24");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri("/test$file.text"), "/test%24file.text");
        assert_eq!(canonical_uri("/b/a%2fb/c%7e+d"), "/b/a%2Fb/c~%2Bd");
        assert_eq!(canonical_uri("/b/%E2%82%AC%20x"), "/b/%E2%82%AC%20x");
        assert_eq!(canonical_uri("/b//k/../x"), "/b//k/../x");
    }

    #[test]
    fn query_canonicalization_handles_special_characters() {
        let q = "prefix=a%20b&z=+&y=a%2Fb&x=%E2%82%AC&w=~&lifecycle&v=%7e&a=2&a=1&s=a+b%2B";
        assert_eq!(
            canonical_query(q, false),
            "a=1&a=2&lifecycle=&prefix=a%20b&s=a%20b%2B&v=~&w=~&x=%E2%82%AC&y=a%2Fb&z=%20"
        );
        // Sorting is by the encoded form: '%' (0x25) sorts before letters.
        assert_eq!(
            canonical_query("b=1&%C3%A9=2&~=3", false),
            "%C3%A9=2&b=1&~=3"
        );
        assert_eq!(canonical_query("X-Amz-Signature=abc&k=v", true), "k=v");
        assert_eq!(
            canonical_query("X-Amz-Signature=abc&k=v", false),
            "X-Amz-Signature=abc&k=v"
        );
        assert_eq!(canonical_query("&&", false), "");
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let headers = vec![
            ("x-amz-meta-a".to_string(), "  one   two ".to_string()),
            ("host".to_string(), "h".to_string()),
            ("x-amz-meta-a".to_string(), "three".to_string()),
        ];
        assert_eq!(
            canonical_headers(&["host", "x-amz-meta-a", "absent"], &headers),
            "host:h\nx-amz-meta-a:one two,three\nabsent:\n"
        );
    }

    /// Signed by botocore 1.43 (`S3SigV4Auth`, region eu-west-3) with the clock fixed at
    /// 2024-03-01T12:00:00Z: awkward path and query characters, a padded header value.
    #[test]
    fn botocore_signed_request_with_special_characters() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240301/eu-west-3/s3/\
                    aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;\
                    x-amz-meta-note, Signature=\
                    f7c3b12cd2c25eaec64f8a20330b4377310665667049c0e047a628b4cae8487f";
        let h = head(
            "GET",
            "/bucket/dir/a%20b%2Bc~%E2%82%AC%24%21?prefix=x%20y%2Bz%2F%E2%82%AC~\
             &delimiter=%2F&list-type=2&empty=",
            &[
                ("Host", "bleep.example.com"),
                ("X-Amz-Meta-Note", "  a   b  "),
                ("X-Amz-Date", "20240301T120000Z"),
                ("X-Amz-Content-SHA256", EMPTY),
                ("Authorization", auth),
            ],
        );
        let out = run(&h, at("20240301T120000Z")).unwrap();
        assert_eq!(out.access_key.as_deref(), Some(AK));
    }

    /// Presigned by botocore 1.43 (`S3SigV4QueryAuth`, expires 3600) at 2024-03-01T12:00:00Z.
    #[test]
    fn botocore_presigned_url() {
        let h = head(
            "GET",
            "/bucket/a%20b?partNumber=1&versionId=x%2By&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240301%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20240301T120000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=f490f246596ef25dc7cd63aaf6d9cacd280ce411a4cc2c764978ea0beccdda76",
            &[("Host", "bleep.example.com")],
        );
        assert!(run(&h, at("20240301T123000Z")).is_ok());
        assert_eq!(
            code(run(&h, at("20240301T130001Z"))),
            ErrorCode::AccessDenied
        );
    }

    #[test]
    fn amz_dates_parse_and_format() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(format_amz_date(1_369_353_600), "20130524T000000Z");
        for bad in [
            "",
            "20130524T000000",
            "20131324T000000Z",
            "2013052AT000000Z",
            "20130524T240000Z",
            "２0130524T00000Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn signing_key_cache_reuses_and_stays_bounded() {
        let mut cache = SigningKeyCache::with_max_entries(2);
        let k1 = cache.signing_key(AK, SECRET, "20130524", "us-east-1", "s3");
        assert_eq!(
            k1,
            derive_signing_key(SECRET, "20130524", "us-east-1", "s3")
        );
        assert_eq!(
            cache.signing_key(AK, SECRET, "20130524", "us-east-1", "s3"),
            k1
        );
        assert_eq!(cache.len(), 1);
        // A rotated secret is not served from the cache.
        let k2 = cache.signing_key(AK, "other", "20130524", "us-east-1", "s3");
        assert_ne!(k1, k2);
        cache.signing_key(AK, SECRET, "20130525", "us-east-1", "s3");
        cache.signing_key(AK, SECRET, "20130526", "us-east-1", "s3");
        assert!(cache.len() <= 2);
    }

    /// A PUT whose `x-amz-meta-a` goes on the wire as `wire` (not UTF-8) while the client
    /// signed `signed` as that header's canonical value; `signed == None` leaves it unsigned.
    fn meta_signed(wire: &[u8], signed: Option<&[u8]>) -> RequestHead {
        let date = crate::auth::signer::amz_date(example_time());
        let host = "examplebucket.s3.amazonaws.com";
        let mut names = vec!["host", "x-amz-content-sha256", "x-amz-date"];
        let mut values: Vec<&[u8]> = vec![
            host.as_bytes(),
            UNSIGNED_PAYLOAD.as_bytes(),
            date.as_bytes(),
        ];
        if let Some(v) = signed {
            names.push("x-amz-meta-a");
            values.push(v);
        }
        let signed_names = names.join(";");
        let canonical = canonical_request(&CanonicalParts {
            method: "PUT",
            uri: "/k",
            query: "",
            headers: &canonical_headers_bytes(&names, names.iter().copied().zip(values)),
            signed_headers: &signed_names,
            payload_hash: UNSIGNED_PAYLOAD,
        });
        let key = derive_signing_key(SECRET, &date[..8], "us-east-1", "s3");
        let scope = scope(&date[..8], "us-east-1", "s3");
        let to_sign = string_to_sign(&date, &scope, &canonical);
        let sig = hex::encode(hmac_sha256(&key, to_sign.as_bytes()));
        let auth = format!(
            "{ALGORITHM} Credential={AK}/{scope}, SignedHeaders={signed_names}, Signature={sig}"
        );
        let mut h = head(
            "PUT",
            "/k",
            &[
                ("host", host),
                ("x-amz-content-sha256", UNSIGNED_PAYLOAD),
                ("x-amz-date", &date),
                ("authorization", &auth),
            ],
        );
        h.opaque.push(crate::http::head::OpaqueHeader {
            at: 2,
            name: "x-amz-meta-a".into(),
            value: wire.to_vec(),
        });
        h
    }

    #[test]
    fn obs_text_values_verify_as_sent_or_as_python_signs_them() {
        // Go SDK, curl --aws-sigv4: the bytes on the wire.
        assert!(run(&meta_signed(b"caf\xe9", Some(b"caf\xe9")), example_time()).is_ok());
        // botocore over http.client: latin-1 on the wire, the str signed as UTF-8 ...
        let python = meta_signed(b"caf\xe9", Some("café".as_bytes()));
        assert!(run(&python, example_time()).is_ok());
        // ... and trimmed by python's str.split(), for which U+00A0 and U+0085 are spaces.
        let nbsp = meta_signed(b"\xa0a\xa0\x85 b\xe9\xa0", Some("a bé".as_bytes()));
        assert!(run(&nbsp, example_time()).is_ok());
        // Any other value is a mismatch, and the header must be signed at all.
        for signed in ["cafè".as_bytes(), b"caf\xe8", b"caf", b"caf\xc3"] {
            let h = meta_signed(b"caf\xe9", Some(signed));
            assert_eq!(
                code(run(&h, example_time())),
                ErrorCode::SignatureDoesNotMatch
            );
        }
        let err = run(&meta_signed(b"caf\xe9", None), example_time()).unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied);
        assert!(err
            .extra
            .contains(&("HeadersNotSigned", "x-amz-meta-a".to_string())));
    }
}

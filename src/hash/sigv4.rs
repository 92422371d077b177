//! The SigV4 signing primitives: hashes, canonical request, string to sign, signature.
//!
//! Below every layer that signs or verifies: `auth::sigv4` verifies requests with exactly
//! this canonicalization and the AWS gateway (`storage::gateway::aws`) signs upstream
//! requests with it, so client and server can never disagree about a canonical request.

use super::stack_str::StackStr;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// `x-amz-content-sha256` value: the body is not covered by the signature.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// Hex SHA-256 of the empty string (part of every chunk string-to-sign).
pub const EMPTY_SHA256_HEX: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// The last element of every credential scope.
pub const TERMINATOR: &str = "aws4_request";

// ---------------------------------------------------------------------------------------------
// Primitives
// ---------------------------------------------------------------------------------------------

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length; `new_from_slice` only returns a Result because of the
    // trait it implements, so this cannot fail whatever the input.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `kSigning` of the SigV4 key-derivation chain.
pub fn derive_signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_secret = format!("AWS4{secret}");
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// AWS `UriEncode`: unreserved bytes stay, everything else becomes `%XX` (upper-case hex);
/// `/` stays only when `encode_slash` is false (object paths).
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    uri_encode_bytes(s.as_bytes(), encode_slash)
}

fn uri_encode_bytes(bytes: &[u8], encode_slash: bool) -> String {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 2);
    for &b in bytes {
        uri_encode_byte(b, encode_slash, &mut out);
    }
    ascii_string(out)
}

/// One byte of [`uri_encode`], appended to `out`.
fn uri_encode_byte(b: u8, encode_slash: bool, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
    if unreserved || (b == b'/' && !encode_slash) {
        out.push(b);
    } else {
        out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0x0f)]]);
    }
}

/// Bytes that are ASCII by construction (encoded forms) as a String.
fn ascii_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Percent-decodes `raw` (never lossy: an escape that is not `%` and two hex digits stays
/// as it is), passing each byte to `emit`; with `plus_is_space` a literal `+` is a space,
/// as a query component is read (a `%2B` stays `+`).
fn percent_decode(raw: &[u8], plus_is_space: bool, mut emit: impl FnMut(u8)) {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        let escaped = match (b, raw.get(i + 1), raw.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h << 4) | l),
            _ => None,
        };
        match escaped {
            Some(decoded) => {
                emit(decoded);
                i += 3;
            }
            None => {
                emit(if plus_is_space && b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
}

/// Decodes one raw component and appends its `UriEncode` (slashes encoded) to `out`.
fn recode_component(raw: &str, plus_is_space: bool, out: &mut Vec<u8>) {
    percent_decode(raw.as_bytes(), plus_is_space, |b| {
        uri_encode_byte(b, true, out)
    });
}

// ---------------------------------------------------------------------------------------------
// Canonical request (shared with the signer)
// ---------------------------------------------------------------------------------------------

/// The canonical URI of a raw path: each `/`-separated segment is decoded and re-encoded,
/// so `$` and `%24` sign the same, while an encoded `%2F` stays distinct from a real `/`.
/// S3 does not normalize `.`/`..` segments and does not double-encode.
pub fn canonical_uri(raw_path: &str) -> String {
    let mut out = Vec::with_capacity(raw_path.len() + 16);
    canonical_uri_into(raw_path, &mut out);
    ascii_string(out)
}

/// [`canonical_uri`], appended to `out`.
pub fn canonical_uri_into(raw_path: &str, out: &mut Vec<u8>) {
    if raw_path.is_empty() {
        out.push(b'/');
        return;
    }
    for (i, segment) in raw_path.split('/').enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        recode_component(segment, false, out);
    }
}

/// The canonical query string: encoded pairs sorted by name then value (byte order of the
/// encoded form, as AWS specifies); `X-Amz-Signature` is left out for presigned requests.
pub fn canonical_query(raw_query: &str, skip_signature: bool) -> String {
    let mut out = Vec::with_capacity(raw_query.len() + 16);
    canonical_query_into(raw_query, skip_signature, &mut out);
    ascii_string(out)
}

/// Where [`canonical_query_into`] encodes a query's pairs before sorting them: this
/// thread's, reused, so a request's query costs no allocation once they have grown.
struct QueryScratch {
    encoded: Vec<u8>,
    /// Per pair: the name's and the value's range in `encoded`.
    pairs: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)>,
}

thread_local! {
    static QUERY_SCRATCH: std::cell::RefCell<QueryScratch> = const {
        std::cell::RefCell::new(QueryScratch { encoded: Vec::new(), pairs: Vec::new() })
    };
}

/// [`canonical_query`], appended to `out`. Each component is decoded the way the router
/// reads it (`+` is a space) and re-encoded with `UriEncode`.
pub fn canonical_query_into(raw_query: &str, skip_signature: bool, out: &mut Vec<u8>) {
    if raw_query.is_empty() {
        return;
    }
    QUERY_SCRATCH.with(|scratch| {
        let Ok(mut scratch) = scratch.try_borrow_mut() else {
            // Never re-entered; should it be, a fresh scratch gives the same answer.
            let mut fresh = QueryScratch {
                encoded: Vec::new(),
                pairs: Vec::new(),
            };
            return canonical_query_with(raw_query, skip_signature, &mut fresh, out);
        };
        canonical_query_with(raw_query, skip_signature, &mut scratch, out)
    });
}

fn canonical_query_with(
    raw_query: &str,
    skip_signature: bool,
    scratch: &mut QueryScratch,
    out: &mut Vec<u8>,
) {
    let QueryScratch { encoded, pairs } = scratch;
    encoded.clear();
    pairs.clear();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let start = encoded.len();
        recode_component(name, true, encoded);
        let middle = encoded.len();
        recode_component(value, true, encoded);
        if skip_signature && &encoded[start..middle] == b"X-Amz-Signature" {
            encoded.truncate(start);
            continue;
        }
        pairs.push((start..middle, middle..encoded.len()));
    }
    let bytes = &encoded[..];
    pairs.sort_unstable_by(|(n1, v1), (n2, v2)| {
        (&bytes[n1.clone()], &bytes[v1.clone()]).cmp(&(&bytes[n2.clone()], &bytes[v2.clone()]))
    });
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(&bytes[name.clone()]);
        out.push(b'=');
        out.extend_from_slice(&bytes[value.clone()]);
    }
}

/// Trims a header value and collapses inner whitespace runs to one space (AWS `Trimall`).
/// On bytes: a value may carry obs-text that is not UTF-8, and is signed as those bytes.
fn canonical_header_value(value: &[u8], out: &mut Vec<u8>) {
    let words = value
        .split(u8::is_ascii_whitespace)
        .filter(|w| !w.is_empty());
    for (i, word) in words.enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(word);
    }
}

/// `name:value\n` for every signed header, in the order of `signed`; repeated headers are
/// joined with `,` in arrival order. `headers` names must be lower-case; a signed header that
/// is absent gets an empty value (which then simply fails to match).
pub fn canonical_headers_bytes<'h>(
    signed: &[impl AsRef<str>],
    headers: impl Iterator<Item = (&'h str, &'h [u8])> + Clone,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    canonical_headers_into(signed, headers, &mut out);
    out
}

/// [`canonical_headers_bytes`], appended to `out`.
pub fn canonical_headers_into<'h>(
    signed: &[impl AsRef<str>],
    headers: impl Iterator<Item = (&'h str, &'h [u8])> + Clone,
    out: &mut Vec<u8>,
) {
    for name in signed {
        let name = name.as_ref();
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let values = headers.clone().filter(|(n, _)| *n == name);
        for (i, (_, value)) in values.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            canonical_header_value(value, out);
        }
        out.push(b'\n');
    }
}

/// [`canonical_headers_bytes`] of text headers.
pub fn canonical_headers(signed: &[&str], headers: &[(String, String)]) -> String {
    let bytes = canonical_headers_bytes(
        signed,
        headers.iter().map(|(n, v)| (n.as_str(), v.as_bytes())),
    );
    // Text split at ASCII bytes and joined with ASCII bytes is still text.
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The parts a canonical request is made of, already canonicalized.
pub struct CanonicalParts<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    pub query: &'a str,
    /// Bytes: a header value may be obs-text that is not UTF-8.
    pub headers: &'a [u8],
    pub signed_headers: &'a str,
    pub payload_hash: &'a str,
}

/// The canonical request; bytes, as header values may not be UTF-8 (only its hash is signed).
pub fn canonical_request(p: &CanonicalParts<'_>) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(p.method.len() + p.uri.len() + p.query.len() + p.headers.len() + 128);
    for part in [p.method, p.uri, p.query] {
        out.extend_from_slice(part.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(p.headers);
    out.push(b'\n');
    out.extend_from_slice(p.signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(p.payload_hash.as_bytes());
    out
}

/// `date/region/service/aws4_request`.
pub fn scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/{TERMINATOR}")
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request)
    )
}

/// The signature of a canonical request: HMAC-SHA256 under `key` of its
/// [`string_to_sign`] for the [`scope`] `date/region/service`, fed to the HMAC piece by
/// piece instead of being built as a string first.
pub fn sign_canonical(
    key: &[u8; 32],
    amz_date: &str,
    scope_parts: [&str; 3],
    canonical_request: &[u8],
) -> [u8; 32] {
    let mut digest_hex = [0u8; 64];
    // 32 bytes always fit 64 hex digits.
    let _ = hex::encode_to_slice(Sha256::digest(canonical_request), &mut digest_hex);
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    let [date, region, service] = scope_parts;
    for piece in [
        ALGORITHM, "\n", amz_date, "\n", date, "/", region, "/", service, "/", TERMINATOR, "\n",
    ] {
        mac.update(piece.as_bytes());
    }
    mac.update(&digest_hex);
    mac.finalize().into_bytes().into()
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// Seconds since the epoch (negative before it); never panics.
pub fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The UTC calendar time of `secs` (the epoch for an out-of-range value).
fn utc(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(secs: i64) -> String {
    amz_date_stack(secs).to_string()
}

/// [`format_amz_date`] on the stack.
pub fn amz_date_stack(secs: i64) -> StackStr<32> {
    format_utc(secs, "", "")
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form AWS uses in error details.
pub fn format_iso8601(secs: i64) -> String {
    format_utc(secs, "-", ":").to_string()
}

/// `secs` in UTC as `YYYY<d>MM<d>DDTHH<t>MM<t>SSZ` (at most 26 bytes: a year has at most
/// 6 characters).
fn format_utc(secs: i64, date_sep: &str, time_sep: &str) -> StackStr<32> {
    let t = utc(secs);
    let (d, c) = (date_sep, time_sep);
    let mut out = StackStr::new();
    let _ = write!(
        out,
        "{:04}{d}{:02}{d}{:02}T{:02}{c}{:02}{c}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Signing (client side: tools, tests, the AWS gateway)
// ---------------------------------------------------------------------------------------------

/// The `x-amz-date` value for `now` (`YYYYMMDDTHHMMSSZ`); send this exact value with a request
/// signed by [`sign_headers`] at the same `now`.
pub fn amz_date(now: SystemTime) -> String {
    format_amz_date(unix_secs(now))
}

/// Signs with the key of the scope's day and returns the hex signature.
fn signature(
    secret_key: &str,
    date_time: &str,
    region: &str,
    service: &str,
    canonical: &[u8],
) -> String {
    let date = date_time.get(..8).unwrap_or_default();
    let key = derive_signing_key(secret_key, date, region, service);
    let to_sign = string_to_sign(date_time, &scope(date, region, service), canonical);
    hex::encode(hmac_sha256(&key, to_sign.as_bytes()))
}

/// The `Authorization` header value for a request. Every header in `headers` is signed; the
/// caller must already have added `host`, `x-amz-date` (= [`amz_date`]`(now)`) and
/// `x-amz-content-sha256` (= `payload_hash`). `path` and `query` are raw (percent-encoded) as
/// they will be sent.
///
/// The argument list mirrors the SigV4 inputs one to one, which is clearer at call sites than
/// a parameter struct.
#[allow(clippy::too_many_arguments)]
pub fn sign_headers(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    payload_hash: &str,
    access_key: &str,
    secret_key: &str,
    region: &str,
    service: &str,
    now: SystemTime,
) -> String {
    let date_time = amz_date(now);
    let lowered: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.clone()))
        .collect();
    let mut names: Vec<&str> = lowered.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let signed_headers = names.join(";");
    let canonical = canonical_request(&CanonicalParts {
        method,
        uri: &canonical_uri(path),
        query: &canonical_query(query, false),
        headers: canonical_headers(&names, &lowered).as_bytes(),
        signed_headers: &signed_headers,
        payload_hash,
    });
    let sig = signature(secret_key, &date_time, region, service, &canonical);
    let scope = scope(date_time.get(..8).unwrap_or_default(), region, service);
    format!(
        "{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={signed_headers}, \
         Signature={sig}"
    )
}

/// A presigned S3 URL target (`path?query`) valid for `expires_s` seconds from `now`; only
/// `host` is signed and the payload is `UNSIGNED-PAYLOAD`. `query_extra` is a raw query
/// (e.g. `partNumber=1&uploadId=...`) to include, or empty.
#[allow(clippy::too_many_arguments)]
pub fn presign(
    method: &str,
    host: &str,
    path: &str,
    query_extra: &str,
    access_key: &str,
    secret_key: &str,
    region: &str,
    now: SystemTime,
    expires_s: u64,
) -> String {
    const SERVICE: &str = "s3";
    let date_time = amz_date(now);
    let scope = scope(date_time.get(..8).unwrap_or_default(), region, SERVICE);
    let credential = uri_encode(&format!("{access_key}/{scope}"), true);
    let mut query = String::with_capacity(query_extra.len() + 256);
    if !query_extra.is_empty() {
        query.push_str(query_extra);
        query.push('&');
    }
    query.push_str(&format!(
        "X-Amz-Algorithm={ALGORITHM}&X-Amz-Credential={credential}&X-Amz-Date={date_time}\
         &X-Amz-Expires={expires_s}&X-Amz-SignedHeaders=host"
    ));
    let path = if path.is_empty() { "/" } else { path };
    let headers = [("host".to_string(), host.to_string())];
    let canonical = canonical_request(&CanonicalParts {
        method,
        uri: &canonical_uri(path),
        query: &canonical_query(&query, false),
        headers: canonical_headers(&["host"], &headers).as_bytes(),
        signed_headers: "host",
        payload_hash: UNSIGNED_PAYLOAD,
    });
    let sig = signature(secret_key, &date_time, region, SERVICE, &canonical);
    format!("{path}?{query}&X-Amz-Signature={sig}")
}

//! `auth::authenticate` over request heads built from text (see
//! `bleepstore_fuzz::head_from_text`), with one fixed access key and "now" fixed at
//! 2013-05-24T00:00:00Z.
//!
//! Input: byte 0 = mode, byte 1 = a parameter, the rest = the head as text.
//! - `R` (or any byte not below): the head as given; must never panic, and nothing but the
//!   fixed key may ever authenticate.
//! - `H`: the head is signed with `sign_headers` (payload hash and signing time picked by the
//!   parameter) and must then authenticate, with the right payload mode; with one hex digit of
//!   the signature changed it must fail with SignatureDoesNotMatch.
//! - `P`: the head's path and query are presigned with `presign` (expiry and age picked by
//!   the parameter) and must authenticate exactly while the URL is valid and no unsigned
//!   `x-amz-*` header rides along.
#![no_main]

use bleepstore::auth::authenticate;
use bleepstore::auth::signer::{amz_date, presign, sign_headers};
use bleepstore::auth::sigv4::{
    AuthOutcome, PayloadMode, SigningKeyCache, EMPTY_SHA256_HEX, PRESIGN_EXPIRES_MAX_SECS,
    STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, UNSIGNED_PAYLOAD,
};
use bleepstore::http::head::{parse_query, RequestHead};
use bleepstore::s3::error::{ErrorCode, S3Result};
use bleepstore_fuzz::{head_from_text, now, token, OneKey, AK, REGION, SECRET};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

fn auth(head: &RequestHead) -> S3Result<AuthOutcome> {
    authenticate(head, &OneKey, &mut SigningKeyCache::new(), now())
}

fn code(r: &S3Result<AuthOutcome>) -> Option<ErrorCode> {
    r.as_ref().err().map(|e| e.code)
}

/// Headers a signing client controls itself are dropped from the fuzzed ones; the rest get
/// valid names.
fn extra_headers(head: &RequestHead, drop: &[&str]) -> Vec<(String, String)> {
    head.headers
        .iter()
        .map(|(n, v)| (token(n), v.clone()))
        .filter(|(n, _)| !drop.contains(&n.as_str()))
        .collect()
}

fn raw(head: &RequestHead) {
    if let Ok(outcome) = auth(head) {
        if let Some(ak) = &outcome.access_key {
            assert_eq!(ak, AK);
        }
    }
}

fn header_signed(head: &RequestHead, param: u8) {
    const PAYLOADS: [&str; 5] = [
        UNSIGNED_PAYLOAD,
        EMPTY_SHA256_HEX,
        STREAMING_SIGNED,
        STREAMING_SIGNED_TRAILER,
        STREAMING_UNSIGNED_TRAILER,
    ];
    let payload = PAYLOADS[usize::from(param) % PAYLOADS.len()];
    // Signed up to ~30 minutes before "now": past 15 minutes the clock skew check refuses it.
    let age = u64::from(param / 5) * 37;
    let signed_at = now() - Duration::from_secs(age);
    let mut headers = extra_headers(
        head,
        &[
            "authorization",
            "x-amz-date",
            "x-amz-content-sha256",
            "date",
        ],
    );
    if !headers.iter().any(|(n, _)| n == "host") {
        headers.push(("host".into(), "examplebucket.s3.amazonaws.com".into()));
    }
    headers.push(("x-amz-date".into(), amz_date(signed_at)));
    headers.push(("x-amz-content-sha256".into(), payload.into()));
    let authorization = sign_headers(
        &head.method_raw,
        &head.path,
        &head.query,
        &headers,
        payload,
        AK,
        SECRET,
        REGION,
        "s3",
        signed_at,
    );
    let mut signed = head.clone();
    signed.headers = headers;
    signed
        .headers
        .push(("authorization".into(), authorization.clone()));
    let result = auth(&signed);

    if parse_query(&head.query)
        .iter()
        .any(|(n, _)| n == "X-Amz-Algorithm" || n == "AWSAccessKeyId" || n == "Signature")
    {
        // Query (SigV4 or SigV2) and header auth together: refused, whatever the signature.
        assert!(result.is_err());
        return;
    }
    if age > 15 * 60 {
        assert_eq!(code(&result), Some(ErrorCode::RequestTimeTooSkewed));
        return;
    }
    let outcome = match result {
        Ok(o) => o,
        Err(e) => panic!("a correctly signed request was refused: {e:?}\nhead: {signed:?}"),
    };
    assert_eq!(outcome.access_key.as_deref(), Some(AK));
    let signature = authorization.rsplit("Signature=").next().unwrap_or("");
    match (&outcome.payload, payload) {
        (PayloadMode::Unsigned, UNSIGNED_PAYLOAD)
        | (PayloadMode::StreamingUnsignedTrailer, STREAMING_UNSIGNED_TRAILER) => {}
        (PayloadMode::Sha256(h), EMPTY_SHA256_HEX) => assert_eq!(hex(h), EMPTY_SHA256_HEX),
        (PayloadMode::StreamingSigned(ctx), STREAMING_SIGNED)
        | (PayloadMode::StreamingSignedTrailer(ctx), STREAMING_SIGNED_TRAILER) => {
            assert_eq!(
                ctx.seed_signature, signature,
                "the chain must start at the signature"
            );
            assert_eq!(ctx.amz_date, amz_date(signed_at));
        }
        (mode, claim) => panic!("payload {claim} gave {mode:?}"),
    }

    // One hex digit changed: refused.
    let mut tampered = signed.clone();
    let last = tampered.headers.len() - 1;
    let value = &mut tampered.headers[last].1;
    let pos = value.len() - 1;
    let replacement = if value.ends_with('0') { "1" } else { "0" };
    value.replace_range(pos.., replacement);
    assert_eq!(
        code(&auth(&tampered)),
        Some(ErrorCode::SignatureDoesNotMatch)
    );
}

fn presigned(head: &RequestHead, param: u8) {
    const EXPIRES: [u64; 5] = [1, 60, 3600, PRESIGN_EXPIRES_MAX_SECS as u64, 604_801];
    const AGES: [u64; 5] = [0, 30, 61, 3601, 604_801];
    let expires = EXPIRES[usize::from(param) % 5];
    let age = AGES[usize::from(param / 5) % 5];
    let signed_at = now() - Duration::from_secs(age);
    let host = head
        .header("host")
        .unwrap_or("examplebucket.s3.amazonaws.com")
        .to_string();
    let path = head.path.replace(['?', '#'], "");
    let target = presign(
        &head.method_raw,
        &host,
        &path,
        &head.query,
        AK,
        SECRET,
        REGION,
        signed_at,
        expires,
    );
    let (signed_path, signed_query) = target.split_once('?').unwrap_or((&target, ""));
    let mut signed = head.clone();
    signed.path = signed_path.to_string();
    signed.query = signed_query.to_string();
    signed.headers = extra_headers(head, &["authorization", "host"]);
    signed
        .headers
        .push(("host".into(), host.trim().to_string()));
    let result = auth(&signed);

    let own_params = parse_query(&head.query)
        .iter()
        .any(|(n, _)| n.starts_with("X-Amz-"));
    if own_params {
        return; // the fuzzed query carries auth parameters of its own: anything may happen
    }
    // Every x-amz-* header sent with a presigned URL must be signed (only host is here);
    // x-amz-content-sha256 is ignored for presigned requests and tolerated.
    let unsigned_amz = signed
        .headers
        .iter()
        .any(|(n, _)| n.starts_with("x-amz-") && n != "x-amz-content-sha256");
    let valid = expires <= PRESIGN_EXPIRES_MAX_SECS as u64 && age <= expires && !unsigned_amz;
    match result {
        Ok(outcome) => {
            assert!(valid, "accepted: expires {expires}, signed {age} s ago");
            assert_eq!(outcome.access_key.as_deref(), Some(AK));
            assert_eq!(outcome.payload, PayloadMode::Unsigned);
        }
        Err(e) => assert!(
            !valid,
            "a correctly presigned request was refused: {e:?}\nhead: {signed:?}"
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let head = head_from_text(&String::from_utf8_lossy(&data[2..]));
    match data[0] {
        b'H' => header_signed(&head, data[1]),
        b'P' => presigned(&head, data[1]),
        _ => raw(&head),
    }
});

//! Presigned requests with arbitrary extra headers (issue #20.1): a URL signed for `host`
//! only must never be widened by its holder.
//!
//! Input: byte 0 = mode, the rest = a request head as text (see
//! `bleepstore_fuzz::head_from_text`); its method, path and query are presigned correctly by
//! [`AK`] at "now", then its headers are sent along unsigned.
//! - `4`: SigV4 (`X-Amz-*` query). With any `x-amz-*` header other than
//!   `x-amz-content-sha256` present it must fail with 403 AccessDenied naming every such
//!   header in HeadersNotSigned; with none it must authenticate as [`AK`] and read the body
//!   unsigned.
//! - `2` (or anything else): SigV2 (`AWSAccessKeyId`, `Signature`, `Expires`). Every
//!   `x-amz-*` header is part of the string to sign: with one present it must not
//!   authenticate; with none and no Content-Type / Content-MD5 it must.
#![no_main]

use bleepstore::auth::authenticate_in;
use bleepstore::auth::signer::presign;
use bleepstore::auth::sigv2;
use bleepstore::auth::sigv4::{AuthOutcome, PayloadMode, SigningKeyCache};
use bleepstore::http::head::{parse_query, RequestHead};
use bleepstore::s3::error::{ErrorCode, S3Result};
use bleepstore_fuzz::{head_from_text, now, token, OneKey, AK, NOW_SECS, REGION, SECRET};
use libfuzzer_sys::fuzz_target;

const HOST: &str = "examplebucket.s3.amazonaws.com";
const DOMAIN: &str = "s3.amazonaws.com";

fn auth(head: &RequestHead) -> S3Result<AuthOutcome> {
    authenticate_in(head, &OneKey, &mut SigningKeyCache::new(), now(), DOMAIN)
}

/// The fuzzed headers, with valid names, minus the ones that carry authentication.
fn extra_headers(head: &RequestHead) -> Vec<(String, String)> {
    head.headers
        .iter()
        .map(|(n, v)| (token(n), v.clone()))
        .filter(|(n, _)| n != "authorization" && n != "host")
        .collect()
}

/// Headers the rule is about: `x-amz-*` ones a presigned SigV4 request did not sign.
fn unsigned_amz(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (n, _) in headers {
        if n.starts_with("x-amz-") && n != "x-amz-content-sha256" && !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

fn sigv4(head: &RequestHead) {
    let path = head.path.replace(['?', '#'], "");
    let target = presign(
        &head.method_raw,
        HOST,
        &path,
        &head.query,
        AK,
        SECRET,
        REGION,
        now(),
        3600,
    );
    let (signed_path, signed_query) = target.split_once('?').unwrap_or((&target, ""));
    let mut req = head.clone();
    req.path = signed_path.to_string();
    req.query = signed_query.to_string();
    req.headers = extra_headers(head);
    let missing = unsigned_amz(&req.headers);
    req.headers.push(("host".into(), HOST.into()));
    let result = auth(&req);
    if !missing.is_empty() {
        let err = match result {
            Ok(o) => panic!("unsigned {missing:?} accepted: {o:?}\nhead: {req:?}"),
            Err(e) => e,
        };
        // A garbled fuzzed query may be refused earlier, for its own reasons.
        if err.code != ErrorCode::AccessDenied {
            return;
        }
        let listed = err
            .extra
            .iter()
            .find(|(n, _)| *n == "HeadersNotSigned")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let listed: Vec<&str> = listed.split(", ").collect();
        for name in &missing {
            assert!(
                listed.contains(&name.as_str()),
                "{name} not named in {listed:?}"
            );
        }
        return;
    }
    let own_params = parse_query(&head.query)
        .iter()
        .any(|(n, _)| n.starts_with("X-Amz-") || n == "AWSAccessKeyId" || n == "Signature");
    if own_params || head.method_raw.is_empty() {
        return; // the fuzzed query carries auth parameters of its own
    }
    match result {
        Ok(o) => {
            assert_eq!(o.access_key.as_deref(), Some(AK));
            assert_eq!(o.payload, PayloadMode::Unsigned);
        }
        Err(e) => panic!("a presigned request with no x-amz-* header was refused: {e:?}\n{req:?}"),
    }
}

fn sigv2_presigned(head: &RequestHead) {
    let expires = (NOW_SECS + 60).to_string();
    let mut req = head.clone();
    req.headers = vec![("host".into(), HOST.into())];
    req.query = String::new();
    // Signed over no header at all, then the fuzzed ones are added.
    let to_sign = sigv2::string_to_sign(&req, &expires, Some(&[]), DOMAIN);
    let signature = sigv2::sign(SECRET, &to_sign);
    let encoded: String =
        percent_encoding::utf8_percent_encode(&signature, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    req.query = format!("AWSAccessKeyId={AK}&Expires={expires}&Signature={encoded}");
    let extra = extra_headers(head);
    let amz = extra.iter().any(|(n, _)| n.starts_with("x-amz-"));
    let standard = extra
        .iter()
        .any(|(n, v)| (n == "content-type" || n == "content-md5") && !v.trim().is_empty());
    req.headers.extend(extra);
    let result = auth(&req);
    if amz {
        assert!(result.is_err(), "unsigned x-amz-* header accepted: {req:?}");
    } else if !standard && !head.method_raw.is_empty() {
        if let Err(e) = result {
            panic!("a SigV2 presigned request was refused: {e:?}\n{req:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let head = head_from_text(&String::from_utf8_lossy(&data[1..]));
    match data[0] {
        b'4' => sigv4(&head),
        _ => sigv2_presigned(&head),
    }
});

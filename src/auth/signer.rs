//! Client-side SigV4 signing (for tools, tests and replication), built on exactly the
//! canonicalization the server verifies with, so the two cannot drift apart.

use crate::auth::sigv4::{
    canonical_headers, canonical_query, canonical_request, canonical_uri, derive_signing_key,
    format_amz_date, hmac_sha256, scope, string_to_sign, unix_secs, uri_encode, CanonicalParts,
    ALGORITHM, UNSIGNED_PAYLOAD,
};
use std::time::SystemTime;

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
    canonical: &str,
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
        headers: &canonical_headers(&names, &lowered),
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
        headers: &canonical_headers(&["host"], &headers),
        signed_headers: "host",
        payload_hash: UNSIGNED_PAYLOAD,
    });
    let sig = signature(secret_key, &date_time, region, SERVICE, &canonical);
    format!("{path}?{query}&X-Amz-Signature={sig}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sigv4::tests::{at, example_time, head, OneKey, AK, SECRET};
    use crate::auth::sigv4::{authenticate, sha256_hex, PayloadMode, SigningKeyCache};
    use crate::s3::error::ErrorCode;
    use std::time::Duration;

    fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reproduces_the_aws_get_object_example() {
        let empty = sha256_hex(b"");
        let headers = owned(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", &empty),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let now = example_time();
        assert_eq!(amz_date(now), "20130524T000000Z");
        let auth = sign_headers(
            "GET",
            "/test.txt",
            "",
            &headers,
            &empty,
            AK,
            SECRET,
            "us-east-1",
            "s3",
            now,
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn reproduces_the_aws_presigned_example() {
        let url = presign(
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            "",
            AK,
            SECRET,
            "us-east-1",
            example_time(),
            86_400,
        );
        assert_eq!(
            url,
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn header_signing_round_trips_through_authenticate() {
        let now = at("20240301T120000Z");
        let date = amz_date(now);
        let body_hash = sha256_hex(b"hello");
        let path = "/bucket/dir/a%20b%2Bc~%E2%82%AC$!'()*";
        let query = "prefix=x%20y%2Bz%2F~&delimiter=%2F&uploads&list-type=2";
        let headers = owned(&[
            ("Host", "bleep.local:9000"),
            ("X-Amz-Date", &date),
            ("X-Amz-Content-Sha256", &body_hash),
            ("X-Amz-Meta-Tag", " spaced   value "),
            ("Content-Type", "text/plain"),
        ]);
        let auth = sign_headers(
            "PUT", path, query, &headers, &body_hash, AK, SECRET, "moon-1", "s3", now,
        );
        let mut with_auth: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        with_auth.push(("Authorization", &auth));
        let h = head("PUT", &format!("{path}?{query}"), &with_auth);
        let out = authenticate(&h, &OneKey, &mut SigningKeyCache::new(), now).unwrap();
        assert_eq!(out.access_key.as_deref(), Some(AK));
        assert!(matches!(out.payload, PayloadMode::Sha256(_)));

        let wrong = sign_headers(
            "PUT", path, query, &headers, &body_hash, AK, "nope", "moon-1", "s3", now,
        );
        let mut with_wrong: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        with_wrong.push(("Authorization", &wrong));
        let h = head("PUT", &format!("{path}?{query}"), &with_wrong);
        let err = authenticate(&h, &OneKey, &mut SigningKeyCache::new(), now).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    }

    #[test]
    fn presign_round_trips_and_expires() {
        let now = at("20240301T120000Z");
        let target = presign(
            "GET",
            "bleep.local",
            "/b/k%20ey",
            "partNumber=1&versionId=a%2Bb",
            AK,
            SECRET,
            "us-west-2",
            now,
            60,
        );
        let h = head("GET", &target, &[("Host", "bleep.local")]);
        let mut cache = SigningKeyCache::new();
        let out = authenticate(&h, &OneKey, &mut cache, now + Duration::from_secs(60)).unwrap();
        assert_eq!(out.payload, PayloadMode::Unsigned);
        let late =
            authenticate(&h, &OneKey, &mut cache, now + Duration::from_secs(61)).unwrap_err();
        assert_eq!(late.code, ErrorCode::AccessDenied);
        let elsewhere = head("GET", &target, &[("Host", "other.host")]);
        let err = authenticate(&elsewhere, &OneKey, &mut cache, now).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    }
}

//! Server-side AWS Signature Version 2 verification: the `Authorization: AWS key:signature`
//! header and presigned query URLs (`AWSAccessKeyId`, `Signature`, `Expires`).
//!
//! boto3's `generate_presigned_url` (default config, custom endpoint) and the aws CLI's
//! `s3 presign` still produce these, and older tools sign every request this way.
//!
//! StringToSign = Method \n Content-MD5 \n Content-Type \n Date \n CanonicalizedAmzHeaders
//! CanonicalizedResource, signed with HMAC-SHA1 and sent in base64. Every `x-amz-*` header is
//! part of it, so nobody can add one to a signed request (or a presigned URL) unnoticed.
//! The body is not covered (Content-MD5, when sent, is, and the payload reader checks it).

use crate::auth::sigv4::{
    parse_payload_claim_v2, too_skewed, unix_secs_to_iso8601, AuthOutcome, SecretLookup,
    CLOCK_SKEW_MAX_SECS,
};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::http::head::{QueryPair, RequestHead};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The query parameters that are part of the CanonicalizedResource (botocore's list, which
/// is AWS's plus the few sub-resources added since; a client that signs one of them and a
/// server that does not would never agree).
const SUBRESOURCES: &[&str] = &[
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// Whether an Authorization header value is a SigV2 one.
pub fn is_v2_header(value: &str) -> bool {
    let v = value.trim();
    v == "AWS" || v.starts_with("AWS ")
}

/// Whether the query carries SigV2 query authentication (or a part of it).
pub fn has_v2_query(query: &[QueryPair]) -> bool {
    query
        .iter()
        .any(|(n, _)| n == "AWSAccessKeyId" || n == "Signature")
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail here.
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The base64 signature of a string to sign (what clients send).
pub fn sign(secret: &str, string_to_sign: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_ref()))
}

/// The bucket a virtual-hosted request names in its Host header, if any (as the router
/// decides it: `<bucket>.<domain>`).
fn vhost_bucket<'a>(head: &'a RequestHead, domain: &str) -> Option<&'a str> {
    if domain.is_empty() {
        return None;
    }
    let host = crate::http::head::strip_port(head.header("host")?);
    if host.len() <= domain.len() + 1 {
        return None;
    }
    host.strip_suffix(domain)?.strip_suffix('.')
}

/// CanonicalizedResource: `/bucket` for virtual-hosted requests, the path as sent, and the
/// sub-resources of the query, sorted by name, with their values decoded.
pub fn canonical_resource(head: &RequestHead, domain: &str) -> String {
    canonical_resource_with(head, domain, false)
}

/// Whether the request names a bucket alone, path style and without a trailing slash
/// (`/bucket`): botocore signs it as `/bucket/`, other clients as sent.
fn bare_bucket_path(head: &RequestHead, domain: &str) -> bool {
    vhost_bucket(head, domain).is_none() && head.path.len() > 1 && !head.path[1..].contains('/')
}

fn canonical_resource_with(head: &RequestHead, domain: &str, bucket_slash: bool) -> String {
    let mut out = String::with_capacity(head.path.len() + 32);
    if let Some(bucket) = vhost_bucket(head, domain) {
        out.push('/');
        out.push_str(bucket);
    }
    if head.path.is_empty() {
        out.push('/');
    } else {
        out.push_str(&head.path);
    }
    if bucket_slash {
        out.push('/');
    }
    let mut subs: Vec<(&str, Option<String>)> = head
        .query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (pair, None),
            };
            SUBRESOURCES.contains(&name).then(|| {
                let value = value.map(|v| {
                    String::from_utf8_lossy(
                        &percent_encoding::percent_decode_str(v).collect::<Vec<u8>>(),
                    )
                    .into_owned()
                });
                (name, value)
            })
        })
        .collect();
    // Stable: repeated names keep their order, as botocore signs them.
    subs.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (name, value)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// `name:v1,v2\n` for every `x-amz-*` header, names lower-case and sorted. For presigned
/// URLs the `x-amz-*` query parameters count too (botocore moves the headers it signed into
/// the query), unless a header of the same name was sent. Values are bytes: a user metadata
/// value may be obs-text that is not UTF-8 (see `candidates`).
fn canonical_amz_headers(head: &RequestHead, query: Option<&[QueryPair]>) -> Vec<u8> {
    let mut amz: Vec<(String, Vec<&[u8]>)> = Vec::new();
    for (name, value) in head.headers_bytes() {
        if !name.starts_with("x-amz-") {
            continue;
        }
        let value = trim_value(value);
        match amz.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => values.push(value),
            None => amz.push((name.to_string(), vec![value])),
        }
    }
    for (name, value) in query.unwrap_or_default() {
        let name = name.to_ascii_lowercase();
        if name.starts_with("x-amz-") && !amz.iter().any(|(n, _)| *n == name) {
            amz.push((name, vec![value.trim().as_bytes()]));
        }
    }
    amz.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    for (name, values) in amz {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&values.join(&b","[..]));
        out.push(b'\n');
    }
    out
}

/// A header value trimmed as botocore's `str.strip()` trims text; bytes that are not UTF-8
/// lose ASCII whitespace only.
fn trim_value(value: &[u8]) -> &[u8] {
    match std::str::from_utf8(value) {
        Ok(text) => text.trim().as_bytes(),
        Err(_) => value.trim_ascii(),
    }
}

/// A standard header's value for the string to sign; presigned URLs may carry it in the
/// query instead (botocore does for Content-Type and Content-MD5).
fn standard_header<'a>(
    head: &'a RequestHead,
    name: &str,
    query: Option<&'a [QueryPair]>,
) -> &'a str {
    if let Some(v) = head.header(name) {
        return v.trim();
    }
    query
        .unwrap_or_default()
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map_or("", |(_, v)| v.trim())
}

/// The SigV2 string to sign; `date` is the Date line (empty with `x-amz-date`, the
/// `Expires` value for presigned URLs). Bytes: header values are signed as received.
pub fn string_to_sign(
    head: &RequestHead,
    date: &str,
    query: Option<&[QueryPair]>,
    domain: &str,
) -> Vec<u8> {
    string_to_sign_with(head, date, query, domain, false)
}

/// The strings a client may have signed for this request: as sent, and for a bare
/// `/bucket` path also `/bucket/`. A head with header values that are not UTF-8 (user
/// metadata in obs-text) adds both again with those values read as latin-1 text and signed
/// as UTF-8: python's http.client sends `str` values latin-1 encoded while botocore's
/// `HmacV1Auth` hashes the `str` as UTF-8 (the Go SDK and curl sign the bytes they send).
/// latin-1 → UTF-8 is one-to-one, so either match means the stored bytes were signed.
fn candidates(
    head: &RequestHead,
    date: &str,
    query: Option<&[QueryPair]>,
    domain: &str,
) -> Vec<Vec<u8>> {
    let latin1 = head.latin1_reading();
    let mut out = Vec::new();
    for h in std::iter::once(head).chain(latin1.as_ref()) {
        out.push(string_to_sign_with(h, date, query, domain, false));
        if bare_bucket_path(h, domain) {
            out.push(string_to_sign_with(h, date, query, domain, true));
        }
    }
    out
}

fn string_to_sign_with(
    head: &RequestHead,
    date: &str,
    query: Option<&[QueryPair]>,
    domain: &str,
    bucket_slash: bool,
) -> Vec<u8> {
    let mut out = format!(
        "{}\n{}\n{}\n{}\n",
        head.method_raw,
        standard_header(head, "content-md5", query),
        standard_header(head, "content-type", query),
        date,
    )
    .into_bytes();
    out.extend_from_slice(&canonical_amz_headers(head, query));
    out.extend_from_slice(canonical_resource_with(head, domain, bucket_slash).as_bytes());
    out
}

/// Looks the secret up and compares signatures in constant time.
fn verify(
    head: &RequestHead,
    access_key: &str,
    signature: &str,
    mut to_sign: Vec<Vec<u8>>,
    lookup: &dyn SecretLookup,
) -> S3Result<AuthOutcome> {
    let secret = lookup.secret_for(access_key).ok_or_else(|| {
        S3Error::new(ErrorCode::InvalidAccessKeyId).with("AWSAccessKeyId", access_key.to_string())
    })?;
    let provided = base64::engine::general_purpose::STANDARD
        .decode(signature.trim())
        .unwrap_or_default();
    let matches = |sts: &Vec<u8>| {
        let expected = hmac_sha1(secret.as_bytes(), sts);
        provided.len() == expected.len() && bool::from(expected.ct_eq(&provided[..]))
    };
    if !to_sign.iter().any(matches) {
        let to_sign = to_sign.swap_remove(0);
        let bytes: Vec<String> = to_sign.iter().map(|b| format!("{b:02x}")).collect();
        return Err(S3Error::new(ErrorCode::SignatureDoesNotMatch)
            .with("AWSAccessKeyId", access_key.to_string())
            .with("StringToSign", String::from_utf8_lossy(&to_sign))
            .with("SignatureProvided", signature.to_string())
            .with("StringToSignBytes", bytes.join(" ")));
    }
    Ok(AuthOutcome {
        access_key: Some(crate::hash::stack_str::SmallString::from(access_key)),
        payload: parse_payload_claim_v2(head.header("x-amz-content-sha256"))?,
    })
}

/// `Authorization: AWS AccessKeyId:Signature`, dated by `x-amz-date` or `Date` within the
/// clock skew.
pub fn authenticate_header(
    head: &RequestHead,
    value: &str,
    lookup: &dyn SecretLookup,
    now_secs: i64,
    domain: &str,
) -> S3Result<AuthOutcome> {
    let credentials = value.trim().strip_prefix("AWS").unwrap_or("").trim();
    let (access_key, signature) = credentials
        .rsplit_once(':')
        .filter(|(ak, sig)| !ak.is_empty() && !sig.is_empty() && !ak.contains(' '))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
                "Authorization",
                value,
            )
        })?;
    // x-amz-date wins over Date, and then the Date line of the string to sign is empty.
    let (date_line, parsed) = match head.header("x-amz-date") {
        Some(v) => ("", parse_v2_date(v)),
        None => match head.header("date") {
            Some(v) => (v.trim(), parse_v2_date(v)),
            None => ("", None),
        },
    };
    let request_secs = parsed.ok_or_else(|| {
        S3Error::msg(
            ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    })?;
    if (request_secs - now_secs).abs() > CLOCK_SKEW_MAX_SECS {
        return Err(too_skewed(request_secs, now_secs));
    }
    let to_sign = candidates(head, date_line, None, domain);
    verify(head, access_key, signature, to_sign, lookup)
}

/// An HTTP date (RFC 1123 and the older forms), or the ISO 8601 basic form some clients put
/// in x-amz-date.
fn parse_v2_date(v: &str) -> Option<i64> {
    let v = v.trim();
    httpdate::parse_http_date(v)
        .ok()
        .map(crate::auth::sigv4::unix_secs)
        .or_else(|| crate::auth::sigv4::parse_amz_date(v))
}

/// Presigned: `AWSAccessKeyId`, `Signature` and `Expires` (seconds since the epoch, which
/// takes the Date line's place).
pub fn authenticate_query(
    head: &RequestHead,
    query: &[QueryPair],
    lookup: &dyn SecretLookup,
    now_secs: i64,
    domain: &str,
) -> S3Result<AuthOutcome> {
    let single = |name: &str| {
        let mut values = query.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
        match (values.next(), values.next()) {
            (Some(v), None) => Some(v.as_str()),
            _ => None,
        }
    };
    let (Some(access_key), Some(expires), Some(_)) = (
        single("AWSAccessKeyId"),
        single("Expires"),
        single("Signature"),
    ) else {
        return Err(S3Error::msg(
            ErrorCode::AccessDenied,
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId \
             parameters",
        ));
    };
    // The signature as sent: base64 may carry a literal '+', which form decoding would
    // have turned into a space.
    let signature_raw = head
        .query
        .split('&')
        .find_map(|p| p.strip_prefix("Signature="))
        .unwrap_or("");
    let signature = String::from_utf8_lossy(
        &percent_encoding::percent_decode_str(signature_raw).collect::<Vec<u8>>(),
    )
    .into_owned();
    let expires_secs: i64 = expires
        .parse()
        .ok()
        .filter(|_| !expires.is_empty() && expires.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            S3Error::msg(
                ErrorCode::AccessDenied,
                format!("Invalid date (should be seconds since epoch): {expires}"),
            )
        })?;
    if now_secs > expires_secs {
        return Err(S3Error::msg(ErrorCode::AccessDenied, "Request has expired")
            .with("Expires", unix_secs_to_iso8601(expires_secs))
            .with("ServerTime", unix_secs_to_iso8601(now_secs)));
    }
    let to_sign = candidates(head, expires, Some(query), domain);
    verify(head, access_key, &signature, to_sign, lookup)
}

#[cfg(test)]
mod tests {
    use crate::auth::sigv4::tests::{example_time, head, OneKey, AK};
    use crate::auth::sigv4::{AuthOutcome, PayloadMode, SigningKeyCache};
    use crate::auth::verify::authenticate_in;
    use crate::error::{ErrorCode, S3Result};
    use std::time::{Duration, SystemTime};

    // Signatures below were made by botocore 1.44 (`HmacV1Auth`, `HmacV1QueryAuth`) with the
    // example credentials and the date fixed at 2013-05-24T00:00:00Z.
    const DATE: &str = "Fri, 24 May 2013 00:00:00 GMT";

    fn run(h: &crate::http::head::RequestHead, now: SystemTime) -> S3Result<AuthOutcome> {
        authenticate_in(h, &OneKey, &mut SigningKeyCache::new(), now, "s3.local")
    }

    fn code(r: S3Result<AuthOutcome>) -> ErrorCode {
        match r {
            Ok(o) => panic!("expected an error, got {o:?}"),
            Err(e) => e.code,
        }
    }

    fn get_puppy() -> crate::http::head::RequestHead {
        let auth = format!("AWS {AK}:UHKSZ+CFhLrlTnqWWPECMqF3MHg=");
        head(
            "GET",
            "/bucket/photos/puppy%20x.jpg",
            &[("Host", "h"), ("Date", DATE), ("Authorization", &auth)],
        )
    }

    #[test]
    fn header_auth_get() {
        let out = run(&get_puppy(), example_time()).unwrap();
        assert_eq!(out.access_key.as_deref(), Some(AK));
        assert_eq!(out.payload, PayloadMode::Unsigned);
    }

    #[test]
    fn header_auth_put_with_amz_headers_and_subresource() {
        let auth = format!("AWS {AK}:VeavOZ6Awv92fKQKk0cqI8GSIVw=");
        let base = [
            ("Host", "h"),
            ("Content-Type", "text/plain"),
            ("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="),
            ("x-amz-acl", "public-read"),
            ("X-Amz-Meta-B", " two "),
            ("x-amz-meta-a", "one"),
            ("Date", DATE),
            ("Authorization", &auth),
        ];
        assert!(run(&head("PUT", "/bucket/k?acl", &base), example_time()).is_ok());
        // Every x-amz-* header is signed: one more, or another value, breaks it.
        let mut h = head("PUT", "/bucket/k?acl", &base);
        h.headers
            .push(("x-amz-copy-source".into(), "/other/secret".into()));
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
        let mut h = head("PUT", "/bucket/k?acl", &base);
        for (n, v) in &mut h.headers {
            if n == "x-amz-acl" {
                *v = "public-read-write".into();
            }
        }
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
        // So are the sub-resources.
        let h = head("PUT", "/bucket/k", &base);
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn virtual_hosted_resource_and_subresource_values() {
        let auth = format!("AWS {AK}:BOvRaLeFda3lHtzDjwVG93nOXEI=");
        let h = head(
            "GET",
            "/k?versionId=a%2Bb&response-content-type=text%2Fplain&prefix=x&uploads",
            &[
                ("Host", "bucket.s3.local:9000"),
                ("Date", DATE),
                ("Authorization", &auth),
            ],
        );
        assert_eq!(
            super::canonical_resource(&h, "s3.local"),
            "/bucket/k?response-content-type=text/plain&uploads&versionId=a+b"
        );
        assert!(run(&h, example_time()).is_ok());
    }

    #[test]
    fn header_auth_dates_and_skew() {
        let skew = Duration::from_secs(15 * 60);
        assert!(run(&get_puppy(), example_time() + skew).is_ok());
        assert!(run(&get_puppy(), example_time() - skew).is_ok());
        let late = run(&get_puppy(), example_time() + skew + Duration::from_secs(1));
        assert_eq!(code(late), ErrorCode::RequestTimeTooSkewed);
        let early = run(&get_puppy(), example_time() - skew - Duration::from_secs(1));
        assert_eq!(code(early), ErrorCode::RequestTimeTooSkewed);
        let mut h = get_puppy();
        h.headers.retain(|(n, _)| n != "date");
        let err = run(&h, example_time()).unwrap_err();
        assert_eq!((err.code, err.status()), (ErrorCode::AccessDenied, 403));
        // x-amz-date replaces Date, whose line in the string to sign is then empty.
        let sts = "GET\n\n\n\nx-amz-date:Fri, 24 May 2013 00:00:00 GMT\n/bucket/k";
        let sig = super::sign(crate::auth::sigv4::tests::SECRET, sts);
        let auth = format!("AWS {AK}:{sig}");
        let h = head(
            "GET",
            "/bucket/k",
            &[
                ("Host", "h"),
                ("x-amz-date", DATE),
                ("Date", "Thu, 01 Jan 1970 00:00:00 GMT"),
                ("Authorization", &auth),
            ],
        );
        assert!(run(&h, example_time()).is_ok());
    }

    #[test]
    fn bucket_paths_signed_with_or_without_trailing_slash() {
        for signed in ["/bucket", "/bucket/"] {
            let sts = format!("PUT\n\n\n{DATE}\n{signed}");
            let sig = super::sign(crate::auth::sigv4::tests::SECRET, &sts);
            let auth = format!("AWS {AK}:{sig}");
            let h = head(
                "PUT",
                "/bucket",
                &[("Date", DATE), ("Authorization", &auth)],
            );
            assert!(run(&h, example_time()).is_ok(), "{signed}");
        }
        // Only a bare bucket: a key is signed exactly as sent.
        let sts = format!("GET\n\n\n{DATE}\n/bucket/k/");
        let sig = super::sign(crate::auth::sigv4::tests::SECRET, &sts);
        let auth = format!("AWS {AK}:{sig}");
        let h = head(
            "GET",
            "/bucket/k",
            &[("Date", DATE), ("Authorization", &auth)],
        );
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn header_auth_errors() {
        for bad in [
            "AWS",
            "AWS ",
            "AWS nocolon",
            "AWS :sig",
            "AWS ak:",
            "AWS a b:sig",
        ] {
            let h = head("GET", "/b/k", &[("Date", DATE), ("Authorization", bad)]);
            let err = run(&h, example_time()).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidArgument, "{bad}");
        }
        let h = head(
            "GET",
            "/b/k",
            &[("Date", DATE), ("Authorization", "AWS nobody:c2ln")],
        );
        assert_eq!(code(run(&h, example_time())), ErrorCode::InvalidAccessKeyId);
        let auth = format!("AWS {AK}:not*base64");
        let h = head("GET", "/b/k", &[("Date", DATE), ("Authorization", &auth)]);
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
        // A signature that does not match names what was signed, never the secret.
        let mut h = get_puppy();
        h.path = "/bucket/photos/kitten.jpg".into();
        let err = run(&h, example_time()).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
        assert!(err
            .extra
            .iter()
            .any(|(n, v)| *n == "StringToSign" && v.ends_with("/bucket/photos/kitten.jpg")));
    }

    fn presigned_get() -> crate::http::head::RequestHead {
        head(
            "GET",
            "/bucket/key?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE\
             &Signature=tTwrTq%2Fa8HZzL%2B%2BwDwZJXtPAjDc%3D&Expires=1369353600",
            &[("Host", "h")],
        )
    }

    #[test]
    fn presigned_query_and_its_expiry() {
        let out = run(&presigned_get(), example_time()).unwrap();
        assert_eq!(out.access_key.as_deref(), Some(AK));
        let err = run(&presigned_get(), example_time() + Duration::from_secs(1)).unwrap_err();
        assert_eq!((err.code, err.status()), (ErrorCode::AccessDenied, 403));
        assert_eq!(err.message, "Request has expired");
        // A literal '+' in the signature (not percent-encoded) is still a '+'.
        let mut h = presigned_get();
        h.query = h.query.replace("%2B", "+");
        assert!(run(&h, example_time()).is_ok());
        // Any x-amz-* header is part of the string to sign: adding one breaks the signature.
        let mut h = presigned_get();
        h.headers
            .push(("x-amz-copy-source".into(), "/other/secret".into()));
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
        let mut h = presigned_get();
        h.method_raw = "DELETE".into();
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn presigned_query_with_headers_moved_into_the_query() {
        // botocore moves the Content-Type and x-amz-* headers it signed into the query.
        let target = "/bucket/key?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE\
                      &Signature=KeXp2NuxqM4%2F3nrziBHgJHwGT3Y%3D&content-type=text%2Fplain\
                      &x-amz-acl=public-read&Expires=1369353600";
        let h = head("PUT", target, &[("Host", "h")]);
        assert!(run(&h, example_time()).is_ok());
        // Sending them as headers too (same values) is the same request.
        let h = head(
            "PUT",
            target,
            &[
                ("Host", "h"),
                ("Content-Type", "text/plain"),
                ("x-amz-acl", "public-read"),
            ],
        );
        assert!(run(&h, example_time()).is_ok());
        let h = head(
            "PUT",
            target,
            &[("Host", "h"), ("x-amz-acl", "public-read-write")],
        );
        assert_eq!(
            code(run(&h, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
    }

    #[test]
    fn presigned_query_errors() {
        for q in [
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Signature=abc",
            "AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1369353600",
            "Signature=abc&Expires=1369353600",
            "AWSAccessKeyId=a&AWSAccessKeyId=b&Signature=abc&Expires=1369353600",
        ] {
            let h = head("GET", &format!("/b/k?{q}"), &[("Host", "h")]);
            let err = run(&h, example_time()).unwrap_err();
            assert_eq!(
                (err.code, err.status()),
                (ErrorCode::AccessDenied, 403),
                "{q}"
            );
        }
        for expires in ["soon", "-1", "", "1e9"] {
            let q = format!("AWSAccessKeyId={AK}&Signature=abc&Expires={expires}");
            let h = head("GET", &format!("/b/k?{q}"), &[("Host", "h")]);
            let err = run(&h, example_time()).unwrap_err();
            assert_eq!(err.code, ErrorCode::AccessDenied, "{expires}");
            assert!(err.message.starts_with("Invalid date"), "{expires}");
        }
        // Header and query authentication together.
        let mut h = presigned_get();
        h.headers
            .push(("authorization".into(), format!("AWS {AK}:abc")));
        assert_eq!(code(run(&h, example_time())), ErrorCode::InvalidArgument);
    }

    #[test]
    fn obs_text_values_verify_as_sent_or_as_python_signs_them() {
        let signed_head = |wire: &[u8], signed: &[u8]| {
            let base = [("Host", "h"), ("Date", DATE)];
            let mut h = head("PUT", "/bucket/k", &base);
            h.opaque.push(crate::http::head::OpaqueHeader {
                at: 2,
                name: "x-amz-meta-a".into(),
                value: signed.to_vec(),
            });
            let sig = super::sign(
                crate::auth::sigv4::tests::SECRET,
                super::string_to_sign(&h, DATE, None, "s3.local"),
            );
            h.opaque[0].value = wire.to_vec();
            h.headers
                .push(("authorization".into(), format!("AWS {AK}:{sig}")));
            h
        };
        // the bytes as sent (Go, curl)
        assert!(run(&signed_head(b"caf\xe9", b"caf\xe9"), example_time()).is_ok());
        // botocore's HmacV1Auth: the latin-1 text signed as UTF-8, strip()-ed
        let python = signed_head(b"caf\xe9\xa0", "café".as_bytes());
        assert!(run(&python, example_time()).is_ok());
        let other = signed_head(b"caf\xe9", "cafè".as_bytes());
        assert_eq!(
            code(run(&other, example_time())),
            ErrorCode::SignatureDoesNotMatch
        );
    }
}

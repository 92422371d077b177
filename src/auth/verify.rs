//! Which authentication a request head carries, and its verification: SigV4 (header or
//! presigned query), SigV2 (header or presigned query), or none. The one entry point for the
//! request path; `sigv4` and `sigv2` each verify their own kind and know nothing of the other.

use super::sigv2;
use super::sigv4::{self, malformed_header, unix_secs, AuthOutcome, SecretLookup, SigningKeyCache};
use crate::error::{S3Error, S3Result};
use crate::http::head::RequestHead;
use std::time::SystemTime;

/// Authenticates a request head: anonymous, Authorization header, or presigned query.
///
/// On success the caller reads the body as `payload` says; for streaming modes the head is
/// authenticated but each chunk still has to pass the aws-chunked decoder.
pub fn authenticate(
    head: &RequestHead,
    lookup: &dyn SecretLookup,
    cache: &mut SigningKeyCache,
    now: SystemTime,
) -> S3Result<AuthOutcome> {
    authenticate_in(head, lookup, cache, now, "")
}

/// [`authenticate`] for a server that also answers virtual-hosted requests under `domain`
/// (SigV2 signs the bucket of the Host header as part of the resource).
pub fn authenticate_in(
    head: &RequestHead,
    lookup: &dyn SecretLookup,
    cache: &mut SigningKeyCache,
    now: SystemTime,
    domain: &str,
) -> S3Result<AuthOutcome> {
    let query = head.query_pairs();
    let has_query_auth = query.iter().any(|(n, _)| n == "X-Amz-Algorithm");
    let mut auth_headers = head.header_all("authorization");
    let header = auth_headers.next();
    if auth_headers.next().is_some() {
        return Err(malformed_header(
            "only one Authorization header is allowed.",
        ));
    }
    let now_secs = unix_secs(now);
    let has_v2_query = !has_query_auth && sigv2::has_v2_query(&query);
    match (header, has_query_auth || has_v2_query) {
        (Some(_), true) => Err(S3Error::invalid_argument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
            "Authorization",
            header.unwrap_or_default(),
        )),
        (Some(value), false) if sigv2::is_v2_header(value) => {
            sigv2::authenticate_header(head, value, lookup, now_secs, domain)
        }
        (Some(value), false) => sigv4::authenticate_header(head, value, lookup, cache, now_secs),
        (None, true) if has_v2_query => {
            sigv2::authenticate_query(head, &query, lookup, now_secs, domain)
        }
        (None, true) => sigv4::authenticate_query(head, &query, lookup, cache, now_secs),
        (None, false) => sigv4::anonymous(head),
    }
}

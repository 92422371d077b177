//! Reading what a request asks for, shared by the handlers: small bodies, object attributes
//! and write conditions from headers, copy sources, part numbers, listing limits and
//! continuation tokens.

use crate::engine::multipart::PART_NUMBER_MAX;
use crate::engine::object::ObjectAttrs;
use crate::engine::tagging::{TagOwner, OBJECT_TAGS_MAX};
use crate::engine::{Tags, WriteCond};
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use base64::Engine;

/// Bodies of bucket configuration requests (CreateBucketConfiguration, ACL XML), at most.
pub const CONFIG_BODY_BYTES_MAX: usize = 64 * 1024;

/// A request body held whole in memory, with its share of the core's budget: the share is
/// given back when the body is dropped, after the handler is done with it.
pub struct BufferedBody {
    bytes: Vec<u8>,
    _lease: crate::runtime::budget::Lease,
}

impl std::ops::Deref for BufferedBody {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Whether the request carries an integrity header: Content-MD5 or a flexible checksum
/// (`x-amz-checksum-*`, announced by `x-amz-sdk-checksum-algorithm` or as a trailer).
pub fn has_integrity_header(head: &RequestHead) -> bool {
    head.header("content-md5").is_some()
        || head.headers.iter().any(|(n, _)| {
            n.starts_with("x-amz-checksum-")
                || n == "x-amz-sdk-checksum-algorithm"
                || n == "x-amz-trailer"
        })
}

/// AWS requires an integrity header of some bodies (DeleteObjects, tagging, lifecycle, CORS,
/// Object Lock): InvalidRequest without one. The payload reader verifies whichever is sent.
pub fn require_integrity_header(head: &RequestHead) -> S3Result<()> {
    if has_integrity_header(head) {
        return Ok(());
    }
    Err(S3Error::msg(
        ErrorCode::InvalidRequest,
        "Missing required header for this request: Content-MD5 or x-amz-checksum-*",
    ))
}

/// Reads a small request body whole (XML configuration), refusing more than `max`.
pub async fn read_small_body(
    req: &mut Request<'_>,
    ctx: &Ctx,
    max: usize,
) -> S3Result<BufferedBody> {
    let mut payload =
        crate::s3::payload::PayloadReader::new(&mut req.body, &ctx.payload, &req.head, &[])?;
    const PIECE_BYTES: usize = 16 * 1024;
    // Held whole until parsed: every byte is on the core's shared budget first (a declared
    // length up front, so an oversized or unaffordable body is refused before it is read).
    let mut lease = crate::runtime::budget::Lease::empty();
    if let Some(declared) = payload.declared_len() {
        if declared > max as u64 {
            return Err(S3Error::new(ErrorCode::MaxMessageLengthExceeded));
        }
        lease.grow(declared as usize).await?;
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; PIECE_BYTES];
    loop {
        let n = payload.read_payload(&mut buf).await?;
        if n == 0 {
            break;
        }
        if out.len() + n > max {
            return Err(S3Error::new(ErrorCode::MaxMessageLengthExceeded));
        }
        if out.len() + n > lease.bytes() {
            lease
                .grow(PIECE_BYTES.max(out.len() + n - lease.bytes()))
                .await?;
        }
        out.extend_from_slice(&buf[..n]);
    }
    // The whole check: signature, then Content-MD5 and any x-amz-checksum-* sent (a config
    // document whose digest does not match is BadDigest, as for an object). A Complete's
    // checksum headers are the assembled object's, checked by the Complete itself.
    if matches!(
        ctx.route.endpoint,
        crate::s3::endpoint::Endpoint::CompleteMultipartUpload { .. }
    ) {
        payload.finish_md5_only()?;
    } else {
        payload.finish()?;
    }
    Ok(BufferedBody {
        bytes: out,
        _lease: lease,
    })
}

/// Representation headers stored with an object and returned on GET/HEAD.
pub const STORED_HEADERS: [&str; 5] = [
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
];

pub fn attrs_from_head(head: &RequestHead, metadata_bytes_max: usize) -> S3Result<ObjectAttrs> {
    let content_type = head
        .header("content-type")
        .unwrap_or("binary/octet-stream")
        .to_string();
    let mut headers = Vec::new();
    for h in STORED_HEADERS {
        if let Some(v) = head.header(h) {
            // aws-chunked is transfer framing, not the object's encoding: drop that token
            // only, and keep the rest of the list as sent.
            if h == "content-encoding" {
                if let Some(rest) = without_aws_chunked(v) {
                    headers.push((h.to_string(), rest));
                }
                continue;
            }
            headers.push((h.to_string(), v.to_string()));
        }
    }
    // Values as the bytes received (latin-1 as well as UTF-8), sized in bytes as AWS counts.
    let mut user_meta = Vec::new();
    let mut size = 0usize;
    for (n, v) in head.headers_bytes() {
        if let Some(name) = n.strip_prefix("x-amz-meta-") {
            size += name.len() + v.len();
            user_meta.push((name.to_string(), v.to_vec()));
        }
    }
    if size > metadata_bytes_max {
        return Err(S3Error::new(ErrorCode::MetadataTooLarge)
            .with("MaxSizeAllowed", metadata_bytes_max.to_string()));
    }
    if let Some(sc) = head.header("x-amz-storage-class") {
        const KNOWN: [&str; 8] = [
            "STANDARD",
            "REDUCED_REDUNDANCY",
            "STANDARD_IA",
            "ONEZONE_IA",
            "INTELLIGENT_TIERING",
            "GLACIER",
            "DEEP_ARCHIVE",
            "GLACIER_IR",
        ];
        if !KNOWN.contains(&sc) {
            return Err(
                S3Error::new(ErrorCode::InvalidStorageClass).with("StorageClassRequested", sc)
            );
        }
    }
    Ok(ObjectAttrs {
        content_type,
        headers,
        user_meta,
    })
}

/// A Content-Encoding value without its `aws-chunked` token (None when nothing is left).
/// A list without that token is kept verbatim.
fn without_aws_chunked(v: &str) -> Option<String> {
    let is_chunked = |e: &str| e.trim().eq_ignore_ascii_case("aws-chunked");
    if !v.split(',').any(is_chunked) {
        return (!v.trim().is_empty()).then(|| v.to_string());
    }
    let rest: Vec<&str> = v
        .split(',')
        .filter(|e| !is_chunked(e) && !e.trim().is_empty())
        .map(str::trim)
        .collect();
    (!rest.is_empty()).then(|| rest.join(", "))
}

/// `x-amz-tagging` (PutObject, CreateMultipartUpload, CopyObject with REPLACE): URL query
/// syntax, `k1=v1&k2=v2`, `+` a space, percent-encoded UTF-8. Empty without the header.
/// InvalidArgument for undecodable text or a repeated key; then AWS's limits on an object's
/// tag set (BadRequest, InvalidTag).
pub fn tags_from_head(head: &RequestHead) -> S3Result<Tags> {
    let Some(raw) = head.header("x-amz-tagging") else {
        return Ok(Vec::new());
    };
    let invalid = || {
        S3Error::invalid_argument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.",
            "x-amz-tagging",
            raw,
        )
    };
    let decode = |s: &str| -> S3Result<String> {
        let spaced = s.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| invalid())
    };
    let mut tags: Tags = Vec::new();
    for piece in raw.split('&').filter(|p| !p.is_empty()) {
        // Bounded before decoding: far past the limit is refused as too many.
        if tags.len() > OBJECT_TAGS_MAX {
            break;
        }
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let key = decode(k)?;
        if tags.iter().any(|(have, _)| *have == key) {
            return Err(invalid());
        }
        tags.push((key, decode(v)?));
    }
    crate::engine::tagging::check(&tags, TagOwner::Object)?;
    Ok(tags)
}

/// Write-side conditions from `If-None-Match: *` and `If-Match`, checked in the commit.
pub fn write_cond(head: &RequestHead) -> S3Result<WriteCond> {
    let if_none_match_any = match head.header("if-none-match") {
        Some("*") => true,
        Some(_) => {
            return Err(S3Error::new(ErrorCode::NotImplemented).with("Header", "If-None-Match"))
        }
        None => false,
    };
    Ok(WriteCond {
        if_none_match_any,
        if_match: head.header("if-match").map(str::to_string),
    })
}

/// `x-amz-copy-source`: `[/]bucket/key[?versionId=null]`, URL-encoded.
pub fn parse_copy_source(v: &str) -> S3Result<(String, String)> {
    let (path, query) = v.split_once('?').unwrap_or((v, ""));
    if let Some(version) = query.strip_prefix("versionId=") {
        if crate::engine::versions::parse_version_id(version).is_none() {
            return Err(S3Error::invalid_argument(
                "Invalid version id specified",
                "x-amz-copy-source",
                v,
            ));
        }
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| {
            S3Error::invalid_argument("Invalid copy source encoding", "x-amz-copy-source", v)
        })?;
    let trimmed = decoded.strip_prefix('/').unwrap_or(&decoded);
    match trimmed.split_once('/') {
        Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok((b.to_string(), k.to_string())),
        _ => Err(S3Error::invalid_argument(
            "Invalid copy source object key",
            "x-amz-copy-source",
            v,
        )),
    }
}

/// The largest part S3 accepts (UploadPart, UploadPartCopy).
pub const PART_SIZE_MAX_BYTES: u64 = 5 * 1024 * 1024 * 1024;

pub fn parse_part_number(s: &str) -> S3Result<u32> {
    s.parse::<u32>()
        .ok()
        .filter(|n| (1..=PART_NUMBER_MAX).contains(n))
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
                "partNumber",
                s,
            )
        })
}

/// Keys in one listing page, at most (S3's cap).
pub const LIST_KEYS_MAX: usize = 1000;

pub fn max_keys(ctx: &Ctx, name: &str) -> S3Result<usize> {
    match ctx.route.param(name) {
        None => Ok(LIST_KEYS_MAX),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| (n as usize).min(LIST_KEYS_MAX))
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "Provided max-keys not an integer or within integer range",
                    name,
                    v,
                )
            }),
    }
}

/// Continuation tokens are opaque to clients: base64 of the last key returned.
pub fn encode_token(last: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.as_bytes())
}

pub fn decode_token(t: &str) -> S3Result<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            S3Error::invalid_argument(
                "The continuation token provided is incorrect",
                "continuation-token",
                t,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_encoding_drops_only_aws_chunked() {
        assert_eq!(without_aws_chunked("aws-chunked"), None);
        assert_eq!(
            without_aws_chunked("aws-chunked, gzip").as_deref(),
            Some("gzip")
        );
        assert_eq!(
            without_aws_chunked("gzip,aws-chunked").as_deref(),
            Some("gzip")
        );
        assert_eq!(
            without_aws_chunked("AWS-CHUNKED, gzip, br").as_deref(),
            Some("gzip, br")
        );
        assert_eq!(without_aws_chunked("gzip,br").as_deref(), Some("gzip,br"));
    }

    fn tagging_head(value: &str) -> RequestHead {
        RequestHead {
            method: crate::http::head::Method::parse("PUT"),
            method_raw: "PUT".into(),
            path: "/b/k".into(),
            query: String::new(),
            headers: vec![("x-amz-tagging".into(), value.into())],
            opaque: Vec::new(),
            version_minor: 1,
        }
    }

    #[test]
    fn tagging_header_is_a_query_string() {
        let t = tags_from_head(&tagging_head("a=1&b+c=d%20e&&f&g=&h%3D=%C3%A9")).unwrap();
        let want: Vec<(&str, &str)> = vec![
            ("a", "1"),
            ("b c", "d e"),
            ("f", ""),
            ("g", ""),
            ("h=", "\u{e9}"),
        ];
        let got: Vec<(&str, &str)> = t.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
        let mut no_header = tagging_head("");
        no_header.headers.clear();
        assert!(tags_from_head(&no_header).unwrap().is_empty());
    }

    #[test]
    fn tagging_header_refusals() {
        let code = |v: &str| tags_from_head(&tagging_head(v)).unwrap_err().code;
        assert_eq!(code("a=1&a=2"), ErrorCode::InvalidArgument);
        assert_eq!(code("a=%FF"), ErrorCode::InvalidArgument);
        let eleven: Vec<String> = (0..11).map(|i| format!("k{i}=v")).collect();
        assert_eq!(code(&eleven.join("&")), ErrorCode::BadRequest);
        let many: Vec<String> = (0..100_000).map(|i| format!("k{i}")).collect();
        assert_eq!(code(&many.join("&")), ErrorCode::BadRequest);
        assert_eq!(code("aws%3Ax=1"), ErrorCode::InvalidTag);
        assert_eq!(
            code(&format!("k={}", "v".repeat(257))),
            ErrorCode::InvalidTag
        );
        assert_eq!(code("a%2Ab=1"), ErrorCode::InvalidTag);
    }

    #[test]
    fn part_numbers_are_bounded() {
        assert_eq!(parse_part_number("1").unwrap(), 1);
        assert_eq!(parse_part_number("10000").unwrap(), 10000);
        assert!(parse_part_number("0").is_err());
        assert!(parse_part_number("10001").is_err());
        assert!(parse_part_number("x").is_err());
    }

    #[test]
    fn copy_source_forms() {
        assert_eq!(
            parse_copy_source("/b/k%20x").unwrap(),
            ("b".into(), "k x".into())
        );
        assert_eq!(
            parse_copy_source("b/a/b/c?versionId=null").unwrap(),
            ("b".into(), "a/b/c".into())
        );
        assert!(parse_copy_source("b").is_err());
        assert!(parse_copy_source("b/k?versionId=abc").is_err());
    }
}

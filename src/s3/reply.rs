//! Pieces of answers shared by the handlers: ETag and checksum headers, checksums as XML,
//! and listings as responses.

use crate::engine::Checksums;
use crate::http::response::Response;
use crate::s3::checksum::{self, ALL_ALGOS};
use crate::s3::error::{S3Error, S3Result};
use crate::s3::xml;

pub fn etag_header(etag: &str) -> String {
    format!("\"{etag}\"")
}

pub fn checksum_headers(resp: &mut Response, c: &Checksums) {
    for a in ALL_ALGOS {
        if let Some(v) = checksum::get(c, a) {
            let v = if c.composite_parts > 0 {
                format!("{v}-{}", c.composite_parts)
            } else {
                v.clone()
            };
            resp.header(a.header(), v);
        }
    }
}

/// `x-amz-checksum-type` of an object's stored checksum (PutObject, GET/HEAD with checksum
/// mode), as AWS sends it beside the checksum.
pub fn checksum_type_header(resp: &mut Response, c: &Checksums) {
    if let Some(t) = checksum::stored_type(c) {
        resp.header("x-amz-checksum-type", t.name());
    }
}

pub fn to_xml_checksums(c: &Checksums) -> xml::Checksums {
    let suffix = |v: &Option<String>| {
        v.as_ref().map(|s| {
            if c.composite_parts > 0 {
                format!("{s}-{}", c.composite_parts)
            } else {
                s.clone()
            }
        })
    };
    xml::Checksums {
        crc32: suffix(&c.crc32),
        crc32c: suffix(&c.crc32c),
        crc64nvme: suffix(&c.crc64nvme),
        sha1: suffix(&c.sha1),
        sha256: suffix(&c.sha256),
    }
}

/// A rendered listing as the response, unless it would carry a character XML 1.0 cannot
/// (a key or prefix holding U+0000-U+001F other than tab, LF and CR, or U+FFFE / U+FFFF).
/// AWS sends such documents anyway and every XML client (botocore, the Go and Java SDKs)
/// fails to parse them; the client wins: a 400 naming the remedy, `encoding-type=url`
/// (which boto3 always sends, and under which every key is plain ASCII).
pub fn listing(doc: String) -> S3Result<Response> {
    if !xml::xml_1_0_safe(&doc) {
        return Err(S3Error::invalid_argument(
            "The listing holds a key or prefix with characters XML 1.0 cannot carry (U+0000-U+001F other than tab, LF and CR, or U+FFFE/U+FFFF); ask for it with encoding-type=url",
            "encoding-type",
            "",
        ));
    }
    Ok(Response::xml(200, doc))
}

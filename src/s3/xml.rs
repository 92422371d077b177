//! S3 XML: request-body parsing and response rendering, as pure functions over plain data.
//!
//! Nothing here touches storage, metadata or the network: handlers gather what they need into
//! the structs below and get a `String` back (renderers), or hand over a request body and get
//! typed data or an [`S3Error`](crate::s3::error::S3Error) back (parsers).
//!
//! Conventions shared by every renderer:
//! * documents start with `<?xml version="1.0" encoding="UTF-8"?>` and the root element carries
//!   the S3 namespace [`S3_NS`];
//! * timestamps are `u64` unix milliseconds, rendered by [`iso8601_ms`]
//!   (`2009-10-12T17:50:30.000Z`);
//! * ETags are passed bare (`"d41d8cd98f00b204e9800998ecf8427e"` without quotes, or `hex-N`) and
//!   rendered quoted and escaped, as AWS does: `<ETag>&quot;hex&quot;</ETag>`;
//! * text goes through [`escape_into`](crate::s3::error::escape_into); with `encoding_type_url`
//!   the key-like fields are percent-encoded instead (see [`url_encode_into`]).
//!
//! Parsers are bounded (body size, nesting depth, element count, list lengths: see the
//! constants), never expand DTD entities (a `DOCTYPE` is rejected outright), match element
//! names by local name (so the S3 namespace, no namespace, or a prefix are all accepted), accept
//! any element order and whitespace, and ignore unknown elements.

mod parse;
mod render;

use std::borrow::Cow;

use super::error::S3Error;

pub use parse::{
    parse_access_control_policy, parse_complete_multipart, parse_create_bucket_configuration,
    parse_delete_objects, parse_versioning_configuration, VersioningConfiguration,
};
pub use parse::{parse_cors_configuration, CORS_RULES_PARSED_MAX};
pub use parse::{
    parse_legal_hold, parse_object_lock_configuration, parse_retention, DefaultRetentionDoc,
    LockConfigurationDoc, RetentionDoc,
};
pub use parse::{parse_lifecycle, LIFECYCLE_BODY_BYTES_MAX};
pub use parse::{parse_ownership_controls, parse_public_access_block};
pub use parse::{parse_tagging, TAGGING_TAGS_MAX};
pub use render::lifecycle;
pub use render::tagging;
pub use render::{
    access_control_policy, complete_multipart, copy_object_result, copy_part_result, delete_result,
    initiate_multipart, list_buckets, list_multipart_uploads, list_object_versions,
    list_objects_v1, list_objects_v2, list_parts, location, url_encode_into, versioning,
    xml_1_0_safe,
};
pub use render::{cors_configuration, post_response};
pub use render::{legal_hold, object_lock_configuration, retention};
pub use render::{object_attributes, ObjectAttributes, ObjectPartsPage};
pub use render::{ownership_controls, policy_status, public_access_block};

/// The namespace on every response root element.
pub const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
/// The XML Schema instance namespace, bound to `xsi` on ACL grantees.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Largest CompleteMultipartUpload or Delete body accepted (owned by `config`).
pub use crate::config::MAX_XML_BODY_BYTES;
/// Largest AccessControlPolicy or CreateBucketConfiguration body accepted (256 KiB; an ACL
/// holds at most [`MAX_ACL_GRANTS`] grants).
pub const MAX_SMALL_XML_BODY_BYTES: usize = 256 * 1024;
/// Deepest element nesting accepted in a request body (the root is depth 1).
pub const MAX_XML_DEPTH: usize = 16;
/// Most elements accepted in one request body, counting unknown ones.
pub const MAX_XML_ELEMENTS: usize = 200_000;
/// Most parts in a CompleteMultipartUpload body; also the highest part number.
pub const MAX_PARTS: usize = 10_000;
/// Most keys in one DeleteObjects body.
pub const MAX_DELETE_OBJECTS: usize = 1_000;
/// Most grants in one ACL.
pub const MAX_ACL_GRANTS: usize = 100;

/// An owner or initiator: `<ID>` and optional `<DisplayName>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Owner {
    pub id: String,
    pub display_name: Option<String>,
}

/// Additional checksums (base64 values), rendered as `ChecksumCRC32` ... `ChecksumSHA256`
/// when present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checksums {
    pub crc32: Option<String>,
    pub crc32c: Option<String>,
    pub crc64nvme: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

impl Checksums {
    pub fn is_empty(&self) -> bool {
        self.crc32.is_none()
            && self.crc32c.is_none()
            && self.crc64nvme.is_none()
            && self.sha1.is_none()
            && self.sha256.is_none()
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

/// One `<Part>` of a CompleteMultipartUpload body, in the order the client gave.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompletedPart {
    /// 1..=10000 (checked by the parser).
    pub part_number: u32,
    /// The ETag with surrounding whitespace and quotes stripped.
    pub etag: String,
    pub checksum_crc32: Option<String>,
    pub checksum_crc32c: Option<String>,
    pub checksum_crc64nvme: Option<String>,
    pub checksum_sha1: Option<String>,
    pub checksum_sha256: Option<String>,
}

/// One `<Object>` of a DeleteObjects body. The key is exactly the element's text (not
/// trimmed; may be empty, which the caller reports per key).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectIdentifier {
    pub key: String,
    pub version_id: Option<String>,
}

/// A DeleteObjects body: 1..=1000 objects, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteRequest {
    pub quiet: bool,
    pub objects: Vec<ObjectIdentifier>,
}

/// An ACL: the owner and the grants. Parsed from PutBucketAcl/PutObjectAcl bodies and
/// rendered for GetBucketAcl/GetObjectAcl.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessControlPolicy {
    pub owner: Option<Owner>,
    pub grants: Vec<Grant>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: Permission,
}

/// A grantee, by its `xsi:type`: `CanonicalUser`, `AmazonCustomerByEmail` or `Group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grantee {
    CanonicalUser {
        id: String,
        display_name: Option<String>,
    },
    /// `<EmailAddress>`.
    Email(String),
    /// The group `<URI>`, e.g. `http://acs.amazonaws.com/groups/global/AllUsers`.
    Group(String),
}

impl Grantee {
    /// The `xsi:type` value for this grantee.
    pub fn xsi_type(&self) -> &'static str {
        match self {
            Grantee::CanonicalUser { .. } => "CanonicalUser",
            Grantee::Email(_) => "AmazonCustomerByEmail",
            Grantee::Group(_) => "Group",
        }
    }
}

/// One permission of an ACL: the record type, the same on the wire.
pub use crate::engine::Permission;

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// One bucket of ListBuckets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BucketEntry {
    pub name: String,
    pub creation_ms: u64,
    /// Rendered as `BucketRegion` when set.
    pub region: Option<String>,
}

/// One object of a listing (`<Contents>` in ListObjects v1/v2, `<Version>` in
/// ListObjectVersions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEntry {
    pub key: String,
    pub last_modified_ms: u64,
    /// Bare ETag (no quotes).
    pub etag: String,
    pub size: u64,
    /// Usually `"STANDARD"`.
    pub storage_class: Cow<'static, str>,
    /// Rendered when present (v1 and versions always; v2 only with `fetch-owner=true`).
    pub owner: Option<Owner>,
    /// `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`, when the object has one.
    pub checksum_algorithm: Option<String>,
    /// ListObjectVersions only: the version (id, is latest); rendered `null`, latest when
    /// absent. A delete marker renders as `<DeleteMarker>` without ETag, size or class.
    pub version: Option<(String, bool)>,
    pub delete_marker: bool,
}

impl ObjectEntry {
    /// A STANDARD-class entry without owner or checksum algorithm.
    pub fn new(
        key: impl Into<String>,
        last_modified_ms: u64,
        etag: impl Into<String>,
        size: u64,
    ) -> Self {
        ObjectEntry {
            key: key.into(),
            last_modified_ms,
            etag: etag.into(),
            size,
            storage_class: Cow::Borrowed("STANDARD"),
            owner: None,
            checksum_algorithm: None,
            version: None,
            delete_marker: false,
        }
    }
}

/// ListObjectsV2 (`GET /bucket?list-type=2`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListObjectsV2Result {
    pub name: String,
    /// Always rendered (empty element when no prefix was given).
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    /// `encoding-type=url` was requested: key-like fields are percent-encoded and
    /// `<EncodingType>url</EncodingType>` is included.
    pub encoding_type_url: bool,
    pub is_truncated: bool,
    /// Number of `contents` plus `common_prefixes` returned.
    pub key_count: usize,
    pub continuation_token: Option<String>,
    pub next_continuation_token: Option<String>,
    pub start_after: Option<String>,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

/// ListObjects (v1, `GET /bucket`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListObjectsV1Result {
    pub name: String,
    /// Always rendered.
    pub prefix: String,
    /// Always rendered (empty element when no marker was given).
    pub marker: String,
    pub next_marker: Option<String>,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub encoding_type_url: bool,
    pub is_truncated: bool,
    pub contents: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

/// ListObjectVersions (`GET /bucket?versions`). Versioning is not supported, so every object
/// is rendered as its only version: `<VersionId>null</VersionId><IsLatest>true</IsLatest>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListVersionsResult {
    pub name: String,
    /// Always rendered.
    pub prefix: String,
    /// Always rendered.
    pub key_marker: String,
    /// Always rendered.
    pub version_id_marker: String,
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
    pub delimiter: Option<String>,
    pub max_keys: u32,
    pub encoding_type_url: bool,
    pub is_truncated: bool,
    pub versions: Vec<ObjectEntry>,
    pub common_prefixes: Vec<String>,
}

/// One part of ListParts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified_ms: u64,
    /// Bare ETag (no quotes).
    pub etag: String,
    pub size: u64,
    pub checksums: Checksums,
}

/// ListParts (`GET /bucket/key?uploadId=`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListPartsResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    /// Always rendered (0 when none was given).
    pub part_number_marker: u32,
    pub next_part_number_marker: Option<u32>,
    pub max_parts: u32,
    pub is_truncated: bool,
    pub parts: Vec<PartEntry>,
    pub initiator: Owner,
    pub owner: Owner,
    /// Usually `"STANDARD"`; left empty (the `Default`), `STANDARD` is rendered.
    pub storage_class: Cow<'static, str>,
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` / `FULL_OBJECT`, with `checksum_algorithm`.
    pub checksum_type: Option<String>,
}

/// One upload of ListMultipartUploads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiator: Owner,
    pub owner: Owner,
    /// Usually `"STANDARD"`; left empty (the `Default`), `STANDARD` is rendered.
    pub storage_class: Cow<'static, str>,
    pub initiated_ms: u64,
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` / `FULL_OBJECT`, with `checksum_algorithm`.
    pub checksum_type: Option<String>,
}

/// ListMultipartUploads (`GET /bucket?uploads`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListUploadsResult {
    pub bucket: String,
    /// Always rendered.
    pub key_marker: String,
    /// Always rendered.
    pub upload_id_marker: String,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    pub max_uploads: u32,
    pub encoding_type_url: bool,
    pub is_truncated: bool,
    pub uploads: Vec<UploadEntry>,
    pub common_prefixes: Vec<String>,
}

/// A `<Deleted>` entry of DeleteResult.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeletedEntry {
    pub key: String,
    /// The version deleted (or the delete marker made), when the request or bucket has one.
    pub version_id: Option<String>,
    /// `DeleteMarker` and `DeleteMarkerVersionId`: the delete made or removed a marker.
    pub delete_marker_version_id: Option<String>,
}

/// An `<Error>` entry of DeleteResult.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteErrorEntry {
    pub key: String,
    /// An S3 error code name, e.g. `AccessDenied`.
    pub code: String,
    pub message: String,
}

impl DeleteErrorEntry {
    pub fn from_error(key: impl Into<String>, err: &S3Error) -> Self {
        DeleteErrorEntry {
            key: key.into(),
            code: err.code.as_str().to_string(),
            message: err.message.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

/// Unix milliseconds as ISO-8601 UTC with milliseconds: `2009-10-12T17:50:30.000Z`.
pub fn iso8601_ms(ms: u64) -> String {
    let mut out = String::with_capacity(24);
    push_iso8601_ms(&mut out, ms);
    out
}

/// Appends [`iso8601_ms`] of `ms` to `out` without allocating.
pub(crate) fn push_iso8601_ms(out: &mut String, ms: u64) {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = secs / 86_400;
    let sod = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    if year < 1000 {
        push_padded(out, year, 4);
    } else {
        push_u64(out, year);
    }
    out.push('-');
    push_padded(out, month, 2);
    out.push('-');
    push_padded(out, day, 2);
    out.push('T');
    push_padded(out, sod / 3600, 2);
    out.push(':');
    push_padded(out, sod / 60 % 60, 2);
    out.push(':');
    push_padded(out, sod % 60, 2);
    out.push('.');
    push_padded(out, millis, 3);
    out.push('Z');
}

/// (year, month 1..=12, day 1..=31) of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to non-negative inputs so it is all unsigned arithmetic).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Appends a decimal number without allocating.
pub(crate) fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// Appends `n` zero-padded to at least `width` digits.
fn push_padded(out: &mut String, n: u64, width: usize) {
    let mut digits = 1;
    let mut m = n;
    while m >= 10 {
        m /= 10;
        digits += 1;
    }
    for _ in digits..width {
        out.push('0');
    }
    push_u64(out, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_known_values() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_255_369_830_000), "2009-10-12T17:50:30.000Z");
        assert_eq!(iso8601_ms(951_782_400_007), "2000-02-29T00:00:00.007Z");
        assert_eq!(iso8601_ms(253_402_300_799_999), "9999-12-31T23:59:59.999Z");
        // Never panics, even at the extreme.
        let far = iso8601_ms(u64::MAX);
        assert!(far.ends_with(".615Z"), "{far}");
    }

    #[test]
    fn iso8601_matches_time_crate() {
        use time::format_description::well_known::Rfc3339;
        let mut ms: u64 = 1;
        // Walk a pseudo-random sequence across 1970..9999.
        for _ in 0..20_000 {
            ms = ms
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let t = ms % 253_402_300_800_000;
            let dt =
                time::OffsetDateTime::from_unix_timestamp_nanos(t as i128 * 1_000_000).unwrap();
            let expect = dt.format(&Rfc3339).unwrap();
            // time prints fractional seconds only when non-zero and trims zeros; compare parts.
            let got = iso8601_ms(t);
            assert_eq!(&got[..19], &expect[..19], "{t}");
            assert_eq!(&got[20..23], format!("{:03}", t % 1000), "{t}");
        }
    }

    #[test]
    fn push_u64_edges() {
        let mut s = String::new();
        push_u64(&mut s, 0);
        s.push(' ');
        push_u64(&mut s, u64::MAX);
        assert_eq!(s, "0 18446744073709551615");
    }

    #[test]
    fn permission_round_trip() {
        for p in [
            Permission::FullControl,
            Permission::Read,
            Permission::Write,
            Permission::ReadAcp,
            Permission::WriteAcp,
        ] {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        assert_eq!(Permission::parse("read"), None);
    }
}

//! Response renderers: one pre-sized `String` per document, appended to with `push_str`.
//!
//! Element order follows the AWS responses (the examples in the S3 API reference), which some
//! clients rely on more than they should.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::{
    push_iso8601_ms, push_u64, AccessControlPolicy, BucketEntry, Checksums, DeleteErrorEntry,
    DeletedEntry, Grantee, ListObjectsV1Result, ListObjectsV2Result, ListPartsResult,
    ListUploadsResult, ListVersionsResult, ObjectEntry, Owner, S3_NS, XSI_NS,
};
use crate::s3::error::escape_into;

mod lock;
mod tagging;
pub use lock::{legal_hold, object_lock_configuration, retention};
mod access;
pub use access::{ownership_controls, policy_status, public_access_block};
mod lifecycle;
pub use lifecycle::lifecycle;
mod cors;
pub use cors::{cors_configuration, post_response};
pub use tagging::tagging;

const XML_DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// What `encoding-type=url` leaves alone: the unreserved characters and `/`.
const URL_KEEP: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Appends `s` percent-encoded as for `encoding-type=url`: every byte of its UTF-8 except
/// `A-Za-z0-9-_.~/` becomes `%XX` (so a space is `%20`, `+` is `%2B`). The output is plain
/// ASCII with nothing XML-special, so it needs no further escaping; control characters that
/// XML 1.0 cannot carry survive this way.
pub fn url_encode_into(out: &mut String, s: &str) {
    for chunk in utf8_percent_encode(s, URL_KEEP) {
        out.push_str(chunk);
    }
}

/// Whether a rendered document is well-formed XML 1.0 as far as characters go. Text is
/// escaped by `escape_into`, which writes C0 controls as character references: `&#xD;` is
/// legal, every other one it writes (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F) is not,
/// and neither are U+FFFE / U+FFFF, which pass through as they are.
pub fn xml_1_0_safe(doc: &str) -> bool {
    // One vectorised pass over the candidates' first bytes: `&` (every `&quot;` of an ETag
    // too) and 0xEF, the lead byte of U+FFFE / U+FFFF in UTF-8.
    let bytes = doc.as_bytes();
    memchr::memchr2_iter(b'&', 0xEF, bytes).all(|i| {
        let rest = &bytes[i..];
        if rest[0] == b'&' {
            !rest.starts_with(b"&#x") || rest[3..].starts_with(b"D;")
        } else {
            !rest.starts_with(&[0xEF, 0xBF, 0xBE]) && !rest.starts_with(&[0xEF, 0xBF, 0xBF])
        }
    })
}

/// Escaped text, with a fast path for the common case of nothing to escape.
fn push_text(out: &mut String, s: &str) {
    if s.bytes()
        .any(|b| b < 0x20 || matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        escape_into(out, s);
    } else {
        out.push_str(s);
    }
}

fn start_doc(capacity: usize, root: &str) -> String {
    let mut out = String::with_capacity(capacity);
    out.push_str(XML_DECL);
    out.push('<');
    out.push_str(root);
    out.push_str(" xmlns=\"");
    out.push_str(S3_NS);
    out.push_str("\">");
    out
}

#[inline]
fn open(out: &mut String, tag: &str) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
}

#[inline]
fn close(out: &mut String, tag: &str) {
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn text_el(out: &mut String, tag: &str, value: &str) {
    open(out, tag);
    push_text(out, value);
    close(out, tag);
}

/// A key echoed back outside a listing: characters XML 1.0 cannot carry become U+FFFD.
fn lossy_text_el(out: &mut String, tag: &str, value: &str) {
    open(out, tag);
    crate::s3::error::escape_lossy_into(out, value);
    close(out, tag);
}

/// A key-like value: percent-encoded under `encoding-type=url`, escaped otherwise.
fn key_el(out: &mut String, tag: &str, value: &str, url: bool) {
    open(out, tag);
    if url {
        url_encode_into(out, value);
    } else {
        push_text(out, value);
    }
    close(out, tag);
}

fn u64_el(out: &mut String, tag: &str, n: u64) {
    open(out, tag);
    push_u64(out, n);
    close(out, tag);
}

fn bool_el(out: &mut String, tag: &str, b: bool) {
    open(out, tag);
    out.push_str(if b { "true" } else { "false" });
    close(out, tag);
}

fn time_el(out: &mut String, tag: &str, ms: u64) {
    open(out, tag);
    push_iso8601_ms(out, ms);
    close(out, tag);
}

/// `<ETag>&quot;etag&quot;</ETag>`; quotes the caller left on are not doubled.
fn etag_el(out: &mut String, etag: &str) {
    out.push_str("<ETag>&quot;");
    push_text(out, etag.trim_matches('"'));
    out.push_str("&quot;</ETag>");
}

fn owner_el(out: &mut String, tag: &str, owner: &Owner) {
    open(out, tag);
    text_el(out, "ID", &owner.id);
    if let Some(name) = &owner.display_name {
        text_el(out, "DisplayName", name);
    }
    close(out, tag);
}

fn checksums_el(out: &mut String, c: &Checksums) {
    let fields = [
        ("ChecksumCRC32", &c.crc32),
        ("ChecksumCRC32C", &c.crc32c),
        ("ChecksumCRC64NVME", &c.crc64nvme),
        ("ChecksumSHA1", &c.sha1),
        ("ChecksumSHA256", &c.sha256),
    ];
    for (tag, value) in fields {
        if let Some(v) = value {
            text_el(out, tag, v);
        }
    }
}

/// `<StorageClass>`, `STANDARD` when left empty (as `Default` leaves it).
fn storage_class_el(out: &mut String, class: &str) {
    text_el(
        out,
        "StorageClass",
        if class.is_empty() { "STANDARD" } else { class },
    );
}

fn common_prefixes_el(out: &mut String, prefixes: &[String], url: bool) {
    for p in prefixes {
        out.push_str("<CommonPrefixes>");
        key_el(out, "Prefix", p, url);
        out.push_str("</CommonPrefixes>");
    }
}

fn encoding_type_el(out: &mut String, url: bool) {
    if url {
        out.push_str("<EncodingType>url</EncodingType>");
    }
}

/// Room for a listing: a fixed part per entry plus its key (and owner), so 1,000 entries
/// render without reallocating.
fn listing_capacity(entries: &[ObjectEntry], prefixes: &[String]) -> usize {
    let entries_len: usize = entries
        .iter()
        .map(|e| {
            200 + e.key.len()
                + e.etag.len()
                + e.owner.as_ref().map_or(0, |o| {
                    40 + o.id.len() + o.display_name.as_ref().map_or(0, |n| n.len() + 27)
                })
        })
        .sum();
    let prefixes_len: usize = prefixes.iter().map(|p| 40 + p.len()).sum();
    512 + entries_len + prefixes_len
}

/// The fields of a `<Contents>` (Key, LastModified, ETag, ChecksumAlgorithm?, Size, Owner?,
/// StorageClass) or, `as_version`, of a `<Version>` (Key, VersionId, IsLatest, LastModified,
/// ETag, ChecksumAlgorithm?, Size, StorageClass, Owner?).
fn object_fields(out: &mut String, e: &ObjectEntry, url: bool, as_version: bool) {
    key_el(out, "Key", &e.key, url);
    if as_version {
        let (id, latest) = e
            .version
            .as_ref()
            .map(|(id, latest)| (id.as_str(), *latest))
            .unwrap_or(("null", true));
        text_el(out, "VersionId", id);
        bool_el(out, "IsLatest", latest);
    }
    time_el(out, "LastModified", e.last_modified_ms);
    if as_version && e.delete_marker {
        if let Some(owner) = &e.owner {
            owner_el(out, "Owner", owner);
        }
        return;
    }
    etag_el(out, &e.etag);
    if let Some(alg) = &e.checksum_algorithm {
        text_el(out, "ChecksumAlgorithm", alg);
    }
    u64_el(out, "Size", e.size);
    if !as_version {
        if let Some(owner) = &e.owner {
            owner_el(out, "Owner", owner);
        }
    }
    storage_class_el(out, &e.storage_class);
    if as_version {
        if let Some(owner) = &e.owner {
            owner_el(out, "Owner", owner);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------------------------

/// ListBuckets: `ListAllMyBucketsResult` with Owner, then Buckets/Bucket{Name, CreationDate,
/// BucketRegion}, then the next page's `ContinuationToken` and the request's `Prefix`.
pub fn list_buckets(
    owner: &Owner,
    buckets: &[BucketEntry],
    continuation_token: Option<&str>,
    prefix: Option<&str>,
) -> String {
    let cap = 512 + buckets.iter().map(|b| 130 + b.name.len()).sum::<usize>();
    let mut out = start_doc(cap, "ListAllMyBucketsResult");
    owner_el(&mut out, "Owner", owner);
    out.push_str("<Buckets>");
    for b in buckets {
        out.push_str("<Bucket>");
        text_el(&mut out, "Name", &b.name);
        time_el(&mut out, "CreationDate", b.creation_ms);
        if let Some(r) = &b.region {
            text_el(&mut out, "BucketRegion", r);
        }
        out.push_str("</Bucket>");
    }
    out.push_str("</Buckets>");
    if let Some(t) = continuation_token {
        text_el(&mut out, "ContinuationToken", t);
    }
    if let Some(p) = prefix {
        text_el(&mut out, "Prefix", p);
    }
    out.push_str("</ListAllMyBucketsResult>");
    out
}

/// GetBucketLocation: the region, or an empty `LocationConstraint` for us-east-1 (`None`,
/// `""` or `"us-east-1"`).
pub fn location(constraint: Option<&str>) -> String {
    let mut out = String::with_capacity(160);
    out.push_str(XML_DECL);
    out.push_str("<LocationConstraint xmlns=\"");
    out.push_str(S3_NS);
    match constraint {
        Some(c) if !c.is_empty() && c != "us-east-1" => {
            out.push_str("\">");
            push_text(&mut out, c);
            out.push_str("</LocationConstraint>");
        }
        _ => out.push_str("\"/>"),
    }
    out
}

/// GetBucketAcl / GetObjectAcl: `AccessControlPolicy`, each `Grantee` carrying
/// `xmlns:xsi` and `xsi:type`.
pub fn access_control_policy(acp: &AccessControlPolicy) -> String {
    let mut out = start_doc(512 + acp.grants.len() * 320, "AccessControlPolicy");
    if let Some(owner) = &acp.owner {
        owner_el(&mut out, "Owner", owner);
    }
    out.push_str("<AccessControlList>");
    for g in &acp.grants {
        out.push_str("<Grant><Grantee xmlns:xsi=\"");
        out.push_str(XSI_NS);
        out.push_str("\" xsi:type=\"");
        out.push_str(g.grantee.xsi_type());
        out.push_str("\">");
        match &g.grantee {
            Grantee::CanonicalUser { id, display_name } => {
                text_el(&mut out, "ID", id);
                if let Some(name) = display_name {
                    text_el(&mut out, "DisplayName", name);
                }
            }
            Grantee::Email(email) => text_el(&mut out, "EmailAddress", email),
            Grantee::Group(uri) => text_el(&mut out, "URI", uri),
        }
        out.push_str("</Grantee>");
        text_el(&mut out, "Permission", g.permission.as_str());
        out.push_str("</Grant>");
    }
    out.push_str("</AccessControlList></AccessControlPolicy>");
    out
}

// ---------------------------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------------------------

/// ListObjectsV2: Name, Prefix, ContinuationToken?, NextContinuationToken?, StartAfter?,
/// KeyCount, MaxKeys, Delimiter?, EncodingType?, IsTruncated, Contents*, CommonPrefixes*.
pub fn list_objects_v2(r: &ListObjectsV2Result) -> String {
    let url = r.encoding_type_url;
    let mut out = start_doc(
        listing_capacity(&r.contents, &r.common_prefixes),
        "ListBucketResult",
    );
    text_el(&mut out, "Name", &r.name);
    key_el(&mut out, "Prefix", &r.prefix, url);
    if let Some(t) = &r.continuation_token {
        text_el(&mut out, "ContinuationToken", t);
    }
    if let Some(t) = &r.next_continuation_token {
        text_el(&mut out, "NextContinuationToken", t);
    }
    if let Some(s) = &r.start_after {
        key_el(&mut out, "StartAfter", s, url);
    }
    u64_el(&mut out, "KeyCount", r.key_count as u64);
    u64_el(&mut out, "MaxKeys", u64::from(r.max_keys));
    if let Some(d) = &r.delimiter {
        key_el(&mut out, "Delimiter", d, url);
    }
    encoding_type_el(&mut out, url);
    bool_el(&mut out, "IsTruncated", r.is_truncated);
    for e in &r.contents {
        out.push_str("<Contents>");
        object_fields(&mut out, e, url, false);
        out.push_str("</Contents>");
    }
    common_prefixes_el(&mut out, &r.common_prefixes, url);
    out.push_str("</ListBucketResult>");
    out
}

/// ListObjects (v1): Name, Prefix, Marker, NextMarker?, MaxKeys, Delimiter?, EncodingType?,
/// IsTruncated, Contents*, CommonPrefixes*.
pub fn list_objects_v1(r: &ListObjectsV1Result) -> String {
    let url = r.encoding_type_url;
    let mut out = start_doc(
        listing_capacity(&r.contents, &r.common_prefixes),
        "ListBucketResult",
    );
    text_el(&mut out, "Name", &r.name);
    key_el(&mut out, "Prefix", &r.prefix, url);
    key_el(&mut out, "Marker", &r.marker, url);
    if let Some(m) = &r.next_marker {
        key_el(&mut out, "NextMarker", m, url);
    }
    u64_el(&mut out, "MaxKeys", u64::from(r.max_keys));
    if let Some(d) = &r.delimiter {
        key_el(&mut out, "Delimiter", d, url);
    }
    encoding_type_el(&mut out, url);
    bool_el(&mut out, "IsTruncated", r.is_truncated);
    for e in &r.contents {
        out.push_str("<Contents>");
        object_fields(&mut out, e, url, false);
        out.push_str("</Contents>");
    }
    common_prefixes_el(&mut out, &r.common_prefixes, url);
    out.push_str("</ListBucketResult>");
    out
}

/// ListObjectVersions: Name, Prefix, KeyMarker, VersionIdMarker, NextKeyMarker?,
/// NextVersionIdMarker?, MaxKeys, Delimiter?, EncodingType?, IsTruncated, Version*,
/// CommonPrefixes*. Each Version: Key, VersionId (`null`), IsLatest (`true`), LastModified,
/// ETag, ChecksumAlgorithm?, Size, StorageClass, Owner?.
pub fn list_object_versions(r: &ListVersionsResult) -> String {
    let url = r.encoding_type_url;
    let cap = listing_capacity(&r.versions, &r.common_prefixes) + r.versions.len() * 48;
    let mut out = start_doc(cap, "ListVersionsResult");
    text_el(&mut out, "Name", &r.name);
    key_el(&mut out, "Prefix", &r.prefix, url);
    key_el(&mut out, "KeyMarker", &r.key_marker, url);
    text_el(&mut out, "VersionIdMarker", &r.version_id_marker);
    if let Some(m) = &r.next_key_marker {
        key_el(&mut out, "NextKeyMarker", m, url);
    }
    if let Some(m) = &r.next_version_id_marker {
        text_el(&mut out, "NextVersionIdMarker", m);
    }
    u64_el(&mut out, "MaxKeys", u64::from(r.max_keys));
    if let Some(d) = &r.delimiter {
        key_el(&mut out, "Delimiter", d, url);
    }
    encoding_type_el(&mut out, url);
    bool_el(&mut out, "IsTruncated", r.is_truncated);
    for e in &r.versions {
        let tag = if e.delete_marker {
            "DeleteMarker"
        } else {
            "Version"
        };
        out.push('<');
        out.push_str(tag);
        out.push('>');
        object_fields(&mut out, e, url, true);
        close(&mut out, tag);
    }
    common_prefixes_el(&mut out, &r.common_prefixes, url);
    out.push_str("</ListVersionsResult>");
    out
}

/// GetBucketVersioning: `VersioningConfiguration`, empty for a bucket never versioned.
pub fn versioning(status: Option<&str>) -> String {
    let mut out = start_doc(192, "VersioningConfiguration");
    if let Some(s) = status {
        text_el(&mut out, "Status", s);
    }
    close(&mut out, "VersioningConfiguration");
    out
}

// ---------------------------------------------------------------------------------------------
// Copy and multipart
// ---------------------------------------------------------------------------------------------

fn copy_result(root: &str, etag: &str, last_modified_ms: u64, checksums: &Checksums) -> String {
    let mut out = start_doc(384, root);
    time_el(&mut out, "LastModified", last_modified_ms);
    etag_el(&mut out, etag);
    checksums_el(&mut out, checksums);
    close(&mut out, root);
    out
}

/// CopyObject: `CopyObjectResult` with LastModified, ETag and the checksums present.
pub fn copy_object_result(etag: &str, last_modified_ms: u64, checksums: &Checksums) -> String {
    copy_result("CopyObjectResult", etag, last_modified_ms, checksums)
}

/// UploadPartCopy: `CopyPartResult` with LastModified, ETag and the checksums present.
pub fn copy_part_result(etag: &str, last_modified_ms: u64, checksums: &Checksums) -> String {
    copy_result("CopyPartResult", etag, last_modified_ms, checksums)
}

/// CreateMultipartUpload: `InitiateMultipartUploadResult` with Bucket, Key, UploadId.
pub fn initiate_multipart(bucket: &str, key: &str, upload_id: &str) -> String {
    let mut out = start_doc(
        256 + bucket.len() + key.len() + upload_id.len(),
        "InitiateMultipartUploadResult",
    );
    text_el(&mut out, "Bucket", bucket);
    lossy_text_el(&mut out, "Key", key);
    text_el(&mut out, "UploadId", upload_id);
    out.push_str("</InitiateMultipartUploadResult>");
    out
}

/// CompleteMultipartUpload: `CompleteMultipartUploadResult` with Location, Bucket, Key, ETag
/// (e.g. `hex-N`) and the checksums present.
pub fn complete_multipart(
    location: &str,
    bucket: &str,
    key: &str,
    etag: &str,
    checksums: &Checksums,
    checksum_type: Option<&str>,
) -> String {
    let cap = 512 + location.len() + bucket.len() + key.len();
    let mut out = start_doc(cap, "CompleteMultipartUploadResult");
    text_el(&mut out, "Location", location);
    text_el(&mut out, "Bucket", bucket);
    lossy_text_el(&mut out, "Key", key);
    etag_el(&mut out, etag);
    checksums_el(&mut out, checksums);
    if let Some(t) = checksum_type {
        text_el(&mut out, "ChecksumType", t);
    }
    out.push_str("</CompleteMultipartUploadResult>");
    out
}

/// GetObjectAttributes: what `x-amz-object-attributes` asked for (None = not asked).
#[derive(Debug, Clone, Default)]
pub struct ObjectAttributes {
    /// Bare, and rendered bare: this document's ETag carries no quotes.
    pub etag: Option<String>,
    pub checksum: Option<(Checksums, String)>,
    pub parts: Option<ObjectPartsPage>,
    pub storage_class: Option<String>,
    pub object_size: Option<u64>,
}

/// One page of a multipart object's parts (numbered 1..=parts_count).
#[derive(Debug, Clone, Default)]
pub struct ObjectPartsPage {
    pub parts_count: u32,
    pub part_number_marker: u32,
    pub next_part_number_marker: Option<u32>,
    pub max_parts: u32,
    pub is_truncated: bool,
    /// (part number, size).
    pub parts: Vec<(u32, u64)>,
}

/// GetObjectAttributes: `GetObjectAttributesResponse` with ETag?, Checksum?, ObjectParts?,
/// StorageClass?, ObjectSize?, in AWS's order.
pub fn object_attributes(a: &ObjectAttributes) -> String {
    let n = a.parts.as_ref().map(|p| p.parts.len()).unwrap_or(0);
    let mut out = start_doc(512 + n * 80, "GetObjectAttributesResponse");
    if let Some(e) = &a.etag {
        text_el(&mut out, "ETag", e.trim_matches('"'));
    }
    if let Some((c, t)) = &a.checksum {
        open(&mut out, "Checksum");
        checksums_el(&mut out, c);
        text_el(&mut out, "ChecksumType", t);
        close(&mut out, "Checksum");
    }
    if let Some(p) = &a.parts {
        open(&mut out, "ObjectParts");
        bool_el(&mut out, "IsTruncated", p.is_truncated);
        u64_el(&mut out, "MaxParts", u64::from(p.max_parts));
        if let Some(m) = p.next_part_number_marker {
            u64_el(&mut out, "NextPartNumberMarker", u64::from(m));
        }
        u64_el(
            &mut out,
            "PartNumberMarker",
            u64::from(p.part_number_marker),
        );
        for (number, size) in &p.parts {
            open(&mut out, "Part");
            u64_el(&mut out, "PartNumber", u64::from(*number));
            u64_el(&mut out, "Size", *size);
            close(&mut out, "Part");
        }
        u64_el(&mut out, "PartsCount", u64::from(p.parts_count));
        close(&mut out, "ObjectParts");
    }
    if let Some(sc) = &a.storage_class {
        text_el(&mut out, "StorageClass", sc);
    }
    if let Some(size) = a.object_size {
        u64_el(&mut out, "ObjectSize", size);
    }
    out.push_str("</GetObjectAttributesResponse>");
    out
}

/// ListParts: Bucket, Key, UploadId, PartNumberMarker, NextPartNumberMarker?, MaxParts,
/// IsTruncated, Part* {PartNumber, LastModified, ETag, checksums, Size}, Initiator, Owner,
/// StorageClass, ChecksumAlgorithm?, ChecksumType?.
pub fn list_parts(r: &ListPartsResult) -> String {
    let cap = 768 + r.key.len() + r.upload_id.len() + r.parts.len() * 200;
    let mut out = start_doc(cap, "ListPartsResult");
    text_el(&mut out, "Bucket", &r.bucket);
    text_el(&mut out, "Key", &r.key);
    text_el(&mut out, "UploadId", &r.upload_id);
    u64_el(
        &mut out,
        "PartNumberMarker",
        u64::from(r.part_number_marker),
    );
    if let Some(n) = r.next_part_number_marker {
        u64_el(&mut out, "NextPartNumberMarker", u64::from(n));
    }
    u64_el(&mut out, "MaxParts", u64::from(r.max_parts));
    bool_el(&mut out, "IsTruncated", r.is_truncated);
    for p in &r.parts {
        out.push_str("<Part>");
        u64_el(&mut out, "PartNumber", u64::from(p.part_number));
        time_el(&mut out, "LastModified", p.last_modified_ms);
        etag_el(&mut out, &p.etag);
        checksums_el(&mut out, &p.checksums);
        u64_el(&mut out, "Size", p.size);
        out.push_str("</Part>");
    }
    owner_el(&mut out, "Initiator", &r.initiator);
    owner_el(&mut out, "Owner", &r.owner);
    storage_class_el(&mut out, &r.storage_class);
    if let Some(alg) = &r.checksum_algorithm {
        text_el(&mut out, "ChecksumAlgorithm", alg);
    }
    if let Some(t) = &r.checksum_type {
        text_el(&mut out, "ChecksumType", t);
    }
    out.push_str("</ListPartsResult>");
    out
}

/// ListMultipartUploads: Bucket, KeyMarker, UploadIdMarker, NextKeyMarker?,
/// NextUploadIdMarker?, Delimiter?, Prefix?, MaxUploads, EncodingType?, IsTruncated,
/// Upload* {Key, UploadId, Initiator, Owner, StorageClass, Initiated, ChecksumAlgorithm?},
/// CommonPrefixes*.
pub fn list_multipart_uploads(r: &ListUploadsResult) -> String {
    let url = r.encoding_type_url;
    let cap = 768
        + r.uploads
            .iter()
            .map(|u| 400 + u.key.len() + u.upload_id.len())
            .sum::<usize>()
        + r.common_prefixes
            .iter()
            .map(|p| 40 + p.len())
            .sum::<usize>();
    let mut out = start_doc(cap, "ListMultipartUploadsResult");
    text_el(&mut out, "Bucket", &r.bucket);
    key_el(&mut out, "KeyMarker", &r.key_marker, url);
    text_el(&mut out, "UploadIdMarker", &r.upload_id_marker);
    if let Some(m) = &r.next_key_marker {
        key_el(&mut out, "NextKeyMarker", m, url);
    }
    if let Some(m) = &r.next_upload_id_marker {
        text_el(&mut out, "NextUploadIdMarker", m);
    }
    if let Some(d) = &r.delimiter {
        key_el(&mut out, "Delimiter", d, url);
    }
    if let Some(p) = &r.prefix {
        key_el(&mut out, "Prefix", p, url);
    }
    u64_el(&mut out, "MaxUploads", u64::from(r.max_uploads));
    encoding_type_el(&mut out, url);
    bool_el(&mut out, "IsTruncated", r.is_truncated);
    for u in &r.uploads {
        out.push_str("<Upload>");
        key_el(&mut out, "Key", &u.key, url);
        text_el(&mut out, "UploadId", &u.upload_id);
        owner_el(&mut out, "Initiator", &u.initiator);
        owner_el(&mut out, "Owner", &u.owner);
        storage_class_el(&mut out, &u.storage_class);
        time_el(&mut out, "Initiated", u.initiated_ms);
        if let Some(alg) = &u.checksum_algorithm {
            text_el(&mut out, "ChecksumAlgorithm", alg);
        }
        if let Some(t) = &u.checksum_type {
            text_el(&mut out, "ChecksumType", t);
        }
        out.push_str("</Upload>");
    }
    common_prefixes_el(&mut out, &r.common_prefixes, url);
    out.push_str("</ListMultipartUploadsResult>");
    out
}

/// DeleteObjects: `DeleteResult` with a `Deleted{Key}` per deleted entry (the caller passes
/// none in quiet mode) and an `Error{Key, Code, Message}` per failure. With
/// `encoding_type_url` the keys are percent-encoded.
pub fn delete_result(
    deleted: &[DeletedEntry],
    errors: &[DeleteErrorEntry],
    encoding_type_url: bool,
) -> String {
    let cap = 256
        + deleted.iter().map(|d| 32 + d.key.len()).sum::<usize>()
        + errors
            .iter()
            .map(|e| 64 + e.key.len() + e.code.len() + e.message.len())
            .sum::<usize>();
    let mut out = start_doc(cap, "DeleteResult");
    for d in deleted {
        out.push_str("<Deleted>");
        key_el(&mut out, "Key", &d.key, encoding_type_url);
        if let Some(v) = &d.version_id {
            text_el(&mut out, "VersionId", v);
        }
        if let Some(v) = &d.delete_marker_version_id {
            bool_el(&mut out, "DeleteMarker", true);
            text_el(&mut out, "DeleteMarkerVersionId", v);
        }
        out.push_str("</Deleted>");
    }
    for e in errors {
        out.push_str("<Error>");
        key_el(&mut out, "Key", &e.key, encoding_type_url);
        text_el(&mut out, "Code", &e.code);
        text_el(&mut out, "Message", &e.message);
        out.push_str("</Error>");
    }
    out.push_str("</DeleteResult>");
    out
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    /// Checks the document is well-formed per quick-xml, starts with the declaration and has
    /// the S3 namespace on its root; returns the element names in document order.
    fn element_names(xml: &str) -> Vec<String> {
        assert!(xml.starts_with(HEAD), "{xml}");
        let mut reader = Reader::from_str(xml);
        let mut names = Vec::new();
        let mut depth = 0usize;
        loop {
            let (e, empty) = match reader.read_event().expect("well-formed") {
                Event::Start(e) => (e, false),
                Event::Empty(e) => (e, true),
                Event::End(_) => {
                    depth -= 1;
                    continue;
                }
                Event::Eof => break,
                _ => continue,
            };
            if depth == 0 {
                let ns = e
                    .try_get_attribute("xmlns")
                    .unwrap()
                    .expect("xmlns on root");
                assert_eq!(ns.unescape_value().unwrap(), S3_NS);
            }
            names.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap());
            if !empty {
                depth += 1;
            }
        }
        assert_eq!(depth, 0);
        names
    }

    fn owner() -> Owner {
        Owner {
            id: "abc123".into(),
            display_name: Some("me".into()),
        }
    }

    fn entry(key: &str) -> ObjectEntry {
        ObjectEntry::new(
            key,
            1_255_369_830_000,
            "fba9dede5f27731c9771645a39863328",
            434_234,
        )
    }

    #[test]
    fn list_buckets_shape() {
        let xml = list_buckets(
            &owner(),
            &[
                BucketEntry {
                    name: "a".into(),
                    creation_ms: 0,
                    region: None,
                },
                BucketEntry {
                    name: "b".into(),
                    creation_ms: 1_255_369_830_123,
                    region: None,
                },
            ],
            None,
            None,
        );
        assert_eq!(
            xml,
            format!("{HEAD}<ListAllMyBucketsResult xmlns=\"{S3_NS}\"><Owner><ID>abc123</ID><DisplayName>me</DisplayName></Owner><Buckets><Bucket><Name>a</Name><CreationDate>1970-01-01T00:00:00.000Z</CreationDate></Bucket><Bucket><Name>b</Name><CreationDate>2009-10-12T17:50:30.123Z</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>")
        );
        element_names(&xml);
        let empty = list_buckets(
            &Owner {
                id: "x".into(),
                display_name: None,
            },
            &[],
            None,
            None,
        );
        assert!(
            empty.contains("<Owner><ID>x</ID></Owner><Buckets></Buckets>"),
            "{empty}"
        );
        let paged = list_buckets(
            &owner(),
            &[BucketEntry {
                name: "c".into(),
                creation_ms: 0,
                region: Some("us-east-1".into()),
            }],
            Some("tok"),
            Some("c"),
        );
        assert!(
            paged.contains("<BucketRegion>us-east-1</BucketRegion></Bucket></Buckets><ContinuationToken>tok</ContinuationToken><Prefix>c</Prefix></ListAllMyBucketsResult>"),
            "{paged}"
        );
    }

    #[test]
    fn location_shapes() {
        let ns = S3_NS;
        assert_eq!(
            location(None),
            format!("{HEAD}<LocationConstraint xmlns=\"{ns}\"/>")
        );
        assert_eq!(
            location(Some("us-east-1")),
            format!("{HEAD}<LocationConstraint xmlns=\"{ns}\"/>")
        );
        assert_eq!(
            location(Some("")),
            format!("{HEAD}<LocationConstraint xmlns=\"{ns}\"/>")
        );
        assert_eq!(
            location(Some("eu-west-1")),
            format!("{HEAD}<LocationConstraint xmlns=\"{ns}\">eu-west-1</LocationConstraint>")
        );
    }

    #[test]
    fn acl_renders_and_round_trips() {
        let acp = AccessControlPolicy {
            owner: Some(owner()),
            grants: vec![
                Grant {
                    grantee: Grantee::CanonicalUser {
                        id: "abc123".into(),
                        display_name: Some("m&e".into()),
                    },
                    permission: Permission::FullControl,
                },
                Grant {
                    grantee: Grantee::CanonicalUser {
                        id: "other".into(),
                        display_name: None,
                    },
                    permission: Permission::ReadAcp,
                },
                Grant {
                    grantee: Grantee::Group(
                        "http://acs.amazonaws.com/groups/global/AllUsers".into(),
                    ),
                    permission: Permission::Read,
                },
                Grant {
                    grantee: Grantee::Email("a<b>@example.com".into()),
                    permission: Permission::Write,
                },
                Grant {
                    grantee: Grantee::Group(
                        "http://acs.amazonaws.com/groups/s3/LogDelivery".into(),
                    ),
                    permission: Permission::WriteAcp,
                },
            ],
        };
        let xml = access_control_policy(&acp);
        assert!(xml.contains(
            "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\"><ID>abc123</ID><DisplayName>m&amp;e</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant>"
        ), "{xml}");
        assert!(xml.contains("xsi:type=\"Group\"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission>"));
        assert!(xml.contains("xsi:type=\"AmazonCustomerByEmail\"><EmailAddress>a&lt;b&gt;@example.com</EmailAddress>"));
        element_names(&xml);
        assert_eq!(parse_access_control_policy(xml.as_bytes()).unwrap(), acp);

        let bare = AccessControlPolicy::default();
        let xml = access_control_policy(&bare);
        assert!(xml.ends_with("<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><AccessControlList></AccessControlList></AccessControlPolicy>"));
        assert_eq!(parse_access_control_policy(xml.as_bytes()).unwrap(), bare);
    }

    #[test]
    fn list_v2_shape_and_order() {
        let mut with_owner = entry("photos/2006/January/sample.jpg");
        with_owner.owner = Some(owner());
        with_owner.checksum_algorithm = Some("CRC32".into());
        let r = ListObjectsV2Result {
            name: "bucket".into(),
            prefix: "photos/".into(),
            delimiter: Some("/".into()),
            max_keys: 1000,
            encoding_type_url: false,
            is_truncated: true,
            key_count: 3,
            continuation_token: Some("tok+/=".into()),
            next_continuation_token: Some("next".into()),
            start_after: Some("a".into()),
            contents: vec![entry("photos/a&b.jpg"), with_owner],
            common_prefixes: vec!["photos/2006/".into()],
        };
        let xml = list_objects_v2(&r);
        let names = element_names(&xml);
        let top: Vec<&str> = names.iter().map(String::as_str).take(11).collect();
        assert_eq!(
            top,
            [
                "ListBucketResult",
                "Name",
                "Prefix",
                "ContinuationToken",
                "NextContinuationToken",
                "StartAfter",
                "KeyCount",
                "MaxKeys",
                "Delimiter",
                "IsTruncated",
                "Contents"
            ]
        );
        assert!(xml.contains(
            "<Contents><Key>photos/a&amp;b.jpg</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass></Contents>"
        ), "{xml}");
        assert!(xml.contains(
            "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><ChecksumAlgorithm>CRC32</ChecksumAlgorithm><Size>434234</Size><Owner><ID>abc123</ID><DisplayName>me</DisplayName></Owner><StorageClass>STANDARD</StorageClass>"
        ), "{xml}");
        assert!(xml.contains("<ContinuationToken>tok+/=</ContinuationToken>"));
        assert!(xml.ends_with(
            "<CommonPrefixes><Prefix>photos/2006/</Prefix></CommonPrefixes></ListBucketResult>"
        ));
        assert!(!xml.contains("EncodingType"));

        let minimal = list_objects_v2(&ListObjectsV2Result {
            name: "b".into(),
            max_keys: 1000,
            ..Default::default()
        });
        assert_eq!(
            minimal,
            format!("{HEAD}<ListBucketResult xmlns=\"{S3_NS}\"><Name>b</Name><Prefix></Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>")
        );
    }

    #[test]
    fn list_v2_url_encoding() {
        let r = ListObjectsV2Result {
            name: "bucket".into(),
            prefix: "dir one/".into(),
            delimiter: Some("/".into()),
            max_keys: 2,
            encoding_type_url: true,
            key_count: 2,
            start_after: Some("a+b".into()),
            continuation_token: Some("t&k".into()),
            contents: vec![entry("dir one/ctl\u{1}\u{7f}é<&>'\"~-_.x")],
            common_prefixes: vec!["dir one/sub dir/".into()],
            ..Default::default()
        };
        let xml = list_objects_v2(&r);
        element_names(&xml);
        assert!(xml.contains("<Prefix>dir%20one/</Prefix>"), "{xml}");
        assert!(xml.contains("<StartAfter>a%2Bb</StartAfter>"));
        assert!(xml.contains("<ContinuationToken>t&amp;k</ContinuationToken>"));
        assert!(
            xml.contains("<Delimiter>/</Delimiter><EncodingType>url</EncodingType><IsTruncated>")
        );
        assert!(
            xml.contains("<Key>dir%20one/ctl%01%7F%C3%A9%3C%26%3E%27%22~-_.x</Key>"),
            "{xml}"
        );
        assert!(
            xml.contains("<CommonPrefixes><Prefix>dir%20one/sub%20dir/</Prefix></CommonPrefixes>")
        );
    }

    #[test]
    fn control_characters_without_url_encoding_are_references() {
        let r = ListObjectsV2Result {
            name: "b".into(),
            contents: vec![entry("a\u{1}b\rc\td\ne")],
            ..Default::default()
        };
        let xml = list_objects_v2(&r);
        assert!(xml.contains("<Key>a&#x1;b&#xD;c\td\ne</Key>"), "{xml}");
    }

    #[test]
    fn xml_1_0_safety_of_rendered_keys() {
        let doc = |key: &str, url: bool| {
            list_objects_v2(&ListObjectsV2Result {
                name: "b".into(),
                contents: vec![entry(key)],
                encoding_type_url: url,
                ..Default::default()
            })
        };
        for ok in ["plain", "tab\there", "cr\rlf\n", "amp&lt<", "\u{FFFD}"] {
            assert!(xml_1_0_safe(&doc(ok, false)), "{ok:?}");
        }
        for bad in [
            "nul\0",
            "a\u{1}b",
            "\u{B}",
            "\u{1F}",
            "x\u{FFFE}",
            "\u{FFFF}",
        ] {
            assert!(!xml_1_0_safe(&doc(bad, false)), "{bad:?}");
            assert!(xml_1_0_safe(&doc(bad, true)), "{bad:?}");
        }
    }

    #[test]
    fn list_v1_shape_and_order() {
        let mut e = entry("k y");
        e.owner = Some(owner());
        let r = ListObjectsV1Result {
            name: "bucket".into(),
            prefix: String::new(),
            marker: "m a".into(),
            next_marker: Some("n m".into()),
            delimiter: Some(" ".into()),
            max_keys: 1000,
            encoding_type_url: true,
            is_truncated: true,
            contents: vec![e],
            common_prefixes: vec!["p ".into()],
        };
        let xml = list_objects_v1(&r);
        let names = element_names(&xml);
        let top: Vec<&str> = names.iter().map(String::as_str).take(10).collect();
        assert_eq!(
            top,
            [
                "ListBucketResult",
                "Name",
                "Prefix",
                "Marker",
                "NextMarker",
                "MaxKeys",
                "Delimiter",
                "EncodingType",
                "IsTruncated",
                "Contents"
            ]
        );
        assert!(xml.contains("<Prefix></Prefix><Marker>m%20a</Marker><NextMarker>n%20m</NextMarker><MaxKeys>1000</MaxKeys><Delimiter>%20</Delimiter>"), "{xml}");
        assert!(xml.contains("<Key>k%20y</Key>"));
        assert!(xml.contains("<Size>434234</Size><Owner><ID>abc123</ID><DisplayName>me</DisplayName></Owner><StorageClass>STANDARD</StorageClass>"));
        assert!(xml.contains("<CommonPrefixes><Prefix>p%20</Prefix></CommonPrefixes>"));

        let minimal = list_objects_v1(&ListObjectsV1Result {
            name: "b".into(),
            max_keys: 5,
            ..Default::default()
        });
        assert!(minimal.contains("<Name>b</Name><Prefix></Prefix><Marker></Marker><MaxKeys>5</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>"));
    }

    #[test]
    fn list_versions_shape() {
        let mut e = entry("a b");
        e.owner = Some(owner());
        let r = ListVersionsResult {
            name: "bucket".into(),
            prefix: "a".into(),
            key_marker: String::new(),
            version_id_marker: String::new(),
            next_key_marker: Some("a b".into()),
            next_version_id_marker: Some("null".into()),
            delimiter: None,
            max_keys: 1,
            encoding_type_url: false,
            is_truncated: true,
            versions: vec![e],
            common_prefixes: vec![],
        };
        let xml = list_object_versions(&r);
        element_names(&xml);
        assert!(xml.contains(&format!("<ListVersionsResult xmlns=\"{S3_NS}\"><Name>bucket</Name><Prefix>a</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><NextKeyMarker>a b</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker><MaxKeys>1</MaxKeys><IsTruncated>true</IsTruncated>")), "{xml}");
        assert!(xml.contains("<Version><Key>a b</Key><VersionId>null</VersionId><IsLatest>true</IsLatest><LastModified>2009-10-12T17:50:30.000Z</LastModified><ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size><StorageClass>STANDARD</StorageClass><Owner><ID>abc123</ID><DisplayName>me</DisplayName></Owner></Version></ListVersionsResult>"), "{xml}");
    }

    #[test]
    fn copy_and_multipart_results() {
        let sums = Checksums {
            crc32: Some("AAAAAA==".into()),
            sha256: Some("x/y+z=".into()),
            ..Default::default()
        };
        let xml = copy_object_result(
            "9b2cf535f27731c974343645a3985328",
            1_256_769_120_000,
            &Checksums::default(),
        );
        assert_eq!(xml, format!("{HEAD}<CopyObjectResult xmlns=\"{S3_NS}\"><LastModified>2009-10-28T22:32:00.000Z</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag></CopyObjectResult>"));
        let xml = copy_part_result("\"abc\"", 0, &sums);
        assert_eq!(xml, format!("{HEAD}<CopyPartResult xmlns=\"{S3_NS}\"><LastModified>1970-01-01T00:00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ChecksumSHA256>x/y+z=</ChecksumSHA256></CopyPartResult>"));

        let xml = initiate_multipart("bucket", "a&b", "VXBsb2FkIElE");
        assert_eq!(xml, format!("{HEAD}<InitiateMultipartUploadResult xmlns=\"{S3_NS}\"><Bucket>bucket</Bucket><Key>a&amp;b</Key><UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>"));

        let all = Checksums {
            crc32: Some("1".into()),
            crc32c: Some("2".into()),
            crc64nvme: Some("3".into()),
            sha1: Some("4".into()),
            sha256: Some("5".into()),
        };
        let xml = complete_multipart(
            "http://host/bucket/a%26b",
            "bucket",
            "a&b",
            "3858f62230ac3c915f300c664312c11f-9",
            &all,
            Some("COMPOSITE"),
        );
        assert_eq!(xml, format!("{HEAD}<CompleteMultipartUploadResult xmlns=\"{S3_NS}\"><Location>http://host/bucket/a%26b</Location><Bucket>bucket</Bucket><Key>a&amp;b</Key><ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag><ChecksumCRC32>1</ChecksumCRC32><ChecksumCRC32C>2</ChecksumCRC32C><ChecksumCRC64NVME>3</ChecksumCRC64NVME><ChecksumSHA1>4</ChecksumSHA1><ChecksumSHA256>5</ChecksumSHA256><ChecksumType>COMPOSITE</ChecksumType></CompleteMultipartUploadResult>"));
        element_names(&xml);
    }

    #[test]
    fn object_attributes_shape() {
        let a = ObjectAttributes {
            etag: Some("abc-2".into()),
            checksum: Some((
                Checksums {
                    crc32: Some("AAAAAA==".into()),
                    ..Default::default()
                },
                "FULL_OBJECT".into(),
            )),
            parts: Some(ObjectPartsPage {
                parts_count: 2,
                part_number_marker: 1,
                next_part_number_marker: Some(2),
                max_parts: 1,
                is_truncated: false,
                parts: vec![(2, 7)],
            }),
            storage_class: Some("STANDARD".into()),
            object_size: Some(12),
        };
        let xml = object_attributes(&a);
        element_names(&xml);
        assert_eq!(xml, format!("{HEAD}<GetObjectAttributesResponse xmlns=\"{S3_NS}\"><ETag>abc-2</ETag><Checksum><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ChecksumType>FULL_OBJECT</ChecksumType></Checksum><ObjectParts><IsTruncated>false</IsTruncated><MaxParts>1</MaxParts><NextPartNumberMarker>2</NextPartNumberMarker><PartNumberMarker>1</PartNumberMarker><Part><PartNumber>2</PartNumber><Size>7</Size></Part><PartsCount>2</PartsCount></ObjectParts><StorageClass>STANDARD</StorageClass><ObjectSize>12</ObjectSize></GetObjectAttributesResponse>"));
        let only_size = object_attributes(&ObjectAttributes {
            object_size: Some(0),
            ..Default::default()
        });
        assert!(only_size.ends_with("<ObjectSize>0</ObjectSize></GetObjectAttributesResponse>"));
    }

    #[test]
    fn list_parts_shape() {
        let r = ListPartsResult {
            bucket: "bucket".into(),
            key: "key".into(),
            upload_id: "up".into(),
            part_number_marker: 1,
            next_part_number_marker: Some(3),
            max_parts: 2,
            is_truncated: true,
            parts: vec![PartEntry {
                part_number: 2,
                last_modified_ms: 1_289_422_114_000,
                etag: "7778aef83f66abc1fa1e8477f296d394".into(),
                size: 10_485_760,
                checksums: Checksums {
                    crc32c: Some("c==".into()),
                    ..Default::default()
                },
            }],
            initiator: Owner {
                id: "arn:aws:iam::1:user/u".into(),
                display_name: Some("u".into()),
            },
            owner: owner(),
            storage_class: Default::default(),
            checksum_algorithm: Some("CRC32C".into()),
            checksum_type: Some("COMPOSITE".into()),
        };
        let xml = list_parts(&r);
        element_names(&xml);
        assert_eq!(xml, format!("{HEAD}<ListPartsResult xmlns=\"{S3_NS}\"><Bucket>bucket</Bucket><Key>key</Key><UploadId>up</UploadId><PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>3</NextPartNumberMarker><MaxParts>2</MaxParts><IsTruncated>true</IsTruncated><Part><PartNumber>2</PartNumber><LastModified>2010-11-10T20:48:34.000Z</LastModified><ETag>&quot;7778aef83f66abc1fa1e8477f296d394&quot;</ETag><ChecksumCRC32C>c==</ChecksumCRC32C><Size>10485760</Size></Part><Initiator><ID>arn:aws:iam::1:user/u</ID><DisplayName>u</DisplayName></Initiator><Owner><ID>abc123</ID><DisplayName>me</DisplayName></Owner><StorageClass>STANDARD</StorageClass><ChecksumAlgorithm>CRC32C</ChecksumAlgorithm><ChecksumType>COMPOSITE</ChecksumType></ListPartsResult>"));
    }

    #[test]
    fn list_uploads_shape() {
        let r = ListUploadsResult {
            bucket: "bucket".into(),
            key_marker: String::new(),
            upload_id_marker: String::new(),
            next_key_marker: Some("my movie.m2ts".into()),
            next_upload_id_marker: Some("YW55".into()),
            prefix: Some("my ".into()),
            delimiter: Some("/".into()),
            max_uploads: 3,
            encoding_type_url: true,
            is_truncated: true,
            uploads: vec![UploadEntry {
                key: "my divisor".into(),
                upload_id: "XMg".into(),
                initiator: owner(),
                owner: owner(),
                storage_class: "STANDARD".into(),
                initiated_ms: 1_289_422_113_000,
                checksum_algorithm: None,
                checksum_type: None,
            }],
            common_prefixes: vec!["my dir/".into()],
        };
        let xml = list_multipart_uploads(&r);
        element_names(&xml);
        assert!(xml.contains(&format!("<ListMultipartUploadsResult xmlns=\"{S3_NS}\"><Bucket>bucket</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker>my%20movie.m2ts</NextKeyMarker><NextUploadIdMarker>YW55</NextUploadIdMarker><Delimiter>/</Delimiter><Prefix>my%20</Prefix><MaxUploads>3</MaxUploads><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><Upload><Key>my%20divisor</Key><UploadId>XMg</UploadId><Initiator><ID>abc123</ID><DisplayName>me</DisplayName></Initiator><Owner><ID>abc123</ID><DisplayName>me</DisplayName></Owner><StorageClass>STANDARD</StorageClass><Initiated>2010-11-10T20:48:33.000Z</Initiated></Upload><CommonPrefixes><Prefix>my%20dir/</Prefix></CommonPrefixes></ListMultipartUploadsResult>")), "{xml}");
    }

    #[test]
    fn delete_result_shapes() {
        let deleted = [
            DeletedEntry {
                key: "a b".into(),
                ..Default::default()
            },
            DeletedEntry {
                key: "c<".into(),
                ..Default::default()
            },
        ];
        let errors = [DeleteErrorEntry::from_error(
            "d",
            &crate::s3::error::S3Error::new(crate::s3::error::ErrorCode::AccessDenied),
        )];
        let xml = delete_result(&deleted, &errors, false);
        assert_eq!(xml, format!("{HEAD}<DeleteResult xmlns=\"{S3_NS}\"><Deleted><Key>a b</Key></Deleted><Deleted><Key>c&lt;</Key></Deleted><Error><Key>d</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error></DeleteResult>"));
        let xml = delete_result(&deleted, &[], true);
        assert!(xml.contains(
            "<Deleted><Key>a%20b</Key></Deleted><Deleted><Key>c%3C</Key></Deleted></DeleteResult>"
        ));
        assert!(delete_result(&[], &[], false).ends_with(
            "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"></DeleteResult>"
        ));
    }

    /// Keys rendered in a listing come back identical through a DeleteObjects body built from
    /// the same escaping (the path a client takes to delete what it listed), except keys with
    /// a control character XML 1.0 forbids: no XML 1.0 body can carry one, so such a body is
    /// MalformedXML; those keys are deleted with DeleteObject.
    #[test]
    fn escaped_keys_round_trip_through_delete_parser() {
        let body_of = |keys: &[&str]| {
            let mut body = String::from("<Delete>");
            for k in keys {
                body.push_str("<Object><Key>");
                push_text(&mut body, k);
                body.push_str("</Key></Object>");
            }
            body.push_str("</Delete>");
            body
        };
        let keys = [
            "plain",
            "a&b<c>\"d'e",
            "cr\rlf\ntab\t",
            "  lead and trail  ",
            "ünï😀",
        ];
        let req = parse_delete_objects(body_of(&keys).as_bytes()).unwrap();
        let got: Vec<&str> = req.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(got, keys);
        for ctl in ["ctl\u{1}x", "ctl\u{1f}x", "nul\0"] {
            let err = parse_delete_objects(body_of(&["plain", ctl]).as_bytes()).unwrap_err();
            assert_eq!(
                err.code,
                crate::s3::error::ErrorCode::MalformedXML,
                "{ctl:?}"
            );
        }
    }

    #[test]
    fn thousand_key_listing_is_one_allocation() {
        let contents: Vec<ObjectEntry> = (0..1000)
            .map(|i| entry(&format!("some/prefix/key-{i:06}.dat")))
            .collect();
        let r = ListObjectsV2Result {
            name: "bucket".into(),
            max_keys: 1000,
            key_count: 1000,
            contents,
            ..Default::default()
        };
        let cap = listing_capacity(&r.contents, &r.common_prefixes);
        let xml = list_objects_v2(&r);
        assert!(xml.len() <= cap, "{} > {}", xml.len(), cap);
        assert_eq!(xml.matches("<Contents>").count(), 1000);
        let start = std::time::Instant::now();
        for _ in 0..10 {
            std::hint::black_box(list_objects_v2(std::hint::black_box(&r)));
        }
        // Generous even for an unoptimised build; a release build takes tens of microseconds.
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
    }
}

//! Request-body parsers: a bounded, non-recursive event driver over quick-xml, and one small
//! state machine per body type.
//!
//! The driver hands each parser the path of local element names from the root, on element open
//! and on close (with the element's text when it had no child elements). It enforces the limits
//! (size, depth, element count), rejects DOCTYPEs (so no entity is ever declared, let alone
//! expanded: undeclared entity references are errors), invalid UTF-8, unclosed or mismatched
//! tags, several roots and text outside the root, and characters XML 1.0 does not allow
//! (see [`is_xml_char`]), whether raw or written as character references.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::{
    AccessControlPolicy, CompletedPart, DeleteRequest, Grant, Grantee, ObjectIdentifier, Owner,
    Permission, MAX_ACL_GRANTS, MAX_DELETE_OBJECTS, MAX_PARTS, MAX_SMALL_XML_BODY_BYTES,
    MAX_XML_BODY_BYTES, MAX_XML_DEPTH, MAX_XML_ELEMENTS,
};
use crate::s3::error::{ErrorCode, S3Error, S3Result};

mod lock;
mod tagging;
pub use lock::{
    parse_legal_hold, parse_object_lock_configuration, parse_retention, DefaultRetentionDoc,
    LockConfigurationDoc, RetentionDoc,
};
mod access;
pub use access::{parse_ownership_controls, parse_public_access_block};
mod lifecycle;
pub use lifecycle::{parse_lifecycle, LIFECYCLE_BODY_BYTES_MAX};
mod cors;
pub use cors::{parse_cors_configuration, CORS_RULES_PARSED_MAX};
pub use tagging::{parse_tagging, TAGGING_TAGS_MAX};

/// Why a parse failed: the body is malformed (reported with the parser's own code:
/// MalformedXML or MalformedACLError), or a specific error.
enum Fail {
    Malformed,
    Error(S3Error),
}

type PResult<T> = Result<T, Fail>;

impl Fail {
    fn into_s3(self, malformed: ErrorCode) -> S3Error {
        match self {
            Fail::Malformed => S3Error::new(malformed),
            Fail::Error(e) => e,
        }
    }
}

fn malformed<E>(_: E) -> Fail {
    Fail::Malformed
}

/// One body type's state machine. `path` holds the local names from the root to the element
/// concerned, inclusive.
trait Handler {
    fn open(&mut self, path: &[String], start: &BytesStart<'_>) -> PResult<()>;
    /// `text` is the element's text when it had no child elements, `None` otherwise.
    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()>;
}

struct Frame {
    text: String,
    has_children: bool,
}

fn is_xml_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(is_xml_ws)
}

fn is_blank(s: &str) -> bool {
    s.chars().all(is_xml_ws)
}

/// A character XML 1.0 allows anywhere in a document (production [2] `Char`):
/// `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`. Neither raw nor as
/// a character reference (`&#0;`, `&#x1;`, `&#xFFFE;`) may a document carry anything else
/// (well-formedness constraint "Legal Character"), so such a body is malformed, even where
/// the value is legal in S3 (a key may hold any UTF-8, controls included): what XML cannot
/// carry, no response could render back either.
fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// Fails unless every character of `s` is an XML 1.0 [`Char`](is_xml_char).
fn check_chars(s: &str) -> PResult<()> {
    if s.chars().all(is_xml_char) {
        Ok(())
    } else {
        Err(Fail::Malformed)
    }
}

/// Passes a resolved value on, unless resolving references brought in a character XML 1.0
/// forbids. Only an owned value can hold one: a borrowed one is raw text of the document,
/// checked as a whole.
fn check_unescaped(s: Cow<'_, str>) -> PResult<Cow<'_, str>> {
    if let Cow::Owned(owned) = &s {
        check_chars(owned)?;
    }
    Ok(s)
}

/// Runs `h` over every element of `body`.
fn drive<H: Handler>(body: &[u8], max_bytes: usize, h: &mut H) -> PResult<()> {
    if body.len() > max_bytes {
        return Err(Fail::Malformed);
    }
    let src = std::str::from_utf8(body).map_err(malformed)?;
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    // Raw characters, everywhere: text, CDATA, attribute values, names, comments, PIs.
    check_chars(src)?;
    let mut reader = Reader::from_str(src);
    {
        let cfg = reader.config_mut();
        cfg.trim_text(false);
        cfg.expand_empty_elements = false;
        cfg.check_end_names = true;
        cfg.check_comments = true;
        cfg.allow_unmatched_ends = false;
    }
    let mut path: Vec<String> = Vec::new();
    let mut frames: Vec<Frame> = Vec::new();
    let mut elements = 0usize;
    let mut seen_root = false;
    loop {
        match reader.read_event().map_err(malformed)? {
            Event::Start(e) => {
                open_element(h, &mut path, &mut frames, &e, &mut elements, &mut seen_root)?;
            }
            Event::Empty(e) => {
                open_element(h, &mut path, &mut frames, &e, &mut elements, &mut seen_root)?;
                close_element(h, &mut path, &mut frames)?;
            }
            Event::End(_) => close_element(h, &mut path, &mut frames)?,
            Event::Text(t) => {
                let s = check_unescaped(t.unescape().map_err(malformed)?)?;
                add_text(&mut frames, &s)?;
            }
            Event::CData(c) => {
                let s = c.decode().map_err(malformed)?;
                add_text(&mut frames, &s)?;
            }
            // No DTDs: nothing can declare an entity, so nothing can expand.
            Event::DocType(_) => return Err(Fail::Malformed),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !seen_root || !frames.is_empty() {
        return Err(Fail::Malformed);
    }
    Ok(())
}

fn open_element<H: Handler>(
    h: &mut H,
    path: &mut Vec<String>,
    frames: &mut Vec<Frame>,
    e: &BytesStart<'_>,
    elements: &mut usize,
    seen_root: &mut bool,
) -> PResult<()> {
    match frames.last_mut() {
        None if *seen_root => return Err(Fail::Malformed),
        None => *seen_root = true,
        Some(parent) => {
            parent.has_children = true;
            parent.text.clear();
        }
    }
    if frames.len() >= MAX_XML_DEPTH {
        return Err(Fail::Malformed);
    }
    *elements += 1;
    if *elements > MAX_XML_ELEMENTS {
        return Err(Fail::Malformed);
    }
    // Attribute syntax is only checked when iterated: reject `<a b>`, duplicates, etc. Values
    // are resolved too, so an undeclared entity or a forbidden character reference in any
    // attribute (read or not) makes the document malformed.
    for a in e.attributes() {
        let a = a.map_err(malformed)?;
        check_unescaped(a.unescape_value().map_err(malformed)?)?;
    }
    let name = std::str::from_utf8(e.local_name().into_inner()).map_err(malformed)?;
    path.push(name.to_owned());
    frames.push(Frame {
        text: String::new(),
        has_children: false,
    });
    h.open(path, e)
}

fn close_element<H: Handler>(
    h: &mut H,
    path: &mut Vec<String>,
    frames: &mut Vec<Frame>,
) -> PResult<()> {
    let frame = frames.pop().ok_or(Fail::Malformed)?;
    let text = if frame.has_children {
        None
    } else {
        Some(frame.text)
    };
    h.close(path, text)?;
    path.pop();
    Ok(())
}

fn add_text(frames: &mut [Frame], s: &str) -> PResult<()> {
    match frames.last_mut() {
        None if is_blank(s) => Ok(()),
        None => Err(Fail::Malformed),
        // Text beside child elements (indentation) is not content.
        Some(f) if f.has_children => Ok(()),
        Some(f) => {
            f.text.push_str(s);
            Ok(())
        }
    }
}

/// `path` is exactly `want`.
fn at(path: &[String], want: &[&str]) -> bool {
    path.len() == want.len() && path.iter().zip(want).all(|(a, b)| a == b)
}

/// The text of an element that must not have children.
fn leaf(text: Option<String>) -> PResult<String> {
    text.ok_or(Fail::Malformed)
}

/// Stores a value for an element that may appear once.
fn set_once(slot: &mut Option<String>, value: String) -> PResult<()> {
    if slot.is_some() {
        return Err(Fail::Malformed);
    }
    *slot = Some(value);
    Ok(())
}

/// Trimmed, `None` when empty.
fn non_empty(s: Option<String>) -> Option<String> {
    match s {
        Some(v) => {
            let t = trim_ws(&v);
            if t.is_empty() {
                None
            } else if t.len() == v.len() {
                Some(v)
            } else {
                Some(t.to_owned())
            }
        }
        None => None,
    }
}

fn check_root(path: &[String], root: &str) -> PResult<()> {
    if path.len() == 1 && path[0] != root {
        return Err(Fail::Malformed);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CompleteMultipartUpload
// ---------------------------------------------------------------------------------------------

const COMPLETE_ROOT: &str = "CompleteMultipartUpload";

#[derive(Default)]
struct PartAcc {
    number: Option<String>,
    etag: Option<String>,
    crc32: Option<String>,
    crc32c: Option<String>,
    crc64nvme: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
}

#[derive(Default)]
struct CompleteHandler {
    parts: Vec<CompletedPart>,
    cur: Option<PartAcc>,
}

impl Handler for CompleteHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, COMPLETE_ROOT)?;
        if at(path, &[COMPLETE_ROOT, "Part"]) {
            self.cur = Some(PartAcc::default());
        }
        Ok(())
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if path.len() == 3 && path[1] == "Part" {
            let cur = self.cur.as_mut().ok_or(Fail::Malformed)?;
            let slot = match path[2].as_str() {
                "PartNumber" => &mut cur.number,
                "ETag" => &mut cur.etag,
                "ChecksumCRC32" => &mut cur.crc32,
                "ChecksumCRC32C" => &mut cur.crc32c,
                "ChecksumCRC64NVME" => &mut cur.crc64nvme,
                "ChecksumSHA1" => &mut cur.sha1,
                "ChecksumSHA256" => &mut cur.sha256,
                _ => return Ok(()),
            };
            set_once(slot, leaf(text)?)?;
        } else if at(path, &[COMPLETE_ROOT, "Part"]) {
            let acc = self.cur.take().ok_or(Fail::Malformed)?;
            let number = acc.number.ok_or(Fail::Malformed)?;
            let etag = acc.etag.ok_or(Fail::Malformed)?;
            if self.parts.len() >= MAX_PARTS {
                return Err(Fail::Malformed);
            }
            self.parts.push(CompletedPart {
                part_number: parse_part_number(&number)?,
                etag: trim_ws(&etag).trim_matches('"').to_owned(),
                checksum_crc32: non_empty(acc.crc32),
                checksum_crc32c: non_empty(acc.crc32c),
                checksum_crc64nvme: non_empty(acc.crc64nvme),
                checksum_sha1: non_empty(acc.sha1),
                checksum_sha256: non_empty(acc.sha256),
            });
        }
        Ok(())
    }
}

/// An integer (optionally signed) in 1..=10000; other integers are InvalidArgument, anything
/// else is not an integer at all and so MalformedXML.
fn parse_part_number(raw: &str) -> PResult<u32> {
    let s = trim_ws(raw);
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Fail::Malformed);
    }
    let negative = s.starts_with('-');
    let value = digits.bytes().try_fold(0u32, |acc, b| {
        acc.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    });
    match value {
        Some(n) if !negative && (1..=MAX_PARTS as u32).contains(&n) => Ok(n),
        _ => Err(Fail::Error(S3Error::invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
            "partNumber",
            s,
        ))),
    }
}

/// Parses a CompleteMultipartUpload body (at most [`MAX_XML_BODY_BYTES`]) into its parts, in
/// the order given (the caller checks that they ascend).
///
/// Errors: MalformedXML for a body that is not well-formed or not the schema (wrong root, a part
/// without `PartNumber` or `ETag`, a non-integer part number, no parts, more than
/// [`MAX_PARTS`] parts, limits exceeded); InvalidArgument for a part number outside 1..=10000.
pub fn parse_complete_multipart(body: &[u8]) -> S3Result<Vec<CompletedPart>> {
    let mut h = CompleteHandler::default();
    drive(body, MAX_XML_BODY_BYTES, &mut h).map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    if h.parts.is_empty() {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    Ok(h.parts)
}

// ---------------------------------------------------------------------------------------------
// Delete (DeleteObjects)
// ---------------------------------------------------------------------------------------------

const DELETE_ROOT: &str = "Delete";

#[derive(Default)]
struct ObjectAcc {
    key: Option<String>,
    version_id: Option<String>,
}

#[derive(Default)]
struct DeleteHandler {
    quiet: Option<bool>,
    objects: Vec<ObjectIdentifier>,
    cur: Option<ObjectAcc>,
}

impl Handler for DeleteHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, DELETE_ROOT)?;
        if at(path, &[DELETE_ROOT, "Object"]) {
            self.cur = Some(ObjectAcc::default());
        }
        Ok(())
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if path.len() == 3 && path[1] == "Object" {
            let cur = self.cur.as_mut().ok_or(Fail::Malformed)?;
            let slot = match path[2].as_str() {
                "Key" => &mut cur.key,
                "VersionId" => &mut cur.version_id,
                // ETag, LastModifiedTime, Size (conditional deletes) and the unknown.
                _ => return Ok(()),
            };
            set_once(slot, leaf(text)?)?;
        } else if at(path, &[DELETE_ROOT, "Object"]) {
            let acc = self.cur.take().ok_or(Fail::Malformed)?;
            if self.objects.len() >= MAX_DELETE_OBJECTS {
                return Err(Fail::Malformed);
            }
            self.objects.push(ObjectIdentifier {
                key: acc.key.ok_or(Fail::Malformed)?,
                version_id: acc.version_id,
            });
        } else if at(path, &[DELETE_ROOT, "Quiet"]) {
            if self.quiet.is_some() {
                return Err(Fail::Malformed);
            }
            let v = leaf(text)?;
            // xs:boolean
            self.quiet = Some(match trim_ws(&v) {
                "true" | "1" => true,
                "false" | "0" => false,
                t if t.eq_ignore_ascii_case("true") => true,
                t if t.eq_ignore_ascii_case("false") => false,
                _ => return Err(Fail::Malformed),
            });
        }
        Ok(())
    }
}

/// Parses a DeleteObjects body (at most [`MAX_XML_BODY_BYTES`]).
///
/// Keys are returned exactly as sent (not trimmed, possibly empty). Errors: MalformedXML for a
/// body that is not well-formed or not the schema, no objects, an object without `Key`, more
/// than [`MAX_DELETE_OBJECTS`] objects, or a `Quiet` that is not a boolean.
pub fn parse_delete_objects(body: &[u8]) -> S3Result<DeleteRequest> {
    let mut h = DeleteHandler::default();
    drive(body, MAX_XML_BODY_BYTES, &mut h).map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    if h.objects.is_empty() {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    Ok(DeleteRequest {
        quiet: h.quiet.unwrap_or(false),
        objects: h.objects,
    })
}

// ---------------------------------------------------------------------------------------------
// AccessControlPolicy
// ---------------------------------------------------------------------------------------------

const ACP_ROOT: &str = "AccessControlPolicy";
const ACL: &str = "AccessControlList";

#[derive(Default)]
struct OwnerAcc {
    id: Option<String>,
    display_name: Option<String>,
}

#[derive(Default)]
struct GrantAcc {
    seen_grantee: bool,
    xsi_type: Option<String>,
    id: Option<String>,
    display_name: Option<String>,
    email: Option<String>,
    uri: Option<String>,
    permission: Option<String>,
}

#[derive(Default)]
struct AclHandler {
    seen_owner: bool,
    seen_acl: bool,
    owner: Option<OwnerAcc>,
    owner_done: Option<Owner>,
    grants: Vec<Grant>,
    cur: Option<GrantAcc>,
}

/// The `type` attribute in any (non-`xmlns`) prefix, its value without any `prefix:`.
fn xsi_type(e: &BytesStart<'_>) -> PResult<Option<String>> {
    for a in e.attributes() {
        let a = a.map_err(malformed)?;
        if a.key.as_namespace_binding().is_some() {
            continue;
        }
        if a.key.local_name().as_ref() == b"type" {
            let v = a.unescape_value().map_err(malformed)?;
            let v = trim_ws(&v);
            let v = v.rsplit(':').next().unwrap_or(v);
            return Ok(Some(v.to_owned()));
        }
    }
    Ok(None)
}

impl Handler for AclHandler {
    fn open(&mut self, path: &[String], start: &BytesStart<'_>) -> PResult<()> {
        check_root(path, ACP_ROOT)?;
        if at(path, &[ACP_ROOT, "Owner"]) {
            if self.seen_owner {
                return Err(Fail::Malformed);
            }
            self.seen_owner = true;
            self.owner = Some(OwnerAcc::default());
        } else if at(path, &[ACP_ROOT, ACL]) {
            if self.seen_acl {
                return Err(Fail::Malformed);
            }
            self.seen_acl = true;
        } else if at(path, &[ACP_ROOT, ACL, "Grant"]) {
            self.cur = Some(GrantAcc::default());
        } else if at(path, &[ACP_ROOT, ACL, "Grant", "Grantee"]) {
            let cur = self.cur.as_mut().ok_or(Fail::Malformed)?;
            if cur.seen_grantee {
                return Err(Fail::Malformed);
            }
            cur.seen_grantee = true;
            cur.xsi_type = xsi_type(start)?;
        }
        Ok(())
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if path.len() == 3 && path[1] == "Owner" {
            let cur = self.owner.as_mut().ok_or(Fail::Malformed)?;
            let slot = match path[2].as_str() {
                "ID" => &mut cur.id,
                "DisplayName" => &mut cur.display_name,
                _ => return Ok(()),
            };
            set_once(slot, leaf(text)?)?;
        } else if at(path, &[ACP_ROOT, "Owner"]) {
            let acc = self.owner.take().ok_or(Fail::Malformed)?;
            self.owner_done = Some(Owner {
                id: non_empty(acc.id).ok_or(Fail::Malformed)?,
                display_name: non_empty(acc.display_name),
            });
        } else if path.len() == 5 && path[1] == ACL && path[2] == "Grant" && path[3] == "Grantee" {
            let cur = self.cur.as_mut().ok_or(Fail::Malformed)?;
            let slot = match path[4].as_str() {
                "ID" => &mut cur.id,
                "DisplayName" => &mut cur.display_name,
                "EmailAddress" => &mut cur.email,
                "URI" => &mut cur.uri,
                _ => return Ok(()),
            };
            set_once(slot, leaf(text)?)?;
        } else if at(path, &[ACP_ROOT, ACL, "Grant", "Permission"]) {
            let cur = self.cur.as_mut().ok_or(Fail::Malformed)?;
            set_once(&mut cur.permission, leaf(text)?)?;
        } else if at(path, &[ACP_ROOT, ACL, "Grant"]) {
            let acc = self.cur.take().ok_or(Fail::Malformed)?;
            if self.grants.len() >= MAX_ACL_GRANTS {
                return Err(Fail::Malformed);
            }
            self.grants.push(finish_grant(acc)?);
        }
        Ok(())
    }
}

fn finish_grant(acc: GrantAcc) -> PResult<Grant> {
    if !acc.seen_grantee {
        return Err(Fail::Malformed);
    }
    let permission = acc.permission.ok_or(Fail::Malformed)?;
    let permission = Permission::parse(trim_ws(&permission)).ok_or(Fail::Malformed)?;
    let id = non_empty(acc.id);
    let email = non_empty(acc.email);
    let uri = non_empty(acc.uri);
    let display_name = non_empty(acc.display_name);
    let grantee = match acc.xsi_type.as_deref() {
        Some("CanonicalUser") => Grantee::CanonicalUser {
            id: id.ok_or(Fail::Malformed)?,
            display_name,
        },
        Some("AmazonCustomerByEmail") => Grantee::Email(email.ok_or(Fail::Malformed)?),
        Some("Group") => Grantee::Group(uri.ok_or(Fail::Malformed)?),
        Some(_) => return Err(Fail::Malformed),
        // No xsi:type: accept when the content says unambiguously what it is.
        None => match (id, email, uri) {
            (Some(id), None, None) => Grantee::CanonicalUser { id, display_name },
            (None, Some(email), None) => Grantee::Email(email),
            (None, None, Some(uri)) => Grantee::Group(uri),
            _ => return Err(Fail::Malformed),
        },
    };
    Ok(Grant {
        grantee,
        permission,
    })
}

/// Parses an AccessControlPolicy body (at most [`MAX_SMALL_XML_BODY_BYTES`]), as sent to
/// PutBucketAcl / PutObjectAcl. Values are trimmed of surrounding whitespace.
///
/// A grantee's kind comes from its `xsi:type` (`CanonicalUser` needs `ID`,
/// `AmazonCustomerByEmail` needs `EmailAddress`, `Group` needs `URI`); without `xsi:type` it is
/// inferred from which one of those is present. A missing `Owner` is `None`; a missing
/// `AccessControlList` is no grants. Any failure, including more than [`MAX_ACL_GRANTS`]
/// grants or an unknown permission, is MalformedACLError.
pub fn parse_access_control_policy(body: &[u8]) -> S3Result<AccessControlPolicy> {
    let mut h = AclHandler::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedACLError))?;
    Ok(AccessControlPolicy {
        owner: h.owner_done,
        grants: h.grants,
    })
}

// ---------------------------------------------------------------------------------------------
// CreateBucketConfiguration
// ---------------------------------------------------------------------------------------------

const CBC_ROOT: &str = "CreateBucketConfiguration";

#[derive(Default)]
struct CreateBucketHandler {
    location: Option<String>,
}

impl Handler for CreateBucketHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, CBC_ROOT)
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if at(path, &[CBC_ROOT, "LocationConstraint"]) {
            set_once(&mut self.location, leaf(text)?)?;
        }
        Ok(())
    }
}

/// Parses a CreateBucket body (at most [`MAX_SMALL_XML_BODY_BYTES`]) and returns its
/// `LocationConstraint`, trimmed. An empty (or all-whitespace) body, a configuration without
/// one, or an empty one are `Ok(None)`. Anything malformed is MalformedXML.
pub fn parse_create_bucket_configuration(body: &[u8]) -> S3Result<Option<String>> {
    if body
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return Ok(None);
    }
    let mut h = CreateBucketHandler::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    Ok(non_empty(h.location))
}

// ---------------------------------------------------------------------------------------------
// VersioningConfiguration
// ---------------------------------------------------------------------------------------------

const VC_ROOT: &str = "VersioningConfiguration";

/// A PutBucketVersioning body: `Status` and `MfaDelete` as sent (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VersioningConfiguration {
    pub status: Option<String>,
    pub mfa_delete: Option<String>,
}

impl Handler for VersioningConfiguration {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, VC_ROOT)
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if at(path, &[VC_ROOT, "Status"]) {
            set_once(&mut self.status, trim_ws(&leaf(text)?).to_string())?;
        } else if at(path, &[VC_ROOT, "MfaDelete"]) {
            set_once(&mut self.mfa_delete, trim_ws(&leaf(text)?).to_string())?;
        }
        Ok(())
    }
}

/// Parses a PutBucketVersioning body (at most [`MAX_SMALL_XML_BODY_BYTES`]); anything not
/// well-formed or rooted elsewhere is MalformedXML.
pub fn parse_versioning_configuration(body: &[u8]) -> S3Result<VersioningConfiguration> {
    let mut h = VersioningConfiguration::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioning_configuration_bodies() {
        let body = br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#;
        let c = parse_versioning_configuration(body).unwrap();
        assert_eq!(c.status.as_deref(), Some("Enabled"));
        assert_eq!(c.mfa_delete, None);
        let body = b"<VersioningConfiguration><Status>Suspended</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>";
        let c = parse_versioning_configuration(body).unwrap();
        assert_eq!(c.mfa_delete.as_deref(), Some("Enabled"));
        for bad in [&b"<VersioningConfiguration>"[..], b"<Other/>", b"", b"<VersioningConfiguration><Status>a</Status><Status>b</Status></VersioningConfiguration>"] {
            assert_eq!(code(parse_versioning_configuration(bad)), ErrorCode::MalformedXML);
        }
    }

    fn code<T: std::fmt::Debug>(r: S3Result<T>) -> ErrorCode {
        r.expect_err("expected an error").code
    }

    // --- CompleteMultipartUpload ------------------------------------------------------------

    #[test]
    fn complete_boto3_body() {
        // botocore: namespace, no declaration, literal quotes, ETag before PartNumber.
        let body = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"0cc175b9c0f1b6a831c399e269772661"</ETag><PartNumber>1</PartNumber></Part><Part><ETag>"92eb5ffee6ae2fec3ad71c777531578f"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>"#;
        let parts = parse_complete_multipart(body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].part_number, 1);
        assert_eq!(parts[0].etag, "0cc175b9c0f1b6a831c399e269772661");
        assert_eq!(parts[1].part_number, 2);
        assert_eq!(parts[1].etag, "92eb5ffee6ae2fec3ad71c777531578f");
        assert_eq!(parts[1].checksum_crc32, None);
    }

    #[test]
    fn complete_aws_doc_body_with_whitespace_and_escaped_quotes() {
        let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<CompleteMultipartUpload>\n  <Part>\n    <PartNumber> 3 </PartNumber>\n    <ETag>&quot;a54357aff0632cce46d942af68356b38-2&quot;</ETag>\n    <ChecksumCRC32>  AAAAAA==  </ChecksumCRC32>\n    <ChecksumSHA256>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</ChecksumSHA256>\n    <Unknown><Nested>x</Nested></Unknown>\n  </Part>\n  <Part><PartNumber>1</PartNumber><ETag>abc</ETag></Part>\n</CompleteMultipartUpload>\n";
        let parts = parse_complete_multipart(body).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].part_number, 3);
        assert_eq!(parts[0].etag, "a54357aff0632cce46d942af68356b38-2");
        assert_eq!(parts[0].checksum_crc32.as_deref(), Some("AAAAAA=="));
        assert_eq!(
            parts[0].checksum_sha256.as_deref(),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        // Order kept as given.
        assert_eq!(parts[1].part_number, 1);
        assert_eq!(parts[1].etag, "abc");
    }

    #[test]
    fn complete_with_prefix_bom_cdata_and_comments() {
        let body = "\u{feff}<s3:CompleteMultipartUpload xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><!-- c --><s3:Part><s3:PartNumber>7</s3:PartNumber><s3:ETag><![CDATA[\"ff\"]]></s3:ETag></s3:Part><?pi x?></s3:CompleteMultipartUpload>";
        let parts = parse_complete_multipart(body.as_bytes()).unwrap();
        assert_eq!(parts[0].part_number, 7);
        assert_eq!(parts[0].etag, "ff");
    }

    #[test]
    fn complete_all_checksums() {
        let body = b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumCRC32>a</ChecksumCRC32><ChecksumCRC32C>b</ChecksumCRC32C><ChecksumCRC64NVME>c</ChecksumCRC64NVME><ChecksumSHA1>d</ChecksumSHA1><ChecksumSHA256>f</ChecksumSHA256></Part></CompleteMultipartUpload>";
        let p = &parse_complete_multipart(body).unwrap()[0];
        assert_eq!(p.checksum_crc32.as_deref(), Some("a"));
        assert_eq!(p.checksum_crc32c.as_deref(), Some("b"));
        assert_eq!(p.checksum_crc64nvme.as_deref(), Some("c"));
        assert_eq!(p.checksum_sha1.as_deref(), Some("d"));
        assert_eq!(p.checksum_sha256.as_deref(), Some("f"));
    }

    fn parts_body(n: usize) -> Vec<u8> {
        let mut s = String::from(
            "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
        );
        for i in 1..=n {
            let num = if i > 10_000 { 10_000 } else { i };
            s.push_str(&format!(
                "<Part><ETag>\"{:032x}\"</ETag><PartNumber>{num}</PartNumber></Part>",
                i
            ));
        }
        s.push_str("</CompleteMultipartUpload>");
        s.into_bytes()
    }

    #[test]
    fn complete_part_count_limits() {
        let parts = parse_complete_multipart(&parts_body(10_000)).unwrap();
        assert_eq!(parts.len(), 10_000);
        assert_eq!(parts[9_999].part_number, 10_000);
        assert_eq!(
            code(parse_complete_multipart(&parts_body(10_001))),
            ErrorCode::MalformedXML
        );
    }

    #[test]
    fn complete_part_number_range() {
        let body = |n: &str| {
            format!("<CompleteMultipartUpload><Part><PartNumber>{n}</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>")
        };
        for bad in ["0", "10001", "-1", "99999999999999999999"] {
            let e = parse_complete_multipart(body(bad).as_bytes()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{bad}");
        }
        for bad in ["", "abc", "1.5", "0x10", "+", " "] {
            assert_eq!(
                code(parse_complete_multipart(body(bad).as_bytes())),
                ErrorCode::MalformedXML,
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_complete_multipart(body("+10000").as_bytes()).unwrap()[0].part_number,
            10_000
        );
    }

    #[test]
    fn complete_schema_errors() {
        for body in [
            "<CompleteMultipartUpload></CompleteMultipartUpload>",
            "<CompleteMultipartUpload/>",
            "<CompleteMultipartUpload><Part/></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><PartNumber>2</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<CompleteMultipartUpload><Part><PartNumber><b>1</b></PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
            "<Delete><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part></Delete>",
            "",
            "   ",
            "not xml",
        ] {
            assert_eq!(code(parse_complete_multipart(body.as_bytes())), ErrorCode::MalformedXML, "{body}");
        }
    }

    // --- Delete -----------------------------------------------------------------------------

    #[test]
    fn delete_boto3_body() {
        let body = br#"<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a.txt</Key></Object><Object><Key>dir/b c.txt</Key><VersionId>3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY</VersionId></Object><Quiet>true</Quiet></Delete>"#;
        let req = parse_delete_objects(body).unwrap();
        assert!(req.quiet);
        assert_eq!(
            req.objects,
            vec![
                ObjectIdentifier {
                    key: "a.txt".into(),
                    version_id: None
                },
                ObjectIdentifier {
                    key: "dir/b c.txt".into(),
                    version_id: Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into())
                },
            ]
        );
    }

    #[test]
    fn delete_aws_doc_body_whitespace_quiet_first() {
        let body = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Delete>\n    <Quiet>false</Quiet>\n    <Object>\n         <Key>sample1.txt</Key>\n    </Object>\n    <Object>\n         <ETag>\"abc\"</ETag>\n         <Key>sample2.txt</Key>\n         <Size>3</Size>\n    </Object>\n</Delete>";
        let req = parse_delete_objects(body).unwrap();
        assert!(!req.quiet);
        assert_eq!(req.objects.len(), 2);
        assert_eq!(req.objects[1].key, "sample2.txt");
    }

    #[test]
    fn delete_keys_are_exact() {
        let body = "<Delete><Object><Key>  spaced  </Key></Object><Object><Key>a&amp;b&lt;c&gt;&quot;&apos;&#x9;&#xD;\u{e9}</Key></Object><Object><Key></Key></Object><Object><Key/></Object><Object><Key><![CDATA[<raw>&]]></Key></Object></Delete>";
        let req = parse_delete_objects(body.as_bytes()).unwrap();
        assert!(!req.quiet);
        let keys: Vec<&str> = req.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(
            keys,
            ["  spaced  ", "a&b<c>\"'\t\r\u{e9}", "", "", "<raw>&"]
        );
    }

    #[test]
    fn delete_limits_and_schema() {
        let body = |n: usize| {
            let mut s = String::from("<Delete>");
            for i in 0..n {
                s.push_str(&format!("<Object><Key>k{i}</Key></Object>"));
            }
            s.push_str("</Delete>");
            s
        };
        assert_eq!(
            parse_delete_objects(body(1000).as_bytes())
                .unwrap()
                .objects
                .len(),
            1000
        );
        assert_eq!(
            code(parse_delete_objects(body(1001).as_bytes())),
            ErrorCode::MalformedXML
        );
        for bad in [
            "<Delete></Delete>",
            "<Delete><Quiet>true</Quiet></Delete>",
            "<Delete><Object><VersionId>v</VersionId></Object></Delete>",
            "<Delete><Object><Key>a</Key><Key>b</Key></Object></Delete>",
            "<Delete><Object><Key>a</Key></Object><Quiet>yes</Quiet></Delete>",
            "<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet><Quiet>true</Quiet></Delete>",
            "<Remove><Object><Key>a</Key></Object></Remove>",
        ] {
            assert_eq!(
                code(parse_delete_objects(bad.as_bytes())),
                ErrorCode::MalformedXML,
                "{bad}"
            );
        }
        let ok = parse_delete_objects(
            b"<Delete><Quiet> True </Quiet><Object><Key>a</Key></Object></Delete>",
        )
        .unwrap();
        assert!(ok.quiet);
    }

    // --- Characters XML 1.0 forbids -------------------------------------------------------

    /// Insertions that make a document not well-formed XML 1.0: forbidden characters raw
    /// (in text, CDATA, comments, PIs) or as character references, and references to no
    /// character at all.
    const FORBIDDEN: &[&str] = &[
        "\0",
        "&#0;",
        "&#x0;",
        "&#00;",
        "&#x1;",
        "&#1;",
        "\u{1}",
        "\u{8}",
        "\u{B}",
        "\u{C}",
        "\u{1F}",
        "&#x8;",
        "&#xb;",
        "&#12;",
        "&#x1F;",
        "&#31;",
        "\u{FFFE}",
        "\u{FFFF}",
        "&#xFFFE;",
        "&#65535;",
        "&#xD800;",
        "&#xDFFF;",
        "&#x110000;",
        "<![CDATA[\0]]>",
        "<![CDATA[a\u{2}b]]>",
        "<!-- \u{3} -->",
        "<?pi \u{4}?>",
    ];

    /// Insertions that are fine, with the text they stand for: the three whitespace controls
    /// (raw or as references), DEL and C1 controls (allowed, if discouraged), the edges of
    /// the allowed ranges, and characters beyond the BMP.
    const ALLOWED: &[(&str, &str)] = &[
        ("\t", "\t"),
        ("\n", "\n"),
        ("&#9;", "\t"),
        ("&#x9;", "\t"),
        ("&#10;", "\n"),
        ("&#xA;", "\n"),
        ("&#13;", "\r"),
        ("&#xD;", "\r"),
        ("&#x20;", " "),
        ("\u{7F}", "\u{7F}"),
        ("\u{85}", "\u{85}"),
        ("&#x9F;", "\u{9F}"),
        ("\u{e9}t\u{e9}", "\u{e9}t\u{e9}"),
        ("&#xE9;", "\u{e9}"),
        ("\u{65e5}\u{672c}", "\u{65e5}\u{672c}"),
        ("\u{D7FF}", "\u{D7FF}"),
        ("\u{E000}", "\u{E000}"),
        ("\u{FFFD}", "\u{FFFD}"),
        ("&#xFFFD;", "\u{FFFD}"),
        ("\u{10000}", "\u{10000}"),
        ("\u{1F600}", "\u{1F600}"),
        ("&#x1F600;", "\u{1F600}"),
        ("&#128512;", "\u{1F600}"),
        ("\u{10FFFF}", "\u{10FFFF}"),
        ("&#x10FFFF;", "\u{10FFFF}"),
        ("<![CDATA[\t\n]]>", "\t\n"),
        ("<!-- \t -->", ""),
    ];

    /// Checks one parser: `body(x)` is a valid document with `x` inside a value (between
    /// other characters, so trimming keeps it), `value` gets that value back from a parse.
    fn check_xml_chars<T: std::fmt::Debug>(
        parse: impl Fn(&[u8]) -> S3Result<T>,
        body: impl Fn(&str) -> String,
        value: impl Fn(T) -> String,
        malformed: ErrorCode,
    ) {
        for x in FORBIDDEN {
            let b = body(x);
            assert_eq!(code(parse(b.as_bytes())), malformed, "{b:?}");
        }
        for (x, want) in ALLOWED {
            let b = body(x);
            let got = value(parse(b.as_bytes()).unwrap_or_else(|e| panic!("{b:?}: {e:?}")));
            assert_eq!(got, format!("v{want}v"), "{b:?}");
        }
        // Attribute values too, on the root, read or not.
        let b = body("");
        let (open, rest) = b.split_once('>').unwrap();
        for x in ["\0", "\u{1}", "&#0;", "&#x1;", "&#xFFFF;", "&undeclared;"] {
            let bad = format!("{open} a=\"{x}\">{rest}");
            assert_eq!(code(parse(bad.as_bytes())), malformed, "{bad:?}");
        }
        for x in ["\t", "&#x9;", "&#10;", "&amp;\u{e9}", "&#x1F600;"] {
            let good = format!("{open} a=\"{x}\">{rest}");
            assert!(parse(good.as_bytes()).is_ok(), "{good:?}");
        }
        // Outside the root: after it, in whitespace, in the declaration.
        for bad in [
            format!("{b}\0"),
            format!("{b}\n\u{1}"),
            format!("{b}<!--\u{1}-->"),
            format!("\u{1}{b}"),
            format!("<?xml version=\"1.0\u{1}\"?>{b}"),
        ] {
            assert_eq!(code(parse(bad.as_bytes())), malformed, "{bad:?}");
        }
    }

    #[test]
    fn complete_rejects_characters_xml_forbids() {
        check_xml_chars(
            parse_complete_multipart,
            |x| {
                format!("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>v{x}v</ETag></Part></CompleteMultipartUpload>")
            },
            |parts| parts[0].etag.clone(),
            ErrorCode::MalformedXML,
        );
        // In a part number the same as anywhere: malformed, before any range check.
        for x in ["\0", "&#0;", "&#x1;"] {
            let b = format!("<CompleteMultipartUpload><Part><PartNumber>1{x}</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>");
            assert_eq!(
                code(parse_complete_multipart(b.as_bytes())),
                ErrorCode::MalformedXML,
                "{b:?}"
            );
        }
    }

    #[test]
    fn delete_rejects_characters_xml_forbids() {
        check_xml_chars(
            parse_delete_objects,
            |x| format!("<Delete><Object><Key>v{x}v</Key></Object></Delete>"),
            |req| req.objects[0].key.clone(),
            ErrorCode::MalformedXML,
        );
        // Also in a VersionId, and in an unknown element the parser otherwise ignores.
        for b in [
            "<Delete><Object><Key>k</Key><VersionId>&#x1;</VersionId></Object></Delete>",
            "<Delete><Object><Key>k</Key><ETag>\0</ETag></Object></Delete>",
            "<Delete><Object><Key>k</Key></Object><Unknown>&#0;</Unknown></Delete>",
        ] {
            assert_eq!(
                code(parse_delete_objects(b.as_bytes())),
                ErrorCode::MalformedXML,
                "{b:?}"
            );
        }
    }

    /// A key may hold any UTF-8, C0 controls included, but an XML 1.0 body cannot name such a
    /// key, raw or escaped: the whole request is MalformedXML, never a delete of some other
    /// key. Such keys are deleted with DeleteObject (clients such as minio-go already send a
    /// single DELETE for a key with characters XML cannot carry).
    #[test]
    fn delete_keys_with_control_characters_cannot_be_named() {
        for c in (0u32..0x20).filter(|c| ![0x9, 0xA, 0xD].contains(c)) {
            let raw = char::from_u32(c).unwrap();
            for key in [
                format!("a{raw}b"),
                format!("a&#{c};b"),
                format!("a&#x{c:x};b"),
            ] {
                let b = format!("<Delete><Object><Key>ok</Key></Object><Object><Key>{key}</Key></Object></Delete>");
                assert_eq!(
                    code(parse_delete_objects(b.as_bytes())),
                    ErrorCode::MalformedXML,
                    "{b:?}"
                );
            }
        }
        // The three whitespace controls can be named, by reference at least.
        let req = parse_delete_objects(
            b"<Delete><Object><Key>a&#9;b&#xA;c&#13;d</Key></Object></Delete>",
        )
        .unwrap();
        assert_eq!(req.objects[0].key, "a\tb\nc\rd");
    }

    #[test]
    fn acl_rejects_characters_xml_forbids() {
        check_xml_chars(
            parse_access_control_policy,
            |x| format!("<AccessControlPolicy><Owner><ID>v{x}v</ID></Owner></AccessControlPolicy>"),
            |acp| acp.owner.unwrap().id,
            ErrorCode::MalformedACLError,
        );
        check_xml_chars(
            parse_access_control_policy,
            |x| {
                format!("<AccessControlPolicy><AccessControlList><Grant><Grantee><URI>v{x}v</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>")
            },
            |acp| match &acp.grants[0].grantee {
                Grantee::Group(uri) => uri.clone(),
                g => panic!("{g:?}"),
            },
            ErrorCode::MalformedACLError,
        );
        // In xsi:type (an attribute the parser reads) and in a permission.
        let xsi = r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#;
        for b in [
            format!(r#"<AccessControlPolicy><AccessControlList><Grant><Grantee {xsi} xsi:type="Group&#x1;"><URI>u</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#),
            "<AccessControlPolicy><AccessControlList><Grant><Grantee><URI>u</URI></Grantee><Permission>READ&#0;</Permission></Grant></AccessControlList></AccessControlPolicy>".into(),
        ] {
            assert_eq!(code(parse_access_control_policy(b.as_bytes())), ErrorCode::MalformedACLError, "{b:?}");
        }
    }

    /// The fuzz regression `fuzz/regressions/xml_acl/nul_in_id`: a NUL in an owner ID was
    /// accepted, then rendered as `&#x0;`, which no parser takes back.
    #[test]
    fn acl_nul_in_id_regression() {
        let body = b"<AccessControlPolicy><Owner><ID>\0</ID></Owner></AccessControlPolicy>";
        assert_eq!(
            code(parse_access_control_policy(body)),
            ErrorCode::MalformedACLError
        );
        // What is accepted renders back to a policy that parses the same.
        let body = "<AccessControlPolicy><Owner><ID>a&#x9;\u{e9}\u{10FFFF}b</ID><DisplayName>&#xD;x</DisplayName></Owner></AccessControlPolicy>";
        let acp = parse_access_control_policy(body.as_bytes()).unwrap();
        let rendered = crate::s3::xml::access_control_policy(&acp);
        assert_eq!(
            parse_access_control_policy(rendered.as_bytes()).unwrap(),
            acp
        );
    }

    #[test]
    fn create_bucket_rejects_characters_xml_forbids() {
        check_xml_chars(
            parse_create_bucket_configuration,
            |x| {
                format!("<CreateBucketConfiguration><LocationConstraint>v{x}v</LocationConstraint></CreateBucketConfiguration>")
            },
            |loc| loc.unwrap(),
            ErrorCode::MalformedXML,
        );
        // A body of controls alone is not the blank body that means "no configuration".
        for b in [&b"\0"[..], b" \x01 ", b"\x0b", b"\x0c"] {
            assert_eq!(
                code(parse_create_bucket_configuration(b)),
                ErrorCode::MalformedXML,
                "{b:?}"
            );
        }
    }

    // --- Hostile bodies ---------------------------------------------------------------------

    #[test]
    fn hostile_bodies_are_malformed() {
        let deep = format!(
            "<Delete><Object><Key>a</Key></Object>{}{}</Delete>",
            "<x>".repeat(20),
            "</x>".repeat(20)
        );
        let very_deep = format!("<Delete>{}", "<x>".repeat(1_000_000));
        let many = format!(
            "<Delete><Object><Key>a</Key></Object>{}</Delete>",
            "<x/>".repeat(MAX_XML_ELEMENTS)
        );
        let cases: Vec<Vec<u8>> = vec![
            b"<Delete><Object><Key>a</Key></Object>".to_vec(),
            b"<Delete><Object><Key>a</Key></Object></Delete><Delete/>".to_vec(),
            b"<Delete><Object><Key>a</Key></Object></Delete>trailing".to_vec(),
            b"junk<Delete><Object><Key>a</Key></Object></Delete>".to_vec(),
            b"<Delete><Object><Key>a</Key></Object></Remove>".to_vec(),
            b"<Delete><Object><Key>a</Object></Key></Delete>".to_vec(),
            b"<Delete><Object><Key>a</Key></Object></Delete></Delete>".to_vec(),
            b"<Delete><Object><Key>a</Key></Object".to_vec(),
            b"<Delete><Object><Key>\xff\xfe</Key></Object></Delete>".to_vec(),
            b"<Delete><Object><Key>a&unknown;</Key></Object></Delete>".to_vec(),
            b"<Delete><Object><Key>a&#0;</Key></Object></Delete>".to_vec(),
            b"<Delete><Object><Key>a & b</Key></Object></Delete>".to_vec(),
            b"<Delete a><Object><Key>a</Key></Object></Delete>".to_vec(),
            b"<Delete a=\"1\" a=\"2\"><Object><Key>a</Key></Object></Delete>".to_vec(),
            b"<Delete><!-- a -- b --><Object><Key>a</Key></Object></Delete>".to_vec(),
            // Billion laughs and XXE: DOCTYPE is refused, entities never expand.
            br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Delete><Object><Key>&lol2;</Key></Object></Delete>"#.to_vec(),
            br#"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&xxe;</Key></Object></Delete>"#.to_vec(),
            br#"<!DOCTYPE Delete><Delete><Object><Key>a</Key></Object></Delete>"#.to_vec(),
            deep.into_bytes(),
            very_deep.into_bytes(),
            many.into_bytes(),
            vec![b' '; MAX_XML_BODY_BYTES + 1],
        ];
        for body in &cases {
            let shown = String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned();
            assert_eq!(
                code(parse_delete_objects(body)),
                ErrorCode::MalformedXML,
                "{shown}"
            );
            assert_eq!(
                code(parse_complete_multipart(body)),
                ErrorCode::MalformedXML,
                "{shown}"
            );
            assert_eq!(
                code(parse_access_control_policy(body)),
                ErrorCode::MalformedACLError,
                "{shown}"
            );
        }
    }

    #[test]
    fn huge_valid_looking_body_is_rejected_by_size() {
        let mut body = b"<Delete><Object><Key>".to_vec();
        body.resize(MAX_XML_BODY_BYTES, b'a');
        body.extend_from_slice(b"</Key></Object></Delete>");
        assert_eq!(code(parse_delete_objects(&body)), ErrorCode::MalformedXML);
    }

    #[test]
    fn depth_limit_is_exact() {
        // Root at depth 1; MAX_XML_DEPTH levels are fine, one more is not.
        let nest = |extra: usize| {
            format!(
                "<Delete><Object><Key>a</Key></Object>{}{}</Delete>",
                "<x>".repeat(extra),
                "</x>".repeat(extra)
            )
        };
        assert!(parse_delete_objects(nest(MAX_XML_DEPTH - 1).as_bytes()).is_ok());
        assert!(parse_delete_objects(nest(MAX_XML_DEPTH).as_bytes()).is_err());
    }

    /// Every truncation and many single-byte corruptions of valid bodies: errors or values,
    /// never a panic.
    #[test]
    fn truncations_and_corruptions_never_panic() {
        let bodies: [&[u8]; 3] = [
            br#"<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>&quot;x&quot;</ETag><PartNumber>1</PartNumber><ChecksumCRC32>AAAA</ChecksumCRC32></Part></CompleteMultipartUpload>"#,
            br#"<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a&amp;&#x41;<![CDATA[z]]></Key><VersionId>v</VersionId></Object><Quiet>true</Quiet></Delete>"#,
            br#"<AccessControlPolicy><Owner><ID>o</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>u</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#,
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let specials = b"<>&;/\"'!?[]=:- \x00\xff#x";
        for body in bodies {
            let run = |b: &[u8]| {
                let _ = parse_complete_multipart(b);
                let _ = parse_delete_objects(b);
                let _ = parse_access_control_policy(b);
                let _ = parse_create_bucket_configuration(b);
            };
            for len in 0..body.len() {
                run(&body[..len]);
            }
            for _ in 0..3000 {
                let mut b = body.to_vec();
                for _ in 0..(next() % 3 + 1) {
                    let i = (next() as usize) % b.len();
                    b[i] = specials[(next() as usize) % specials.len()];
                }
                run(&b);
            }
        }
    }

    // --- AccessControlPolicy ----------------------------------------------------------------

    #[test]
    fn acl_aws_doc_body() {
        let body = br#"<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Owner>
    <ID>852b113e7a2f25102679df27bb0ae12b3f85be6BucketOwnerCanonicalUserID</ID>
    <DisplayName>OwnerDisplayName</DisplayName>
  </Owner>
  <AccessControlList>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">
        <ID>852b113e7a2f25102679df27bb0ae12b3f85be6BucketOwnerCanonicalUserID</ID>
        <DisplayName>OwnerDisplayName</DisplayName>
      </Grantee>
      <Permission>FULL_CONTROL</Permission>
    </Grant>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group">
        <URI xmlns="">http://acs.amazonaws.com/groups/global/AllUsers</URI>
      </Grantee>
      <Permission>READ</Permission>
    </Grant>
    <Grant>
      <Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="AmazonCustomerByEmail">
        <EmailAddress xmlns="">xyz@amazon.com</EmailAddress>
      </Grantee>
      <Permission>WRITE_ACP</Permission>
    </Grant>
  </AccessControlList>
</AccessControlPolicy>"#;
        let acp = parse_access_control_policy(body).unwrap();
        let owner_id = "852b113e7a2f25102679df27bb0ae12b3f85be6BucketOwnerCanonicalUserID";
        assert_eq!(
            acp.owner,
            Some(Owner {
                id: owner_id.into(),
                display_name: Some("OwnerDisplayName".into())
            })
        );
        assert_eq!(
            acp.grants,
            vec![
                Grant {
                    grantee: Grantee::CanonicalUser {
                        id: owner_id.into(),
                        display_name: Some("OwnerDisplayName".into())
                    },
                    permission: Permission::FullControl
                },
                Grant {
                    grantee: Grantee::Group(
                        "http://acs.amazonaws.com/groups/global/AllUsers".into()
                    ),
                    permission: Permission::Read
                },
                Grant {
                    grantee: Grantee::Email("xyz@amazon.com".into()),
                    permission: Permission::WriteAcp
                },
            ]
        );
    }

    #[test]
    fn acl_botocore_order_other_prefix_and_no_type() {
        // botocore puts AccessControlList before Owner; another prefix for the XSI namespace;
        // Permission before Grantee; a grantee without xsi:type.
        let body = br#"<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><AccessControlList><Grant><Permission>READ_ACP</Permission><Grantee xmlns:i="http://www.w3.org/2001/XMLSchema-instance" i:type="CanonicalUser"><ID>abc</ID></Grantee></Grant><Grant><Grantee><URI>http://acs.amazonaws.com/groups/global/AuthenticatedUsers</URI></Grantee><Permission>WRITE</Permission></Grant></AccessControlList><Owner><ID>abc</ID></Owner></AccessControlPolicy>"#;
        let acp = parse_access_control_policy(body).unwrap();
        assert_eq!(
            acp.owner,
            Some(Owner {
                id: "abc".into(),
                display_name: None
            })
        );
        assert_eq!(
            acp.grants[0],
            Grant {
                grantee: Grantee::CanonicalUser {
                    id: "abc".into(),
                    display_name: None
                },
                permission: Permission::ReadAcp
            }
        );
        assert_eq!(
            acp.grants[1].grantee,
            Grantee::Group("http://acs.amazonaws.com/groups/global/AuthenticatedUsers".into())
        );
        // No owner, empty list.
        let acp = parse_access_control_policy(
            b"<AccessControlPolicy><AccessControlList/></AccessControlPolicy>",
        )
        .unwrap();
        assert_eq!(acp, AccessControlPolicy::default());
    }

    #[test]
    fn acl_errors_are_malformed_acl() {
        let grant = |inner: &str| {
            format!("<AccessControlPolicy><AccessControlList><Grant>{inner}</Grant></AccessControlList></AccessControlPolicy>")
        };
        let xsi = r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#;
        let cases = vec![
            grant(&format!(r#"<Grantee {xsi} xsi:type="CanonicalUser"><ID>a</ID></Grantee>"#)),
            grant(&format!(r#"<Grantee {xsi} xsi:type="CanonicalUser"><ID>a</ID></Grantee><Permission>read</Permission>"#)),
            grant(&format!(r#"<Grantee {xsi} xsi:type="Nobody"><ID>a</ID></Grantee><Permission>READ</Permission>"#)),
            grant(&format!(r#"<Grantee {xsi} xsi:type="Group"><ID>a</ID></Grantee><Permission>READ</Permission>"#)),
            grant(&format!(r#"<Grantee {xsi} xsi:type="AmazonCustomerByEmail"></Grantee><Permission>READ</Permission>"#)),
            grant(r#"<Grantee><ID>a</ID><URI>u</URI></Grantee><Permission>READ</Permission>"#),
            grant(r#"<Permission>READ</Permission>"#),
            grant(r#"<Grantee><ID>a</ID></Grantee><Grantee><ID>b</ID></Grantee><Permission>READ</Permission>"#),
            grant(r#"<Grantee><ID>a</ID></Grantee><Permission>READ</Permission><Permission>WRITE</Permission>"#),
            "<AccessControlPolicy><Owner><DisplayName>x</DisplayName></Owner></AccessControlPolicy>".into(),
            "<AccessControlPolicy><Owner><ID>a</ID></Owner><Owner><ID>b</ID></Owner></AccessControlPolicy>".into(),
            "<AccessControlList></AccessControlList>".into(),
            "".into(),
        ];
        for body in cases {
            assert_eq!(
                code(parse_access_control_policy(body.as_bytes())),
                ErrorCode::MalformedACLError,
                "{body}"
            );
        }
        let mut many = String::from("<AccessControlPolicy><AccessControlList>");
        for _ in 0..=MAX_ACL_GRANTS {
            many.push_str(
                "<Grant><Grantee><ID>a</ID></Grantee><Permission>READ</Permission></Grant>",
            );
        }
        many.push_str("</AccessControlList></AccessControlPolicy>");
        assert_eq!(
            code(parse_access_control_policy(many.as_bytes())),
            ErrorCode::MalformedACLError
        );
    }

    // --- CreateBucketConfiguration ----------------------------------------------------------

    #[test]
    fn create_bucket_configuration() {
        assert_eq!(parse_create_bucket_configuration(b"").unwrap(), None);
        assert_eq!(parse_create_bucket_configuration(b" \r\n").unwrap(), None);
        let boto = br#"<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"#;
        assert_eq!(
            parse_create_bucket_configuration(boto).unwrap().as_deref(),
            Some("eu-west-1")
        );
        let spaced = b"<?xml version=\"1.0\"?>\n<CreateBucketConfiguration>\n  <LocationConstraint> us-west-2 </LocationConstraint>\n  <Bucket><Type>Directory</Type></Bucket>\n</CreateBucketConfiguration>\n";
        assert_eq!(
            parse_create_bucket_configuration(spaced)
                .unwrap()
                .as_deref(),
            Some("us-west-2")
        );
        assert_eq!(
            parse_create_bucket_configuration(b"<CreateBucketConfiguration/>").unwrap(),
            None
        );
        assert_eq!(
            parse_create_bucket_configuration(
                b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>"
            )
            .unwrap(),
            None
        );
        for bad in [
            &b"<CreateBucketConfiguration>"[..],
            b"<Other><LocationConstraint>x</LocationConstraint></Other>",
            b"<CreateBucketConfiguration><LocationConstraint>a</LocationConstraint><LocationConstraint>b</LocationConstraint></CreateBucketConfiguration>",
            b"<CreateBucketConfiguration><LocationConstraint><x/></LocationConstraint></CreateBucketConfiguration>",
            b"\xff",
        ] {
            assert_eq!(code(parse_create_bucket_configuration(bad)), ErrorCode::MalformedXML);
        }
        let mut huge = b"<CreateBucketConfiguration>".to_vec();
        huge.resize(MAX_SMALL_XML_BODY_BYTES + 1, b' ');
        assert_eq!(
            code(parse_create_bucket_configuration(&huge)),
            ErrorCode::MalformedXML
        );
    }
}

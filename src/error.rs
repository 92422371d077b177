//! S3 errors: one code enum carrying its HTTP status, rendered as S3 error XML.
//!
//! At the bottom of the layers (see tests/layers.rs): every layer reports failures with
//! these types, so this module imports nothing of the crate. `crate::s3::error` re-exports it.
//!
//! Every failure a client can cause ends up here, so the wire shape of an error
//! (status, `Code`, `Message`, `Resource`, `RequestId`) is decided in one place.

use std::fmt;
use std::sync::Arc;

macro_rules! error_codes {
    ($( $name:ident => $status:expr, $msg:expr; )*) => {
        /// An S3 error code, named exactly as AWS names it on the wire.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode { $( $name, )* }

        impl ErrorCode {
            pub fn as_str(self) -> &'static str {
                match self { $( ErrorCode::$name => stringify!($name), )* }
            }
            pub fn status(self) -> u16 {
                match self { $( ErrorCode::$name => $status, )* }
            }
            pub fn default_message(self) -> &'static str {
                match self { $( ErrorCode::$name => $msg, )* }
            }
            /// The code named `name` (as `as_str` spells it), for errors that crossed a wire.
            pub fn from_name(name: &str) -> Option<ErrorCode> {
                match name { $( stringify!($name) => Some(ErrorCode::$name), )* _ => None }
            }
        }
    };
}

error_codes! {
    AccessDenied => 403, "Access Denied";
    AuthorizationHeaderMalformed => 400, "The authorization header is malformed.";
    AuthorizationQueryParametersError => 400, "Error parsing the X-Amz-Credential parameter.";
    BadDigest => 400, "The Content-MD5 or checksum value that you specified did not match what the server received.";
    BucketAlreadyExists => 409, "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.";
    BucketAlreadyOwnedByYou => 409, "Your previous request to create the named bucket succeeded and you already own it.";
    BucketNotEmpty => 409, "The bucket you tried to delete is not empty.";
    EntityTooLarge => 400, "Your proposed upload exceeds the maximum allowed object size.";
    EntityTooSmall => 400, "Your proposed upload is smaller than the minimum allowed object size.";
    ExpiredToken => 400, "The provided token has expired.";
    IllegalLocationConstraintException => 400, "The location constraint is incompatible with the region of this endpoint.";
    IncompleteBody => 400, "You did not provide the number of bytes specified by the Content-Length HTTP header.";
    InsufficientStorage => 507, "The storage backend has run out of space.";
    InternalError => 500, "We encountered an internal error. Please try again.";
    InvalidAccessKeyId => 403, "The AWS access key ID you provided does not exist in our records.";
    InvalidArgument => 400, "Invalid Argument";
    InvalidBucketName => 400, "The specified bucket is not valid.";
    InvalidBucketState => 409, "The request is not valid with the current state of the bucket.";
    InvalidDigest => 400, "The Content-MD5 or checksum value that you specified is not valid.";
    InvalidLocationConstraint => 400, "The specified location constraint is not valid.";
    InvalidPart => 400, "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.";
    InvalidPartNumber => 400, "The requested partnumber is not satisfiable";
    InvalidPartOrder => 400, "The list of parts was not in ascending order. The parts list must be specified in order by part number.";
    InvalidRange => 416, "The requested range is not satisfiable";
    InvalidRequest => 400, "Invalid Request";
    InvalidStorageClass => 400, "The storage class you specified is not valid.";
    InvalidURI => 400, "Couldn't parse the specified URI.";
    KeyTooLongError => 400, "Your key is too long.";
    MalformedACLError => 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MalformedXML => 400, "The XML you provided was not well-formed or did not validate against our published schema.";
    MaxMessageLengthExceeded => 400, "Your request was too big.";
    MetadataTooLarge => 400, "Your metadata headers exceed the maximum allowed metadata size.";
    MethodNotAllowed => 405, "The specified method is not allowed against this resource.";
    MissingContentLength => 411, "You must provide the Content-Length HTTP header.";
    MissingRequestBodyError => 400, "Request Body is empty.";
    MissingSecurityHeader => 400, "Your request is missing a required header.";
    NoSuchBucket => 404, "The specified bucket does not exist.";
    NoSuchKey => 404, "The specified key does not exist.";
    NoSuchVersion => 404, "The specified version does not exist.";
    NoSuchUpload => 404, "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.";
    NotImplemented => 501, "A header you provided implies functionality that is not implemented.";
    NotModified => 304, "Not Modified";
    PreconditionFailed => 412, "At least one of the preconditions you specified did not hold.";
    RequestHeaderSectionTooLarge => 400, "Your request header section exceeds the maximum allowed size.";
    RequestTimeTooSkewed => 403, "The difference between the request time and the server's time is too large.";
    RequestTimeout => 400, "Your socket connection to the server was not read from or written to within the timeout period.";
    ServiceUnavailable => 503, "Please reduce your request rate.";
    SignatureDoesNotMatch => 403, "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
    SlowDown => 503, "Please reduce your request rate.";
    UnexpectedContent => 400, "This request does not support content.";
    XAmzContentSHA256Mismatch => 400, "The provided 'x-amz-content-sha256' header does not match what was computed.";
    NoSuchTagSet => 404, "The TagSet does not exist";
    NoSuchLifecycleConfiguration => 404, "The lifecycle configuration does not exist";
    NoSuchBucketPolicy => 404, "The bucket policy does not exist";
    NoSuchCORSConfiguration => 404, "The CORS configuration does not exist";
    ServerSideEncryptionConfigurationNotFoundError => 404, "The server side encryption configuration was not found";
    NoSuchWebsiteConfiguration => 404, "The specified bucket does not have a website configuration";
    ReplicationConfigurationNotFoundError => 404, "The replication configuration was not found";
    ObjectLockConfigurationNotFoundError => 404, "Object Lock configuration does not exist for this bucket";
    NoSuchObjectLockConfiguration => 404, "The specified object does not have a ObjectLock configuration";
    OwnershipControlsNotFoundError => 404, "The bucket ownership controls were not found";
    NoSuchPublicAccessBlockConfiguration => 404, "The public access block configuration was not found";
    UnresolvableGrantByEmailAddress => 400, "The email address you provided does not match any account on record.";
    BadRequest => 400, "Bad Request";
    InvalidTag => 400, "The tag provided was not a valid tag.";
    MalformedPolicy => 400, "Policies must be valid JSON and the first byte must be '{'";
    AccessControlListNotSupported => 400, "The bucket does not allow ACLs";
    InvalidBucketAclWithObjectOwnership => 400, "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting";
    AccessForbidden => 403, "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";
    MalformedPOSTRequest => 400, "The body of your POST request is not well-formed multipart/form-data.";
    InvalidPolicyDocument => 400, "The content of the form does not meet the conditions specified in the policy document.";
    IncorrectNumberOfFilesInPostRequest => 400, "POST requires exactly one file upload per request.";
    MaxPostPreDataLengthExceeded => 400, "Your POST request fields preceding the upload file were too large.";
}

/// The kind of failure underneath an error, for code that must act on it (a full disk, a
/// batch that must not commit); decisions read this, never the log text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Local disk I/O failed.
    Io,
    /// The metadata database failed: a write transaction it happened in may be half-applied.
    Db,
    /// A stored record or value does not decode: the data is corrupt.
    Corrupt,
    /// Object bytes read from disk fail the CRC32C their record carries (another copy, in
    /// cluster mode, may still be intact).
    Checksum,
    /// Cluster mode: every reachable node answered that it holds no copy of a data file a
    /// record named. The record was replaced or deleted after it was read (frees reach every
    /// node): a reader reads the record again.
    Gone,
}

/// A redb failure, flattened to what outlives it: its text and its I/O error, if it had one
/// (redb's own errors expose no `source()`).
#[derive(Debug)]
pub struct DbError {
    text: String,
    io: Option<std::io::Error>,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Whether an I/O error means the file system is full.
pub fn is_out_of_space(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOSPC) || e.kind() == std::io::ErrorKind::StorageFull
}

/// A failed request: the code decides the status; the rest fills the error XML.
#[derive(Debug, Clone)]
pub struct S3Error {
    pub code: ErrorCode,
    pub message: String,
    /// Extra elements of the error XML (`BucketName`, `Key`, `ArgumentName`, ...).
    pub extra: Vec<(&'static str, String)>,
    /// What went wrong underneath, outermost first ("commit: io: No space left..."): logged
    /// with the request id, never sent to the client.
    pub cause: Option<String>,
    /// The kind of the underlying failure, when it is one the callers act on.
    fault: Option<Fault>,
    /// The underlying error value (shared: an error answers every write of a batch).
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl S3Error {
    pub fn new(code: ErrorCode) -> Self {
        S3Error::msg(code, code.default_message())
    }
    pub fn msg(code: ErrorCode, message: impl Into<String>) -> Self {
        S3Error {
            code,
            message: message.into(),
            extra: Vec::new(),
            cause: None,
            fault: None,
            source: None,
        }
    }
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.extra.push((name, value.into()));
        self
    }
    pub fn status(&self) -> u16 {
        self.code.status()
    }
    /// An internal failure: the client sees InternalError; the cause is kept for the log
    /// line the request ends with.
    pub fn internal(cause: impl fmt::Display) -> Self {
        S3Error::new(ErrorCode::InternalError).caused_by(cause)
    }
    /// An internal failure from an error value: its whole `source()` chain is kept.
    pub fn internal_error(e: &(dyn std::error::Error + 'static)) -> Self {
        S3Error::internal(error_chain(e))
    }
    /// A local I/O failure: InsufficientStorage (507) when the disk is full, else
    /// InternalError; the error stays reachable through `source()`.
    pub fn from_io(e: std::io::Error) -> Self {
        let code = if is_out_of_space(&e) {
            ErrorCode::InsufficientStorage
        } else {
            ErrorCode::InternalError
        };
        S3Error::new(code)
            .caused_by(error_chain(&e))
            .with_source(Fault::Io, Arc::new(e))
    }
    /// A metadata database failure: InsufficientStorage (507) when its I/O error is a full
    /// disk, else InternalError. Marked [`Fault::Db`]: the transaction may be half-applied.
    pub fn from_db<E: Into<redb::Error> + fmt::Display>(e: E) -> Self {
        let text = e.to_string();
        let io = match e.into() {
            redb::Error::Io(io) => Some(io),
            _ => None,
        };
        let code = match &io {
            Some(io) if is_out_of_space(io) => ErrorCode::InsufficientStorage,
            _ => ErrorCode::InternalError,
        };
        S3Error::new(code)
            .caused_by(&text)
            .with_source(Fault::Db, Arc::new(DbError { text, io }))
    }
    /// Stored data that does not decode (a record, a stored ETag): InternalError, marked
    /// [`Fault::Corrupt`] so no write transaction that read it commits.
    pub fn corrupt(cause: impl fmt::Display) -> Self {
        S3Error::internal(cause).marked(Fault::Corrupt)
    }
    /// Object bytes that fail their CRC32C: InternalError, marked [`Fault::Checksum`].
    pub fn checksum_mismatch(cause: impl fmt::Display) -> Self {
        S3Error::msg(
            ErrorCode::InternalError,
            "The object's stored data failed its integrity check.",
        )
        .caused_by(cause)
        .marked(Fault::Checksum)
    }
    /// A data file no reachable node holds: 503 (retryable), marked [`Fault::Gone`].
    pub fn data_gone(cause: impl fmt::Display) -> Self {
        S3Error::msg(
            ErrorCode::ServiceUnavailable,
            "The object's data was replaced while it was being read; please retry.",
        )
        .caused_by(cause)
        .marked(Fault::Gone)
    }
    fn marked(mut self, fault: Fault) -> Self {
        self.fault = Some(fault);
        self
    }
    fn with_source(
        mut self,
        fault: Fault,
        source: Arc<dyn std::error::Error + Send + Sync>,
    ) -> Self {
        self.source = Some(source);
        self.marked(fault)
    }
    /// Records the underlying cause's text (replacing a previous one); a typed source stays.
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }
    /// The kind of the underlying failure, if it is one callers act on.
    pub fn fault(&self) -> Option<Fault> {
        self.fault
    }
    /// Whether a write transaction this error happened in may be half-applied (or read
    /// corrupt data), so nothing of its batch may commit.
    pub fn poisons_transaction(&self) -> bool {
        matches!(self.fault, Some(Fault::Db | Fault::Corrupt))
    }
    pub fn no_such_bucket(bucket: &str) -> Self {
        S3Error::new(ErrorCode::NoSuchBucket).with("BucketName", bucket)
    }
    pub fn no_such_key(key: &str) -> Self {
        S3Error::new(ErrorCode::NoSuchKey).with("Key", key)
    }
    pub fn invalid_argument(message: impl Into<String>, name: &str, value: &str) -> Self {
        S3Error::msg(ErrorCode::InvalidArgument, message)
            .with("ArgumentName", name)
            .with("ArgumentValue", value)
    }
}

impl From<ErrorCode> for S3Error {
    fn from(code: ErrorCode) -> Self {
        S3Error::new(code)
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        match &self.cause {
            Some(c) => write!(f, " (cause: {c})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for S3Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

pub type S3Result<T> = Result<T, S3Error>;

/// The element names `S3Error::with` is called with, as statics: an error decoded from a peer
/// (cluster mode) gets its names back from here. A name missing here is dropped on the wire.
const EXTRA_NAMES: &[&str] = &[
    "AWSAccessKeyId",
    "ActualObjectSize",
    "ActualPartCount",
    "ArgumentName",
    "ArgumentValue",
    "BucketName",
    "CanonicalRequest",
    "Condition",
    "ETag",
    "EmailAddress",
    "Expires",
    "Header",
    "HeadersNotSigned",
    "Key",
    "MaxAllowedSkewMilliseconds",
    "MaxSizeAllowed",
    "Method",
    "MinSizeAllowed",
    "PartNumber",
    "PartNumberRequested",
    "ProposedSize",
    "Region",
    "RequestTime",
    "ResourceType",
    "ServerTime",
    "SignatureProvided",
    "Size",
    "StorageClassRequested",
    "StringToSign",
    "StringToSignBytes",
    "TagKey",
    "TagValue",
    "UploadId",
    "VersionId",
];

/// An [`S3Error`] as plain data: what a replica's reply carries back to the proposer. The
/// typed source does not travel; its text does (`cause`), and so does the fault kind.
#[derive(serde::Serialize, serde::Deserialize)]
struct WireError {
    code: String,
    message: String,
    extra: Vec<(String, String)>,
    cause: Option<String>,
    fault: Option<u8>,
}

impl serde::Serialize for S3Error {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireError {
            code: self.code.as_str().to_string(),
            message: self.message.clone(),
            extra: self
                .extra
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
            cause: self.cause.clone(),
            fault: self.fault.map(|f| match f {
                Fault::Io => 0,
                Fault::Db => 1,
                Fault::Corrupt => 2,
                Fault::Checksum => 3,
                Fault::Gone => 4,
            }),
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for S3Error {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<S3Error, D::Error> {
        let w = WireError::deserialize(d)?;
        // A code this build does not know (a newer peer) is still a failure: InternalError.
        let code = ErrorCode::from_name(&w.code).unwrap_or(ErrorCode::InternalError);
        let mut e = S3Error::msg(code, w.message);
        e.extra = w
            .extra
            .into_iter()
            .filter_map(|(n, v)| {
                let name = EXTRA_NAMES.iter().find(|k| **k == n)?;
                Some((*name, v))
            })
            .collect();
        e.cause = w.cause;
        e.fault = w.fault.and_then(|f| match f {
            0 => Some(Fault::Io),
            1 => Some(Fault::Db),
            2 => Some(Fault::Corrupt),
            3 => Some(Fault::Checksum),
            4 => Some(Fault::Gone),
            _ => None,
        });
        Ok(e)
    }
}

/// Renders the S3 error document.
pub fn error_xml(err: &S3Error, resource: &str, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>");
    out.push_str(err.code.as_str());
    out.push_str("</Code><Message>");
    escape_lossy_into(&mut out, &err.message);
    out.push_str("</Message>");
    for (name, value) in &err.extra {
        out.push('<');
        out.push_str(name);
        out.push('>');
        escape_lossy_into(&mut out, value);
        out.push_str("</");
        out.push_str(name);
        out.push('>');
    }
    out.push_str("<Resource>");
    escape_lossy_into(&mut out, resource);
    out.push_str("</Resource><RequestId>");
    out.push_str(request_id);
    out.push_str("</RequestId></Error>");
    out
}

/// XML text escaping; control characters other than tab/newline become character references
/// so that any key (keys are data) survives a round-trip through an XML body.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// Escapes like [`escape_into`], for documents that echo a key back but are not listings
/// (errors, multipart results): a character XML 1.0 cannot carry at all (C0 controls but
/// tab, LF and CR; U+FFFE, U+FFFF) becomes U+FFFD, so every client's parser reads the
/// document. Listings instead keep such keys exact behind `encoding-type=url`.
pub fn escape_lossy_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\r' => out.push_str("&#xD;"),
            c if ((c as u32) < 0x20 && c != '\t' && c != '\n')
                || c == '\u{FFFE}'
                || c == '\u{FFFF}' =>
            {
                out.push('\u{FFFD}')
            }
            c => escape_into(out, c.encode_utf8(&mut [0u8; 4])),
        }
    }
}

/// An error and its `source()` chain on one line, outermost first: "a: b: c".
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        // Many errors repeat their source's text in their own; print each cause once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error crosses a wire (cluster replies) with its code, message, element names,
    /// cause and fault; a code this build does not know reads as InternalError.
    #[test]
    fn errors_round_trip_as_plain_data() {
        let e = S3Error::new(ErrorCode::PreconditionFailed)
            .with("Condition", "If-Match")
            .with("NotAKnownName", "dropped")
            .caused_by("why");
        let back: S3Error = bincode::deserialize(&bincode::serialize(&e).unwrap()).unwrap();
        assert_eq!(back.code, ErrorCode::PreconditionFailed);
        assert_eq!(back.message, e.message);
        assert_eq!(back.extra, vec![("Condition", "If-Match".to_string())]);
        assert_eq!(back.cause.as_deref(), Some("why"));
        let corrupt = S3Error::corrupt("bad record");
        let back: S3Error = bincode::deserialize(&bincode::serialize(&corrupt).unwrap()).unwrap();
        assert!(back.poisons_transaction());
        let crc = S3Error::checksum_mismatch("chunk 3");
        let back: S3Error = bincode::deserialize(&bincode::serialize(&crc).unwrap()).unwrap();
        assert_eq!(back.fault(), Some(Fault::Checksum));
        assert!(!back.poisons_transaction());
        let gone = S3Error::data_gone("no copy");
        let back: S3Error = bincode::deserialize(&bincode::serialize(&gone).unwrap()).unwrap();
        assert_eq!(
            (back.code, back.fault()),
            (ErrorCode::ServiceUnavailable, Some(Fault::Gone))
        );
        // Every name `with` is called with in the crate is known (checked by hand here for
        // the ones the commands use).
        for n in ["BucketName", "Key", "UploadId", "VersionId", "ArgumentName"] {
            assert!(EXTRA_NAMES.contains(&n), "{n}");
        }
        let wire = WireError {
            code: "SomeFutureCode".into(),
            message: "m".into(),
            extra: vec![],
            cause: None,
            fault: None,
        };
        let back: S3Error = bincode::deserialize(&bincode::serialize(&wire).unwrap()).unwrap();
        assert_eq!(back.code, ErrorCode::InternalError);
        assert_eq!(
            ErrorCode::from_name("NoSuchKey"),
            Some(ErrorCode::NoSuchKey)
        );
    }

    #[test]
    fn lossy_escaping_keeps_documents_xml_1_0() {
        let mut out = String::new();
        escape_lossy_into(&mut out, "a\u{0}b\u{1}<\r\n\t\u{FFFF}&");
        assert_eq!(out, "a\u{FFFD}b\u{FFFD}&lt;&#xD;\n\t\u{FFFD}&amp;");
        let doc = error_xml(&S3Error::no_such_key("k\u{1}"), "/b/k\u{1}", "R");
        assert!(!doc.contains("&#x1;"), "{doc}");
    }

    #[test]
    fn error_xml_has_code_message_resource_and_extra() {
        let e = S3Error::no_such_key("a<b");
        let xml = error_xml(&e, "/bkt/a<b", "REQ1");
        assert!(xml.contains("<Code>NoSuchKey</Code>"));
        assert!(xml.contains("<Key>a&lt;b</Key>"));
        assert!(xml.contains("<Resource>/bkt/a&lt;b</Resource>"));
        assert!(xml.contains("<RequestId>REQ1</RequestId>"));
        assert_eq!(e.status(), 404);
    }

    #[test]
    fn statuses_follow_aws() {
        assert_eq!(ErrorCode::InvalidRange.status(), 416);
        assert_eq!(ErrorCode::NotImplemented.status(), 501);
        assert_eq!(ErrorCode::SignatureDoesNotMatch.status(), 403);
        assert_eq!(ErrorCode::MissingContentLength.status(), 411);
    }

    #[derive(Debug)]
    struct Wrap(&'static str, Option<Box<dyn std::error::Error + 'static>>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref()
        }
    }

    #[test]
    fn error_chain_lists_every_cause_once() {
        let io = std::io::Error::other("No space left on device");
        let e = Wrap(
            "commit failed",
            Some(Box::new(Wrap("redb", Some(Box::new(io))))),
        );
        assert_eq!(
            error_chain(&e),
            "commit failed: redb: No space left on device"
        );
        let dup = Wrap("io: disk", Some(Box::new(Wrap("disk", None))));
        assert_eq!(error_chain(&dup), "io: disk");
    }

    #[test]
    fn a_full_disk_is_insufficient_storage() {
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = S3Error::from_io(enospc);
        assert_eq!(e.code, ErrorCode::InsufficientStorage);
        assert_eq!(e.status(), 507);
        assert_eq!(e.fault(), Some(Fault::Io));
        assert!(!e.poisons_transaction());
        let full = std::io::Error::from(std::io::ErrorKind::StorageFull);
        assert_eq!(S3Error::from_io(full).code, ErrorCode::InsufficientStorage);
        let other = std::io::Error::from_raw_os_error(libc::EIO);
        assert_eq!(S3Error::from_io(other).code, ErrorCode::InternalError);
        // Text that merely looks like a full disk is not one.
        let lookalike = std::io::Error::other("No space left on device (os error 28)");
        assert_eq!(S3Error::from_io(lookalike).code, ErrorCode::InternalError);
    }

    #[test]
    fn db_errors_keep_their_io_error_as_source() {
        use std::error::Error as _;
        let enospc = std::io::Error::from_raw_os_error(libc::ENOSPC);
        let e = S3Error::from_db(redb::StorageError::Io(enospc));
        assert_eq!(e.code, ErrorCode::InsufficientStorage);
        assert!(e.poisons_transaction());
        let db = e.source().expect("the redb error");
        assert!(db.is::<DbError>());
        let io = db.source().expect("its io error");
        assert_eq!(
            io.downcast_ref::<std::io::Error>()
                .and_then(|e| e.raw_os_error()),
            Some(libc::ENOSPC)
        );
        assert!(
            error_chain(&e).starts_with("InsufficientStorage: "),
            "{}",
            error_chain(&e)
        );
        let corrupted = S3Error::from_db(redb::StorageError::Corrupted("x".into()));
        assert_eq!(corrupted.code, ErrorCode::InternalError);
        assert!(corrupted.source().unwrap().source().is_none());
        assert!(S3Error::corrupt("bad record").poisons_transaction());
        assert!(!S3Error::internal("x").poisons_transaction());
        // The log text is the one the untyped cause carried.
        assert_eq!(
            S3Error::from_db(redb::StorageError::Corrupted("x".into())).cause,
            corrupted.cause
        );
    }
}

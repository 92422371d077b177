//! `GET /openapi.json`: an OpenAPI 3.1 description of everything this server answers, built
//! from one table ([`OPERATIONS`]) that lists every S3 operation the router knows once, plus
//! the operational endpoints ([`OPERATIONAL`]).
//!
//! # How S3's overloaded routes are modelled
//!
//! S3 puts many operations on one method + path and tells them apart by a query subresource
//! (`?acl`, `?uploads`, `?list-type=2`, ...) or by a header (`x-amz-copy-source`). OpenAPI
//! keys operations by path + method, so two S3 operations cannot share a path key. We follow
//! AWS's own Smithy model of S3 (and the OpenAPI documents generated from it): the
//! distinguishing query goes into the path key as a literal (`/{bucket}?acl`,
//! `/{bucket}?list-type=2`), and operations that would still collide because a header or a
//! query *value* tells them apart get `?x-id=<Operation>` (`/{bucket}/{key}?x-id=CopyObject`,
//! `?x-id=UploadPart`). `x-id` is what the AWS SDKs themselves send on the wire; the router
//! ignores it, exactly as S3 does.
//!
//! Why this and not one operation per path + method whose description enumerates the
//! variants: every S3 operation stays one documented operation whose `operationId` is the
//! name the router gives it (`Endpoint::name()`, the metrics label), with its own
//! parameters, XML request body and response schemas. Swagger UI lists each one, and
//! schemathesis tests each one; both build a request by appending their own query
//! parameters to the literal with `&` (swagger-client and python-requests merge into an
//! existing query string), so the bytes on the wire are what the router expects. The
//! collapsed alternative would fold ~75 operations into 13 with one response schema per
//! status, unable to say that `?uploads` answers a `ListMultipartUploadsResult`.
//!
//! Keys: `{key}` is a single OpenAPI path parameter, but an S3 key may contain `/` (AWS's
//! model writes it `{Key+}`, a greedy label). The parameter says so and carries
//! `x-greedy: true`; clients may send the slashes raw or as `%2F` (decoded once).
//!
//! # Drift against the router
//!
//! A unit test routes a request built from every documented operation (method, path with
//! sample bucket and key, the literal query, required query parameters and headers) through
//! [`crate::s3::endpoint::route`] and checks the name, and checks that the documented names
//! are exactly the names the router can produce. `endpoint.rs` exposes no list of its
//! operation names (its subresource tables are private), so the test reads them from that
//! file's source text (`include_str!`); an exhaustive `match` over `Endpoint` also stops the
//! test compiling when a variant is added. See the tests at the end of this file.

use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// The XML namespace of every S3 document but `Error`.
const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// What a request carries in its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqBody {
    None,
    /// An XML document (component schema name); the bool says whether it is required.
    Xml(&'static str, bool),
    /// Object bytes.
    Bytes,
    /// An HTML form upload (`multipart/form-data`).
    Form,
}

/// What a successful request answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// 200 with an XML document (component schema name).
    Xml(&'static str),
    /// This status with no body.
    Empty(u16),
    /// Object bytes: 200, 206 for a range, 304 for a failed If-None-Match/If-Modified-Since.
    Object,
    /// HeadObject: GetObject's headers without a body.
    ObjectHead,
    /// The operation is known but not implemented: always 501 NotImplemented.
    NotImplemented,
}

/// One S3 operation, as documented.
#[derive(Clone, Copy, Debug)]
pub struct Op {
    /// The S3 operation name: `operationId`, and what `Endpoint::name()` says.
    pub name: &'static str,
    /// Lower-case HTTP method, as OpenAPI spells it.
    pub method: &'static str,
    /// OpenAPI path key, with the distinguishing query literal (see the module doc).
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Names from [`PARAMS`]; a trailing `!` marks the parameter required.
    pub params: &'static [&'static str],
    pub body: ReqBody,
    pub answer: Answer,
    /// Response headers of the success answer, names from [`RESPONSE_HEADERS`].
    pub headers: &'static [&'static str],
    /// Error statuses beyond [`COMMON_ERRORS`].
    pub errors: &'static [u16],
}

const fn op(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Op {
    Op {
        name,
        method,
        path,
        tag,
        summary,
        params: &[],
        body: ReqBody::None,
        answer: Answer::Empty(200),
        headers: &[],
        errors: &[],
    }
}

/// A known operation the server answers with 501 NotImplemented.
const fn nyi(name: &'static str, method: &'static str, path: &'static str) -> Op {
    Op {
        answer: Answer::NotImplemented,
        ..op(name, method, path, TAG_NYI, "")
    }
}

impl Op {
    const fn params(mut self, p: &'static [&'static str]) -> Op {
        self.params = p;
        self
    }
    const fn body(mut self, b: ReqBody) -> Op {
        self.body = b;
        self
    }
    const fn answer(mut self, a: Answer) -> Op {
        self.answer = a;
        self
    }
    const fn headers(mut self, h: &'static [&'static str]) -> Op {
        self.headers = h;
        self
    }
    const fn errors(mut self, e: &'static [u16]) -> Op {
        self.errors = e;
        self
    }
}

const TAG_SERVICE: &str = "Service";
const TAG_BUCKET: &str = "Buckets";
const TAG_LIST: &str = "Listing";
const TAG_OBJECT: &str = "Objects";
const TAG_MPU: &str = "Multipart uploads";
const TAG_NYI: &str = "Not implemented (501)";
const TAG_OPS: &str = "Operational";

/// Error statuses any S3 operation can answer: malformed or unauthorised requests, missing
/// buckets, a method the path does not take, an internal failure, a Transfer-Encoding other
/// than chunked (501), overload.
pub const COMMON_ERRORS: &[u16] = &[400, 403, 404, 405, 500, 501, 503];

const GRANTS: &[&str] = &[
    "x-amz-acl",
    "x-amz-grant-full-control",
    "x-amz-grant-read",
    "x-amz-grant-read-acp",
    "x-amz-grant-write",
    "x-amz-grant-write-acp",
];

/// Every S3 operation the router knows, each once. Order is the order of the document.
pub const OPERATIONS: &[Op] = &[
    // ---- service ----
    op(
        "ListBuckets",
        "get",
        "/",
        TAG_SERVICE,
        "List the caller's buckets",
    )
    .params(&[
        "max-buckets",
        "continuation-token",
        "prefix",
        "bucket-region",
    ])
    .answer(Answer::Xml("ListAllMyBucketsResult")),
    // ---- buckets ----
    op(
        "CreateBucket",
        "put",
        "/{bucket}",
        TAG_BUCKET,
        "Create a bucket",
    )
    .params(GRANTS)
    .body(ReqBody::Xml("CreateBucketConfiguration", false))
    .headers(&["Location"])
    .errors(&[409, 411]),
    op(
        "HeadBucket",
        "head",
        "/{bucket}",
        TAG_BUCKET,
        "Does the bucket exist, and may I use it?",
    )
    .headers(&["x-amz-bucket-region"]),
    op(
        "DeleteBucket",
        "delete",
        "/{bucket}",
        TAG_BUCKET,
        "Delete an empty bucket",
    )
    .answer(Answer::Empty(204))
    .errors(&[409]),
    op(
        "GetBucketLocation",
        "get",
        "/{bucket}?location",
        TAG_BUCKET,
        "The bucket's region",
    )
    .answer(Answer::Xml("LocationConstraint")),
    op(
        "GetBucketAcl",
        "get",
        "/{bucket}?acl",
        TAG_BUCKET,
        "The bucket's access control list",
    )
    .answer(Answer::Xml("AccessControlPolicy")),
    op(
        "PutBucketAcl",
        "put",
        "/{bucket}?acl",
        TAG_BUCKET,
        "Replace the bucket's access control list (canned, grant headers or XML)",
    )
    .params(GRANTS)
    .body(ReqBody::Xml("AccessControlPolicy", false))
    .errors(&[411]),
    op(
        "GetBucketVersioning",
        "get",
        "/{bucket}?versioning",
        TAG_BUCKET,
        "Versioning status (never enabled here)",
    )
    .answer(Answer::Xml("VersioningConfiguration")),
    // ---- listing ----
    op(
        "ListObjects",
        "get",
        "/{bucket}",
        TAG_LIST,
        "List objects (version 1, marker paging)",
    )
    .params(&["prefix", "delimiter", "marker", "max-keys", "encoding-type"])
    .answer(Answer::Xml("ListBucketResult")),
    op(
        "ListObjectsV2",
        "get",
        "/{bucket}?list-type=2",
        TAG_LIST,
        "List objects (version 2, continuation tokens)",
    )
    .params(&[
        "prefix",
        "delimiter",
        "continuation-token",
        "start-after",
        "max-keys",
        "fetch-owner",
        "encoding-type",
    ])
    .answer(Answer::Xml("ListBucketResultV2")),
    op(
        "ListObjectVersions",
        "get",
        "/{bucket}?versions",
        TAG_LIST,
        "List object versions (every object once, version null)",
    )
    .params(&[
        "prefix",
        "delimiter",
        "key-marker",
        "version-id-marker",
        "max-keys",
        "encoding-type",
    ])
    .answer(Answer::Xml("ListVersionsResult")),
    op(
        "ListMultipartUploads",
        "get",
        "/{bucket}?uploads",
        TAG_MPU,
        "List multipart uploads in progress",
    )
    .params(&[
        "prefix",
        "delimiter",
        "key-marker",
        "upload-id-marker",
        "max-uploads",
        "encoding-type",
    ])
    .answer(Answer::Xml("ListMultipartUploadsResult")),
    op(
        "DeleteObjects",
        "post",
        "/{bucket}?delete",
        TAG_OBJECT,
        "Delete up to 1000 objects in one request",
    )
    .params(&[
        "Content-MD5",
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
        "x-amz-sdk-checksum-algorithm",
        "encoding-type",
    ])
    .body(ReqBody::Xml("Delete", true))
    .answer(Answer::Xml("DeleteResult"))
    .errors(&[411]),
    // ---- objects ----
    op(
        "PutObject",
        "put",
        "/{bucket}/{key}",
        TAG_OBJECT,
        "Store an object",
    )
    .params(&[
        "Content-MD5",
        "Cache-Control",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Expires",
        "x-amz-acl",
        "x-amz-grant-full-control",
        "x-amz-grant-read",
        "x-amz-grant-read-acp",
        "x-amz-grant-write-acp",
        "x-amz-storage-class",
        "x-amz-meta-*",
        "If-Match",
        "If-None-Match",
        "x-amz-content-sha256",
        "x-amz-decoded-content-length",
        "x-amz-trailer",
        "x-amz-sdk-checksum-algorithm",
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ])
    .body(ReqBody::Bytes)
    .headers(&[
        "ETag",
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ])
    .errors(&[409, 411, 412, 501, 507]),
    op(
        "CopyObject",
        "put",
        "/{bucket}/{key}?x-id=CopyObject",
        TAG_OBJECT,
        "Copy an object (PUT with x-amz-copy-source)",
    )
    .params(&[
        "x-amz-copy-source!",
        "x-amz-metadata-directive",
        "x-amz-copy-source-if-match",
        "x-amz-copy-source-if-none-match",
        "x-amz-copy-source-if-modified-since",
        "x-amz-copy-source-if-unmodified-since",
        "Cache-Control",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Expires",
        "x-amz-acl",
        "x-amz-grant-full-control",
        "x-amz-grant-read",
        "x-amz-grant-read-acp",
        "x-amz-grant-write-acp",
        "x-amz-storage-class",
        "x-amz-meta-*",
        "x-amz-checksum-algorithm",
    ])
    .answer(Answer::Xml("CopyObjectResult"))
    .errors(&[412, 507]),
    op(
        "GetObject",
        "get",
        "/{bucket}/{key}",
        TAG_OBJECT,
        "Read an object, whole or a byte range",
    )
    .params(&[
        "Range",
        "If-Match",
        "If-None-Match",
        "If-Modified-Since",
        "If-Unmodified-Since",
        "partNumber",
        "versionId",
        "x-amz-checksum-mode",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
    ])
    .answer(Answer::Object)
    .errors(&[412, 416]),
    op(
        "HeadObject",
        "head",
        "/{bucket}/{key}",
        TAG_OBJECT,
        "An object's metadata",
    )
    .params(&[
        "Range",
        "If-Match",
        "If-None-Match",
        "If-Modified-Since",
        "If-Unmodified-Since",
        "partNumber",
        "versionId",
        "x-amz-checksum-mode",
    ])
    .answer(Answer::ObjectHead)
    .errors(&[412, 416]),
    op(
        "DeleteObject",
        "delete",
        "/{bucket}/{key}",
        TAG_OBJECT,
        "Delete an object (204 whether or not it existed)",
    )
    .params(&["versionId"])
    .answer(Answer::Empty(204)),
    op(
        "GetObjectAcl",
        "get",
        "/{bucket}/{key}?acl",
        TAG_OBJECT,
        "The object's access control list",
    )
    .params(&["versionId"])
    .answer(Answer::Xml("AccessControlPolicy")),
    op(
        "PutObjectAcl",
        "put",
        "/{bucket}/{key}?acl",
        TAG_OBJECT,
        "Replace the object's access control list",
    )
    .params(&[
        "versionId",
        "x-amz-acl",
        "x-amz-grant-full-control",
        "x-amz-grant-read",
        "x-amz-grant-read-acp",
        "x-amz-grant-write",
        "x-amz-grant-write-acp",
    ])
    .body(ReqBody::Xml("AccessControlPolicy", false))
    .errors(&[411]),
    // ---- multipart uploads ----
    op(
        "CreateMultipartUpload",
        "post",
        "/{bucket}/{key}?uploads",
        TAG_MPU,
        "Start a multipart upload",
    )
    .params(&[
        "Cache-Control",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Expires",
        "x-amz-acl",
        "x-amz-grant-full-control",
        "x-amz-grant-read",
        "x-amz-grant-read-acp",
        "x-amz-grant-write-acp",
        "x-amz-storage-class",
        "x-amz-meta-*",
        "x-amz-checksum-algorithm",
        "x-amz-checksum-type",
    ])
    .answer(Answer::Xml("InitiateMultipartUploadResult"))
    .headers(&["x-amz-checksum-algorithm", "x-amz-checksum-type"]),
    op(
        "UploadPart",
        "put",
        "/{bucket}/{key}?x-id=UploadPart",
        TAG_MPU,
        "Upload one part (PUT with partNumber and uploadId)",
    )
    .params(&[
        "partNumber!",
        "uploadId!",
        "Content-MD5",
        "x-amz-content-sha256",
        "x-amz-decoded-content-length",
        "x-amz-trailer",
        "x-amz-sdk-checksum-algorithm",
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ])
    .body(ReqBody::Bytes)
    .headers(&[
        "ETag",
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ])
    .errors(&[411, 507]),
    op(
        "UploadPartCopy",
        "put",
        "/{bucket}/{key}?x-id=UploadPartCopy",
        TAG_MPU,
        "Copy a byte range of an object into a part",
    )
    .params(&[
        "partNumber!",
        "uploadId!",
        "x-amz-copy-source!",
        "x-amz-copy-source-range",
        "x-amz-copy-source-if-match",
        "x-amz-copy-source-if-none-match",
        "x-amz-copy-source-if-modified-since",
        "x-amz-copy-source-if-unmodified-since",
    ])
    .answer(Answer::Xml("CopyPartResult"))
    .errors(&[412, 416, 507]),
    op(
        "CompleteMultipartUpload",
        "post",
        "/{bucket}/{key}",
        TAG_MPU,
        "Assemble the uploaded parts into the object",
    )
    .params(&[
        "uploadId!",
        "If-Match",
        "If-None-Match",
        "x-amz-checksum-crc32",
        "x-amz-checksum-crc32c",
        "x-amz-checksum-crc64nvme",
        "x-amz-checksum-sha1",
        "x-amz-checksum-sha256",
    ])
    .body(ReqBody::Xml("CompleteMultipartUpload", true))
    .answer(Answer::Xml("CompleteMultipartUploadResult"))
    .errors(&[409, 411, 412, 507]),
    op(
        "AbortMultipartUpload",
        "delete",
        "/{bucket}/{key}?x-id=AbortMultipartUpload",
        TAG_MPU,
        "Abort a multipart upload and drop its parts",
    )
    .params(&["uploadId!"])
    .answer(Answer::Empty(204)),
    op(
        "ListParts",
        "get",
        "/{bucket}/{key}?x-id=ListParts",
        TAG_MPU,
        "List the parts uploaded so far",
    )
    .params(&["uploadId!", "max-parts", "part-number-marker"])
    .answer(Answer::Xml("ListPartsResult")),
    op(
        "GetObjectAttributes",
        "get",
        "/{bucket}/{key}?attributes",
        TAG_OBJECT,
        "Selected attributes of an object (ETag, checksum, parts, storage class, size)",
    )
    .params(&[
        "x-amz-object-attributes!",
        "x-amz-max-parts",
        "x-amz-part-number-marker",
        "versionId",
    ])
    .answer(Answer::Xml("GetObjectAttributesResponse"))
    .headers(&["Last-Modified"]),
    // ---- known, answered 501 NotImplemented ----
    nyi("PostObject", "post", "/{bucket}").body(ReqBody::Form),
    op(
        "GetBucketPolicy",
        "get",
        "/{bucket}?policy",
        TAG_BUCKET,
        "Never set on this server: 404 NoSuchBucketPolicy (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi("PutBucketPolicy", "put", "/{bucket}?policy"),
    op(
        "DeleteBucketPolicy",
        "delete",
        "/{bucket}?policy",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetBucketPolicyStatus",
        "get",
        "/{bucket}?policyStatus",
        TAG_BUCKET,
        "Never set on this server: 404 NoSuchBucketPolicy (owner only)",
    )
    .answer(Answer::Empty(404)),
    op(
        "GetBucketCors",
        "get",
        "/{bucket}?cors",
        TAG_BUCKET,
        "Never set on this server: 404 NoSuchCORSConfiguration (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi("PutBucketCors", "put", "/{bucket}?cors"),
    op(
        "DeleteBucketCors",
        "delete",
        "/{bucket}?cors",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetBucketLifecycleConfiguration",
        "get",
        "/{bucket}?lifecycle",
        TAG_BUCKET,
        "Never set on this server: 404 NoSuchLifecycleConfiguration (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi(
        "PutBucketLifecycleConfiguration",
        "put",
        "/{bucket}?lifecycle",
    ),
    op(
        "DeleteBucketLifecycle",
        "delete",
        "/{bucket}?lifecycle",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetBucketTagging",
        "get",
        "/{bucket}?tagging",
        TAG_BUCKET,
        "Never set on this server: 404 NoSuchTagSet (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi("PutBucketTagging", "put", "/{bucket}?tagging"),
    op(
        "DeleteBucketTagging",
        "delete",
        "/{bucket}?tagging",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetBucketWebsite",
        "get",
        "/{bucket}?website",
        TAG_BUCKET,
        "Never set on this server: 404 NoSuchWebsiteConfiguration (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi("PutBucketWebsite", "put", "/{bucket}?website"),
    op(
        "DeleteBucketWebsite",
        "delete",
        "/{bucket}?website",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetBucketLogging",
        "get",
        "/{bucket}?logging",
        TAG_BUCKET,
        "Never set on this server: the empty / default BucketLoggingStatus (owner only)",
    )
    .answer(Answer::Xml("BucketLoggingStatus")),
    nyi("PutBucketLogging", "put", "/{bucket}?logging"),
    op(
        "GetBucketNotificationConfiguration",
        "get",
        "/{bucket}?notification",
        TAG_BUCKET,
        "Never set on this server: the empty / default NotificationConfiguration (owner only)",
    )
    .answer(Answer::Xml("NotificationConfiguration")),
    nyi(
        "PutBucketNotificationConfiguration",
        "put",
        "/{bucket}?notification",
    ),
    op(
        "GetBucketReplication",
        "get",
        "/{bucket}?replication",
        TAG_BUCKET,
        "Never set on this server: 404 ReplicationConfigurationNotFoundError (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi("PutBucketReplication", "put", "/{bucket}?replication"),
    op(
        "DeleteBucketReplication",
        "delete",
        "/{bucket}?replication",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetBucketEncryption",
        "get",
        "/{bucket}?encryption",
        TAG_BUCKET,
        "Never set on this server: 404 ServerSideEncryptionConfigurationNotFoundError (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi("PutBucketEncryption", "put", "/{bucket}?encryption"),
    op(
        "DeleteBucketEncryption",
        "delete",
        "/{bucket}?encryption",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetObjectLockConfiguration",
        "get",
        "/{bucket}?object-lock",
        TAG_BUCKET,
        "Never set on this server: 404 ObjectLockConfigurationNotFoundError (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi("PutObjectLockConfiguration", "put", "/{bucket}?object-lock"),
    op(
        "GetBucketOwnershipControls",
        "get",
        "/{bucket}?ownershipControls",
        TAG_BUCKET,
        "Never set on this server: 404 OwnershipControlsNotFoundError (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi(
        "PutBucketOwnershipControls",
        "put",
        "/{bucket}?ownershipControls",
    ),
    op(
        "DeleteBucketOwnershipControls",
        "delete",
        "/{bucket}?ownershipControls",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetPublicAccessBlock",
        "get",
        "/{bucket}?publicAccessBlock",
        TAG_BUCKET,
        "Never set on this server: 404 NoSuchPublicAccessBlockConfiguration (owner only)",
    )
    .answer(Answer::Empty(404)),
    nyi("PutPublicAccessBlock", "put", "/{bucket}?publicAccessBlock"),
    op(
        "DeletePublicAccessBlock",
        "delete",
        "/{bucket}?publicAccessBlock",
        TAG_BUCKET,
        "Nothing is ever set here: 204 (owner only)",
    )
    .answer(Answer::Empty(204)),
    op(
        "GetBucketAccelerateConfiguration",
        "get",
        "/{bucket}?accelerate",
        TAG_BUCKET,
        "Never set on this server: the empty / default AccelerateConfiguration (owner only)",
    )
    .answer(Answer::Xml("AccelerateConfiguration")),
    nyi(
        "PutBucketAccelerateConfiguration",
        "put",
        "/{bucket}?accelerate",
    ),
    op(
        "GetBucketRequestPayment",
        "get",
        "/{bucket}?requestPayment",
        TAG_BUCKET,
        "Never set on this server: the empty / default RequestPaymentConfiguration (owner only)",
    )
    .answer(Answer::Xml("RequestPaymentConfiguration")),
    nyi("PutBucketRequestPayment", "put", "/{bucket}?requestPayment"),
    nyi(
        "GetBucketAnalyticsConfiguration",
        "get",
        "/{bucket}?analytics",
    )
    .params(&["id!"]),
    nyi(
        "PutBucketAnalyticsConfiguration",
        "put",
        "/{bucket}?analytics",
    )
    .params(&["id!"]),
    nyi(
        "DeleteBucketAnalyticsConfiguration",
        "delete",
        "/{bucket}?analytics",
    )
    .params(&["id!"]),
    nyi("GetBucketMetricsConfiguration", "get", "/{bucket}?metrics").params(&["id!"]),
    nyi("PutBucketMetricsConfiguration", "put", "/{bucket}?metrics").params(&["id!"]),
    nyi(
        "DeleteBucketMetricsConfiguration",
        "delete",
        "/{bucket}?metrics",
    )
    .params(&["id!"]),
    nyi(
        "GetBucketInventoryConfiguration",
        "get",
        "/{bucket}?inventory",
    )
    .params(&["id!"]),
    nyi(
        "PutBucketInventoryConfiguration",
        "put",
        "/{bucket}?inventory",
    )
    .params(&["id!"]),
    nyi(
        "DeleteBucketInventoryConfiguration",
        "delete",
        "/{bucket}?inventory",
    )
    .params(&["id!"]),
    nyi(
        "GetBucketIntelligentTieringConfiguration",
        "get",
        "/{bucket}?intelligent-tiering",
    )
    .params(&["id!"]),
    nyi(
        "PutBucketIntelligentTieringConfiguration",
        "put",
        "/{bucket}?intelligent-tiering",
    )
    .params(&["id!"]),
    nyi(
        "DeleteBucketIntelligentTieringConfiguration",
        "delete",
        "/{bucket}?intelligent-tiering",
    )
    .params(&["id!"]),
    nyi("PutBucketVersioning", "put", "/{bucket}?versioning"),
    nyi("GetObjectTagging", "get", "/{bucket}/{key}?tagging"),
    nyi("PutObjectTagging", "put", "/{bucket}/{key}?tagging"),
    nyi("DeleteObjectTagging", "delete", "/{bucket}/{key}?tagging"),
    nyi("GetObjectRetention", "get", "/{bucket}/{key}?retention"),
    nyi("PutObjectRetention", "put", "/{bucket}/{key}?retention"),
    nyi("GetObjectLegalHold", "get", "/{bucket}/{key}?legal-hold"),
    nyi("PutObjectLegalHold", "put", "/{bucket}/{key}?legal-hold"),
    nyi("GetObjectTorrent", "get", "/{bucket}/{key}?torrent"),
    nyi("RestoreObject", "post", "/{bucket}/{key}?restore"),
    nyi(
        "SelectObjectContent",
        "post",
        "/{bucket}/{key}?select&select-type=2",
    ),
];

/// A request parameter (query or header) documented once and referenced by name.
pub struct Param {
    pub name: &'static str,
    /// `query` or `header`.
    pub at: &'static str,
    /// JSON Schema, as JSON text.
    pub schema: &'static str,
    pub description: &'static str,
    /// A value the router and handlers accept (used by the routing test and as `example`).
    pub example: &'static str,
}

const fn q(
    name: &'static str,
    schema: &'static str,
    description: &'static str,
    example: &'static str,
) -> Param {
    Param {
        name,
        at: "query",
        schema,
        description,
        example,
    }
}
const fn h(
    name: &'static str,
    schema: &'static str,
    description: &'static str,
    example: &'static str,
) -> Param {
    Param {
        name,
        at: "header",
        schema,
        description,
        example,
    }
}

const STR: &str = r#"{"type":"string"}"#;
const B64: &str = r#"{"type":"string","pattern":"^[A-Za-z0-9+/]*={0,2}$"}"#;
const HTTP_DATE: &str =
    r#"{"type":"string","description":"HTTP-date (RFC 9110), e.g. Wed, 21 Oct 2015 07:28:00 GMT"}"#;
const COUNT: &str = r#"{"type":"integer","minimum":0,"maximum":2147483647}"#;
const ACL_GRANT: &str = r#"{"type":"string","description":"Comma-separated grantees: id=\"canonical-id\", uri=\"http://acs.amazonaws.com/groups/global/AllUsers\" or emailAddress=\"a@example.com\""}"#;
const CHECKSUM_ALGORITHM: &str =
    r#"{"type":"string","enum":["CRC32","CRC32C","CRC64NVME","SHA1","SHA256"]}"#;

/// Every query and header parameter any operation takes.
pub const PARAMS: &[Param] = &[
    // ---- query ----
    q("prefix", STR, "Only keys that begin with this.", "photos/"),
    q("delimiter", STR, "Roll keys up to the first delimiter after the prefix into CommonPrefixes.", "/"),
    q("marker", STR, "ListObjects v1: start after this key.", "photos/a.jpg"),
    q("max-keys", COUNT, "At most this many entries (capped at 1000).", "100"),
    q("encoding-type", r#"{"type":"string","enum":["url"]}"#, "`url`: keys in the answer are URL-encoded.", "url"),
    q("max-buckets", "{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 10000}", "ListBuckets: at most this many buckets per page (1-10000); the next page's token is in ContinuationToken.", "100"),
    q("bucket-region", STR, "ListBuckets: only buckets in this region.", "us-east-1"),
    q("continuation-token", STR, "ListObjectsV2: the NextContinuationToken of the previous page.", "cGhvdG9zL2EuanBn"),
    q("start-after", STR, "ListObjectsV2: start after this key.", "photos/a.jpg"),
    q("fetch-owner", r#"{"type":"boolean"}"#, "ListObjectsV2: include each object's Owner.", "true"),
    q("key-marker", STR, "Start after this key.", "photos/a.jpg"),
    q("version-id-marker", STR, "With key-marker: start after this version.", "null"),
    q("upload-id-marker", STR, "With key-marker: start after this upload.", "VXBsb2FkSUQ"),
    q("max-uploads", COUNT, "At most this many uploads (capped at 1000).", "100"),
    q("max-parts", COUNT, "At most this many parts (capped at 1000).", "100"),
    q("part-number-marker", COUNT, "Start after this part number.", "2"),
    q("uploadId", r#"{"type":"string","minLength":1}"#, "The multipart upload, as CreateMultipartUpload named it.", "VXBsb2FkSUQ"),
    q("partNumber", r#"{"type":"integer","minimum":1,"maximum":10000}"#, "Part number (1 to 10000). On GET/HEAD: read just that part of a multipart object.", "1"),
    q("versionId", STR, "Object version; only `null` exists (versioning is never enabled).", "null"),
    q("id", STR, "Configuration id.", "report-1"),
    q("response-content-type", STR, "Override Content-Type in the answer (signed requests only).", "text/plain"),
    q("response-content-language", STR, "Override Content-Language in the answer (signed requests only).", "en"),
    q("response-expires", STR, "Override Expires in the answer (signed requests only).", "Wed, 21 Oct 2015 07:28:00 GMT"),
    q("response-cache-control", STR, "Override Cache-Control in the answer (signed requests only).", "no-cache"),
    q("response-content-disposition", STR, "Override Content-Disposition in the answer (signed requests only).", "attachment"),
    q("response-content-encoding", STR, "Override Content-Encoding in the answer (signed requests only).", "identity"),
    // ---- headers ----
    h("Range", r#"{"type":"string","pattern":"^bytes=(\\d*-\\d*)$"}"#, "One byte range, `bytes=first-last`, `bytes=first-` or `bytes=-suffix`; answered 206.", "bytes=0-99"),
    h("If-Match", STR, "Only if the ETag matches (else 412). On PUT/complete: only overwrite this version.", "\"9b2cf535f27731c974343645a3985328\""),
    h("If-None-Match", STR, "GET/HEAD: 304 if the ETag matches. PUT/complete: only `*` (create only if absent, else 412).", "*"),
    h("If-Modified-Since", HTTP_DATE, "304 unless modified since.", "Wed, 21 Oct 2015 07:28:00 GMT"),
    h("If-Unmodified-Since", HTTP_DATE, "412 if modified since.", "Wed, 21 Oct 2015 07:28:00 GMT"),
    h("Content-MD5", B64, "Base64 MD5 of the body; a mismatch is 400 BadDigest.", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    h("Cache-Control", STR, "Stored and returned on GET.", "max-age=3600"),
    h("Content-Disposition", STR, "Stored and returned on GET.", "attachment; filename=\"cat.jpg\""),
    h("Content-Encoding", STR, "Stored and returned on GET (`aws-chunked` is a transfer coding and is not stored).", "gzip"),
    h("Content-Language", STR, "Stored and returned on GET.", "en"),
    h("Expires", HTTP_DATE, "Stored and returned on GET.", "Wed, 21 Oct 2015 07:28:00 GMT"),
    h("x-amz-acl", r#"{"type":"string","enum":["private","public-read","public-read-write","authenticated-read","bucket-owner-read","bucket-owner-full-control"]}"#, "Canned ACL.", "private"),
    h("x-amz-grant-full-control", ACL_GRANT, "Grant FULL_CONTROL.", "id=\"alice-id\""),
    h("x-amz-grant-read", ACL_GRANT, "Grant READ.", "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""),
    h("x-amz-grant-read-acp", ACL_GRANT, "Grant READ_ACP.", "id=\"alice-id\""),
    h("x-amz-grant-write", ACL_GRANT, "Grant WRITE.", "id=\"alice-id\""),
    h("x-amz-grant-write-acp", ACL_GRANT, "Grant WRITE_ACP.", "id=\"alice-id\""),
    h("x-amz-storage-class", r#"{"type":"string","enum":["STANDARD"]}"#, "Only STANDARD is stored; others are 400 InvalidStorageClass.", "STANDARD"),
    h("x-amz-meta-*", STR, "User metadata: any number of `x-amz-meta-<name>` headers, returned on GET/HEAD (2 KB in all). OpenAPI cannot name a header family; this entry stands for all of them.", "value"),
    h("x-amz-content-sha256", r#"{"type":"string","description":"Hex SHA-256 of the body, UNSIGNED-PAYLOAD, or a STREAMING-* aws-chunked mode","anyOf":[{"pattern":"^[0-9a-f]{64}$"},{"enum":["UNSIGNED-PAYLOAD","STREAMING-UNSIGNED-PAYLOAD-TRAILER","STREAMING-AWS4-HMAC-SHA256-PAYLOAD","STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"]}]}"#, "SigV4 payload hash; checked against the body.", "UNSIGNED-PAYLOAD"),
    h("x-amz-decoded-content-length", COUNT, "aws-chunked bodies: the object's length.", "5"),
    h("x-amz-trailer", r#"{"type":"string","pattern":"^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$"}"#, "aws-chunked bodies: the checksum header sent as a trailer.", "x-amz-checksum-crc32"),
    h("x-amz-sdk-checksum-algorithm", CHECKSUM_ALGORITHM, "The algorithm of the x-amz-checksum-* header or trailer sent.", "CRC32"),
    h("x-amz-checksum-algorithm", CHECKSUM_ALGORITHM, "Checksum algorithm to keep for the object / upload.", "CRC32"),
    h("x-amz-checksum-crc32", B64, "Base64 CRC32 of the body; checked.", "AAAAAA=="),
    h("x-amz-checksum-crc32c", B64, "Base64 CRC32C of the body; checked.", "AAAAAA=="),
    h("x-amz-checksum-crc64nvme", B64, "Base64 CRC64NVME of the body; checked.", "AAAAAAAAAAA="),
    h("x-amz-checksum-sha1", B64, "Base64 SHA-1 of the body; checked.", "2jmj7l5rSw0yVb/vlWAYkK/YBwk="),
    h("x-amz-checksum-sha256", B64, "Base64 SHA-256 of the body; checked.", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),
    h("x-amz-checksum-type", r#"{"type":"string","enum":["COMPOSITE","FULL_OBJECT"]}"#, "CreateMultipartUpload: COMPOSITE (checksum of the parts' checksums) or FULL_OBJECT (a CRC of the whole object, combined from the parts' CRCs).", "FULL_OBJECT"),
    h("x-amz-object-attributes", STR, "GetObjectAttributes: comma-separated ETag, Checksum, ObjectParts, StorageClass, ObjectSize.", "ETag,ObjectSize"),
    h("x-amz-max-parts", COUNT, "GetObjectAttributes: at most this many parts (capped at 1000).", "100"),
    h("x-amz-part-number-marker", COUNT, "GetObjectAttributes: start after this part number.", "2"),
    h("x-amz-checksum-mode", r#"{"type":"string","enum":["ENABLED"]}"#, "Return the stored x-amz-checksum-* headers.", "ENABLED"),
    h("x-amz-copy-source", r#"{"type":"string","minLength":1}"#, "Source object: `bucket/key` or `/bucket/key`, URL-encoded, optionally `?versionId=null`.", "/srcbucket/photos/cat.jpg"),
    h("x-amz-copy-source-range", r#"{"type":"string","pattern":"^bytes=\\d+-\\d+$"}"#, "UploadPartCopy: the source bytes, `bytes=first-last`.", "bytes=0-5242879"),
    h("x-amz-copy-source-if-match", STR, "Copy only if the source ETag matches (else 412).", "\"9b2cf535f27731c974343645a3985328\""),
    h("x-amz-copy-source-if-none-match", STR, "Copy only if the source ETag differs (else 412).", "\"9b2cf535f27731c974343645a3985328\""),
    h("x-amz-copy-source-if-modified-since", HTTP_DATE, "Copy only if the source changed since (else 412).", "Wed, 21 Oct 2015 07:28:00 GMT"),
    h("x-amz-copy-source-if-unmodified-since", HTTP_DATE, "Copy only if the source did not change since (else 412).", "Wed, 21 Oct 2015 07:28:00 GMT"),
    h("x-amz-metadata-directive", r#"{"type":"string","enum":["COPY","REPLACE"]}"#, "COPY keeps the source's metadata; REPLACE takes this request's.", "COPY"),
];

/// Response headers, documented once.
const RESPONSE_HEADERS: &[(&str, &str, &str)] = &[
    ("ETag", STR, "Quoted entity tag: MD5 of the body, or `<md5-of-part-md5s>-<parts>` for multipart objects."),
    ("Last-Modified", HTTP_DATE, "When the object was stored."),
    ("Content-Length", COUNT, "Body length."),
    ("Content-Range", r#"{"type":"string","pattern":"^bytes \\d+-\\d+/\\d+$"}"#, "The range sent (206)."),
    ("Accept-Ranges", r#"{"type":"string","enum":["bytes"]}"#, "Ranges are accepted."),
    ("x-amz-storage-class", STR, "Always STANDARD."),
    ("x-amz-mp-parts-count", COUNT, "Parts of a multipart object (with partNumber)."),
    ("x-amz-bucket-region", STR, "The bucket's region."),
    ("Location", STR, "The new bucket's path."),
    ("x-amz-checksum-algorithm", CHECKSUM_ALGORITHM, "The upload's checksum algorithm."),
    ("x-amz-checksum-crc32", B64, "Stored CRC32 (with x-amz-checksum-mode: ENABLED on GET/HEAD)."),
    ("x-amz-checksum-crc32c", B64, "Stored CRC32C."),
    ("x-amz-checksum-crc64nvme", B64, "Stored CRC64NVME."),
    ("x-amz-checksum-sha1", B64, "Stored SHA-1."),
    ("x-amz-checksum-sha256", B64, "Stored SHA-256."),
    ("x-amz-checksum-type", r#"{"type":"string","enum":["COMPOSITE","FULL_OBJECT"]}"#, "How the checksum covers the object."),
];

/// An operational endpoint (unsigned GET, served before S3 routing).
pub struct Operational {
    pub path: &'static str,
    pub name: &'static str,
    pub summary: &'static str,
}

/// The operational endpoints, each once; `/docs/{asset}` takes the asset names
/// [`crate::observe::docs::ASSETS`] serves.
pub const OPERATIONAL: &[Operational] = &[
    Operational {
        path: "/healthz",
        name: "Healthz",
        summary: "Liveness: 200 while the process serves HTTP",
    },
    Operational {
        path: "/readyz",
        name: "Readyz",
        summary: "Readiness: 503 until every core is serving",
    },
    Operational {
        path: "/health",
        name: "Health",
        summary: "Status of every part, as JSON",
    },
    Operational {
        path: "/metrics",
        name: "Metrics",
        summary: "Prometheus metrics (text format 0.0.4)",
    },
    Operational {
        path: "/openapi.json",
        name: "OpenApi",
        summary: "This document",
    },
    Operational {
        path: "/docs",
        name: "Docs",
        summary: "Swagger UI for this document, served from the binary",
    },
    Operational {
        path: "/docs/{asset}",
        name: "DocsAsset",
        summary: "Swagger UI's static files",
    },
];

fn parse(schema: &str) -> Value {
    serde_json::from_str(schema).expect("static JSON schema in openapi.rs")
}

fn param_def(name: &str) -> &'static Param {
    PARAMS
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("openapi.rs: parameter {name} is not in PARAMS"))
}

/// Component key of a parameter: `query.prefix`, `header.Range`, `header.x-amz-meta-`.
fn param_key(p: &Param) -> String {
    format!("{}.{}", p.at, p.name.trim_end_matches('*'))
}

fn param_object(p: &Param, required: bool) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": p.at,
        "description": p.description,
        "schema": parse(p.schema),
        "example": example_value(p),
    });
    if required {
        v["required"] = json!(true);
    }
    v
}

fn example_value(p: &Param) -> Value {
    match parse(p.schema).get("type").and_then(Value::as_str) {
        Some("integer") => p
            .example
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| json!(p.example)),
        Some("boolean") => json!(p.example == "true"),
        _ => json!(p.example),
    }
}

/// The S3 error document.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "description": "S3 error document. Extra elements name what failed (BucketName, Key, ArgumentName, ArgumentValue, Header, ...).",
        "xml": {"name": "Error"},
        "required": ["Code", "Message"],
        "properties": {
            "Code": {"type": "string", "examples": ["NoSuchKey"]},
            "Message": {"type": "string"},
            "Resource": {"type": "string"},
            "RequestId": {"type": "string"},
            "BucketName": {"type": "string"},
            "Key": {"type": "string"},
            "ArgumentName": {"type": "string"},
            "ArgumentValue": {"type": "string"},
        },
        "additionalProperties": {"type": "string"},
    })
}

fn error_description(status: u16) -> &'static str {
    match status {
        304 => "Not Modified (conditional GET/HEAD); no body",
        400 => "Bad request: malformed input, headers, auth (InvalidArgument, InvalidRequest, BadDigest, MalformedXML, AuthorizationHeaderMalformed, ...)",
        403 => "Forbidden: unsigned or badly signed request, or no permission (AccessDenied, SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed)",
        404 => "Not found (NoSuchBucket, NoSuchKey, NoSuchUpload)",
        405 => "MethodNotAllowed",
        409 => "Conflict (BucketAlreadyExists, BucketAlreadyOwnedByYou, BucketNotEmpty, ...)",
        411 => "MissingContentLength",
        412 => "PreconditionFailed",
        416 => "InvalidRange",
        500 => "InternalError",
        501 => "NotImplemented: an operation or a header (e.g. a Transfer-Encoding other than chunked) this server does not implement",
        503 => "SlowDown / ServiceUnavailable",
        507 => "InsufficientStorage",
        _ => "Error",
    }
}

/// Shared error responses: `E<status>` with the S3 error XML, `H<status>` without a body
/// (HEAD answers carry no body).
fn error_responses(out: &mut Map<String, Value>) {
    for status in [
        400u16, 403, 404, 405, 409, 411, 412, 416, 500, 501, 503, 507,
    ] {
        out.insert(
            format!("E{status}"),
            json!({
                "description": error_description(status),
                "headers": {"x-amz-request-id": {"$ref": "#/components/headers/x-amz-request-id"}},
                "content": {"application/xml": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }),
        );
        out.insert(
            format!("H{status}"),
            json!({
                "description": format!("{} (HEAD: no body)", error_description(status)),
                "headers": {"x-amz-request-id": {"$ref": "#/components/headers/x-amz-request-id"}},
            }),
        );
    }
}

fn s3_ns(name: &str) -> Value {
    json!({"name": name, "namespace": S3_NS})
}

/// Repeated, unwrapped child elements named `name` (S3's lists).
fn list_of(name: &str, item: Value) -> Value {
    let mut item = item;
    item["xml"] = json!({"name": name});
    json!({"type": "array", "items": item})
}

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// XML documents of requests and answers (schema properties are element names).
fn xml_schemas(out: &mut Map<String, Value>) {
    let s = json!({"type": "string"});
    let int = json!({"type": "integer"});
    let boolean = json!({"type": "boolean"});
    let time = json!({"type": "string", "format": "date-time"});
    let checksums = |mut props: Map<String, Value>| {
        for c in [
            "ChecksumCRC32",
            "ChecksumCRC32C",
            "ChecksumCRC64NVME",
            "ChecksumSHA1",
            "ChecksumSHA256",
        ] {
            props.insert(c.into(), json!({"type": "string"}));
        }
        Value::Object(props)
    };
    let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
    out.insert("Error".into(), error_schema());
    // Bucket configurations never set here: their GETs answer these documents, empty but
    // for the payer.
    for name in [
        "BucketLoggingStatus",
        "NotificationConfiguration",
        "AccelerateConfiguration",
    ] {
        out.insert(name.into(), json!({"type": "object", "xml": s3_ns(name)}));
    }
    out.insert(
        "RequestPaymentConfiguration".into(),
        json!({"type": "object", "properties": {"Payer": s}, "xml": s3_ns("RequestPaymentConfiguration")}),
    );
    out.insert(
        "Owner".into(),
        json!({"type": "object", "properties": {"ID": s, "DisplayName": s}}),
    );
    out.insert(
        "CommonPrefix".into(),
        json!({"type": "object", "properties": {"Prefix": s}}),
    );
    out.insert(
        "Bucket".into(),
        json!({"type": "object", "properties": {"Name": s, "CreationDate": time, "BucketRegion": s}}),
    );
    out.insert("ListAllMyBucketsResult".into(), json!({
        "type": "object", "xml": s3_ns("ListAllMyBucketsResult"),
        "properties": {
            "Owner": r("Owner"),
            "Buckets": {"type": "array", "xml": {"wrapped": true}, "items": {"$ref": "#/components/schemas/Bucket", "xml": {"name": "Bucket"}}},
            "ContinuationToken": s,
            "Prefix": s,
        },
    }));
    out.insert("CreateBucketConfiguration".into(), json!({
        "type": "object", "xml": s3_ns("CreateBucketConfiguration"),
        "properties": {"LocationConstraint": {"type": "string", "description": "Must be this server's region (or empty for us-east-1)."}},
    }));
    out.insert("LocationConstraint".into(), json!({"type": "string", "xml": s3_ns("LocationConstraint"), "description": "Empty for us-east-1."}));
    out.insert("Grantee".into(), json!({
        "type": "object",
        "properties": {
            "type": {"type": "string", "enum": ["CanonicalUser", "Group", "AmazonCustomerByEmail"],
                     "xml": {"attribute": true, "prefix": "xsi", "namespace": "http://www.w3.org/2001/XMLSchema-instance"}},
            "ID": s, "DisplayName": s, "URI": s, "EmailAddress": s,
        },
    }));
    out.insert("Grant".into(), json!({
        "type": "object",
        "properties": {
            "Grantee": r("Grantee"),
            "Permission": {"type": "string", "enum": ["FULL_CONTROL", "READ", "READ_ACP", "WRITE", "WRITE_ACP"]},
        },
    }));
    out.insert("AccessControlPolicy".into(), json!({
        "type": "object", "xml": s3_ns("AccessControlPolicy"),
        "properties": {
            "Owner": r("Owner"),
            "AccessControlList": {"type": "array", "xml": {"wrapped": true}, "items": {"$ref": "#/components/schemas/Grant", "xml": {"name": "Grant"}}},
        },
    }));
    out.insert(
        "VersioningConfiguration".into(),
        json!({
            "type": "object", "xml": s3_ns("VersioningConfiguration"),
            "description": "Empty: versioning has never been enabled.",
            "properties": {"Status": {"type": "string", "enum": ["Enabled", "Suspended"]}},
        }),
    );
    out.insert(
        "Object".into(),
        json!({
            "type": "object",
            "properties": checksums(obj(json!({
                "Key": s, "LastModified": time, "ETag": s, "ChecksumAlgorithm": s, "Size": int,
                "Owner": r("Owner"), "StorageClass": s,
            }))),
        }),
    );
    out.insert("ListBucketResult".into(), json!({
        "type": "object", "xml": s3_ns("ListBucketResult"),
        "properties": {
            "Name": s, "Prefix": s, "Marker": s, "NextMarker": s, "MaxKeys": int, "Delimiter": s,
            "EncodingType": s, "IsTruncated": boolean,
            "Contents": list_of("Contents", r("Object")),
            "CommonPrefixes": list_of("CommonPrefixes", r("CommonPrefix")),
        },
    }));
    out.insert("ListBucketResultV2".into(), json!({
        "type": "object", "xml": s3_ns("ListBucketResult"),
        "properties": {
            "Name": s, "Prefix": s, "ContinuationToken": s, "NextContinuationToken": s, "StartAfter": s,
            "KeyCount": int, "MaxKeys": int, "Delimiter": s, "EncodingType": s, "IsTruncated": boolean,
            "Contents": list_of("Contents", r("Object")),
            "CommonPrefixes": list_of("CommonPrefixes", r("CommonPrefix")),
        },
    }));
    out.insert("ObjectVersion".into(), json!({
        "type": "object",
        "properties": {
            "Key": s, "VersionId": s, "IsLatest": boolean, "LastModified": time, "ETag": s, "Size": int,
            "StorageClass": s, "Owner": r("Owner"),
        },
    }));
    out.insert("ListVersionsResult".into(), json!({
        "type": "object", "xml": s3_ns("ListVersionsResult"),
        "properties": {
            "Name": s, "Prefix": s, "KeyMarker": s, "VersionIdMarker": s, "NextKeyMarker": s,
            "NextVersionIdMarker": s, "MaxKeys": int, "Delimiter": s, "EncodingType": s, "IsTruncated": boolean,
            "Version": list_of("Version", r("ObjectVersion")),
            "CommonPrefixes": list_of("CommonPrefixes", r("CommonPrefix")),
        },
    }));
    out.insert("Upload".into(), json!({
        "type": "object",
        "properties": {
            "Key": s, "UploadId": s, "Initiator": r("Owner"), "Owner": r("Owner"), "StorageClass": s, "Initiated": time,
            "ChecksumAlgorithm": s, "ChecksumType": s,
        },
    }));
    out.insert("ListMultipartUploadsResult".into(), json!({
        "type": "object", "xml": s3_ns("ListMultipartUploadsResult"),
        "properties": {
            "Bucket": s, "KeyMarker": s, "UploadIdMarker": s, "NextKeyMarker": s, "NextUploadIdMarker": s,
            "Delimiter": s, "Prefix": s, "MaxUploads": int, "EncodingType": s, "IsTruncated": boolean,
            "Upload": list_of("Upload", r("Upload")),
            "CommonPrefixes": list_of("CommonPrefixes", r("CommonPrefix")),
        },
    }));
    out.insert(
        "ObjectIdentifier".into(),
        json!({"type": "object", "required": ["Key"], "properties": {"Key": s, "VersionId": s}}),
    );
    out.insert("Delete".into(), json!({
        "type": "object", "xml": s3_ns("Delete"),
        "required": ["Object"],
        "properties": {
            "Quiet": boolean,
            "Object": {"type": "array", "minItems": 1, "maxItems": 1000,
                       "items": {"$ref": "#/components/schemas/ObjectIdentifier", "xml": {"name": "Object"}}},
        },
    }));
    out.insert("DeleteResult".into(), json!({
        "type": "object", "xml": s3_ns("DeleteResult"),
        "properties": {
            "Deleted": list_of("Deleted", json!({"type": "object", "properties": {"Key": s, "VersionId": s}})),
            "Error": list_of("Error", json!({"type": "object", "properties": {"Key": s, "VersionId": s, "Code": s, "Message": s}})),
        },
    }));
    out.insert(
        "CopyObjectResult".into(),
        json!({
            "type": "object", "xml": s3_ns("CopyObjectResult"),
            "properties": checksums(obj(json!({"LastModified": time, "ETag": s}))),
        }),
    );
    out.insert(
        "CopyPartResult".into(),
        json!({
            "type": "object", "xml": s3_ns("CopyPartResult"),
            "properties": checksums(obj(json!({"LastModified": time, "ETag": s}))),
        }),
    );
    out.insert(
        "InitiateMultipartUploadResult".into(),
        json!({
            "type": "object", "xml": s3_ns("InitiateMultipartUploadResult"),
            "properties": {"Bucket": s, "Key": s, "UploadId": s},
        }),
    );
    out.insert("CompletedPart".into(), json!({
        "type": "object", "required": ["PartNumber", "ETag"],
        "properties": checksums(obj(json!({"PartNumber": {"type": "integer", "minimum": 1, "maximum": 10000}, "ETag": s}))),
    }));
    out.insert("CompleteMultipartUpload".into(), json!({
        "type": "object", "xml": s3_ns("CompleteMultipartUpload"),
        "required": ["Part"],
        "properties": {"Part": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/CompletedPart", "xml": {"name": "Part"}}}},
    }));
    out.insert(
        "CompleteMultipartUploadResult".into(),
        json!({
            "type": "object", "xml": s3_ns("CompleteMultipartUploadResult"),
            "properties": checksums(obj(json!({"Location": s, "Bucket": s, "Key": s, "ETag": s}))),
        }),
    );
    out.insert("Part".into(), json!({
        "type": "object",
        "properties": checksums(obj(json!({"PartNumber": int, "LastModified": time, "ETag": s, "Size": int}))),
    }));
    out.insert(
        "ObjectPart".into(),
        json!({
            "type": "object",
            "properties": {"PartNumber": int, "Size": int},
        }),
    );
    out.insert("GetObjectAttributesResponse".into(), json!({
        "type": "object", "xml": s3_ns("GetObjectAttributesResponse"),
        "properties": {
            "ETag": {"type": "string", "description": "Unquoted."},
            "Checksum": {"type": "object", "properties": checksums(obj(json!({"ChecksumType": s})))},
            "ObjectParts": {"type": "object", "properties": {
                "IsTruncated": boolean, "MaxParts": int, "NextPartNumberMarker": int,
                "PartNumberMarker": int, "Part": list_of("Part", r("ObjectPart")), "PartsCount": int,
            }},
            "StorageClass": s, "ObjectSize": int,
        },
    }));
    out.insert("ListPartsResult".into(), json!({
        "type": "object", "xml": s3_ns("ListPartsResult"),
        "properties": {
            "Bucket": s, "Key": s, "UploadId": s, "PartNumberMarker": int, "NextPartNumberMarker": int,
            "MaxParts": int, "IsTruncated": boolean,
            "Part": list_of("Part", r("Part")),
            "Initiator": r("Owner"), "Owner": r("Owner"), "StorageClass": s, "ChecksumAlgorithm": s, "ChecksumType": s,
        },
    }));
    out.insert("Health".into(), json!({
        "type": "object",
        "required": ["status", "ready", "metadata", "storage"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "ready": {"type": "boolean"},
            "metadata": {
                "type": "array",
                "description": "One entry per metadata shard.",
                "items": {
                    "type": "object", "required": ["shard", "status"],
                    "properties": {"shard": {"type": "integer", "minimum": 0}, "status": {"type": "string", "enum": ["ok", "error"]}},
                },
            },
            "storage": {
                "type": "object", "required": ["status"],
                "properties": {"backend": {"type": "string"}, "status": {"type": "string", "enum": ["ok", "error"]}},
            },
            "gateway": {"type": "object", "properties": {"status": {"type": "string"}}},
        },
    }));
}

fn path_params(path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if path.starts_with("/{bucket}") {
        out.push(json!({"$ref": "#/components/parameters/path.bucket"}));
    }
    if path.starts_with("/{bucket}/{key}") {
        out.push(json!({"$ref": "#/components/parameters/path.key"}));
    }
    out
}

fn header_refs(names: &[&str]) -> Value {
    let mut m = Map::new();
    m.insert(
        "x-amz-request-id".into(),
        json!({"$ref": "#/components/headers/x-amz-request-id"}),
    );
    m.insert(
        "x-amz-id-2".into(),
        json!({"$ref": "#/components/headers/x-amz-id-2"}),
    );
    for n in names {
        m.insert(
            (*n).into(),
            json!({"$ref": format!("#/components/headers/{n}")}),
        );
    }
    Value::Object(m)
}

fn xml_content(schema: &str) -> Value {
    json!({"application/xml": {"schema": r(schema)}})
}

const OBJECT_HEADERS: &[&str] = &[
    "ETag",
    "Last-Modified",
    "Content-Length",
    "Accept-Ranges",
    "x-amz-storage-class",
    "x-amz-mp-parts-count",
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
];

fn responses(o: &Op) -> Value {
    let mut m = Map::new();
    let head = o.method == "head";
    let body_of = |schema: &str| {
        if head {
            None
        } else {
            Some(xml_content(schema))
        }
    };
    let mut ok = |status: u16, desc: &str, headers: &[&str], content: Option<Value>| {
        let mut v = json!({"description": desc, "headers": header_refs(headers)});
        if let Some(c) = content {
            v["content"] = c;
        }
        m.insert(status.to_string(), v);
    };
    match o.answer {
        Answer::Xml(schema) => ok(200, "OK", o.headers, body_of(schema)),
        Answer::Empty(status) => ok(
            status,
            if status == 204 { "No Content" } else { "OK" },
            o.headers,
            None,
        ),
        Answer::Object | Answer::ObjectHead => {
            let bytes = if o.answer == Answer::Object {
                Some(
                    json!({"*/*": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}),
                )
            } else {
                None
            };
            let mut partial: Vec<&str> = OBJECT_HEADERS.to_vec();
            partial.push("Content-Range");
            ok(
                200,
                "The object (Content-Type as stored, or as response-content-type asks)",
                OBJECT_HEADERS,
                bytes.clone(),
            );
            ok(
                206,
                "Partial Content: the requested range or part",
                &partial,
                bytes,
            );
            ok(304, "Not Modified", &["ETag", "Last-Modified"], None);
        }
        Answer::NotImplemented => {}
    }
    let mut errors: Vec<u16> = COMMON_ERRORS.iter().chain(o.errors).copied().collect();
    if o.answer == Answer::NotImplemented {
        errors.push(501);
    }
    errors.sort_unstable();
    errors.dedup();
    let prefix = if head { "H" } else { "E" };
    for s in errors {
        m.insert(
            s.to_string(),
            json!({"$ref": format!("#/components/responses/{prefix}{s}")}),
        );
    }
    Value::Object(m)
}

fn request_body(o: &Op) -> Option<Value> {
    match o.body {
        ReqBody::None => None,
        ReqBody::Xml(schema, required) => {
            Some(json!({"required": required, "content": xml_content(schema)}))
        }
        ReqBody::Bytes => Some(json!({
            "required": true,
            "description": "The object bytes: sent as is (Content-Length), chunked, or aws-chunked (x-amz-content-sha256: STREAMING-*, possibly with a checksum trailer). Any Content-Type is stored and returned on GET.",
            "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}},
        })),
        ReqBody::Form => Some(json!({
            "required": true,
            "content": {"multipart/form-data": {"schema": {"type": "object", "properties": {"key": {"type": "string"}, "file": {"type": "string", "contentMediaType": "application/octet-stream"}}}}},
        })),
    }
}

fn s3_operation(o: &Op) -> Value {
    let mut params = path_params(o.path);
    for p in o.params {
        let (name, required) = match p.strip_suffix('!') {
            Some(n) => (n, true),
            None => (*p, false),
        };
        let def = param_def(name);
        params.push(if required {
            param_object(def, true)
        } else {
            json!({"$ref": format!("#/components/parameters/{}", param_key(def))})
        });
    }
    let (summary, description) = if o.answer == Answer::NotImplemented {
        (format!("{} (not implemented)", o.name), format!("Known S3 operation; this server answers `501 NotImplemented` with an S3 error document. Routed as `{} {}`.", o.method.to_uppercase(), o.path))
    } else {
        let mut d = format!(
            "S3 `{}`, routed as `{} {}`",
            o.name,
            o.method.to_uppercase(),
            o.path
        );
        if o.path.contains("x-id=") {
            d.push_str(" (`x-id` only disambiguates this document, as in the AWS SDKs; the router tells the operation apart by its required parameters)");
        }
        d.push('.');
        if o.params.contains(&"x-amz-meta-*") {
            d.push_str(" User metadata travels as `x-amz-meta-<name>` headers.");
        }
        (o.summary.to_string(), d)
    };
    let mut v = json!({
        "operationId": o.name,
        "tags": [o.tag],
        "summary": summary,
        "description": description,
        "parameters": params,
        "responses": responses(o),
    });
    if let Some(b) = request_body(o) {
        v["requestBody"] = b;
    }
    v
}

fn text_response(desc: &str, media: &str, schema: Value) -> Value {
    json!({"description": desc, "content": {media: {"schema": schema}}})
}

fn operational_operation(e: &Operational) -> Value {
    let text = json!({"type": "string"});
    let responses = match e.path {
        "/healthz" => {
            json!({"200": text_response("Alive", "text/plain", json!({"const": "ok\n"}))})
        }
        "/readyz" => json!({
            "200": text_response("Every core is serving", "text/plain", json!({"const": "ready\n"})),
            "503": text_response("Still starting", "text/plain", json!({"const": "starting\n"})),
        }),
        "/health" => json!({
            "200": text_response("Everything is ok", "application/json", r("Health")),
            "503": text_response("Something is degraded", "application/json", r("Health")),
        }),
        "/metrics" => json!({
            "200": text_response("Prometheus text exposition format 0.0.4", "text/plain", text.clone()),
            "401": text_response("server.metrics_token is set and the Bearer token is missing or wrong", "text/plain", text),
        }),
        "/openapi.json" => {
            json!({"200": text_response("OpenAPI 3.1 document", "application/json", json!({
                "type": "object", "required": ["openapi", "info", "paths"],
                "properties": {"openapi": {"type": "string", "pattern": "^3\\.1\\."}},
            }))})
        }
        "/docs" => json!({"200": text_response("Swagger UI page", "text/html", text.clone())}),
        _ => {
            let mut content = Map::new();
            for a in crate::observe::docs::ASSETS {
                content.insert(
                    a.content_type
                        .split(';')
                        .next()
                        .unwrap_or(a.content_type)
                        .to_string(),
                    json!({"schema": {"type": "string"}}),
                );
            }
            json!({
                "200": {"description": "The file (cached for a year: the page asks for it with ?v=<version>)", "content": content},
                "403": {"$ref": "#/components/responses/E403"},
                "404": {"$ref": "#/components/responses/E404"},
            })
        }
    };
    let mut v = json!({
        "operationId": e.name,
        "tags": [TAG_OPS],
        "summary": e.summary,
        "description": "Unsigned GET only: a signed request (or a presigned URL) on this path is an S3 request for a bucket of this name.",
        "security": [],
        "responses": responses,
    });
    if e.path == "/metrics" {
        v["security"] = json!([{}, {"metricsToken": []}]);
    }
    if e.path == "/docs/{asset}" {
        let names: Vec<&str> = crate::observe::docs::ASSETS
            .iter()
            .map(|a| a.name)
            .collect();
        v["parameters"] = json!([{
            "name": "asset", "in": "path", "required": true,
            "description": "A file of the embedded Swagger UI. Other names are S3 requests (an object in a bucket named docs).",
            "schema": {"type": "string", "enum": names},
        }]);
    }
    v
}

const DESCRIPTION: &str =
    "BleepStore speaks the Amazon S3 REST API (path-style `/{bucket}/{key}`, or \
virtual-hosted style `{bucket}.<domain>/{key}` when `server.domain` is set).\n\n\
**Operations that share a path.** S3 tells operations on one path apart by a query subresource \
(`?acl`, `?uploads`, `?list-type=2`) or a header (`x-amz-copy-source`). Each operation here is \
keyed by its path with that query literal, as in AWS's own model of S3; where a header or \
parameter value is what distinguishes it, the key carries `?x-id=<Operation>` (sent by the AWS \
SDKs too, ignored by the router).\n\n\
**Keys** may contain `/`: `{key}` is greedy, send slashes raw or as `%2F`.\n\n\
**Authentication** is AWS Signature Version 4: the `Authorization` header (`AWS4-HMAC-SHA256 \
Credential=..., SignedHeaders=..., Signature=...` with `x-amz-date` and `x-amz-content-sha256`), \
or a presigned URL (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`, \
`X-Amz-SignedHeaders`, `X-Amz-Signature`). Unsigned requests are anonymous: allowed only where \
an ACL grants AllUsers, otherwise `403 AccessDenied`.\n\n\
**Errors** are S3 error documents (`application/xml`, `<Error><Code>...`); HEAD errors have no \
body. A `Transfer-Encoding` other than `chunked` is `501 NotImplemented` on any operation.\n\n\
**Operational endpoints** (`/healthz`, `/readyz`, `/health`, `/metrics`, `/openapi.json`, \
`/docs`) answer unsigned GETs only; signed, the same paths are buckets.";

/// Builds the whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for o in OPERATIONS {
        let entry = paths.entry(o.path.to_string()).or_insert_with(|| json!({}));
        entry[o.method] = s3_operation(o);
    }
    for e in OPERATIONAL {
        paths.insert(e.path.to_string(), json!({"get": operational_operation(e)}));
    }

    let mut parameters = Map::new();
    parameters.insert(
        "path.bucket".into(),
        json!({
            "name": "bucket", "in": "path", "required": true,
            "description": "Bucket name: 3 to 63 lower-case letters, digits, dots and hyphens.",
            "schema": {"type": "string", "minLength": 3, "maxLength": 63, "pattern": "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"},
            "example": "examplebucket",
        }),
    );
    parameters.insert(
        "path.key".into(),
        json!({
            "name": "key", "in": "path", "required": true,
            "description": "Object key, up to 1024 UTF-8 bytes. It may contain `/` (a greedy label, `{Key+}` in AWS's model): send slashes as they are or as `%2F`; the path is percent-decoded once and the key kept as data.",
            "x-greedy": true,
            "schema": {"type": "string", "minLength": 1, "maxLength": 1024},
            "example": "photos/2024/cat.jpg",
        }),
    );
    for p in PARAMS {
        parameters.insert(param_key(p), param_object(p, false));
    }

    let mut headers = Map::new();
    headers.insert(
        "x-amz-request-id".into(),
        json!({"description": "Request id (also in the access log and error documents).", "required": true, "schema": {"type": "string", "minLength": 1}}),
    );
    headers.insert(
        "x-amz-id-2".into(),
        json!({"description": "Extended request id.", "schema": {"type": "string"}}),
    );
    for (name, schema, desc) in RESPONSE_HEADERS {
        headers.insert(
            (*name).into(),
            json!({"description": desc, "schema": parse(schema)}),
        );
    }

    let mut schemas = Map::new();
    xml_schemas(&mut schemas);
    let mut responses = Map::new();
    error_responses(&mut responses);

    let tags: Vec<Value> = [
        (TAG_SERVICE, "The service root"),
        (TAG_BUCKET, "Buckets and their settings"),
        (TAG_LIST, "Listing keys"),
        (TAG_OBJECT, "Objects"),
        (TAG_MPU, "Multipart uploads"),
        (
            TAG_NYI,
            "Known S3 operations this server answers with 501 NotImplemented",
        ),
        (
            TAG_OPS,
            "Health, metrics and this documentation (unsigned GET)",
        ),
    ]
    .iter()
    .map(|(name, description)| json!({"name": name, "description": description}))
    .collect();

    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "BleepStore S3 API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/", "description": "This server (path-style addressing)"}],
        "tags": tags,
        "security": [{"sigv4": []}, {"sigv4Presigned": []}, {}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "AWS Signature Version 4: `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/s3/aws4_request, SignedHeaders=..., Signature=...`, with `x-amz-date` and `x-amz-content-sha256` headers. Computed per request by an S3 client; it cannot be pasted in.",
                },
                "sigv4Presigned": {
                    "type": "apiKey", "in": "query", "name": "X-Amz-Signature",
                    "description": "Presigned URL: `X-Amz-Algorithm=AWS4-HMAC-SHA256`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires` (at most 604800), `X-Amz-SignedHeaders` and `X-Amz-Signature` query parameters.",
                },
                "metricsToken": {
                    "type": "http", "scheme": "bearer",
                    "description": "Required on /metrics only when `server.metrics_token` is configured.",
                },
            },
            "parameters": parameters,
            "headers": headers,
            "schemas": schemas,
            "responses": responses,
        },
    })
}

/// The document as served: rendered once per process.
pub fn json_bytes() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::to_vec(&document()).expect("serializing a serde_json::Value cannot fail")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{Method, RequestHead};
    use crate::s3::endpoint::route;
    use std::collections::BTreeSet;

    const BUCKET: &str = "examplebucket";
    const KEY: &str = "photos/2024/cat.jpg";

    /// The request head a client following the document sends for `o`: sample bucket and
    /// key, the path's query literal, every required parameter; with `optional`, every
    /// optional query parameter and header too.
    fn request_for(o: &Op, optional: bool) -> RequestHead {
        let (path_tpl, literal) = o.path.split_once('?').unwrap_or((o.path, ""));
        let path = path_tpl.replace("{bucket}", BUCKET).replace("{key}", KEY);
        let mut query: Vec<String> = literal
            .split('&')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let mut headers = vec![("host".to_string(), "127.0.0.1:9000".to_string())];
        for p in o.params {
            let (name, required) = match p.strip_suffix('!') {
                Some(n) => (n, true),
                None => (*p, false),
            };
            if !required && !optional {
                continue;
            }
            let def = param_def(name);
            let value = percent_encoding::utf8_percent_encode(
                def.example,
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string();
            match def.at {
                "query" => query.push(format!("{}={value}", def.name)),
                _ => headers.push((
                    def.name.replace('*', "color").to_ascii_lowercase(),
                    def.example.to_string(),
                )),
            }
        }
        let method = o.method.to_ascii_uppercase();
        RequestHead {
            method: Method::parse(&method),
            method_raw: method,
            path,
            query: query.join("&"),
            headers,
            version_minor: 1,
        }
    }

    fn routed_name(head: &RequestHead) -> &'static str {
        let r = route(head, "").unwrap_or_else(|e| {
            panic!(
                "{} {}?{} does not route: {e}",
                head.method_raw, head.path, head.query
            )
        });
        r.endpoint.name()
    }

    #[test]
    fn every_documented_operation_routes_to_itself() {
        for o in OPERATIONS {
            for optional in [false, true] {
                let head = request_for(o, optional);
                assert_eq!(
                    routed_name(&head),
                    o.name,
                    "{} {}?{} (documented as {}, optional parameters: {optional})",
                    head.method_raw,
                    head.path,
                    head.query,
                    o.path
                );
                let r = route(&head, "").unwrap();
                assert_eq!(
                    r.bucket.as_deref(),
                    o.path.contains("{bucket}").then_some(BUCKET)
                );
                assert_eq!(r.key.as_deref(), o.path.contains("{key}").then_some(KEY));
            }
        }
    }

    #[test]
    fn operations_are_unique_and_well_formed() {
        let mut names = BTreeSet::new();
        let mut keys = BTreeSet::new();
        for o in OPERATIONS {
            assert!(names.insert(o.name), "{} documented twice", o.name);
            assert!(
                keys.insert((o.path, o.method)),
                "{} {} documented twice",
                o.method,
                o.path
            );
            assert!(
                ["get", "put", "post", "delete", "head"].contains(&o.method),
                "{}",
                o.method
            );
            for p in o.params {
                param_def(p.trim_end_matches('!'));
            }
            for h in o.headers {
                assert!(
                    RESPONSE_HEADERS.iter().any(|(n, _, _)| n == h),
                    "response header {h} undocumented"
                );
            }
        }
        for p in PARAMS {
            parse(p.schema);
        }
        for (_, schema, _) in RESPONSE_HEADERS {
            parse(schema);
        }
    }

    /// Every operation name the router can produce (kept complete by an exhaustive match in
    /// `endpoint::operation_names`).
    fn router_names() -> BTreeSet<String> {
        crate::s3::endpoint::operation_names()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn documented_names_are_exactly_the_router_names() {
        let router = router_names();
        let documented: BTreeSet<String> = OPERATIONS.iter().map(|o| o.name.to_string()).collect();
        let undocumented: Vec<_> = router.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&router).collect();
        assert!(
            undocumented.is_empty(),
            "router operations missing from OPERATIONS in openapi.rs: {undocumented:?}"
        );
        assert!(
            unknown.is_empty(),
            "documented operations the router never names: {unknown:?}"
        );
    }

    #[test]
    fn document_shape() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        let mut ops = 0;
        for (path, item) in paths {
            assert!(path.starts_with('/'));
            for (method, o) in item.as_object().unwrap() {
                ops += 1;
                assert!(o["operationId"].is_string(), "{method} {path}");
                // Every template variable is a declared path parameter.
                let declared = o["parameters"].as_array().map(|a| a.len()).unwrap_or(0);
                assert!(declared >= path.matches('{').count(), "{method} {path}");
                for (status, resp) in o["responses"].as_object().unwrap() {
                    assert!(status.len() == 3, "{method} {path} {status}");
                    if let Some(r) = resp.get("$ref") {
                        let name = r.as_str().unwrap().rsplit('/').next().unwrap();
                        assert!(doc["components"]["responses"][name].is_object(), "{name}");
                    }
                }
            }
        }
        assert_eq!(ops, OPERATIONS.len() + OPERATIONAL.len());
        // Every $ref resolves.
        let text = serde_json::to_string(&doc).unwrap();
        for part in text.split("\"$ref\":\"#/").skip(1) {
            let target = part.split('"').next().unwrap();
            let mut v = &doc;
            for seg in target.split('/') {
                v = &v[seg];
            }
            assert!(!v.is_null(), "dangling $ref #/{target}");
        }
        // Served bytes are the same document.
        let served: Value = serde_json::from_slice(json_bytes()).unwrap();
        assert_eq!(served, doc);
    }

    #[test]
    fn checked_in_asset_is_this_document() {
        let asset: Value = serde_json::from_str(include_str!("../server/openapi.json")).unwrap();
        assert_eq!(asset, document());
    }

    #[test]
    fn unimplemented_operations_answer_501_only() {
        let doc = document();
        for o in OPERATIONS
            .iter()
            .filter(|o| o.answer == Answer::NotImplemented)
        {
            let resp = &doc["paths"][o.path][o.method]["responses"];
            assert!(resp["501"].is_object(), "{}", o.name);
            assert!(
                resp.as_object()
                    .unwrap()
                    .keys()
                    .all(|s| s.starts_with('4') || s.starts_with('5')),
                "{}",
                o.name
            );
        }
    }
}

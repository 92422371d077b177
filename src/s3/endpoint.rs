//! The router: every request becomes one typed `Endpoint`, parsed once from method, path,
//! query and headers. Routing is this table, not if-chains scattered through handlers.

use crate::hash::stack_str::SmallString;
use crate::http::head::{Method, RequestHead};
use crate::s3::error::{ErrorCode, S3Error, S3Result};

/// Longest key S3 accepts, in UTF-8 bytes.
pub const KEY_BYTES_MAX: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    GetBucketLocation,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketVersioning,
    PutBucketVersioning,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PutObject,
    CopyObject,
    GetObject,
    HeadObject,
    DeleteObject,
    GetObjectAcl,
    PutObjectAcl,
    CreateMultipartUpload,
    UploadPart {
        upload_id: String,
        part_number: String,
    },
    UploadPartCopy {
        upload_id: String,
        part_number: String,
    },
    CompleteMultipartUpload {
        upload_id: String,
    },
    AbortMultipartUpload {
        upload_id: String,
    },
    ListParts {
        upload_id: String,
    },
    /// An S3 operation this server knows but does not implement (answered 501).
    NotImplemented(&'static str),
    /// GET of a bucket configuration this server never stores (tagging, policy, CORS, ...):
    /// answered as AWS answers for a bucket where it is not set. Holds the operation name.
    GetBucketConfig(&'static str),
    /// DELETE of such a configuration: nothing is set, so there is nothing to delete (204).
    DeleteBucketConfig(&'static str),
    GetObjectAttributes,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    GetObjectLockConfiguration,
    PutObjectLockConfiguration,
    GetObjectRetention,
    PutObjectRetention,
    GetObjectLegalHold,
    PutObjectLegalHold,
    GetBucketLifecycle,
    PutBucketLifecycle,
    DeleteBucketLifecycle,
    GetBucketCors,
    PutBucketCors,
    DeleteBucketCors,
    /// `OPTIONS` on a bucket or object: a browser's CORS preflight.
    CorsPreflight,
    /// POST to a bucket with an HTML form (browser upload).
    PostObject,
    /// Bucket policy, public access block and ownership controls (`AccessOp`).
    Access(AccessOp),
}

/// The bucket access configurations: policy (and its status), public access block,
/// ownership controls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessOp {
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketPolicyStatus,
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetBucketOwnershipControls,
    PutBucketOwnershipControls,
    DeleteBucketOwnershipControls,
}

impl AccessOp {
    pub const ALL: [AccessOp; 10] = [
        AccessOp::GetBucketPolicy,
        AccessOp::PutBucketPolicy,
        AccessOp::DeleteBucketPolicy,
        AccessOp::GetBucketPolicyStatus,
        AccessOp::GetPublicAccessBlock,
        AccessOp::PutPublicAccessBlock,
        AccessOp::DeletePublicAccessBlock,
        AccessOp::GetBucketOwnershipControls,
        AccessOp::PutBucketOwnershipControls,
        AccessOp::DeleteBucketOwnershipControls,
    ];
    pub fn name(self) -> &'static str {
        match self {
            AccessOp::GetBucketPolicy => "GetBucketPolicy",
            AccessOp::PutBucketPolicy => "PutBucketPolicy",
            AccessOp::DeleteBucketPolicy => "DeleteBucketPolicy",
            AccessOp::GetBucketPolicyStatus => "GetBucketPolicyStatus",
            AccessOp::GetPublicAccessBlock => "GetPublicAccessBlock",
            AccessOp::PutPublicAccessBlock => "PutPublicAccessBlock",
            AccessOp::DeletePublicAccessBlock => "DeletePublicAccessBlock",
            AccessOp::GetBucketOwnershipControls => "GetBucketOwnershipControls",
            AccessOp::PutBucketOwnershipControls => "PutBucketOwnershipControls",
            AccessOp::DeleteBucketOwnershipControls => "DeleteBucketOwnershipControls",
        }
    }
    fn from_name(op: &str) -> Option<AccessOp> {
        AccessOp::ALL.into_iter().find(|a| a.name() == op)
    }
}

impl Endpoint {
    /// The S3 operation name (metrics labels, access log).
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::ListBuckets => "ListBuckets",
            Endpoint::CreateBucket => "CreateBucket",
            Endpoint::DeleteBucket => "DeleteBucket",
            Endpoint::HeadBucket => "HeadBucket",
            Endpoint::GetBucketLocation => "GetBucketLocation",
            Endpoint::GetBucketAcl => "GetBucketAcl",
            Endpoint::PutBucketAcl => "PutBucketAcl",
            Endpoint::GetBucketVersioning => "GetBucketVersioning",
            Endpoint::PutBucketVersioning => "PutBucketVersioning",
            Endpoint::ListObjects => "ListObjects",
            Endpoint::ListObjectsV2 => "ListObjectsV2",
            Endpoint::ListObjectVersions => "ListObjectVersions",
            Endpoint::ListMultipartUploads => "ListMultipartUploads",
            Endpoint::DeleteObjects => "DeleteObjects",
            Endpoint::PutObject => "PutObject",
            Endpoint::CopyObject => "CopyObject",
            Endpoint::GetObject => "GetObject",
            Endpoint::HeadObject => "HeadObject",
            Endpoint::DeleteObject => "DeleteObject",
            Endpoint::GetObjectAcl => "GetObjectAcl",
            Endpoint::PutObjectAcl => "PutObjectAcl",
            Endpoint::CreateMultipartUpload => "CreateMultipartUpload",
            Endpoint::UploadPart { .. } => "UploadPart",
            Endpoint::UploadPartCopy { .. } => "UploadPartCopy",
            Endpoint::CompleteMultipartUpload { .. } => "CompleteMultipartUpload",
            Endpoint::AbortMultipartUpload { .. } => "AbortMultipartUpload",
            Endpoint::ListParts { .. } => "ListParts",
            Endpoint::NotImplemented(name) => name,
            Endpoint::GetBucketConfig(name) | Endpoint::DeleteBucketConfig(name) => name,
            Endpoint::GetObjectAttributes => "GetObjectAttributes",
            Endpoint::GetObjectTagging => "GetObjectTagging",
            Endpoint::PutObjectTagging => "PutObjectTagging",
            Endpoint::DeleteObjectTagging => "DeleteObjectTagging",
            Endpoint::GetBucketTagging => "GetBucketTagging",
            Endpoint::PutBucketTagging => "PutBucketTagging",
            Endpoint::DeleteBucketTagging => "DeleteBucketTagging",
            Endpoint::GetObjectLockConfiguration => "GetObjectLockConfiguration",
            Endpoint::PutObjectLockConfiguration => "PutObjectLockConfiguration",
            Endpoint::GetObjectRetention => "GetObjectRetention",
            Endpoint::PutObjectRetention => "PutObjectRetention",
            Endpoint::GetObjectLegalHold => "GetObjectLegalHold",
            Endpoint::PutObjectLegalHold => "PutObjectLegalHold",
            Endpoint::Access(op) => op.name(),
            Endpoint::GetBucketLifecycle => "GetBucketLifecycleConfiguration",
            Endpoint::PutBucketLifecycle => "PutBucketLifecycleConfiguration",
            Endpoint::DeleteBucketLifecycle => "DeleteBucketLifecycle",
            Endpoint::GetBucketCors => "GetBucketCors",
            Endpoint::PutBucketCors => "PutBucketCors",
            Endpoint::DeleteBucketCors => "DeleteBucketCors",
            Endpoint::CorsPreflight => "CorsPreflight",
            Endpoint::PostObject => "PostObject",
        }
    }
}

/// Bucket subresources we recognise but do not implement, with their operation names
/// (GET, PUT, DELETE).
const BUCKET_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    (
        "policy",
        "GetBucketPolicy",
        "PutBucketPolicy",
        "DeleteBucketPolicy",
    ),
    ("cors", "GetBucketCors", "PutBucketCors", "DeleteBucketCors"),
    (
        "lifecycle",
        "GetBucketLifecycleConfiguration",
        "PutBucketLifecycleConfiguration",
        "DeleteBucketLifecycle",
    ),
    (
        "tagging",
        "GetBucketTagging",
        "PutBucketTagging",
        "DeleteBucketTagging",
    ),
    (
        "website",
        "GetBucketWebsite",
        "PutBucketWebsite",
        "DeleteBucketWebsite",
    ),
    (
        "logging",
        "GetBucketLogging",
        "PutBucketLogging",
        "PutBucketLogging",
    ),
    (
        "notification",
        "GetBucketNotificationConfiguration",
        "PutBucketNotificationConfiguration",
        "PutBucketNotificationConfiguration",
    ),
    (
        "replication",
        "GetBucketReplication",
        "PutBucketReplication",
        "DeleteBucketReplication",
    ),
    (
        "encryption",
        "GetBucketEncryption",
        "PutBucketEncryption",
        "DeleteBucketEncryption",
    ),
    (
        "ownershipControls",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "DeleteBucketOwnershipControls",
    ),
    (
        "publicAccessBlock",
        "GetPublicAccessBlock",
        "PutPublicAccessBlock",
        "DeletePublicAccessBlock",
    ),
    (
        "accelerate",
        "GetBucketAccelerateConfiguration",
        "PutBucketAccelerateConfiguration",
        "PutBucketAccelerateConfiguration",
    ),
    (
        "requestPayment",
        "GetBucketRequestPayment",
        "PutBucketRequestPayment",
        "PutBucketRequestPayment",
    ),
    (
        "analytics",
        "GetBucketAnalyticsConfiguration",
        "PutBucketAnalyticsConfiguration",
        "DeleteBucketAnalyticsConfiguration",
    ),
    (
        "metrics",
        "GetBucketMetricsConfiguration",
        "PutBucketMetricsConfiguration",
        "DeleteBucketMetricsConfiguration",
    ),
    (
        "inventory",
        "GetBucketInventoryConfiguration",
        "PutBucketInventoryConfiguration",
        "DeleteBucketInventoryConfiguration",
    ),
    (
        "intelligent-tiering",
        "GetBucketIntelligentTieringConfiguration",
        "PutBucketIntelligentTieringConfiguration",
        "DeleteBucketIntelligentTieringConfiguration",
    ),
    (
        "policyStatus",
        "GetBucketPolicyStatus",
        "GetBucketPolicyStatus",
        "GetBucketPolicyStatus",
    ),
    (
        "versioning",
        "GetBucketVersioning",
        "PutBucketVersioning",
        "PutBucketVersioning",
    ),
];

/// Bucket configurations never stored here whose GET answers AWS's "not set" answer
/// (`bucket::get_unset_config`); their PUTs stay 501.
pub const UNSET_BUCKET_CONFIG_GETS: &[&str] = &[
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketWebsite",
    "GetBucketLogging",
    "GetBucketNotificationConfiguration",
    "GetBucketReplication",
    "GetBucketEncryption",
    "GetBucketOwnershipControls",
    "GetPublicAccessBlock",
    "GetBucketAccelerateConfiguration",
    "GetBucketRequestPayment",
];

/// DELETEs of those configurations: AWS answers 204 whether or not one was set.
pub const UNSET_BUCKET_CONFIG_DELETES: &[&str] = &[
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "DeleteBucketReplication",
    "DeleteBucketEncryption",
    "DeleteBucketOwnershipControls",
    "DeletePublicAccessBlock",
];

const OBJECT_SUBRESOURCES: &[(&str, &str, &str, &str)] = &[
    (
        "tagging",
        "GetObjectTagging",
        "PutObjectTagging",
        "DeleteObjectTagging",
    ),
    (
        "torrent",
        "GetObjectTorrent",
        "GetObjectTorrent",
        "GetObjectTorrent",
    ),
    ("restore", "RestoreObject", "RestoreObject", "RestoreObject"),
    (
        "select",
        "SelectObjectContent",
        "SelectObjectContent",
        "SelectObjectContent",
    ),
];

/// One endpoint of every variant (placeholder arguments): what the completeness tests walk.
pub fn samples() -> Vec<Endpoint> {
    let s = String::new;
    vec![
        Endpoint::ListBuckets,
        Endpoint::CreateBucket,
        Endpoint::DeleteBucket,
        Endpoint::HeadBucket,
        Endpoint::GetBucketLocation,
        Endpoint::GetBucketAcl,
        Endpoint::PutBucketAcl,
        Endpoint::GetBucketVersioning,
        Endpoint::PutBucketVersioning,
        Endpoint::ListObjects,
        Endpoint::ListObjectsV2,
        Endpoint::ListObjectVersions,
        Endpoint::ListMultipartUploads,
        Endpoint::DeleteObjects,
        Endpoint::PutObject,
        Endpoint::CopyObject,
        Endpoint::GetObject,
        Endpoint::HeadObject,
        Endpoint::DeleteObject,
        Endpoint::GetObjectAcl,
        Endpoint::PutObjectAcl,
        Endpoint::CreateMultipartUpload,
        Endpoint::UploadPart {
            upload_id: s(),
            part_number: s(),
        },
        Endpoint::UploadPartCopy {
            upload_id: s(),
            part_number: s(),
        },
        Endpoint::CompleteMultipartUpload { upload_id: s() },
        Endpoint::AbortMultipartUpload { upload_id: s() },
        Endpoint::ListParts { upload_id: s() },
        Endpoint::NotImplemented("SelectObjectContent"),
        Endpoint::GetBucketConfig("GetBucketPolicy"),
        Endpoint::DeleteBucketConfig("DeleteBucketPolicy"),
        Endpoint::GetObjectAttributes,
        Endpoint::GetObjectTagging,
        Endpoint::PutObjectTagging,
        Endpoint::DeleteObjectTagging,
        Endpoint::GetBucketTagging,
        Endpoint::PutBucketTagging,
        Endpoint::DeleteBucketTagging,
        Endpoint::GetObjectLockConfiguration,
        Endpoint::PutObjectLockConfiguration,
        Endpoint::GetObjectRetention,
        Endpoint::PutObjectRetention,
        Endpoint::GetObjectLegalHold,
        Endpoint::PutObjectLegalHold,
        Endpoint::Access(AccessOp::GetBucketPolicy),
        Endpoint::GetBucketLifecycle,
        Endpoint::PutBucketLifecycle,
        Endpoint::DeleteBucketLifecycle,
        Endpoint::GetBucketCors,
        Endpoint::PutBucketCors,
        Endpoint::DeleteBucketCors,
        Endpoint::CorsPreflight,
        Endpoint::PostObject,
    ]
}

/// Every operation name the router can produce (implemented or answered 501), for the
/// OpenAPI document's completeness test.
pub fn operation_names() -> Vec<&'static str> {
    let samples = samples();
    // Adding a variant must extend `samples`: this match stops compiling until it is listed.
    for e in &samples {
        match e {
            Endpoint::ListBuckets
            | Endpoint::CreateBucket
            | Endpoint::DeleteBucket
            | Endpoint::HeadBucket
            | Endpoint::GetBucketLocation
            | Endpoint::GetBucketAcl
            | Endpoint::PutBucketAcl
            | Endpoint::GetBucketVersioning
            | Endpoint::PutBucketVersioning
            | Endpoint::ListObjects
            | Endpoint::ListObjectsV2
            | Endpoint::ListObjectVersions
            | Endpoint::ListMultipartUploads
            | Endpoint::DeleteObjects
            | Endpoint::PutObject
            | Endpoint::CopyObject
            | Endpoint::GetObject
            | Endpoint::HeadObject
            | Endpoint::DeleteObject
            | Endpoint::GetObjectAcl
            | Endpoint::PutObjectAcl
            | Endpoint::CreateMultipartUpload
            | Endpoint::UploadPart { .. }
            | Endpoint::UploadPartCopy { .. }
            | Endpoint::CompleteMultipartUpload { .. }
            | Endpoint::AbortMultipartUpload { .. }
            | Endpoint::ListParts { .. }
            | Endpoint::NotImplemented(_)
            | Endpoint::GetBucketConfig(_)
            | Endpoint::DeleteBucketConfig(_)
            | Endpoint::GetObjectAttributes
            | Endpoint::GetObjectTagging
            | Endpoint::PutObjectTagging
            | Endpoint::DeleteObjectTagging
            | Endpoint::GetBucketTagging
            | Endpoint::PutBucketTagging
            | Endpoint::DeleteBucketTagging
            | Endpoint::GetObjectLockConfiguration
            | Endpoint::PutObjectLockConfiguration
            | Endpoint::GetObjectRetention
            | Endpoint::PutObjectRetention
            | Endpoint::GetObjectLegalHold
            | Endpoint::PutObjectLegalHold
            | Endpoint::Access(_)
            | Endpoint::GetBucketLifecycle
            | Endpoint::PutBucketLifecycle
            | Endpoint::DeleteBucketLifecycle
            | Endpoint::GetBucketCors
            | Endpoint::PutBucketCors
            | Endpoint::DeleteBucketCors
            | Endpoint::CorsPreflight
            | Endpoint::PostObject => {}
        }
    }
    let mut names: Vec<&'static str> = samples.iter().map(Endpoint::name).collect();
    names.extend(AccessOp::ALL.iter().map(|a| a.name()));
    for table in [BUCKET_SUBRESOURCES, OBJECT_SUBRESOURCES] {
        for (_, get, put, delete) in table {
            names.extend([*get, *put, *delete]);
        }
    }
    names.sort_unstable();
    names.dedup();
    names
}

#[derive(Debug, Clone)]
pub struct Route {
    /// Inline when short (every bucket name, most keys): routing allocates nothing for them.
    pub bucket: Option<SmallString>,
    pub key: Option<SmallString>,
    pub endpoint: Endpoint,
    /// Decoded query parameters, in order.
    pub query: crate::http::head::QueryPairs,
}

impl Route {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn has(&self, name: &str) -> bool {
        self.query.iter().any(|(k, _)| k == name)
    }
}

/// Splits bucket and key out of the Host header (virtual-hosted style, when `domain` is set)
/// or the path (path style). The key is percent-decoded exactly once and kept as data.
pub fn locate(
    head: &RequestHead,
    domain: &str,
) -> S3Result<(Option<SmallString>, Option<SmallString>)> {
    let host = head.header("host").unwrap_or("");
    let host_name = crate::http::head::strip_port(host);
    let vhost_bucket = if !domain.is_empty() && host_name.len() > domain.len() + 1 {
        host_name
            .strip_suffix(domain)
            .and_then(|b| b.strip_suffix('.'))
            .map(SmallString::from)
    } else {
        None
    };
    let raw = head.path.strip_prefix('/').unwrap_or(&head.path);
    let (bucket, key_raw) = match vhost_bucket {
        Some(b) => (Some(b), Some(raw)),
        None => match raw.split_once('/') {
            Some((b, k)) => (Some(decode_path(b)?), Some(k)),
            None if raw.is_empty() => (None, None),
            None => (Some(decode_path(raw)?), None),
        },
    };
    let key = match key_raw {
        Some(k) if !k.is_empty() => {
            let key = decode_path(k)?;
            if key.len() > KEY_BYTES_MAX {
                return Err(S3Error::new(ErrorCode::KeyTooLongError)
                    .with("Size", key.len().to_string())
                    .with("MaxSizeAllowed", KEY_BYTES_MAX.to_string()));
            }
            Some(key)
        }
        _ => None,
    };
    Ok((bucket, key))
}

/// Percent-decodes a path segment. `+` stays `+` (it is only a space in query strings).
fn decode_path(s: &str) -> S3Result<SmallString> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(SmallString::from)
        .map_err(|_| {
            S3Error::msg(
                ErrorCode::InvalidURI,
                "Object key or bucket is not valid UTF-8.",
            )
        })
}

pub fn route(head: &RequestHead, domain: &str) -> S3Result<Route> {
    let (bucket, key) = locate(head, domain)?;
    let query = head.query_pairs();
    let mut r = Route {
        bucket,
        key,
        endpoint: Endpoint::ListBuckets,
        query,
    };
    r.endpoint = match (&r.bucket, &r.key) {
        (None, _) => match head.method {
            Method::Get => Endpoint::ListBuckets,
            _ => return Err(S3Error::new(ErrorCode::MethodNotAllowed)),
        },
        (Some(_), None) => bucket_endpoint(head, &r)?,
        (Some(_), Some(_)) => object_endpoint(head, &r)?,
    };
    Ok(r)
}

fn subresource(
    r: &Route,
    table: &'static [(&'static str, &'static str, &'static str, &'static str)],
    method: Method,
) -> Option<&'static str> {
    for (name, get, put, delete) in table {
        if r.has(name) {
            let op = match method {
                Method::Get | Method::Head => get,
                Method::Put | Method::Post => put,
                _ => delete,
            };
            return Some(op);
        }
    }
    None
}

fn bucket_endpoint(head: &RequestHead, r: &Route) -> S3Result<Endpoint> {
    let m = head.method;
    Ok(match m {
        Method::Get if r.has("acl") => Endpoint::GetBucketAcl,
        Method::Get if r.has("location") => Endpoint::GetBucketLocation,
        Method::Get if r.has("uploads") => Endpoint::ListMultipartUploads,
        Method::Get if r.has("versions") => Endpoint::ListObjectVersions,
        Method::Get if r.has("versioning") => Endpoint::GetBucketVersioning,
        Method::Put if r.has("acl") => Endpoint::PutBucketAcl,
        Method::Put if r.has("versioning") => Endpoint::PutBucketVersioning,
        Method::Post if r.has("delete") => Endpoint::DeleteObjects,
        Method::Get | Method::Head if r.has("tagging") => Endpoint::GetBucketTagging,
        Method::Put if r.has("tagging") => Endpoint::PutBucketTagging,
        Method::Delete if r.has("tagging") => Endpoint::DeleteBucketTagging,
        Method::Get | Method::Head if r.has("object-lock") => Endpoint::GetObjectLockConfiguration,
        Method::Put if r.has("object-lock") => Endpoint::PutObjectLockConfiguration,
        Method::Get | Method::Head if r.has("lifecycle") => Endpoint::GetBucketLifecycle,
        Method::Put if r.has("lifecycle") => Endpoint::PutBucketLifecycle,
        Method::Delete if r.has("lifecycle") => Endpoint::DeleteBucketLifecycle,
        Method::Get | Method::Head if r.has("cors") => Endpoint::GetBucketCors,
        Method::Put if r.has("cors") => Endpoint::PutBucketCors,
        Method::Delete if r.has("cors") => Endpoint::DeleteBucketCors,
        Method::Options => Endpoint::CorsPreflight,
        _ => {
            if let Some(op) = subresource(r, BUCKET_SUBRESOURCES, m) {
                let status_get = op != "GetBucketPolicyStatus" || matches!(m, Method::Get);
                if let (Some(a), true) = (AccessOp::from_name(op), status_get) {
                    return Ok(Endpoint::Access(a));
                }
                return Ok(match m {
                    Method::Get | Method::Head if UNSET_BUCKET_CONFIG_GETS.contains(&op) => {
                        Endpoint::GetBucketConfig(op)
                    }
                    Method::Delete if UNSET_BUCKET_CONFIG_DELETES.contains(&op) => {
                        Endpoint::DeleteBucketConfig(op)
                    }
                    _ => Endpoint::NotImplemented(op),
                });
            }
            match m {
                Method::Get if r.param("list-type") == Some("2") => Endpoint::ListObjectsV2,
                Method::Get => Endpoint::ListObjects,
                Method::Put => Endpoint::CreateBucket,
                Method::Head => Endpoint::HeadBucket,
                Method::Delete => Endpoint::DeleteBucket,
                Method::Post => Endpoint::PostObject,
                _ => return Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            }
        }
    })
}

fn object_endpoint(head: &RequestHead, r: &Route) -> S3Result<Endpoint> {
    let m = head.method;
    let upload_id = r.param("uploadId").map(|s| s.to_string());
    let copy = head.header("x-amz-copy-source").is_some();
    Ok(match (m, upload_id) {
        (Method::Options, _) => Endpoint::CorsPreflight,
        (Method::Get, _) if r.has("acl") => Endpoint::GetObjectAcl,
        (Method::Put, _) if r.has("acl") => Endpoint::PutObjectAcl,
        (Method::Get, None) if r.has("attributes") => Endpoint::GetObjectAttributes,
        (Method::Get | Method::Head, None) if r.has("tagging") => Endpoint::GetObjectTagging,
        (Method::Put, None) if r.has("tagging") => Endpoint::PutObjectTagging,
        (Method::Delete, None) if r.has("tagging") => Endpoint::DeleteObjectTagging,
        (Method::Get | Method::Head, None) if r.has("retention") => Endpoint::GetObjectRetention,
        (Method::Put, None) if r.has("retention") => Endpoint::PutObjectRetention,
        (Method::Get | Method::Head, None) if r.has("legal-hold") => Endpoint::GetObjectLegalHold,
        (Method::Put, None) if r.has("legal-hold") => Endpoint::PutObjectLegalHold,
        (Method::Put, Some(upload_id)) => {
            let part_number = r.param("partNumber").unwrap_or("").to_string();
            if copy {
                Endpoint::UploadPartCopy {
                    upload_id,
                    part_number,
                }
            } else {
                Endpoint::UploadPart {
                    upload_id,
                    part_number,
                }
            }
        }
        (Method::Get, Some(upload_id)) => Endpoint::ListParts { upload_id },
        (Method::Delete, Some(upload_id)) => Endpoint::AbortMultipartUpload { upload_id },
        (Method::Post, Some(upload_id)) => Endpoint::CompleteMultipartUpload { upload_id },
        (Method::Post, None) if r.has("uploads") => Endpoint::CreateMultipartUpload,
        _ => {
            if let Some(op) = subresource(r, OBJECT_SUBRESOURCES, m) {
                return Ok(Endpoint::NotImplemented(op));
            }
            match m {
                Method::Put if copy => Endpoint::CopyObject,
                Method::Put => Endpoint::PutObject,
                Method::Get => Endpoint::GetObject,
                Method::Head => Endpoint::HeadObject,
                Method::Delete => Endpoint::DeleteObject,
                Method::Post => Endpoint::NotImplemented("PostObject"),
                _ => return Err(S3Error::new(ErrorCode::MethodNotAllowed)),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, target: &str, host: &str, extra: &[(&str, &str)]) -> RequestHead {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut headers = vec![("host".to_string(), host.to_string())];
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        RequestHead {
            method: Method::parse(method),
            method_raw: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            opaque: Vec::new(),
            version_minor: 1,
        }
    }

    fn ep(method: &str, target: &str, extra: &[(&str, &str)]) -> Endpoint {
        route(&head(method, target, "localhost:9000", extra), "s3.local")
            .unwrap()
            .endpoint
    }

    #[test]
    fn routes_bucket_operations() {
        assert_eq!(ep("GET", "/", &[]), Endpoint::ListBuckets);
        assert_eq!(ep("PUT", "/b", &[]), Endpoint::CreateBucket);
        assert_eq!(
            ep("GET", "/b?list-type=2&prefix=a", &[]),
            Endpoint::ListObjectsV2
        );
        assert_eq!(ep("GET", "/b/", &[]), Endpoint::ListObjects);
        assert_eq!(ep("GET", "/b?location", &[]), Endpoint::GetBucketLocation);
        assert_eq!(ep("POST", "/b?delete", &[]), Endpoint::DeleteObjects);
        assert_eq!(ep("GET", "/b?uploads", &[]), Endpoint::ListMultipartUploads);
        assert_eq!(
            ep("PUT", "/b?policy", &[]),
            Endpoint::Access(AccessOp::PutBucketPolicy)
        );
        assert_eq!(
            ep("GET", "/b?policy", &[]),
            Endpoint::Access(AccessOp::GetBucketPolicy)
        );
        assert_eq!(
            ep("GET", "/b?policyStatus", &[]),
            Endpoint::Access(AccessOp::GetBucketPolicyStatus)
        );
        assert_eq!(
            ep("DELETE", "/b?publicAccessBlock", &[]),
            Endpoint::Access(AccessOp::DeletePublicAccessBlock)
        );
        assert_eq!(
            ep("PUT", "/b?ownershipControls", &[]),
            Endpoint::Access(AccessOp::PutBucketOwnershipControls)
        );
        assert_eq!(
            ep("DELETE", "/b?tagging", &[]),
            Endpoint::DeleteBucketTagging
        );
        assert_eq!(ep("GET", "/b?tagging", &[]), Endpoint::GetBucketTagging);
        assert_eq!(ep("PUT", "/b?tagging", &[]), Endpoint::PutBucketTagging);
        assert_eq!(ep("HEAD", "/b?tagging", &[]), Endpoint::GetBucketTagging);
        assert_eq!(ep("DELETE", "/b?cors", &[]), Endpoint::DeleteBucketCors);
        assert_eq!(ep("GET", "/b?cors", &[]), Endpoint::GetBucketCors);
        assert_eq!(ep("PUT", "/b?cors", &[]), Endpoint::PutBucketCors);
        assert_eq!(ep("OPTIONS", "/b", &[]), Endpoint::CorsPreflight);
        assert_eq!(ep("OPTIONS", "/b/k?acl", &[]), Endpoint::CorsPreflight);
        assert_eq!(ep("POST", "/b", &[]), Endpoint::PostObject);
        assert_eq!(ep("POST", "/b?delete", &[]), Endpoint::DeleteObjects);
        assert_eq!(
            ep("GET", "/b?analytics&id=x", &[]),
            Endpoint::NotImplemented("GetBucketAnalyticsConfiguration")
        );
    }

    #[test]
    fn routes_object_operations() {
        assert_eq!(ep("PUT", "/b/k", &[]), Endpoint::PutObject);
        assert_eq!(
            ep("PUT", "/b/k", &[("x-amz-copy-source", "/a/b")]),
            Endpoint::CopyObject
        );
        assert_eq!(
            ep("POST", "/b/k?uploads", &[]),
            Endpoint::CreateMultipartUpload
        );
        assert_eq!(
            ep("PUT", "/b/k?partNumber=3&uploadId=u", &[]),
            Endpoint::UploadPart {
                upload_id: "u".into(),
                part_number: "3".into()
            }
        );
        assert_eq!(
            ep("POST", "/b/k?uploadId=u", &[]),
            Endpoint::CompleteMultipartUpload {
                upload_id: "u".into()
            }
        );
        assert_eq!(ep("GET", "/b/k?tagging", &[]), Endpoint::GetObjectTagging);
        assert_eq!(ep("PUT", "/b/k?tagging", &[]), Endpoint::PutObjectTagging);
        assert_eq!(
            ep("DELETE", "/b/k?tagging&versionId=null", &[]),
            Endpoint::DeleteObjectTagging
        );
        // A PUT with x-amz-tagging is still a PutObject.
        assert_eq!(
            ep("PUT", "/b/k", &[("x-amz-tagging", "a=1")]),
            Endpoint::PutObject
        );
        assert_eq!(
            ep("GET", "/b/k?attributes", &[]),
            Endpoint::GetObjectAttributes
        );
        assert_eq!(
            ep("GET", "/b/k?retention", &[]),
            Endpoint::GetObjectRetention
        );
        assert_eq!(
            ep("PUT", "/b/k?retention&versionId=null", &[]),
            Endpoint::PutObjectRetention
        );
        assert_eq!(
            ep("GET", "/b/k?legal-hold", &[]),
            Endpoint::GetObjectLegalHold
        );
        assert_eq!(
            ep("PUT", "/b/k?legal-hold", &[]),
            Endpoint::PutObjectLegalHold
        );
        assert_eq!(
            ep("GET", "/b?object-lock", &[]),
            Endpoint::GetObjectLockConfiguration
        );
        assert_eq!(
            ep("PUT", "/b?object-lock", &[]),
            Endpoint::PutObjectLockConfiguration
        );
    }

    #[test]
    fn keys_are_decoded_once_and_kept_as_data() {
        let r = route(&head("GET", "/b/..%2F..%2Fetc%2Fpasswd", "h", &[]), "").unwrap();
        assert_eq!(r.key.as_deref(), Some("../../etc/passwd"));
        let r = route(&head("GET", "/b/a+b%2Bc//d", "h", &[]), "").unwrap();
        assert_eq!(r.key.as_deref(), Some("a+b+c//d"));
        let r = route(&head("GET", "/b//lead", "h", &[]), "").unwrap();
        assert_eq!(r.key.as_deref(), Some("/lead"));
    }

    #[test]
    fn virtual_hosted_style() {
        let r = route(
            &head("GET", "/photos/x.jpg", "mybucket.s3.local:9000", &[]),
            "s3.local",
        )
        .unwrap();
        assert_eq!(r.bucket.as_deref(), Some("mybucket"));
        assert_eq!(r.key.as_deref(), Some("photos/x.jpg"));
        let r = route(&head("GET", "/", "s3.local:9000", &[]), "s3.local").unwrap();
        assert_eq!(r.endpoint, Endpoint::ListBuckets);
        let r = route(&head("POST", "/", "mybucket.s3.local", &[]), "s3.local").unwrap();
        assert_eq!(r.endpoint, Endpoint::PostObject);
        assert_eq!(r.bucket.as_deref(), Some("mybucket"));
    }

    #[test]
    fn odd_host_headers_do_not_panic() {
        for host in ["[", "[::1", "[::1]:9000", ":", ""] {
            assert!(
                route(&head("GET", "/", host, &[]), "s3.local").is_ok(),
                "{host}"
            );
        }
    }

    #[test]
    fn long_keys_and_bad_methods_are_errors() {
        let long = format!("/b/{}", "k".repeat(1025));
        assert_eq!(
            route(&head("GET", &long, "h", &[]), "").unwrap_err().code,
            ErrorCode::KeyTooLongError
        );
        assert_eq!(
            route(&head("PATCH", "/b/k", "h", &[]), "")
                .unwrap_err()
                .code,
            ErrorCode::MethodNotAllowed
        );
    }
}

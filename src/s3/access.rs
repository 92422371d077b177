//! Loading what a request names and checking the caller may touch it: buckets, objects and
//! uploads, the caller's signature, and the expected-bucket-owner headers.
//!
//! Authorization is decided here, in [`check`], for every operation on a bucket or object:
//! 1. the bucket policy (read only when the bucket has one): an explicit Deny is AccessDenied,
//!    even for the owner, except that the bucket owner may always Get/Put/DeleteBucketPolicy
//!    (AWS's lockout rule); an Allow grants (unless RestrictPublicBuckets is on, the policy is
//!    public and the caller anonymous);
//! 2. otherwise the ACLs (`acl::allowed`), unless ownership controls are BucketOwnerEnforced
//!    (ACLs disabled: only the bucket owner), with public grants ignored under
//!    IgnorePublicAcls; owner-only operations (policy, public access block, ownership) allow
//!    the bucket owner only.

use crate::engine::policy::{self, Caller, Decision, Guards, ObjectOwnership, RequestCtx};
use crate::engine::{Acl, BucketMeta, Grantee, ObjectMeta, Permission, UploadMeta};
use crate::http::head::RequestHead;
use crate::http::response::HeaderValue;
use crate::s3::acl;
use crate::s3::ctx::Ctx;
use crate::s3::endpoint::{AccessOp, Endpoint};
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use std::net::IpAddr;
use std::rc::Rc;

/// How a request authenticated, for `s3:authType` and `s3:signatureversion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Anonymous,
    HeaderV4,
    HeaderV2,
    QueryV4,
    QueryV2,
    /// A browser-form POST upload (PostObject): `s3:authType` POST.
    PostV4,
    PostV2,
}

/// What a policy's conditions may read about the request, gathered when the context is
/// built (cheap: the peer address, the auth kind and the few headers that are condition keys).
#[derive(Debug, Clone)]
pub struct Inputs {
    pub remote: IpAddr,
    pub auth: AuthKind,
    /// Values of the headers that are condition keys (`s3:x-amz-acl`, ...), by their place
    /// in `CONDITION_HEADERS`; held inline, as most requests never meet a policy.
    headers: [Option<HeaderValue>; CONDITION_HEADERS.len()],
}

/// Headers a policy condition may name as `s3:<header>`.
const CONDITION_HEADERS: [&str; 7] = [
    "x-amz-acl",
    "x-amz-server-side-encryption",
    "x-amz-content-sha256",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-storage-class",
    "x-amz-tagging",
];

impl Inputs {
    pub fn from_head(head: &RequestHead, remote: IpAddr) -> Inputs {
        let auth = match head.header("authorization") {
            Some(v) if v.starts_with("AWS4-") => AuthKind::HeaderV4,
            Some(_) => AuthKind::HeaderV2,
            None if head.query.contains("X-Amz-Algorithm") => AuthKind::QueryV4,
            None if head.query.contains("Signature=") => AuthKind::QueryV2,
            None => AuthKind::Anonymous,
        };
        let mut headers: [Option<HeaderValue>; CONDITION_HEADERS.len()] = Default::default();
        for (n, v) in head.headers.iter() {
            match CONDITION_HEADERS.iter().position(|h| *h == n.as_str()) {
                // The first value, as `RequestHead::header` reads it.
                Some(i) if headers[i].is_none() => headers[i] = Some(HeaderValue::from(v.as_str())),
                _ => {}
            }
        }
        Inputs {
            remote,
            auth,
            headers,
        }
    }

    /// The condition-key headers the request carries: (name, value).
    pub fn condition_headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        CONDITION_HEADERS
            .iter()
            .zip(&self.headers)
            .filter_map(|(n, v)| v.as_ref().map(|v| (*n, v.as_str())))
    }
}

/// The IAM action a request is, for the policy (one table for every endpoint). `versioned`:
/// the request names a version (`?versionId=`).
pub fn action_of(endpoint: &Endpoint, versioned: bool) -> &'static str {
    let v = |plain, version| if versioned { version } else { plain };
    match endpoint {
        Endpoint::ListBuckets => "s3:ListAllMyBuckets",
        Endpoint::CreateBucket => "s3:CreateBucket",
        Endpoint::DeleteBucket => "s3:DeleteBucket",
        Endpoint::HeadBucket | Endpoint::ListObjects | Endpoint::ListObjectsV2 => "s3:ListBucket",
        Endpoint::GetBucketLocation => "s3:GetBucketLocation",
        Endpoint::GetBucketAcl => "s3:GetBucketAcl",
        Endpoint::PutBucketAcl => "s3:PutBucketAcl",
        Endpoint::GetBucketVersioning => "s3:GetBucketVersioning",
        Endpoint::PutBucketVersioning => "s3:PutBucketVersioning",
        Endpoint::ListObjectVersions => "s3:ListBucketVersions",
        Endpoint::ListMultipartUploads => "s3:ListBucketMultipartUploads",
        Endpoint::DeleteObjects => "s3:DeleteObject",
        Endpoint::PutObject
        | Endpoint::CopyObject
        | Endpoint::CreateMultipartUpload
        | Endpoint::UploadPart { .. }
        | Endpoint::UploadPartCopy { .. }
        | Endpoint::CompleteMultipartUpload { .. } => "s3:PutObject",
        Endpoint::GetObject | Endpoint::HeadObject => v("s3:GetObject", "s3:GetObjectVersion"),
        Endpoint::DeleteObject => v("s3:DeleteObject", "s3:DeleteObjectVersion"),
        Endpoint::GetObjectAcl => v("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
        Endpoint::PutObjectAcl => v("s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
        Endpoint::AbortMultipartUpload { .. } => "s3:AbortMultipartUpload",
        Endpoint::ListParts { .. } => "s3:ListMultipartUploadParts",
        Endpoint::GetObjectAttributes => {
            v("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes")
        }
        Endpoint::GetObjectTagging => v("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        Endpoint::PutObjectTagging => v("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
        Endpoint::DeleteObjectTagging => {
            v("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging")
        }
        Endpoint::GetBucketTagging => "s3:GetBucketTagging",
        Endpoint::GetBucketLifecycle => "s3:GetLifecycleConfiguration",
        Endpoint::PutBucketLifecycle | Endpoint::DeleteBucketLifecycle => {
            "s3:PutLifecycleConfiguration"
        }
        Endpoint::GetBucketCors => "s3:GetBucketCORS",
        Endpoint::PutBucketCors | Endpoint::DeleteBucketCors => "s3:PutBucketCORS",
        Endpoint::PostObject => "s3:PutObject",
        // Never authorized: a preflight carries no credentials (s3::cors::preflight).
        Endpoint::CorsPreflight => "s3:GetObject",
        Endpoint::GetObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
        Endpoint::PutObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
        Endpoint::GetObjectRetention => "s3:GetObjectRetention",
        Endpoint::PutObjectRetention => "s3:PutObjectRetention",
        Endpoint::GetObjectLegalHold => "s3:GetObjectLegalHold",
        Endpoint::PutObjectLegalHold => "s3:PutObjectLegalHold",
        Endpoint::PutBucketTagging | Endpoint::DeleteBucketTagging => "s3:PutBucketTagging",
        Endpoint::Access(op) => match op {
            AccessOp::GetBucketPolicy => "s3:GetBucketPolicy",
            AccessOp::PutBucketPolicy => "s3:PutBucketPolicy",
            AccessOp::DeleteBucketPolicy => "s3:DeleteBucketPolicy",
            AccessOp::GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
            AccessOp::GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
            AccessOp::PutPublicAccessBlock | AccessOp::DeletePublicAccessBlock => {
                "s3:PutBucketPublicAccessBlock"
            }
            AccessOp::GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
            AccessOp::PutBucketOwnershipControls | AccessOp::DeleteBucketOwnershipControls => {
                "s3:PutBucketOwnershipControls"
            }
        },
        Endpoint::GetBucketConfig(op)
        | Endpoint::DeleteBucketConfig(op)
        | Endpoint::NotImplemented(op) => config_action(op),
    }
}

/// The actions of the bucket configurations routed by name (IAM's names differ from the
/// operations' for some).
fn config_action(op: &str) -> &'static str {
    match op {
        "GetBucketPolicy" => "s3:GetBucketPolicy",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "GetBucketPolicyStatus" => "s3:GetBucketPolicyStatus",
        "SelectObjectContent" => "s3:GetObject",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => {
            "s3:PutLifecycleConfiguration"
        }
        "GetObjectLockConfiguration" => "s3:GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration" => "s3:PutBucketObjectLockConfiguration",
        "GetObjectRetention" => "s3:GetObjectRetention",
        "PutObjectRetention" => "s3:PutObjectRetention",
        "GetObjectLegalHold" => "s3:GetObjectLegalHold",
        "PutObjectLegalHold" => "s3:PutObjectLegalHold",
        "GetBucketWebsite" => "s3:GetBucketWebsite",
        "PutBucketWebsite" => "s3:PutBucketWebsite",
        "DeleteBucketWebsite" => "s3:DeleteBucketWebsite",
        "GetBucketEncryption" => "s3:GetEncryptionConfiguration",
        "PutBucketEncryption" | "DeleteBucketEncryption" => "s3:PutEncryptionConfiguration",
        "GetBucketReplication" => "s3:GetReplicationConfiguration",
        "PutBucketReplication" | "DeleteBucketReplication" => "s3:PutReplicationConfiguration",
        "GetBucketLogging" => "s3:GetBucketLogging",
        "PutBucketLogging" => "s3:PutBucketLogging",
        "GetBucketNotificationConfiguration" => "s3:GetBucketNotification",
        "PutBucketNotificationConfiguration" => "s3:PutBucketNotification",
        "GetBucketRequestPayment" => "s3:GetBucketRequestPayment",
        "PutBucketRequestPayment" => "s3:PutBucketRequestPayment",
        "RestoreObject" => "s3:RestoreObject",
        "PostObject" => "s3:PutObject",
        _ => "s3:*",
    }
}

/// The action of this request.
fn request_action(ctx: &Ctx) -> &'static str {
    action_of(&ctx.route.endpoint, ctx.route.has("versionId"))
}

/// The operations only the bucket owner may run by default (no ACL grants them).
fn owner_only(endpoint: &Endpoint) -> bool {
    matches!(endpoint, Endpoint::Access(_))
}

/// What is being checked: the action on the bucket (`key` None) or on one of its objects.
pub struct Target<'a> {
    pub action: &'a str,
    pub key: Option<&'a str>,
    /// The object, when loaded (its tags are `s3:ExistingObjectTag/<key>`).
    pub object: Option<&'a ObjectMeta>,
}

/// What grants access when the policy does not: an ACL (the resource's owner, its ACL and
/// the permission needed) or only the bucket owner.
pub enum Fallback<'a> {
    Acl(&'a str, &'a Acl, Permission),
    BucketOwner,
}

fn denied() -> S3Error {
    S3Error::new(ErrorCode::AccessDenied)
}

/// The condition keys of this request (built only when a policy is evaluated).
fn request_keys(ctx: &Ctx, object: Option<&ObjectMeta>) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<(String, Vec<String>)> = Vec::with_capacity(16);
    let mut put = |k: &str, v: String| keys.push((k.to_string(), vec![v]));
    let inputs = &ctx.inputs;
    let ip = match inputs.remote {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    put("aws:sourceip", ip.to_string());
    put("aws:securetransport", "false".into());
    let now_ms = crate::engine::now_ms();
    put("aws:currenttime", crate::s3::xml::iso8601_ms(now_ms));
    put("aws:epochtime", (now_ms / 1000).to_string());
    match &ctx.caller {
        Some(u) => {
            put("aws:username", u.display_name.clone());
            put("aws:userid", u.id.clone());
            put("aws:principaltype", "User".into());
        }
        None => put("aws:principaltype", "Anonymous".into()),
    }
    let (auth_type, sig) = match inputs.auth {
        AuthKind::Anonymous => (None, None),
        AuthKind::HeaderV4 => (Some("REST-HEADER"), Some("AWS4-HMAC-SHA256")),
        AuthKind::HeaderV2 => (Some("REST-HEADER"), Some("AWS")),
        AuthKind::QueryV4 => (Some("REST-QUERY-STRING"), Some("AWS4-HMAC-SHA256")),
        AuthKind::QueryV2 => (Some("REST-QUERY-STRING"), Some("AWS")),
        AuthKind::PostV4 => (Some("POST"), Some("AWS4-HMAC-SHA256")),
        AuthKind::PostV2 => (Some("POST"), Some("AWS")),
    };
    if let Some(t) = auth_type {
        put("s3:authtype", t.into());
    }
    if let Some(s) = sig {
        put("s3:signatureversion", s.into());
    }
    for (param, key) in [
        ("prefix", "s3:prefix"),
        ("delimiter", "s3:delimiter"),
        ("max-keys", "s3:max-keys"),
        ("versionId", "s3:versionid"),
    ] {
        if let Some(v) = ctx.route.param(param) {
            put(key, v.to_string());
        }
    }
    for (h, v) in inputs.condition_headers() {
        if h == "x-amz-tagging" {
            let tags: Vec<(String, String)> = url::form_urlencoded::parse(v.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            keys.push((
                "s3:requestobjecttagkeys".into(),
                tags.iter().map(|(k, _)| k.clone()).collect(),
            ));
            for (k, v) in tags {
                keys.push((format!("s3:requestobjecttag/{k}"), vec![v]));
            }
        } else {
            keys.push((format!("s3:{h}"), vec![v.to_string()]));
        }
    }
    if let Some(m) = object {
        for (k, v) in &m.tags {
            keys.push((format!("s3:existingobjecttag/{k}"), vec![v.clone()]));
        }
    }
    keys
}

fn ownership_enforced(g: &Guards) -> bool {
    g.ownership == Some(ObjectOwnership::BucketOwnerEnforced)
}

/// The one authorization decision (see the module doc).
pub async fn check(
    ctx: &Ctx,
    b: &BucketMeta,
    t: Target<'_>,
    fallback: Fallback<'_>,
) -> S3Result<()> {
    let guards = policy::guards(b).await?;
    decide(ctx, b, &guards, &t, &fallback)
}

fn decide(
    ctx: &Ctx,
    b: &BucketMeta,
    guards: &Guards,
    t: &Target<'_>,
    fallback: &Fallback<'_>,
) -> S3Result<()> {
    let is_owner = ctx.caller_id() == Some(b.owner_id.as_str());
    if let Some(sp) = &guards.policy {
        let resource = match t.key {
            Some(k) => format!("arn:aws:s3:::{}/{}", b.name, k),
            None => format!("arn:aws:s3:::{}", b.name),
        };
        let keys = request_keys(ctx, t.object);
        let caller = ctx.caller.as_ref().map(|u| Caller {
            canonical_id: &u.id,
            access_key: &u.access_key,
            display_name: &u.display_name,
        });
        let req = RequestCtx {
            caller,
            action: t.action,
            resource: &resource,
            keys: &keys,
        };
        match policy::evaluate(&sp.policy, &req) {
            Decision::ExplicitDeny => {
                let lockout_exempt = is_owner
                    && matches!(
                        t.action,
                        "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy"
                    );
                if !lockout_exempt {
                    return Err(denied());
                }
                return Ok(());
            }
            Decision::Allow => {
                let restricted = ctx.caller.is_none()
                    && guards
                        .public_access
                        .map(|p| p.restrict_public_buckets)
                        .unwrap_or(false)
                    && policy::is_public(&sp.policy);
                if !restricted {
                    return Ok(());
                }
            }
            Decision::NoOpinion => {}
        }
    }
    match fallback {
        Fallback::BucketOwner => {
            if is_owner {
                Ok(())
            } else {
                Err(denied())
            }
        }
        Fallback::Acl(owner, acl, perm) => {
            if ownership_enforced(guards) {
                // ACLs are disabled: the bucket owner owns and may do everything.
                return if is_owner { Ok(()) } else { Err(denied()) };
            }
            let ignore_public = guards
                .public_access
                .map(|p| p.ignore_public_acls)
                .unwrap_or(false);
            if ignore_public && acl.grants.iter().any(|g| is_public_grantee(&g.grantee)) {
                let mut kept: Acl = Acl::clone(acl);
                kept.grants.retain(|g| !is_public_grantee(&g.grantee));
                acl::require(owner, &kept, ctx.caller.as_deref(), *perm)
            } else {
                acl::require(owner, acl, ctx.caller.as_deref(), *perm)
            }
        }
    }
}

pub fn is_public_grantee(g: &Grantee) -> bool {
    matches!(g, Grantee::AllUsers | Grantee::AuthenticatedUsers)
}

/// Loads a bucket (from this core's record cache while it is current), or NoSuchBucket.
pub async fn load_bucket(name: &str) -> S3Result<Rc<BucketMeta>> {
    crate::engine::records::bucket(name).await
}

/// A bucket's configurations (versioning, tagging, CORS, lifecycle, Object Lock) are its
/// owner's, as in AWS: not grantable by ACL.
pub async fn owned_bucket(ctx: &Ctx) -> S3Result<Rc<BucketMeta>> {
    let b = load_bucket(ctx.bucket()).await?;
    if ctx.caller_id() != Some(b.owner_id.as_str()) {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    Ok(b)
}

/// Loads a bucket and checks the caller may run this request on it: the policy for this
/// request's action (on the object the route names, if any), else `perm` in the bucket's ACL.
pub async fn authorize_bucket(ctx: &Ctx, perm: Permission) -> S3Result<Rc<BucketMeta>> {
    let b = load_bucket(ctx.bucket()).await?;
    if ctx.route.endpoint == Endpoint::DeleteObjects && policy::has_guards(&b) {
        // Decided key by key (`authorize_keys`): the policy names objects.
        return Ok(b);
    }
    let fallback = if owner_only(&ctx.route.endpoint) {
        Fallback::BucketOwner
    } else {
        Fallback::Acl(&b.owner_id, &b.acl, perm)
    };
    let t = Target {
        action: request_action(ctx),
        key: ctx.route.key.as_deref(),
        object: None,
    };
    check(ctx, &b, t, fallback).await?;
    Ok(b)
}

/// DeleteObjects on a bucket with access configurations: whether the caller may delete each
/// key (s3:DeleteObject, or s3:DeleteObjectVersion with a version), by the policy, else
/// WRITE on the bucket. The configurations are read once.
pub async fn authorize_keys(
    ctx: &Ctx,
    b: &BucketMeta,
    keys: &[(String, bool)],
) -> S3Result<Vec<bool>> {
    if !policy::has_guards(b) {
        return Ok(vec![true; keys.len()]);
    }
    let g = policy::guards(b).await?;
    let fallback = Fallback::Acl(&b.owner_id, &b.acl, Permission::Write);
    Ok(keys
        .iter()
        .map(|(key, versioned)| {
            let t = Target {
                action: if *versioned {
                    "s3:DeleteObjectVersion"
                } else {
                    "s3:DeleteObject"
                },
                key: Some(key),
                object: None,
            };
            decide(ctx, b, &g, &t, &fallback).is_ok()
        })
        .collect())
}

/// Checks the caller may run this request on the object `m` of bucket `b`: the policy for
/// this request's action, else `perm` in the object's ACL.
pub async fn authorize_object(
    ctx: &Ctx,
    b: &BucketMeta,
    m: &ObjectMeta,
    perm: Permission,
) -> S3Result<()> {
    let t = Target {
        action: request_action(ctx),
        key: Some(ctx.key()),
        object: Some(m),
    };
    check(ctx, b, t, Fallback::Acl(&m.owner_id, &m.acl, perm)).await
}

/// Checks the caller may read a copy source `key` (version `versioned`) of bucket `b`.
pub async fn authorize_source(
    ctx: &Ctx,
    b: &BucketMeta,
    key: &str,
    m: &ObjectMeta,
    versioned: bool,
) -> S3Result<()> {
    let t = Target {
        action: if versioned {
            "s3:GetObjectVersion"
        } else {
            "s3:GetObject"
        },
        key: Some(key),
        object: Some(m),
    };
    check(
        ctx,
        b,
        t,
        Fallback::Acl(&m.owner_id, &m.acl, Permission::Read),
    )
    .await
}

/// Whether the caller may list bucket `b` (s3:ListBucket, else READ on the bucket): who may
/// learn that a key or version does not exist.
pub async fn may_list(ctx: &Ctx, b: &BucketMeta) -> S3Result<()> {
    let t = Target {
        action: "s3:ListBucket",
        key: None,
        object: None,
    };
    check(
        ctx,
        b,
        t,
        Fallback::Acl(&b.owner_id, &b.acl, Permission::Read),
    )
    .await
}

pub fn require_signed(ctx: &Ctx) -> S3Result<&crate::auth::users::User> {
    ctx.caller
        .as_deref()
        .ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))
}

/// Bucket and object in one hop, for a caller about to be checked against the object.
/// A missing key is NoSuchKey only to a caller who may list the bucket; anyone else gets
/// AccessDenied, as for an object they may not touch, so existence is not revealed.
pub async fn load_object_guarded(
    ctx: &Ctx,
    bucket: &str,
    key: &str,
) -> S3Result<(BucketMeta, ObjectMeta)> {
    let (bm, om) = crate::engine::read::bucket_and_maybe_object(bucket, key).await?;
    match om {
        Some(om) => Ok((bm, om)),
        None => {
            may_list(ctx, &bm).await?;
            Err(S3Error::no_such_key(key))
        }
    }
}

/// Loads an upload, or NoSuchUpload.
pub async fn load_upload(ctx: &Ctx, upload_id: &str) -> S3Result<UploadMeta> {
    crate::engine::read::upload(ctx.bucket(), ctx.key(), upload_id).await
}

/// The bucket's access configurations (nothing read when it has none).
pub async fn guards(b: &BucketMeta) -> S3Result<Guards> {
    policy::guards(b).await
}

/// Whether an ACL grants anything to everyone (AllUsers / AuthenticatedUsers).
pub fn acl_is_public(acl: &Acl) -> bool {
    acl.grants.iter().any(|g| is_public_grantee(&g.grantee))
}

/// For a request that sets an ACL (canned or grant headers, or a PutBucketAcl /
/// PutObjectAcl body): refuses what the bucket's configurations forbid. BucketOwnerEnforced:
/// only `bucket-owner-full-control` (or the owner-only ACL) is accepted, else 400
/// AccessControlListNotSupported. BlockPublicAcls: a public ACL is 403 AccessDenied.
pub fn check_acl_allowed(
    g: &Guards,
    b: &BucketMeta,
    acl: &Acl,
    canned: Option<&str>,
) -> S3Result<()> {
    if ownership_enforced(g) {
        let owner_full = |a: &Acl| {
            a.grants.iter().all(|gr| match &gr.grantee {
                Grantee::User { id } => id == &b.owner_id,
                Grantee::ExplicitOwner => true,
                _ => false,
            })
        };
        let ok = match canned {
            Some(c) => c == "bucket-owner-full-control",
            None => owner_full(acl),
        };
        if !ok {
            return Err(S3Error::new(ErrorCode::AccessControlListNotSupported));
        }
    }
    if g.public_access
        .map(|p| p.block_public_acls)
        .unwrap_or(false)
        && acl_is_public(acl)
    {
        return Err(denied());
    }
    Ok(())
}

/// [`check_acl_allowed`] for a request's ACL headers on a bucket (PutBucketAcl): reads the
/// configurations only when the bucket has some and the request sets an ACL.
pub async fn check_acl_headers(
    b: &BucketMeta,
    head: &RequestHead,
    acl: Option<&Acl>,
) -> S3Result<()> {
    let Some(acl) = acl else { return Ok(()) };
    if !policy::has_guards(b) {
        return Ok(());
    }
    let g = policy::guards(b).await?;
    check_acl_allowed(&g, b, acl, head.header("x-amz-acl"))
}

/// A write of a new object (PutObject, CopyObject, CreateMultipartUpload, POST upload) with
/// the ACL its headers set, if any: checks that ACL and answers who will own the object.
///
/// - The ACL must be allowed by the bucket's configurations ([`check_acl_allowed`]) and, as AWS
///   asks for both actions, by the one decision for `s3:PutObjectAcl` on the key (the fallback
///   is the bucket ACL's WRITE, the same that let the write in).
/// - The owner is the bucket owner under BucketOwnerEnforced, and under BucketOwnerPreferred
///   when the writer sends `bucket-owner-full-control`; otherwise the writer (the bucket owner
///   for an anonymous write).
///
/// Nothing is read when the bucket has no access configurations.
pub async fn new_object_owner(
    ctx: &Ctx,
    b: &BucketMeta,
    key: &str,
    head: &RequestHead,
    acl: Option<&Acl>,
) -> S3Result<String> {
    let writer = || ctx.caller_id().unwrap_or(&b.owner_id).to_string();
    if !policy::has_guards(b) {
        return Ok(writer());
    }
    let g = policy::guards(b).await?;
    let canned = head.header("x-amz-acl");
    if let Some(acl) = acl {
        check_acl_allowed(&g, b, acl, canned)?;
        let t = Target {
            action: "s3:PutObjectAcl",
            key: Some(key),
            object: None,
        };
        decide(
            ctx,
            b,
            &g,
            &t,
            &Fallback::Acl(&b.owner_id, &b.acl, Permission::Write),
        )?;
    }
    let bucket_owns = match g.ownership {
        Some(ObjectOwnership::BucketOwnerEnforced) => true,
        Some(ObjectOwnership::BucketOwnerPreferred) => canned == Some("bucket-owner-full-control"),
        _ => false,
    };
    Ok(if bucket_owns {
        b.owner_id.clone()
    } else {
        writer()
    })
}

/// `x-amz-expected-bucket-owner` (every bucket and object operation) and
/// `x-amz-source-expected-bucket-owner` (CopyObject, UploadPartCopy): 403 AccessDenied when
/// the bucket's owner is someone else. A missing bucket is left to the handler (NoSuchBucket).
pub async fn check_expected_owners(ctx: &Ctx, head: &RequestHead) -> S3Result<()> {
    if ctx.route.bucket.is_some() && ctx.route.endpoint != Endpoint::CreateBucket {
        if let Some(want) = head.header("x-amz-expected-bucket-owner") {
            expect_owner(ctx.bucket(), want).await?;
        }
    }
    let copies = matches!(
        ctx.route.endpoint,
        Endpoint::CopyObject | Endpoint::UploadPartCopy { .. }
    );
    if let (true, Some(want)) = (copies, head.header("x-amz-source-expected-bucket-owner")) {
        let src = head.header("x-amz-copy-source").unwrap_or("");
        let (sb, _) = crate::s3::request::parse_copy_source(src)?;
        expect_owner(&sb, want).await?;
    }
    Ok(())
}

async fn expect_owner(bucket: &str, want: &str) -> S3Result<()> {
    match load_bucket(bucket).await {
        Ok(b) if b.owner_id != want.trim() => Err(S3Error::new(ErrorCode::AccessDenied)),
        Err(e) if e.code != ErrorCode::NoSuchBucket => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_table() {
        assert_eq!(action_of(&Endpoint::GetObject, false), "s3:GetObject");
        assert_eq!(action_of(&Endpoint::GetObject, true), "s3:GetObjectVersion");
        assert_eq!(action_of(&Endpoint::HeadBucket, false), "s3:ListBucket");
        assert_eq!(
            action_of(&Endpoint::DeleteObject, true),
            "s3:DeleteObjectVersion"
        );
        assert_eq!(
            action_of(&Endpoint::Access(AccessOp::DeletePublicAccessBlock), false),
            "s3:PutBucketPublicAccessBlock"
        );
        assert_eq!(
            action_of(&Endpoint::GetBucketConfig("GetBucketCors"), false),
            "s3:GetBucketCORS"
        );
        // every named action is one the policy language accepts
        let mut samples = crate::s3::endpoint::samples();
        samples.extend(AccessOp::ALL.map(Endpoint::Access));
        for e in samples {
            for versioned in [false, true] {
                let a = action_of(&e, versioned);
                let name = a.trim_start_matches("s3:");
                assert!(policy::ACTIONS.contains(&name), "{a} for {e:?}");
            }
        }
    }
}

//! Bucket operations: list, create, delete, head, location, ACL, versioning status.

pub use crate::engine::now_ms;
use crate::engine::{Acl, BucketMeta, ObjectMeta, Permission};
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::s3::acl;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::service::Ctx;
use crate::s3::xml;

/// Bodies of bucket configuration requests (CreateBucketConfiguration, ACL XML), at most.
pub const CONFIG_BODY_BYTES_MAX: usize = 64 * 1024;

/// S3's naming rules: 3–63 chars of lowercase letters, digits, dots and hyphens, starting
/// and ending with a letter or digit, no `..`, not shaped like an IPv4 address.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if b.len() < 3 || b.len() > 63 {
        return false;
    }
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'.' || *c == b'-';
    if !b.iter().all(ok_char) {
        return false;
    }
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return false;
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return false;
    }
    !(name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.starts_with("amzn-s3-demo-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3"))
}

/// Reads a small request body whole (XML configuration), refusing more than `max`.
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
    payload.verify_end()?;
    Ok(BufferedBody {
        bytes: out,
        _lease: lease,
    })
}

/// Loads a bucket from its shard, or NoSuchBucket.
pub async fn load_bucket(name: &str) -> S3Result<BucketMeta> {
    crate::engine::read::bucket(name).await
}

/// Loads a bucket and checks the caller holds `perm` on it.
pub async fn authorize_bucket(ctx: &Ctx, perm: Permission) -> S3Result<BucketMeta> {
    let b = load_bucket(ctx.bucket()).await?;
    acl::require(&b.owner_id, &b.acl, ctx.caller.as_ref(), perm)?;
    Ok(b)
}

pub fn require_signed(ctx: &Ctx) -> S3Result<&crate::auth::users::User> {
    ctx.caller
        .as_ref()
        .ok_or_else(|| S3Error::new(ErrorCode::AccessDenied))
}

/// Largest `max-buckets` accepted (AWS's bound).
const MAX_BUCKETS_MAX: i64 = 10_000;

pub async fn list_buckets(ctx: &Ctx) -> S3Result<Response> {
    let user = require_signed(ctx)?.clone();
    let max = match ctx.route.param("max-buckets") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_BUCKETS_MAX).contains(n))
                .ok_or_else(|| {
                    S3Error::invalid_argument(
                        "Argument max-buckets must be an integer between 1 and 10000",
                        "max-buckets",
                        v,
                    )
                })? as usize,
        ),
    };
    let after = match ctx.route.param("continuation-token") {
        None => String::new(),
        Some(t) => crate::s3::list::decode_token(t)
            .ok()
            .filter(|name| !name.is_empty())
            .ok_or_else(|| {
                S3Error::invalid_argument(
                    "The continuation token provided is incorrect",
                    "continuation-token",
                    t,
                )
            })?,
    };
    let prefix = ctx.route.param("prefix").map(str::to_string);
    let region = ctx.route.param("bucket-region").map(str::to_string);
    let owner_id = user.id.clone();
    let (p, r, a) = (
        prefix.clone().unwrap_or_default(),
        region.clone(),
        after.clone(),
    );
    let owned = crate::engine::read::buckets(move |b: &BucketMeta| {
        b.owner_id == owner_id
            && b.name.starts_with(&p)
            && b.name > a
            && r.as_deref().is_none_or(|r| r == b.region)
    })
    .await?;
    let mut buckets: Vec<xml::BucketEntry> = owned
        .into_iter()
        .map(|b| xml::BucketEntry {
            name: b.name,
            creation_ms: b.created_ms,
            region: Some(b.region),
        })
        .collect();
    buckets.sort_by(|a, b| a.name.cmp(&b.name));
    // The token is opaque to clients: the last name of this page, encoded.
    let next = match max {
        Some(m) if buckets.len() > m => {
            buckets.truncate(m);
            buckets
                .last()
                .map(|b| crate::s3::list::encode_token(&b.name))
        }
        _ => None,
    };
    let owner = xml::Owner {
        id: user.id.clone(),
        display_name: Some(user.display_name.clone()),
    };
    Ok(Response::xml(
        200,
        xml::list_buckets(&owner, &buckets, next.as_deref(), prefix.as_deref()),
    ))
}

pub async fn create_bucket(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let user = require_signed(ctx)?.clone();
    let name = ctx.bucket().to_string();
    if !valid_bucket_name(&name) {
        return Err(S3Error::new(ErrorCode::InvalidBucketName).with("BucketName", &name));
    }
    let acl = acl::from_headers(&req.head, None)?.unwrap_or_default();
    let body = read_small_body(req, ctx, CONFIG_BODY_BYTES_MAX).await?;
    let region = ctx.shared.config.server.region.clone();
    if let Some(loc) = xml::parse_create_bucket_configuration(&body)? {
        let matches = loc == region || (region == "us-east-1" && (loc.is_empty() || loc == "US"));
        if !matches {
            return Err(S3Error::msg(
                ErrorCode::IllegalLocationConstraintException,
                format!("The {loc} location constraint is incompatible for the region specific endpoint this request was sent to."),
            ));
        }
    }
    let legacy_region = region == "us-east-1";
    let meta = BucketMeta {
        name: name.clone(),
        owner_id: user.id.clone(),
        created_ms: now_ms(),
        region,
        acl: acl.clone(),
    };
    match crate::engine::bucket::create(meta).await {
        Ok(()) => {}
        // AWS's legacy us-east-1 behaviour, which boto3 users rely on: creating a bucket
        // you already own answers 200, keeps its contents and resets its ACL.
        Err(e) if e.code == ErrorCode::BucketAlreadyOwnedByYou && legacy_region => {
            crate::engine::bucket::set_acl(&name, acl).await?;
        }
        Err(e) => return Err(e),
    }
    let mut r = Response::new(200);
    r.header("location", format!("/{name}"));
    Ok(r)
}

pub async fn delete_bucket(ctx: &Ctx) -> S3Result<Response> {
    let user = require_signed(ctx)?.clone();
    let b = load_bucket(ctx.bucket()).await?;
    if b.owner_id != user.id {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    let name = ctx.bucket().to_string();
    crate::engine::bucket::delete(&name).await?;
    Ok(Response::new(204))
}

pub async fn head_bucket(ctx: &Ctx) -> S3Result<Response> {
    let b = authorize_bucket(ctx, Permission::Read).await?;
    let mut r = Response::new(200);
    r.header("x-amz-bucket-region", b.region);
    r.head_only = true;
    Ok(r)
}

pub async fn get_location(ctx: &Ctx) -> S3Result<Response> {
    let b = load_bucket(ctx.bucket()).await?;
    if ctx.caller_id() != Some(b.owner_id.as_str()) {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    let loc = if b.region == "us-east-1" {
        None
    } else {
        Some(b.region.as_str())
    };
    Ok(Response::xml(200, xml::location(loc)))
}

pub async fn get_versioning(ctx: &Ctx) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Read).await?;
    Ok(Response::xml(
        200,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>".into(),
    ))
}

/// Renders an ACL as AccessControlPolicy XML: a canned ACL with the owner's implicit
/// FULL_CONTROL first, an explicit one exactly as given.
pub fn acl_xml(ctx: &Ctx, owner_id: &str, acl: &Acl) -> String {
    use crate::engine::Grantee as G;
    let users = &ctx.shared.users;
    let owner = xml::Owner {
        id: owner_id.to_string(),
        display_name: Some(users.display_name(owner_id)),
    };
    let explicit = acl::is_explicit(acl);
    let mut grants = Vec::new();
    if !explicit {
        grants.push(xml::Grant {
            grantee: xml::Grantee::CanonicalUser {
                id: owner.id.clone(),
                display_name: owner.display_name.clone(),
            },
            permission: xml::Permission::FullControl,
        });
    }
    for g in &acl.grants {
        let grantee = match &g.grantee {
            G::ExplicitOwner => continue,
            // bucket-owner-full-control by the bucket's own owner: already listed.
            G::User { id }
                if !explicit && id == owner_id && g.permission == Permission::FullControl =>
            {
                continue
            }
            G::User { id } => xml::Grantee::CanonicalUser {
                id: id.clone(),
                display_name: Some(users.display_name(id)),
            },
            G::Email(e) => xml::Grantee::Email(e.clone()),
            other => xml::Grantee::Group(acl::group_uri(other).unwrap_or_default().to_string()),
        };
        grants.push(xml::Grant {
            grantee,
            permission: g.permission,
        });
    }
    xml::access_control_policy(&xml::AccessControlPolicy {
        owner: Some(owner),
        grants,
    })
}

/// The ACL a PutBucketAcl / PutObjectAcl request asks for: headers or an XML body. A body
/// replaces the ACL by exactly its grants: one with none leaves the owner only READ_ACP and
/// WRITE_ACP. `bucket_owner` is whom the bucket-owner-* canned ACLs name.
pub async fn requested_acl(ctx: &Ctx, req: &mut Request<'_>, bucket_owner: &str) -> S3Result<Acl> {
    if let Some(acl) = acl::from_headers(&req.head, Some(bucket_owner))? {
        return Ok(acl);
    }
    let body = read_small_body(req, ctx, CONFIG_BODY_BYTES_MAX).await?;
    if body.is_empty() {
        return Err(S3Error::new(ErrorCode::MissingRequestBodyError));
    }
    let policy = xml::parse_access_control_policy(&body)?;
    let mut grants = Vec::new();
    for g in policy.grants {
        use crate::engine::{Grant, Grantee as G};
        let grantee = match g.grantee {
            xml::Grantee::CanonicalUser { id, .. } => G::User { id },
            xml::Grantee::Email(e) => G::Email(e),
            xml::Grantee::Group(uri) => acl::group(&uri).ok_or_else(|| {
                S3Error::msg(ErrorCode::MalformedACLError, format!("Unknown group {uri}"))
            })?,
        };
        grants.push(Grant {
            grantee,
            permission: g.permission,
        });
    }
    acl::resolve_grantees(&grants)?;
    Ok(acl::explicit(grants))
}

pub async fn get_bucket_acl(ctx: &Ctx) -> S3Result<Response> {
    let b = authorize_bucket(ctx, Permission::ReadAcp).await?;
    Ok(Response::xml(200, acl_xml(ctx, &b.owner_id, &b.acl)))
}

pub async fn put_bucket_acl(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let b = authorize_bucket(ctx, Permission::WriteAcp).await?;
    let acl = requested_acl(ctx, req, &b.owner_id).await?;
    let name = ctx.bucket().to_string();
    crate::engine::bucket::set_acl(&name, acl).await?;
    Ok(Response::new(200))
}

/// `x-amz-expected-bucket-owner` (every bucket and object operation) and
/// `x-amz-source-expected-bucket-owner` (CopyObject, UploadPartCopy): 403 AccessDenied when
/// the bucket's owner is someone else. A missing bucket is left to the handler (NoSuchBucket).
pub async fn check_expected_owners(ctx: &Ctx, head: &RequestHead) -> S3Result<()> {
    use crate::s3::endpoint::Endpoint;
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
        let (sb, _) = crate::s3::copy::parse_copy_source(src)?;
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

/// GET of a bucket configuration this server never stores: AWS's answer for a bucket where
/// it is not set (a NoSuch* 404, or the empty / default document). Owner only, as AWS.
pub async fn get_unset_config(ctx: &Ctx, op: &str) -> S3Result<Response> {
    let b = load_bucket(ctx.bucket()).await?;
    if ctx.caller_id() != Some(b.owner_id.as_str()) {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    let not_found = |code: ErrorCode| Err(S3Error::new(code).with("BucketName", ctx.bucket()));
    let doc = |root: &str, inner: &str| {
        let body = if inner.is_empty() {
            format!("<{root} xmlns=\"{}\"/>", xml::S3_NS)
        } else {
            format!("<{root} xmlns=\"{}\">{inner}</{root}>", xml::S3_NS)
        };
        Ok(Response::xml(
            200,
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"),
        ))
    };
    match op {
        "GetBucketTagging" => not_found(ErrorCode::NoSuchTagSet),
        "GetBucketLifecycleConfiguration" => not_found(ErrorCode::NoSuchLifecycleConfiguration),
        "GetBucketPolicy" | "GetBucketPolicyStatus" => not_found(ErrorCode::NoSuchBucketPolicy),
        "GetBucketCors" => not_found(ErrorCode::NoSuchCORSConfiguration),
        "GetBucketEncryption" => {
            not_found(ErrorCode::ServerSideEncryptionConfigurationNotFoundError)
        }
        "GetBucketWebsite" => not_found(ErrorCode::NoSuchWebsiteConfiguration),
        "GetBucketReplication" => not_found(ErrorCode::ReplicationConfigurationNotFoundError),
        "GetObjectLockConfiguration" => not_found(ErrorCode::ObjectLockConfigurationNotFoundError),
        "GetBucketOwnershipControls" => not_found(ErrorCode::OwnershipControlsNotFoundError),
        "GetPublicAccessBlock" => not_found(ErrorCode::NoSuchPublicAccessBlockConfiguration),
        "GetBucketLogging" => doc("BucketLoggingStatus", ""),
        "GetBucketNotificationConfiguration" => doc("NotificationConfiguration", ""),
        "GetBucketAccelerateConfiguration" => doc("AccelerateConfiguration", ""),
        "GetBucketRequestPayment" => {
            doc("RequestPaymentConfiguration", "<Payer>BucketOwner</Payer>")
        }
        other => Err(S3Error::msg(
            ErrorCode::NotImplemented,
            format!("{other} is not implemented by this server."),
        )),
    }
}

/// DELETE of a configuration never stored: nothing to remove, 204 as AWS answers.
pub async fn delete_unset_config(ctx: &Ctx) -> S3Result<Response> {
    let b = load_bucket(ctx.bucket()).await?;
    if ctx.caller_id() != Some(b.owner_id.as_str()) {
        return Err(S3Error::new(ErrorCode::AccessDenied));
    }
    Ok(Response::new(204))
}

/// Bucket and object in one hop, for a caller about to be checked against the object's ACL.
/// A missing key is NoSuchKey only to a caller who may list the bucket; anyone else gets
/// AccessDenied, as for an object they may not touch, so existence is not revealed.
pub async fn load_object_guarded(
    caller: Option<&crate::auth::users::User>,
    bucket: &str,
    key: &str,
) -> S3Result<(BucketMeta, ObjectMeta)> {
    let (bm, om) = crate::engine::read::bucket_and_maybe_object(bucket, key).await?;
    match om {
        Some(om) => Ok((bm, om)),
        None => {
            acl::require(&bm.owner_id, &bm.acl, caller, Permission::Read)?;
            Err(S3Error::no_such_key(key))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_bucket_name as v;

    #[test]
    fn bucket_naming_rules() {
        assert!(v("abc") && v("my.bucket-1") && v("a".repeat(63).as_str()));
        assert!(!v("ab") && !v(&"a".repeat(64)));
        assert!(!v("ABC") && !v("a_b") && !v("-ab") && !v("ab-") && !v("a..b"));
        assert!(!v("192.168.5.4") && !v("a.-b"));
    }
}

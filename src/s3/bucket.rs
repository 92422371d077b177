//! Bucket operations: list, create, delete, head, location, ACL, versioning status.

pub use crate::engine::now_ms;
use crate::engine::{BucketMeta, Permission};
use crate::http::conn::Request;
use crate::http::response::Response;
use crate::s3::access::{authorize_bucket, load_bucket, require_signed};
use crate::s3::acl::{self, acl_xml, requested_acl};
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::{decode_token, encode_token, read_small_body, CONFIG_BODY_BYTES_MAX};
use crate::s3::xml;
use std::rc::Rc;

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
        Some(t) => decode_token(t)
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
            buckets.last().map(|b| encode_token(&b.name))
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
    let acl = acl::from_headers(&req.head, None, &ctx.users)?.unwrap_or_default();
    let mut configs = crate::s3::ownership::create_bucket_configs(&req.head, &acl)?;
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
    // `x-amz-bucket-object-lock-enabled: true`: versioning Enabled and an Object Lock
    // configuration (no default retention), created with the bucket in one commit.
    let object_lock = match req.head.header("x-amz-bucket-object-lock-enabled") {
        None => false,
        Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
        Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
        Some(v) => {
            return Err(S3Error::invalid_argument(
                "x-amz-bucket-object-lock-enabled must be true or false",
                "x-amz-bucket-object-lock-enabled",
                v,
            ))
        }
    };
    let versioning = if object_lock {
        configs.push(crate::engine::lock::enabled_config_row());
        crate::engine::versions::Versioning::Enabled
    } else {
        Default::default()
    };
    let meta = BucketMeta {
        name: name.clone(),
        owner_id: user.id.clone(),
        created_ms: now_ms(),
        region,
        acl: acl.clone(),
        versioning,
        tags: Vec::new(),
        configs: 0,
    };
    match crate::engine::bucket::create(meta, configs).await {
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

/// The bucket owner's operations (DeleteBucket, GetBucketLocation) through the one decision:
/// the bucket policy may deny them (even to the owner) or grant them to others.
async fn authorize_owner_op(ctx: &Ctx, action: &'static str) -> S3Result<Rc<BucketMeta>> {
    let b = load_bucket(ctx.bucket()).await?;
    let t = crate::s3::access::Target {
        action,
        key: None,
        object: None,
    };
    crate::s3::access::check(ctx, &b, t, crate::s3::access::Fallback::BucketOwner).await?;
    Ok(b)
}

pub async fn delete_bucket(ctx: &Ctx) -> S3Result<Response> {
    authorize_owner_op(ctx, "s3:DeleteBucket").await?;
    let name = ctx.bucket().to_string();
    crate::engine::bucket::delete(&name).await?;
    Ok(Response::new(204))
}

pub async fn head_bucket(ctx: &Ctx) -> S3Result<Response> {
    let b = authorize_bucket(ctx, Permission::Read).await?;
    let mut r = Response::new(200);
    r.header("x-amz-bucket-region", b.region.clone());
    r.head_only = true;
    Ok(r)
}

pub async fn get_location(ctx: &Ctx) -> S3Result<Response> {
    let b = authorize_owner_op(ctx, "s3:GetBucketLocation").await?;
    let loc = if b.region == "us-east-1" {
        None
    } else {
        Some(b.region.as_str())
    };
    Ok(Response::xml(200, xml::location(loc)))
}

pub async fn get_bucket_acl(ctx: &Ctx) -> S3Result<Response> {
    let b = authorize_bucket(ctx, Permission::ReadAcp).await?;
    Ok(Response::xml(200, acl_xml(ctx, &b.owner_id, &b.acl)))
}

pub async fn put_bucket_acl(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let b = authorize_bucket(ctx, Permission::WriteAcp).await?;
    let acl = requested_acl(ctx, req, &b.owner_id).await?;
    crate::s3::access::check_acl_headers(&b, &req.head, Some(&acl)).await?;
    let name = ctx.bucket().to_string();
    crate::engine::bucket::set_acl(&name, acl).await?;
    Ok(Response::new(200))
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

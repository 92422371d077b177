//! S3 Object Lock on the wire: Put/GetObjectLockConfiguration, Put/GetObjectRetention,
//! Put/GetObjectLegalHold, the lock headers of PutObject / CopyObject /
//! CreateMultipartUpload, the headers GET and HEAD answer with, and
//! `x-amz-bypass-governance-retention`. The engine decides (`engine::lock`).
//!
//! Who may use them: we have no IAM, so the permissions AWS names (s3:PutObjectRetention,
//! s3:GetObjectLegalHold, s3:BypassGovernanceRetention, ...) are held by the bucket's owner;
//! a GOVERNANCE bypass is also allowed to a caller with FULL_CONTROL on the bucket.

use crate::engine::lock::{
    self as lock, DefaultRetention, LegalHold, LockChange, LockConfig, LockMode, ObjectLock,
    Period, Retention,
};
use crate::engine::{BucketMeta, Permission};
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::s3::access::owned_bucket;
use crate::s3::acl;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::{read_small_body, CONFIG_BODY_BYTES_MAX};
use crate::s3::versioning::{self, Loaded};
use crate::s3::xml;
use std::rc::Rc;

const MODE_HEADER: &str = "x-amz-object-lock-mode";
const UNTIL_HEADER: &str = "x-amz-object-lock-retain-until-date";
const HOLD_HEADER: &str = "x-amz-object-lock-legal-hold";
const BYPASS_HEADER: &str = "x-amz-bypass-governance-retention";

/// An ISO 8601 / RFC 3339 timestamp as Unix milliseconds (None: not one, or before 1970).
pub fn parse_date_ms(s: &str) -> Option<u64> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The lock headers of a write: mode and retain-until date (both or neither) and the legal
/// hold. InvalidArgument for a half-given retention, an unknown mode or status, a date that
/// is not ISO 8601 or not in the future.
pub fn lock_from_headers(head: &RequestHead, now_ms: u64) -> S3Result<ObjectLock> {
    let mode = head.header(MODE_HEADER);
    let until = head.header(UNTIL_HEADER);
    let retention = match (mode, until) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => return Err(S3Error::msg(
            ErrorCode::InvalidArgument,
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
        )),
        (Some(m), Some(u)) => {
            let mode = LockMode::parse(m.trim()).ok_or_else(|| {
                S3Error::invalid_argument("Unknown wormMode directive.", MODE_HEADER, m)
            })?;
            let until_ms = parse_date_ms(u).ok_or_else(|| {
                S3Error::invalid_argument(
                    "The retain until date must be provided in ISO 8601 format",
                    UNTIL_HEADER,
                    u,
                )
            })?;
            let r = Retention { mode, until_ms };
            lock::check_new_retention(&r, now_ms)?;
            Some(r)
        }
    };
    let legal_hold = match head.header(HOLD_HEADER).map(str::trim) {
        None => LegalHold::Unset,
        Some("OFF") => LegalHold::Off,
        Some("ON") => LegalHold::On,
        Some(v) => {
            return Err(S3Error::invalid_argument(
                "Legal Hold must be either of 'ON' or 'OFF'",
                HOLD_HEADER,
                v,
            ))
        }
    };
    Ok(ObjectLock {
        retention,
        legal_hold,
    })
}

/// UploadPart into an upload whose object will be retained (its own retention from
/// CreateMultipartUpload, or the bucket's default) needs Content-MD5 or a checksum header,
/// as PutObject does: InvalidRequest without one.
pub async fn check_part_integrity(
    head: &RequestHead,
    bucket: &BucketMeta,
    upload_lock: &ObjectLock,
) -> S3Result<()> {
    if crate::s3::request::has_integrity_header(head) {
        return Ok(());
    }
    let retained = upload_lock.retention.is_some()
        || lock::config(bucket)
            .await?
            .is_some_and(|c| c.enabled && c.default.is_some());
    if retained {
        crate::s3::request::require_integrity_header(head)?;
    }
    Ok(())
}

/// The lock parameters of a write into `bucket` (PutObject, CopyObject,
/// CreateMultipartUpload): refused on a bucket without Object Lock (InvalidRequest). With
/// `needs_integrity` (PutObject), a version that gets a retention (its own or the bucket's
/// default) needs Content-MD5 or a checksum header, as AWS documents.
pub async fn lock_for_write(
    head: &RequestHead,
    bucket: &BucketMeta,
    needs_integrity: bool,
) -> S3Result<ObjectLock> {
    let wanted = lock_from_headers(head, crate::engine::now_ms())?;
    let config = lock::config(bucket).await?.filter(|c| c.enabled);
    match &config {
        None if wanted.protects() => {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                "Bucket is missing Object Lock Configuration",
            ))
        }
        None => return Ok(wanted),
        Some(c) => {
            let retained = wanted.retention.is_some() || c.default.is_some();
            if needs_integrity && retained {
                crate::s3::request::require_integrity_header(head)?;
            }
        }
    }
    Ok(wanted)
}

/// The lock headers of a GET / HEAD answer, for a caller allowed to read them (the bucket's
/// owner).
pub fn lock_headers(resp: &mut Response, ctx: &Ctx, bucket: &BucketMeta, l: &ObjectLock) {
    if *l == ObjectLock::default() || ctx.caller_id() != Some(bucket.owner_id.as_str()) {
        return;
    }
    if let Some(r) = l.retention {
        resp.header(MODE_HEADER, r.mode.as_str());
        resp.header(UNTIL_HEADER, xml::iso8601_ms(r.until_ms));
    }
    resp.header(HOLD_HEADER, if l.legal_hold.is_on() { "ON" } else { "OFF" });
}

/// `x-amz-bypass-governance-retention: true` from a caller allowed to bypass (the bucket's
/// owner, or a grantee of FULL_CONTROL on the bucket); false otherwise.
pub fn bypass_governance(ctx: &Ctx, head: &RequestHead, bucket: &BucketMeta) -> bool {
    let asked = head
        .header(BYPASS_HEADER)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    asked
        && acl::allowed(
            &bucket.owner_id,
            &bucket.acl,
            ctx.caller.as_deref(),
            Permission::FullControl,
        )
}

/// The bucket's owner, on a bucket with Object Lock (InvalidRequest otherwise).
async fn owned_lock_bucket(ctx: &Ctx) -> S3Result<Rc<BucketMeta>> {
    let b = owned_bucket(ctx).await?;
    if !lock::enabled(&b).await? {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Bucket is missing Object Lock Configuration",
        ));
    }
    Ok(b)
}

/// A `DefaultRetention` as sent: a mode and exactly one of Days, Years (both: InvalidRequest).
fn default_retention(doc: &xml::DefaultRetentionDoc) -> S3Result<DefaultRetention> {
    let mode = doc
        .mode
        .as_deref()
        .and_then(LockMode::parse)
        .ok_or_else(|| S3Error::new(ErrorCode::MalformedXML))?;
    let number = |name: &str, v: &str| -> S3Result<u32> {
        let n: i64 = v
            .parse()
            .map_err(|_| S3Error::new(ErrorCode::MalformedXML))?;
        if n <= 0 {
            return Err(S3Error::msg(
                ErrorCode::InvalidArgument,
                "Default retention period must be a positive integer value.",
            )
            .with("ArgumentName", name.to_string())
            .with("ArgumentValue", v));
        }
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    };
    let period = match (doc.days.as_deref(), doc.years.as_deref()) {
        (Some(d), None) => Period::Days(number("Days", d)?),
        (None, Some(y)) => Period::Years(number("Years", y)?),
        (Some(_), Some(_)) => {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                "Only one of Days or Years may be specified in a DefaultRetention.",
            ))
        }
        (None, None) => return Err(S3Error::new(ErrorCode::MalformedXML)),
    };
    Ok(DefaultRetention { mode, period })
}

/// PutObjectLockConfiguration: enables Object Lock (on a bucket whose versioning is
/// Enabled: InvalidBucketState otherwise) and sets or clears the default retention.
pub async fn put_object_lock_configuration(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    owned_bucket(ctx).await?;
    crate::s3::request::require_integrity_header(&req.head)?;
    let body = read_small_body(req, ctx, CONFIG_BODY_BYTES_MAX).await?;
    let doc = xml::parse_object_lock_configuration(&body)?;
    if doc.enabled.as_deref() != Some("Enabled") {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    let config = LockConfig {
        enabled: true,
        default: doc.rule.as_ref().map(default_retention).transpose()?,
    };
    lock::check_config(&config)?;
    lock::put_config(ctx.bucket(), &config).await?;
    Ok(Response::new(200))
}

/// GetObjectLockConfiguration: ObjectLockConfigurationNotFoundError when the bucket has none.
pub async fn get_object_lock_configuration(ctx: &Ctx) -> S3Result<Response> {
    let b = owned_bucket(ctx).await?;
    let Some(config) = lock::config(&b).await? else {
        return Err(
            S3Error::new(ErrorCode::ObjectLockConfigurationNotFoundError)
                .with("BucketName", ctx.bucket()),
        );
    };
    let rule = config.default.map(|d| {
        let period = match d.period {
            Period::Days(n) => ("Days", n),
            Period::Years(n) => ("Years", n),
        };
        (d.mode.as_str(), period)
    });
    Ok(Response::xml(
        200,
        xml::object_lock_configuration(config.enabled, rule),
    ))
}

/// The version a retention / legal hold request reads (`?versionId=` or the current one).
async fn version_lock(ctx: &Ctx) -> S3Result<Result<crate::engine::records::Records, Response>> {
    match versioning::load_for_read(ctx, false).await? {
        Loaded::Found(b, m) => Ok(Ok((b, m))),
        Loaded::Answered(r) => Ok(Err(r)),
    }
}

/// GetObjectRetention: NoSuchObjectLockConfiguration when the version has no retention.
pub async fn get_object_retention(ctx: &Ctx) -> S3Result<Response> {
    owned_lock_bucket(ctx).await?;
    let (_, m) = match version_lock(ctx).await? {
        Ok(found) => found,
        Err(answered) => return Ok(answered),
    };
    let Some(r) = m.lock.retention else {
        return Err(S3Error::new(ErrorCode::NoSuchObjectLockConfiguration));
    };
    Ok(Response::xml(
        200,
        xml::retention(r.mode.as_str(), r.until_ms),
    ))
}

/// PutObjectRetention: sets, extends, or (GOVERNANCE, with the bypass) shortens or removes
/// (an empty `Retention`) the retention of a version.
pub async fn put_object_retention(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let b = owned_lock_bucket(ctx).await?;
    let sel = versioning::requested_version(ctx)?;
    crate::s3::request::require_integrity_header(&req.head)?;
    let bypass = bypass_governance(ctx, &req.head, &b);
    let body = read_small_body(req, ctx, CONFIG_BODY_BYTES_MAX).await?;
    let doc = xml::parse_retention(&body)?;
    let retention = match (doc.mode.as_deref(), doc.retain_until.as_deref()) {
        (None, None) => None,
        (Some(m), Some(u)) => {
            let mode = LockMode::parse(m).ok_or_else(|| S3Error::new(ErrorCode::MalformedXML))?;
            let until_ms = parse_date_ms(u).ok_or_else(|| S3Error::new(ErrorCode::MalformedXML))?;
            let r = Retention { mode, until_ms };
            lock::check_new_retention(&r, crate::engine::now_ms())?;
            Some(r)
        }
        _ => return Err(S3Error::new(ErrorCode::MalformedXML)),
    };
    let change = LockChange::Retention(retention);
    lock::change(ctx.bucket(), ctx.key(), sel, change, bypass).await?;
    Ok(Response::new(200))
}

/// GetObjectLegalHold: the version's legal hold; NoSuchObjectLockConfiguration when none was
/// ever set on it (as AWS; a hold set OFF answers OFF).
pub async fn get_object_legal_hold(ctx: &Ctx) -> S3Result<Response> {
    owned_lock_bucket(ctx).await?;
    let (_, m) = match version_lock(ctx).await? {
        Ok(found) => found,
        Err(answered) => return Ok(answered),
    };
    let on = match m.lock.legal_hold {
        LegalHold::Unset => return Err(S3Error::new(ErrorCode::NoSuchObjectLockConfiguration)),
        hold => hold.is_on(),
    };
    Ok(Response::xml(200, xml::legal_hold(on)))
}

/// PutObjectLegalHold: `ON` or `OFF` (anything else is MalformedXML).
pub async fn put_object_legal_hold(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    owned_lock_bucket(ctx).await?;
    let sel = versioning::requested_version(ctx)?;
    crate::s3::request::require_integrity_header(&req.head)?;
    let body = read_small_body(req, ctx, CONFIG_BODY_BYTES_MAX).await?;
    let on = match xml::parse_legal_hold(&body)?.as_deref() {
        Some("ON") => true,
        Some("OFF") => false,
        _ => return Err(S3Error::new(ErrorCode::MalformedXML)),
    };
    lock::change(
        ctx.bucket(),
        ctx.key(),
        sel,
        LockChange::LegalHold(on),
        false,
    )
    .await?;
    Ok(Response::new(200))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::Method;

    fn head(extra: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: Method::parse("PUT"),
            method_raw: "PUT".into(),
            path: "/b/k".into(),
            query: String::new(),
            headers: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            opaque: Vec::new(),
            version_minor: 1,
        }
    }

    #[test]
    fn dates_parse_as_iso_8601() {
        assert_eq!(parse_date_ms("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(parse_date_ms("1970-01-01T00:00:01.250Z"), Some(1_250));
        assert_eq!(parse_date_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_date_ms("yesterday"), None);
        assert_eq!(parse_date_ms("1969-12-31T23:59:59Z"), None);
    }

    #[test]
    fn lock_headers_parse() {
        let now = 1_000;
        assert_eq!(
            lock_from_headers(&head(&[]), now).unwrap(),
            ObjectLock::default()
        );
        let l = lock_from_headers(
            &head(&[
                (MODE_HEADER, "COMPLIANCE"),
                (UNTIL_HEADER, "1970-01-01T00:00:02Z"),
                (HOLD_HEADER, "ON"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(
            l,
            ObjectLock {
                retention: Some(Retention {
                    mode: LockMode::Compliance,
                    until_ms: 2_000
                }),
                legal_hold: LegalHold::On
            }
        );
        // A hold given OFF is set OFF (GetObjectLegalHold answers it), yet asks for nothing.
        let off = lock_from_headers(&head(&[(HOLD_HEADER, "OFF")]), now).unwrap();
        assert_eq!(off.legal_hold, LegalHold::Off);
        assert!(!off.protects());
        let bad: &[&[(&str, &str)]] = &[
            &[(MODE_HEADER, "GOVERNANCE")],
            &[(UNTIL_HEADER, "1970-01-01T00:00:02Z")],
            &[
                (MODE_HEADER, "SOFT"),
                (UNTIL_HEADER, "1970-01-01T00:00:02Z"),
            ],
            &[(MODE_HEADER, "GOVERNANCE"), (UNTIL_HEADER, "tomorrow")],
            &[
                (MODE_HEADER, "GOVERNANCE"),
                (UNTIL_HEADER, "1970-01-01T00:00:00Z"),
            ],
            &[(HOLD_HEADER, "on")],
        ];
        for h in bad {
            let e = lock_from_headers(&head(h), now).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{h:?}");
        }
    }

    #[test]
    fn default_retentions_parse() {
        let doc = |mode: Option<&str>, days: Option<&str>, years: Option<&str>| {
            xml::DefaultRetentionDoc {
                mode: mode.map(String::from),
                days: days.map(String::from),
                years: years.map(String::from),
            }
        };
        let d = default_retention(&doc(Some("GOVERNANCE"), Some("5"), None)).unwrap();
        assert_eq!(d.period, Period::Days(5));
        let code = |d| default_retention(&d).unwrap_err().code;
        assert_eq!(
            code(doc(Some("GOVERNANCE"), Some("1"), Some("1"))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(doc(Some("GOVERNANCE"), Some("0"), None)),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            code(doc(Some("GOVERNANCE"), None, Some("-2"))),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            code(doc(Some("GOVERNANCE"), Some("x"), None)),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(doc(Some("SOFT"), Some("1"), None)),
            ErrorCode::MalformedXML
        );
        assert_eq!(code(doc(None, Some("1"), None)), ErrorCode::MalformedXML);
        assert_eq!(
            code(doc(Some("COMPLIANCE"), None, None)),
            ErrorCode::MalformedXML
        );
    }
}

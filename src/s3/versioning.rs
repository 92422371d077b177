//! Versioning on the wire: PutBucketVersioning, GetBucketVersioning, ListObjectVersions,
//! and what the object handlers share for versions (`?versionId=`, `x-amz-version-id`,
//! answers for keys whose newest version is a delete marker). The engine decides
//! (`engine::versions`, `meta::versions` for the model); this module parses and renders.

use crate::engine::versions::{
    invalid_version_id, parse_version_id, version_id, VersionRecord, VersionSel, VersionStamp,
    Versioning, VersionsFrom,
};
use crate::engine::{BucketMeta, ObjectMeta, Permission};
use crate::http::conn::Request;
use crate::http::response::Response;
use crate::s3::access::{authorize_bucket, owned_bucket};
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::list::{arg, encoding_url};
use crate::s3::reply::listing;
use crate::s3::request::{max_keys, read_small_body, CONFIG_BODY_BYTES_MAX};
use crate::s3::xml;
use std::rc::Rc;

pub async fn put_bucket_versioning(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    owned_bucket(ctx).await?;
    let body = read_small_body(req, ctx, CONFIG_BODY_BYTES_MAX).await?;
    let config = xml::parse_versioning_configuration(&body)?;
    match config.mfa_delete.as_deref() {
        None | Some("Disabled") => {}
        Some("Enabled") => {
            return Err(S3Error::msg(
                ErrorCode::NotImplemented,
                "MFA delete is not implemented by this server.",
            ))
        }
        Some(_) => return Err(S3Error::new(ErrorCode::MalformedXML)),
    }
    let state = match config.status.as_deref() {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        _ => return Err(S3Error::new(ErrorCode::MalformedXML)),
    };
    crate::engine::versions::set_state(ctx.bucket(), state).await?;
    Ok(Response::new(200))
}

pub async fn get_bucket_versioning(ctx: &Ctx) -> S3Result<Response> {
    let b = owned_bucket(ctx).await?;
    let status = match b.versioning {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some("Enabled"),
        Versioning::Suspended => Some("Suspended"),
    };
    Ok(Response::xml(200, xml::versioning(status)))
}

/// The `versionId` query parameter: None when absent; InvalidArgument when it is not an id
/// this server gives (S3 answers so for empty or malformed ids).
pub fn requested_version(ctx: &Ctx) -> S3Result<Option<VersionSel>> {
    match ctx.route.param("versionId") {
        None => Ok(None),
        Some(v) => parse_version_id(v)
            .map(Some)
            .ok_or_else(|| invalid_version_id(v)),
    }
}

/// `x-amz-version-id`, for an object of a bucket that has versioning state (or a non-null
/// version, whatever the bucket says now).
pub fn version_header(resp: &mut Response, bucket: &BucketMeta, stamp: VersionStamp) {
    if bucket.versioning != Versioning::Unversioned || !stamp.null {
        resp.header("x-amz-version-id", version_id(stamp));
    }
}

/// What a GET/HEAD reads: an object version, or an answer already made (a delete marker).
#[allow(clippy::large_enum_variant)] // made once per request, matched at once
pub enum Loaded {
    /// Shared: a GET or HEAD may be answered from the core's cache of decoded records.
    Found(Rc<BucketMeta>, Rc<ObjectMeta>),
    Answered(Response),
}

/// An error answer naming a delete marker (`x-amz-delete-marker`, `x-amz-version-id`).
fn marker_answer(ctx: &Ctx, e: S3Error, stamp: VersionStamp, head_only: bool) -> Response {
    let resource = format!("/{}/{}", ctx.bucket(), ctx.key());
    let mut r = crate::s3::service::error_response(&e, &resource, &ctx.request_id);
    r.header("x-amz-delete-marker", "true");
    r.header("x-amz-version-id", version_id(stamp));
    r.head_only = head_only;
    r
}

/// Loads the object a GET/HEAD names: the current one, or `?versionId=`'s. A key whose
/// newest version is a delete marker is NoSuchKey with `x-amz-delete-marker: true`; a
/// marker named by version id is MethodNotAllowed (as AWS).
pub async fn load_for_read(ctx: &Ctx, head_only: bool) -> S3Result<Loaded> {
    let Some(sel) = requested_version(ctx)? else {
        return match crate::s3::object::load_readable_object(ctx).await {
            Ok((b, m)) => Ok(Loaded::Found(b, m)),
            Err(e) if e.code == ErrorCode::NoSuchKey => {
                match crate::engine::versions::latest_marker(ctx.bucket(), ctx.key()).await? {
                    Some(m) => Ok(Loaded::Answered(marker_answer(
                        ctx, e, m.version, head_only,
                    ))),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        };
    };
    let (b, found) =
        crate::engine::versions::bucket_and_version(ctx.bucket(), ctx.key(), sel).await?;
    match found {
        Some((VersionRecord::Object(m), _)) => Ok(Loaded::Found(Rc::new(b), Rc::new(m))),
        Some((VersionRecord::Marker(m), _)) => {
            crate::s3::access::may_list(ctx, &b).await?;
            let mut r = marker_answer(
                ctx,
                S3Error::new(ErrorCode::MethodNotAllowed),
                m.version,
                head_only,
            );
            r.header(
                "last-modified",
                crate::s3::object::http_date_ms(m.last_modified_ms),
            );
            Ok(Loaded::Answered(r))
        }
        None => {
            // Which versions exist is only told to those who may list the bucket.
            crate::s3::access::may_list(ctx, &b).await?;
            Err(no_such_version(ctx, sel))
        }
    }
}

fn no_such_version(ctx: &Ctx, sel: VersionSel) -> S3Error {
    let id = sel_id(sel);
    S3Error::msg(
        ErrorCode::NoSuchVersion,
        "The specified version does not exist.",
    )
    .with("Key", ctx.key())
    .with("VersionId", id)
}

/// The wire id `sel` names.
pub fn sel_id(sel: VersionSel) -> String {
    match sel {
        VersionSel::Null => "null".to_string(),
        VersionSel::Seq(seq) => version_id(VersionStamp { seq, null: false }),
    }
}

pub async fn list_object_versions(ctx: &Ctx) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Read).await?;
    let prefix = arg(ctx, "prefix")?;
    let delimiter = arg(ctx, "delimiter")?;
    let key_marker = arg(ctx, "key-marker")?;
    let version_id_marker = arg(ctx, "version-id-marker")?;
    let version_marker = if version_id_marker.is_empty() {
        None
    } else if key_marker.is_empty() {
        return Err(S3Error::msg(
            ErrorCode::InvalidArgument,
            "A version-id marker cannot be specified without a key marker.",
        )
        .with("ArgumentName", "version-id-marker")
        .with("ArgumentValue", version_id_marker.as_str()));
    } else {
        Some(parse_version_id(&version_id_marker).ok_or_else(|| {
            S3Error::invalid_argument(
                "Invalid version id specified",
                "version-id-marker",
                &version_id_marker,
            )
        })?)
    };
    let max = max_keys(ctx, "max-keys")?;
    let url = encoding_url(ctx)?;
    let from = VersionsFrom {
        key_marker: key_marker.clone(),
        version_marker,
    };
    let page = crate::engine::versions::list(ctx.bucket(), &prefix, &delimiter, from, max).await?;
    let owner = |id: &str| xml::Owner {
        id: id.to_string(),
        display_name: Some(ctx.users.display_name(id)),
    };
    let versions = page
        .entries
        .iter()
        .map(|e| {
            let stamp = e.record.stamp();
            let mut entry = match &e.record {
                VersionRecord::Object(m) => {
                    let mut x = xml::ObjectEntry::new(
                        e.key.clone(),
                        m.last_modified_ms,
                        m.etag.clone(),
                        m.size,
                    );
                    x.owner = Some(owner(&m.owner_id));
                    x.checksum_algorithm = crate::s3::checksum::ALL_ALGOS
                        .iter()
                        .find(|a| crate::s3::checksum::get(&m.checksums, **a).is_some())
                        .map(|a| a.name().to_string());
                    x
                }
                VersionRecord::Marker(d) => {
                    let mut x = xml::ObjectEntry::new(e.key.clone(), d.last_modified_ms, "", 0);
                    x.owner = Some(owner(&d.owner_id));
                    x.delete_marker = true;
                    x
                }
            };
            entry.version = Some((version_id(stamp), e.is_latest));
            entry
        })
        .collect();
    let (next_key_marker, next_version_id_marker) = match (page.truncated, page.next) {
        (true, Some((k, v))) => (Some(k), v),
        _ => (None, None),
    };
    let result = xml::ListVersionsResult {
        name: ctx.bucket().to_string(),
        prefix,
        key_marker,
        version_id_marker,
        next_key_marker,
        next_version_id_marker,
        delimiter: (!delimiter.is_empty()).then_some(delimiter),
        max_keys: max as u32,
        encoding_type_url: url,
        is_truncated: page.truncated,
        versions,
        common_prefixes: page.prefixes,
    };
    listing(xml::list_object_versions(&result))
}

/// A copy source named with `?versionId=`: that version (NoSuchVersion if gone; a delete
/// marker cannot be copied, as AWS answers).
pub async fn load_copy_source(
    ctx: &Ctx,
    bucket: &str,
    key: &str,
    sel: VersionSel,
) -> S3Result<(BucketMeta, ObjectMeta)> {
    let (b, found) = crate::engine::versions::bucket_and_version(bucket, key, sel).await?;
    crate::s3::access::may_list(ctx, &b).await?;
    match found {
        Some((VersionRecord::Object(m), _)) => Ok((b, m)),
        Some((VersionRecord::Marker(_), _)) => Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "The source of a copy request may not specifically refer to a delete marker by version id.",
        )),
        None => Err(S3Error::msg(
            ErrorCode::NoSuchVersion,
            "The specified version does not exist.",
        )
        .with("Key", key)
        .with("VersionId", sel_id(sel))),
    }
}

/// `x-amz-copy-source-version-id` (when the source was named by version or is not the null
/// version) and `x-amz-version-id` of the copy made.
pub fn copy_headers(
    resp: &mut Response,
    head: &crate::http::head::RequestHead,
    src: &ObjectMeta,
    made: Option<VersionStamp>,
) {
    let named = head
        .header("x-amz-copy-source")
        .is_some_and(|s| s.contains("?versionId="));
    if named || !src.version.null {
        resp.header("x-amz-copy-source-version-id", version_id(src.version));
    }
    if let Some(v) = made {
        resp.header("x-amz-version-id", version_id(v));
    }
}

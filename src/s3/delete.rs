//! DeleteObject and DeleteObjects (batch): the request and result documents; the engine
//! deletes (`engine::delete`), adding delete markers or removing versions in a versioning
//! bucket.

use crate::engine::versions::{parse_version_id, version_id, DeleteOutcome};
use crate::engine::Permission;
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::Response;
use crate::s3::access::authorize_bucket;
use crate::s3::ctx::Ctx;
use crate::s3::error::S3Result;
use crate::s3::request::read_small_body;
use crate::s3::versioning::{requested_version, sel_id};
use crate::s3::xml;

pub async fn delete_object(ctx: &Ctx, head: &RequestHead) -> S3Result<Response> {
    let bucket = authorize_bucket(ctx, Permission::Write).await?;
    let sel = requested_version(ctx)?;
    let owner = ctx.caller_id().unwrap_or(&bucket.owner_id);
    // A locked version is refused in the commit (AccessDenied); GOVERNANCE may be bypassed.
    let bypass = crate::s3::lock::bypass_governance(ctx, head, &bucket);
    let done =
        crate::engine::delete::delete_object_bypassing(ctx.bucket(), ctx.key(), sel, owner, bypass)
            .await?;
    let mut r = Response::new(204);
    let id = done.version.map(version_id).or(sel.map(sel_id));
    if let Some(id) = id {
        r.header("x-amz-version-id", id);
    }
    if done.delete_marker {
        r.header("x-amz-delete-marker", "true");
    }
    Ok(r)
}

/// The `<Deleted>` entry of one done delete.
fn deleted_entry(key: String, asked: Option<String>, done: &DeleteOutcome) -> xml::DeletedEntry {
    let made = done.version.map(version_id);
    match (asked, done.delete_marker) {
        // A marker removed by its version id.
        (Some(id), true) => xml::DeletedEntry {
            key,
            version_id: Some(id.clone()),
            delete_marker_version_id: Some(id),
        },
        (Some(id), false) => xml::DeletedEntry {
            key,
            version_id: Some(id),
            delete_marker_version_id: None,
        },
        // A marker added.
        (None, true) => xml::DeletedEntry {
            key,
            version_id: None,
            delete_marker_version_id: made,
        },
        (None, false) => xml::DeletedEntry {
            key,
            ..Default::default()
        },
    }
}

pub async fn delete_objects(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let bucket = authorize_bucket(ctx, Permission::Write).await?;
    crate::s3::request::require_integrity_header(&req.head)?;
    let body = read_small_body(req, ctx, xml::MAX_XML_BODY_BYTES).await?;
    let request = xml::parse_delete_objects(&body)?;
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    for o in request.objects {
        if o.key.is_empty() || o.key.len() > crate::s3::endpoint::KEY_BYTES_MAX {
            errors.push(xml::DeleteErrorEntry {
                key: o.key,
                code: "InvalidArgument".into(),
                message: "Invalid key".into(),
            });
            continue;
        }
        let sel = match o.version_id.as_deref().map(|v| (v, parse_version_id(v))) {
            None => None,
            Some((_, Some(sel))) => Some(sel),
            Some((_, None)) => {
                errors.push(xml::DeleteErrorEntry {
                    key: o.key,
                    code: "NoSuchVersion".into(),
                    message: "The specified version does not exist.".into(),
                });
                continue;
            }
        };
        valid.push((o.key, sel));
    }
    let valid = if crate::engine::policy::has_guards(&bucket) {
        let asked: Vec<(String, bool)> = valid
            .iter()
            .map(|(k, s)| (k.clone(), s.is_some()))
            .collect();
        let allowed = crate::s3::access::authorize_keys(ctx, &bucket, &asked).await?;
        let mut kept = Vec::with_capacity(valid.len());
        for (item, ok) in valid.into_iter().zip(allowed) {
            if ok {
                kept.push(item);
            } else {
                errors.push(xml::DeleteErrorEntry {
                    key: item.0,
                    code: "AccessDenied".into(),
                    message: "Access Denied".into(),
                });
            }
        }
        kept
    } else {
        valid
    };
    let owner = ctx.caller_id().unwrap_or(&bucket.owner_id);
    let bypass = crate::s3::lock::bypass_governance(ctx, &req.head, &bucket);
    let done =
        crate::engine::delete::delete_objects_bypassing(ctx.bucket(), valid.clone(), owner, bypass)
            .await?;
    let mut deleted: Vec<xml::DeletedEntry> = Vec::new();
    for ((key, sel), d) in valid.into_iter().zip(&done) {
        // A version Object Lock kept is a per-key error.
        if let Some(e) = &d.refused {
            errors.push(xml::DeleteErrorEntry {
                key,
                code: e.code.as_str().into(),
                message: e.message.clone(),
            });
        } else if !request.quiet {
            deleted.push(deleted_entry(key, sel.map(sel_id), d));
        }
    }
    let url = ctx.route.param("encoding-type") == Some("url");
    Ok(Response::xml(
        200,
        xml::delete_result(&deleted, &errors, url),
    ))
}

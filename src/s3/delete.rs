//! DeleteObject and DeleteObjects (batch): records go in one group-committed write per
//! shard hop, data files are freed after the commit.

use crate::http::conn::Request;
use crate::http::response::Response;
use crate::meta::commands::MetaCmd;
use crate::meta::types::Permission;
use crate::runtime::apply_for_bucket;
use crate::s3::bucket::{authorize_bucket, read_small_body};
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::service::Ctx;
use crate::s3::xml;

pub async fn delete_object(ctx: &Ctx) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Write).await?;
    let _turn = crate::s3::object::gateway_write_turn(ctx, ctx.key()).await?;
    let ids = delete_keys(ctx.bucket(), vec![ctx.key().to_string()]).await?;
    let ids = ids.into_iter().flatten().collect();
    crate::s3::object::free_data(ctx, ctx.bucket(), ctx.key(), ids);
    Ok(Response::new(204))
}

/// Deletes keys in one transaction; returns each key's freed data files. Absent keys are
/// not errors (S3 answers 204 / Deleted for them too).
async fn delete_keys(bucket: &str, keys: Vec<String>) -> S3Result<Vec<Vec<u128>>> {
    let cmd = MetaCmd::DeleteObjects {
        bucket: bucket.to_string(),
        keys,
    };
    Ok(apply_for_bucket(bucket, cmd, Vec::new())
        .await?
        .per_key_freed)
}

pub async fn delete_objects(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Write).await?;
    let has_integrity = req.head.header("content-md5").is_some()
        || req.head.headers.iter().any(|(n, _)| {
            n.starts_with("x-amz-checksum-")
                || n == "x-amz-sdk-checksum-algorithm"
                || n == "x-amz-trailer"
        });
    if !has_integrity {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Missing required header for this request: Content-MD5 or x-amz-checksum-*",
        ));
    }
    let body = read_small_body(req, ctx, xml::MAX_XML_BODY_BYTES).await?;
    let request = xml::parse_delete_objects(&body)?;
    let keys: Vec<String> = request.objects.iter().map(|o| o.key.clone()).collect();
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    for k in keys {
        if k.is_empty() || k.len() > crate::s3::endpoint::KEY_BYTES_MAX {
            errors.push(xml::DeleteErrorEntry {
                key: k,
                code: "InvalidArgument".into(),
                message: "Invalid key".into(),
            });
        } else {
            valid.push(k);
        }
    }
    let _turns = if ctx.shared.gateway.is_some() {
        crate::runtime::key_lock::lock_many(ctx.bucket(), &valid).await?
    } else {
        Vec::new()
    };
    let freed = delete_keys(ctx.bucket(), valid.clone()).await?;
    for (key, ids) in valid.iter().zip(freed) {
        crate::s3::object::free_data(ctx, ctx.bucket(), key, ids);
    }
    let deleted: Vec<xml::DeletedEntry> = if request.quiet {
        Vec::new()
    } else {
        valid
            .into_iter()
            .map(|key| xml::DeletedEntry { key })
            .collect()
    };
    let url = ctx.route.param("encoding-type") == Some("url");
    Ok(Response::xml(
        200,
        xml::delete_result(&deleted, &errors, url),
    ))
}

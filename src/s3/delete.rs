//! DeleteObject and DeleteObjects (batch): the request and result documents; the engine
//! deletes (`engine::delete`).

use crate::engine::Permission;
use crate::http::conn::Request;
use crate::http::response::Response;
use crate::s3::access::authorize_bucket;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::read_small_body;
use crate::s3::xml;

pub async fn delete_object(ctx: &Ctx) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Write).await?;
    crate::engine::delete::delete_object(ctx.bucket(), ctx.key()).await?;
    Ok(Response::new(204))
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
    crate::engine::delete::delete_objects(ctx.bucket(), &valid).await?;
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

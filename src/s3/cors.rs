//! Bucket CORS: Put/Get/DeleteBucketCors, the `OPTIONS` preflight, and the CORS headers on
//! actual cross-origin requests. Rules are stored and matched by `engine::cors`.

use crate::engine::cors::{self, CorsConfig};
use crate::http::conn::Request;
use crate::http::head::{Method, RequestHead};
use crate::http::response::Response;
use crate::s3::access::{load_bucket, owned_bucket};
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::read_small_body;
use crate::s3::xml;

/// GetBucketCors: the configuration; 404 NoSuchCORSConfiguration without one.
pub async fn get_bucket_cors(ctx: &Ctx) -> S3Result<Response> {
    let b = owned_bucket(ctx).await?;
    match cors::get(&b).await? {
        Some(cfg) => Ok(Response::xml(200, xml::cors_configuration(&cfg))),
        None => {
            Err(S3Error::new(ErrorCode::NoSuchCORSConfiguration).with("BucketName", ctx.bucket()))
        }
    }
}

/// PutBucketCors: replaces the configuration (200). Needs Content-MD5 or a checksum, as
/// AWS does; the payload reader verifies it.
pub async fn put_bucket_cors(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    owned_bucket(ctx).await?;
    crate::s3::request::require_integrity_header(&req.head)?;
    let body = read_small_body(req, ctx, xml::MAX_SMALL_XML_BODY_BYTES).await?;
    if let Some(v) = req.head.header("content-md5") {
        let want = crate::s3::checksum::parse_content_md5(v)?;
        let mut h = crate::s3::checksum::Hashers::new(&[]);
        h.update(&body);
        if h.finish().md5 != want {
            return Err(S3Error::new(ErrorCode::BadDigest));
        }
    }
    if body.is_empty() {
        return Err(S3Error::new(ErrorCode::MissingRequestBodyError));
    }
    let cfg: CorsConfig = xml::parse_cors_configuration(&body)?;
    cors::check(&cfg)?;
    cors::set(ctx.bucket(), Some(&cfg)).await?;
    Ok(Response::new(200))
}

/// DeleteBucketCors: removes the configuration (204, whether or not there was one).
pub async fn delete_bucket_cors(ctx: &Ctx) -> S3Result<Response> {
    let b = owned_bucket(ctx).await?;
    if b.has_config(crate::engine::cors::KIND) {
        cors::set(ctx.bucket(), None).await?;
    }
    Ok(Response::new(204))
}

fn forbidden(message: &str, method: &str, ctx: &Ctx) -> S3Error {
    let resource = if ctx.route.key.is_some() {
        "OBJECT"
    } else {
        "BUCKET"
    };
    S3Error::msg(ErrorCode::AccessForbidden, message)
        .with("Method", method)
        .with("ResourceType", resource)
}

/// `OPTIONS` on a bucket or object (unauthenticated, as browsers send it): 200 with the
/// first matching rule's headers; 400 BadRequest without `Origin` or
/// `Access-Control-Request-Method`; 403 AccessForbidden without a configuration or a
/// matching rule; 404 NoSuchBucket.
pub async fn preflight(ctx: &Ctx, head: &RequestHead) -> S3Result<Response> {
    let Some(origin) = head.header("origin") else {
        return Err(S3Error::msg(
            ErrorCode::BadRequest,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let Some(method) = head.header("access-control-request-method") else {
        return Err(S3Error::msg(
            ErrorCode::BadRequest,
            "Invalid Access-Control-Request-Method: null",
        ));
    };
    if !cors::METHODS.contains(&method) {
        return Err(S3Error::msg(
            ErrorCode::BadRequest,
            format!("Invalid Access-Control-Request-Method: {method}"),
        ));
    }
    let b = load_bucket(ctx.bucket()).await?;
    let Some(cfg) = cors::get(&b).await? else {
        return Err(forbidden(
            "CORSResponse: CORS is not enabled for this bucket.",
            method,
            ctx,
        ));
    };
    let requested = head.header("access-control-request-headers");
    let names = requested.map(cors::requested_headers).unwrap_or_default();
    let Some(rule) = cors::match_preflight(&cfg, origin, method, &names) else {
        return Err(forbidden(
            ErrorCode::AccessForbidden.default_message(),
            method,
            ctx,
        ));
    };
    let mut r = Response::new(200);
    for (name, value) in cors::response_headers(rule, origin, requested) {
        r.header(name, value);
    }
    Ok(r)
}

/// The CORS headers of an actual request (any answer, errors included): only a request
/// with an `Origin` to a bucket whose record has a CORS configuration reads it; the first
/// rule allowing the origin and method adds its headers. Failures add nothing.
pub async fn decorate(head: &RequestHead, bucket: &str, resp: &mut Response) {
    if head.method == Method::Options {
        return;
    }
    let Some(origin) = head.header("origin") else {
        return;
    };
    let Ok(b) = load_bucket(bucket).await else {
        return;
    };
    if !b.has_config(crate::engine::cors::KIND) {
        return;
    }
    let Ok(Some(cfg)) = cors::get(&b).await else {
        return;
    };
    let Some(rule) = cors::match_actual(&cfg, origin, head.method.as_str()) else {
        return;
    };
    for (name, value) in cors::response_headers(rule, origin, None) {
        if !resp.has_header(name) {
            resp.header(name, value);
        }
    }
}

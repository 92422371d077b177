//! Multipart uploads.

use crate::http::conn::Request;
use crate::http::response::Response;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::service::Ctx;

pub async fn create(_ctx: &Ctx, _req: &mut Request<'_>) -> S3Result<Response> { Err(S3Error::new(ErrorCode::NotImplemented)) }
pub async fn upload_part(_ctx: &Ctx, _req: &mut Request<'_>, _u: &str, _p: &str) -> S3Result<Response> { Err(S3Error::new(ErrorCode::NotImplemented)) }
pub async fn complete(_ctx: &Ctx, _req: &mut Request<'_>, _u: &str) -> S3Result<Response> { Err(S3Error::new(ErrorCode::NotImplemented)) }
pub async fn abort(_ctx: &Ctx, _u: &str) -> S3Result<Response> { Err(S3Error::new(ErrorCode::NotImplemented)) }
pub async fn list_parts(_ctx: &Ctx, _u: &str) -> S3Result<Response> { Err(S3Error::new(ErrorCode::NotImplemented)) }
pub async fn list_uploads(_ctx: &Ctx) -> S3Result<Response> { Err(S3Error::new(ErrorCode::NotImplemented)) }

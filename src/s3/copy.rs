//! CopyObject and UploadPartCopy.

use crate::http::conn::Request;
use crate::http::response::Response;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::service::Ctx;

pub async fn copy_object(_ctx: &Ctx, _req: &mut Request<'_>) -> S3Result<Response> {
    Err(S3Error::new(ErrorCode::NotImplemented))
}

pub async fn upload_part_copy(_ctx: &Ctx, _req: &mut Request<'_>, _upload_id: &str, _part: &str) -> S3Result<Response> {
    Err(S3Error::new(ErrorCode::NotImplemented))
}

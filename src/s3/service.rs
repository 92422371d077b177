//! The S3 service: authenticate, route, dispatch to one handler per operation, and turn
//! every outcome (errors included) into a response with S3's common headers. The server's
//! router (`server::router`) sends it every request that is not an operational endpoint.

use crate::auth::sigv4::SigningKeyCache;
use crate::auth::users::Users;
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::http::response::{HeaderValue, Response};
use crate::runtime::Shared;
use crate::s3::ctx::{Ctx, RequestId};
use crate::s3::endpoint::{route, Endpoint};
use crate::s3::error::{error_xml, ErrorCode, S3Error, S3Result};
use std::cell::{Cell, RefCell};
use std::fmt::Write;
use std::sync::Arc;

/// One per core.
pub struct S3Service {
    shared: Arc<Shared>,
    /// The configured users, built once at boot.
    users: Arc<Users>,
    seq: Cell<u64>,
    core_id: u32,
    /// SigV4 signing keys derived on this core (one HMAC chain per key, region and day).
    key_cache: RefCell<SigningKeyCache>,
}

impl S3Service {
    pub fn new(shared: Arc<Shared>, users: Arc<Users>, core_id: u32) -> S3Service {
        S3Service {
            shared,
            users,
            seq: Cell::new(0),
            core_id,
            key_cache: RefCell::new(SigningKeyCache::new()),
        }
    }

    fn request_id(&self) -> RequestId {
        let n = self.seq.get().wrapping_add(1);
        self.seq.set(n);
        let boot = self
            .shared
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut id = RequestId::new();
        // 8 + 2 + 6 digits: exactly what a RequestId holds.
        let _ = write!(
            id,
            "{:08X}{:02X}{:06X}",
            boot as u32,
            self.core_id as u8,
            n & 0xFF_FFFF
        );
        id
    }

    /// Counts a request in flight and gives it the id its answer carries.
    pub fn begin(&self) -> RequestId {
        crate::observe::metrics::request_started();
        self.request_id()
    }

    /// Authenticates, routes and runs an S3 request; a failure becomes an S3 error document.
    /// The caller adds [`common_headers`].
    pub async fn answer(&self, req: &mut Request<'_>, request_id: &RequestId) -> Response {
        let mut label = "Unknown";
        let mut resp = match self.dispatch(req, request_id, &mut label).await {
            Ok(r) => r,
            Err(e) => {
                crate::s3::reply::log_failure(&e, request_id);
                error_response(&e, &req.head.path, request_id)
            }
        };
        if resp.label.is_empty() {
            resp.label = label;
        }
        // CORS headers, only for a request with an Origin (a hot path pays one header test).
        if req.head.header("origin").is_some() {
            let domain = &self.shared.config.server.domain;
            if let Ok((Some(bucket), _)) = crate::s3::endpoint::locate(&req.head, domain) {
                if crate::s3::bucket::valid_bucket_name(&bucket) {
                    crate::s3::cors::decorate(&req.head, &bucket, &mut resp).await;
                }
            }
        }
        resp
    }

    /// The answer to a request that could not be parsed.
    pub fn reject(&self, err: S3Error) -> Response {
        let id = self.request_id();
        let mut resp = error_response(&err, "", &id);
        crate::observe::metrics::request_rejected(resp.status);
        resp.label = "BadRequest";
        common_headers(&mut resp, &id);
        resp
    }

    async fn dispatch(
        &self,
        req: &mut Request<'_>,
        request_id: &RequestId,
        label: &mut &'static str,
    ) -> S3Result<Response> {
        refuse_control_characters(&req.head)?;
        let route = route(&req.head, &self.shared.config.server.domain)?;
        *label = route.endpoint.name();
        if route.endpoint == Endpoint::CorsPreflight {
            // A browser's preflight carries no credentials of its own: the query of the
            // presigned URL it precedes was signed for another method. Never authenticated.
            if let Some(b) = &route.bucket {
                if !crate::s3::bucket::valid_bucket_name(b) {
                    return Err(S3Error::no_such_bucket(b));
                }
            }
            let ctx = Ctx {
                shared: self.shared.clone(),
                users: self.users.clone(),
                caller: None,
                payload: crate::auth::sigv4::PayloadMode::Unsigned,
                route,
                request_id: *request_id,
                inputs: crate::s3::access::Inputs::from_head(&req.head, req.remote.ip()),
            };
            return crate::s3::cors::preflight(&ctx, &req.head).await;
        }
        let auth = {
            let mut cache = self.key_cache.borrow_mut();
            crate::auth::verify::authenticate_in(
                &req.head,
                &*self.users,
                &mut cache,
                std::time::SystemTime::now(),
                &self.shared.config.server.domain,
            )?
        };
        let caller = match auth.access_key {
            Some(ak) => Some(
                self.users
                    .shared(&ak)
                    .ok_or_else(|| S3Error::new(ErrorCode::InvalidAccessKeyId))?,
            ),
            None => None,
        };
        if let Some(b) = &route.bucket {
            if route.endpoint != Endpoint::CreateBucket && !crate::s3::bucket::valid_bucket_name(b)
            {
                return Err(S3Error::no_such_bucket(b));
            }
        }
        let mut ctx = Ctx {
            shared: self.shared.clone(),
            users: self.users.clone(),
            caller,
            payload: auth.payload,
            route,
            request_id: *request_id,
            inputs: crate::s3::access::Inputs::from_head(&req.head, req.remote.ip()),
        };
        // A signature over the body's hash is checked before any handler acts on it.
        crate::s3::payload::settle_deferred(&mut ctx.payload, &ctx.route.endpoint, &mut req.body)
            .await?;
        crate::s3::access::check_expected_owners(&ctx, &req.head).await?;
        dispatch_endpoint(&ctx, req).await
    }
}

async fn dispatch_endpoint(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    use crate::s3::{bucket, delete, list, lock, multipart, object, tagging, versioning};
    match &ctx.route.endpoint {
        Endpoint::ListBuckets => bucket::list_buckets(ctx).await,
        Endpoint::CreateBucket => bucket::create_bucket(ctx, req).await,
        Endpoint::DeleteBucket => bucket::delete_bucket(ctx).await,
        Endpoint::HeadBucket => bucket::head_bucket(ctx).await,
        Endpoint::GetBucketLocation => bucket::get_location(ctx).await,
        Endpoint::GetBucketAcl => bucket::get_bucket_acl(ctx).await,
        Endpoint::PutBucketAcl => bucket::put_bucket_acl(ctx, req).await,
        Endpoint::GetBucketVersioning => versioning::get_bucket_versioning(ctx).await,
        Endpoint::PutBucketVersioning => versioning::put_bucket_versioning(ctx, req).await,
        Endpoint::ListObjects => list::list_objects_v1(ctx).await,
        Endpoint::ListObjectsV2 => list::list_objects_v2(ctx).await,
        Endpoint::ListObjectVersions => versioning::list_object_versions(ctx).await,
        Endpoint::ListMultipartUploads => multipart::list_uploads(ctx).await,
        Endpoint::DeleteObjects => delete::delete_objects(ctx, req).await,
        Endpoint::PutObject => object::put_object(ctx, req).await,
        Endpoint::CopyObject => crate::s3::copy::copy_object(ctx, req).await,
        Endpoint::GetObject => object::get_object(ctx, req, false).await,
        Endpoint::HeadObject => object::get_object(ctx, req, true).await,
        Endpoint::DeleteObject => delete::delete_object(ctx, &req.head).await,
        Endpoint::GetObjectAcl => object::get_object_acl(ctx).await,
        Endpoint::PutObjectAcl => object::put_object_acl(ctx, req).await,
        Endpoint::CreateMultipartUpload => multipart::create(ctx, req).await,
        Endpoint::UploadPart {
            upload_id,
            part_number,
        } => multipart::upload_part(ctx, req, upload_id, part_number).await,
        Endpoint::UploadPartCopy {
            upload_id,
            part_number,
        } => crate::s3::copy::upload_part_copy(ctx, req, upload_id, part_number).await,
        Endpoint::CompleteMultipartUpload { upload_id } => {
            multipart::complete(ctx, req, upload_id).await
        }
        Endpoint::AbortMultipartUpload { upload_id } => multipart::abort(ctx, upload_id).await,
        Endpoint::ListParts { upload_id } => multipart::list_parts(ctx, upload_id).await,
        Endpoint::GetBucketConfig(op) => bucket::get_unset_config(ctx, op).await,
        Endpoint::DeleteBucketConfig(_) => bucket::delete_unset_config(ctx).await,
        Endpoint::NotImplemented(op) => Err(S3Error::msg(
            ErrorCode::NotImplemented,
            format!("{op} is not implemented by this server."),
        )),
        Endpoint::GetObjectAttributes => object::get_object_attributes(ctx, &req.head).await,
        Endpoint::GetObjectTagging => tagging::get_object_tagging(ctx).await,
        Endpoint::PutObjectTagging => tagging::put_object_tagging(ctx, req).await,
        Endpoint::DeleteObjectTagging => tagging::delete_object_tagging(ctx).await,
        Endpoint::GetBucketTagging => tagging::get_bucket_tagging(ctx).await,
        Endpoint::PutBucketTagging => tagging::put_bucket_tagging(ctx, req).await,
        Endpoint::DeleteBucketTagging => tagging::delete_bucket_tagging(ctx).await,
        Endpoint::GetObjectLockConfiguration => lock::get_object_lock_configuration(ctx).await,
        Endpoint::PutObjectLockConfiguration => lock::put_object_lock_configuration(ctx, req).await,
        Endpoint::GetObjectRetention => lock::get_object_retention(ctx).await,
        Endpoint::PutObjectRetention => lock::put_object_retention(ctx, req).await,
        Endpoint::GetObjectLegalHold => lock::get_object_legal_hold(ctx).await,
        Endpoint::PutObjectLegalHold => lock::put_object_legal_hold(ctx, req).await,
        Endpoint::Access(op) => crate::s3::policy::dispatch(ctx, req, *op).await,
        Endpoint::GetBucketLifecycle => crate::s3::lifecycle::get_bucket_lifecycle(ctx).await,
        Endpoint::PutBucketLifecycle => crate::s3::lifecycle::put_bucket_lifecycle(ctx, req).await,
        Endpoint::DeleteBucketLifecycle => crate::s3::lifecycle::delete_bucket_lifecycle(ctx).await,
        Endpoint::GetBucketCors => crate::s3::cors::get_bucket_cors(ctx).await,
        Endpoint::PutBucketCors => crate::s3::cors::put_bucket_cors(ctx, req).await,
        Endpoint::DeleteBucketCors => crate::s3::cors::delete_bucket_cors(ctx).await,
        Endpoint::CorsPreflight => crate::s3::cors::preflight(ctx, &req.head).await,
        Endpoint::PostObject => crate::s3::post_object::post_object(ctx, req).await,
    }
}

/// Query parameters whose values are echoed into response headers (`response-*`
/// overrides) must not carry control characters: a CR LF would let the URL's author write
/// headers, or a whole second response, into our answer. Refused before anything runs.
fn refuse_control_characters(head: &RequestHead) -> S3Result<()> {
    if !head.query.contains("response-") {
        return Ok(());
    }
    for (name, value) in head.query_pairs() {
        if name.starts_with("response-") && !crate::http::response::is_header_safe(&value) {
            return Err(S3Error::invalid_argument(
                "Header values must not contain control characters.",
                &name,
                &value.escape_default().to_string(),
            ));
        }
    }
    Ok(())
}

pub fn error_response(e: &S3Error, resource: &str, request_id: &str) -> Response {
    let mut resp = Response::xml(e.status(), error_xml(e, resource, request_id));
    if e.code == ErrorCode::NotModified {
        resp.body = crate::http::response::Body::Empty;
        resp.headers.retain(|(n, _)| n != "content-type");
    }
    if e.code == ErrorCode::MethodNotAllowed {
        resp.header("allow", "GET, HEAD, PUT, POST, DELETE");
    }
    resp
}

/// The headers every answer carries, S3 or operational.
pub fn common_headers(resp: &mut Response, request_id: &str) {
    use base64::Engine;
    resp.header("x-amz-request-id", request_id);
    // base64 of a request id (16 bytes) is 24 bytes: encoded on the stack, kept inline.
    let mut id2 = [0u8; 32];
    match base64::engine::general_purpose::STANDARD.encode_slice(request_id.as_bytes(), &mut id2) {
        Ok(n) => resp.header(
            "x-amz-id-2",
            std::str::from_utf8(&id2[..n]).unwrap_or_default(),
        ),
        Err(_) => resp.header(
            "x-amz-id-2",
            crate::s3::checksum::b64(request_id.as_bytes()),
        ),
    };
    resp.header(
        "date",
        HeaderValue::fmt(format_args!(
            "{}",
            httpdate::HttpDate::from(std::time::SystemTime::now())
        )),
    );
    resp.header("server", "BleepStore");
}

//! POST Object: browser uploads with an HTML form (`multipart/form-data`). The fields before
//! the `file` part are read (at most [`PRE_DATA_MAX`] bytes), checked against the signed
//! POST policy (`auth::post_form`), and turned into the request head a PutObject would have
//! sent; the file part then streams into the PutObject data path (`engine::object::put`),
//! never held whole. Fields after the file are ignored, as AWS does.

use crate::auth::post_form::{check_policy, form_signer, parse_policy};
use crate::engine::object::PutObject;
use crate::engine::{Permission, Verified, WriteCond};
use crate::http::conn::Request;
use crate::http::head::{Method, RequestHead};
use crate::http::response::Response;
use crate::s3::access::{load_bucket, AuthKind, Fallback, Target};
use crate::s3::acl;
use crate::s3::checksum::Hashers;
use crate::s3::ctx::Ctx;
use crate::s3::endpoint::KEY_BYTES_MAX;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::form::{self, FormReader};
use crate::s3::payload::PayloadReader;
use crate::s3::reply::etag_header;
use crate::s3::request::{attrs_from_head, STORED_HEADERS};
use crate::s3::xml;
use futures::future::LocalBoxFuture;

/// Most bytes of form fields (headers and values) before the file (AWS's 20 KiB).
pub const PRE_DATA_MAX: usize = 20 * 1024;

/// Form fields that become the PutObject request headers of the same name.
const HEADER_FIELDS: [&str; 2] = ["content-type", "x-amz-storage-class"];

/// The file part as a PutObject payload: hashed as it streams, its size held to the
/// policy's content-length-range.
struct FilePayload<'f, 's> {
    form: &'f mut FormReader<'s>,
    hashers: Option<Hashers>,
    len: u64,
    range: Option<(u64, u64)>,
}

impl FilePayload<'_, '_> {
    async fn read_file(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        let n = self.form.read_data(dst).await?;
        if let Some(h) = self.hashers.as_mut() {
            h.update(&dst[..n]);
        }
        self.len += n as u64;
        if let Some((_, max)) = self.range {
            if self.len > max {
                return Err(S3Error::msg(
                    ErrorCode::EntityTooLarge,
                    "Your proposed upload exceeds the maximum allowed size",
                )
                .with("MaxSizeAllowed", max.to_string()));
            }
        }
        Ok(n)
    }
}

impl crate::engine::ByteSource for FilePayload<'_, '_> {
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>> {
        Box::pin(self.read_file(dst))
    }
}

impl crate::engine::Payload for FilePayload<'_, '_> {
    fn declared_len(&self) -> Option<u64> {
        None
    }

    fn finish(&mut self) -> S3Result<Verified> {
        if let Some((min, _)) = self.range {
            if self.len < min {
                return Err(S3Error::msg(
                    ErrorCode::EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size",
                )
                .with("MinSizeAllowed", min.to_string()));
            }
        }
        let digests = self
            .hashers
            .take()
            .map(|h| h.finish())
            .ok_or_else(|| S3Error::internal("payload finished twice"))?;
        Ok(Verified {
            len: self.len,
            md5: digests.md5,
            checksums: Default::default(),
        })
    }
}

/// The request head a PutObject carrying these fields would have: Content-Type and the
/// other stored headers, x-amz-meta-*, x-amz-storage-class, the canned `acl`.
fn head_from_fields(fields: &[(String, String)]) -> RequestHead {
    let mut headers = Vec::new();
    for (name, value) in fields {
        let n = name.as_str();
        if HEADER_FIELDS.contains(&n) || STORED_HEADERS.contains(&n) || n.starts_with("x-amz-meta-")
        {
            if !headers.iter().any(|(h, _): &(String, String)| h == n) {
                headers.push((n.to_string(), value.clone()));
            }
        } else if n == "acl" && !headers.iter().any(|(h, _)| h == "x-amz-acl") {
            headers.push(("x-amz-acl".to_string(), value.clone()));
        }
    }
    RequestHead {
        method: Method::Put,
        method_raw: "PUT".to_string(),
        path: String::new(),
        query: String::new(),
        headers,
        opaque: Vec::new(),
        version_minor: 1,
    }
}

fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The object's URL for `Location` (the Host the client used, path style).
fn location(head: &RequestHead, bucket: &str, key: &str) -> String {
    let host = head.header("host").unwrap_or("localhost");
    let proto = head.header("x-forwarded-proto").unwrap_or("http");
    let enc = |s: &str| crate::hash::sigv4::uri_encode(s, true);
    format!("{proto}://{host}/{}/{}", enc(bucket), enc(key))
}

pub async fn post_object(ctx: &Ctx, req: &mut Request<'_>) -> S3Result<Response> {
    let content_type = req.head.header("content-type").unwrap_or("");
    let Some(boundary) = form::boundary(content_type) else {
        return Err(S3Error::msg(
            ErrorCode::PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold",
        )
        .with(
            "Condition",
            "Bucket POST must be of the enclosure-type multipart/form-data",
        ));
    };
    let bucket = load_bucket(ctx.bucket()).await?;
    let head = req.head.clone();
    let mut body = PayloadReader::new(&mut req.body, &ctx.payload, &head, &[])?;
    let mut form = FormReader::new(&mut body, &boundary);
    // The fields before the file, names lower-cased (the first of a repeated name counts).
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut budget = PRE_DATA_MAX;
    let file = loop {
        let Some(part) = form.next_part(&mut budget).await? else {
            return Err(S3Error::new(ErrorCode::IncorrectNumberOfFilesInPostRequest));
        };
        let name = part.name.to_ascii_lowercase();
        if name == "file" {
            break part;
        }
        let value = form.read_value(&mut budget).await?;
        let value = String::from_utf8(value).map_err(|_| {
            S3Error::invalid_argument("Form field values must be UTF-8.", &part.name, "")
        })?;
        fields.push((name, value));
    };
    let raw_key = field(&fields, "key").ok_or_else(|| {
        S3Error::msg(
            ErrorCode::InvalidArgument,
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
        )
        .with("ArgumentName", "key")
        .with("ArgumentValue", "")
    })?;
    let caller = form_signer(&fields, &ctx.users)?;
    let range = match field(&fields, "policy") {
        Some(p) => {
            let policy = parse_policy(p)?;
            let now = crate::hash::sigv4::unix_secs(std::time::SystemTime::now());
            check_policy(&policy, &fields, ctx.bucket(), now)?
        }
        None => None,
    };
    let filename = file.filename.as_deref().unwrap_or("");
    let filename = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let key = raw_key.replace("${filename}", filename);
    if key.is_empty() {
        return Err(S3Error::invalid_argument(
            "User key must have a length greater than 0.",
            "key",
            "",
        ));
    }
    if key.len() > KEY_BYTES_MAX {
        return Err(S3Error::new(ErrorCode::KeyTooLongError)
            .with("Size", key.len().to_string())
            .with("MaxSizeAllowed", KEY_BYTES_MAX.to_string()));
    }
    // The one authorization decision (bucket policy with `s3:authType` POST, then the
    // bucket's ACL), as the form's signer: s3:PutObject on the key the form names.
    let mut signer_ctx = Ctx {
        shared: ctx.shared.clone(),
        users: ctx.users.clone(),
        caller: caller.clone().map(std::sync::Arc::new),
        payload: ctx.payload.clone(),
        route: ctx.route.clone(),
        request_id: ctx.request_id,
        inputs: ctx.inputs.clone(),
    };
    signer_ctx.inputs.auth = match (caller.is_some(), field(&fields, "x-amz-algorithm")) {
        (false, _) => AuthKind::Anonymous,
        (true, Some(_)) => AuthKind::PostV4,
        (true, None) => AuthKind::PostV2,
    };
    let target = Target {
        action: "s3:PutObject",
        key: Some(&key),
        object: None,
    };
    let fallback = Fallback::Acl(&bucket.owner_id, &bucket.acl, Permission::Write);
    crate::s3::access::check(&signer_ctx, &bucket, target, fallback).await?;
    let put_head = head_from_fields(&fields);
    let cfg = &ctx.shared.config;
    let attrs = attrs_from_head(&put_head, cfg.limits.metadata_bytes_max)?;
    let acl = acl::from_headers(&put_head, Some(&bucket.owner_id), &ctx.users)?;
    let owner_id =
        crate::s3::access::new_object_owner(&signer_ctx, &bucket, &key, &put_head, acl.as_ref())
            .await?;
    let acl = acl.unwrap_or_default();
    let tags = match field(&fields, "tagging") {
        Some(doc) => {
            let tags = xml::parse_tagging(doc.as_bytes())?;
            crate::engine::tagging::check(&tags, crate::engine::tagging::TagOwner::Object)?;
            tags
        }
        None => Vec::new(),
    };
    let put = PutObject {
        bucket: ctx.bucket(),
        key: &key,
        owner_id,
        attrs,
        acl,
        cond: WriteCond::default(),
        len_max: cfg.limits.object_size_max,
        tags,
    };
    let mut payload = FilePayload {
        form: &mut form,
        hashers: Some(Hashers::new(&[])),
        len: 0,
        range,
    };
    let done = crate::engine::object::put(put, &mut payload).await?;
    let etag = etag_header(&done.etag);
    let url = location(&head, ctx.bucket(), &key);
    let redirect = field(&fields, "success_action_redirect").or_else(|| field(&fields, "redirect"));
    let mut r = match redirect.filter(|u| u.starts_with("http://") || u.starts_with("https://")) {
        Some(to) => {
            let mut target = to.to_string();
            target.push(if to.contains('?') { '&' } else { '?' });
            target.push_str("bucket=");
            let enc = |s: &str| crate::hash::sigv4::uri_encode(s, true);
            target.push_str(&enc(ctx.bucket()));
            target.push_str("&key=");
            target.push_str(&enc(&key));
            target.push_str("&etag=");
            target.push_str(&enc(&etag));
            let mut r = Response::new(303);
            r.header("location", target);
            r
        }
        None => match field(&fields, "success_action_status") {
            Some("200") => Response::new(200),
            Some("201") => Response::xml(
                201,
                xml::post_response(&url, ctx.bucket(), &key, &done.etag),
            ),
            _ => Response::new(204),
        },
    };
    if !r.has_header("location") {
        r.header("location", url);
    }
    r.header("etag", etag);
    if let Some(v) = done.version {
        r.header("x-amz-version-id", crate::engine::versions::version_id(v));
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_put_headers() {
        let fields: Vec<(String, String)> = [
            ("key", "k"),
            ("content-type", "text/plain"),
            ("cache-control", "max-age=1"),
            ("x-amz-meta-a", "1"),
            ("acl", "public-read"),
            ("policy", "p"),
            ("content-type", "second"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let h = head_from_fields(&fields);
        assert_eq!(h.header("content-type"), Some("text/plain"));
        assert_eq!(h.header("cache-control"), Some("max-age=1"));
        assert_eq!(h.header("x-amz-meta-a"), Some("1"));
        assert_eq!(h.header("x-amz-acl"), Some("public-read"));
        assert_eq!(h.header("policy"), None);
        assert_eq!(h.header("key"), None);
    }
}

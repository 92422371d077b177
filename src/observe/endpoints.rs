//! Operational endpoints served beside the S3 API: /healthz, /readyz, /health, /metrics,
//! /openapi.json (the API description) and /docs (Swagger UI, from the binary).

use crate::http::head::RequestHead;
use crate::http::response::{Body, Response};
use crate::runtime::Shared;

fn text(status: u16, content_type: &str, body: String) -> Response {
    let mut r = Response::new(status);
    r.header("content-type", content_type.to_string());
    r.body = Body::Bytes(body.into_bytes());
    r
}

/// Answers an operational request, or None when the request is for the S3 API.
pub async fn serve(shared: &Shared, head: &RequestHead) -> Option<Response> {
    if !crate::s3::service::is_operational(head) {
        return None;
    }
    match head.path.as_str() {
        "/healthz" => Some(text(200, "text/plain", "ok\n".into())),
        "/readyz" => {
            let (status, body) = super::health::readyz(shared);
            Some(text(status, "text/plain", body.into()))
        }
        "/health" => {
            let mut shards = Vec::new();
            for s in 0..shared.shard_count {
                let ok =
                    crate::runtime::on_shard(s, |shard| async move { shard.read().is_ok() }).await;
                shards.push((s, ok));
            }
            let storage_ok = crate::storage::local::objects_dir(&shared.data_dir).is_dir();
            let (status, body) = super::health::health_json(
                &shards,
                storage_ok,
                shared.is_ready(),
                shared.gateway.as_deref(),
            );
            Some(text(status, "application/json", body))
        }
        "/metrics" => {
            let token = &shared.config.server.metrics_token;
            if !token.is_empty() && !bearer_matches(head.header("authorization"), token) {
                return Some(text(401, "text/plain", "unauthorized\n".into()));
            }
            let cores = crate::runtime::on_all_cores(|| async {
                let mut m = super::metrics::snapshot();
                let (used, max, refused) = crate::runtime::budget::snapshot();
                m.buffered_body_bytes = used as u64;
                m.buffered_body_bytes_max = max as u64;
                m.buffered_body_refused = refused;
                m
            })
            .await;
            let (mut buckets, mut objects) = (0, 0);
            for s in 0..shared.shard_count {
                if let Ok((b, o)) = crate::runtime::on_shard(s, |shard| async move {
                    crate::meta::tables::counts(&shard.read()?)
                })
                .await
                {
                    buckets += b;
                    objects += o;
                }
            }
            let body = super::metrics::render(&cores, buckets, objects, shared.started_at);
            Some(text(200, "text/plain; version=0.0.4", body))
        }
        "/openapi.json" => {
            let mut r = Response::new(200);
            r.header("content-type", "application/json");
            r.header("cache-control", "no-cache");
            r.body = Body::Bytes(super::openapi::json_bytes().to_vec());
            Some(r)
        }
        p if p == "/docs" || p.starts_with("/docs/") => super::docs::serve(p),
        _ => None,
    }
}

/// Compares the presented bearer token with the configured one in constant time, so the
/// time to answer 401 says nothing about how many leading bytes were right.
fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    use subtle::ConstantTimeEq;
    let presented = authorization
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    // `ct_eq` on slices of different lengths is false without looking at the bytes; the
    // length of the configured token is not a secret worth hiding.
    bool::from(presented.as_bytes().ct_eq(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::bearer_matches;

    #[test]
    fn bearer_token_must_match_exactly() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cretX"), "s3cret"));
        assert!(!bearer_matches(Some("s3cret"), "s3cret"));
        assert!(!bearer_matches(None, "s3cret"));
    }
}

//! Operational endpoints served beside the S3 API: /healthz, /readyz, /health, /metrics,
//! /openapi.json (the API description) and /docs (Swagger UI, from the binary).

use crate::http::head::RequestHead;
use crate::http::response::{Body, Response};
use crate::runtime::Shared;
use crate::storage::gateway::bridge::Gateway;

/// An operational endpoint, named by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operational {
    Healthz,
    Readyz,
    Health,
    Metrics,
    OpenApi,
    Docs,
    DocsAsset,
}

impl Operational {
    /// Every endpoint, for the test that each is documented in /openapi.json.
    pub const ALL: [Operational; 7] = [
        Operational::Healthz,
        Operational::Readyz,
        Operational::Health,
        Operational::Metrics,
        Operational::OpenApi,
        Operational::Docs,
        Operational::DocsAsset,
    ];

    /// The endpoint at `path`; None: the path is an S3 resource (an unknown `/docs/...` is an
    /// object in a bucket named `docs`).
    pub fn of(path: &str) -> Option<Operational> {
        match path {
            "/healthz" => Some(Operational::Healthz),
            "/readyz" => Some(Operational::Readyz),
            "/health" => Some(Operational::Health),
            "/metrics" => Some(Operational::Metrics),
            "/openapi.json" => Some(Operational::OpenApi),
            p if super::docs::is_page(p) => Some(Operational::Docs),
            p => p
                .strip_prefix("/docs/")
                .and_then(super::docs::asset)
                .map(|_| Operational::DocsAsset),
        }
    }

    /// Its `operationId` in /openapi.json.
    pub fn operation_id(self) -> &'static str {
        match self {
            Operational::Healthz => "Healthz",
            Operational::Readyz => "Readyz",
            Operational::Health => "Health",
            Operational::Metrics => "Metrics",
            Operational::OpenApi => "OpenApi",
            Operational::Docs => "Docs",
            Operational::DocsAsset => "DocsAsset",
        }
    }
}

fn text(status: u16, content_type: &str, body: String) -> Response {
    let mut r = Response::new(status);
    r.header("content-type", content_type.to_string());
    r.body = Body::Bytes(body.into_bytes());
    r
}

/// Answers a request the router found operational (an unsigned GET), or None when its path
/// is no operational endpoint.
pub async fn serve(
    shared: &Shared,
    gateway: Option<&Gateway>,
    head: &RequestHead,
) -> Option<Response> {
    let resp = match Operational::of(&head.path)? {
        Operational::Healthz => text(200, "text/plain", "ok\n".into()),
        Operational::Readyz => match crate::engine::log::cluster() {
            Some(node) => {
                let ready = super::health::is_ready(shared, gateway);
                let (status, body) = super::health::cluster_readyz(&node.status(), ready);
                text(status, "application/json", body)
            }
            None => {
                let (status, body) = super::health::readyz(shared, gateway);
                text(status, "text/plain", body.into())
            }
        },
        Operational::Health => health(shared, gateway).await,
        Operational::Metrics => metrics(shared, head).await,
        Operational::OpenApi => {
            let mut r = Response::new(200);
            r.header("content-type", "application/json");
            r.header("cache-control", "no-cache");
            r.body = Body::Bytes(super::openapi::json_bytes().to_vec());
            r
        }
        Operational::Docs | Operational::DocsAsset => super::docs::serve(&head.path)?,
    };
    Some(resp)
}

/// `/health`: every shard answers a read, the objects directory is there, the upstream too.
async fn health(shared: &Shared, gateway: Option<&Gateway>) -> Response {
    let mut shards = Vec::new();
    for s in 0..shared.shard_count {
        let ok =
            crate::engine::shards::on_shard(s, |shard| async move { shard.read().is_ok() }).await;
        shards.push((s, ok));
    }
    let storage_ok = crate::storage::local::objects_dir(&shared.data_dir).is_dir();
    let cluster = crate::engine::log::cluster().map(|node| node.status());
    let (status, body) = super::health::health_json(
        &shards,
        storage_ok,
        super::health::is_ready(shared, gateway),
        gateway,
        cluster.as_ref(),
    );
    text(status, "application/json", body)
}

/// `/metrics`: every core's counters and the bucket/object counts of every shard.
async fn metrics(shared: &Shared, head: &RequestHead) -> Response {
    let token = &shared.config.server.metrics_token;
    if !token.is_empty() && !bearer_matches(head.header("authorization"), token) {
        return text(401, "text/plain", "unauthorized\n".into());
    }
    let cores = crate::runtime::on_all_cores(|| async {
        let mut m = crate::observe::metrics::snapshot();
        let (used, max, refused) = crate::runtime::budget::snapshot();
        m.buffered_body_bytes = used as u64;
        m.buffered_body_bytes_max = max as u64;
        m.buffered_body_refused = refused;
        let (hits, misses, held, capacity) = crate::storage::cache::stats();
        m.object_cache_hits = hits;
        m.object_cache_misses = misses;
        m.object_cache_bytes = held as u64;
        m.object_cache_capacity_bytes = capacity as u64;
        let (bytes, _, hits, misses) = crate::engine::records::stats();
        m.record_cache_bytes = bytes as u64;
        m.record_cache_capacity_bytes = crate::engine::records::RECORD_CACHE_BYTES_MAX as u64;
        m.record_cache_hits = hits;
        m.record_cache_misses = misses;
        m
    })
    .await;
    let (mut buckets, mut objects) = (0, 0);
    for s in 0..shared.shard_count {
        if let Ok((b, o)) = crate::engine::shards::on_shard(s, |shard| async move {
            crate::meta::tables::counts(&shard.read()?)
        })
        .await
        {
            buckets += b;
            objects += o;
        }
    }
    let per_shard = shared
        .config
        .metadata
        .cache_bytes_per_shard(shared.shard_count);
    let meta_cache_bound_bytes = (0..shared.shard_count)
        .map(|s| {
            let path = crate::meta::shard_path(&shared.data_dir, s);
            std::fs::metadata(path)
                .map_or(0, |m| m.len())
                .min(per_shard)
        })
        .sum();
    let budget = crate::observe::metrics::MemoryBudget {
        meta_cache_bytes: per_shard * u64::from(shared.shard_count),
        meta_cache_bound_bytes,
        connection_bytes: crate::http::conn::connection_buffer_bytes(
            shared.config.server.request_head_bytes_max,
        ),
    };
    let mut body =
        crate::observe::metrics::render(&cores, buckets, objects, shared.started_at, budget);
    if let Some(node) = crate::engine::log::cluster() {
        body.push_str(&super::health::cluster_metrics(&node.status()));
    }
    text(200, "text/plain; version=0.0.4", body)
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
    use super::{bearer_matches, Operational};

    #[test]
    fn only_known_paths_are_operational_endpoints() {
        assert_eq!(Operational::of("/metrics"), Some(Operational::Metrics));
        assert_eq!(Operational::of("/docs/"), Some(Operational::Docs));
        assert_eq!(
            Operational::of("/docs/swagger-ui.css"),
            Some(Operational::DocsAsset)
        );
        for s3_path in [
            "/metrics/",
            "/docsx",
            "/docs/nope.js",
            "/healthz/x",
            "/",
            "/b/k",
        ] {
            assert_eq!(Operational::of(s3_path), None, "{s3_path}");
        }
    }

    #[test]
    fn bearer_token_must_match_exactly() {
        assert!(bearer_matches(Some("Bearer s3cret"), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cre"), "s3cret"));
        assert!(!bearer_matches(Some("Bearer s3cretX"), "s3cret"));
        assert!(!bearer_matches(Some("s3cret"), "s3cret"));
        assert!(!bearer_matches(None, "s3cret"));
    }
}

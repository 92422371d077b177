//! Gateway backends: object bytes live in a cloud bucket (AWS S3, GCS, Azure Blob) while
//! buckets, ACLs, users and multipart state stay in the local metadata shards.
//!
//! The upstream HTTP clients run on a small tokio runtime (`gateway.threads`); the glommio
//! shard loops hand it work through channels (`bridge`) and await the answers without
//! blocking their core. Bodies cross as bounded streams of `Bytes`, never whole.

pub mod aws;
pub mod azure;
pub mod bridge;
pub mod gcs;
pub mod store;
pub mod upstream;

use crate::config::{Backend, Config};
use std::sync::Arc;
use upstream::Upstream;

/// Builds the configured upstream and starts its tokio pool (None for the local backend).
/// An unreachable upstream is not an error here: /readyz stays 503 until a probe succeeds.
pub fn start(cfg: &Config) -> Result<Option<Arc<bridge::Gateway>>, String> {
    let Some(up) = build(cfg)? else {
        return Ok(None);
    };
    let prefix = match cfg.storage.backend {
        Backend::Local => String::new(),
        Backend::Aws => cfg.storage.aws.prefix.clone(),
        Backend::Gcp => cfg.storage.gcp.prefix.clone(),
        Backend::Azure => cfg.storage.azure.prefix.clone(),
    };
    let gw = bridge::Gateway::start(up, prefix, cfg.gateway.threads)
        .map_err(|e| format!("gateway runtime: {e}"))?;
    tracing::info!(
        backend = cfg.storage.backend.name(),
        "gateway backend configured"
    );
    Ok(Some(gw))
}

/// Builds the configured upstream, or None for the local backend.
pub fn build(cfg: &Config) -> Result<Option<Arc<dyn Upstream>>, String> {
    let gw = &cfg.gateway;
    let up = match cfg.storage.backend {
        Backend::Local => return Ok(None),
        Backend::Aws => aws::build(&cfg.storage.aws, gw)?,
        Backend::Gcp => gcs::build(&cfg.storage.gcp, gw)?,
        Backend::Azure => azure::build(&cfg.storage.azure, gw)?,
    };
    Ok(Some(up))
}

/// The version (upstream name suffix) of a multipart upload's object, fixed at creation so
/// parts can be staged against it (Azure stages blocks on the destination blob itself).
pub fn upload_version(upload_id: &str) -> u128 {
    use base64::Engine;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(upload_id)
        .unwrap_or_else(|_| upload_id.as_bytes().to_vec());
    let mut v = [0u8; 16];
    for (i, b) in raw.iter().enumerate() {
        v[i % 16] ^= *b;
    }
    u128::from_be_bytes(v).max(1)
}

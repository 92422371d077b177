//! Health probes: liveness, readiness, and a JSON status of every part.

use crate::runtime::Shared;

pub fn readyz(shared: &Shared) -> (u16, &'static str) {
    if shared.is_ready() {
        (200, "ready\n")
    } else {
        (503, "starting\n")
    }
}

/// `/health`: each shard's metadata store answers a read; the storage directory is present.
pub fn health_json(shard_ok: &[(u32, bool)], storage_ok: bool, ready: bool) -> (u16, String) {
    let all_ok = shard_ok.iter().all(|(_, ok)| *ok) && storage_ok && ready;
    let shards: Vec<serde_json::Value> = shard_ok
        .iter()
        .map(|(id, ok)| serde_json::json!({"shard": id, "status": if *ok {"ok"} else {"error"}}))
        .collect();
    let body = serde_json::json!({
        "status": if all_ok {"ok"} else {"degraded"},
        "ready": ready,
        "metadata": shards,
        "storage": {"backend": "local", "status": if storage_ok {"ok"} else {"error"}},
        "gateway": {"status": "not configured"},
    });
    (if all_ok { 200 } else { 503 }, body.to_string())
}

//! Health probes: liveness, readiness, and a JSON status of every part.

use crate::runtime::Shared;
use crate::storage::gateway::bridge::Gateway;

/// Every core is listening and, for a gateway, the upstream answers.
pub fn is_ready(shared: &Shared, gateway: Option<&Gateway>) -> bool {
    shared.all_cores_ready() && gateway.map(|g| g.is_healthy()).unwrap_or(true)
}

pub fn readyz(shared: &Shared, gateway: Option<&Gateway>) -> (u16, &'static str) {
    if is_ready(shared, gateway) {
        (200, "ready\n")
    } else if gateway.is_some_and(|g| !g.is_healthy()) {
        (503, "upstream unreachable\n")
    } else {
        (503, "starting\n")
    }
}

/// `/health`: each shard's metadata store answers a read; the storage directory is present.
pub fn health_json(
    shard_ok: &[(u32, bool)],
    storage_ok: bool,
    ready: bool,
    gateway: Option<&Gateway>,
) -> (u16, String) {
    let gateway_json = match gateway {
        None => serde_json::json!({"status": "not configured"}),
        Some(g) => {
            let (ok, probes, err) = g.status();
            serde_json::json!({
                "status": if ok {"ok"} else {"unreachable"},
                "upstream": g.kind(),
                "probes": probes,
                "error": err,
            })
        }
    };
    let gateway_ok = gateway.map(|g| g.is_healthy()).unwrap_or(true);
    let all_ok = shard_ok.iter().all(|(_, ok)| *ok) && storage_ok && ready && gateway_ok;
    let shards: Vec<serde_json::Value> = shard_ok
        .iter()
        .map(|(id, ok)| serde_json::json!({"shard": id, "status": if *ok {"ok"} else {"error"}}))
        .collect();
    let body = serde_json::json!({
        "status": if all_ok {"ok"} else {"degraded"},
        "ready": ready,
        "metadata": shards,
        "storage": {
            "backend": gateway.map(|g| g.kind()).unwrap_or("local"),
            "status": if storage_ok && gateway_ok {"ok"} else {"error"},
        },
        "gateway": gateway_json,
    });
    (if all_ok { 200 } else { 503 }, body.to_string())
}

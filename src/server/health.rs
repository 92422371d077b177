//! Health probes: liveness, readiness, and a JSON status of every part.

use crate::cluster::node::ClusterStatus;
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

/// Cluster mode's `/readyz`: every Raft group has a leader this node can reach; else 503
/// naming the groups without one.
pub fn cluster_readyz(status: &ClusterStatus, local_ready: bool) -> (u16, String) {
    let lacking: Vec<u32> = status
        .groups
        .iter()
        .filter(|g| !g.has_reachable_leader)
        .map(|g| g.group)
        .collect();
    let ready = lacking.is_empty() && local_ready;
    let body = serde_json::json!({
        "ready": ready,
        "node_id": status.node_id,
        "cores_ready": local_ready,
        "groups_without_leader": lacking,
    });
    (if ready { 200 } else { 503 }, body.to_string())
}

/// `/health`'s `cluster` section: this node, the members, each group's leader and progress.
pub fn cluster_json(status: &ClusterStatus) -> serde_json::Value {
    serde_json::json!({
        "node_id": status.node_id,
        "members": status.members,
        "groups": status.groups,
        "replication_factor": status.replication_factor,
        "last_repair": status.last_repair,
    })
}

/// `/health`: each shard's metadata store answers a read; the storage directory is present;
/// in cluster mode every group has a reachable leader.
pub fn health_json(
    shard_ok: &[(u32, bool)],
    storage_ok: bool,
    ready: bool,
    gateway: Option<&Gateway>,
    cluster: Option<&ClusterStatus>,
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
    let cluster_ok = cluster.is_none_or(|c| c.groups.iter().all(|g| g.has_reachable_leader));
    let all_ok =
        shard_ok.iter().all(|(_, ok)| *ok) && storage_ok && ready && gateway_ok && cluster_ok;
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
        "cluster": cluster.map_or(serde_json::json!({"status": "not configured"}), cluster_json),
    });
    (if all_ok { 200 } else { 503 }, body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::node::GroupStatus;

    fn group(group: u32, leader: Option<u64>, reachable: bool) -> GroupStatus {
        GroupStatus {
            group,
            leader,
            state: "Follower".into(),
            term: 1,
            last_applied: Some(3),
            last_log: Some(3),
            has_reachable_leader: reachable,
        }
    }

    #[test]
    fn cluster_readiness_names_the_groups_without_a_leader() {
        let mut status = ClusterStatus {
            node_id: 2,
            members: vec![],
            groups: vec![group(0, Some(1), true), group(1, None, false)],
            replication_factor: 3,
            last_repair: None,
        };
        let (code, body) = cluster_readyz(&status, true);
        assert_eq!(code, 503);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["groups_without_leader"], serde_json::json!([1]));
        assert_eq!(v["ready"], false);

        status.groups[1] = group(1, Some(3), true);
        assert_eq!(cluster_readyz(&status, true).0, 200);
        // Cores not serving yet: not ready either.
        assert_eq!(cluster_readyz(&status, false).0, 503);

        let (code, body) = health_json(&[(0, true)], true, true, None, Some(&status));
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["cluster"]["node_id"], 2);
        assert_eq!(v["cluster"]["groups"][1]["leader"], 3);
        assert_eq!(v["cluster"]["groups"][0]["last_applied"], 3);
    }
}

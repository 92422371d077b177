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
        "other_nodes": status.other_nodes,
        "membership_changing": status.membership_changing,
        "groups": status.groups,
        "replication_factor": status.replication_factor,
        "last_repair": status.last_repair,
        "repair_passes": status.repair_passes,
        "under_replicated": under_replicated(status),
        "copies": status.copies,
    })
}

/// Data files this node should hold and lacked after its last repair pass (no reachable node
/// held them intact): its under-replicated files; the sum over the nodes is the cluster's
/// count of missing copies. None before the first pass ends.
fn under_replicated(status: &ClusterStatus) -> Option<u64> {
    status.last_repair.as_ref().map(|r| r.failed)
}

/// `/metrics` lines of cluster mode (Prometheus text format): each group's Raft state, the
/// data copies sent, the repair passes.
pub fn cluster_metrics(status: &ClusterStatus) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(2048);
    let gauge = |out: &mut String, name: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    };
    gauge(&mut out, "bleepstore_cluster_node_id", "This node's id.");
    let _ = writeln!(out, "bleepstore_cluster_node_id {}", status.node_id);
    type Field = fn(&crate::cluster::node::GroupStatus) -> u64;
    let per_group: [(&str, &str, Field); 5] = [
        ("bleepstore_raft_term", "The group's current term.", |g| {
            g.term
        }),
        (
            "bleepstore_raft_leader",
            "The group's leader as this node knows it (0: none).",
            |g| g.leader.unwrap_or(0),
        ),
        (
            "bleepstore_raft_reachable_leader",
            "1 when this node has a leader it can reach.",
            |g| u64::from(g.has_reachable_leader),
        ),
        (
            "bleepstore_raft_last_log_index",
            "The last index in this node's log.",
            |g| g.last_log.unwrap_or(0),
        ),
        (
            "bleepstore_raft_last_applied_index",
            "The last index applied on this node.",
            |g| g.last_applied.unwrap_or(0),
        ),
    ];
    for (name, help, field) in per_group {
        gauge(&mut out, name, help);
        for g in &status.groups {
            let _ = writeln!(out, "{name}{{group=\"{}\"}} {}", g.group, field(g));
        }
    }
    gauge(
        &mut out,
        "bleepstore_raft_replication_lag_entries",
        "On a group's leader: log entries a member has yet to take.",
    );
    for g in &status.groups {
        for (peer, lag) in g.replication_lag.iter().flatten() {
            if let Some(lag) = lag {
                let _ = writeln!(
                    out,
                    "bleepstore_raft_replication_lag_entries{{group=\"{}\",peer=\"{peer}\"}} {lag}",
                    g.group
                );
            }
        }
    }
    if let Some(n) = under_replicated(status) {
        gauge(
            &mut out,
            "bleepstore_cluster_under_replicated_files",
            "Data files this node should hold and lacked after the last repair pass.",
        );
        let _ = writeln!(out, "bleepstore_cluster_under_replicated_files {n}");
    }
    let c = &status.copies;
    let _ = writeln!(
        out,
        "# HELP bleepstore_cluster_data_copies_total Data file copies this node sent.\n\
         # TYPE bleepstore_cluster_data_copies_total counter\n\
         bleepstore_cluster_data_copies_total{{outcome=\"made\"}} {}\n\
         bleepstore_cluster_data_copies_total{{outcome=\"failed\"}} {}\n\
         # HELP bleepstore_cluster_data_copied_bytes_total Bytes of the copies made.\n\
         # TYPE bleepstore_cluster_data_copied_bytes_total counter\n\
         bleepstore_cluster_data_copied_bytes_total {}\n\
         # HELP bleepstore_cluster_repair_passes_total Repair passes finished.\n\
         # TYPE bleepstore_cluster_repair_passes_total counter\n\
         bleepstore_cluster_repair_passes_total {}",
        c.made, c.failed, c.bytes, status.repair_passes
    );
    if let Some(r) = &status.last_repair {
        let last: [(&str, &str, u64); 6] = [
            (
                "files",
                "Data files the last repair pass read in the records.",
                r.files,
            ),
            (
                "restored",
                "Data files the last repair pass restored.",
                r.restored,
            ),
            (
                "failed",
                "Data files the last repair pass could not restore.",
                r.failed,
            ),
            (
                "restored_bytes",
                "Bytes the last repair pass restored.",
                r.restored_bytes,
            ),
            (
                "orphans_removed",
                "Unreferenced old data files the last repair pass deleted here.",
                r.orphans_removed,
            ),
            (
                "moved_away",
                "Copies the last repair pass removed here, their place moved to other nodes.",
                r.moved_away,
            ),
        ];
        for (what, help, v) in last {
            let name = format!("bleepstore_cluster_repair_last_{what}");
            gauge(&mut out, &name, help);
            let _ = writeln!(out, "{name} {v}");
        }
        gauge(
            &mut out,
            "bleepstore_cluster_repair_last_duration_seconds",
            "The last repair pass's duration.",
        );
        let _ = writeln!(
            out,
            "bleepstore_cluster_repair_last_duration_seconds {:.3}",
            r.duration_ms as f64 / 1000.0
        );
    }
    out
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
            replication_lag: None,
        }
    }

    #[test]
    fn cluster_metrics_are_prometheus_lines_with_every_group() {
        let mut leader = group(0, Some(2), true);
        leader.replication_lag = Some([(1, Some(4)), (3, None)].into());
        let status = ClusterStatus {
            node_id: 2,
            members: vec![],
            other_nodes: vec![],
            membership_changing: false,
            groups: vec![leader, group(1, None, false)],
            replication_factor: 3,
            last_repair: Some(crate::cluster::repair::RepairStats {
                files: 10,
                restored: 4,
                restored_bytes: 4096,
                failed: 1,
                groups_skipped: 0,
                moved_away: 2,
                orphans_removed: 0,
                duration_ms: 1500,
                voters: vec![1, 2, 3],
            }),
            repair_passes: 2,
            copies: crate::cluster::replica::CopyStats {
                made: 7,
                failed: 3,
                bytes: 7000,
            },
        };
        let text = cluster_metrics(&status);
        let mut values = std::collections::BTreeMap::new();
        for line in text.lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                    "{line}"
                );
                continue;
            }
            let (name, value) = line.rsplit_once(' ').expect("name value");
            value.parse::<f64>().unwrap_or_else(|_| panic!("{line}"));
            assert!(
                values.insert(name.to_string(), value.to_string()).is_none(),
                "{line}"
            );
        }
        assert_eq!(values["bleepstore_cluster_node_id"], "2");
        assert_eq!(values["bleepstore_raft_leader{group=\"0\"}"], "2");
        assert_eq!(
            values["bleepstore_raft_replication_lag_entries{group=\"0\",peer=\"1\"}"],
            "4"
        );
        // Nothing matched yet: no figure rather than a made-up one.
        assert!(!values.keys().any(|k| k.contains("peer=\"3\"")));
        assert_eq!(values["bleepstore_cluster_under_replicated_files"], "1");
        assert_eq!(values["bleepstore_raft_leader{group=\"1\"}"], "0");
        assert_eq!(values["bleepstore_raft_reachable_leader{group=\"1\"}"], "0");
        assert_eq!(
            values["bleepstore_cluster_data_copies_total{outcome=\"made\"}"],
            "7"
        );
        assert_eq!(
            values["bleepstore_cluster_data_copies_total{outcome=\"failed\"}"],
            "3"
        );
        assert_eq!(values["bleepstore_cluster_repair_passes_total"], "2");
        assert_eq!(values["bleepstore_cluster_repair_last_restored"], "4");
        assert_eq!(
            values["bleepstore_cluster_repair_last_duration_seconds"],
            "1.500"
        );
    }

    #[test]
    fn cluster_readiness_names_the_groups_without_a_leader() {
        let mut status = ClusterStatus {
            node_id: 2,
            members: vec![],
            other_nodes: vec![],
            membership_changing: false,
            groups: vec![group(0, Some(1), true), group(1, None, false)],
            replication_factor: 3,
            last_repair: None,
            repair_passes: 0,
            copies: Default::default(),
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

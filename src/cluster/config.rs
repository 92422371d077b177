//! The typed view of the `cluster:` block (issue #19) the cluster module runs on: addresses
//! parsed, the replication factor resolved, the secret kept out of `Debug` output.
//!
//! The block itself and its rules live in `crate::config` (`ClusterConfig::validate`), so a
//! bad block is refused at start-up with the other configuration errors.

use super::transport::Secret;
use crate::config::ClusterConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// One member of the static membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// Where S3 clients reach it.
    pub s3: SocketAddr,
    /// Where other nodes reach its peer listener.
    pub peer: SocketAddr,
}

/// A validated `cluster:` block.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    pub node_id: u64,
    pub secret: Secret,
    /// Copies of each data file wanted; placed ones are capped at the voting members.
    pub replication_factor: usize,
    pub nodes: BTreeMap<u64, Member>,
    /// Whether this node waits to be added to a running cluster (`cluster.join`).
    pub join: bool,
}

impl ClusterSpec {
    /// Checks the block (`ClusterConfig::validate`) and parses it; a disabled block is
    /// refused, since there is nothing to run.
    pub fn new(cfg: &ClusterConfig) -> Result<ClusterSpec, String> {
        if !cfg.enabled {
            return Err("cluster.enabled: cluster mode is off".into());
        }
        cfg.validate()?;
        let mut nodes = BTreeMap::new();
        for n in &cfg.nodes {
            let parse = |text: &str| -> Result<SocketAddr, String> {
                text.parse()
                    .map_err(|_| format!("cluster.nodes: not an IP:PORT address: {text:?}"))
            };
            let member = Member {
                s3: parse(&n.s3)?,
                peer: parse(&n.peer)?,
            };
            nodes.insert(n.id, member);
        }
        Ok(ClusterSpec {
            node_id: cfg.node_id,
            secret: Secret::new(cfg.secret.as_bytes()),
            replication_factor: cfg.replication_factor(),
            nodes,
            join: cfg.join,
        })
    }

    /// This node's own entry (present: `validate` checked `node_id` is a member).
    pub fn this(&self) -> Option<&Member> {
        self.nodes.get(&self.node_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const EXAMPLE: &str = r#"
enabled: true
node_id: 1
secret: "long random string"
replication_factor: 3
nodes:
  - {id: 1, s3: "127.0.0.1:9001", peer: "127.0.0.1:9101"}
  - {id: 2, s3: "127.0.0.1:9002", peer: "127.0.0.1:9102"}
  - {id: 3, s3: "127.0.0.1:9003", peer: "127.0.0.1:9103"}
"#;

    fn parse(text: &str) -> ClusterConfig {
        yaml_serde::from_str(text).unwrap()
    }

    /// The example block with one line replaced (`from` must occur).
    fn with(from: &str, to: &str) -> ClusterConfig {
        assert!(EXAMPLE.contains(from), "{from}");
        parse(&EXAMPLE.replacen(from, to, 1))
    }

    fn rejected(cfg: &ClusterConfig, names: &str) {
        let err = ClusterSpec::new(cfg).unwrap_err();
        assert!(err.contains(names), "{err}");
    }

    #[test]
    fn the_issue_example_is_accepted() {
        let spec = ClusterSpec::new(&parse(EXAMPLE)).unwrap();
        assert_eq!(spec.node_id, 1);
        assert_eq!(spec.replication_factor, 3);
        assert_eq!(spec.nodes.len(), 3);
        assert_eq!(spec.this().unwrap().peer, "127.0.0.1:9101".parse().unwrap());
        assert_eq!(spec.secret.as_bytes(), b"long random string");
        // The secret never shows in logs.
        assert!(!format!("{spec:?}").contains("long random"));
    }

    #[test]
    fn replication_factor_defaults_to_3_capped_where_placed() {
        let cfg = with("replication_factor: 3\n", "");
        assert_eq!(ClusterSpec::new(&cfg).unwrap().replication_factor, 3);
        // One node: 3 wanted, and the placement gives each file the one voter it has
        // (`replica::tests`).
        let one = parse(
            "enabled: true\nnode_id: 7\nsecret: \"0123456789abcdef\"\n\
             nodes: [{id: 7, s3: \"127.0.0.1:1\", peer: \"127.0.0.1:2\"}]\n",
        );
        assert_eq!(ClusterSpec::new(&one).unwrap().replication_factor, 3);
    }

    #[test]
    fn a_joining_node_may_list_itself_only() {
        let text = "enabled: true\nnode_id: 4\nsecret: \"0123456789abcdef\"\njoin: true\n\
             replication_factor: 3\n\
             nodes: [{id: 4, s3: \"127.0.0.1:1\", peer: \"127.0.0.1:2\"}]\n";
        let spec = ClusterSpec::new(&parse(text)).unwrap();
        assert!(spec.join);
        assert_eq!(spec.replication_factor, 3);
        // Without `join`, 3 copies over one listed node is a mistake.
        rejected(
            &parse(&text.replace("join: true\n", "")),
            "cluster.replication_factor",
        );
    }

    #[test]
    fn node_id_must_be_a_member() {
        rejected(&with("node_id: 1", "node_id: 4"), "cluster.node_id");
    }

    #[test]
    fn ids_must_be_unique() {
        rejected(&with("{id: 2,", "{id: 1,"), "id 1 is listed twice");
    }

    #[test]
    fn addresses_must_be_unique() {
        rejected(
            &with("peer: \"127.0.0.1:9102\"", "peer: \"127.0.0.1:9101\""),
            "cluster.nodes[1].peer: address 127.0.0.1:9101 is used twice",
        );
        // A node's S3 address may not be another's peer address either.
        rejected(
            &with("s3: \"127.0.0.1:9003\"", "s3: \"127.0.0.1:9101\""),
            "cluster.nodes[2].s3",
        );
    }

    #[test]
    fn addresses_must_parse() {
        rejected(
            &with("peer: \"127.0.0.1:9103\"", "peer: \"node3\""),
            "cluster.nodes[2].peer: not an IP:PORT address",
        );
    }

    #[test]
    fn secret_must_be_long_enough() {
        rejected(&with("\"long random string\"", "\"\""), "cluster.secret");
        rejected(
            &with("\"long random string\"", "\"fifteen bytes!!\""),
            "cluster.secret",
        );
        let sixteen = with("\"long random string\"", "\"sixteen bytes!!!\"");
        assert!(ClusterSpec::new(&sixteen).is_ok());
    }

    #[test]
    fn replication_factor_is_1_to_nodes() {
        rejected(
            &with("replication_factor: 3", "replication_factor: 0"),
            "cluster.replication_factor",
        );
        rejected(
            &with("replication_factor: 3", "replication_factor: 4"),
            "cluster.replication_factor",
        );
    }

    #[test]
    fn nodes_must_not_be_empty() {
        rejected(
            &parse("enabled: true\nnode_id: 1\nsecret: \"0123456789abcdef\"\n"),
            "cluster.nodes",
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = yaml_serde::from_str::<ClusterConfig>("enabled: true\nsecrett: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("secrett"), "{err}");
    }

    #[test]
    fn a_disabled_block_is_not_checked_and_changes_nothing() {
        let text = "cluster:\n  enabled: false\n  node_id: 9\n  secret: short\n";
        let cfg = Config::from_yaml(text).unwrap();
        assert!(!cfg.cluster.enabled);
        assert!(ClusterSpec::new(&cfg.cluster).is_err());
    }

    #[test]
    fn an_enabled_cluster_is_accepted_and_a_bad_block_refused() {
        let indented: String = EXAMPLE.lines().map(|l| format!("  {l}\n")).collect();
        let config = Config::from_yaml(&format!("cluster:\n{indented}")).unwrap();
        assert!(config.cluster.enabled);
        assert_eq!(config.cluster.shard_count(), 2);
        // A bad block names its own fault.
        let bad = indented.replace("node_id: 1", "node_id: 4");
        let err = Config::from_yaml(&format!("cluster:\n{bad}")).unwrap_err();
        assert!(err.contains("cluster.node_id"), "{err}");
        let bad = format!("{indented}  shards: 0\n");
        let err = Config::from_yaml(&format!("cluster:\n{bad}")).unwrap_err();
        assert!(err.contains("cluster.shards"), "{err}");
    }
}

//! Cluster mode (issue #19), milestone 1: the Raft core the later milestones build on.
//!
//! * `config`: the typed view of the `cluster:` block (`ClusterSpec`).
//! * `transport`: authenticated request/reply frames between nodes over TCP (tokio).
//! * `raft`: openraft's types for a metadata group, its redb-backed log, and the state
//!   machine behind the `Applier` trait the shard's `MetaShard` will implement.
//! * `network`: openraft's network over the transport; `propose`.
//! * `group`: starting and forming one group.
//!
//! Not wired into the server yet: `cluster.enabled: true` is still refused at start-up.
//! Sits below the engine (tests/layers.rs): it uses `meta` (the commands), `config`, and
//! nothing above.

pub mod config;
pub mod group;
pub mod network;
pub mod node;
pub mod raft;
pub mod shard;
pub mod transport;

#[cfg(test)]
mod node_tests;
#[cfg(test)]
mod tests;

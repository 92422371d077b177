//! Cluster mode (issue #19): metadata replicated through Raft, one group per metadata shard.
//!
//! * `config`: the typed view of the `cluster:` block (`ClusterSpec`).
//! * `transport`: authenticated request/reply frames between nodes over TCP (tokio).
//! * `raft`: openraft's types for a metadata group, its redb-backed log, and the state
//!   machine behind the `Applier` trait the shard's `MetaShard` will implement.
//! * `network`: openraft's network over the transport; `propose`.
//! * `group`: starting and forming one group.
//! * `membership`: adding and removing nodes at run time (joint consensus, group by group).
//! * `shard`: a shard's redb database as a group's state machine (`ShardApplier`).
//! * `read_pins`: the data files this node keeps open for the streams reading them, so a
//!   file freed partway through a stream is still read to its end.
//! * `repair`: passes that restore the copies a node should hold and does not.
//! * `replica`: copies of object data files on `replication_factor` nodes (rendezvous
//!   placement, write quorum).
//! * `roster`: the membership as this node sees it now (who votes, whose address is known),
//!   followed from the Raft log, so nodes added or removed at run time show everywhere.
//! * `node`: this node's groups, peer listener, per-group batcher (group commit, forwarding
//!   to the leader) and read barriers; the engine's `RaftLog` and reads call it.
//!
//! The boot (`server::boot::start_cluster`) starts it on a small tokio runtime when
//! `cluster.enabled` is set. Object bytes are copied to other nodes (`replica`); repair
//! passes restore missing copies and move them after a membership change (`repair`).
//! Sits below the engine (tests/layers.rs): it uses `meta` (the commands), `config`, and
//! nothing above.

pub mod config;
pub mod group;
pub mod membership;
pub mod network;
pub mod node;
pub mod raft;
pub mod read_pins;
pub mod repair;
pub mod replica;
pub mod roster;
pub mod shard;
pub mod transport;

#[cfg(test)]
mod node_tests;
#[cfg(test)]
mod tests;

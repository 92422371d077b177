//! BleepStore: an S3-compatible object store, thread-per-core on io_uring.
//!
//! Rooms: `server` (boot, router, operational endpoints), `http` (wire), `s3` (API
//! semantics), `auth` (SigV4, users), `storage` (object bytes), `meta` (redb shards),
//! `runtime` (cores, sharding), `observe` (metrics, log), `cluster` (Raft groups and the
//! peer transport, not wired in yet).

pub mod auth;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod error;
pub mod hash;
pub mod http;
pub mod io_alloc;
pub mod meta;
pub mod observe;
pub mod runtime;
pub mod s3;
pub mod server;
pub mod storage;
/// Deterministic test data, for the unit tests and the criterion benches.
#[doc(hidden)]
pub mod test_support;

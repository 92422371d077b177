//! The pieces of `bleepstore-bench` (see `src/bin/bleepstore-bench.rs`).

pub mod args;
pub mod http;
pub mod s3;
pub mod stats;
pub mod workload;

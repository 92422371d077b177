//! Telemetry every layer writes to: Prometheus metrics and the log (the endpoints that serve
//! them are in `server/`).

pub mod log;
pub mod memory;
pub mod metrics;

/// Moved to [`crate::error`]; kept here for existing callers.
pub use crate::error::error_chain;

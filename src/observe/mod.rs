//! What operators see: Prometheus metrics, health probes, the OpenAPI document and its
//! Swagger UI.

pub mod docs;
pub mod endpoints;
pub mod health;
pub mod log;
pub mod metrics;
pub mod openapi;

/// Moved to [`crate::error`]; kept here for existing callers.
pub use crate::error::error_chain;

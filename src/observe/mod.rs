//! What operators see: Prometheus metrics, health probes.

pub mod endpoints;
pub mod health;
pub mod metrics;

//! What operators see: Prometheus metrics, health probes, the OpenAPI document and its
//! Swagger UI.

pub mod docs;
pub mod endpoints;
pub mod health;
pub mod metrics;
pub mod openapi;

//! The top layer: boot (one executor per core, listeners, start-up recovery and reapers),
//! the router every connection runs (operational GETs here, everything else to the S3
//! service), and the operational endpoints: /healthz, /readyz, /health, /metrics,
//! /openapi.json and /docs.

mod bind;
mod boot;
pub mod docs;
pub mod endpoints;
pub mod health;
pub mod in_process;
pub mod openapi;
pub mod router;

pub use boot::run;

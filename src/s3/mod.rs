//! S3 API semantics: errors, routing, XML, and one module per operation family.

pub mod access;
pub mod acl;
pub mod bucket;
pub mod checksum;
pub mod copy;
pub mod cors;
pub mod ctx;
pub mod delete;
pub mod endpoint;
pub mod form;
pub mod lifecycle;
pub mod list;
pub mod lock;
pub mod multipart;
pub mod object;
pub mod ownership;
pub mod payload;
pub mod policy;
pub mod post_object;
pub mod public_access;
pub mod reply;
pub mod request;
pub mod service;
pub mod tagging;
pub mod versioning;
pub mod xml;

// Moved below the s3 layer (see tests/layers.rs); the old paths keep working.
pub use crate::error;
pub use crate::hash::{md5, md5_lanes};

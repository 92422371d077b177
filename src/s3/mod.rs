//! S3 API semantics: errors, routing, XML, and one module per operation family.

pub mod acl;
pub mod bucket;
pub mod checksum;
pub mod copy;
pub mod delete;
pub mod endpoint;
pub mod error;
pub mod list;
pub mod md5;
pub mod md5_lanes;
pub mod multipart;
pub mod object;
pub mod payload;
pub mod service;
pub mod users;
pub mod xml;

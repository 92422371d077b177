//! The storage engine: objects, copies, multipart uploads, deletes, buckets' records,
//! listings and ACL storage. It is the only caller of `meta` (metadata shards) and `storage`
//! (object bytes); `s3/` parses requests, calls it and renders the answers.
//!
//! Every metadata change goes through [`log::MetaLog`]; reads go to the owning shard through
//! [`read`]. Object bytes go through the boot-chosen [`crate::storage::DataStore`].

pub mod bucket;
pub mod copy;
pub mod cors;
pub mod delete;
pub mod lifecycle;
pub mod lock;
pub mod log;
pub mod multipart;
pub mod object;
pub mod policy;
pub mod read;
pub mod records;
pub mod recovery;
pub mod remote;
pub mod replica;
pub mod shards;
pub mod tagging;
pub mod versions;

/// Record types the API layer renders, as engine types.
pub use crate::meta::commands::{etag_matches, WriteCond};
pub use crate::meta::tables::ListPage;
pub use crate::meta::types::{
    Acl, BucketMeta, Checksums, ConfigKind, DataLoc, Grant, Grantee, ObjectMeta, PartMeta,
    Permission, Tags, UploadMeta, FULL_OBJECT_SUFFIX,
};
pub use crate::storage::{ByteSource, Payload, Turns, Verified};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where object bytes go, set once by boot before any core starts.
static STORE: std::sync::OnceLock<std::sync::Arc<dyn crate::storage::DataStore>> =
    std::sync::OnceLock::new();

/// Makes `store` the store of object bytes for the rest of the process (boot calls it once,
/// before the cores start). A second call changes nothing and answers false.
pub fn install_store(store: std::sync::Arc<dyn crate::storage::DataStore>) -> bool {
    STORE.set(store).is_ok()
}

/// The boot-chosen store of object bytes.
fn store() -> std::sync::Arc<dyn crate::storage::DataStore> {
    STORE
        .get()
        .expect("engine::store() before boot installed the store")
        .clone()
}

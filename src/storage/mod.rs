//! Object bytes. `local` keeps them in O_DIRECT data files named by internal id (never by
//! key); gateway backends to AWS S3, GCS and Azure are planned behind the same interface.

pub mod cache;
pub mod local;

use crate::s3::error::S3Result;
use futures::future::LocalBoxFuture;

/// Where a writer pulls payload from (the decoded, hashed request body).
pub trait ByteSource {
    /// Reads payload into `dst`; 0 means the end.
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>>;
}

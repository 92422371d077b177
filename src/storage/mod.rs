//! Object bytes. `local` keeps them in O_DIRECT data files named by internal id (never by
//! key); gateway backends to AWS S3, GCS and Azure are planned behind the same interface.

pub mod cache;
pub mod gateway;
pub mod local;

use crate::error::S3Result;
use futures::future::LocalBoxFuture;

/// Where a writer pulls payload from (the decoded, hashed request body).
pub trait ByteSource {
    /// Reads payload into `dst`; 0 means the end.
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>>;
}

/// A response-style chunk stream read as a `ByteSource` (a spooled file fed upstream).
pub struct StreamSource {
    stream: Box<dyn crate::http::response::BodyStream>,
    pending: Option<(crate::http::response::Chunk, usize)>,
}

impl StreamSource {
    pub fn new(stream: Box<dyn crate::http::response::BodyStream>) -> StreamSource {
        StreamSource {
            stream,
            pending: None,
        }
    }

    async fn read_into(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        if self.pending.is_none() {
            match self.stream.next_chunk().await {
                Ok(Some(c)) => self.pending = Some((c, 0)),
                Ok(None) => return Ok(0),
                Err(e) => return Err(crate::error::S3Error::internal_error(&e)),
            }
        }
        let Some((chunk, off)) = self.pending.as_mut() else {
            return Ok(0);
        };
        let n = (chunk.len() - *off).min(dst.len());
        dst[..n].copy_from_slice(&chunk[*off..*off + n]);
        *off += n;
        if *off == chunk.len() {
            self.pending = None;
        }
        Ok(n)
    }
}

impl ByteSource for StreamSource {
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>> {
        Box::pin(self.read_into(dst))
    }
}

//! The connection's socket and read buffer, shared by the connection loop (`conn`), which
//! reads heads from it, and the body reader (`body`), which reads payload from it.

use crate::error::{ErrorCode, S3Error, S3Result};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use std::time::Duration;

/// After answering a request whose body we did not read, the connection is closed gently:
/// our side is shut for writing and what the client still sends is read and dropped, for at
/// most this long or [`LINGER_BYTES_MAX`], so its kernel does not answer our response with
/// a reset that discards it before the client reads it.
const LINGER_WAIT: Duration = Duration::from_secs(2);
const LINGER_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// The socket plus its read buffer (`buf[start..end]` is received but not consumed).
pub struct Io {
    pub(super) stream: TcpStream,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) body_timeout: Duration,
    pub bytes_out: u64,
}

impl Io {
    pub(super) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes into the buffer; 0 means the peer closed.
    pub(super) async fn fill(&mut self, deadline: Duration) -> std::io::Result<usize> {
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let end = self.end;
        let stream = &mut self.stream;
        let buf = &mut self.buf[end..];
        let n = with_deadline(deadline, stream.read(buf)).await?;
        self.end += n;
        Ok(n)
    }

    /// Body bytes: first what is buffered, then straight from the socket into `dst`.
    pub async fn read_body(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        if dst.is_empty() {
            return Ok(0);
        }
        let have = self.end - self.start;
        if have > 0 {
            let n = have.min(dst.len());
            dst[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.consume(n);
            return Ok(n);
        }
        match with_deadline(self.body_timeout, self.stream.read(dst)).await {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                Err(S3Error::new(ErrorCode::RequestTimeout))
            }
            Err(_) => Err(S3Error::new(ErrorCode::IncompleteBody)),
        }
    }

    /// Gives back bytes read past the end of a body (they start the next request).
    pub fn unread(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let rest = self.buffered().to_vec();
        let total = bytes.len() + rest.len();
        if total > self.buf.len() {
            self.buf.resize(total, 0);
        }
        self.buf[..bytes.len()].copy_from_slice(bytes);
        self.buf[bytes.len()..total].copy_from_slice(&rest);
        self.start = 0;
        self.end = total;
    }

    /// Shuts our side for writing, then reads and drops what the client still sends (see
    /// [`LINGER_WAIT`]) so the response already written reaches it before the close.
    pub(super) async fn linger_close(&mut self) {
        if self
            .stream
            .shutdown(std::net::Shutdown::Write)
            .await
            .is_err()
        {
            return;
        }
        let mut dropped = 0u64;
        let deadline = std::time::Instant::now() + LINGER_WAIT;
        while dropped < LINGER_BYTES_MAX {
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            if wait.is_zero() {
                return;
            }
            self.start = 0;
            self.end = 0;
            match self.fill(wait).await {
                Ok(0) | Err(_) => return,
                Ok(n) => dropped += n as u64,
            }
        }
    }

    pub async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        with_deadline(self.body_timeout, self.stream.write_all(data)).await?;
        self.bytes_out += data.len() as u64;
        Ok(())
    }
}

/// `f`, or a `TimedOut` error once `d` has passed.
pub(super) async fn with_deadline<T>(
    d: Duration,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    futures_lite::future::or(f, async move {
        glommio::timer::sleep(d).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "deadline",
        ))
    })
    .await
}

//! The connection's socket and read buffer, shared by the connection loop (`conn`), which
//! reads heads from it, and the body reader (`body`), which reads payload from it.

use crate::error::{ErrorCode, S3Error, S3Result};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

/// After answering a request whose body we did not read, the connection is closed gently:
/// our side is shut for writing and what the client still sends is read and dropped, for at
/// most this long or [`LINGER_BYTES_MAX`], so its kernel does not answer our response with
/// a reset that discards it before the client reads it.
const LINGER_WAIT: Duration = Duration::from_secs(2);
const LINGER_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// The socket plus its read buffer (`buf[start..end]` is received but not consumed).
pub struct Io {
    pub(super) stream: Stream,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) body_timeout: Duration,
    pub bytes_out: u64,
    /// Where response heads are written (`conn::send`), reused response after response.
    pub(super) head_out: Vec<u8>,
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
        if self.stream.shutdown_write().await.is_err() {
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

/// Where a connection's bytes come from and go to: a socket, or (benches, tests) memory.
pub enum Stream {
    Tcp(TcpStream),
    Memory(MemoryStream),
}

impl Stream {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf).await,
            Stream::Memory(m) => Ok(m.read(buf)),
        }
    }

    async fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(data).await,
            Stream::Memory(m) => {
                m.write(data);
                Ok(())
            }
        }
    }

    /// Only whether it worked matters to the caller.
    async fn shutdown_write(&mut self) -> Result<(), ()> {
        match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write).await.map_err(|_| ()),
            Stream::Memory(_) => Ok(()),
        }
    }
}

/// An in-process connection: the client sends `request` `repeats` times back to back (as
/// pipelined requests), then closes; the server's answers are counted and the first
/// `reply_max` bytes kept in `reply`. Never waits, so a connection over it runs the whole
/// request path without a socket or a timer (the allocation bench drives requests so).
pub struct MemoryStream {
    request: Rc<[u8]>,
    at: usize,
    repeats: u64,
    reply: Rc<RefCell<Vec<u8>>>,
    reply_max: usize,
}

impl MemoryStream {
    /// `reply` is reserved to `reply_max` here, so keeping answers never allocates later.
    pub fn new(
        request: Rc<[u8]>,
        repeats: u64,
        reply: Rc<RefCell<Vec<u8>>>,
        reply_max: usize,
    ) -> MemoryStream {
        {
            let mut r = reply.borrow_mut();
            let len = r.len();
            r.reserve(reply_max.saturating_sub(len));
        }
        MemoryStream {
            // Nothing to send: start at the end.
            at: if repeats == 0 { request.len() } else { 0 },
            request,
            repeats,
            reply,
            reply_max,
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> usize {
        if self.at == self.request.len() {
            if self.repeats <= 1 {
                return 0;
            }
            self.repeats -= 1;
            self.at = 0;
        }
        let n = buf.len().min(self.request.len() - self.at);
        buf[..n].copy_from_slice(&self.request[self.at..self.at + n]);
        self.at += n;
        n
    }

    fn write(&mut self, data: &[u8]) {
        let mut reply = self.reply.borrow_mut();
        let room = self.reply_max.saturating_sub(reply.len());
        reply.extend_from_slice(&data[..data.len().min(room)]);
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

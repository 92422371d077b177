//! A minimal keep-alive HTTP/1.1 client on a tokio `TcpStream` (epoll readiness: one
//! `write` and usually one `read` syscall per small request, as wrk does): write a request, parse the
//! response head with httparse, read the body (Content-Length, chunked, or to close) through
//! one reusable buffer, keeping at most a bounded prefix of it when the caller wants it.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Read buffer per connection; also the unit in which response bodies are discarded.
pub const READ_BUFFER_BYTES: usize = 256 * 1024;
/// Request bodies up to this size are copied behind the head and sent in one write.
const INLINE_BODY_BYTES: usize = 16 * 1024;
/// Largest response head accepted.
const HEAD_BYTES_MAX: usize = 64 * 1024;
/// Most response headers accepted.
const HEADERS_MAX: usize = 64;

/// Why a request got no response.
#[derive(Debug)]
pub enum HttpError {
    Connect(std::io::Error),
    Io(std::io::Error),
    /// The peer closed the connection before the response was complete.
    Closed,
    Protocol(&'static str),
}

impl HttpError {
    /// A short stable label for the error breakdown.
    pub fn label(&self) -> String {
        fn kind(e: &std::io::Error) -> String {
            match e.kind() {
                std::io::ErrorKind::TimedOut => "timeout".into(),
                std::io::ErrorKind::ConnectionRefused => "refused".into(),
                std::io::ErrorKind::ConnectionReset => "reset".into(),
                std::io::ErrorKind::BrokenPipe => "broken pipe".into(),
                k => format!("{k:?}").to_ascii_lowercase(),
            }
        }
        match self {
            HttpError::Connect(e) => format!("connect: {}", kind(e)),
            HttpError::Io(e) => format!("io: {}", kind(e)),
            HttpError::Closed => "closed by server".into(),
            HttpError::Protocol(m) => format!("protocol: {m}"),
        }
    }
}

/// What came back, besides the kept body prefix.
#[derive(Debug, Default, Clone)]
pub struct Response {
    pub status: u16,
    /// Body bytes received (all of them, kept or not).
    pub body_len: u64,
    /// The ETag header, when asked for.
    pub etag: Option<String>,
}

/// How to treat the response body.
pub struct BodySink<'a> {
    /// Where to keep the first `keep_max` body bytes (cleared first); `None` discards.
    pub keep: Option<&'a mut Vec<u8>>,
    pub keep_max: usize,
    /// Keep the body only when the status is not 2xx (error documents).
    pub keep_only_errors: bool,
}

impl BodySink<'_> {
    pub fn discard() -> BodySink<'static> {
        BodySink {
            keep: None,
            keep_max: 0,
            keep_only_errors: false,
        }
    }
}

pub struct Conn {
    addr: SocketAddr,
    timeout: Duration,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// `buf[start..end]` is received and not consumed.
    start: usize,
    end: usize,
    /// Requests answered on the current connection.
    served: u64,
    /// Some response byte arrived for the current request (then it is never retried).
    partial: bool,
    /// Connections opened so far (reconnects after errors or `Connection: close`).
    pub connects: u64,
}

impl Conn {
    pub fn new(addr: SocketAddr, timeout: Duration) -> Conn {
        Conn {
            addr,
            timeout,
            stream: None,
            buf: vec![0u8; READ_BUFFER_BYTES],
            start: 0,
            end: 0,
            served: 0,
            partial: false,
            connects: 0,
        }
    }

    /// Opens the connection now (so the measured phase does not pay for it).
    pub async fn connect(&mut self) -> Result<(), HttpError> {
        if self.stream.is_some() {
            return Ok(());
        }
        let s = match tokio::time::timeout(self.timeout, TcpStream::connect(self.addr)).await {
            Ok(r) => r.map_err(HttpError::Connect)?,
            Err(_) => {
                return Err(HttpError::Connect(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )))
            }
        };
        s.set_nodelay(true).map_err(HttpError::Connect)?;
        self.stream = Some(s);
        self.start = 0;
        self.end = 0;
        self.served = 0;
        self.connects += 1;
        Ok(())
    }

    pub fn close(&mut self) {
        self.stream = None;
        self.start = 0;
        self.end = 0;
    }

    /// Sends `head` (complete, ending in CRLFCRLF) and `body`, and reads the response. A
    /// reused connection the server had already closed is retried once on a new one.
    /// `head_buf` may be extended with the body (small bodies go out in one write).
    pub async fn request(
        &mut self,
        head_buf: &mut Vec<u8>,
        body: &[u8],
        response_has_no_body: bool,
        want_etag: bool,
        sink: &mut BodySink<'_>,
    ) -> Result<Response, HttpError> {
        let inline = body.len() <= INLINE_BODY_BYTES;
        let head_len = head_buf.len();
        if inline {
            head_buf.extend_from_slice(body);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reused = self.stream.is_some() && self.served > 0;
            // One timer-wheel entry per request (no syscall), not one per socket wait.
            let timeout = self.timeout;
            let exchange = self.exchange(
                head_buf,
                if inline { &[] } else { body },
                response_has_no_body,
                want_etag,
                sink,
            );
            let r = match tokio::time::timeout(timeout, exchange).await {
                Ok(r) => r,
                Err(_) => Err(HttpError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "request timed out",
                ))),
            };
            match r {
                Ok(resp) => {
                    head_buf.truncate(head_len);
                    return Ok(resp);
                }
                Err(e) => {
                    self.close();
                    let stale = matches!(e, HttpError::Closed)
                        || matches!(&e, HttpError::Io(io) if matches!(io.kind(),
                            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe));
                    if reused && stale && attempt == 1 && !self.partial {
                        continue;
                    }
                    head_buf.truncate(head_len);
                    return Err(e);
                }
            }
        }
    }

    async fn exchange(
        &mut self,
        head: &[u8],
        body: &[u8],
        response_has_no_body: bool,
        want_etag: bool,
        sink: &mut BodySink<'_>,
    ) -> Result<Response, HttpError> {
        self.partial = false;
        self.connect().await?;
        {
            let s = self.stream.as_mut().ok_or(HttpError::Closed)?;
            s.write_all(head).await.map_err(HttpError::Io)?;
            if !body.is_empty() {
                s.write_all(body).await.map_err(HttpError::Io)?;
            }
        }
        // Head.
        let (mut resp, framing, close) = loop {
            if self.end > self.start {
                let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
                let mut r = httparse::Response::new(&mut headers);
                match r.parse(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete(used)) => {
                        let status = r.code.unwrap_or(0);
                        let mut framing = Framing::ToClose;
                        let mut close = r.version == Some(0);
                        let mut etag = None;
                        for h in r.headers.iter() {
                            if h.name.eq_ignore_ascii_case("content-length") {
                                let v = std::str::from_utf8(h.value)
                                    .ok()
                                    .and_then(|v| v.trim().parse::<u64>().ok())
                                    .ok_or(HttpError::Protocol("bad content-length"))?;
                                framing = Framing::Length(v);
                            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                                if h.value.eq_ignore_ascii_case(b"chunked") {
                                    framing = Framing::Chunked;
                                }
                            } else if h.name.eq_ignore_ascii_case("connection") {
                                close = h.value.eq_ignore_ascii_case(b"close");
                            } else if want_etag && h.name.eq_ignore_ascii_case("etag") {
                                etag = Some(String::from_utf8_lossy(h.value).into_owned());
                            }
                        }
                        self.start += used;
                        if (100..200).contains(&status) {
                            // An interim response (we never send Expect, but be safe).
                            continue;
                        }
                        if response_has_no_body || status == 204 || status == 304 {
                            framing = Framing::Length(0);
                        }
                        break (
                            Response {
                                status,
                                body_len: 0,
                                etag,
                            },
                            framing,
                            close,
                        );
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(_) => return Err(HttpError::Protocol("malformed response head")),
                }
                if self.end - self.start >= HEAD_BYTES_MAX {
                    return Err(HttpError::Protocol("response head too large"));
                }
            }
            self.fill().await?;
        };
        let keep_body =
            sink.keep.is_some() && (!sink.keep_only_errors || !(200..300).contains(&resp.status));
        if let Some(k) = sink.keep.as_deref_mut() {
            k.clear();
        }
        let keep_max = if keep_body { sink.keep_max } else { 0 };
        let mut keep = sink.keep.as_deref_mut();
        match framing {
            Framing::Length(n) => {
                resp.body_len = self.read_exact_body(n, &mut keep, keep_max).await?;
            }
            Framing::Chunked => {
                resp.body_len = self.read_chunked_body(&mut keep, keep_max).await?;
            }
            Framing::ToClose => {
                let mut total = 0u64;
                loop {
                    let avail = self.end - self.start;
                    if avail > 0 {
                        self.take(avail, &mut keep, keep_max);
                        total += avail as u64;
                    }
                    match self.fill().await {
                        Ok(_) => {}
                        Err(HttpError::Closed) => break,
                        Err(e) => return Err(e),
                    }
                }
                resp.body_len = total;
                self.close();
                return Ok(resp);
            }
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else {
            // Bytes the server sent past the response: it is out of step with us.
            self.close();
            return Err(HttpError::Protocol("bytes after the response body"));
        }
        self.served += 1;
        if close {
            self.close();
        }
        Ok(resp)
    }

    /// Reads more bytes after `end`, compacting first when the buffer is full.
    async fn fill(&mut self) -> Result<usize, HttpError> {
        if self.end == self.buf.len() {
            if self.start == 0 {
                return Err(HttpError::Protocol("read buffer full"));
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let s = self.stream.as_mut().ok_or(HttpError::Closed)?;
        let n = s
            .read(&mut self.buf[self.end..])
            .await
            .map_err(HttpError::Io)?;
        if n == 0 {
            return Err(HttpError::Closed);
        }
        self.partial = true;
        self.end += n;
        Ok(n)
    }

    /// Consumes `n` buffered bytes, keeping what fits.
    fn take(&mut self, n: usize, keep: &mut Option<&mut Vec<u8>>, keep_max: usize) {
        if let Some(k) = keep.as_deref_mut() {
            let room = keep_max.saturating_sub(k.len()).min(n);
            k.extend_from_slice(&self.buf[self.start..self.start + room]);
        }
        self.start += n;
    }

    async fn read_exact_body(
        &mut self,
        n: u64,
        keep: &mut Option<&mut Vec<u8>>,
        keep_max: usize,
    ) -> Result<u64, HttpError> {
        let mut remaining = n;
        while remaining > 0 {
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
                // Read no further than this body so the buffer never holds the next response.
                let want = remaining.min(self.buf.len() as u64) as usize;
                let s = self.stream.as_mut().ok_or(HttpError::Closed)?;
                let got = s.read(&mut self.buf[..want]).await.map_err(HttpError::Io)?;
                if got == 0 {
                    return Err(HttpError::Closed);
                }
                self.end = got;
            }
            let avail = ((self.end - self.start) as u64).min(remaining) as usize;
            self.take(avail, keep, keep_max);
            remaining -= avail as u64;
        }
        Ok(n)
    }

    async fn read_chunked_body(
        &mut self,
        keep: &mut Option<&mut Vec<u8>>,
        keep_max: usize,
    ) -> Result<u64, HttpError> {
        let mut total = 0u64;
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        self.start += used;
                        break size;
                    }
                    Ok(httparse::Status::Partial) => {
                        self.fill().await?;
                    }
                    Err(_) => return Err(HttpError::Protocol("bad chunk size")),
                }
            };
            if size == 0 {
                // Trailers: lines until an empty one.
                loop {
                    match find_crlf(&self.buf[self.start..self.end]) {
                        Some(0) => {
                            self.start += 2;
                            return Ok(total);
                        }
                        Some(i) => self.start += i + 2,
                        None => {
                            self.fill().await?;
                        }
                    }
                }
            }
            total += self.read_exact_body(size, keep, keep_max).await?;
            while self.end - self.start < 2 {
                self.fill().await?;
            }
            if &self.buf[self.start..self.start + 2] != b"\r\n" {
                return Err(HttpError::Protocol("chunk not followed by CRLF"));
            }
            self.start += 2;
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

enum Framing {
    Length(u64),
    Chunked,
    ToClose,
}

//! One HTTP/1.1 connection: read a head, hand the request to the service, write the answer,
//! repeat. Pipelined requests are answered in order because bytes past one request stay in
//! the read buffer for the next. Every wait has a deadline and every buffer a bound.

use super::body::{BodyReader, Framing};
use super::head::{Method, OpaqueHeader, RequestHead};
use super::io::{Io, Stream};
use super::response::{write_head, Body, Response};
use crate::error::{ErrorCode, S3Error, S3Result};
use std::net::SocketAddr;
use std::time::Duration;

/// Limits on what one connection may send.
#[derive(Debug, Clone)]
pub struct Limits {
    pub head_bytes_max: usize,
    pub header_count_max: usize,
    pub idle_timeout_ms: u64,
    pub header_timeout_ms: u64,
    pub body_timeout_ms: u64,
}

/// Unread body left after a response that we still read to keep the connection; beyond
/// this the connection is closed instead.
const DRAIN_BYTES_MAX: u64 = 256 * 1024;
/// How long that drain may wait for the client's bytes before the connection is closed.
const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// Read buffer: big enough for any allowed head plus some pipelined bytes.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// A response head (and a small body sent with it) is written into one buffer per
/// connection, reused: it starts this big...
const HEAD_OUT_BYTES: usize = 8 * 1024;
/// ... and is kept after a response only while no bigger than this (an in-memory body of
/// a few MiB must not stay pinned to an idle connection).
const HEAD_OUT_KEEP_BYTES: usize = 128 * 1024;

/// The buffers one open connection may hold between requests: its read buffer and its
/// response head buffer at the size it is kept at (for the memory accounting in /metrics).
pub fn connection_buffer_bytes(head_bytes_max: usize) -> u64 {
    (READ_BUFFER_BYTES.max(head_bytes_max + 1) + HEAD_OUT_KEEP_BYTES) as u64
}

pub struct Request<'c> {
    pub head: RequestHead,
    pub body: BodyReader<'c>,
    pub remote: SocketAddr,
}

/// The application: turns a request into a response. Errors are responses too.
pub trait Service {
    /// Not boxed: `serve` is generic over the service, so the request's future lives inside
    /// the connection's (one allocation per connection, none per request).
    fn call<'a, 'c: 'a>(
        &'a self,
        req: &'a mut Request<'c>,
    ) -> impl std::future::Future<Output = Response> + 'a;
    /// The response for a request that could not be parsed.
    fn reject(&self, err: S3Error) -> Response;
    /// Called once per answered request (metrics, access log).
    fn finished(&self, _done: &Finished<'_>) {}
}

/// What happened to one request, for metrics and the access log.
pub struct Finished<'a> {
    pub head: &'a RequestHead,
    /// The response's `x-amz-request-id`, for the access log.
    pub request_id: &'a str,
    pub remote: SocketAddr,
    pub status: u16,
    pub label: &'static str,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub started: std::time::Instant,
}

enum HeadOutcome {
    Head(RequestHead),
    Closed,
    Invalid(S3Error),
}

/// Serves one connection until it closes, errs or times out.
pub async fn serve<S: Service>(stream: Stream, remote: SocketAddr, limits: &Limits, service: &S) {
    if let Stream::Tcp(s) = &stream {
        let _ = s.set_nodelay(true);
    }
    let mut io = Io {
        stream,
        buf: vec![0u8; READ_BUFFER_BYTES.max(limits.head_bytes_max + 1)],
        start: 0,
        end: 0,
        body_timeout: Duration::from_millis(limits.body_timeout_ms),
        bytes_out: 0,
        head_out: Vec::with_capacity(HEAD_OUT_BYTES),
    };
    // The previous request's head: its strings are reused for the next one.
    let mut spare = None;
    loop {
        let head = match read_head(&mut io, limits, &mut spare).await {
            HeadOutcome::Head(h) => h,
            HeadOutcome::Closed => return,
            HeadOutcome::Invalid(err) => {
                let mut resp = service.reject(err);
                let _ = send(&mut io, &mut resp, false, false).await;
                return;
            }
        };
        let started = std::time::Instant::now();
        if head.version_minor == 1 && head.header("host").is_none() {
            let mut resp = service.reject(S3Error::msg(
                ErrorCode::InvalidRequest,
                "HTTP/1.1 requests must carry a Host header.",
            ));
            let _ = send(&mut io, &mut resp, false, false).await;
            return;
        }
        let framing = match framing(&head) {
            Ok(f) => f,
            Err(err) => {
                let mut resp = service.reject(err);
                let _ = send(&mut io, &mut resp, false, false).await;
                return;
            }
        };
        let wants_close = wants_close(&head);
        let expect = head
            .header("expect")
            .map(|v| v.eq_ignore_ascii_case("100-continue"))
            .unwrap_or(false);
        io.bytes_out = 0;
        let mut req = Request {
            head,
            body: BodyReader::new(&mut io, framing, expect),
            remote,
        };
        let mut resp = service.call(&mut req).await;
        // A body the handler did not read: drain a little, otherwise give up the connection.
        let mut keep = !wants_close;
        let mut interim_continue = false;
        if req.body.continue_pending() {
            if req.body.is_done() {
                // An empty body the client announced with Expect: still say 100 Continue
                // first: some clients (botocore in aws-cli v1) misread the connection's next
                // response if a final status answers an Expect request directly.
                interim_continue = true;
            } else {
                keep = false;
            }
        } else if !req.body.is_done() {
            keep = keep && req.body.drain(DRAIN_BYTES_MAX, DRAIN_WAIT).await;
        }
        let linger = !req.body.is_done() && !req.body.failed() && !req.body.continue_pending();
        let bytes_in = req.body.received;
        let Request { head, .. } = req;
        let (status, label) = (resp.status, resp.label);
        let is_head = head.method == Method::Head;
        if interim_continue
            && io
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        let ok = send(&mut io, &mut resp, keep, is_head).await;
        let bytes_out = io.bytes_out;
        let request_id = resp
            .headers
            .iter()
            .find(|(n, _)| n == "x-amz-request-id")
            .map(|(_, v)| v.as_ref())
            .unwrap_or_default();
        service.finished(&Finished {
            head: &head,
            request_id,
            remote,
            status,
            label,
            bytes_in,
            bytes_out,
            started,
        });
        spare = Some(head);
        if !ok || !keep {
            if ok && linger {
                io.linger_close().await;
            }
            return;
        }
    }
}

async fn read_head(io: &mut Io, limits: &Limits, spare: &mut Option<RequestHead>) -> HeadOutcome {
    let idle = Duration::from_millis(limits.idle_timeout_ms);
    let header_timeout = Duration::from_millis(limits.header_timeout_ms);
    // The header deadline runs from the head's first byte, not from the start of the wait:
    // a keep-alive connection may idle (up to `idle`) before its next request begins.
    let started = |io: &Io| (io.end > io.start).then(std::time::Instant::now);
    let mut header_deadline = started(io).map(|t| t + header_timeout);
    loop {
        if io.end > io.start {
            match parse_head_reusing(io.buffered(), limits, spare) {
                Ok(Some((head, used))) => {
                    io.consume(used);
                    return HeadOutcome::Head(head);
                }
                Ok(None) => {
                    if io.end - io.start > limits.head_bytes_max {
                        return HeadOutcome::Invalid(S3Error::new(
                            ErrorCode::RequestHeaderSectionTooLarge,
                        ));
                    }
                }
                Err(e) => return HeadOutcome::Invalid(e),
            }
        }
        // Before the first byte the idle timeout applies; once a head has begun, the
        // (shorter) header deadline does, so a trickling client cannot hold the slot.
        let wait = match header_deadline {
            None => idle,
            Some(d) => d.saturating_duration_since(std::time::Instant::now()),
        };
        if wait.is_zero() {
            return HeadOutcome::Invalid(S3Error::new(ErrorCode::RequestTimeout));
        }
        match io.fill(wait).await {
            Ok(0) => return HeadOutcome::Closed,
            Ok(_) => {
                if header_deadline.is_none() {
                    header_deadline = started(io).map(|t| t + header_timeout);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut && io.end > io.start => {
                return HeadOutcome::Invalid(S3Error::new(ErrorCode::RequestTimeout));
            }
            Err(_) => return HeadOutcome::Closed,
        }
    }
}

/// Parses a complete head from `bytes`; Ok(None) when more bytes are needed.
pub fn parse_head(bytes: &[u8], limits: &Limits) -> S3Result<Option<(RequestHead, usize)>> {
    parse_head_reusing(bytes, limits, &mut None)
}

/// Header slots httparse gets on the stack; a configured `header_count_max` above it gets
/// them on the heap.
const STACK_HEADERS: usize = 128;

/// [`parse_head`] into `spare`'s strings and vectors when there is one (the previous
/// request's head on this connection), so a connection's requests after its first cost no
/// allocation for their heads unless one is bigger than all before it.
fn parse_head_reusing(
    bytes: &[u8],
    limits: &Limits,
    spare: &mut Option<RequestHead>,
) -> S3Result<Option<(RequestHead, usize)>> {
    let mut on_stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    let mut on_heap = Vec::new();
    let headers = if limits.header_count_max <= STACK_HEADERS {
        &mut on_stack[..limits.header_count_max]
    } else {
        on_heap.resize(limits.header_count_max, httparse::EMPTY_HEADER);
        &mut on_heap[..]
    };
    let mut req = httparse::Request::new(headers);
    let used = match req.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if bytes.len() > limits.head_bytes_max {
                return Err(S3Error::new(ErrorCode::RequestHeaderSectionTooLarge));
            }
            return Ok(None);
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(S3Error::msg(
                ErrorCode::RequestHeaderSectionTooLarge,
                "Too many request headers.",
            ))
        }
        Err(e) => {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                format!("Malformed HTTP request: {e}"),
            ))
        }
    };
    if used > limits.head_bytes_max {
        return Err(S3Error::new(ErrorCode::RequestHeaderSectionTooLarge));
    }
    // httparse tolerates a bare LF as a line end; a proxy in front may not, and then the two
    // of us disagree about where the head ends (RFC 9112 §2.2 lets a server refuse it).
    if has_bare_lf(&bytes[..used]) {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Malformed HTTP request: a line ends with LF without CR.",
        ));
    }
    let target = req.path.unwrap_or("");
    if !target.starts_with('/') {
        return Err(S3Error::new(ErrorCode::InvalidURI));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut head = spare.take().unwrap_or_else(RequestHead::empty);
    let method_raw = req.method.unwrap_or("");
    head.method = Method::parse(method_raw);
    set(&mut head.method_raw, method_raw);
    set(&mut head.path, path);
    set(&mut head.query, query);
    head.version_minor = req.version.unwrap_or(1);
    head.opaque.clear();
    let mut texts = 0;
    for h in req.headers.iter() {
        let value = trim_ows(h.value);
        match std::str::from_utf8(value) {
            Ok(text) => {
                if texts == head.headers.len() {
                    head.headers.push((String::new(), String::new()));
                }
                let (name, slot) = &mut head.headers[texts];
                set(name, h.name);
                name.make_ascii_lowercase();
                set(slot, text);
                texts += 1;
            }
            // obs-text (RFC 9110 §5.5) is allowed on the wire; user metadata keeps it as
            // bytes. Every other header is read as text, so it is refused there.
            Err(_) if is_user_metadata(h.name) => head.opaque.push(OpaqueHeader {
                at: texts,
                name: h.name.to_ascii_lowercase(),
                value: value.to_vec(),
            }),
            Err(_) => {
                return Err(S3Error::msg(
                    ErrorCode::InvalidArgument,
                    format!("Header {} is not valid UTF-8", h.name),
                ))
            }
        }
    }
    head.headers.truncate(texts);
    Ok(Some((head, used)))
}

/// Makes `slot` hold `text`, in the room it already has when that is enough.
fn set(slot: &mut String, text: &str) {
    slot.clear();
    slot.push_str(text);
}

/// An `x-amz-meta-*` header name, in any case.
fn is_user_metadata(name: &str) -> bool {
    name.as_bytes()
        .get(..11)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"x-amz-meta-"))
}

/// A field value without the optional whitespace (SP / HTAB) around it; nothing else is
/// trimmed, so a value's own bytes (a UTF-8 or latin-1 no-break space) are kept.
fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Whether any LF in `bytes` is not preceded by CR.
fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// How the body is delimited, with RFC 9112's strict choices: one Transfer-Encoding header
/// whose only coding is `chunked`, or one Content-Length of plain digits, never both. A
/// front proxy that reads the head another way could otherwise smuggle a second request.
fn framing(head: &RequestHead) -> S3Result<Framing> {
    if head.header_all("transfer-encoding").count() > 1 {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Repeated Transfer-Encoding",
        ));
    }
    let te = head.header("transfer-encoding");
    let cl = head.header("content-length");
    match (te, cl) {
        (Some(te), None) if te.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
        (Some(_), None) => {
            Err(S3Error::new(ErrorCode::NotImplemented).with("Header", "Transfer-Encoding"))
        }
        (Some(_), Some(_)) => Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Both Transfer-Encoding and Content-Length",
        )),
        (None, Some(v)) => {
            if head.header_all("content-length").count() > 1 {
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    "Repeated Content-Length",
                ));
            }
            let n: u64 = v
                .parse()
                .ok()
                .filter(|_| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    S3Error::invalid_argument("Invalid Content-Length", "Content-Length", v)
                })?;
            Ok(Framing::Length(n))
        }
        (None, None) => Ok(Framing::None),
    }
}

fn wants_close(head: &RequestHead) -> bool {
    match head.header("connection") {
        Some(v) if v.eq_ignore_ascii_case("close") => true,
        Some(v) if v.eq_ignore_ascii_case("keep-alive") => false,
        _ => head.version_minor == 0,
    }
}

/// Writes a response (taking its body); false if the connection must not be reused.
async fn send(io: &mut Io, resp: &mut Response, keep_alive: bool, head_only: bool) -> bool {
    // The connection's head buffer, lent out for this response and given back after it.
    let mut out = std::mem::take(&mut io.head_out);
    out.clear();
    let ok = send_with(io, resp, keep_alive, head_only, &mut out).await;
    if out.capacity() <= HEAD_OUT_KEEP_BYTES {
        io.head_out = out;
    }
    ok
}

async fn send_with(
    io: &mut Io,
    resp: &mut Response,
    keep_alive: bool,
    head_only: bool,
    out: &mut Vec<u8>,
) -> bool {
    let head_only = head_only || resp.head_only;
    write_head(resp, keep_alive, out);
    match std::mem::replace(&mut resp.body, Body::Empty) {
        Body::Stream { len, mut stream } => {
            if io.write_all(out).await.is_err() {
                return false;
            }
            if head_only {
                return true;
            }
            let mut sent = 0u64;
            loop {
                match stream.next_chunk().await {
                    Ok(Some(chunk)) => {
                        if io.write_all(&chunk).await.is_err() {
                            return false;
                        }
                        sent += chunk.len() as u64;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // Headers are gone already: the only honest signal left is to cut
                        // the connection short of Content-Length.
                        tracing::error!(error = %e, "body stream failed mid-response");
                        return false;
                    }
                }
            }
            sent == len
        }
        Body::Chunked(mut stream) => {
            if io.write_all(out).await.is_err() {
                return false;
            }
            if head_only {
                return true;
            }
            loop {
                match stream.next_chunk().await {
                    Ok(Some(chunk)) if chunk.is_empty() => {}
                    Ok(Some(chunk)) => {
                        // One write per chunk: chunked bodies are small (keep-alive whitespace
                        // and a closing document), so the copy costs less than three writes.
                        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
                        frame.extend_from_slice(&chunk);
                        frame.extend_from_slice(b"\r\n");
                        if io.write_all(&frame).await.is_err() {
                            return false;
                        }
                    }
                    Ok(None) => return io.write_all(b"0\r\n\r\n").await.is_ok(),
                    Err(e) => {
                        // No last chunk: the client sees the body cut short.
                        tracing::error!(error = %e, "chunked body stream failed mid-response");
                        return false;
                    }
                }
            }
        }
        in_memory => {
            if !head_only {
                // Built through `Body::shared`, which checked the range: never None here.
                out.extend_from_slice(in_memory.in_memory().unwrap_or_default());
            }
            io.write_all(out).await.is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            head_bytes_max: 16 * 1024,
            header_count_max: 64,
            idle_timeout_ms: 1000,
            header_timeout_ms: 1000,
            body_timeout_ms: 1000,
        }
    }

    #[test]
    fn parses_complete_head_and_reports_used_bytes() {
        let raw = b"PUT /b/k%20x?uploads&a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
        let (h, used) = parse_head(raw, &limits()).unwrap().unwrap();
        assert_eq!(h.method, Method::Put);
        assert_eq!(h.path, "/b/k%20x");
        assert_eq!(h.query, "uploads&a=1");
        assert_eq!(h.header("content-length"), Some("3"));
        assert_eq!(&raw[used..], b"abc");
    }

    #[test]
    fn partial_head_needs_more() {
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost:", &limits())
            .unwrap()
            .is_none());
    }

    #[test]
    fn oversized_and_malformed_heads_are_errors() {
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 20 * 1024));
        assert_eq!(
            parse_head(&big, &limits()).unwrap_err().code,
            ErrorCode::RequestHeaderSectionTooLarge
        );
        assert!(parse_head(b"GET\x01 / HTTP/1.1\r\n\r\n", &limits()).is_err());
        assert!(parse_head(b"GET nopath HTTP/1.1\r\n\r\n", &limits()).is_err());
    }

    fn framing_of(raw: &[u8]) -> S3Result<Framing> {
        let (h, _) = parse_head(raw, &limits())?.expect("complete head");
        framing(&h)
    }

    #[test]
    fn lenient_framing_is_refused() {
        let bad: [&[u8]; 6] = [
            b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
            b"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
            b"PUT /b/k HTTP/1.1\nHost: h\nContent-Length: 5\n\n",
        ];
        for raw in bad {
            assert!(framing_of(raw).is_err(), "{}", String::from_utf8_lossy(raw));
        }
        let ok = framing_of(b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n");
        assert!(matches!(ok, Ok(Framing::Length(5))));
        let chunked =
            framing_of(b"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n");
        assert!(matches!(chunked, Ok(Framing::Chunked)));
    }

    #[test]
    fn obs_text_is_kept_as_bytes_for_user_metadata_only() {
        let raw = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nx-amz-meta-a: caf\xe9 \r\n\
                    X-Amz-Meta-B: \xc3\xa9\xc2\xa0\r\n\r\n";
        let (h, _) = parse_head(raw, &limits()).unwrap().unwrap();
        // valid UTF-8 stays text, with its own trailing no-break space
        assert_eq!(h.header("x-amz-meta-b"), Some("\u{e9}\u{a0}"));
        assert_eq!(h.header("x-amz-meta-a"), None);
        assert_eq!(
            h.opaque,
            [OpaqueHeader {
                at: 1,
                name: "x-amz-meta-a".into(),
                value: b"caf\xe9".to_vec(),
            }]
        );
        let refused = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Type: caf\xe9\r\n\r\n";
        assert!(parse_head(refused, &limits()).is_err());
        let control = b"PUT /b/k HTTP/1.1\r\nHost: h\r\nx-amz-meta-a: a\x01b\r\n\r\n";
        assert!(parse_head(control, &limits()).is_err());
    }

    #[test]
    fn too_many_headers_is_an_error() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..100 {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert!(parse_head(&raw, &limits()).is_err());
    }
}

//! Responses: status, headers and a body that is empty, in memory, or streamed.

use crate::hash::stack_str::StackStr;
use futures::future::LocalBoxFuture;
use std::borrow::Cow;

/// A piece of a streamed body: any buffer, e.g. a DMA read result sent without a copy.
pub type Chunk = Box<dyn std::ops::Deref<Target = [u8]>>;

/// A source of body chunks, pulled by the connection as the socket accepts them, so a slow
/// reader holds at most the chunks in flight, never the object.
pub trait BodyStream {
    fn next_chunk(&mut self) -> LocalBoxFuture<'_, std::io::Result<Option<Chunk>>>;
}

/// Bytes kept alive by an owner the response shares (an inline object's record from the
/// core's record cache): sent without a copy or an allocation.
pub trait SharedBytes {
    fn shared_bytes(&self) -> &[u8];
}

pub enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// `range` of the owner's bytes (within them: checked when built, see `Body::shared`).
    Shared {
        owner: std::rc::Rc<dyn SharedBytes>,
        range: std::ops::Range<usize>,
    },
    Stream {
        len: u64,
        stream: Box<dyn BodyStream>,
    },
    /// A body of unknown length, sent with `Transfer-Encoding: chunked` (HTTP/1.1 only):
    /// an answer that starts before its end is known, e.g. one kept alive with whitespace.
    Chunked(Box<dyn BodyStream>),
}

impl Body {
    /// `range` of `owner`'s bytes; None when the range is not within them.
    pub fn shared(
        owner: std::rc::Rc<dyn SharedBytes>,
        range: std::ops::Range<usize>,
    ) -> Option<Body> {
        owner.shared_bytes().get(range.clone())?;
        Some(Body::Shared { owner, range })
    }

    /// The bytes of an in-memory body (None for streams).
    pub fn in_memory(&self) -> Option<&[u8]> {
        match self {
            Body::Empty => Some(&[]),
            Body::Bytes(b) => Some(b),
            Body::Shared { owner, range } => owner.shared_bytes().get(range.clone()),
            Body::Stream { .. } | Body::Chunked(_) => None,
        }
    }
}

/// Headers a response has room for from the start (a GET of an object carries ~12).
const RESPONSE_HEADERS: usize = 16;

/// A response header's value: short ones inline (no allocation), longer ones owned.
pub type HeaderValue = crate::hash::stack_str::SmallString;

pub struct Response {
    pub status: u16,
    pub headers: Headers,
    /// Headers whose value is bytes, not necessarily UTF-8 (user metadata as it was sent);
    /// written after `headers`.
    pub headers_bytes: Vec<(Cow<'static, str>, Vec<u8>)>,
    pub body: Body,
    /// HEAD: headers describe a body that is not sent (Content-Length is set by the handler).
    pub head_only: bool,
    /// What the application calls this request (metrics and access-log label).
    pub label: &'static str,
}

type Headers = Vec<(Cow<'static, str>, HeaderValue)>;

/// Header lists a core keeps for the next responses (each ~1.7 KiB): as many as it usually
/// has answers in flight.
const HEADER_LISTS_KEPT: usize = 64;

thread_local! {
    /// Emptied header lists of dropped responses: a response takes one instead of asking
    /// the allocator.
    static HEADER_LISTS: std::cell::RefCell<Vec<Headers>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn header_list() -> Headers {
    HEADER_LISTS
        .with(|l| l.borrow_mut().pop())
        // Room for an object's usual headers at once, not grown (and copied) 4, 8, 16.
        .unwrap_or_else(|| Vec::with_capacity(RESPONSE_HEADERS))
}

impl Drop for Response {
    fn drop(&mut self) {
        let mut list = std::mem::take(&mut self.headers);
        if list.capacity() != RESPONSE_HEADERS {
            return; // grown past the usual (or never allocated): not worth keeping
        }
        list.clear();
        // `try_with`: a response dropped while the thread exits just frees its list.
        let _ = HEADER_LISTS.try_with(|l| {
            let mut l = l.borrow_mut();
            if l.len() < HEADER_LISTS_KEPT {
                l.push(list);
            }
        });
    }
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: header_list(),
            headers_bytes: Vec::new(),
            body: Body::Empty,
            head_only: false,
            label: "",
        }
    }
    pub fn xml(status: u16, xml: String) -> Response {
        let mut r = Response::new(status);
        r.header("content-type", "application/xml");
        r.body = Body::Bytes(xml.into_bytes());
        r
    }
    pub fn header(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: impl Into<HeaderValue>,
    ) -> &mut Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// A header whose value is written as these exact bytes (obs-text included).
    pub fn header_bytes(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        value: Vec<u8>,
    ) -> &mut Self {
        self.headers_bytes.push((name.into(), value));
        self
    }
    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }
}

pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        416 => "Requested Range Not Satisfiable",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

/// Serializes the status line and headers, adding the framing header the body needs.
pub fn write_head(resp: &Response, keep_alive: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(StackStr::<8>::decimal(u64::from(resp.status)).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let text = resp.headers.iter().map(|(n, v)| (n, v.as_bytes()));
    let bytes = resp.headers_bytes.iter().map(|(n, v)| (n, v.as_slice()));
    for (n, v) in text.chain(bytes) {
        // The request side refuses control characters in anything echoed into a header;
        // this is the second line: a header that still carries one is dropped, never
        // written, so no value can end the head early or add a header of its own.
        if !is_header_safe(n) || !is_value_safe(v) {
            debug_assert!(false, "control character in response header {n}");
            tracing::error!(header = %n, "response header with a control character dropped");
            continue;
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    }
    let no_body_status = resp.status == 204 || resp.status == 304 || resp.status < 200;
    if matches!(resp.body, Body::Chunked(_)) {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    } else if !no_body_status && !resp.has_header("content-length") {
        let len = match &resp.body {
            Body::Empty | Body::Chunked(_) => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Shared { range, .. } => range.len() as u64,
            Body::Stream { len, .. } => *len,
        };
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(StackStr::<24>::decimal(len).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether a header name or value may be written as is: no control character but HTAB
/// (RFC 9110 field-value; CR and LF would split the head).
pub fn is_header_safe(s: &str) -> bool {
    is_value_safe(s.as_bytes())
}

/// [`is_header_safe`] on bytes: obs-text (0x80–0xFF) is allowed, as RFC 9110 allows it.
fn is_value_safe(v: &[u8]) -> bool {
    v.iter().all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_safety() {
        assert!(is_header_safe("text/plain; charset=utf-8"));
        assert!(is_header_safe("a\tb"));
        assert!(is_header_safe("caf\u{e9}"));
        assert!(!is_header_safe("text/plain\r\nSet-Cookie: a=b"));
        assert!(!is_header_safe("a\nb"));
        assert!(!is_header_safe("a\u{0}b"));
        assert!(!is_header_safe("a\u{7f}b"));
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn unsafe_header_is_never_written() {
        let mut r = Response::new(200);
        r.header("content-type", "text/plain\r\nSet-Cookie: a=b");
        r.header("x-ok", "1");
        let mut out = Vec::new();
        write_head(&r, true, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains("Set-Cookie"));
        assert!(s.contains("x-ok: 1\r\n"));
    }

    struct Owner(Vec<u8>);
    impl SharedBytes for Owner {
        fn shared_bytes(&self) -> &[u8] {
            &self.0
        }
    }

    #[test]
    fn a_shared_body_is_a_checked_range_of_its_owner() {
        let owner = std::rc::Rc::new(Owner(b"0123456789".to_vec()));
        let body = Body::shared(owner.clone(), 2..5).unwrap();
        assert_eq!(body.in_memory(), Some(&b"234"[..]));
        assert!(Body::shared(owner.clone(), 8..11).is_none(), "past the end");
        let mut r = Response::new(200);
        r.body = Body::shared(owner, 0..10).unwrap();
        let mut out = Vec::new();
        write_head(&r, true, &mut out);
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("content-length: 10\r\n"));
    }

    #[test]
    fn byte_values_are_written_as_sent() {
        let mut r = Response::new(200);
        r.header("x-a", "1");
        r.header_bytes("x-amz-meta-l", b"caf\xe9".to_vec());
        r.header_bytes("x-amz-meta-u", "café".as_bytes().to_vec());
        let mut out = Vec::new();
        write_head(&r, true, &mut out);
        let text = b"x-a: 1\r\nx-amz-meta-l: caf\xe9\r\nx-amz-meta-u: caf\xc3\xa9\r\n";
        assert!(out.windows(text.len()).any(|w| w == text));
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn byte_values_with_control_characters_are_dropped() {
        let mut r = Response::new(200);
        r.header_bytes("x-amz-meta-a", b"a\r\nSet-Cookie: b".to_vec());
        let mut out = Vec::new();
        write_head(&r, true, &mut out);
        assert!(!out.windows(10).any(|w| w == b"Set-Cookie"));
    }

    #[test]
    fn head_has_length_and_close() {
        let mut r = Response::new(200);
        r.header("x-a", "1");
        r.body = Body::Bytes(b"hello".to_vec());
        let mut out = Vec::new();
        write_head(&r, false, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("x-a: 1\r\n"));
        assert!(s.contains("content-length: 5\r\n"));
        assert!(s.contains("connection: close\r\n"));
        assert!(s.ends_with("\r\n\r\n"));
    }

    #[test]
    fn chunked_body_is_framed_as_chunked_without_length() {
        struct Nothing;
        impl BodyStream for Nothing {
            fn next_chunk(&mut self) -> LocalBoxFuture<'_, std::io::Result<Option<Chunk>>> {
                Box::pin(async { Ok(None) })
            }
        }
        let mut r = Response::new(200);
        r.body = Body::Chunked(Box::new(Nothing));
        let mut out = Vec::new();
        write_head(&r, true, &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("transfer-encoding: chunked\r\n"));
        assert!(!s.contains("content-length"));
    }

    #[test]
    fn no_content_has_no_length() {
        let r = Response::new(204);
        let mut out = Vec::new();
        write_head(&r, true, &mut out);
        assert!(!String::from_utf8(out).unwrap().contains("content-length"));
    }
}

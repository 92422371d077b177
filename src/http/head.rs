//! The parsed head of one HTTP/1.1 request: method, target, headers.
//!
//! Header names are lower-cased once at parse time so every later lookup is a plain compare.

use crate::hash::stack_str::{SmallString, SMALL_STRING_INLINE_MAX};

/// HTTP methods S3 uses; anything else is kept so the router can answer MethodNotAllowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Options,
    Other,
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "PUT" => Method::Put,
            "POST" => Method::Post,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Put => "PUT",
            Method::Post => "POST",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other => "OTHER",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    /// The method exactly as sent (SigV4 signs it verbatim).
    pub method_raw: String,
    /// The path part of the request target, still percent-encoded, exactly as sent.
    pub path: String,
    /// The query part of the request target (without `?`), still percent-encoded.
    pub query: String,
    /// Headers in arrival order; names lower-cased, values trimmed. Only values that are valid
    /// UTF-8; the others are in `opaque`.
    pub headers: Vec<(String, String)>,
    /// `x-amz-meta-*` headers whose value is not valid UTF-8 (obs-text, e.g. latin-1 from
    /// python's http.client), kept as the bytes received. Kept apart so nothing that reads a
    /// header as text meets them; [`RequestHead::headers_bytes`] sees both lists in arrival
    /// order (signatures and user metadata need that).
    pub opaque: Vec<OpaqueHeader>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
}

/// A header whose value is not valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueHeader {
    /// How many `headers` arrived before it.
    pub at: usize,
    /// Lower-cased.
    pub name: String,
    /// Trimmed of SP / HTAB.
    pub value: Vec<u8>,
}

impl RequestHead {
    /// A head with nothing in it, to parse into.
    pub fn empty() -> RequestHead {
        RequestHead {
            method: Method::Other,
            method_raw: String::new(),
            path: String::new(),
            query: String::new(),
            headers: Vec::new(),
            opaque: Vec::new(),
            version_minor: 1,
        }
    }

    /// Every header in arrival order with its value as bytes, opaque ones included.
    pub fn headers_bytes(&self) -> impl Iterator<Item = (&str, &[u8])> + Clone + '_ {
        let mut opaque = self.opaque.iter().peekable();
        let mut text = self.headers.iter().enumerate().peekable();
        std::iter::from_fn(move || {
            let next_text = text.peek().map(|(i, _)| *i).unwrap_or(usize::MAX);
            if let Some(o) = opaque.next_if(|o| o.at <= next_text) {
                return Some((o.name.as_str(), o.value.as_slice()));
            }
            text.next().map(|(_, (n, v))| (n.as_str(), v.as_bytes()))
        })
    }

    /// The head as a client that sent latin-1 but signed UTF-8 meant it (python's
    /// http.client encodes `str` header values as latin-1 while botocore and other python
    /// signers hash their UTF-8): every opaque value read byte by byte as U+0000–U+00FF and
    /// put back among `headers` in arrival order. None when there is no opaque header.
    pub fn latin1_reading(&self) -> Option<RequestHead> {
        if self.opaque.is_empty() {
            return None;
        }
        let headers = self
            .headers_bytes()
            .map(|(n, v)| (n.to_string(), v.iter().map(|&b| char::from(b)).collect()))
            .collect();
        Some(RequestHead {
            headers,
            opaque: Vec::new(),
            ..self.clone()
        })
    }

    /// The first value of a header (name must be lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header, in order (name must be lower-case).
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters in order; a parameter without `=` has an empty value.
    pub fn query_pairs(&self) -> QueryPairs {
        parse_query(&self.query)
    }
}

/// The host of a Host header value without its port; an IPv6 literal keeps its brackets
/// (a bracket never closed is kept whole: it names no bucket either way).
pub fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..end + 1],
            None => host,
        };
    }
    host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
}

/// Splits and percent-decodes a query string (`+` is a space, as in form encoding).
pub fn parse_query(query: &str) -> QueryPairs {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

/// One decoded query parameter: (name, value), each inline when short.
pub type QueryPair = (SmallString, SmallString);

/// A request's decoded query parameters, in order: the first 8 inline (a presigned URL
/// carries 7), so parsing a usual query allocates nothing.
pub type QueryPairs = smallvec::SmallVec<[QueryPair; 8]>;

/// Percent-decodes one query component (`+` is a space); invalid UTF-8 is replaced rather
/// than rejected. Decoded on the stack when it fits a `SmallString`, else into one heap
/// buffer that becomes the string.
pub fn decode_component(s: &str) -> SmallString {
    let mut buf: smallvec::SmallVec<[u8; SMALL_STRING_INLINE_MAX]> = smallvec::SmallVec::new();
    let raw = s.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        let (byte, used) = match raw[i] {
            b'+' => (b' ', 1),
            b'%' => match (raw.get(i + 1).and_then(hex), raw.get(i + 2).and_then(hex)) {
                (Some(h), Some(l)) => (h << 4 | l, 3),
                _ => (b'%', 1),
            },
            b => (b, 1),
        };
        buf.push(byte);
        i += used;
    }
    if buf.spilled() {
        return SmallString::from(match String::from_utf8(buf.into_vec()) {
            Ok(text) => text,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        });
    }
    match std::str::from_utf8(&buf) {
        Ok(text) => SmallString::from(text),
        Err(_) => SmallString::from(String::from_utf8_lossy(&buf)),
    }
}

fn hex(b: &u8) -> Option<u8> {
    (*b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_headers_keep_arrival_order_and_read_as_latin1() {
        let head = RequestHead {
            method: Method::Put,
            method_raw: "PUT".into(),
            path: "/b/k".into(),
            query: String::new(),
            headers: vec![
                ("host".into(), "h".into()),
                ("x-amz-meta-a".into(), "2".into()),
            ],
            opaque: vec![
                OpaqueHeader {
                    at: 1,
                    name: "x-amz-meta-a".into(),
                    value: b"caf\xe9".to_vec(),
                },
                OpaqueHeader {
                    at: 2,
                    name: "x-amz-meta-z".into(),
                    value: vec![0xff],
                },
            ],
            version_minor: 1,
        };
        let all: Vec<(&str, &[u8])> = head.headers_bytes().collect();
        assert_eq!(
            all,
            [
                ("host", &b"h"[..]),
                ("x-amz-meta-a", b"caf\xe9"),
                ("x-amz-meta-a", b"2"),
                ("x-amz-meta-z", b"\xff"),
            ]
        );
        let latin1 = head.latin1_reading().unwrap();
        assert!(latin1.opaque.is_empty());
        let values: Vec<&str> = latin1.header_all("x-amz-meta-a").collect();
        assert_eq!(values, ["café", "2"]);
        assert_eq!(latin1.header("x-amz-meta-z"), Some("\u{ff}"));
    }

    #[test]
    fn query_pairs_decode_and_keep_order() {
        let q = parse_query("list-type=2&prefix=a%2Fb&delimiter=%2F&uploads&x=a+b");
        assert_eq!(q[0], ("list-type".into(), "2".into()));
        assert_eq!(q[1], ("prefix".into(), "a/b".into()));
        assert_eq!(q[2], ("delimiter".into(), "/".into()));
        assert_eq!(q[3], ("uploads".into(), "".into()));
        assert_eq!(q[4], ("x".into(), "a b".into()));
    }

    #[test]
    fn components_decode_alike_inline_and_long() {
        for raw in ["a%2Fb+c", "%zz%4", "caf%C3%A9", "bad%FF", "%2B+%20", ""] {
            let pad = "x".repeat(SMALL_STRING_INLINE_MAX + 1);
            let long = format!("{pad}{raw}");
            let short = decode_component(raw);
            let whole = decode_component(&long);
            assert!(matches!(whole, SmallString::Owned(_)), "{raw}");
            assert_eq!(whole.as_str(), format!("{pad}{short}"));
        }
        assert_eq!(decode_component("%2B+%20"), "+  ");
        assert_eq!(decode_component("%zz%4"), "%zz%4");
        assert_eq!(decode_component("caf%C3%A9"), "café");
        assert_eq!(decode_component("bad%FF"), "bad\u{fffd}");
    }
}

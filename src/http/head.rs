//! The parsed head of one HTTP/1.1 request: method, target, headers.
//!
//! Header names are lower-cased once at parse time so every later lookup is a plain compare.

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
    /// Headers in arrival order; names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub version_minor: u8,
}

impl RequestHead {
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
    pub fn query_pairs(&self) -> Vec<(String, String)> {
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
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

/// Percent-decodes one query component; invalid UTF-8 is replaced rather than rejected.
pub fn decode_component(s: &str) -> String {
    let plus_fixed = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_fixed)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_pairs_decode_and_keep_order() {
        let q = parse_query("list-type=2&prefix=a%2Fb&delimiter=%2F&uploads&x=a+b");
        assert_eq!(q[0], ("list-type".into(), "2".into()));
        assert_eq!(q[1], ("prefix".into(), "a/b".into()));
        assert_eq!(q[2], ("delimiter".into(), "/".into()));
        assert_eq!(q[3], ("uploads".into(), "".into()));
        assert_eq!(q[4], ("x".into(), "a b".into()));
    }
}

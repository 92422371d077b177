//! S3 request heads signed with the project's own SigV4 signer (`bleepstore::auth::signer`):
//! Authorization-header auth, or presigned targets.

use bleepstore::auth::signer;
use std::io::Write;
use std::time::SystemTime;

pub use bleepstore::auth::sigv4::{uri_encode, EMPTY_SHA256_HEX, UNSIGNED_PAYLOAD};

/// Who we are and where we send requests.
#[derive(Debug, Clone)]
pub struct Creds {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// The Host header value (`host:port`).
    pub host: String,
}

fn request_line(out: &mut Vec<u8>, method: &str, path: &str, query: &str) {
    out.clear();
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    if !query.is_empty() {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
}

fn header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn finish(out: &mut Vec<u8>, content_length: Option<u64>) {
    if let Some(n) = content_length {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "content-length: {n}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes (into `out`, replacing it) a request head signed in the Authorization header.
/// `path` and `query` are raw (already percent-encoded); every header in `extra` is signed.
#[allow(clippy::too_many_arguments)]
pub fn signed_head(
    out: &mut Vec<u8>,
    creds: &Creds,
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, &str)],
    content_length: Option<u64>,
    payload_hash: &str,
) {
    let now = SystemTime::now();
    let date = signer::amz_date(now);
    let mut headers: Vec<(String, String)> = Vec::with_capacity(3 + extra.len());
    headers.push(("host".into(), creds.host.clone()));
    headers.push(("x-amz-content-sha256".into(), payload_hash.into()));
    headers.push(("x-amz-date".into(), date));
    for (n, v) in extra {
        headers.push(((*n).into(), (*v).into()));
    }
    let auth = signer::sign_headers(
        method,
        path,
        query,
        &headers,
        payload_hash,
        &creds.access_key,
        &creds.secret_key,
        &creds.region,
        "s3",
        now,
    );
    request_line(out, method, path, query);
    for (n, v) in &headers {
        header(out, n, v);
    }
    header(out, "authorization", &auth);
    finish(out, content_length);
}

/// A presigned target (`path?query`) valid for `expires_s` seconds from now.
pub fn presign(creds: &Creds, method: &str, path: &str, query: &str, expires_s: u64) -> String {
    signer::presign(
        method,
        &creds.host,
        path,
        query,
        &creds.access_key,
        &creds.secret_key,
        &creds.region,
        SystemTime::now(),
        expires_s,
    )
}

/// Writes a request head for a presigned `target` (only Host is signed).
pub fn presigned_head(
    out: &mut Vec<u8>,
    creds: &Creds,
    method: &str,
    target: &str,
    extra: &[(&str, &str)],
    content_length: Option<u64>,
) {
    request_line(out, method, target, "");
    header(out, "host", &creds.host);
    for (n, v) in extra {
        header(out, n, v);
    }
    finish(out, content_length);
}

/// The text of the first `<tag>...</tag>` in `xml`, XML-unescaped.
pub fn xml_text(xml: &[u8], tag: &str) -> Option<String> {
    let s = std::str::from_utf8(xml).ok()?;
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = s.find(&open)? + open.len();
    let len = s[start..].find(&close)?;
    Some(unescape(&s[start..start + len]))
}

/// Every `<tag>...</tag>` text in `xml`, XML-unescaped.
pub fn xml_texts(xml: &[u8], tag: &str) -> Vec<String> {
    let Ok(s) = std::str::from_utf8(xml) else {
        return Vec::new();
    };
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(unescape(&after[..j]));
        rest = &after[j + close.len()..];
    }
    out
}

fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#13;", "\r")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

/// XML-escapes text for a request body.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_helpers() {
        let x = b"<a><Key>x&amp;y</Key><Key>z</Key><Code>NoSuchKey</Code></a>";
        assert_eq!(xml_text(x, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(
            xml_texts(x, "Key"),
            vec!["x&y".to_string(), "z".to_string()]
        );
        assert_eq!(xml_text(x, "Nope"), None);
        assert_eq!(escape("\"a&b\""), "&quot;a&amp;b&quot;");
    }

    #[test]
    fn signed_head_is_well_formed() {
        let creds = Creds {
            access_key: "ak".into(),
            secret_key: "sk".into(),
            region: "us-east-1".into(),
            host: "127.0.0.1:9000".into(),
        };
        let mut out = Vec::new();
        signed_head(
            &mut out,
            &creds,
            "PUT",
            "/b/k",
            "",
            &[],
            Some(5),
            UNSIGNED_PAYLOAD,
        );
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("PUT /b/k HTTP/1.1\r\nhost: 127.0.0.1:9000\r\n"));
        assert!(text.contains("authorization: AWS4-HMAC-SHA256 Credential=ak/"));
        assert!(text.ends_with("content-length: 5\r\n\r\n"));
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        assert!(req.parse(&out).unwrap().is_complete());
    }

    struct Keys;
    impl bleepstore::auth::sigv4::SecretLookup for Keys {
        fn secret_for(&self, access_key: &str) -> Option<&str> {
            (access_key == "bleepstore").then_some("bleepstore-secret")
        }
    }

    /// What the server does with our heads: parse, then authenticate.
    fn server_accepts(head: &[u8]) -> Result<(), String> {
        use bleepstore::auth::authenticate;
        use bleepstore::auth::sigv4::SigningKeyCache;
        let limits = bleepstore::http::conn::Limits {
            head_bytes_max: 16 * 1024,
            header_count_max: 64,
            idle_timeout_ms: 1,
            header_timeout_ms: 1,
            body_timeout_ms: 1,
        };
        let (h, _) = bleepstore::http::conn::parse_head(head, &limits)
            .map_err(|e| format!("{e:?}"))?
            .ok_or("incomplete head")?;
        authenticate(&h, &Keys, &mut SigningKeyCache::new(), SystemTime::now())
            .map(|_| ())
            .map_err(|e| format!("{:?}", e.code))
    }

    #[test]
    fn server_verifies_what_we_sign() {
        let creds = Creds {
            access_key: "bleepstore".into(),
            secret_key: "bleepstore-secret".into(),
            region: "us-east-1".into(),
            host: "127.0.0.1:9300".into(),
        };
        let mut out = Vec::new();
        let q = format!("partNumber=2&uploadId={}", uri_encode("a+b/c=", true));
        signed_head(
            &mut out,
            &creds,
            "PUT",
            "/b/bench/mp/0/0000000001",
            &q,
            &[],
            Some(3),
            UNSIGNED_PAYLOAD,
        );
        server_accepts(&out).unwrap();
        let hash = bleepstore::auth::sigv4::sha256_hex(b"abc");
        signed_head(
            &mut out,
            &creds,
            "POST",
            "/b",
            "delete",
            &[("content-md5", "x")],
            Some(3),
            &hash,
        );
        server_accepts(&out).unwrap();
        let target = presign(&creds, "GET", "/b/bench/obj/00000001", "", 3600);
        presigned_head(&mut out, &creds, "GET", &target, &[], None);
        server_accepts(&out).unwrap();
        let q = "list-type=2&max-keys=1000&prefix=bench%2Fobj%2F";
        let target = presign(&creds, "GET", "/b", q, 3600);
        presigned_head(&mut out, &creds, "GET", &target, &[], None);
        server_accepts(&out).unwrap();
        let wrong = Creds {
            secret_key: "nope".into(),
            ..creds
        };
        signed_head(
            &mut out,
            &wrong,
            "GET",
            "/b/k",
            "",
            &[],
            None,
            UNSIGNED_PAYLOAD,
        );
        assert_eq!(server_accepts(&out).unwrap_err(), "SignatureDoesNotMatch");
    }
}

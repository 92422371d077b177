//! Pieces of answers shared by the handlers: ETag and checksum headers, checksums as XML,
//! listings as responses, failures logged, and long operations kept alive.

use crate::engine::Checksums;
use crate::http::head::RequestHead;
use crate::http::response::{Body, BodyStream, Chunk, HeaderValue, Response};
use crate::s3::checksum::{self, ALL_ALGOS};
use crate::s3::error::{error_xml, S3Error, S3Result};
use crate::s3::xml;
use futures::future::{select, Either, LocalBoxFuture};
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

/// The ETag as a header value: quoted, inline (no allocation) for every ETag we make.
pub fn etag_header(etag: &str) -> HeaderValue {
    HeaderValue::fmt(format_args!("\"{etag}\""))
}

pub fn checksum_headers(resp: &mut Response, c: &Checksums) {
    for a in ALL_ALGOS {
        if let Some(v) = checksum::get(c, a) {
            let v = if c.composite_parts > 0 {
                format!("{v}-{}", c.composite_parts)
            } else {
                v.clone()
            };
            resp.header(a.header(), v);
        }
    }
}

/// `x-amz-checksum-type` of an object's stored checksum (PutObject, GET/HEAD with checksum
/// mode), as AWS sends it beside the checksum.
pub fn checksum_type_header(resp: &mut Response, c: &Checksums) {
    if let Some(t) = checksum::stored_type(c) {
        resp.header("x-amz-checksum-type", t.name());
    }
}

pub fn to_xml_checksums(c: &Checksums) -> xml::Checksums {
    let suffix = |v: &Option<String>| {
        v.as_ref().map(|s| {
            if c.composite_parts > 0 {
                format!("{s}-{}", c.composite_parts)
            } else {
                s.clone()
            }
        })
    };
    xml::Checksums {
        crc32: suffix(&c.crc32),
        crc32c: suffix(&c.crc32c),
        crc64nvme: suffix(&c.crc64nvme),
        sha1: suffix(&c.sha1),
        sha256: suffix(&c.sha256),
    }
}

/// A rendered listing as the response, unless it would carry a character XML 1.0 cannot
/// (a key or prefix holding U+0000-U+001F other than tab, LF and CR, or U+FFFE / U+FFFF).
/// AWS sends such documents anyway and every XML client (botocore, the Go and Java SDKs)
/// fails to parse them; the client wins: a 400 naming the remedy, `encoding-type=url`
/// (which boto3 always sends, and under which every key is plain ASCII).
pub fn listing(doc: String) -> S3Result<Response> {
    if !xml::xml_1_0_safe(&doc) {
        return Err(S3Error::invalid_argument(
            "The listing holds a key or prefix with characters XML 1.0 cannot carry (U+0000-U+001F other than tab, LF and CR, or U+FFFE/U+FFFF); ask for it with encoding-type=url",
            "encoding-type",
            "",
        ));
    }
    Ok(Response::xml(200, doc))
}

/// Server-side failures are logged with their cause chain and the request id the client
/// saw; client errors only at debug level (they are in the access log already).
pub fn log_failure(e: &S3Error, request_id: &str) {
    let cause = e.cause.as_deref().unwrap_or("");
    if e.status() >= 500 {
        tracing::error!(request_id, code = e.code.as_str(), cause, "request failed");
    } else {
        tracing::debug!(request_id, code = e.code.as_str(), cause, "request refused");
    }
}

/// How long a long operation may run before its answer is committed to 200 and kept alive,
/// and the gap between two whitespace characters after that. AWS does the same for
/// CompleteMultipartUpload ("Amazon S3 periodically sends white space characters to keep the
/// connection from timing out"): a client's read timeout (aws-cli: 60 s by default) must not
/// fire while a gateway upstream composes a large object (fake-gcs-server: 24 s for 1 GiB).
pub const KEEPALIVE_INTERVAL_MS: u64 = 2_000;

/// The XML declaration every document starts with; a kept-alive answer sends it first, as
/// whitespace may follow it but never precede it.
const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Runs `work` and answers 200 with the document `render` makes of its result. If the work
/// takes longer than [`KEEPALIVE_INTERVAL_MS`], the 200 and the XML declaration go out at
/// once, a space follows every interval, and the document (or, on failure, the S3 error
/// document: AWS embeds errors in the 200 the same way, and the SDKs look for them) ends the
/// body. The work runs detached: once started it finishes even if the client goes away.
pub async fn kept_alive<T: 'static>(
    head: &RequestHead,
    request_id: &str,
    work: impl Future<Output = S3Result<T>> + 'static,
    render: impl FnOnce(T) -> String + 'static,
) -> S3Result<Response> {
    kept_alive_every(head, request_id, KEEPALIVE_INTERVAL_MS, work, render).await
}

async fn kept_alive_every<T: 'static>(
    head: &RequestHead,
    request_id: &str,
    interval_ms: u64,
    work: impl Future<Output = S3Result<T>> + 'static,
    render: impl FnOnce(T) -> String + 'static,
) -> S3Result<Response> {
    let mut task = Box::pin(glommio::spawn_local(work).detach());
    if head.version_minor == 0 {
        // HTTP/1.0 has no chunked framing: the answer waits for the work.
        return Ok(Response::xml(200, render(joined(task.await)?)));
    }
    let interval = Duration::from_millis(interval_ms);
    let timer = pin!(glommio::timer::sleep(interval));
    let task = match select(&mut task, timer).await {
        Either::Left((out, _)) => return Ok(Response::xml(200, render(joined(out)?))),
        Either::Right(_) => task,
    };
    let (resource, request_id) = (head.path.clone(), request_id.to_string());
    let doc = async move {
        match joined(task.await) {
            Ok(v) => render(v),
            Err(e) => {
                log_failure(&e, &request_id);
                error_xml(&e, &resource, &request_id)
            }
        }
    };
    let mut resp = Response::new(200);
    resp.header("content-type", "application/xml");
    resp.body = Body::Chunked(Box::new(KeepAlive {
        doc: Some(Box::pin(doc)),
        interval,
        declared: false,
    }));
    Ok(resp)
}

/// A detached task's result; None means it was cancelled (the executor is going away).
fn joined<T>(out: Option<S3Result<T>>) -> S3Result<T> {
    out.unwrap_or_else(|| Err(S3Error::internal("the operation's task was cancelled")))
}

/// The body of a kept-alive answer: the declaration, a space per interval, the document.
struct KeepAlive {
    doc: Option<LocalBoxFuture<'static, String>>,
    interval: Duration,
    declared: bool,
}

impl BodyStream for KeepAlive {
    fn next_chunk(&mut self) -> LocalBoxFuture<'_, std::io::Result<Option<Chunk>>> {
        Box::pin(async move {
            if !self.declared {
                self.declared = true;
                return Ok(Some(Box::new(XML_DECLARATION.as_bytes()) as Chunk));
            }
            let Some(doc) = self.doc.as_mut() else {
                return Ok(None);
            };
            let timer = pin!(glommio::timer::sleep(self.interval));
            match select(doc, timer).await {
                Either::Left((doc, _)) => {
                    self.doc = None;
                    let rest = without_declaration(&doc).as_bytes().to_vec();
                    Ok(Some(Box::new(rest) as Chunk))
                }
                Either::Right(_) => Ok(Some(Box::new(&b" "[..]) as Chunk)),
            }
        })
    }
}

/// A document without its XML declaration (and the line break after it), if it has one.
fn without_declaration(doc: &str) -> &str {
    if !doc.starts_with("<?xml") {
        return doc;
    }
    match doc.find("?>") {
        Some(end) => doc[end + 2..].trim_start_matches(['\r', '\n']),
        None => doc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::error::ErrorCode;
    use crate::test_support::on_executor;

    fn head(version_minor: u8) -> RequestHead {
        let raw = format!("POST /b/k?uploadId=u HTTP/1.{version_minor}\r\nHost: h\r\n\r\n");
        let limits = crate::http::conn::Limits {
            head_bytes_max: 16 * 1024,
            header_count_max: 64,
            idle_timeout_ms: 1000,
            header_timeout_ms: 1000,
            body_timeout_ms: 1000,
        };
        crate::http::conn::parse_head(raw.as_bytes(), &limits)
            .unwrap()
            .unwrap()
            .0
    }

    async fn slow<T>(ms: u64, out: S3Result<T>) -> S3Result<T> {
        glommio::timer::sleep(Duration::from_millis(ms)).await;
        out
    }

    fn doc(name: &str) -> String {
        format!("{XML_DECLARATION}<{name}>x</{name}>")
    }

    /// Every chunk of a body, in order.
    async fn chunks(mut resp: Response) -> Vec<Vec<u8>> {
        let Body::Chunked(mut stream) = std::mem::replace(&mut resp.body, Body::Empty) else {
            panic!("not a chunked body");
        };
        let mut out = Vec::new();
        while let Some(c) = stream.next_chunk().await.unwrap() {
            out.push(c.to_vec());
        }
        out
    }

    #[test]
    fn quick_work_answers_plainly() {
        on_executor(|| async {
            let ok = kept_alive_every(&head(1), "r1", 50, slow(0, Ok("A")), doc)
                .await
                .unwrap();
            assert_eq!(ok.status, 200);
            assert!(matches!(&ok.body, Body::Bytes(b) if b == doc("A").as_bytes()));
            // A failure that comes in time keeps its own status: the service renders it.
            let err = kept_alive_every(
                &head(1),
                "r1",
                50,
                slow(0, Err::<&str, _>(S3Error::new(ErrorCode::NoSuchUpload))),
                doc,
            )
            .await;
            assert!(matches!(err, Err(e) if e.code == ErrorCode::NoSuchUpload));
        });
    }

    #[test]
    fn slow_work_is_kept_alive_with_whitespace_after_the_declaration() {
        on_executor(|| async {
            let resp = kept_alive_every(&head(1), "r2", 40, slow(300, Ok("Done")), doc)
                .await
                .unwrap();
            assert_eq!(resp.status, 200);
            let got = chunks(resp).await;
            assert_eq!(got[0], XML_DECLARATION.as_bytes());
            let spaces = &got[1..got.len() - 1];
            assert!(
                spaces.len() >= 3,
                "{} spaces in 300 ms at 40 ms",
                spaces.len()
            );
            assert!(spaces.iter().all(|c| c == b" "));
            assert_eq!(got.last().unwrap(), b"<Done>x</Done>");
            // The whole body is one well-formed document.
            let body: Vec<u8> = got.concat();
            let text = String::from_utf8(body).unwrap();
            assert!(text.starts_with("<?xml") && text.trim_end().ends_with("</Done>"));
        });
    }

    #[test]
    fn slow_failure_ends_the_body_with_the_error_document() {
        on_executor(|| async {
            let work = slow(
                120,
                Err::<&str, _>(S3Error::msg(ErrorCode::InvalidPart, "part 2 is gone")),
            );
            let resp = kept_alive_every(&head(1), "r3", 40, work, doc)
                .await
                .unwrap();
            let got = chunks(resp).await;
            let last = String::from_utf8(got.last().unwrap().clone()).unwrap();
            assert!(
                last.starts_with("<Error><Code>InvalidPart</Code>"),
                "{last}"
            );
            assert!(last.contains("<Resource>/b/k</Resource><RequestId>r3</RequestId>"));
        });
    }

    #[test]
    fn http_1_0_waits_for_the_work() {
        on_executor(|| async {
            let resp = kept_alive_every(&head(0), "r4", 20, slow(100, Ok("Z")), doc)
                .await
                .unwrap();
            assert!(matches!(&resp.body, Body::Bytes(b) if b == doc("Z").as_bytes()));
        });
    }

    #[test]
    fn declaration_is_stripped_once() {
        assert_eq!(without_declaration(&doc("a")), "<a>x</a>");
        assert_eq!(without_declaration("<a/>"), "<a/>");
        assert_eq!(
            without_declaration("<?xml version=\"1.0\"?>\r\n<a/>"),
            "<a/>"
        );
        assert_eq!(without_declaration("<?xml broken"), "<?xml broken");
    }
}

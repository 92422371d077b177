//! A streaming `multipart/form-data` reader (RFC 7578) for browser uploads (POST Object):
//! parts are read one at a time from a [`ByteSource`] through one bounded buffer, so a
//! field is held only as long as asked (bounded by the caller) and a file part streams
//! through without ever being held whole.
//!
//! The body is read as if it started with CRLF, so every delimiter, the first included, is
//! `CRLF "--" boundary`; what precedes the first one (the preamble) is skipped.

use crate::engine::ByteSource;
use crate::s3::error::{ErrorCode, S3Error, S3Result};

/// Bytes read from the source at a time (and the most buffered besides one delimiter).
const BUF_BYTES: usize = 64 * 1024;
/// Longest boundary RFC 2046 allows.
pub const BOUNDARY_MAX: usize = 70;
/// Longest header block of one part.
pub const PART_HEAD_MAX: usize = 8 * 1024;

/// What a part's headers say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartHead {
    /// The `name` of its `Content-Disposition: form-data`.
    pub name: String,
    /// The `filename`, for a file part.
    pub filename: Option<String>,
    pub content_type: Option<String>,
}

pub fn malformed(why: &str) -> S3Error {
    S3Error::new(ErrorCode::MalformedPOSTRequest).caused_by(why)
}

/// The boundary of a `multipart/form-data` Content-Type, None for another type or none.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    for p in params {
        let (k, v) = p.split_once('=')?;
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v);
            if v.is_empty() || v.len() > BOUNDARY_MAX {
                return None;
            }
            return Some(v.to_string());
        }
    }
    None
}

pub struct FormReader<'s> {
    src: &'s mut dyn ByteSource,
    /// `CRLF -- boundary`.
    delim: Vec<u8>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The source has ended.
    eof: bool,
    /// The current part's data ended (its delimiter consumed).
    part_done: bool,
    /// The closing delimiter was seen.
    finished: bool,
}

/// Whether the bytes after a delimiter make it a delimiter line: `--` (the closing one) or
/// at most `DELIM_WS_MAX` spaces / tabs then CRLF. None: too few bytes yet to tell.
fn delimiter_line(after: &[u8]) -> Option<bool> {
    const DELIM_WS_MAX: usize = 64;
    if after.len() >= 2 && &after[..2] == b"--" {
        return Some(true);
    }
    let ws = after
        .iter()
        .take_while(|b| **b == b' ' || **b == b'\t')
        .count();
    if ws > DELIM_WS_MAX {
        return Some(false);
    }
    if after.len() < ws + 2 {
        return None;
    }
    Some(&after[ws..ws + 2] == b"\r\n")
}

impl<'s> FormReader<'s> {
    pub fn new(src: &'s mut dyn ByteSource, boundary: &str) -> FormReader<'s> {
        let mut delim = b"\r\n--".to_vec();
        delim.extend_from_slice(boundary.as_bytes());
        let mut buf = vec![0u8; BUF_BYTES + delim.len()];
        buf[..2].copy_from_slice(b"\r\n");
        FormReader {
            src,
            delim,
            buf,
            start: 0,
            end: 2,
            eof: false,
            part_done: false,
            finished: false,
        }
    }

    fn avail(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads more from the source after what is buffered; false at its end.
    async fn fill(&mut self) -> S3Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            return Err(S3Error::internal("form buffer full"));
        }
        let n = self.src.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        self.end += n;
        Ok(true)
    }

    /// Reads the current part's data into `dst`; 0 at the part's end. Malformed if the body
    /// ends before the part's delimiter.
    pub async fn read_data(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        if dst.is_empty() {
            return Ok(0);
        }
        loop {
            if self.part_done || self.finished {
                return Ok(0);
            }
            let dl = self.delim.len();
            let avail = self.avail();
            let (take, at_delim) = match memchr::memmem::find(avail, &self.delim) {
                // RFC 2046: a delimiter line is the delimiter, then `--` or optional
                // whitespace and CRLF. Anything else (`--XyZnot-a-delimiter`) is data.
                Some(0) => match delimiter_line(&avail[dl..]) {
                    Some(true) => (0, true),
                    Some(false) => (1, false),
                    None => (0, false),
                },
                Some(i) => (i, false),
                None => (avail.len().saturating_sub(dl - 1), false),
            };
            if at_delim {
                self.start += dl;
                self.part_done = true;
                return Ok(0);
            }
            if take > 0 {
                let n = take.min(dst.len());
                dst[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
                return Ok(n);
            }
            if !self.fill().await? {
                return Err(malformed("body ends inside a part"));
            }
        }
    }

    /// Reads the rest of the current part as a value of at most `*budget` bytes (taken from
    /// the budget); MaxPostPreDataLengthExceeded past it.
    pub async fn read_value(&mut self, budget: &mut usize) -> S3Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = self.read_data(&mut chunk).await?;
            if n == 0 {
                return Ok(out);
            }
            if n > *budget {
                return Err(S3Error::new(ErrorCode::MaxPostPreDataLengthExceeded));
            }
            *budget -= n;
            out.extend_from_slice(&chunk[..n]);
        }
    }

    /// Skips what is left of the current part, then reads the next part's headers (their
    /// bytes taken from `*budget`); None after the closing delimiter.
    pub async fn next_part(&mut self, budget: &mut usize) -> S3Result<Option<PartHead>> {
        let mut skip = [0u8; 4096];
        while self.read_data(&mut skip).await? > 0 {}
        if self.finished {
            return Ok(None);
        }
        // After a delimiter: "--" closes the body; otherwise optional whitespace, then CRLF.
        loop {
            let avail = self.avail();
            if avail.len() >= 2 && &avail[..2] == b"--" {
                self.finished = true;
                return Ok(None);
            }
            let ws = avail
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            if ws > PART_HEAD_MAX {
                return Err(malformed("delimiter line too long"));
            }
            if avail.len() >= ws + 2 {
                if &avail[ws..ws + 2] != b"\r\n" {
                    return Err(malformed("no CRLF after a delimiter"));
                }
                self.start += ws + 2;
                break;
            }
            if !self.fill().await? {
                return Err(malformed("body ends after a delimiter"));
            }
        }
        // The header block, up to the empty line.
        let head_len = loop {
            let avail = self.avail();
            if avail.starts_with(b"\r\n") {
                break 0;
            }
            if let Some(i) = memchr::memmem::find(avail, b"\r\n\r\n") {
                break i + 2;
            }
            if avail.len() > PART_HEAD_MAX {
                return Err(malformed("part headers too long"));
            }
            if !self.fill().await? {
                return Err(malformed("body ends inside part headers"));
            }
        };
        if head_len > PART_HEAD_MAX {
            return Err(malformed("part headers too long"));
        }
        if head_len + 2 > *budget {
            return Err(S3Error::new(ErrorCode::MaxPostPreDataLengthExceeded));
        }
        *budget -= head_len + 2;
        let block = self.buf[self.start..self.start + head_len].to_vec();
        self.start += head_len + 2;
        self.part_done = false;
        parse_part_head(&block).map(Some)
    }
}

/// Parses a part's header block (lines ending CRLF): `Content-Disposition: form-data;
/// name="..."[; filename="..."]` is required, `Content-Type` kept, others ignored.
fn parse_part_head(block: &[u8]) -> S3Result<PartHead> {
    let text = std::str::from_utf8(block).map_err(|_| malformed("part headers not UTF-8"))?;
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let (h, v) = line
            .split_once(':')
            .ok_or_else(|| malformed("part header without a colon"))?;
        let h = h.trim();
        let v = v.trim();
        if h.eq_ignore_ascii_case("content-type") {
            content_type = Some(v.to_string());
        } else if h.eq_ignore_ascii_case("content-disposition") {
            let params = disposition_params(v)?;
            for (k, val) in params {
                if k.eq_ignore_ascii_case("name") {
                    name = Some(val);
                } else if k.eq_ignore_ascii_case("filename") {
                    filename = Some(val);
                }
            }
        }
    }
    let name = name.ok_or_else(|| malformed("part without a name"))?;
    Ok(PartHead {
        name,
        filename,
        content_type,
    })
}

/// `form-data; name="a"; filename="b"`: the parameters after the type, quotes removed. A
/// backslash is a character like any other (browsers send Windows paths as they are and
/// percent-encode a quote).
fn disposition_params(v: &str) -> S3Result<Vec<(String, String)>> {
    let (kind, mut rest) = v.split_once(';').unwrap_or((v, ""));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err(malformed("part is not form-data"));
    }
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            return Ok(out);
        }
        let (k, after) = rest
            .split_once('=')
            .ok_or_else(|| malformed("parameter without a value"))?;
        let k = k.trim().to_string();
        let after = after.trim_start();
        if let Some(q) = after.strip_prefix('"') {
            let end = q
                .find('"')
                .ok_or_else(|| malformed("unterminated quoted parameter"))?;
            out.push((k, q[..end].to_string()));
            rest = &q[end + 1..];
        } else {
            let (val, r) = after.split_once(';').unwrap_or((after, ""));
            out.push((k, val.trim().to_string()));
            rest = r;
        }
    }
}

/// A [`ByteSource`] over bytes in memory, delivered in pieces of at most `piece` bytes
/// (tests and the fuzz target).
pub struct SliceSource<'a> {
    pub data: &'a [u8],
    pub piece: usize,
}

impl ByteSource for SliceSource<'_> {
    fn read<'a>(
        &'a mut self,
        dst: &'a mut [u8],
    ) -> futures::future::LocalBoxFuture<'a, S3Result<usize>> {
        let n = self.data.len().min(dst.len()).min(self.piece.max(1));
        dst[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Box::pin(async move { Ok(n) })
    }
}

/// One part of a parsed form (see [`read_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub head: PartHead,
    pub data: Vec<u8>,
}

/// Reads a whole form from memory (tests, the fuzz target): every part, at most `budget`
/// bytes of headers and data together.
pub async fn read_all(
    src: &mut dyn ByteSource,
    boundary: &str,
    mut budget: usize,
) -> S3Result<Vec<Part>> {
    let mut form = FormReader::new(src, boundary);
    let mut parts = Vec::new();
    while let Some(head) = form.next_part(&mut budget).await? {
        let data = form.read_value(&mut budget).await?;
        parts.push(Part { head, data });
    }
    Ok(parts)
}

/// Runs a future that never waits (over a [`SliceSource`]) to its end.
pub fn run_ready<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &[u8], boundary: &str, piece: usize) -> S3Result<Vec<Part>> {
        let mut src = SliceSource { data: body, piece };
        run_ready(read_all(&mut src, boundary, 1 << 20))
    }

    const BODY: &[u8] = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nuploads/${filename}\r\n--XyZ  \r\nContent-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"C:\\dir\\a%22b%22.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\n--XyZnot-a-delimiter\r\n\r\n--XyZ--\r\nepilogue";

    #[test]
    fn parts_in_any_piece_size() {
        for piece in [1, 2, 3, 7, 64, 1 << 20] {
            let parts = parse(BODY, "XyZ", piece).unwrap();
            assert_eq!(parts.len(), 3, "piece {piece}");
            assert_eq!(parts[0].head.name, "key");
            assert_eq!(parts[0].data, b"uploads/${filename}");
            assert_eq!(parts[1].head.name, "empty");
            assert_eq!(parts[1].data, b"");
            assert_eq!(
                parts[2].head.filename.as_deref(),
                Some("C:\\dir\\a%22b%22.txt")
            );
            assert_eq!(parts[2].head.content_type.as_deref(), Some("text/plain"));
            assert_eq!(parts[2].data, b"line1\r\n--XyZnot-a-delimiter\r\n");
        }
    }

    #[test]
    fn malformed_forms() {
        let cases: &[&[u8]] = &[
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
            b"--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--",
            b"--XyZ\r\nno colon\r\n\r\nx\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: attachment; name=a\r\n\r\nx\r\n--XyZ--",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
            b"--XyZ",
            b"--XyZx",
        ];
        for c in cases {
            let e = parse(c, "XyZ", 5).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::MalformedPOSTRequest,
                "{}",
                String::from_utf8_lossy(c)
            );
        }
        assert!(parse(b"nothing", "XyZ", 3).is_err());
    }

    #[test]
    fn budget_is_enforced() {
        let mut src = SliceSource {
            data: BODY,
            piece: 10,
        };
        let e = run_ready(read_all(&mut src, "XyZ", 60)).unwrap_err();
        assert_eq!(e.code, ErrorCode::MaxPostPreDataLengthExceeded);
    }

    #[test]
    fn boundaries() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----abc").as_deref(),
            Some("----abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data; charset=x; boundary=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("text/plain; boundary=x"), None);
        assert_eq!(
            boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))),
            None
        );
    }
}

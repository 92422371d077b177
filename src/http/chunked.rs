//! Streaming decoder for HTTP/1.1 `Transfer-Encoding: chunked` request bodies.
//!
//! The framing engine here ([`ChunkFraming`]) is shared with the `aws-chunked` decoder in
//! `auth::chunked`: both formats are "hex size, optional `;extensions`, CRLF, data, CRLF, ...,
//! zero-size chunk, trailer lines, empty line". The aws-chunked decoder only adds signature
//! checks, which it does through the [`ChunkObserver`] hooks.
//!
//! Decoders never copy payload bytes: [`Step::payload`] is a range of the caller's own input.
//! Only chunk-size lines and trailer lines are buffered, and both are bounded, because every
//! byte of a body comes from the network and may be hostile.

use crate::error::{ErrorCode, S3Error, S3Result};
use std::ops::Range;

/// Longest chunk-size line (size, extensions and CRLF) we buffer.
pub const SIZE_LINE_MAX_BYTES: usize = 4 * 1024;
/// Largest total size of the trailer section (all trailer lines and the final empty line).
pub const TRAILER_SECTION_MAX_BYTES: usize = 16 * 1024;
/// Largest single HTTP chunk accepted; guards the size arithmetic against overflow.
pub const HTTP_CHUNK_SIZE_MAX_BYTES: u64 = 1 << 40;

/// The result of one `feed` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// How many bytes of the input were used; the caller passes the rest to the next call.
    pub consumed: usize,
    /// A range of the input (within `..consumed`) that is decoded payload.
    pub payload: Option<Range<usize>>,
    /// The body is complete; bytes after `consumed` do not belong to it.
    pub done: bool,
}

impl Step {
    fn need_more(consumed: usize) -> Step {
        Step {
            consumed,
            payload: None,
            done: false,
        }
    }
}

fn framing_error(message: &str) -> S3Error {
    S3Error::msg(ErrorCode::InvalidRequest, message)
}

/// Accumulates one CRLF-terminated line that may arrive split over many reads.
///
/// Lines are bounded so a peer cannot make us buffer without limit; a bare LF is refused
/// because lenient line endings are how request-smuggling ambiguities start.
#[derive(Debug, Default)]
pub struct LineBuf {
    buf: Vec<u8>,
    complete: bool,
}

impl LineBuf {
    pub fn new() -> Self {
        LineBuf::default()
    }

    /// Takes bytes from `input` up to the end of the line; returns how many bytes were taken
    /// and whether the line is now complete. `limit_bytes` bounds the line including its CRLF.
    pub fn feed(&mut self, input: &[u8], limit_bytes: usize) -> S3Result<(usize, bool)> {
        if self.complete {
            return Ok((0, true));
        }
        let (take, found) = match input.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (input.len(), false),
        };
        if self.buf.len() + take > limit_bytes {
            return Err(framing_error("A chunk-size or trailer line is too long."));
        }
        self.buf.extend_from_slice(&input[..take]);
        if found {
            if self.buf.len() < 2 || self.buf[self.buf.len() - 2] != b'\r' {
                return Err(framing_error("A chunked-body line does not end with CRLF."));
            }
            self.complete = true;
        }
        Ok((take, found))
    }

    /// The completed line without its CRLF (empty while incomplete).
    pub fn line(&self) -> &[u8] {
        if self.complete {
            &self.buf[..self.buf.len() - 2]
        } else {
            &[]
        }
    }

    /// Bytes held so far, CRLF included.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets the line so the buffer can hold the next one (keeps the allocation).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.complete = false;
    }
}

/// Hooks through which a format built on chunked framing sees each framing event.
pub trait ChunkObserver {
    /// A chunk-size line was read; `extensions` is the text after the first `;` (or empty).
    fn on_chunk_header(&mut self, size: u64, extensions: &[u8]) -> S3Result<()>;
    /// Payload bytes of the current chunk as they pass (never buffered by the framing).
    fn on_chunk_data(&mut self, data: &[u8]);
    /// The current chunk is complete (for the zero-size last chunk: right after its header).
    fn on_chunk_end(&mut self) -> S3Result<()>;
    /// One trailer field; the name is lower-cased, the value trimmed.
    fn on_trailer(&mut self, name: String, value: String) -> S3Result<()>;
    /// The empty line after the trailers was read: the body is complete.
    fn on_end(&mut self) -> S3Result<()>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    SizeLine,
    Data {
        remaining: u64,
    },
    /// Expecting the CRLF after chunk data; the field counts the bytes of it already seen.
    DataEnd {
        seen: u8,
    },
    Trailers,
    Done,
}

/// The chunked-framing state machine shared by the HTTP and aws-chunked decoders.
#[derive(Debug)]
pub struct ChunkFraming {
    state: State,
    line: LineBuf,
    chunk_size_max_bytes: u64,
    trailer_used_bytes: usize,
    decoded_len: u64,
}

impl ChunkFraming {
    pub fn new(chunk_size_max_bytes: u64) -> Self {
        ChunkFraming {
            state: State::SizeLine,
            line: LineBuf::new(),
            chunk_size_max_bytes,
            trailer_used_bytes: 0,
            decoded_len: 0,
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Payload bytes handed out so far.
    pub fn decoded_len(&self) -> u64 {
        self.decoded_len
    }

    /// Advances over `input`. With non-empty input this always consumes at least one byte
    /// unless the body is already done; it returns after at most one payload range.
    /// An error is final: the body is unusable and the connection should be closed.
    pub fn feed<O: ChunkObserver>(&mut self, input: &[u8], observer: &mut O) -> S3Result<Step> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            match self.state {
                State::Done => {
                    return Ok(Step {
                        consumed: pos,
                        payload: None,
                        done: true,
                    })
                }
                _ if rest.is_empty() => return Ok(Step::need_more(pos)),
                State::SizeLine => {
                    let (taken, complete) = self.line.feed(rest, SIZE_LINE_MAX_BYTES)?;
                    pos += taken;
                    if complete {
                        self.finish_size_line(observer)?;
                    }
                }
                State::Data { remaining } => {
                    let take = usize::try_from(remaining)
                        .unwrap_or(usize::MAX)
                        .min(rest.len());
                    observer.on_chunk_data(&rest[..take]);
                    self.decoded_len += take as u64;
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        State::DataEnd { seen: 0 }
                    } else {
                        State::Data { remaining: left }
                    };
                    let payload = Some(pos..pos + take);
                    return Ok(Step {
                        consumed: pos + take,
                        payload,
                        done: false,
                    });
                }
                State::DataEnd { seen } => {
                    pos += self.finish_data(rest, seen, observer)?;
                }
                State::Trailers => {
                    let budget = TRAILER_SECTION_MAX_BYTES - self.trailer_used_bytes;
                    let (taken, complete) = self.line.feed(rest, budget)?;
                    pos += taken;
                    if complete {
                        self.finish_trailer_line(observer)?;
                    }
                }
            }
        }
    }

    fn finish_size_line<O: ChunkObserver>(&mut self, observer: &mut O) -> S3Result<()> {
        let (size, extensions) = parse_size_line(self.line.line(), self.chunk_size_max_bytes)?;
        observer.on_chunk_header(size, extensions)?;
        self.line.clear();
        if size == 0 {
            observer.on_chunk_end()?;
            self.state = State::Trailers;
        } else {
            self.state = State::Data { remaining: size };
        }
        Ok(())
    }

    /// Matches the CRLF after chunk data byte by byte (it may be split across reads).
    fn finish_data<O: ChunkObserver>(
        &mut self,
        rest: &[u8],
        mut seen: u8,
        observer: &mut O,
    ) -> S3Result<usize> {
        let mut taken = 0;
        for &b in rest.iter().take(2 - seen as usize) {
            if b != b"\r\n"[seen as usize] {
                return Err(framing_error("Chunk data is not followed by CRLF."));
            }
            seen += 1;
            taken += 1;
        }
        if seen == 2 {
            observer.on_chunk_end()?;
            self.state = State::SizeLine;
        } else {
            self.state = State::DataEnd { seen };
        }
        Ok(taken)
    }

    fn finish_trailer_line<O: ChunkObserver>(&mut self, observer: &mut O) -> S3Result<()> {
        self.trailer_used_bytes += self.line.len();
        if self.line.line().is_empty() {
            self.line.clear();
            observer.on_end()?;
            self.state = State::Done;
            return Ok(());
        }
        let (name, value) = parse_trailer_line(self.line.line())?;
        self.line.clear();
        observer.on_trailer(name, value)
    }
}

fn hex_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

/// Parses `hex-size [BWS ; extensions]`; sizes above `max_bytes` are refused before they can
/// overflow anything.
pub fn parse_size_line(line: &[u8], max_bytes: u64) -> S3Result<(u64, &[u8])> {
    let digits = line.iter().take_while(|&&b| hex_value(b).is_some()).count();
    if digits == 0 {
        return Err(framing_error("A chunk size is not a hexadecimal number."));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(hex_value(b).unwrap_or(0)))
            .filter(|&s| s <= max_bytes)
            .ok_or_else(|| framing_error("A chunk is larger than this server accepts."))?;
    }
    let after = &line[digits..];
    let trimmed_start = after
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    let after = &after[trimmed_start..];
    match after.split_first() {
        None => Ok((size, &[])),
        Some((b';', extensions)) if extensions.iter().all(|&b| is_field_byte(b)) => {
            Ok((size, extensions))
        }
        _ => Err(framing_error("A chunk-size line is malformed.")),
    }
}

/// Bytes allowed in header values and chunk extensions: visible, space, tab, obs-text.
fn is_field_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// RFC 9110 `tchar`: the bytes allowed in a field name.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses `name:value` (optional whitespace around the value) into a lower-cased name and a
/// trimmed value. Folded lines and names with whitespace are refused.
pub fn parse_trailer_line(line: &[u8]) -> S3Result<(String, String)> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| framing_error("A trailer line has no colon."))?;
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return Err(framing_error("A trailer name is malformed."));
    }
    if !value.iter().all(|&b| is_field_byte(b)) {
        return Err(framing_error(
            "A trailer value contains control characters.",
        ));
    }
    let value = value.trim_ascii();
    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
    Ok((name, String::from_utf8_lossy(value).into_owned()))
}

/// Collects trailers; plain HTTP chunked has nothing else to check.
#[derive(Debug, Default)]
struct TrailerCollector {
    trailers: Vec<(String, String)>,
}

impl ChunkObserver for TrailerCollector {
    fn on_chunk_header(&mut self, _size: u64, _extensions: &[u8]) -> S3Result<()> {
        Ok(())
    }
    fn on_chunk_data(&mut self, _data: &[u8]) {}
    fn on_chunk_end(&mut self) -> S3Result<()> {
        Ok(())
    }
    fn on_trailer(&mut self, name: String, value: String) -> S3Result<()> {
        self.trailers.push((name, value));
        Ok(())
    }
    fn on_end(&mut self) -> S3Result<()> {
        Ok(())
    }
}

/// Decodes an HTTP/1.1 chunked body incrementally.
///
/// The caller loops: `feed` the unconsumed input, use `payload` (a range of that input),
/// read more from the socket when everything was consumed, stop when `done`. Bytes after
/// `consumed` at `done` belong to the next request on the connection.
#[derive(Debug)]
pub struct ChunkedDecoder {
    framing: ChunkFraming,
    collector: TrailerCollector,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder {
            framing: ChunkFraming::new(HTTP_CHUNK_SIZE_MAX_BYTES),
            collector: TrailerCollector::default(),
        }
    }

    pub fn feed(&mut self, input: &[u8]) -> S3Result<Step> {
        self.framing.feed(input, &mut self.collector)
    }

    /// Trailer fields (lower-case names), complete once `done`.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.collector.trailers
    }

    pub fn decoded_len(&self) -> u64 {
        self.framing.decoded_len()
    }

    pub fn is_done(&self) -> bool {
        self.framing.is_done()
    }

    /// Call when the connection reached end of input: a body cut short is `IncompleteBody`.
    pub fn finish(&self) -> S3Result<()> {
        if self.is_done() {
            Ok(())
        } else {
            Err(S3Error::new(ErrorCode::IncompleteBody))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Feeds `input` in pieces of `piece` bytes, the way a socket might deliver it; returns
    /// the decoded payload and how many input bytes the body used.
    pub(crate) fn drive(
        mut feed: impl FnMut(&[u8]) -> S3Result<Step>,
        input: &[u8],
        piece: usize,
    ) -> S3Result<(Vec<u8>, usize)> {
        let mut out = Vec::new();
        let mut available = 0;
        let mut start = 0;
        loop {
            let window = &input[start..available];
            let step = feed(window)?;
            if let Some(r) = step.payload.clone() {
                out.extend_from_slice(&window[r]);
            }
            start += step.consumed;
            if step.done {
                return Ok((out, start));
            }
            if start == available {
                if available == input.len() {
                    return Err(S3Error::new(ErrorCode::IncompleteBody));
                }
                available = (available + piece).min(input.len());
            }
        }
    }

    fn decode(input: &[u8], piece: usize) -> S3Result<(Vec<u8>, usize, ChunkedDecoder)> {
        let mut d = ChunkedDecoder::new();
        let (out, used) = drive(|b| d.feed(b), input, piece)?;
        Ok((out, used, d))
    }

    const BODY: &[u8] = b"5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\n\r\nNEXT";

    #[test]
    fn decodes_in_one_piece_and_byte_by_byte() {
        for piece in [1, 2, 3, 7, BODY.len()] {
            let (out, used, d) = decode(BODY, piece).unwrap();
            assert_eq!(out, b"hello, world");
            assert_eq!(&BODY[used..], b"NEXT", "piece {piece}");
            assert_eq!(d.decoded_len(), 12);
            assert!(d.is_done());
            assert!(d.finish().is_ok());
        }
    }

    #[test]
    fn payload_is_a_range_of_the_input() {
        let mut d = ChunkedDecoder::new();
        let step = d.feed(BODY).unwrap();
        assert_eq!(step.payload, Some(3..8));
        assert_eq!(step.consumed, 8);
        assert!(!step.done);
    }

    #[test]
    fn trailers_are_collected_lower_case() {
        let body = b"3\r\nabc\r\n0\r\nX-Checksum: 1234 \r\nOther:v\r\n\r\n";
        for piece in [1, body.len()] {
            let (out, _, d) = decode(body, piece).unwrap();
            assert_eq!(out, b"abc");
            assert_eq!(
                d.trailers(),
                &[
                    ("x-checksum".to_string(), "1234".to_string()),
                    ("other".into(), "v".into())
                ]
            );
        }
    }

    #[test]
    fn uppercase_hex_and_leading_zeros() {
        let mut body = b"00A\r\n".to_vec();
        body.extend_from_slice(&[b'x'; 10]);
        body.extend_from_slice(b"\r\n0000\r\n\r\n");
        let (out, _, _) = decode(&body, 1).unwrap();
        assert_eq!(out.len(), 10);
    }

    #[test]
    fn malformed_framing_is_rejected() {
        let cases: &[&[u8]] = &[
            b"\r\n",
            b"zz\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5 x\r\nhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"3\r\nabc\r\n0\r\nno colon\r\n\r\n",
            b"3\r\nabc\r\n0\r\nbad name: v\r\n\r\n",
            b"3\r\nabc\r\n0\r\n folded\r\n\r\n",
            b"-1\r\n",
        ];
        for case in cases {
            let err = decode(case, 1).unwrap_err();
            assert_eq!(
                err.code,
                ErrorCode::InvalidRequest,
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn truncated_body_is_incomplete() {
        let err = decode(b"5\r\nhel", 1).unwrap_err();
        assert_eq!(err.code, ErrorCode::IncompleteBody);
        let mut d = ChunkedDecoder::new();
        d.feed(b"5\r\nhel").unwrap();
        assert_eq!(d.finish().unwrap_err().code, ErrorCode::IncompleteBody);
    }

    #[test]
    fn sizes_are_bounded() {
        // 2^40 is accepted as a size; one more is not; absurd lengths never overflow.
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(b"10000000000\r\n").is_ok());
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(b"10000000001\r\n").is_err());
        let mut d = ChunkedDecoder::new();
        assert!(d.feed(b"ffffffffffffffffffffffffffff\r\n").is_err());
    }

    #[test]
    fn lines_are_bounded() {
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'x', SIZE_LINE_MAX_BYTES));
        long.extend_from_slice(b"\r\n");
        assert!(decode(&long, 100).is_err());
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..(TRAILER_SECTION_MAX_BYTES / 10) {
            trailers.extend_from_slice(b"a: 123456\r\n");
        }
        trailers.extend_from_slice(b"\r\n");
        assert!(decode(&trailers, 64).is_err());
    }

    #[test]
    fn done_decoder_consumes_nothing_more() {
        let mut d = ChunkedDecoder::new();
        let step = d.feed(b"0\r\n\r\n").unwrap();
        assert!(step.done);
        let again = d.feed(b"more").unwrap();
        assert_eq!(
            again,
            Step {
                consumed: 0,
                payload: None,
                done: true
            }
        );
    }

    #[test]
    fn line_buf_joins_split_lines() {
        let mut l = LineBuf::new();
        assert_eq!(l.feed(b"ab", 10).unwrap(), (2, false));
        assert_eq!(l.feed(b"c\r", 10).unwrap(), (2, false));
        assert_eq!(l.feed(b"\nrest", 10).unwrap(), (1, true));
        assert_eq!(l.line(), b"abc");
        l.clear();
        assert!(l.feed(b"0123456789ab", 10).is_err());
    }
}

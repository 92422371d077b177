//! Request bodies, streamed: the handler pulls bytes straight into its own (aligned) buffers.
//!
//! Content-Length bodies are read from the socket directly into the caller's buffer once the
//! bytes already buffered with the head are used up, so a PUT's payload is copied by the
//! kernel into the O_DIRECT buffer and nowhere else. Chunked bodies are decoded in place.

use super::chunked::{ChunkedDecoder, Step};
use super::io::Io;
use crate::error::{ErrorCode, S3Error, S3Result};

pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

pub struct BodyReader<'c> {
    io: &'c mut Io,
    framing: Framing,
    remaining: u64,
    chunked: Option<ChunkedDecoder>,
    continue_pending: bool,
    done: bool,
    /// A read failed (timeout, broken framing, peer gone): the rest of the body cannot be
    /// found, so nothing more is read and the connection is not reused.
    failed: bool,
    /// Payload bytes handed to the caller so far.
    pub received: u64,
}

impl<'c> BodyReader<'c> {
    pub fn new(io: &'c mut Io, framing: Framing, expect_continue: bool) -> Self {
        let (remaining, done, chunked) = match framing {
            Framing::None => (0, true, None),
            Framing::Length(n) => (n, n == 0, None),
            Framing::Chunked => (0, false, Some(ChunkedDecoder::new())),
        };
        BodyReader {
            io,
            framing,
            remaining,
            chunked,
            continue_pending: expect_continue,
            done,
            failed: false,
            received: 0,
        }
    }

    /// The declared length, when the body has one.
    pub fn content_length(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(n) => Some(n),
            _ => None,
        }
    }

    pub fn is_chunked(&self) -> bool {
        matches!(self.framing, Framing::Chunked)
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether the client may be holding back its body until we say `100 Continue`.
    pub fn continue_pending(&self) -> bool {
        self.continue_pending
    }

    /// Reads payload into `dst`; returns 0 only at the end of the body.
    pub async fn read(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        if self.done || dst.is_empty() {
            return Ok(0);
        }
        if self.continue_pending {
            self.continue_pending = false;
            self.io
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(|_| S3Error::new(ErrorCode::IncompleteBody))?;
        }
        if self.failed {
            return Err(S3Error::new(ErrorCode::IncompleteBody));
        }
        let read = match self.framing {
            Framing::None => Ok(0),
            Framing::Length(_) => self.read_length(dst).await,
            Framing::Chunked => self.read_chunked(dst).await,
        };
        let n = read.inspect_err(|_| self.failed = true)?;
        self.received += n as u64;
        Ok(n)
    }

    /// Whether a read of this body failed; its error has been (or is being) answered.
    pub fn failed(&self) -> bool {
        self.failed
    }

    /// Fills `dst` completely unless the body ends first; returns the bytes read.
    pub async fn read_full(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        fill_from(dst, async |d: &mut [u8]| self.read(d).await).await
    }

    async fn read_length(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        let want = (dst.len() as u64).min(self.remaining) as usize;
        let n = self.io.read_body(&mut dst[..want]).await?;
        if n == 0 {
            return Err(S3Error::new(ErrorCode::IncompleteBody));
        }
        self.remaining -= n as u64;
        if self.remaining == 0 {
            self.done = true;
        }
        Ok(n)
    }

    async fn read_chunked(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        loop {
            let raw = self.io.read_body(dst).await?;
            if raw == 0 {
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
            let Some(decoder) = self.chunked.as_mut() else {
                return Ok(0);
            };
            let decoded = decode_in_place(decoder, dst, raw)?;
            if let Some(end) = decoded.done_at {
                self.done = true;
                // Bytes past the body belong to the next (pipelined) request.
                self.io.unread(&dst[end..raw]);
                return Ok(decoded.payload_len);
            }
            if decoded.payload_len > 0 {
                return Ok(decoded.payload_len);
            }
        }
    }

    /// Reads and discards what is left, up to `max_bytes` and for at most `wait`; false if
    /// more remained (or the body is broken), and then the connection must close. A body
    /// declared longer than `max_bytes` is not read at all, so an error that refuses it
    /// (EntityTooLarge, AccessDenied) goes out at once, not after the upload.
    pub async fn drain(&mut self, max_bytes: u64, wait: std::time::Duration) -> bool {
        if self.failed {
            return false;
        }
        if let Framing::Length(_) = self.framing {
            if self.remaining > max_bytes {
                return false;
            }
        }
        let drained = async {
            let mut scratch = vec![0u8; 16 * 1024];
            let mut drained = 0u64;
            while !self.done {
                if drained > max_bytes {
                    return false;
                }
                match self.read(&mut scratch).await {
                    Ok(0) => break,
                    Ok(n) => drained += n as u64,
                    Err(_) => return false,
                }
            }
            true
        };
        futures_lite::future::or(drained, async {
            glommio::timer::sleep(wait).await;
            false
        })
        .await
    }
}

/// Fills `dst` from `read` (which returns 0 only at the end of its input) unless the input
/// ends first; returns the bytes read. The one read-until-full loop of the crate: request
/// bodies, payload decoders, data-file writers and gateway uploads all read through it.
pub async fn fill_from(
    dst: &mut [u8],
    mut read: impl AsyncFnMut(&mut [u8]) -> S3Result<usize>,
) -> S3Result<usize> {
    let mut filled = 0;
    while filled < dst.len() {
        let n = read(&mut dst[filled..]).await?;
        if n == 0 {
            break;
        }
        // A reader never claims more than it was given room for.
        assert!(n <= dst.len() - filled);
        filled += n;
    }
    Ok(filled)
}

/// A streaming framing decoder (HTTP chunked, aws-chunked): consumes input, points at payload.
pub trait FramingDecoder {
    fn feed(&mut self, input: &[u8]) -> S3Result<Step>;
}

impl FramingDecoder for ChunkedDecoder {
    fn feed(&mut self, input: &[u8]) -> S3Result<Step> {
        ChunkedDecoder::feed(self, input)
    }
}

pub struct Decoded {
    /// Payload bytes now at the front of the buffer.
    pub payload_len: usize,
    /// Where the framed body ended within the raw bytes, if it did.
    pub done_at: Option<usize>,
}

/// Decodes `buf[..raw]` in place: payload is moved to the front of `buf` (a move within
/// the same cache-hot buffer, not a copy into another one).
pub fn decode_in_place(
    dec: &mut dyn FramingDecoder,
    buf: &mut [u8],
    raw: usize,
) -> S3Result<Decoded> {
    let mut pos = 0;
    let mut out = 0;
    while pos < raw {
        let step = dec.feed(&buf[pos..raw])?;
        if let Some(r) = step.payload {
            buf.copy_within(pos + r.start..pos + r.end, out);
            out += r.len();
        }
        pos += step.consumed;
        if step.done {
            return Ok(Decoded {
                payload_len: out,
                done_at: Some(pos),
            });
        }
        if step.consumed == 0 {
            break;
        }
    }
    Ok(Decoded {
        payload_len: out,
        done_at: None,
    })
}

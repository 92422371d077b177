//! The request payload as handlers see it: aws-chunked framing removed, every byte hashed
//! once as it passes (MD5 for the ETag, SHA-256 when the signature covers the body, and the
//! additional checksums the client announced), and all of it verified at the end.

use crate::auth::chunked::AwsChunkedDecoder;
use crate::auth::sigv4::{DeferredSignature, PayloadMode};
use crate::engine::Checksums;
use crate::http::body::{decode_in_place, BodyReader};
use crate::http::head::RequestHead;
use crate::runtime::md5_batch;
use crate::s3::checksum::{self, Algo, Hashers, ALL_ALGOS};
use crate::s3::endpoint::Endpoint;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use futures::future::LocalBoxFuture;
use sha2::{Digest, Sha256};

pub struct PayloadReader<'r, 'c> {
    body: &'r mut BodyReader<'c>,
    aws: Option<AwsChunkedDecoder>,
    expect_sha256: Option<[u8; 32]>,
    /// A signature that covers the body's SHA-256 (checked in `verify_end`).
    deferred: Option<Box<DeferredSignature>>,
    sha: Option<Sha256>,
    /// A body read and verified before the handler ran, served from here.
    buffered: Option<(Vec<u8>, usize)>,
    hashers: Option<Hashers>,
    /// Checksums to verify: (algorithm, value from a header; None = comes in a trailer).
    announced: Vec<(Algo, Option<String>)>,
    content_md5: Option<[u8; 16]>,
    declared_len: Option<u64>,
    pub len: u64,
    eof: bool,
    /// Counts this upload among those its core's MD5 batches can wait for.
    _md5_stream: Option<md5_batch::Stream>,
}

pub use crate::engine::Verified;

impl<'r, 'c> PayloadReader<'r, 'c> {
    /// `extra_algos`: checksums to compute even if the client did not announce them.
    pub fn new(
        body: &'r mut BodyReader<'c>,
        mode: &PayloadMode,
        head: &RequestHead,
        extra_algos: &[Algo],
    ) -> S3Result<Self> {
        let aws = AwsChunkedDecoder::from_payload(mode);
        let expect_sha256 = match mode {
            PayloadMode::Sha256(h) => Some(*h),
            _ => None,
        };
        let deferred = match mode {
            PayloadMode::DeferredSignature(d) => Some(d.clone()),
            _ => None,
        };
        let buffered = match mode {
            PayloadMode::Buffered(bytes) => Some((bytes.clone(), 0)),
            _ => None,
        };
        let announced = announced_checksums(head, aws.is_some())?;
        let mut algos: Vec<Algo> = announced.iter().map(|(a, _)| *a).collect();
        algos.extend_from_slice(extra_algos);
        let content_md5 = head
            .header("content-md5")
            .map(checksum::parse_content_md5)
            .transpose()?;
        let declared_len = if aws.is_some() {
            let v = head.header("x-amz-decoded-content-length");
            match v {
                Some(v) => Some(v.parse::<u64>().map_err(|_| {
                    S3Error::invalid_argument(
                        "Invalid x-amz-decoded-content-length",
                        "x-amz-decoded-content-length",
                        v,
                    )
                })?),
                None => None,
            }
        } else if let Some((bytes, _)) = &buffered {
            Some(bytes.len() as u64)
        } else {
            body.content_length()
        };
        let hash_body = expect_sha256.is_some() || deferred.is_some();
        Ok(PayloadReader {
            body,
            aws,
            expect_sha256,
            deferred,
            sha: hash_body.then(Sha256::new),
            buffered,
            hashers: Some(Hashers::new(&algos)),
            announced,
            content_md5,
            declared_len,
            len: 0,
            eof: false,
            _md5_stream: md5_batch::Stream::for_upload(declared_len),
        })
    }

    /// The payload length the client declared, if it did.
    pub fn declared_len(&self) -> Option<u64> {
        self.declared_len
    }

    /// Fills `dst` unless the payload ends first; returns the bytes read.
    pub async fn read_full(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        let mut filled = 0;
        while filled < dst.len() {
            let n = self.read_payload(&mut dst[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(filled)
    }

    pub async fn read_payload(&mut self, dst: &mut [u8]) -> S3Result<usize> {
        if self.eof || dst.is_empty() {
            return Ok(0);
        }
        let n = loop {
            if let Some((bytes, pos)) = self.buffered.as_mut() {
                let n = (bytes.len() - *pos).min(dst.len());
                dst[..n].copy_from_slice(&bytes[*pos..*pos + n]);
                *pos += n;
                break n;
            }
            let raw = self.body.read(dst).await?;
            let Some(aws) = self.aws.as_mut() else {
                break raw;
            };
            if raw == 0 {
                aws.finish()?;
                break 0;
            }
            let d = decode_in_place(aws, dst, raw)?;
            if d.done_at.is_some() {
                self.eof = true;
            }
            if d.payload_len > 0 || self.eof {
                break d.payload_len;
            }
        };
        if n == 0 {
            self.eof = true;
            return Ok(0);
        }
        let data = &dst[..n];
        if let Some(h) = self.hashers.as_mut() {
            // SAFETY: awaited here. The connection tasks that drive every payload are
            // polled to completion or dropped (closed, timed out); none is ever leaked.
            unsafe { h.update_batched(data) }.await;
        }
        if let Some(s) = self.sha.as_mut() {
            s.update(data);
        }
        self.len += n as u64;
        if let Some(max) = self.declared_len {
            if self.len > max {
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
        }
        Ok(n)
    }

    /// After the last byte: signature hash, declared length. Cheap; call before `finish`.
    pub fn verify_end(&mut self) -> S3Result<()> {
        if let Some(aws) = &self.aws {
            aws.finish()?;
        }
        if let Some(max) = self.declared_len {
            if self.len != max {
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
        }
        if let Some(expected) = self.expect_sha256 {
            let Some(s) = self.sha.take() else {
                return Ok(()); // verified already
            };
            let got: [u8; 32] = s.finalize().into();
            if got != expected {
                return Err(S3Error::new(ErrorCode::XAmzContentSHA256Mismatch)
                    .with("ClientComputedContentSHA256", hex::encode(expected))
                    .with("S3ComputedContentSHA256", hex::encode(got)));
            }
        }
        if let Some(deferred) = &self.deferred {
            let consumed = match &self.buffered {
                Some((bytes, pos)) => *pos == bytes.len(),
                None => self.body.is_done(),
            };
            if !self.eof && !consumed {
                // Only a body read to its end can be hashed: never vouch for a part of one.
                return Err(S3Error::new(ErrorCode::IncompleteBody));
            }
            let got: [u8; 32] = self
                .sha
                .take()
                .map(|s| s.finalize().into())
                .ok_or_else(|| S3Error::internal("payload verified twice"))?;
            deferred.verify(&got)?;
            self.deferred = None;
        }
        Ok(())
    }

    /// Verifies the signature and Content-MD5 only: for a body whose `x-amz-checksum-*`
    /// headers describe something else (CompleteMultipartUpload: the object assembled).
    pub fn finish_md5_only(&mut self) -> S3Result<()> {
        self.verify_end()?;
        let digests = self
            .hashers
            .take()
            .map(|h| h.finish())
            .ok_or_else(|| S3Error::internal("payload finished twice"))?;
        match self.content_md5 {
            Some(md5) if md5 != digests.md5 => Err(S3Error::new(ErrorCode::BadDigest)),
            _ => Ok(()),
        }
    }

    /// Verifies everything and returns the digests. Reads nothing more; call once.
    pub fn finish(&mut self) -> S3Result<Verified> {
        self.verify_end()?;
        let digests = self
            .hashers
            .take()
            .map(|h| h.finish())
            .ok_or_else(|| S3Error::internal("payload finished twice"))?;
        if let Some(md5) = self.content_md5 {
            if md5 != digests.md5 {
                return Err(S3Error::new(ErrorCode::BadDigest));
            }
        }
        let trailers: Vec<(String, String)> = self
            .aws
            .as_ref()
            .map(|a| a.trailers().to_vec())
            .unwrap_or_default();
        let mut out = Checksums::default();
        for (algo, header_value) in &self.announced {
            let expected = match header_value {
                Some(v) => Some(v.clone()),
                None => trailers
                    .iter()
                    .find(|(n, _)| n == algo.header())
                    .map(|(_, v)| v.clone()),
            };
            let computed = digests
                .checksums
                .iter()
                .find(|(a, _)| a == algo)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            if let Some(exp) = expected {
                if exp != computed {
                    return Err(S3Error::msg(
                        ErrorCode::BadDigest,
                        format!(
                            "The {} you specified did not match the calculated checksum.",
                            algo.name()
                        ),
                    ));
                }
            }
            checksum::set(&mut out, *algo, computed);
        }
        Ok(Verified {
            len: self.len,
            md5: digests.md5,
            checksums: out,
        })
    }
}

/// The most a deferred-signature body is read into memory for an operation that does not
/// stream its body (XML documents; bodies of operations that take none).
pub const DEFERRED_BUFFER_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Settles a [`PayloadMode::DeferredSignature`] before the handler runs, so no handler ever
/// acts for a caller whose signature was not checked:
/// - PutObject and UploadPart stream their body and verify at its end, before committing
///   anything (`PayloadReader::verify_end`): the mode stays deferred.
/// - Every other operation gets its body read here (at most `DEFERRED_BUFFER_MAX_BYTES`),
///   hashed and verified; the handler then reads the same bytes from memory.
///
/// Any other mode is left as it is (the common path costs one match).
pub async fn settle_deferred(
    mode: &mut PayloadMode,
    endpoint: &Endpoint,
    body: &mut BodyReader<'_>,
) -> S3Result<()> {
    let PayloadMode::DeferredSignature(deferred) = mode else {
        return Ok(());
    };
    if matches!(endpoint, Endpoint::PutObject | Endpoint::UploadPart { .. }) {
        return Ok(());
    }
    let mut sha = Sha256::new();
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    // While it streams in (the slow part a trickling client controls), the body is on the
    // core's budget for buffered request bytes; the handler's own copy takes its share then.
    let mut lease = crate::runtime::budget::Lease::empty();
    loop {
        let n = body.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if bytes.len() + n > DEFERRED_BUFFER_MAX_BYTES {
            return Err(S3Error::new(ErrorCode::MaxMessageLengthExceeded));
        }
        if bytes.len() + n > lease.bytes() {
            lease.grow(buf.len()).await?;
        }
        sha.update(&buf[..n]);
        bytes.extend_from_slice(&buf[..n]);
    }
    deferred.verify(&sha.finalize().into())?;
    *mode = PayloadMode::Buffered(bytes);
    Ok(())
}

/// The checksums a request announces: `x-amz-checksum-*` headers (with values), names in
/// `x-amz-trailer` (values come later), or `x-amz-sdk-checksum-algorithm` (compute only).
fn announced_checksums(
    head: &RequestHead,
    streaming: bool,
) -> S3Result<Vec<(Algo, Option<String>)>> {
    let mut out: Vec<(Algo, Option<String>)> = Vec::new();
    for a in ALL_ALGOS {
        if let Some(v) = head.header(a.header()) {
            checksum::validate_value(a, v)?;
            out.push((a, Some(v.to_string())));
        }
    }
    if let Some(t) = head.header("x-amz-trailer") {
        if !streaming {
            return Err(S3Error::msg(
                ErrorCode::InvalidRequest,
                "x-amz-trailer requires an aws-chunked body",
            ));
        }
        for name in t.split(',').map(str::trim) {
            let algo = name
                .strip_prefix("x-amz-checksum-")
                .and_then(Algo::parse)
                .ok_or_else(|| {
                    S3Error::invalid_argument("Unsupported trailer", "x-amz-trailer", name)
                })?;
            if !out.iter().any(|(a, _)| *a == algo) {
                out.push((algo, None));
            }
        }
    }
    if let Some(v) = head
        .header("x-amz-sdk-checksum-algorithm")
        .or(head.header("x-amz-checksum-algorithm"))
    {
        let algo = Algo::parse(v).ok_or_else(|| {
            S3Error::invalid_argument(
                "Checksum algorithm not supported",
                "x-amz-sdk-checksum-algorithm",
                v,
            )
        })?;
        if !out.iter().any(|(a, _)| *a == algo) {
            out.push((algo, None));
        }
    }
    if out.len() > 1 && out.iter().filter(|(_, v)| v.is_some()).count() > 1 {
        return Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Expecting a single x-amz-checksum- header",
        ));
    }
    Ok(out)
}

impl crate::engine::ByteSource for PayloadReader<'_, '_> {
    fn read<'a>(&'a mut self, dst: &'a mut [u8]) -> LocalBoxFuture<'a, S3Result<usize>> {
        Box::pin(self.read_payload(dst))
    }
}

impl crate::engine::Payload for PayloadReader<'_, '_> {
    fn declared_len(&self) -> Option<u64> {
        self.declared_len
    }

    fn finish(&mut self) -> S3Result<Verified> {
        PayloadReader::finish(self)
    }
}

//! Streaming decoder for `aws-chunked` bodies (`x-amz-content-sha256: STREAMING-...`).
//!
//! The framing is HTTP chunked framing (shared with `http::chunked`), plus a signature per
//! chunk that chains from the request's seed signature, and for the trailer variants a
//! trailer section (checksums) that may itself be signed.
//!
//! Payload is never copied: each chunk's bytes are hashed as they pass and handed back as a
//! range of the caller's input. A chunk's signature can only be checked once the whole chunk
//! has passed, so payload handed out is tentative until `feed` reports `done`; the caller must
//! not commit anything (make an object visible) before that.

use crate::auth::sigv4::{hmac_sha256, ChunkSigningContext, PayloadMode, EMPTY_SHA256_HEX};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::http::chunked::{ChunkFraming, ChunkObserver, Step};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Largest aws-chunked chunk accepted (SDKs send 64 KiB to 1 MiB chunks).
pub const AWS_CHUNK_SIZE_MAX_BYTES: u64 = 16 * 1024 * 1024;

const TRAILER_SIGNATURE_NAME: &str = "x-amz-trailer-signature";

/// Which aws-chunked variant a body uses, with the signing context when chunks are signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Streaming {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailers.
    Signed(ChunkSigningContext),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and a signed trailer section.
    SignedTrailer(ChunkSigningContext),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks and unsigned trailers.
    UnsignedTrailer,
}

/// String-to-sign of one chunk, chained to the previous signature (hex).
pub fn chunk_string_to_sign(
    ctx: &ChunkSigningContext,
    previous: &str,
    data_hash_hex: &str,
) -> String {
    format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{}\n{}\n{previous}\n{EMPTY_SHA256_HEX}\n{data_hash_hex}",
        ctx.amz_date, ctx.scope
    )
}

/// Hex signature of a chunk with `data`, chained to `previous` (what a client puts on the wire).
pub fn chunk_signature(ctx: &ChunkSigningContext, previous: &str, data: &[u8]) -> String {
    let to_sign = chunk_string_to_sign(ctx, previous, &hex::encode(Sha256::digest(data)));
    hex::encode(hmac_sha256(&ctx.signing_key, to_sign.as_bytes()))
}

/// Hex signature of a trailer section, chained to the last chunk's signature. Each trailer
/// is hashed as `name:value\n`.
pub fn trailer_signature(
    ctx: &ChunkSigningContext,
    previous: &str,
    trailers: &[(String, String)],
) -> String {
    hex::encode(trailer_signature_bytes(ctx, previous, trailers))
}

fn trailer_signature_bytes(
    ctx: &ChunkSigningContext,
    previous: &str,
    trailers: &[(String, String)],
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for (name, value) in trailers {
        hasher.update(name.as_bytes());
        hasher.update(b":");
        hasher.update(value.as_bytes());
        hasher.update(b"\n");
    }
    let to_sign = format!(
        "AWS4-HMAC-SHA256-TRAILER\n{}\n{}\n{previous}\n{}",
        ctx.amz_date,
        ctx.scope,
        hex::encode(hasher.finalize())
    );
    hmac_sha256(&ctx.signing_key, to_sign.as_bytes())
}

fn malformed(message: &str) -> S3Error {
    S3Error::msg(ErrorCode::InvalidRequest, message)
}

fn mismatch() -> S3Error {
    S3Error::new(ErrorCode::SignatureDoesNotMatch)
}

fn parse_hex_signature(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut out).ok().map(|_| out)
}

/// The signature chain of a signed body.
#[derive(Debug)]
struct Chain {
    ctx: ChunkSigningContext,
    /// Hex signature of the previous chunk (the seed before the first).
    previous: String,
    /// The signature the current chunk's header claims.
    claimed: [u8; 32],
    hasher: Sha256,
}

impl Chain {
    fn verify_chunk(&mut self) -> S3Result<()> {
        let data_hash = hex::encode(self.hasher.finalize_reset());
        let to_sign = chunk_string_to_sign(&self.ctx, &self.previous, &data_hash);
        let actual = hmac_sha256(&self.ctx.signing_key, to_sign.as_bytes());
        if !bool::from(actual.ct_eq(&self.claimed)) {
            return Err(mismatch());
        }
        self.previous = hex::encode(actual);
        Ok(())
    }

    fn verify_trailers(&self, trailers: &[(String, String)], claimed: &[u8; 32]) -> S3Result<()> {
        let actual = trailer_signature_bytes(&self.ctx, &self.previous, trailers);
        if bool::from(actual.ct_eq(claimed)) {
            Ok(())
        } else {
            Err(mismatch())
        }
    }
}

/// The aws-chunked rules on top of chunk framing.
#[derive(Debug)]
struct AwsRules {
    chain: Option<Chain>,
    trailers_allowed: bool,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<[u8; 32]>,
}

impl AwsRules {
    fn new(streaming: Streaming) -> Self {
        let chain = |ctx: ChunkSigningContext| Chain {
            previous: ctx.seed_signature.clone(),
            ctx,
            claimed: [0; 32],
            hasher: Sha256::new(),
        };
        let (chain, trailers_allowed) = match streaming {
            Streaming::Signed(ctx) => (Some(chain(ctx)), false),
            Streaming::SignedTrailer(ctx) => (Some(chain(ctx)), true),
            Streaming::UnsignedTrailer => (None, true),
        };
        AwsRules {
            chain,
            trailers_allowed,
            trailers: Vec::new(),
            trailer_signature: None,
        }
    }
}

impl ChunkObserver for AwsRules {
    fn on_chunk_header(&mut self, _size: u64, extensions: &[u8]) -> S3Result<()> {
        let Some(chain) = self.chain.as_mut() else {
            return Ok(()); // unsigned chunks: extensions carry nothing we check
        };
        let claimed = std::str::from_utf8(extensions)
            .ok()
            .and_then(|e| e.trim().strip_prefix("chunk-signature="))
            .and_then(parse_hex_signature)
            .ok_or_else(|| {
                malformed("A signed chunk must carry chunk-signature=<64 hex digits>.")
            })?;
        chain.claimed = claimed;
        Ok(())
    }

    fn on_chunk_data(&mut self, data: &[u8]) {
        if let Some(chain) = self.chain.as_mut() {
            chain.hasher.update(data);
        }
    }

    fn on_chunk_end(&mut self) -> S3Result<()> {
        match self.chain.as_mut() {
            Some(chain) => chain.verify_chunk(),
            None => Ok(()),
        }
    }

    fn on_trailer(&mut self, name: String, value: String) -> S3Result<()> {
        if !self.trailers_allowed {
            return Err(malformed(
                "This aws-chunked payload does not allow trailers.",
            ));
        }
        if self.trailer_signature.is_some() {
            return Err(malformed("The trailer signature must be the last trailer."));
        }
        if name != TRAILER_SIGNATURE_NAME {
            self.trailers.push((name, value));
            return Ok(());
        }
        if self.chain.is_none() {
            return Err(malformed(
                "An unsigned payload cannot carry a trailer signature.",
            ));
        }
        let signature = parse_hex_signature(&value)
            .ok_or_else(|| malformed("x-amz-trailer-signature must be 64 hex digits."))?;
        self.trailer_signature = Some(signature);
        Ok(())
    }

    fn on_end(&mut self) -> S3Result<()> {
        match (&self.chain, self.trailers_allowed, &self.trailer_signature) {
            (Some(chain), true, Some(claimed)) => chain.verify_trailers(&self.trailers, claimed),
            (Some(_), true, None) => Err(malformed("The trailer signature is missing.")),
            _ => Ok(()),
        }
    }
}

/// Decodes an aws-chunked body incrementally, verifying chunk and trailer signatures.
///
/// Same loop as `http::chunked::ChunkedDecoder`: feed the unconsumed input, use `payload`
/// (a range of that input), stop at `done`; then compare `decoded_len` with
/// `x-amz-decoded-content-length` and `trailers` with the announced checksums.
#[derive(Debug)]
pub struct AwsChunkedDecoder {
    framing: ChunkFraming,
    rules: AwsRules,
}

/// The http body reader drives this decoder like its own chunked one; the impl lives here,
/// above the trait, so the wire layer never names auth.
impl crate::http::body::FramingDecoder for AwsChunkedDecoder {
    fn feed(&mut self, input: &[u8]) -> S3Result<Step> {
        AwsChunkedDecoder::feed(self, input)
    }
}

impl AwsChunkedDecoder {
    pub fn new(streaming: Streaming, chunk_size_max_bytes: u64) -> Self {
        AwsChunkedDecoder {
            framing: ChunkFraming::new(chunk_size_max_bytes),
            rules: AwsRules::new(streaming),
        }
    }

    /// The decoder for a streaming payload mode (default chunk limit); `None` when the body
    /// is not aws-chunked.
    pub fn from_payload(mode: &PayloadMode) -> Option<Self> {
        let streaming = match mode {
            PayloadMode::StreamingSigned(ctx) => Streaming::Signed(ctx.clone()),
            PayloadMode::StreamingSignedTrailer(ctx) => Streaming::SignedTrailer(ctx.clone()),
            PayloadMode::StreamingUnsignedTrailer => Streaming::UnsignedTrailer,
            PayloadMode::Unsigned
            | PayloadMode::Sha256(_)
            | PayloadMode::DeferredSignature(_)
            | PayloadMode::Buffered(_) => return None,
        };
        Some(AwsChunkedDecoder::new(streaming, AWS_CHUNK_SIZE_MAX_BYTES))
    }

    pub fn feed(&mut self, input: &[u8]) -> S3Result<Step> {
        self.framing.feed(input, &mut self.rules)
    }

    /// Trailer fields (lower-case names) without the trailer signature; complete once done.
    pub fn trailers(&self) -> &[(String, String)] {
        &self.rules.trailers
    }

    pub fn decoded_len(&self) -> u64 {
        self.framing.decoded_len()
    }

    pub fn is_done(&self) -> bool {
        self.framing.is_done()
    }

    /// Call at end of input: a body cut short is `IncompleteBody`.
    pub fn finish(&self) -> S3Result<()> {
        if self.is_done() {
            Ok(())
        } else {
            Err(S3Error::new(ErrorCode::IncompleteBody))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sigv4::tests::{chunked_example_outcome, trailer_example_outcome};
    use crate::http::chunked::tests::drive;

    /// AWS's published chunk signatures for 64 KiB + 1 KiB of `a` and the final chunk.
    const CHUNK_SIGS: [&str; 3] = [
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ];
    /// The same for the trailer example (`sigv4-streaming-trailers`).
    const TRAILER_CHUNK_SIGS: [&str; 3] = [
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    ];
    const TRAILER_SIG: &str = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";

    fn example_body(sigs: [&str; 3], trailers: &str) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(format!("10000;chunk-signature={}\r\n", sigs[0]).as_bytes());
        body.extend_from_slice(&[b'a'; 65_536]);
        body.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", sigs[1]).as_bytes());
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(format!("\r\n0;chunk-signature={}\r\n", sigs[2]).as_bytes());
        body.extend_from_slice(trailers.as_bytes());
        body.extend_from_slice(b"\r\n");
        body
    }

    fn trailer_section(sig: &str) -> String {
        format!("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{sig}\r\n")
    }

    fn decode(
        mode: &PayloadMode,
        body: &[u8],
        piece: usize,
    ) -> S3Result<(Vec<u8>, AwsChunkedDecoder)> {
        let mut d =
            AwsChunkedDecoder::from_payload(mode).ok_or_else(|| malformed("not streaming"))?;
        let (out, used) = drive(|b| d.feed(b), body, piece)?;
        assert_eq!(used, body.len());
        Ok((out, d))
    }

    #[test]
    fn published_chunk_signatures_are_reproduced() {
        let PayloadMode::StreamingSigned(ctx) = chunked_example_outcome().payload else {
            panic!("expected signed streaming");
        };
        let s1 = chunk_signature(&ctx, &ctx.seed_signature, &[b'a'; 65_536]);
        let s2 = chunk_signature(&ctx, &s1, &[b'a'; 1024]);
        let s3 = chunk_signature(&ctx, &s2, b"");
        assert_eq!([s1.as_str(), s2.as_str(), s3.as_str()], CHUNK_SIGS);
    }

    #[test]
    fn aws_example_decodes_whole_and_byte_by_byte() {
        let mode = chunked_example_outcome().payload;
        let body = example_body(CHUNK_SIGS, "");
        assert_eq!(body.len(), 66_824, "the documented Content-Length");
        for piece in [body.len(), 1, 4093] {
            let (out, d) = decode(&mode, &body, piece).unwrap();
            assert_eq!(out.len(), 66_560);
            assert!(out.iter().all(|&b| b == b'a'));
            assert_eq!(d.decoded_len(), 66_560);
            assert!(d.trailers().is_empty());
            assert!(d.finish().is_ok());
        }
    }

    #[test]
    fn aws_trailer_example_decodes() {
        let mode = trailer_example_outcome().payload;
        let body = example_body(TRAILER_CHUNK_SIGS, &trailer_section(TRAILER_SIG));
        for piece in [body.len(), 1] {
            let (out, d) = decode(&mode, &body, piece).unwrap();
            assert_eq!(out.len(), 66_560);
            assert_eq!(
                d.trailers(),
                &[("x-amz-checksum-crc32c".into(), "sOO8/Q==".into())]
            );
        }
    }

    #[test]
    fn tampering_is_detected() {
        let mode = chunked_example_outcome().payload;
        let mut flipped = example_body(CHUNK_SIGS, "");
        flipped[66_000] = b'b';
        assert_eq!(
            decode(&mode, &flipped, 8192).unwrap_err().code,
            ErrorCode::SignatureDoesNotMatch
        );

        let mut sigs = CHUNK_SIGS;
        let wrong = CHUNK_SIGS[1].replace("0055", "0056");
        sigs[1] = &wrong;
        let err = decode(&mode, &example_body(sigs, ""), 8192).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);

        // Chunks out of order break the chain.
        let swapped = [CHUNK_SIGS[1], CHUNK_SIGS[0], CHUNK_SIGS[2]];
        let err = decode(&mode, &example_body(swapped, ""), 8192).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);

        // A signed chunk without its signature is malformed; a body cut short is incomplete.
        let mut d = AwsChunkedDecoder::from_payload(&mode).unwrap();
        assert_eq!(
            d.feed(b"10000\r\naaaa").unwrap_err().code,
            ErrorCode::InvalidRequest
        );
        let mut truncated = example_body(CHUNK_SIGS, "");
        truncated.truncate(100);
        assert_eq!(
            decode(&mode, &truncated, 7).unwrap_err().code,
            ErrorCode::IncompleteBody
        );
    }

    #[test]
    fn tampered_or_missing_trailer_signature() {
        let mode = trailer_example_outcome().payload;
        let changed = trailer_section(TRAILER_SIG).replace("sOO8", "sOO9");
        let err = decode(&mode, &example_body(TRAILER_CHUNK_SIGS, &changed), 8192).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
        let unsigned = "x-amz-checksum-crc32c:sOO8/Q==\r\n";
        let err = decode(&mode, &example_body(TRAILER_CHUNK_SIGS, unsigned), 8192).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        let late = format!("{}x-amz-more:1\r\n", trailer_section(TRAILER_SIG));
        let err = decode(&mode, &example_body(TRAILER_CHUNK_SIGS, &late), 8192).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn trailers_are_refused_where_not_announced() {
        let mode = chunked_example_outcome().payload;
        let body = example_body(CHUNK_SIGS, "x-amz-checksum-crc32:AAAAAA==\r\n");
        assert_eq!(
            decode(&mode, &body, 8192).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn unsigned_trailer_variant() {
        let mode = PayloadMode::StreamingUnsignedTrailer;
        let body = b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
        for piece in [1, body.len()] {
            let (out, d) = decode(&mode, body, piece).unwrap();
            assert_eq!(out, b"abcde");
            assert_eq!(
                d.trailers(),
                &[("x-amz-checksum-crc32".into(), "NSRBwg==".into())]
            );
            assert_eq!(d.decoded_len(), 5);
        }
        let signed_trailer = b"0\r\nx-amz-trailer-signature:00\r\n\r\n";
        assert!(decode(&mode, signed_trailer, 1).is_err());
        assert!(AwsChunkedDecoder::from_payload(&PayloadMode::Unsigned).is_none());
    }

    #[test]
    fn limits_are_enforced() {
        let mode = PayloadMode::StreamingUnsignedTrailer;
        let mut d = AwsChunkedDecoder::from_payload(&mode).unwrap();
        assert!(d.feed(b"1000000\r\n").is_ok(), "16 MiB is allowed");
        let mut d = AwsChunkedDecoder::from_payload(&mode).unwrap();
        let err = d.feed(b"1000001\r\n").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        let mut d = AwsChunkedDecoder::new(Streaming::UnsignedTrailer, 8);
        assert!(d.feed(b"9\r\n").is_err());

        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'x', 5000));
        let mut d = AwsChunkedDecoder::from_payload(&mode).unwrap();
        assert!(drive(|b| d.feed(b), &long, 512).is_err());

        let mut many = b"0\r\n".to_vec();
        for i in 0..2000 {
            many.extend_from_slice(format!("x-amz-t{i}:v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let mut d = AwsChunkedDecoder::from_payload(&mode).unwrap();
        assert_eq!(
            drive(|b| d.feed(b), &many, 512).unwrap_err().code,
            ErrorCode::InvalidRequest
        );
    }
}

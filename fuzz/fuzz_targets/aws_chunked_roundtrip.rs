//! Round trip through `auth::chunked::AwsChunkedDecoder`: the input describes a body (chunks
//! and trailers), the target encodes it as a client would, signing chunks and trailers with
//! the public signer functions and the fixed key, then decodes it in pseudo-random pieces.
//! A correctly signed body must decode to exactly its data and trailers; a body with one
//! signature flipped must fail with SignatureDoesNotMatch.
//!
//! Input: byte 0 = variant (mod 3: unsigned-trailer, signed, signed-trailer) with bit 2 =
//! corrupt one signature and bit 3 = add chunk extensions; byte 1 = which signature to
//! corrupt; byte 2 = piece-size bound; then chunks as `len, data...` until a zero length;
//! the rest is trailer lines `name:value` separated by `\n`.
#![no_main]

use bleepstore::auth::chunked::{
    chunk_signature, trailer_signature, AwsChunkedDecoder, Streaming, AWS_CHUNK_SIZE_MAX_BYTES,
};
use bleepstore::s3::error::ErrorCode;
use bleepstore_fuzz::{chunk_ctx, drive, fnv, token, Pieces, SEED_SIGNATURE};
use libfuzzer_sys::fuzz_target;

const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// A trailer value as the decoder reports it: visible ASCII, trimmed.
fn value(s: &str) -> String {
    let v: String = s
        .bytes()
        .map(|b| {
            if (0x20..0x7f).contains(&b) {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    v.trim().to_string()
}

fn flip(sig: &mut String) {
    let first = if sig.starts_with('0') { "1" } else { "0" };
    sig.replace_range(..1, first);
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (flags, which, piece_max) = (data[0], data[1], data[2]);
    let ctx = chunk_ctx();
    let (streaming, signed, trailers_allowed) = match flags % 3 {
        0 => (Streaming::UnsignedTrailer, false, true),
        1 => (Streaming::Signed(ctx.clone()), true, false),
        _ => (Streaming::SignedTrailer(ctx.clone()), true, true),
    };
    let corrupt = signed && flags & 4 != 0;
    let extensions = flags & 8 != 0;

    // The body's description.
    let mut rest = &data[3..];
    let mut chunks: Vec<&[u8]> = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        rest = tail;
        if len == 0 {
            break;
        }
        let n = usize::from(len).min(rest.len());
        if n == 0 {
            break; // an empty chunk would be the last one
        }
        chunks.push(&rest[..n]);
        rest = &rest[n..];
    }
    let mut trailers: Vec<(String, String)> = Vec::new();
    if trailers_allowed {
        for line in String::from_utf8_lossy(rest)
            .split('\n')
            .filter(|l| !l.is_empty())
        {
            let (n, v) = line.split_once(':').unwrap_or((line, ""));
            let name = token(n);
            if name != TRAILER_SIGNATURE {
                trailers.push((name, value(v)));
            }
        }
    }

    // Sign and encode as a client would.
    let mut sigs: Vec<String> = Vec::new();
    let mut previous = SEED_SIGNATURE.to_string();
    for data in chunks.iter().copied().chain([&[][..]]) {
        let sig = chunk_signature(&ctx, &previous, data);
        previous = sig.clone();
        sigs.push(sig);
    }
    let mut trailer_sig = trailer_signature(&ctx, &previous, &trailers);
    let sig_count = sigs.len() + usize::from(trailers_allowed && signed);
    let bad = usize::from(which) % sig_count;
    if corrupt {
        match sigs.get_mut(bad) {
            Some(sig) => flip(sig),
            None => flip(&mut trailer_sig),
        }
    }
    let mut body = Vec::new();
    for (i, data) in chunks.iter().copied().chain([&[][..]]).enumerate() {
        body.extend_from_slice(format!("{:x}", data.len()).as_bytes());
        if signed {
            body.extend_from_slice(format!(";chunk-signature={}", sigs[i]).as_bytes());
        } else if extensions {
            body.extend_from_slice(b";ext=1");
        }
        body.extend_from_slice(b"\r\n");
        if !data.is_empty() {
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
    }
    for (name, value) in &trailers {
        body.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
    }
    if trailers_allowed && signed {
        body.extend_from_slice(format!("{TRAILER_SIGNATURE}:{trailer_sig}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(b"NEXT"); // the next pipelined request

    let mut d = AwsChunkedDecoder::new(streaming, AWS_CHUNK_SIZE_MAX_BYTES);
    let mut pieces = Pieces::new(fnv(data), usize::from(piece_max) + 1);
    let out = drive(|b| d.feed(b), &body, &mut pieces);
    if corrupt {
        assert_eq!(
            out.error,
            Some(ErrorCode::SignatureDoesNotMatch),
            "signature {bad} of {sig_count} flipped"
        );
        return;
    }
    assert_eq!(out.error, None, "a correctly signed body was refused");
    assert!(out.done);
    assert_eq!(out.consumed, body.len() - 4, "the body's end was misplaced");
    assert_eq!(out.payload, chunks.concat());
    assert_eq!(d.decoded_len(), out.payload.len() as u64);
    assert_eq!(d.trailers(), &trailers[..]);
});

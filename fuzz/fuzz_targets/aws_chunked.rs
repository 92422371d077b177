//! `auth::chunked::AwsChunkedDecoder` over a raw body. The first byte picks the variant:
//! `U` unsigned-trailer, `S` signed, `T` signed-trailer (lower case: a 64-byte chunk limit
//! instead of the default 16 MiB; any other byte: variant by its value mod 3). Signed variants
//! use a fixed key (see `bleepstore_fuzz::chunk_ctx`). The body is delivered whole, byte by
//! byte and in pseudo-random pieces; all must respect the `Step` contract and agree.
#![no_main]

use bleepstore::auth::chunked::{AwsChunkedDecoder, Streaming, AWS_CHUNK_SIZE_MAX_BYTES};
use bleepstore_fuzz::{chunk_ctx, drive, fnv, Decoded, Pieces};
use libfuzzer_sys::fuzz_target;

fn streaming(selector: u8) -> Streaming {
    match selector.to_ascii_uppercase() {
        b'U' => Streaming::UnsignedTrailer,
        b'S' => Streaming::Signed(chunk_ctx()),
        b'T' => Streaming::SignedTrailer(chunk_ctx()),
        _ => match selector % 3 {
            0 => Streaming::UnsignedTrailer,
            1 => Streaming::Signed(chunk_ctx()),
            _ => Streaming::SignedTrailer(chunk_ctx()),
        },
    }
}

fn decode(selector: u8, body: &[u8], mut pieces: Pieces) -> (Decoded, AwsChunkedDecoder) {
    let max = if selector.is_ascii_lowercase() {
        64
    } else {
        AWS_CHUNK_SIZE_MAX_BYTES
    };
    let mut d = AwsChunkedDecoder::new(streaming(selector), max);
    let out = drive(|b| d.feed(b), body, &mut pieces);
    (out, d)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let (whole, dw) = decode(selector, body, Pieces::fixed(usize::MAX));
    assert_eq!(dw.decoded_len(), whole.payload.len() as u64);
    assert_eq!(dw.finish().is_ok(), whole.done);
    if whole.done {
        assert!(
            !dw.trailers()
                .iter()
                .any(|(n, _)| n == "x-amz-trailer-signature"),
            "the trailer signature leaked into the trailers"
        );
    }
    for pieces in [Pieces::fixed(1), Pieces::new(fnv(data), 23)] {
        let (split, ds) = decode(selector, body, pieces);
        assert_eq!(split, whole, "the result depends on how the body was split");
        assert_eq!(ds.trailers(), dw.trailers());
    }
});

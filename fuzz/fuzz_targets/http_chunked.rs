//! `http::chunked::ChunkedDecoder` over a raw body, delivered whole, byte by byte and in
//! pseudo-random pieces: each delivery must respect the `Step` contract and all three must
//! agree (payload, where the body ends, success or the same error).
#![no_main]

use bleepstore::http::chunked::ChunkedDecoder;
use bleepstore_fuzz::{drive, fnv, Decoded, Pieces};
use libfuzzer_sys::fuzz_target;

fn decode(data: &[u8], mut pieces: Pieces) -> (Decoded, ChunkedDecoder) {
    let mut d = ChunkedDecoder::new();
    let out = drive(|b| d.feed(b), data, &mut pieces);
    (out, d)
}

fuzz_target!(|data: &[u8]| {
    let (whole, dw) = decode(data, Pieces::fixed(usize::MAX));
    assert_eq!(dw.decoded_len(), whole.payload.len() as u64);
    assert_eq!(dw.is_done(), whole.done);
    assert_eq!(dw.finish().is_ok(), whole.done);
    if whole.done {
        for (name, value) in dw.trailers() {
            assert!(!name.is_empty() && !name.bytes().any(|b| b.is_ascii_uppercase()));
            assert_eq!(value.trim_ascii(), value);
        }
    }
    for pieces in [Pieces::fixed(1), Pieces::new(fnv(data), 17)] {
        let (split, ds) = decode(data, pieces);
        assert_eq!(split, whole, "the result depends on how the body was split");
        assert_eq!(ds.trailers(), dw.trailers());
    }
});

//! SigV4 canonicalization: `canonical_uri`, `canonical_query` and `uri_encode` on arbitrary
//! text. Outputs must be fully encoded (only unreserved bytes, `%XX` escapes and the
//! separators), canonicalizing twice must change nothing, and `uri_encode` must decode back
//! to its input.
#![no_main]

use bleepstore::auth::sigv4::{canonical_query, canonical_uri, uri_encode};
use bleepstore_fuzz::assert_encoded;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);

    let uri = canonical_uri(&s);
    assert_encoded(&uri, b"/");
    assert_eq!(canonical_uri(&uri), uri, "canonical_uri is not idempotent");
    let slashes = s.bytes().filter(|&b| b == b'/').count();
    if s.is_empty() {
        assert_eq!(uri, "/");
    } else {
        // A real `/` separates segments; an encoded one (`%2F`) must stay encoded.
        assert_eq!(uri.bytes().filter(|&b| b == b'/').count(), slashes);
    }

    for skip in [false, true] {
        let q = canonical_query(&s, skip);
        assert_encoded(&q, b"&=");
        assert_eq!(
            canonical_query(&q, skip),
            q,
            "canonical_query is not idempotent"
        );
        let pairs: Vec<&str> = if q.is_empty() {
            Vec::new()
        } else {
            q.split('&').collect()
        };
        for pair in &pairs {
            assert_eq!(pair.matches('=').count(), 1, "pair {pair:?}");
            if skip {
                assert!(!pair.starts_with("X-Amz-Signature="));
            }
        }
        assert!(
            pairs.windows(2).all(|w| {
                let a = w[0].split_once('=').unwrap_or_default();
                let b = w[1].split_once('=').unwrap_or_default();
                a <= b
            }),
            "pairs not sorted: {q:?}"
        );
    }

    for encode_slash in [false, true] {
        let e = uri_encode(&s, encode_slash);
        assert_encoded(&e, if encode_slash { b"" } else { b"/" });
        let back: Vec<u8> = percent_decode_str(&e).collect();
        assert_eq!(back, s.as_bytes(), "uri_encode does not decode back");
    }
});

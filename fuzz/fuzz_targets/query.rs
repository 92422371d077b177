//! `http::head::parse_query`: every non-empty `&`-separated piece is one pair; re-encoding
//! the decoded pairs and parsing again gives them back; and, when decoding lost nothing,
//! the pairs the router reads are exactly the pairs SigV4 signs (`canonical_query`).
#![no_main]

use bleepstore::auth::sigv4::{canonical_query, uri_encode};
use bleepstore::http::head::parse_query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let q = String::from_utf8_lossy(data);
    let pairs = parse_query(&q);
    assert_eq!(pairs.len(), q.split('&').filter(|p| !p.is_empty()).count());

    let encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    let joined = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(
        parse_query(&joined),
        pairs,
        "re-encoded pairs parse differently"
    );

    let lossless = !pairs
        .iter()
        .any(|(k, v)| k.contains('\u{fffd}') || v.contains('\u{fffd}'));
    if lossless {
        let mut sorted = encoded;
        sorted.sort();
        assert_eq!(
            canonical_query(&q, false),
            joined_pairs(&sorted),
            "router and signer disagree"
        );
    }
});

fn joined_pairs(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

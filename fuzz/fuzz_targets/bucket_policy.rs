//! `engine::policy::parse` on raw bytes (as UTF-8 text): never panics; a parsed policy has at
//! least one statement, survives its stored encoding unchanged, and evaluates (with and
//! without a caller) without panicking.
#![no_main]

use bleepstore::engine::policy::{evaluate, is_public, parse, Caller, RequestCtx, StoredPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = parse(text, "bucket") else {
        return;
    };
    assert!(!policy.statements.is_empty());
    let _ = is_public(&policy);
    let keys = vec![
        ("aws:sourceip".to_string(), vec!["127.0.0.1".to_string()]),
        ("s3:prefix".to_string(), vec!["a/b".to_string()]),
        ("aws:username".to_string(), vec!["alice".to_string()]),
    ];
    let caller = Caller {
        canonical_id: "id",
        access_key: "AK",
        display_name: "alice",
    };
    for c in [None, Some(caller)] {
        let _ = evaluate(
            &policy,
            &RequestCtx {
                caller: c,
                action: "s3:GetObject",
                resource: "arn:aws:s3:::bucket/a/b",
                keys: &keys,
            },
        );
    }
    let stored = StoredPolicy {
        text: text.to_string(),
        policy,
    };
    let bytes = bleepstore::engine::policy::encode_stored(&stored);
    assert_eq!(bleepstore::engine::policy::decode_stored(&bytes).as_ref(), Ok(&stored));
});

//! `s3::xml::parse_cors_configuration` on raw bytes: a successful parse has between 1 and
//! `CORS_RULES_PARSED_MAX` rules, and renders back to a document that parses to the same
//! configuration.
#![no_main]

use bleepstore::s3::xml::{cors_configuration, parse_cors_configuration, CORS_RULES_PARSED_MAX};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(cfg) = parse_cors_configuration(data) else {
        return;
    };
    assert!(!cfg.rules.is_empty() && cfg.rules.len() <= CORS_RULES_PARSED_MAX);
    let doc = cors_configuration(&cfg);
    let back = parse_cors_configuration(doc.as_bytes()).expect("rendered document parses");
    // Values are trimmed on parse: compare the re-parse of the rendering with itself.
    assert_eq!(
        parse_cors_configuration(cors_configuration(&back).as_bytes()).ok(),
        Some(back)
    );
});

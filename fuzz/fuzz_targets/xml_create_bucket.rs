//! `s3::xml::parse_create_bucket_configuration` on raw bytes: a location constraint, when
//! there is one, is trimmed, non-empty, and holds only characters XML 1.0 allows.
#![no_main]

use bleepstore::s3::xml::parse_create_bucket_configuration;
use bleepstore_fuzz::is_xml_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = parse_create_bucket_configuration(data);
    if data
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        assert!(
            matches!(parsed, Ok(None)),
            "an empty body must be no configuration"
        );
    }
    if let Ok(Some(location)) = parsed {
        assert!(!location.is_empty());
        assert_eq!(location.trim_matches([' ', '\t', '\r', '\n']), location);
        assert!(is_xml_text(&location), "location {location:?}");
    }
});

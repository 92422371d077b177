//! `s3::xml::parse_tagging` on raw bytes: a successful parse has at most `TAGGING_TAGS_MAX`
//! tags whose keys and values hold only characters XML 1.0 allows, and renders back to a
//! document that parses to the same tags.
#![no_main]

use bleepstore::s3::xml::{parse_tagging, tagging, TAGGING_TAGS_MAX};
use bleepstore_fuzz::is_xml_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(tags) = parse_tagging(data) else {
        return;
    };
    assert!(tags.len() <= TAGGING_TAGS_MAX, "{} tags", tags.len());
    for (k, v) in &tags {
        assert!(is_xml_text(k) && is_xml_text(v), "tag {k:?}={v:?}");
    }
    let doc = tagging(&tags);
    assert_eq!(parse_tagging(doc.as_bytes()).ok().as_ref(), Some(&tags));
});

//! `s3::xml::parse_lifecycle` on raw bytes: a successful parse has at most 1001 rules (the
//! check refuses the 1001st with its own error) whose IDs, prefixes and tags hold only
//! characters XML 1.0 allows; `engine::lifecycle::check` never panics on it; and a
//! configuration the check accepts renders back (`lifecycle`, what
//! GetBucketLifecycleConfiguration answers) to a document that parses to the same rules.
#![no_main]

use bleepstore::engine::lifecycle::{check, Filter, RULES_MAX};
use bleepstore::s3::xml::{lifecycle, parse_lifecycle};
use bleepstore_fuzz::is_xml_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = parse_lifecycle(data) else {
        return;
    };
    assert!(config.rules.len() <= RULES_MAX + 1, "{} rules", config.rules.len());
    for r in &config.rules {
        assert!(is_xml_text(&r.id), "id {:?}", r.id);
        match &r.filter {
            Filter::Legacy(p) | Filter::Prefix(p) => assert!(is_xml_text(p)),
            Filter::Tag(k, v) => assert!(is_xml_text(k) && is_xml_text(v)),
            Filter::And(a) => {
                assert!(a.prefix.as_deref().is_none_or(is_xml_text));
                assert!(a.tags.iter().all(|(k, v)| is_xml_text(k) && is_xml_text(v)));
            }
            _ => {}
        }
    }
    if check(&config).is_err() {
        return;
    }
    let doc = lifecycle(&config);
    assert_eq!(parse_lifecycle(doc.as_bytes()).ok().as_ref(), Some(&config));
});

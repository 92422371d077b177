//! The Object Lock body parsers on raw bytes (`parse_object_lock_configuration`,
//! `parse_retention`, `parse_legal_hold`): a successful parse holds only characters XML 1.0
//! allows, and a document rendered from what was parsed parses back to the same values.
#![no_main]

use bleepstore::s3::xml::{
    legal_hold, object_lock_configuration, parse_legal_hold, parse_object_lock_configuration,
    parse_retention, retention,
};
use bleepstore_fuzz::is_xml_text;
use libfuzzer_sys::fuzz_target;

fn text_ok(v: &Option<String>) -> bool {
    v.as_deref().is_none_or(is_xml_text)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = parse_object_lock_configuration(data) {
        assert!(text_ok(&c.enabled), "{c:?}");
        if let Some(r) = &c.rule {
            assert!(text_ok(&r.mode) && text_ok(&r.days) && text_ok(&r.years), "{c:?}");
            let mode = r.mode.as_deref().filter(|m| *m == "GOVERNANCE" || *m == "COMPLIANCE");
            let days = r.days.as_deref().and_then(|d| d.parse::<u32>().ok());
            if let (Some(mode), Some(days), None) = (mode, days, &r.years) {
                let doc = object_lock_configuration(true, Some((mode, ("Days", days))));
                let back = parse_object_lock_configuration(doc.as_bytes()).expect("rendered");
                let rule = back.rule.expect("rule");
                assert_eq!(rule.mode.as_deref(), Some(mode));
                assert_eq!(rule.days, Some(days.to_string()));
            }
        }
    }
    if let Ok(r) = parse_retention(data) {
        assert!(text_ok(&r.mode) && text_ok(&r.retain_until), "{r:?}");
        if let Some(mode) = r.mode.as_deref().filter(|m| *m == "GOVERNANCE" || *m == "COMPLIANCE") {
            let doc = retention(mode, 1_000);
            let back = parse_retention(doc.as_bytes()).expect("rendered");
            assert_eq!(back.mode.as_deref(), Some(mode));
        }
    }
    if let Ok(status) = parse_legal_hold(data) {
        assert!(text_ok(&status), "{status:?}");
        if let Some(on) = status.as_deref().and_then(|s| match s {
            "ON" => Some(true),
            "OFF" => Some(false),
            _ => None,
        }) {
            let back = parse_legal_hold(legal_hold(on).as_bytes()).expect("rendered");
            assert_eq!(back, status);
        }
    }
});

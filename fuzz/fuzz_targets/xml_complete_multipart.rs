//! `s3::xml::parse_complete_multipart` on raw bytes: a successful parse has 1..=10000 parts,
//! each numbered 1..=10000, with trimmed non-empty checksums; ETags and checksums hold only
//! characters XML 1.0 allows.
#![no_main]

use bleepstore::s3::xml::{parse_complete_multipart, MAX_PARTS};
use bleepstore_fuzz::is_xml_text;
use libfuzzer_sys::fuzz_target;

fn trimmed(v: &Option<String>) -> bool {
    v.as_deref()
        .is_none_or(|s| !s.is_empty() && s.trim_matches([' ', '\t', '\r', '\n']) == s)
}

fuzz_target!(|data: &[u8]| {
    let Ok(parts) = parse_complete_multipart(data) else {
        return;
    };
    assert!(
        (1..=MAX_PARTS).contains(&parts.len()),
        "{} parts",
        parts.len()
    );
    for p in &parts {
        assert!(
            (1..=MAX_PARTS as u32).contains(&p.part_number),
            "part {}",
            p.part_number
        );
        for c in [
            &p.checksum_crc32,
            &p.checksum_crc32c,
            &p.checksum_crc64nvme,
            &p.checksum_sha1,
            &p.checksum_sha256,
        ] {
            assert!(trimmed(c), "checksum {c:?}");
            assert!(c.as_deref().is_none_or(is_xml_text), "checksum {c:?}");
        }
        assert!(is_xml_text(&p.etag), "etag {:?}", p.etag);
    }
});

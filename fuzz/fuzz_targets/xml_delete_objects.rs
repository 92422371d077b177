//! `s3::xml::parse_delete_objects` on raw bytes: a successful parse has 1..=1000 objects,
//! whose keys and version ids hold only characters XML 1.0 allows.
#![no_main]

use bleepstore::s3::xml::{parse_delete_objects, MAX_DELETE_OBJECTS};
use bleepstore_fuzz::is_xml_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(req) = parse_delete_objects(data) else {
        return;
    };
    assert!(
        (1..=MAX_DELETE_OBJECTS).contains(&req.objects.len()),
        "{} objects",
        req.objects.len()
    );
    // A body is at most this many bytes, so no key can be longer.
    for o in &req.objects {
        assert!(o.key.len() <= data.len());
        assert!(is_xml_text(&o.key), "key {:?}", o.key);
        assert!(
            o.version_id.as_deref().is_none_or(is_xml_text),
            "version id {:?}",
            o.version_id
        );
    }
});

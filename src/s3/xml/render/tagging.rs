//! `Tagging` documents (GetObjectTagging, GetBucketTagging).

use super::{close, open, start_doc, text_el};

/// `<Tagging><TagSet><Tag><Key/><Value/></Tag>...</TagSet></Tagging>`, tags in stored order.
pub fn tagging(tags: &[(String, String)]) -> String {
    let mut out = start_doc(128 + tags.len() * 64, "Tagging");
    open(&mut out, "TagSet");
    for (key, value) in tags {
        open(&mut out, "Tag");
        text_el(&mut out, "Key", key);
        text_el(&mut out, "Value", value);
        close(&mut out, "Tag");
    }
    close(&mut out, "TagSet");
    close(&mut out, "Tagging");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_escaped_and_round_trips() {
        let tags = vec![
            ("a&b".to_string(), "<v>".to_string()),
            ("k".to_string(), String::new()),
        ];
        let doc = tagging(&tags);
        assert!(doc.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>a&amp;b</Key><Value>&lt;v&gt;</Value></Tag>"));
        assert!(doc.ends_with("<Tag><Key>k</Key><Value></Value></Tag></TagSet></Tagging>"));
        assert_eq!(crate::s3::xml::parse_tagging(doc.as_bytes()).unwrap(), tags);
        assert!(tagging(&[]).contains("<TagSet></TagSet>"));
    }
}

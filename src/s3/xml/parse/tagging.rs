//! `Tagging` bodies (PutObjectTagging, PutBucketTagging).

use quick_xml::events::BytesStart;

use super::{at, check_root, drive, leaf, set_once, Fail, Handler, PResult};
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::xml::MAX_SMALL_XML_BODY_BYTES;

const ROOT: &str = "Tagging";
const TAG_SET: &str = "TagSet";

/// Most `<Tag>` elements parsed. Above every tag limit (10 per object, 50 per bucket), so a
/// set that is merely too large is reported as such by the caller's check, not as malformed.
pub const TAGGING_TAGS_MAX: usize = 1_000;

#[derive(Default)]
struct TagAcc {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Default)]
struct TaggingHandler {
    tag_sets: usize,
    tags: Vec<(String, String)>,
    cur: Option<TagAcc>,
}

impl Handler for TaggingHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, ROOT)?;
        if at(path, &[ROOT, TAG_SET]) {
            self.tag_sets += 1;
        } else if at(path, &[ROOT, TAG_SET, "Tag"]) {
            self.cur = Some(TagAcc::default());
        }
        Ok(())
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if path.len() == 4 && path[1] == TAG_SET && path[2] == "Tag" {
            let cur = self.cur.as_mut().ok_or(Fail::Malformed)?;
            let slot = match path[3].as_str() {
                "Key" => &mut cur.key,
                "Value" => &mut cur.value,
                _ => return Ok(()),
            };
            set_once(slot, leaf(text)?)?;
        } else if at(path, &[ROOT, TAG_SET, "Tag"]) {
            let acc = self.cur.take().ok_or(Fail::Malformed)?;
            if self.tags.len() >= TAGGING_TAGS_MAX {
                return Err(Fail::Malformed);
            }
            let key = acc.key.ok_or(Fail::Malformed)?;
            let value = acc.value.ok_or(Fail::Malformed)?;
            self.tags.push((key, value));
        }
        Ok(())
    }
}

/// Parses a `Tagging` body (at most [`MAX_SMALL_XML_BODY_BYTES`]) into its tags, in the order
/// given, keys and values exactly as sent (not trimmed). The tags are not checked against
/// AWS's limits here (see `engine::tagging::check`).
///
/// Errors: MalformedXML for a body that is not well-formed or not the schema: another root,
/// no or several `TagSet`s, a `Tag` without `Key` or `Value` or with two of either, more
/// than [`TAGGING_TAGS_MAX`] tags, limits exceeded. An empty `TagSet` is an empty set.
pub fn parse_tagging(body: &[u8]) -> S3Result<Vec<(String, String)>> {
    let mut h = TaggingHandler::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    if h.tag_sets != 1 {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    Ok(h.tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &[u8]) -> ErrorCode {
        parse_tagging(body).expect_err("expected an error").code
    }

    #[test]
    fn boto3_body() {
        let body = br#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>a b</Key><Value>1</Value></Tag><Tag><Value></Value><Key>&lt;k&gt;</Key></Tag></TagSet></Tagging>"#;
        assert_eq!(
            parse_tagging(body).unwrap(),
            vec![
                ("a b".to_string(), "1".to_string()),
                ("<k>".to_string(), String::new())
            ]
        );
    }

    #[test]
    fn whitespace_unknown_elements_and_an_empty_set() {
        let body = b"<?xml version=\"1.0\"?>\n<Tagging>\n <TagSet>\n  <Tag><Key> k </Key><Value/><X>y</X></Tag>\n </TagSet>\n <Other/>\n</Tagging>";
        assert_eq!(
            parse_tagging(body).unwrap(),
            vec![(" k ".to_string(), String::new())]
        );
        assert!(parse_tagging(b"<Tagging><TagSet/></Tagging>")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn malformed_bodies() {
        let cases: &[&[u8]] = &[
            b"",
            b"not xml",
            b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet>",
            b"<Tagging></Tagging>",
            b"<Tagging><TagSet/><TagSet/></Tagging>",
            b"<Other><TagSet/></Other>",
            b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Value>v</Value></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Key>k</Key><Key>j</Key><Value/></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Key><b>k</b></Key><Value/></Tag></TagSet></Tagging>",
            b"<!DOCTYPE x [<!ENTITY e \"k\">]><Tagging><TagSet/></Tagging>",
            b"<Tagging><TagSet><Tag><Key>&#1;</Key><Value/></Tag></TagSet></Tagging>",
        ];
        for body in cases {
            assert_eq!(
                code(body),
                ErrorCode::MalformedXML,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let many: String = (0..=TAGGING_TAGS_MAX)
            .map(|i| format!("<Tag><Key>k{i}</Key><Value/></Tag>"))
            .collect();
        let body = format!("<Tagging><TagSet>{many}</TagSet></Tagging>");
        assert_eq!(code(body.as_bytes()), ErrorCode::MalformedXML);
    }
}

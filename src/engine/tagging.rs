//! Tags of objects and buckets: AWS's limits on a tag set, and the commands that replace one.
//!
//! Tags live in the object's (or bucket's) record, so they work the same through every
//! store, gateways included, and an object and its tags change in one commit.

use super::log::submit_for_bucket;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::meta::commands::MetaCmd;
use crate::meta::types::{Tags, VersionStamp};
use crate::meta::versions::VersionSel;

/// Most tags on one object (AWS's limit).
pub const OBJECT_TAGS_MAX: usize = 10;
/// Most tags on one bucket (AWS's limit).
pub const BUCKET_TAGS_MAX: usize = 50;
/// Longest tag key, in Unicode characters.
pub const TAG_KEY_CHARS_MAX: usize = 128;
/// Longest tag value, in Unicode characters.
pub const TAG_VALUE_CHARS_MAX: usize = 256;
/// Keys with this prefix are AWS's own (system tags): never set by a request.
const SYSTEM_PREFIX: &str = "aws:";

/// What a tag set belongs to: the limits and some messages differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagOwner {
    Object,
    Bucket,
}

/// A character AWS allows in tag keys and values: letters and numbers in any language,
/// space separators, and `+ - = . _ : / @`.
fn allowed_char(c: char) -> bool {
    c.is_alphanumeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '+' | '-' | '=' | '.' | '_' | ':' | '/' | '@')
}

fn invalid_tag(message: &str, key: &str) -> S3Error {
    S3Error::msg(ErrorCode::InvalidTag, message).with("TagKey", key)
}

/// Checks a tag set a request gives, as AWS does: the count first (BadRequest), then per
/// tag in order: a repeated key, a system (`aws:`) key, the key's and value's characters
/// and lengths (InvalidTag).
pub fn check(tags: &Tags, owner: TagOwner) -> S3Result<()> {
    let (max, too_many) = match owner {
        TagOwner::Object => (OBJECT_TAGS_MAX, "Object tags cannot be greater than 10"),
        TagOwner::Bucket => (
            BUCKET_TAGS_MAX,
            "Bucket tag count cannot be greater than 50",
        ),
    };
    if tags.len() > max {
        return Err(S3Error::msg(ErrorCode::BadRequest, too_many));
    }
    for (i, (key, value)) in tags.iter().enumerate() {
        if tags[..i].iter().any(|(k, _)| k == key) {
            return Err(invalid_tag(
                "Cannot provide multiple Tags with the same key",
                key,
            ));
        }
        if key.starts_with(SYSTEM_PREFIX) {
            let message = match owner {
                TagOwner::Object => "Your TagKey cannot be prefixed with aws:",
                TagOwner::Bucket => "System tags cannot be added/updated by requester",
            };
            return Err(invalid_tag(message, key));
        }
        if key.is_empty() || !key.chars().all(allowed_char) {
            return Err(invalid_tag("The TagKey you have provided is invalid", key));
        }
        if key.chars().count() > TAG_KEY_CHARS_MAX {
            return Err(invalid_tag(
                "The TagKey you have provided is too long, max 128",
                key,
            ));
        }
        if !value.chars().all(allowed_char) {
            return Err(
                invalid_tag("The TagValue you have provided is invalid", key)
                    .with("TagValue", value),
            );
        }
        if value.chars().count() > TAG_VALUE_CHARS_MAX {
            return Err(invalid_tag(
                "The TagValue you have provided is too long, max 256",
                key,
            ));
        }
    }
    Ok(())
}

/// Replaces the tag set (empty: removes it) of one version of `bucket/key` (the current
/// object when `version` is None) in one commit; answers the version changed. NoSuchKey
/// when the key has no object, NoSuchVersion for an unknown version, MethodNotAllowed for a
/// delete marker. The caller has checked `tags`.
pub async fn set_object_tags(
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
    tags: Tags,
) -> S3Result<VersionStamp> {
    let cmd = MetaCmd::SetObjectTags {
        bucket: bucket.to_string(),
        key: key.to_string(),
        tags,
        version,
    };
    let reply = submit_for_bucket(bucket, cmd, Vec::new()).await?;
    reply
        .version
        .ok_or_else(|| S3Error::internal("SetObjectTags answered no version"))
}

/// Replaces a bucket's tag set (empty: removes it). The caller has checked `tags`.
pub async fn set_bucket_tags(name: &str, tags: Tags) -> S3Result<()> {
    let cmd = MetaCmd::SetBucketTags {
        name: name.to_string(),
        tags,
    };
    submit_for_bucket(name, cmd, Vec::new()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn refusal(t: &Tags, owner: TagOwner) -> (ErrorCode, String) {
        let e = check(t, owner).unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn accepts_what_aws_documents() {
        let ok = tags(&[
            ("Project X", "a+b-c=d.e_f:g/h@i"),
            ("ключ", "値 ünïcödé"),
            ("k", ""),
            (&"k".repeat(128), &"v".repeat(256)),
            (&"é".repeat(128), &"ü".repeat(256)),
        ]);
        check(&ok, TagOwner::Object).unwrap();
        check(&ok, TagOwner::Bucket).unwrap();
        check(&Vec::new(), TagOwner::Object).unwrap();
    }

    #[test]
    fn counts_are_bounded() {
        let n = |count: usize| -> Tags {
            (0..count)
                .map(|i| (format!("k{i}"), String::new()))
                .collect()
        };
        check(&n(10), TagOwner::Object).unwrap();
        assert_eq!(
            refusal(&n(11), TagOwner::Object),
            (
                ErrorCode::BadRequest,
                "Object tags cannot be greater than 10".into()
            )
        );
        check(&n(50), TagOwner::Bucket).unwrap();
        assert_eq!(
            refusal(&n(51), TagOwner::Bucket),
            (
                ErrorCode::BadRequest,
                "Bucket tag count cannot be greater than 50".into()
            )
        );
    }

    #[test]
    fn every_refusal_is_invalid_tag() {
        let cases: &[(Tags, TagOwner, &str)] = &[
            (
                tags(&[("a", "1"), ("b", "2"), ("a", "3")]),
                TagOwner::Object,
                "Cannot provide multiple Tags with the same key",
            ),
            (
                tags(&[("aws:x", "1")]),
                TagOwner::Object,
                "Your TagKey cannot be prefixed with aws:",
            ),
            (
                tags(&[("aws:x", "1")]),
                TagOwner::Bucket,
                "System tags cannot be added/updated by requester",
            ),
            (
                tags(&[("", "1")]),
                TagOwner::Object,
                "The TagKey you have provided is invalid",
            ),
            (
                tags(&[("a*b", "1")]),
                TagOwner::Object,
                "The TagKey you have provided is invalid",
            ),
            (
                tags(&[("a\tb", "1")]),
                TagOwner::Object,
                "The TagKey you have provided is invalid",
            ),
            (
                tags(&[("a", "x<y")]),
                TagOwner::Bucket,
                "The TagValue you have provided is invalid",
            ),
            (
                tags(&[(&"k".repeat(129), "1")]),
                TagOwner::Object,
                "The TagKey you have provided is too long, max 128",
            ),
            (
                tags(&[("k", &"v".repeat(257))]),
                TagOwner::Object,
                "The TagValue you have provided is too long, max 256",
            ),
        ];
        for (t, owner, message) in cases {
            assert_eq!(
                refusal(t, *owner),
                (ErrorCode::InvalidTag, message.to_string()),
                "{t:?}"
            );
        }
    }
}

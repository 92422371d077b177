//! `LifecycleConfiguration` bodies (PutBucketLifecycleConfiguration).

use quick_xml::events::BytesStart;

use super::{at, check_root, drive, leaf, set_once, Fail, Handler, PResult};
use crate::engine::lifecycle::{
    AndFilter, Expiration, Filter, LifecycleConfig, NoncurrentExpiration, Rule, RULES_MAX,
};
use crate::s3::error::{ErrorCode, S3Error, S3Result};

const ROOT: &str = "LifecycleConfiguration";

/// Largest lifecycle body accepted: 1,000 rules of a few hundred bytes each fit.
pub const LIFECYCLE_BODY_BYTES_MAX: usize = 1024 * 1024;
/// Most tags parsed in one filter (the check refuses more than 50 with its own error).
const FILTER_TAGS_MAX: usize = 1_000;

#[derive(Default)]
struct TagAcc {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Default)]
struct FilterAcc {
    /// Direct children that choose the filter's form (`Prefix`, `Tag`, `And`, sizes).
    forms: usize,
    prefix: Option<String>,
    tag: Option<(String, String)>,
    gt: Option<String>,
    lt: Option<String>,
    and: Option<AndAcc>,
}

#[derive(Default)]
struct AndAcc {
    prefix: Option<String>,
    tags: Vec<(String, String)>,
    gt: Option<String>,
    lt: Option<String>,
}

#[derive(Default)]
struct RuleAcc {
    id: Option<String>,
    status: Option<String>,
    legacy_prefix: Option<String>,
    filters: usize,
    filter: FilterAcc,
    expirations: usize,
    exp_days: Option<String>,
    exp_date: Option<String>,
    exp_marker: Option<String>,
    noncurrents: usize,
    nc_days: Option<String>,
    nc_newer: Option<String>,
    aborts: usize,
    abort_days: Option<String>,
    transitions: bool,
}

#[derive(Default)]
struct LifecycleHandler {
    rules: Vec<Rule>,
    cur: Option<RuleAcc>,
    tag: Option<TagAcc>,
}

fn rule_mut(cur: &mut Option<RuleAcc>) -> PResult<&mut RuleAcc> {
    cur.as_mut().ok_or(Fail::Malformed)
}

impl Handler for LifecycleHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, ROOT)?;
        if path.len() < 2 || path[1] != "Rule" {
            return Ok(());
        }
        if path.len() == 2 {
            if self.rules.len() > RULES_MAX {
                return Err(Fail::Malformed);
            }
            self.cur = Some(RuleAcc::default());
            return Ok(());
        }
        let r = rule_mut(&mut self.cur)?;
        let rest: Vec<&str> = path[2..].iter().map(String::as_str).collect();
        match rest.as_slice() {
            ["Filter"] => r.filters += 1,
            ["Filter", "Prefix" | "ObjectSizeGreaterThan" | "ObjectSizeLessThan"] => {
                r.filter.forms += 1
            }
            ["Filter", "Tag"] => {
                r.filter.forms += 1;
                self.tag = Some(TagAcc::default());
            }
            ["Filter", "And"] => {
                r.filter.forms += 1;
                if r.filter.and.is_some() {
                    return Err(Fail::Malformed);
                }
                r.filter.and = Some(AndAcc::default());
            }
            ["Filter", "And", "Tag"] => self.tag = Some(TagAcc::default()),
            ["Expiration"] => r.expirations += 1,
            ["NoncurrentVersionExpiration"] => r.noncurrents += 1,
            ["AbortIncompleteMultipartUpload"] => r.aborts += 1,
            ["Transition"
            | "NoncurrentVersionTransition"
            | "Transitions"
            | "NoncurrentVersionTransitions"] => r.transitions = true,
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if at(path, &[ROOT, "Rule"]) {
            let acc = self.cur.take().ok_or(Fail::Malformed)?;
            self.rules.push(build_rule(acc)?);
            return Ok(());
        }
        if path.len() < 3 || path[1] != "Rule" {
            return Ok(());
        }
        let rest: Vec<&str> = path[2..].iter().map(String::as_str).collect();
        // Tag children first: they belong to the open tag, not the rule.
        if let ["Filter", "Tag", field] | ["Filter", "And", "Tag", field] = rest.as_slice() {
            let tag = self.tag.as_mut().ok_or(Fail::Malformed)?;
            match *field {
                "Key" => set_once(&mut tag.key, leaf(text)?)?,
                "Value" => set_once(&mut tag.value, leaf(text)?)?,
                _ => {}
            }
            return Ok(());
        }
        let tag_done = |t: &mut Option<TagAcc>| -> PResult<(String, String)> {
            let acc = t.take().ok_or(Fail::Malformed)?;
            Ok((
                acc.key.ok_or(Fail::Malformed)?,
                acc.value.unwrap_or_default(),
            ))
        };
        let r = rule_mut(&mut self.cur)?;
        match rest.as_slice() {
            ["ID"] => set_once(&mut r.id, leaf(text)?)?,
            ["Status"] => set_once(&mut r.status, leaf(text)?)?,
            ["Prefix"] => set_once(&mut r.legacy_prefix, text.unwrap_or_default())?,
            ["Filter", "Prefix"] => set_once(&mut r.filter.prefix, text.unwrap_or_default())?,
            ["Filter", "ObjectSizeGreaterThan"] => set_once(&mut r.filter.gt, leaf(text)?)?,
            ["Filter", "ObjectSizeLessThan"] => set_once(&mut r.filter.lt, leaf(text)?)?,
            ["Filter", "Tag"] => {
                let t = tag_done(&mut self.tag)?;
                if r.filter.tag.replace(t).is_some() {
                    return Err(Fail::Malformed);
                }
            }
            ["Filter", "And", what] => {
                let and = r.filter.and.as_mut().ok_or(Fail::Malformed)?;
                match *what {
                    "Prefix" => set_once(&mut and.prefix, text.unwrap_or_default())?,
                    "ObjectSizeGreaterThan" => set_once(&mut and.gt, leaf(text)?)?,
                    "ObjectSizeLessThan" => set_once(&mut and.lt, leaf(text)?)?,
                    "Tag" => {
                        let t = tag_done(&mut self.tag)?;
                        if and.tags.len() >= FILTER_TAGS_MAX {
                            return Err(Fail::Malformed);
                        }
                        and.tags.push(t);
                    }
                    _ => {}
                }
            }
            ["Expiration", "Days"] => set_once(&mut r.exp_days, leaf(text)?)?,
            ["Expiration", "Date"] => set_once(&mut r.exp_date, leaf(text)?)?,
            ["Expiration", "ExpiredObjectDeleteMarker"] => {
                set_once(&mut r.exp_marker, leaf(text)?)?
            }
            ["NoncurrentVersionExpiration", "NoncurrentDays"] => {
                set_once(&mut r.nc_days, leaf(text)?)?
            }
            ["NoncurrentVersionExpiration", "NewerNoncurrentVersions"] => {
                set_once(&mut r.nc_newer, leaf(text)?)?
            }
            ["AbortIncompleteMultipartUpload", "DaysAfterInitiation"] => {
                set_once(&mut r.abort_days, leaf(text)?)?
            }
            _ => {}
        }
        Ok(())
    }
}

/// A day count: an integer (a negative or zero one becomes 0, which the check refuses with
/// AWS's "must be a positive integer"); anything else is malformed.
fn days(s: &str) -> PResult<u32> {
    let n: i64 = s.trim().parse().map_err(|_| Fail::Malformed)?;
    if n <= 0 {
        return Ok(0);
    }
    u32::try_from(n).map_err(|_| Fail::Malformed)
}

fn size(s: &str) -> PResult<u64> {
    s.trim().parse().map_err(|_| Fail::Malformed)
}

/// `Expiration/Date`: ISO 8601 (RFC 3339) in UTC, as unix milliseconds.
fn date_ms(s: &str) -> PResult<u64> {
    let bad = || {
        Fail::Error(S3Error::msg(
            ErrorCode::InvalidArgument,
            "'Date' must be in ISO 8601 format",
        ))
    };
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(ms).map_err(|_| bad())
}

fn build_rule(acc: RuleAcc) -> PResult<Rule> {
    if acc.transitions {
        return Err(Fail::Error(S3Error::msg(
            ErrorCode::NotImplemented,
            "Lifecycle transitions are not implemented: this server has one storage class.",
        )));
    }
    let enabled = match acc.status.as_deref() {
        Some("Enabled") => true,
        Some("Disabled") => false,
        _ => return Err(Fail::Malformed),
    };
    let filter = match (acc.filters, acc.legacy_prefix) {
        (0, Some(p)) => Filter::Legacy(p),
        (1, None) => build_filter(acc.filter)?,
        _ => return Err(Fail::Malformed),
    };
    if acc.expirations > 1 || acc.noncurrents > 1 || acc.aborts > 1 {
        return Err(Fail::Malformed);
    }
    let expiration = if acc.expirations == 1 {
        let marker = match acc.exp_marker.as_deref().map(str::trim) {
            None | Some("false") => false,
            Some("true") => true,
            _ => return Err(Fail::Malformed),
        };
        Some(Expiration {
            days: acc.exp_days.as_deref().map(days).transpose()?,
            date_ms: acc.exp_date.as_deref().map(date_ms).transpose()?,
            expired_object_delete_marker: marker,
        })
    } else {
        None
    };
    let noncurrent = if acc.noncurrents == 1 {
        Some(NoncurrentExpiration {
            days: days(acc.nc_days.as_deref().ok_or(Fail::Malformed)?)?,
            newer_noncurrent_versions: acc.nc_newer.as_deref().map(days).transpose()?,
        })
    } else {
        None
    };
    let abort_upload_days = if acc.aborts == 1 {
        Some(days(acc.abort_days.as_deref().ok_or(Fail::Malformed)?)?)
    } else {
        None
    };
    Ok(Rule {
        id: acc.id.unwrap_or_default(),
        enabled,
        filter,
        expiration,
        noncurrent,
        abort_upload_days,
    })
}

fn build_filter(f: FilterAcc) -> PResult<Filter> {
    if f.forms > 1 {
        return Err(Fail::Malformed);
    }
    if let Some(p) = f.prefix {
        return Ok(Filter::Prefix(p));
    }
    if let Some((k, v)) = f.tag {
        return Ok(Filter::Tag(k, v));
    }
    if let Some(n) = f.gt {
        return Ok(Filter::SizeGreaterThan(size(&n)?));
    }
    if let Some(n) = f.lt {
        return Ok(Filter::SizeLessThan(size(&n)?));
    }
    if let Some(a) = f.and {
        return Ok(Filter::And(AndFilter {
            prefix: a.prefix,
            tags: a.tags,
            size_greater_than: a.gt.as_deref().map(size).transpose()?,
            size_less_than: a.lt.as_deref().map(size).transpose()?,
        }));
    }
    Ok(Filter::All)
}

/// Parses a `LifecycleConfiguration` body (at most [`LIFECYCLE_BODY_BYTES_MAX`]) into its
/// rules, not yet checked against AWS's rules (`engine::lifecycle::check`).
///
/// Errors: MalformedXML for a body that is not well-formed or not the schema (another root,
/// a rule without a valid `Status`, with both or neither of `Filter` and `Prefix`, a filter
/// with two forms outside `And`, a repeated element, a number that is not one, more than
/// 1,001 rules); InvalidArgument for a `Date` that is not ISO 8601; NotImplemented for
/// transitions (there is no other storage class to move objects to).
pub fn parse_lifecycle(body: &[u8]) -> S3Result<LifecycleConfig> {
    let mut h = LifecycleHandler::default();
    drive(body, LIFECYCLE_BODY_BYTES_MAX, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    Ok(LifecycleConfig { rules: h.rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(inner: &str) -> S3Result<LifecycleConfig> {
        parse_lifecycle(
            format!("<LifecycleConfiguration>{inner}</LifecycleConfiguration>").as_bytes(),
        )
    }

    fn code(inner: &str) -> ErrorCode {
        rules(inner).unwrap_err().code
    }

    #[test]
    fn parses_every_form() {
        let c = rules(
            "<Rule><ID>a</ID><Status>Enabled</Status><Filter><Prefix>logs/</Prefix></Filter>\
             <Expiration><Days>3</Days></Expiration></Rule>\
             <Rule><Status>Disabled</Status><Prefix></Prefix>\
             <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays>\
             <NewerNoncurrentVersions>1</NewerNoncurrentVersions></NoncurrentVersionExpiration></Rule>\
             <Rule><Status>Enabled</Status><Filter><And><Prefix>p</Prefix><Tag><Key>k</Key><Value>v</Value></Tag>\
             <ObjectSizeGreaterThan>5</ObjectSizeGreaterThan></And></Filter>\
             <Expiration><Date>2030-01-01T00:00:00.000Z</Date></Expiration></Rule>\
             <Rule><Status>Enabled</Status><Filter/><Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>\
             <AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>",
        )
        .unwrap();
        assert_eq!(c.rules.len(), 4);
        assert_eq!(c.rules[0].filter, Filter::Prefix("logs/".into()));
        assert_eq!(c.rules[0].expiration.as_ref().unwrap().days, Some(3));
        assert_eq!(c.rules[1].filter, Filter::Legacy(String::new()));
        assert!(!c.rules[1].enabled);
        assert_eq!(
            c.rules[1]
                .noncurrent
                .as_ref()
                .unwrap()
                .newer_noncurrent_versions,
            Some(1)
        );
        let Filter::And(a) = &c.rules[2].filter else {
            panic!()
        };
        assert_eq!(a.tags, vec![("k".to_string(), "v".to_string())]);
        assert_eq!(a.size_greater_than, Some(5));
        assert_eq!(
            c.rules[2].expiration.as_ref().unwrap().date_ms,
            Some(1_893_456_000_000)
        );
        assert_eq!(c.rules[3].filter, Filter::All);
        assert_eq!(c.rules[3].abort_upload_days, Some(7));
        // round trip through the renderer
        let doc = crate::s3::xml::lifecycle(&c);
        assert_eq!(parse_lifecycle(doc.as_bytes()).unwrap(), c);
    }

    #[test]
    fn refuses_what_is_not_the_schema() {
        let ok_actions = "<Expiration><Days>1</Days></Expiration>";
        for bad in [
            format!("<Rule><Filter/>{ok_actions}</Rule>"),
            format!("<Rule><Status>On</Status><Filter/>{ok_actions}</Rule>"),
            format!("<Rule><Status>Enabled</Status>{ok_actions}</Rule>"),
            format!("<Rule><Status>Enabled</Status><Prefix/><Filter/>{ok_actions}</Rule>"),
            format!("<Rule><Status>Enabled</Status><Filter><Prefix>a</Prefix><ObjectSizeLessThan>3</ObjectSizeLessThan></Filter>{ok_actions}</Rule>"),
            "<Rule><Status>Enabled</Status><Filter/><Expiration><Days>x</Days></Expiration></Rule>".into(),
            "<Rule><Status>Enabled</Status><Filter/><NoncurrentVersionExpiration/></Rule>".into(),
        ] {
            assert_eq!(code(&bad), ErrorCode::MalformedXML, "{bad}");
        }
        assert_eq!(
            parse_lifecycle(b"<Other/>").unwrap_err().code,
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code("<Rule><Status>Enabled</Status><Filter/><Transition><Days>1</Days><StorageClass>GLACIER</StorageClass></Transition></Rule>"),
            ErrorCode::NotImplemented
        );
        assert_eq!(
            code("<Rule><Status>Enabled</Status><Filter/><Expiration><Date>tomorrow</Date></Expiration></Rule>"),
            ErrorCode::InvalidArgument
        );
        // negative days reach the check as 0 (InvalidArgument there)
        let c = rules("<Rule><Status>Enabled</Status><Filter/><Expiration><Days>-1</Days></Expiration></Rule>").unwrap();
        assert_eq!(c.rules[0].expiration.as_ref().unwrap().days, Some(0));
        assert!(parse_lifecycle(&vec![b' '; LIFECYCLE_BODY_BYTES_MAX + 1]).is_err());
    }
}

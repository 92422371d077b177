//! Object Lock bodies: `ObjectLockConfiguration` (PutObjectLockConfiguration), `Retention`
//! (PutObjectRetention), `LegalHold` (PutObjectLegalHold). Values come back as sent
//! (trimmed); what they mean is checked by the caller (`s3::lock`).

use quick_xml::events::BytesStart;

use super::{at, check_root, drive, leaf, set_once, trim_ws, Fail, Handler, PResult};
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::xml::MAX_SMALL_XML_BODY_BYTES;

/// An `ObjectLockConfiguration` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockConfigurationDoc {
    pub enabled: Option<String>,
    /// `Rule/DefaultRetention`, when a `Rule` was sent.
    pub rule: Option<DefaultRetentionDoc>,
}

/// `Rule/DefaultRetention`: Mode, Days, Years as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DefaultRetentionDoc {
    pub mode: Option<String>,
    pub days: Option<String>,
    pub years: Option<String>,
}

/// A `Retention` body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionDoc {
    pub mode: Option<String>,
    pub retain_until: Option<String>,
}

const CONFIG_ROOT: &str = "ObjectLockConfiguration";

#[derive(Default)]
struct ConfigHandler {
    doc: LockConfigurationDoc,
    rules: usize,
    defaults: usize,
}

fn trimmed(text: Option<String>) -> PResult<String> {
    Ok(trim_ws(&leaf(text)?).to_string())
}

impl Handler for ConfigHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, CONFIG_ROOT)?;
        if at(path, &[CONFIG_ROOT, "Rule"]) {
            self.rules += 1;
            self.doc.rule.get_or_insert_with(Default::default);
        } else if at(path, &[CONFIG_ROOT, "Rule", "DefaultRetention"]) {
            self.defaults += 1;
        }
        if self.rules > 1 || self.defaults > 1 {
            return Err(Fail::Malformed);
        }
        Ok(())
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if at(path, &[CONFIG_ROOT, "ObjectLockEnabled"]) {
            return set_once(&mut self.doc.enabled, trimmed(text)?);
        }
        if path.len() == 4 && path[1] == "Rule" && path[2] == "DefaultRetention" {
            let rule = self.doc.rule.as_mut().ok_or(Fail::Malformed)?;
            let slot = match path[3].as_str() {
                "Mode" => &mut rule.mode,
                "Days" => &mut rule.days,
                "Years" => &mut rule.years,
                _ => return Ok(()),
            };
            set_once(slot, trimmed(text)?)?;
        }
        Ok(())
    }
}

/// Parses an `ObjectLockConfiguration` body (at most [`MAX_SMALL_XML_BODY_BYTES`]).
/// MalformedXML: not well-formed, another root, two `Rule`s or `DefaultRetention`s, or an
/// element given twice. A `Rule` without `DefaultRetention` is returned as an empty rule.
pub fn parse_object_lock_configuration(body: &[u8]) -> S3Result<LockConfigurationDoc> {
    let mut h = ConfigHandler::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    if h.rules == 1 && h.defaults == 0 {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    Ok(h.doc)
}

const RETENTION_ROOT: &str = "Retention";

impl Handler for RetentionDoc {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, RETENTION_ROOT)
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if at(path, &[RETENTION_ROOT, "Mode"]) {
            set_once(&mut self.mode, trimmed(text)?)?;
        } else if at(path, &[RETENTION_ROOT, "RetainUntilDate"]) {
            set_once(&mut self.retain_until, trimmed(text)?)?;
        }
        Ok(())
    }
}

/// Parses a `Retention` body (at most [`MAX_SMALL_XML_BODY_BYTES`]): MalformedXML when not
/// well-formed, rooted elsewhere, or with an element given twice.
pub fn parse_retention(body: &[u8]) -> S3Result<RetentionDoc> {
    let mut h = RetentionDoc::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    Ok(h)
}

const LEGAL_HOLD_ROOT: &str = "LegalHold";

#[derive(Default)]
struct LegalHoldHandler {
    status: Option<String>,
}

impl Handler for LegalHoldHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, LEGAL_HOLD_ROOT)
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if at(path, &[LEGAL_HOLD_ROOT, "Status"]) {
            set_once(&mut self.status, trimmed(text)?)?;
        }
        Ok(())
    }
}

/// Parses a `LegalHold` body (at most [`MAX_SMALL_XML_BODY_BYTES`]) into its `Status` as sent.
pub fn parse_legal_hold(body: &[u8]) -> S3Result<Option<String>> {
    let mut h = LegalHoldHandler::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    Ok(h.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code<T: std::fmt::Debug>(r: S3Result<T>) -> ErrorCode {
        r.expect_err("expected an error").code
    }

    #[test]
    fn lock_configurations() {
        let body = br#"<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>GOVERNANCE</Mode><Days> 3 </Days></DefaultRetention></Rule></ObjectLockConfiguration>"#;
        let c = parse_object_lock_configuration(body).unwrap();
        assert_eq!(c.enabled.as_deref(), Some("Enabled"));
        let rule = c.rule.unwrap();
        assert_eq!(
            (rule.mode.as_deref(), rule.days.as_deref(), rule.years),
            (Some("GOVERNANCE"), Some("3"), None)
        );
        let c = parse_object_lock_configuration(
            b"<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>",
        )
        .unwrap();
        assert_eq!(c.rule, None);
        for bad in [
            &b""[..],
            b"<Other/>",
            b"<ObjectLockConfiguration>",
            b"<ObjectLockConfiguration><ObjectLockEnabled>a</ObjectLockEnabled><ObjectLockEnabled>b</ObjectLockEnabled></ObjectLockConfiguration>",
            b"<ObjectLockConfiguration><Rule/></ObjectLockConfiguration>",
            b"<ObjectLockConfiguration><Rule><DefaultRetention/></Rule><Rule><DefaultRetention/></Rule></ObjectLockConfiguration>",
            b"<ObjectLockConfiguration><Rule><DefaultRetention><Days>1</Days><Days>2</Days></DefaultRetention></Rule></ObjectLockConfiguration>",
            b"<ObjectLockConfiguration><ObjectLockEnabled><x/></ObjectLockEnabled></ObjectLockConfiguration>",
        ] {
            assert_eq!(code(parse_object_lock_configuration(bad)), ErrorCode::MalformedXML);
        }
    }

    #[test]
    fn retention_and_legal_hold() {
        let r = parse_retention(
            b"<Retention><Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate></Retention>",
        )
        .unwrap();
        assert_eq!(r.mode.as_deref(), Some("COMPLIANCE"));
        assert_eq!(r.retain_until.as_deref(), Some("2030-01-01T00:00:00Z"));
        assert_eq!(
            parse_retention(b"<Retention/>").unwrap(),
            RetentionDoc::default()
        );
        assert_eq!(
            code(parse_retention(b"<LegalHold/>")),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            code(parse_retention(
                b"<Retention><Mode>a</Mode><Mode>b</Mode></Retention>"
            )),
            ErrorCode::MalformedXML
        );
        assert_eq!(
            parse_legal_hold(b"<LegalHold><Status>ON</Status></LegalHold>").unwrap(),
            Some("ON".to_string())
        );
        assert_eq!(parse_legal_hold(b"<LegalHold/>").unwrap(), None);
        assert_eq!(
            code(parse_legal_hold(b"<Retention/>")),
            ErrorCode::MalformedXML
        );
        let mut huge = b"<LegalHold>".to_vec();
        huge.resize(MAX_SMALL_XML_BODY_BYTES + 1, b' ');
        assert_eq!(code(parse_legal_hold(&huge)), ErrorCode::MalformedXML);
    }
}

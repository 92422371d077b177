//! `PublicAccessBlockConfiguration` and `OwnershipControls` bodies.

use quick_xml::events::BytesStart;

use super::{at, check_root, drive, leaf, set_once, trim_ws, Fail, Handler, PResult};
use crate::s3::error::{ErrorCode, S3Result};
use crate::s3::xml::MAX_SMALL_XML_BODY_BYTES;

const PAB_ROOT: &str = "PublicAccessBlockConfiguration";
const PAB_FIELDS: [&str; 4] = [
    "BlockPublicAcls",
    "IgnorePublicAcls",
    "BlockPublicPolicy",
    "RestrictPublicBuckets",
];

#[derive(Default)]
struct PabHandler {
    values: [Option<String>; 4],
}

impl Handler for PabHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, PAB_ROOT)
    }
    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        for (i, f) in PAB_FIELDS.iter().enumerate() {
            if at(path, &[PAB_ROOT, f]) {
                set_once(&mut self.values[i], trim_ws(&leaf(text)?).to_string())?;
                break;
            }
        }
        Ok(())
    }
}

/// A PutPublicAccessBlock body: the four flags in document order of `PAB_FIELDS`
/// (absent = false). A value other than true/false is MalformedXML.
pub fn parse_public_access_block(body: &[u8]) -> S3Result<[bool; 4]> {
    let mut h = PabHandler::default();
    let run = |h: &mut PabHandler| -> PResult<[bool; 4]> {
        drive(body, MAX_SMALL_XML_BODY_BYTES, h)?;
        let mut out = [false; 4];
        for (i, v) in h.values.iter().enumerate() {
            out[i] = match v.as_deref() {
                None => false,
                Some(s) if s.eq_ignore_ascii_case("true") => true,
                Some(s) if s.eq_ignore_ascii_case("false") => false,
                Some(_) => return Err(Fail::Malformed),
            };
        }
        Ok(out)
    };
    run(&mut h).map_err(|f| f.into_s3(ErrorCode::MalformedXML))
}

const OC_ROOT: &str = "OwnershipControls";

#[derive(Default)]
struct OwnershipHandler {
    rules: usize,
    ownership: Option<String>,
}

impl Handler for OwnershipHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, OC_ROOT)?;
        if at(path, &[OC_ROOT, "Rule"]) {
            self.rules += 1;
        }
        Ok(())
    }
    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if at(path, &[OC_ROOT, "Rule", "ObjectOwnership"]) {
            set_once(&mut self.ownership, trim_ws(&leaf(text)?).to_string())?;
        }
        Ok(())
    }
}

/// A PutBucketOwnershipControls body: exactly one Rule with its ObjectOwnership text (the
/// caller checks the value); anything else is MalformedXML.
pub fn parse_ownership_controls(body: &[u8]) -> S3Result<String> {
    let mut h = OwnershipHandler::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    match (h.rules, h.ownership) {
        (1, Some(o)) => Ok(o),
        _ => Err(crate::s3::error::S3Error::new(ErrorCode::MalformedXML)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_access_block_bodies() {
        let b = br#"<PublicAccessBlockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><BlockPublicAcls>true</BlockPublicAcls><RestrictPublicBuckets> TRUE </RestrictPublicBuckets></PublicAccessBlockConfiguration>"#;
        assert_eq!(
            parse_public_access_block(b).unwrap(),
            [true, false, false, true]
        );
        let bad = br#"<PublicAccessBlockConfiguration><BlockPublicAcls>yes</BlockPublicAcls></PublicAccessBlockConfiguration>"#;
        assert_eq!(
            parse_public_access_block(bad).unwrap_err().code,
            ErrorCode::MalformedXML
        );
        assert!(parse_public_access_block(b"<Other/>").is_err());
        assert!(parse_public_access_block(b"<PublicAccessBlockConfiguration><BlockPublicAcls>true</BlockPublicAcls><BlockPublicAcls>true</BlockPublicAcls></PublicAccessBlockConfiguration>").is_err());
    }

    #[test]
    fn ownership_bodies() {
        let b = br#"<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>"#;
        assert_eq!(parse_ownership_controls(b).unwrap(), "BucketOwnerEnforced");
        assert!(parse_ownership_controls(b"<OwnershipControls></OwnershipControls>").is_err());
        assert!(parse_ownership_controls(b"<OwnershipControls><Rule><ObjectOwnership>A</ObjectOwnership></Rule><Rule><ObjectOwnership>B</ObjectOwnership></Rule></OwnershipControls>").is_err());
    }
}

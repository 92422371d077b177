//! `CORSConfiguration` bodies (PutBucketCors).

use quick_xml::events::BytesStart;

use super::{at, check_root, drive, leaf, set_once, Fail, Handler, PResult};
use crate::engine::cors::{CorsConfig, CorsRule};
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::xml::MAX_SMALL_XML_BODY_BYTES;

const ROOT: &str = "CORSConfiguration";
const RULE: &str = "CORSRule";

/// Most `<CORSRule>` elements parsed: past AWS's limit (100), so a configuration that is
/// merely too large is reported as such by `engine::cors::check`.
pub const CORS_RULES_PARSED_MAX: usize = 1_000;
/// Most values in one rule's list (methods, origins, headers, exposed headers).
pub const CORS_VALUES_MAX: usize = 1_000;

#[derive(Default)]
struct CorsHandler {
    rules: Vec<CorsRule>,
    cur: Option<(CorsRule, Option<String>)>,
}

fn push(list: &mut Vec<String>, v: String) -> PResult<()> {
    if list.len() >= CORS_VALUES_MAX {
        return Err(Fail::Malformed);
    }
    list.push(v);
    Ok(())
}

impl Handler for CorsHandler {
    fn open(&mut self, path: &[String], _: &BytesStart<'_>) -> PResult<()> {
        check_root(path, ROOT)?;
        if at(path, &[ROOT, RULE]) {
            if self.rules.len() >= CORS_RULES_PARSED_MAX {
                return Err(Fail::Malformed);
            }
            self.cur = Some((CorsRule::default(), None));
        }
        Ok(())
    }

    fn close(&mut self, path: &[String], text: Option<String>) -> PResult<()> {
        if path.len() == 3 && path[1] == RULE {
            let (rule, max_age) = self.cur.as_mut().ok_or(Fail::Malformed)?;
            let v = leaf(text)?;
            match path[2].as_str() {
                "ID" => set_once(&mut rule.id, v)?,
                "AllowedMethod" => push(&mut rule.allowed_methods, v.trim().to_string())?,
                "AllowedOrigin" => push(&mut rule.allowed_origins, v.trim().to_string())?,
                "AllowedHeader" => push(&mut rule.allowed_headers, v.trim().to_string())?,
                "ExposeHeader" => push(&mut rule.expose_headers, v.trim().to_string())?,
                "MaxAgeSeconds" => set_once(max_age, v)?,
                _ => {}
            }
        } else if at(path, &[ROOT, RULE]) {
            let (mut rule, max_age) = self.cur.take().ok_or(Fail::Malformed)?;
            if let Some(s) = max_age {
                rule.max_age_seconds = Some(s.trim().parse::<i64>().map_err(|_| Fail::Malformed)?);
            }
            self.rules.push(rule);
        }
        Ok(())
    }
}

/// Parses a `CORSConfiguration` body (at most [`MAX_SMALL_XML_BODY_BYTES`]) into its rules,
/// in order. Values are trimmed; the rules are not checked against AWS's limits here (see
/// `engine::cors::check`).
///
/// Errors: MalformedXML for a body that is not well-formed or not the schema: another root,
/// a repeated ID or MaxAgeSeconds, a MaxAgeSeconds that is not an integer, limits exceeded.
pub fn parse_cors_configuration(body: &[u8]) -> S3Result<CorsConfig> {
    let mut h = CorsHandler::default();
    drive(body, MAX_SMALL_XML_BODY_BYTES, &mut h)
        .map_err(|f| f.into_s3(ErrorCode::MalformedXML))?;
    if h.rules.is_empty() {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    Ok(CorsConfig { rules: h.rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boto3_body() {
        let body = br#"<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><CORSRule><ID>r1</ID><AllowedHeader>*</AllowedHeader><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod><AllowedOrigin>http://a.test</AllowedOrigin><ExposeHeader>ETag</ExposeHeader><MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>"#;
        let cfg = parse_cors_configuration(body).unwrap();
        assert_eq!(cfg.rules.len(), 2);
        let r = &cfg.rules[0];
        assert_eq!(r.id.as_deref(), Some("r1"));
        assert_eq!(r.allowed_methods, vec!["PUT", "GET"]);
        assert_eq!(r.allowed_origins, vec!["http://a.test"]);
        assert_eq!(r.allowed_headers, vec!["*"]);
        assert_eq!(r.expose_headers, vec!["ETag"]);
        assert_eq!(r.max_age_seconds, Some(3000));
        assert_eq!(cfg.rules[1].max_age_seconds, None);
        let doc = crate::s3::xml::cors_configuration(&cfg);
        assert_eq!(parse_cors_configuration(doc.as_bytes()).unwrap(), cfg);
    }

    #[test]
    fn malformed_bodies() {
        let cases: &[&[u8]] = &[
            b"",
            b"<CORSConfiguration/>",
            b"<Other><CORSRule/></Other>",
            b"<CORSConfiguration><CORSRule><MaxAgeSeconds>x</MaxAgeSeconds></CORSRule></CORSConfiguration>",
            b"<CORSConfiguration><CORSRule><ID>a</ID><ID>b</ID></CORSRule></CORSConfiguration>",
            b"<CORSConfiguration><CORSRule>",
        ];
        for c in cases {
            assert_eq!(
                parse_cors_configuration(c).unwrap_err().code,
                ErrorCode::MalformedXML,
                "{}",
                String::from_utf8_lossy(c)
            );
        }
    }
}

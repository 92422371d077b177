//! Bucket CORS: the configuration (`ConfigKind::Cors` row, kept parsed), AWS's checks on a
//! PutBucketCors document, and the rule matching that answers preflight (`OPTIONS`) and
//! actual cross-origin requests. Matching is pure and unit-tested here; `s3::cors` renders.

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::meta::types::{BucketMeta, ConfigKind, Record};
use serde::{Deserialize, Serialize};

/// The bucket configuration row CORS is kept in.
pub const KIND: ConfigKind = ConfigKind::Cors;

/// Most rules in one configuration (AWS's limit).
pub const RULES_MAX: usize = 100;
/// Longest rule ID (AWS's limit).
pub const ID_CHARS_MAX: usize = 255;
/// The methods a rule may allow.
pub const METHODS: [&str; 5] = ["GET", "PUT", "HEAD", "POST", "DELETE"];

/// One `CORSRule`, as sent (methods upper-case as AWS requires them).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CorsRule {
    pub id: Option<String>,
    pub allowed_methods: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub allowed_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_seconds: Option<i64>,
}

/// A bucket's `CORSConfiguration`: its rules, in order (the first match answers).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CorsConfig {
    pub rules: Vec<CorsRule>,
}

impl Record for CorsConfig {}

/// Checks a configuration as AWS does on PutBucketCors: 1 to 100 rules, each with at least
/// one method and origin (MalformedXML); methods among GET PUT HEAD POST DELETE, at most
/// one `*` per origin and per allowed header (InvalidRequest); IDs of at most 255
/// characters (InvalidArgument).
pub fn check(cfg: &CorsConfig) -> S3Result<()> {
    if cfg.rules.is_empty() {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    if cfg.rules.len() > RULES_MAX {
        return Err(S3Error::msg(
            ErrorCode::MalformedXML,
            "The number of CORS rules should not exceed allowed limit of 100 rules.",
        ));
    }
    for r in &cfg.rules {
        if r.allowed_methods.is_empty() || r.allowed_origins.is_empty() {
            return Err(S3Error::new(ErrorCode::MalformedXML));
        }
        if let Some(id) = &r.id {
            if id.chars().count() > ID_CHARS_MAX {
                return Err(S3Error::invalid_argument(
                    "The ID of a CORS rule must be at most 255 characters long.",
                    "ID",
                    id,
                ));
            }
        }
        for m in &r.allowed_methods {
            if !METHODS.contains(&m.as_str()) {
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Found unsupported HTTP method in CORS config. Unsupported method is {m}"
                    ),
                ));
            }
        }
        for o in &r.allowed_origins {
            if o.matches('*').count() > 1 {
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    format!("AllowedOrigin \"{o}\" can not have more than one wildcard."),
                ));
            }
        }
        for h in &r.allowed_headers {
            if h.matches('*').count() > 1 {
                return Err(S3Error::msg(
                    ErrorCode::InvalidRequest,
                    format!("AllowedHeader \"{h}\" can not have more than one wildcard."),
                ));
            }
        }
        if r.max_age_seconds.map(|s| s < 0).unwrap_or(false) {
            return Err(S3Error::new(ErrorCode::MalformedXML));
        }
    }
    Ok(())
}

/// `value` matches `pattern`, where each `*` stands for any run of characters (possibly
/// empty). `fold`: compare ASCII case-insensitively (header names).
pub fn wildcard_match(pattern: &str, value: &str, fold: bool) -> bool {
    let (p, v): (String, String) = if fold {
        (pattern.to_ascii_lowercase(), value.to_ascii_lowercase())
    } else {
        (pattern.to_string(), value.to_string())
    };
    let mut pieces = p.split('*');
    let first = pieces.next().unwrap_or("");
    let Some(mut rest) = v.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        // No '*': an exact match.
        return rest.is_empty();
    };
    for m in middle {
        match rest.find(m) {
            Some(i) => rest = &rest[i + m.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl CorsRule {
    fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|o| wildcard_match(o, origin, false))
    }
    fn allows_method(&self, method: &str) -> bool {
        self.allowed_methods.iter().any(|m| m == method)
    }
    fn allows_header(&self, header: &str) -> bool {
        self.allowed_headers
            .iter()
            .any(|h| wildcard_match(h, header, true))
    }
    /// The rule's only origin pattern matching `origin` is `*`: answers say `*`, not the
    /// origin, and no credentials.
    fn any_origin(&self, origin: &str) -> bool {
        !self
            .allowed_origins
            .iter()
            .any(|o| o != "*" && wildcard_match(o, origin, false))
    }
}

/// The header names of `Access-Control-Request-Headers` (comma-separated, trimmed, empty
/// items dropped).
pub fn requested_headers(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// The first rule that allows a preflight: `origin`, `method` and every requested header.
pub fn match_preflight<'c>(
    cfg: &'c CorsConfig,
    origin: &str,
    method: &str,
    headers: &[&str],
) -> Option<&'c CorsRule> {
    cfg.rules.iter().find(|r| {
        r.allows_origin(origin)
            && r.allows_method(method)
            && headers.iter().all(|h| r.allows_header(h))
    })
}

/// The first rule that allows an actual request's origin and method.
pub fn match_actual<'c>(cfg: &'c CorsConfig, origin: &str, method: &str) -> Option<&'c CorsRule> {
    cfg.rules
        .iter()
        .find(|r| r.allows_origin(origin) && r.allows_method(method))
}

/// What AWS answers for a matching rule, preflight or not: Access-Control-Allow-Origin
/// (`*` for a rule allowing any origin, else the origin as sent, with
/// Access-Control-Allow-Credentials: true), -Allow-Methods (the rule's), -Allow-Headers (the
/// preflight's requested headers, as sent), -Expose-Headers, -Max-Age, and Vary.
pub fn response_headers(
    rule: &CorsRule,
    origin: &str,
    requested_headers: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(7);
    if rule.any_origin(origin) {
        out.push(("access-control-allow-origin", "*".to_string()));
    } else {
        out.push(("access-control-allow-origin", origin.to_string()));
    }
    out.push((
        "access-control-allow-methods",
        rule.allowed_methods.join(", "),
    ));
    if let Some(h) = requested_headers {
        let list = requested_headers_list(h);
        if !list.is_empty() {
            out.push(("access-control-allow-headers", list));
        }
    }
    if !rule.expose_headers.is_empty() {
        out.push((
            "access-control-expose-headers",
            rule.expose_headers.join(", "),
        ));
    }
    if let Some(age) = rule.max_age_seconds {
        out.push(("access-control-max-age", age.to_string()));
    }
    if !rule.any_origin(origin) {
        out.push(("access-control-allow-credentials", "true".to_string()));
    }
    out.push((
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_string(),
    ));
    out
}

fn requested_headers_list(value: &str) -> String {
    requested_headers(value)
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bucket's CORS configuration, if it has one (read only when the record's bit is set).
pub async fn get(bucket: &BucketMeta) -> S3Result<Option<CorsConfig>> {
    let Some(bytes) = super::bucket::config(bucket, ConfigKind::Cors).await? else {
        return Ok(None);
    };
    crate::meta::types::decode::<CorsConfig>(&bytes)
        .map(Some)
        .map_err(S3Error::corrupt)
}

/// Sets (checked by the caller with [`check`]) or removes the bucket's CORS configuration.
pub async fn set(bucket: &str, cfg: Option<&CorsConfig>) -> S3Result<()> {
    let value = cfg.map(crate::meta::types::encode);
    super::bucket::set_config(bucket, ConfigKind::Cors, value).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str]) -> CorsRule {
        CorsRule {
            id: None,
            allowed_methods: methods.iter().map(|s| s.to_string()).collect(),
            allowed_origins: origins.iter().map(|s| s.to_string()).collect(),
            allowed_headers: headers.iter().map(|s| s.to_string()).collect(),
            expose_headers: vec!["ETag".into()],
            max_age_seconds: Some(300),
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "", false));
        assert!(wildcard_match("*", "http://a", false));
        assert!(wildcard_match(
            "http://*.example.com",
            "http://x.example.com",
            false
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "http://example.com",
            false
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "https://x.example.com",
            false
        ));
        assert!(wildcard_match("http://a", "http://a", false));
        assert!(!wildcard_match("http://a", "http://ab", false));
        assert!(!wildcard_match("http://A", "http://a", false));
        assert!(wildcard_match("X-Amz-*", "x-amz-date", true));
        assert!(wildcard_match("a*b*c", "abxbc", false));
        assert!(!wildcard_match("ab*ba", "aba", false));
        assert!(wildcard_match("ab*", "ab", false));
    }

    #[test]
    fn first_matching_rule_answers() {
        let cfg = CorsConfig {
            rules: vec![
                rule(&["http://a.test"], &["PUT"], &["content-type"]),
                rule(&["*"], &["GET", "HEAD"], &[]),
                rule(&["http://*.b.test"], &["GET", "PUT"], &["*"]),
            ],
        };
        let r = match_preflight(&cfg, "http://a.test", "PUT", &["Content-Type"]).unwrap();
        assert_eq!(r.allowed_methods, vec!["PUT"]);
        assert!(match_preflight(&cfg, "http://a.test", "PUT", &["x-other"]).is_none());
        assert!(match_preflight(&cfg, "http://a.test", "DELETE", &[]).is_none());
        let r = match_preflight(&cfg, "http://z.test", "GET", &[]).unwrap();
        assert_eq!(r.allowed_origins, vec!["*"]);
        assert!(match_preflight(&cfg, "http://z.test", "GET", &["x-a"]).is_none());
        let r = match_preflight(&cfg, "http://x.b.test", "PUT", &["x-a", "X-B"]).unwrap();
        assert_eq!(r.allowed_headers, vec!["*"]);
        assert!(match_actual(&cfg, "http://x.b.test", "DELETE").is_none());
        assert!(match_actual(&cfg, "http://a.test", "PUT").is_some());
    }

    #[test]
    fn headers_of_an_answer() {
        let r = rule(&["http://a.test"], &["GET", "PUT"], &["*"]);
        let h = response_headers(&r, "http://a.test", Some("Content-Type, X-Amz-Date"));
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("access-control-allow-origin"), Some("http://a.test"));
        assert_eq!(get("access-control-allow-methods"), Some("GET, PUT"));
        assert_eq!(
            get("access-control-allow-headers"),
            Some("content-type, x-amz-date")
        );
        assert_eq!(get("access-control-expose-headers"), Some("ETag"));
        assert_eq!(get("access-control-max-age"), Some("300"));
        assert_eq!(get("access-control-allow-credentials"), Some("true"));
        let star = rule(&["*"], &["GET"], &[]);
        let h = response_headers(&star, "http://a.test", None);
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("access-control-allow-origin"), Some("*"));
        assert_eq!(get("access-control-allow-credentials"), None);
        assert_eq!(get("access-control-allow-headers"), None);
    }

    #[test]
    fn checks_as_aws() {
        let ok = CorsConfig {
            rules: vec![rule(&["*"], &["GET"], &["*"])],
        };
        assert!(check(&ok).is_ok());
        let code = |c: &CorsConfig| check(c).unwrap_err().code;
        assert_eq!(code(&CorsConfig::default()), ErrorCode::MalformedXML);
        let many = CorsConfig {
            rules: vec![rule(&["*"], &["GET"], &[]); 101],
        };
        assert_eq!(code(&many), ErrorCode::MalformedXML);
        let bad = CorsConfig {
            rules: vec![rule(&["*"], &["PATCH"], &[])],
        };
        assert_eq!(code(&bad), ErrorCode::InvalidRequest);
        let bad = CorsConfig {
            rules: vec![rule(&["http://*.*"], &["GET"], &[])],
        };
        assert_eq!(code(&bad), ErrorCode::InvalidRequest);
        let bad = CorsConfig {
            rules: vec![rule(&[], &["GET"], &[])],
        };
        assert_eq!(code(&bad), ErrorCode::MalformedXML);
        let bytes = crate::meta::types::encode(&ok);
        assert_eq!(
            crate::meta::types::decode::<CorsConfig>(&bytes).unwrap(),
            ok
        );
    }
}

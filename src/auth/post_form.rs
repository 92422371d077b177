//! Browser uploads (POST Object): who signed the form, and whether the form keeps to its
//! POST policy.
//!
//! The signature covers the base64 `policy` field as sent: SigV4 (`x-amz-algorithm`
//! AWS4-HMAC-SHA256, `x-amz-credential`, `x-amz-date`, `x-amz-signature`: hex HMAC-SHA256
//! with the derived signing key) or SigV2 (`AWSAccessKeyId`, `signature`: base64
//! HMAC-SHA1 with the secret). The policy is JSON: an `expiration` and `conditions`, each an
//! exact match (`{"field": "v"}`, `["eq", "$field", "v"]`), a prefix (`["starts-with",
//! "$field", "p"]`) or `["content-length-range", min, max]`; every form field but the
//! documented exceptions must be named by a condition.

use crate::auth::users::{User, Users};
use crate::error::{ErrorCode, S3Error, S3Result};
use base64::Engine;

/// Form fields, names lower-cased, in order (the first of a repeated name counts).
pub type Fields = [(String, String)];

fn field<'f>(fields: &'f Fields, name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn missing_field(name: &str) -> S3Error {
    S3Error::msg(
        ErrorCode::InvalidArgument,
        format!(
            "Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields."
        ),
    )
    .with("ArgumentName", name)
    .with("ArgumentValue", "")
}

/// Who signed the form: None for a form without a policy (an anonymous upload).
/// InvalidArgument for a policy without a signature or the reverse, InvalidAccessKeyId for
/// an unknown key, SignatureDoesNotMatch for a wrong signature.
pub fn form_signer(fields: &Fields, users: &Users) -> S3Result<Option<User>> {
    let v4 = field(fields, "x-amz-algorithm").is_some()
        || field(fields, "x-amz-credential").is_some()
        || field(fields, "x-amz-signature").is_some();
    let v2 = field(fields, "awsaccesskeyid").is_some() || field(fields, "signature").is_some();
    let Some(policy) = field(fields, "policy") else {
        if v4 || v2 {
            return Err(missing_field("policy"));
        }
        return Ok(None);
    };
    if v4 {
        let algorithm =
            field(fields, "x-amz-algorithm").ok_or_else(|| missing_field("x-amz-algorithm"))?;
        if algorithm != "AWS4-HMAC-SHA256" {
            return Err(S3Error::invalid_argument(
                "Only AWS4-HMAC-SHA256 is supported.",
                "x-amz-algorithm",
                algorithm,
            ));
        }
        let credential =
            field(fields, "x-amz-credential").ok_or_else(|| missing_field("x-amz-credential"))?;
        let signature =
            field(fields, "x-amz-signature").ok_or_else(|| missing_field("x-amz-signature"))?;
        field(fields, "x-amz-date").ok_or_else(|| missing_field("x-amz-date"))?;
        let parts: Vec<&str> = credential.split('/').collect();
        let [ak, date, region, service, "aws4_request"] = parts[..] else {
            return Err(S3Error::invalid_argument(
                "Invalid credential format.",
                "x-amz-credential",
                credential,
            ));
        };
        let user = users.get(ak).ok_or_else(|| {
            S3Error::new(ErrorCode::InvalidAccessKeyId).with("AWSAccessKeyId", ak)
        })?;
        let key = crate::hash::sigv4::derive_signing_key(&user.secret_key, date, region, service);
        let want = hex::encode(crate::hash::sigv4::hmac_sha256(&key, policy.as_bytes()));
        if !constant_eq(
            want.as_bytes(),
            signature.trim().to_ascii_lowercase().as_bytes(),
        ) {
            return Err(S3Error::new(ErrorCode::SignatureDoesNotMatch)
                .with("AWSAccessKeyId", ak)
                .with("StringToSign", policy));
        }
        return Ok(Some(user.clone()));
    }
    if v2 {
        let ak = field(fields, "awsaccesskeyid").ok_or_else(|| missing_field("AWSAccessKeyId"))?;
        let signature = field(fields, "signature").ok_or_else(|| missing_field("signature"))?;
        let user = users.get(ak).ok_or_else(|| {
            S3Error::new(ErrorCode::InvalidAccessKeyId).with("AWSAccessKeyId", ak)
        })?;
        let want = crate::auth::sigv2::sign(&user.secret_key, policy);
        if !constant_eq(want.as_bytes(), signature.trim().as_bytes()) {
            return Err(S3Error::new(ErrorCode::SignatureDoesNotMatch)
                .with("AWSAccessKeyId", ak)
                .with("StringToSign", policy));
        }
        return Ok(Some(user.clone()));
    }
    Err(missing_field("AWSAccessKeyId"))
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One condition of a POST policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Field (lower-case, without `$`) equals the value.
    Eq(String, String),
    /// Field starts with the value (empty: anything).
    StartsWith(String, String),
    /// The file's size lies in `min..=max`.
    LengthRange(u64, u64),
}

/// A decoded POST policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostPolicy {
    /// Unix seconds after which the policy no longer holds.
    pub expiration: i64,
    pub conditions: Vec<Condition>,
    /// The conditions as sent, rendered for error messages.
    shown: Vec<String>,
}

/// Largest policy accepted (base64 text).
pub const POLICY_BYTES_MAX: usize = 20 * 1024;

fn invalid_policy(why: &str) -> S3Error {
    S3Error::msg(
        ErrorCode::InvalidPolicyDocument,
        format!("Invalid Policy: {why}"),
    )
}

/// Decodes the base64 `policy` field: InvalidPolicyDocument for anything that is not a
/// policy AWS would accept.
pub fn parse_policy(b64: &str) -> S3Result<PostPolicy> {
    if b64.len() > POLICY_BYTES_MAX {
        return Err(invalid_policy("Policy too large."));
    }
    let cleaned: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let json = base64::engine::general_purpose::STANDARD
        .decode(cleaned.as_bytes())
        .map_err(|_| invalid_policy("Invalid Base64 encoding."))?;
    let doc: serde_json::Value =
        serde_json::from_slice(&json).map_err(|_| invalid_policy("Invalid JSON."))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| invalid_policy("Invalid JSON."))?;
    let expiration = obj
        .get("expiration")
        .ok_or_else(|| invalid_policy("Policy missing expiration."))?
        .as_str()
        .and_then(parse_iso8601)
        .ok_or_else(|| invalid_policy("Invalid 'expiration' value."))?;
    let list = obj
        .get("conditions")
        .ok_or_else(|| invalid_policy("Policy missing conditions."))?
        .as_array()
        .ok_or_else(|| invalid_policy("Invalid 'conditions' value."))?;
    let mut conditions = Vec::new();
    let mut shown = Vec::new();
    for c in list {
        let text = c.to_string();
        let bad = || invalid_policy(&format!("Invalid Condition: {text}"));
        match c {
            serde_json::Value::Object(m) => {
                if m.len() != 1 {
                    return Err(bad());
                }
                for (k, v) in m {
                    let v = v.as_str().ok_or_else(bad)?;
                    let name = k.strip_prefix('$').unwrap_or(k).to_ascii_lowercase();
                    conditions.push(Condition::Eq(name, v.to_string()));
                    shown.push(format!(
                        "[\"eq\", \"${}\", \"{}\"]",
                        k.trim_start_matches('$'),
                        v
                    ));
                }
            }
            serde_json::Value::Array(a) => {
                let op = a.first().and_then(|v| v.as_str()).ok_or_else(bad)?;
                if op.eq_ignore_ascii_case("content-length-range") {
                    let [_, min, max] = &a[..] else {
                        return Err(bad());
                    };
                    let num = |v: &serde_json::Value| {
                        v.as_u64()
                            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
                    };
                    let (min, max) = (num(min).ok_or_else(bad)?, num(max).ok_or_else(bad)?);
                    conditions.push(Condition::LengthRange(min, max));
                    shown.push(text);
                    continue;
                }
                let [_, f, v] = &a[..] else {
                    return Err(bad());
                };
                let f = f
                    .as_str()
                    .and_then(|f| f.strip_prefix('$'))
                    .ok_or_else(bad)?;
                let v = v.as_str().ok_or_else(bad)?;
                let name = f.to_ascii_lowercase();
                if op.eq_ignore_ascii_case("eq") {
                    conditions.push(Condition::Eq(name, v.to_string()));
                } else if op.eq_ignore_ascii_case("starts-with") {
                    conditions.push(Condition::StartsWith(name, v.to_string()));
                } else {
                    return Err(bad());
                }
                shown.push(format!("[\"{op}\", \"${f}\", \"{v}\"]"));
            }
            _ => return Err(bad()),
        }
    }
    Ok(PostPolicy {
        expiration,
        conditions,
        shown,
    })
}

/// `2007-12-01T12:00:00.000Z` (fraction optional) as Unix seconds.
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let s = s.trim().strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let time = time.split_once('.').map(|(t, _)| t).unwrap_or(time);
    let mut t = time.split(':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if t.next().is_some() || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hh * 3600 + mm * 60 + ss)
}

fn denied(why: &str) -> S3Error {
    S3Error::msg(
        ErrorCode::AccessDenied,
        format!("Invalid according to Policy: {why}"),
    )
}

/// Fields that no condition needs to name.
fn exempt(name: &str) -> bool {
    matches!(
        name,
        "awsaccesskeyid" | "signature" | "x-amz-signature" | "file" | "policy"
    ) || name.starts_with("x-ignore-")
}

/// Checks the form against its policy at `now` (Unix seconds): not expired, every
/// condition holds (`bucket` is the bucket posted to), every field named by a condition.
/// Returns the content-length-range, if one is given. 403 AccessDenied otherwise.
pub fn check_policy(
    p: &PostPolicy,
    fields: &Fields,
    bucket: &str,
    now: i64,
) -> S3Result<Option<(u64, u64)>> {
    if now >= p.expiration {
        return Err(denied("Policy expired."));
    }
    let value = |name: &str| -> String {
        if name == "bucket" {
            return bucket.to_string();
        }
        field(fields, name).unwrap_or("").to_string()
    };
    let mut range = None;
    for (c, shown) in p.conditions.iter().zip(&p.shown) {
        let ok = match c {
            Condition::Eq(f, v) => value(f) == *v,
            Condition::StartsWith(f, v) => {
                let have = value(f);
                if f == "content-type" && v.is_empty() {
                    true
                } else if f == "content-type" {
                    have.split(',').all(|t| t.trim().starts_with(v.as_str()))
                } else {
                    have.starts_with(v.as_str())
                }
            }
            Condition::LengthRange(min, max) => {
                range = Some((*min, *max));
                true
            }
        };
        if !ok {
            return Err(denied(&format!("Policy Condition failed: {shown}")));
        }
    }
    let named = |n: &str| {
        p.conditions.iter().any(|c| match c {
            Condition::Eq(f, _) | Condition::StartsWith(f, _) => f == n,
            Condition::LengthRange(..) => false,
        })
    };
    let extra: Vec<&str> = fields
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !exempt(n) && !named(n))
        .collect();
    if let Some(first) = extra.first() {
        return Err(denied(&format!("Extra input fields: {first}")));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AuthConfig;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn fields(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect()
    }

    #[test]
    fn iso8601() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601("2007-12-01T12:00:00.000Z"), Some(1196510400));
        assert_eq!(parse_iso8601("2007-12-01 12:00:00Z"), None);
        assert_eq!(parse_iso8601("2007-13-01T12:00:00Z"), None);
    }

    #[test]
    fn policy_conditions() {
        let policy = b64(
            r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key","up/"],{"acl":"public-read"},["content-length-range",1,10],["eq","$x-amz-meta-a","1"],["starts-with","$Content-Type",""]]}"#,
        );
        let p = parse_policy(&policy).unwrap();
        let now = 1_700_000_000;
        let ok = fields(&[
            ("key", "up/x"),
            ("acl", "public-read"),
            ("x-amz-meta-a", "1"),
            ("policy", "p"),
            ("x-ignore-me", "1"),
            ("Content-Type", "text/plain"),
        ]);
        assert_eq!(check_policy(&p, &ok, "b", now).unwrap(), Some((1, 10)));
        let err = check_policy(&p, &ok, "c", now).unwrap_err();
        assert_eq!(err.code, ErrorCode::AccessDenied);
        assert!(
            err.message.contains("Policy Condition failed"),
            "{}",
            err.message
        );
        let mut bad = ok.clone();
        bad[0].1 = "down/x".into();
        assert!(check_policy(&p, &bad, "b", now).is_err());
        let mut extra = ok.clone();
        extra.push(("x-amz-meta-b".into(), "2".into()));
        let err = check_policy(&p, &extra, "b", now).unwrap_err();
        assert!(
            err.message.contains("Extra input fields: x-amz-meta-b"),
            "{}",
            err.message
        );
        let err = check_policy(&p, &ok, "b", 1_900_000_000).unwrap_err();
        assert!(err.message.contains("Policy expired."));
    }

    #[test]
    fn invalid_policies() {
        for doc in [
            "not base64!",
            &b64("not json"),
            &b64(r#"{"conditions":[]}"#),
            &b64(r#"{"expiration":"2030-01-01T00:00:00Z"}"#),
            &b64(r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["in","$key","a"]]}"#),
            &b64(
                r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",1]]}"#,
            ),
            &b64(r#"{"expiration":"tomorrow","conditions":[]}"#),
        ] {
            assert_eq!(
                parse_policy(doc).unwrap_err().code,
                ErrorCode::InvalidPolicyDocument,
                "{doc}"
            );
        }
    }

    #[test]
    fn signatures() {
        let users = Users::from_config(
            &AuthConfig {
                access_key: "AK".into(),
                secret_key: "SK".into(),
                ..Default::default()
            },
            "us-east-1",
        );
        let policy = b64(r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[]}"#);
        let key = crate::hash::sigv4::derive_signing_key("SK", "20250101", "us-east-1", "s3");
        let sig = hex::encode(crate::hash::sigv4::hmac_sha256(&key, policy.as_bytes()));
        let mut f = fields(&[
            ("policy", &policy),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("x-amz-credential", "AK/20250101/us-east-1/s3/aws4_request"),
            ("x-amz-date", "20250101T000000Z"),
            ("x-amz-signature", &sig),
        ]);
        assert_eq!(form_signer(&f, &users).unwrap().unwrap().access_key, "AK");
        f[4].1 = "00".repeat(32);
        assert_eq!(
            form_signer(&f, &users).unwrap_err().code,
            ErrorCode::SignatureDoesNotMatch
        );
        f[2].1 = "NOPE/20250101/us-east-1/s3/aws4_request".into();
        assert_eq!(
            form_signer(&f, &users).unwrap_err().code,
            ErrorCode::InvalidAccessKeyId
        );
        let v2 = fields(&[
            ("policy", &policy),
            ("AWSAccessKeyId", "AK"),
            ("signature", &crate::auth::sigv2::sign("SK", &policy)),
        ]);
        assert!(form_signer(&v2, &users).unwrap().is_some());
        let unsigned = fields(&[("policy", &policy)]);
        assert_eq!(
            form_signer(&unsigned, &users).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        let no_policy = fields(&[("x-amz-signature", "x")]);
        assert_eq!(
            form_signer(&no_policy, &users).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert!(form_signer(&fields(&[("key", "k")]), &users)
            .unwrap()
            .is_none());
    }
}

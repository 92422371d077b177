//! Bucket policies (the IAM policy language as S3 reads it): parsed once from the JSON a
//! PutBucketPolicy gives into typed statements, stored with the original text as the bucket's
//! `ConfigKind::Policy` row, and evaluated by a pure function against what a request carries.
//!
//! Evaluation (`evaluate`) answers ExplicitDeny when a matching Deny statement exists, Allow
//! when a matching Allow statement does, NoOpinion otherwise; the caller combines that with
//! the ACLs (s3::access).

use crate::error::{ErrorCode, S3Error, S3Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

/// Largest policy document, in bytes (AWS: bucket policies are limited to 20 KB).
pub const POLICY_BYTES_MAX: usize = 20 * 1024;
/// Most statements, values per element and condition entries we keep (bounded records).
const ITEMS_MAX: usize = 1000;

/// The stored form: the text as put (GetBucketPolicy returns it) and its parsed statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPolicy {
    pub text: String,
    pub policy: Policy,
}
impl crate::meta::types::Record for StoredPolicy {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub version: String,
    pub id: Option<String>,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    /// `Principal` (not = false) or `NotPrincipal` (not = true).
    pub principal: Principals,
    pub actions: Patterns,
    pub resources: Patterns,
    pub conditions: Vec<Condition>,
}

/// Who a statement names: everyone (`*`) or a list of ids / ARNs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Principals {
    pub not: bool,
    pub any: bool,
    pub ids: Vec<String>,
}

/// `Action`/`NotAction`, `Resource`/`NotResource`: wildcard patterns (`*`, `?`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patterns {
    pub not: bool,
    pub items: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Qualifier {
    None,
    ForAnyValue,
    ForAllValues,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateNotEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    IpAddress,
    NotIpAddress,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Null,
}

const OPS: &[(&str, Op)] = &[
    ("StringEquals", Op::StringEquals),
    ("StringNotEquals", Op::StringNotEquals),
    ("StringEqualsIgnoreCase", Op::StringEqualsIgnoreCase),
    ("StringNotEqualsIgnoreCase", Op::StringNotEqualsIgnoreCase),
    ("StringLike", Op::StringLike),
    ("StringNotLike", Op::StringNotLike),
    ("NumericEquals", Op::NumericEquals),
    ("NumericNotEquals", Op::NumericNotEquals),
    ("NumericLessThan", Op::NumericLessThan),
    ("NumericLessThanEquals", Op::NumericLessThanEquals),
    ("NumericGreaterThan", Op::NumericGreaterThan),
    ("NumericGreaterThanEquals", Op::NumericGreaterThanEquals),
    ("DateEquals", Op::DateEquals),
    ("DateNotEquals", Op::DateNotEquals),
    ("DateLessThan", Op::DateLessThan),
    ("DateLessThanEquals", Op::DateLessThanEquals),
    ("DateGreaterThan", Op::DateGreaterThan),
    ("DateGreaterThanEquals", Op::DateGreaterThanEquals),
    ("Bool", Op::Bool),
    ("IpAddress", Op::IpAddress),
    ("NotIpAddress", Op::NotIpAddress),
    ("ArnEquals", Op::ArnEquals),
    ("ArnLike", Op::ArnLike),
    ("ArnNotEquals", Op::ArnNotEquals),
    ("ArnNotLike", Op::ArnNotLike),
    ("Null", Op::Null),
];

impl Op {
    /// The negated operators: true when no policy value matches (and when the key is absent).
    fn negated(self) -> bool {
        matches!(
            self,
            Op::StringNotEquals
                | Op::StringNotEqualsIgnoreCase
                | Op::StringNotLike
                | Op::NumericNotEquals
                | Op::DateNotEquals
                | Op::NotIpAddress
                | Op::ArnNotEquals
                | Op::ArnNotLike
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub op: Op,
    pub qualifier: Qualifier,
    pub if_exists: bool,
    /// The key, its namespace part (before any `/`) lower-cased: `aws:sourceip`,
    /// `s3:existingobjecttag/Project`.
    pub key: String,
    pub values: Vec<String>,
}

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    ExplicitDeny,
    Allow,
    NoOpinion,
}

/// Who is asking, as a policy names them.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub canonical_id: &'a str,
    pub access_key: &'a str,
    pub display_name: &'a str,
}

/// One request as a policy sees it: the caller (None = anonymous), the action, the
/// resource ARN and the condition keys present (names normalised as `Condition::key`).
pub struct RequestCtx<'a> {
    pub caller: Option<Caller<'a>>,
    pub action: &'a str,
    pub resource: &'a str,
    pub keys: &'a [(String, Vec<String>)],
}

impl RequestCtx<'_> {
    fn values(&self, key: &str) -> Option<&[String]> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Normalises a condition key name: the namespace and name before any `/` are
/// case-insensitive, a tag key after it is not.
pub fn normalise_key(key: &str) -> String {
    match key.split_once('/') {
        Some((head, tail)) => format!("{}/{}", head.to_ascii_lowercase(), tail),
        None => key.to_ascii_lowercase(),
    }
}

fn malformed(msg: &str) -> S3Error {
    S3Error::msg(ErrorCode::MalformedPolicy, msg)
}

/// Parses and validates a policy document for `bucket`.
pub fn parse(text: &str, bucket: &str) -> S3Result<Policy> {
    if text.len() > POLICY_BYTES_MAX {
        return Err(malformed("Policies must be no more than 20 KB"));
    }
    let v: Value = serde_json::from_str(text)
        .map_err(|_| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("Policies must be valid JSON and the first byte must be '{'"))?;
    let mut version = None;
    let mut id = None;
    let mut statements = Vec::new();
    let mut saw_statement = false;
    for (k, val) in obj {
        match k.as_str() {
            "Version" => {
                let s = val.as_str().unwrap_or("");
                if s != "2012-10-17" && s != "2008-10-17" {
                    return Err(malformed("Document is invalid: Invalid Version"));
                }
                version = Some(s.to_string());
            }
            "Id" => {
                id = Some(
                    val.as_str()
                        .ok_or_else(|| malformed("Id must be a string"))?
                        .to_string(),
                );
            }
            "Statement" => {
                saw_statement = true;
                match val {
                    Value::Array(items) => {
                        if items.len() > ITEMS_MAX {
                            return Err(malformed("Too many statements"));
                        }
                        for s in items {
                            statements.push(parse_statement(s, bucket)?);
                        }
                    }
                    Value::Object(_) => statements.push(parse_statement(val, bucket)?),
                    _ => return Err(malformed("Statement must be an object or an array")),
                }
            }
            other => {
                return Err(malformed(&format!("Unknown field {other}")));
            }
        }
    }
    if !saw_statement {
        return Err(malformed("Missing required field Statement"));
    }
    if statements.is_empty() {
        return Err(malformed("Could not parse the policy: Statement is empty!"));
    }
    Ok(Policy {
        version: version.unwrap_or_else(|| "2008-10-17".to_string()),
        id,
        statements,
    })
}

fn strings(v: &Value, what: &str) -> S3Result<Vec<String>> {
    let bad = || malformed(&format!("{what} must be a string or an array of strings"));
    let out: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => {
            if a.len() > ITEMS_MAX {
                return Err(bad());
            }
            a.iter()
                .map(|x| x.as_str().map(str::to_string).ok_or_else(bad))
                .collect::<S3Result<_>>()?
        }
        _ => return Err(bad()),
    };
    if out.is_empty() {
        return Err(malformed(&format!("{what} must not be empty")));
    }
    Ok(out)
}

/// Condition values: strings, numbers and booleans, one or a list.
fn condition_values(v: &Value) -> S3Result<Vec<String>> {
    let one = |x: &Value| match x {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(malformed("Invalid Condition value")),
    };
    match v {
        Value::Array(a) if a.len() <= ITEMS_MAX => a.iter().map(one).collect(),
        Value::Array(_) => Err(malformed("Too many condition values")),
        other => Ok(vec![one(other)?]),
    }
}

fn parse_statement(v: &Value, bucket: &str) -> S3Result<Statement> {
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("Statement must be an object"))?;
    let mut sid = None;
    let mut effect = None;
    let mut principal = None;
    let mut actions = None;
    let mut resources = None;
    let mut conditions = Vec::new();
    for (k, val) in obj {
        match k.as_str() {
            "Sid" => {
                sid = Some(
                    val.as_str()
                        .ok_or_else(|| malformed("Sid must be a string"))?
                        .to_string(),
                )
            }
            "Effect" => {
                effect = Some(match val.as_str() {
                    Some("Allow") => Effect::Allow,
                    Some("Deny") => Effect::Deny,
                    _ => return Err(malformed("Invalid effect")),
                })
            }
            "Principal" | "NotPrincipal" => {
                if principal.is_some() {
                    return Err(malformed("Statement has both Principal and NotPrincipal"));
                }
                principal = Some(parse_principal(val, k == "NotPrincipal")?);
            }
            "Action" | "NotAction" => {
                if actions.is_some() {
                    return Err(malformed("Statement has both Action and NotAction"));
                }
                let items = strings(val, k)?;
                for a in &items {
                    if !valid_action(a) {
                        return Err(malformed("Policy has invalid action"));
                    }
                }
                actions = Some(Patterns {
                    not: k == "NotAction",
                    items,
                });
            }
            "Resource" | "NotResource" => {
                if resources.is_some() {
                    return Err(malformed("Statement has both Resource and NotResource"));
                }
                let items = strings(val, k)?;
                for r in &items {
                    if !valid_resource(r, bucket) {
                        return Err(malformed("Policy has invalid resource"));
                    }
                }
                resources = Some(Patterns {
                    not: k == "NotResource",
                    items,
                });
            }
            "Condition" => conditions = parse_conditions(val)?,
            other => return Err(malformed(&format!("Unknown field {other}"))),
        }
    }
    Ok(Statement {
        sid,
        effect: effect.ok_or_else(|| malformed("Missing required field Effect"))?,
        principal: principal.ok_or_else(|| malformed("Missing required field Principal"))?,
        actions: actions.ok_or_else(|| malformed("Missing required field Action"))?,
        resources: resources.ok_or_else(|| malformed("Missing required field Resource"))?,
        conditions,
    })
}

fn parse_principal(v: &Value, not: bool) -> S3Result<Principals> {
    let bad = || malformed("Invalid principal in policy");
    let mut p = Principals {
        not,
        any: false,
        ids: Vec::new(),
    };
    match v {
        Value::String(s) if s == "*" => p.any = true,
        Value::Object(m) if !m.is_empty() => {
            for (kind, ids) in m {
                if kind != "AWS" && kind != "CanonicalUser" {
                    return Err(bad());
                }
                for id in strings(ids, "Principal")? {
                    if id == "*" {
                        p.any = true;
                    } else if id.is_empty() || id.contains('*') || id.contains('?') {
                        return Err(bad());
                    } else {
                        p.ids.push(id);
                    }
                }
            }
        }
        _ => return Err(bad()),
    }
    Ok(p)
}

fn parse_conditions(v: &Value) -> S3Result<Vec<Condition>> {
    let m = v
        .as_object()
        .ok_or_else(|| malformed("Condition must be an object"))?;
    let mut out = Vec::new();
    for (op_name, entries) in m {
        let (qualifier, rest) = if let Some(r) = op_name.strip_prefix("ForAnyValue:") {
            (Qualifier::ForAnyValue, r)
        } else if let Some(r) = op_name.strip_prefix("ForAllValues:") {
            (Qualifier::ForAllValues, r)
        } else {
            (Qualifier::None, op_name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(b) => (b, true),
            None => (rest, false),
        };
        let op = OPS
            .iter()
            .find(|(n, _)| *n == base)
            .map(|(_, o)| *o)
            .ok_or_else(|| malformed(&format!("Invalid Condition type : {op_name}")))?;
        if op == Op::Null && if_exists {
            return Err(malformed(&format!("Invalid Condition type : {op_name}")));
        }
        let entries = entries
            .as_object()
            .ok_or_else(|| malformed("Condition block must be an object"))?;
        for (key, vals) in entries {
            let values = condition_values(vals)?;
            if values.is_empty() || out.len() >= ITEMS_MAX {
                return Err(malformed("Invalid Condition"));
            }
            for val in &values {
                check_value(op, val)?;
            }
            let key = normalise_key(key);
            if !key.contains(':') {
                return Err(malformed(&format!(
                    "Policy has an invalid condition key: {key}"
                )));
            }
            out.push(Condition {
                op,
                qualifier,
                if_exists,
                key,
                values,
            });
        }
    }
    Ok(out)
}

fn check_value(op: Op, val: &str) -> S3Result<()> {
    let ok = match op {
        Op::NumericEquals
        | Op::NumericNotEquals
        | Op::NumericLessThan
        | Op::NumericLessThanEquals
        | Op::NumericGreaterThan
        | Op::NumericGreaterThanEquals => val.trim().parse::<f64>().is_ok(),
        Op::DateEquals
        | Op::DateNotEquals
        | Op::DateLessThan
        | Op::DateLessThanEquals
        | Op::DateGreaterThan
        | Op::DateGreaterThanEquals => parse_date(val).is_some(),
        Op::Bool | Op::Null => {
            val.eq_ignore_ascii_case("true") || val.eq_ignore_ascii_case("false")
        }
        Op::IpAddress | Op::NotIpAddress => parse_cidr(val).is_some(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(malformed(&format!("Invalid Condition value: {val}")))
    }
}

/// Seconds since the epoch: an ISO 8601 date-time (or date), or an epoch number.
pub fn parse_date(s: &str) -> Option<f64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<f64>() {
        return Some(n);
    }
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp() as f64);
    }
    if s.len() == 10 {
        let full = format!("{s}T00:00:00Z");
        if let Ok(t) = time::OffsetDateTime::parse(&full, &Rfc3339) {
            return Some(t.unix_timestamp() as f64);
        }
    }
    None
}

/// A CIDR block (`10.0.0.0/8`, `2001:db8::/32`) or a single address.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s.trim(), None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((ip, len))
}

fn in_cidr(ip: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    let ip = match (ip, net) {
        (IpAddr::V6(v6), IpAddr::V4(_)) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => return false,
        },
        _ => ip,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The S3 actions a policy may name (wildcards must match at least one).
pub const ACTIONS: &[&str] = &[
    "AbortMultipartUpload",
    "BypassGovernanceRetention",
    "CreateBucket",
    "DeleteBucket",
    "DeleteBucketOwnershipControls",
    "DeleteBucketPolicy",
    "DeleteBucketWebsite",
    "DeleteObject",
    "DeleteObjectTagging",
    "DeleteObjectVersion",
    "DeleteObjectVersionTagging",
    "GetBucketAcl",
    "GetBucketCORS",
    "GetBucketLocation",
    "GetBucketLogging",
    "GetBucketNotification",
    "GetBucketObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "GetBucketPublicAccessBlock",
    "GetBucketRequestPayment",
    "GetBucketTagging",
    "GetBucketVersioning",
    "GetBucketWebsite",
    "GetEncryptionConfiguration",
    "GetLifecycleConfiguration",
    "GetObject",
    "GetObjectAcl",
    "GetObjectAttributes",
    "GetObjectLegalHold",
    "GetObjectRetention",
    "GetObjectTagging",
    "GetObjectVersion",
    "GetObjectVersionAcl",
    "GetObjectVersionAttributes",
    "GetObjectVersionTagging",
    "GetReplicationConfiguration",
    "ListAllMyBuckets",
    "ListBucket",
    "ListBucketMultipartUploads",
    "ListBucketVersions",
    "ListMultipartUploadParts",
    "PutBucketAcl",
    "PutBucketCORS",
    "PutBucketLogging",
    "PutBucketNotification",
    "PutBucketObjectLockConfiguration",
    "PutBucketOwnershipControls",
    "PutBucketPolicy",
    "PutBucketPublicAccessBlock",
    "PutBucketRequestPayment",
    "PutBucketTagging",
    "PutBucketVersioning",
    "PutBucketWebsite",
    "PutEncryptionConfiguration",
    "PutLifecycleConfiguration",
    "PutObject",
    "PutObjectAcl",
    "PutObjectLegalHold",
    "PutObjectRetention",
    "PutObjectTagging",
    "PutObjectVersionAcl",
    "PutObjectVersionTagging",
    "PutReplicationConfiguration",
    "ReplicateDelete",
    "ReplicateObject",
    "RestoreObject",
];

fn valid_action(a: &str) -> bool {
    if a == "*" {
        return true;
    }
    let Some(name) = a
        .get(..3)
        .filter(|p| p.eq_ignore_ascii_case("s3:"))
        .map(|_| &a[3..])
    else {
        return false;
    };
    let name = name.to_ascii_lowercase();
    ACTIONS
        .iter()
        .any(|known| glob(&name, &known.to_ascii_lowercase()))
}

fn valid_resource(r: &str, bucket: &str) -> bool {
    if r == "*" {
        return true;
    }
    let Some(rest) = r.strip_prefix("arn:aws:s3:::") else {
        return false;
    };
    let bucket_part = rest.split('/').next().unwrap_or("");
    !bucket_part.is_empty() && glob(bucket_part, bucket) || rest.starts_with(&format!("{bucket}/"))
}

/// Wildcard match: `*` any run of characters, `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Replaces policy variables (`${aws:username}`, `${*}`, `${?}`, `${$}`) from the request's
/// keys (2012-10-17 policies only). None when a variable has no value: nothing matches then.
fn substitute(s: &str, req: &RequestCtx) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after.find('}')?;
        let name = &after[..end];
        match name {
            "*" => out.push('*'),
            "?" => out.push('?'),
            "$" => out.push('$'),
            _ => {
                let v = req.values(&normalise_key(name))?;
                out.push_str(v.first()?);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

fn principal_matches(p: &Principals, caller: Option<Caller>) -> bool {
    let named = p.any
        || caller
            .map(|c| p.ids.iter().any(|id| names_caller(id, c)))
            .unwrap_or(false);
    named != p.not
}

/// Our mapping of principal ids to users: the canonical id, the access key id,
/// `arn:aws:iam::<canonical id or access key>:root`, or
/// `arn:aws:iam::<any account>:user/<access key or display name>`.
fn names_caller(id: &str, c: Caller) -> bool {
    if id == c.canonical_id || id == c.access_key {
        return true;
    }
    let Some(rest) = id.strip_prefix("arn:aws:iam::") else {
        return false;
    };
    let Some((account, what)) = rest.split_once(':') else {
        return false;
    };
    if what == "root" {
        return account == c.canonical_id || account == c.access_key;
    }
    match what.strip_prefix("user/") {
        Some(name) => {
            let name = name.rsplit('/').next().unwrap_or(name);
            name == c.access_key || name == c.display_name
        }
        None => false,
    }
}

fn patterns_match(p: &Patterns, value: &str, req: &RequestCtx, vars: bool, fold: bool) -> bool {
    let hit = p.items.iter().any(|pat| {
        let pat = if vars && pat.contains("${") {
            match substitute(pat, req) {
                Some(s) => std::borrow::Cow::Owned(s),
                None => return false,
            }
        } else {
            std::borrow::Cow::Borrowed(pat.as_str())
        };
        if fold {
            glob(&pat.to_ascii_lowercase(), &value.to_ascii_lowercase())
        } else {
            glob(&pat, value)
        }
    });
    hit != p.not
}

/// Whether one request value satisfies the operator's positive form against one policy value.
fn positive(op: Op, req_val: &str, pol: &str) -> bool {
    let num = |s: &str| s.trim().parse::<f64>().ok();
    match op {
        Op::StringEquals | Op::StringNotEquals | Op::ArnEquals | Op::ArnNotEquals => req_val == pol,
        Op::StringEqualsIgnoreCase | Op::StringNotEqualsIgnoreCase => {
            req_val.to_lowercase() == pol.to_lowercase()
        }
        Op::StringLike | Op::StringNotLike | Op::ArnLike | Op::ArnNotLike => glob(pol, req_val),
        Op::NumericEquals | Op::NumericNotEquals => cmp(num(req_val), num(pol), |a, b| a == b),
        Op::NumericLessThan => cmp(num(req_val), num(pol), |a, b| a < b),
        Op::NumericLessThanEquals => cmp(num(req_val), num(pol), |a, b| a <= b),
        Op::NumericGreaterThan => cmp(num(req_val), num(pol), |a, b| a > b),
        Op::NumericGreaterThanEquals => cmp(num(req_val), num(pol), |a, b| a >= b),
        Op::DateEquals | Op::DateNotEquals => {
            cmp(parse_date(req_val), parse_date(pol), |a, b| a == b)
        }
        Op::DateLessThan => cmp(parse_date(req_val), parse_date(pol), |a, b| a < b),
        Op::DateLessThanEquals => cmp(parse_date(req_val), parse_date(pol), |a, b| a <= b),
        Op::DateGreaterThan => cmp(parse_date(req_val), parse_date(pol), |a, b| a > b),
        Op::DateGreaterThanEquals => cmp(parse_date(req_val), parse_date(pol), |a, b| a >= b),
        Op::Bool => req_val.eq_ignore_ascii_case(pol),
        Op::IpAddress | Op::NotIpAddress => match (req_val.parse::<IpAddr>(), parse_cidr(pol)) {
            (Ok(ip), Some(net)) => in_cidr(ip, net),
            _ => false,
        },
        Op::Null => false,
    }
}

fn cmp(a: Option<f64>, b: Option<f64>, f: impl Fn(f64, f64) -> bool) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    }
}

/// Whether one request value satisfies the condition (any policy value, or for a negated
/// operator none of them).
fn one_value(c: &Condition, req_val: &str, req: &RequestCtx, vars: bool) -> bool {
    let any = c.values.iter().any(|pol| {
        if vars && pol.contains("${") {
            match substitute(pol, req) {
                Some(s) => positive(c.op, req_val, &s),
                None => false,
            }
        } else {
            positive(c.op, req_val, pol)
        }
    });
    any != c.op.negated()
}

/// Whether a condition holds for the request.
pub fn condition_holds(c: &Condition, req: &RequestCtx, vars: bool) -> bool {
    let present = req.values(&c.key).filter(|v| !v.is_empty());
    if c.op == Op::Null {
        let want_absent = c.values.iter().any(|v| v.eq_ignore_ascii_case("true"));
        return present.is_none() == want_absent;
    }
    match (c.qualifier, present) {
        (_, None) if c.if_exists => true,
        (Qualifier::ForAllValues, None) => true,
        (Qualifier::ForAnyValue, None) => false,
        (Qualifier::None, None) => c.op.negated(),
        (Qualifier::ForAllValues, Some(v)) => v.iter().all(|x| one_value(c, x, req, vars)),
        (Qualifier::ForAnyValue, Some(v)) => v.iter().any(|x| one_value(c, x, req, vars)),
        (Qualifier::None, Some(v)) => {
            if c.op.negated() {
                v.iter().all(|x| one_value(c, x, req, vars))
            } else {
                v.iter().any(|x| one_value(c, x, req, vars))
            }
        }
    }
}

fn statement_matches(s: &Statement, req: &RequestCtx, vars: bool) -> bool {
    principal_matches(&s.principal, req.caller)
        && patterns_match(&s.actions, req.action, req, false, true)
        && patterns_match(&s.resources, req.resource, req, vars, false)
        && s.conditions.iter().all(|c| condition_holds(c, req, vars))
}

/// The policy's answer for one request: a matching Deny wins, then a matching Allow.
pub fn evaluate(policy: &Policy, req: &RequestCtx) -> Decision {
    let vars = policy.version == "2012-10-17";
    let mut allow = false;
    for s in &policy.statements {
        if statement_matches(s, req, vars) {
            match s.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allow = true,
            }
        }
    }
    if allow {
        Decision::Allow
    } else {
        Decision::NoOpinion
    }
}

/// Condition keys whose fixed values make a statement non-public (AWS's "The meaning of
/// public"): the grant is then limited to known sources or principals.
const RESTRICTING_KEYS: &[&str] = &[
    "aws:sourcearn",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourceowner",
    "aws:sourceaccount",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:userid",
    "aws:username",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
];

fn restricts(c: &Condition) -> bool {
    let fixed = |v: &String| !v.contains('*') && !v.contains('?');
    match c.op {
        Op::StringEquals
        | Op::StringEqualsIgnoreCase
        | Op::ArnEquals
        | Op::StringLike
        | Op::ArnLike => {
            c.qualifier != Qualifier::ForAllValues
                && RESTRICTING_KEYS.contains(&c.key.as_str())
                && c.values.iter().all(fixed)
        }
        Op::IpAddress => {
            c.key == "aws:sourceip"
                && c.values.iter().all(|v| match parse_cidr(v) {
                    Some((IpAddr::V4(_), len)) => len >= 8,
                    Some((IpAddr::V6(_), len)) => len >= 32,
                    None => false,
                })
        }
        _ => false,
    }
}

/// Whether the policy is public as AWS defines it: an Allow statement that grants to
/// everyone (`*` or NotPrincipal) without a condition fixing the source or the principal.
pub fn is_public(policy: &Policy) -> bool {
    policy.statements.iter().any(|s| {
        s.effect == Effect::Allow
            && (s.principal.any || s.principal.not)
            && !s.conditions.iter().any(restricts)
    })
}

/// Public access block settings (PutPublicAccessBlock), the bucket's
/// `ConfigKind::PublicAccessBlock` row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}
impl crate::meta::types::Record for PublicAccessBlock {}

/// Object ownership (PutBucketOwnershipControls), the bucket's `ConfigKind::OwnershipControls`
/// row. No row behaves as ObjectWriter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    BucketOwnerEnforced,
    BucketOwnerPreferred,
    ObjectWriter,
}
impl crate::meta::types::Record for ObjectOwnership {}

impl ObjectOwnership {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::ObjectWriter => "ObjectWriter",
        }
    }
    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        match s {
            "BucketOwnerEnforced" => Some(ObjectOwnership::BucketOwnerEnforced),
            "BucketOwnerPreferred" => Some(ObjectOwnership::BucketOwnerPreferred),
            "ObjectWriter" => Some(ObjectOwnership::ObjectWriter),
            _ => None,
        }
    }
}

/// A bucket's access configurations, read together (one read, and none when no bit is set).
#[derive(Debug, Clone, Default)]
pub struct Guards {
    pub policy: Option<StoredPolicy>,
    pub public_access: Option<PublicAccessBlock>,
    pub ownership: Option<ObjectOwnership>,
}

use crate::meta::types::{BucketMeta, ConfigKind};

const GUARD_KINDS: [ConfigKind; 3] = [
    ConfigKind::Policy,
    ConfigKind::PublicAccessBlock,
    ConfigKind::OwnershipControls,
];

/// Whether the bucket has any of the access configurations (no read).
pub fn has_guards(b: &BucketMeta) -> bool {
    GUARD_KINDS.iter().any(|k| b.has_config(*k))
}

fn undecodable(what: &str, e: String) -> S3Error {
    S3Error::msg(
        ErrorCode::InternalError,
        format!("stored {what} unreadable: {e}"),
    )
}

/// Reads the bucket's policy, public access block and ownership rows in one read on the
/// bucket's shard; nothing is read when the bucket has none.
pub async fn guards(b: &BucketMeta) -> S3Result<Guards> {
    if !has_guards(b) {
        return Ok(Guards::default());
    }
    let name = b.name.clone();
    let bits = b.configs;
    let rows = super::read::on_bucket_shard(&b.name, move |txn| {
        let mut rows = Vec::new();
        for k in GUARD_KINDS {
            if bits & k.bit() != 0 {
                rows.push((k, crate::meta::tables::get_bucket_config(txn, &name, k)?));
            } else {
                rows.push((k, None));
            }
        }
        Ok(rows)
    })
    .await?;
    let mut g = Guards::default();
    for (k, v) in rows {
        let Some(v) = v else { continue };
        match k {
            ConfigKind::Policy => {
                g.policy =
                    Some(crate::meta::types::decode(&v).map_err(|e| undecodable("policy", e))?)
            }
            ConfigKind::PublicAccessBlock => {
                g.public_access = Some(
                    crate::meta::types::decode(&v)
                        .map_err(|e| undecodable("public access block", e))?,
                )
            }
            ConfigKind::OwnershipControls => {
                g.ownership =
                    Some(crate::meta::types::decode(&v).map_err(|e| undecodable("ownership", e))?)
            }
            _ => {}
        }
    }
    Ok(g)
}

/// The stored bytes of a policy (its format byte first), as its row holds them.
pub fn encode_stored(p: &StoredPolicy) -> Vec<u8> {
    crate::meta::types::encode(p)
}

/// Decodes a policy row.
pub fn decode_stored(bytes: &[u8]) -> Result<StoredPolicy, String> {
    crate::meta::types::decode(bytes)
}

/// Stores (Some) or removes (None) the bucket's policy.
pub async fn set_policy(bucket: &str, p: Option<StoredPolicy>) -> S3Result<()> {
    let v = p.map(|p| crate::meta::types::encode(&p));
    super::bucket::set_config(bucket, ConfigKind::Policy, v).await
}

pub async fn set_public_access_block(bucket: &str, p: Option<PublicAccessBlock>) -> S3Result<()> {
    let v = p.map(|p| crate::meta::types::encode(&p));
    super::bucket::set_config(bucket, ConfigKind::PublicAccessBlock, v).await
}

pub async fn set_ownership(bucket: &str, o: Option<ObjectOwnership>) -> S3Result<()> {
    let v = o.map(|o| crate::meta::types::encode(&o));
    super::bucket::set_config(bucket, ConfigKind::OwnershipControls, v).await
}

/// The row CreateBucket stores for `x-amz-object-ownership`.
pub fn ownership_row(o: ObjectOwnership) -> (ConfigKind, Vec<u8>) {
    (
        ConfigKind::OwnershipControls,
        crate::meta::types::encode(&o),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "bkt";

    fn pol(statements: &str) -> Policy {
        parse(
            &format!(r#"{{"Version":"2012-10-17","Statement":{statements}}}"#),
            B,
        )
        .unwrap()
    }

    fn keys(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        pairs
            .iter()
            .map(|(k, v)| (normalise_key(k), v.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    const ALICE: Caller = Caller {
        canonical_id: "c1d2",
        access_key: "AKALICE",
        display_name: "alice",
    };

    fn eval(
        p: &Policy,
        caller: Option<Caller>,
        action: &str,
        res: &str,
        k: &[(String, Vec<String>)],
    ) -> Decision {
        evaluate(
            p,
            &RequestCtx {
                caller,
                action,
                resource: res,
                keys: k,
            },
        )
    }

    /// Evaluates one condition block on an Allow-all statement against `k`.
    fn cond(block: &str, k: &[(&str, &[&str])]) -> bool {
        let p = pol(&format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*","Condition":{block}}}"#
        ));
        eval(&p, None, "s3:GetObject", "arn:aws:s3:::bkt/k", &keys(k)) == Decision::Allow
    }

    #[test]
    fn anonymous_read_policy() {
        let p = pol(
            r#"[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::bkt/*"]}]"#,
        );
        assert_eq!(
            eval(&p, None, "s3:GetObject", "arn:aws:s3:::bkt/a/b", &[]),
            Decision::Allow
        );
        assert_eq!(
            eval(&p, None, "s3:PutObject", "arn:aws:s3:::bkt/a", &[]),
            Decision::NoOpinion
        );
        assert_eq!(
            eval(&p, None, "s3:ListBucket", "arn:aws:s3:::bkt", &[]),
            Decision::NoOpinion
        );
        assert!(is_public(&p));
    }

    #[test]
    fn deny_beats_allow_and_wildcards() {
        let p = pol(
            r#"[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::bkt/*"},
                     {"Effect":"Deny","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::bkt/secret/*"}]"#,
        );
        assert_eq!(
            eval(
                &p,
                Some(ALICE),
                "s3:GetObject",
                "arn:aws:s3:::bkt/secret/x",
                &[]
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            eval(
                &p,
                Some(ALICE),
                "s3:GetObject",
                "arn:aws:s3:::bkt/open/x",
                &[]
            ),
            Decision::Allow
        );
        assert_eq!(
            eval(
                &p,
                Some(ALICE),
                "s3:PutObject",
                "arn:aws:s3:::bkt/secret/x",
                &[]
            ),
            Decision::Allow
        );
        // actions are case-insensitive
        assert_eq!(
            eval(
                &p,
                Some(ALICE),
                "s3:getobject",
                "arn:aws:s3:::bkt/secret/x",
                &[]
            ),
            Decision::ExplicitDeny
        );
    }

    #[test]
    fn principals() {
        let p = pol(
            r#"{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::123:user/alice","AKBOB"]},"Action":"s3:*","Resource":"arn:aws:s3:::bkt"}"#,
        );
        assert_eq!(
            eval(&p, Some(ALICE), "s3:ListBucket", "arn:aws:s3:::bkt", &[]),
            Decision::Allow
        );
        assert_eq!(
            eval(&p, None, "s3:ListBucket", "arn:aws:s3:::bkt", &[]),
            Decision::NoOpinion
        );
        let bob = Caller {
            canonical_id: "b0b",
            access_key: "AKBOB",
            display_name: "bob",
        };
        assert_eq!(
            eval(&p, Some(bob), "s3:ListBucket", "arn:aws:s3:::bkt", &[]),
            Decision::Allow
        );
        let p = pol(
            r#"{"Effect":"Deny","NotPrincipal":{"CanonicalUser":"c1d2"},"Action":"s3:*","Resource":"arn:aws:s3:::bkt"}"#,
        );
        assert_eq!(
            eval(&p, Some(ALICE), "s3:ListBucket", "arn:aws:s3:::bkt", &[]),
            Decision::NoOpinion
        );
        assert_eq!(
            eval(&p, Some(bob), "s3:ListBucket", "arn:aws:s3:::bkt", &[]),
            Decision::ExplicitDeny
        );
        assert!(!is_public(&pol(
            r#"{"Effect":"Allow","Principal":{"AWS":"AKBOB"},"Action":"s3:*","Resource":"*"}"#
        )));
        let p = pol(
            r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::c1d2:root"},"Action":"s3:*","Resource":"*"}"#,
        );
        assert_eq!(
            eval(&p, Some(ALICE), "s3:ListBucket", "arn:aws:s3:::bkt", &[]),
            Decision::Allow
        );
    }

    #[test]
    fn not_action_not_resource() {
        let p = pol(
            r#"{"Effect":"Deny","Principal":"*","NotAction":"s3:GetObject","NotResource":"arn:aws:s3:::bkt/pub/*"}"#,
        );
        assert_eq!(
            eval(&p, None, "s3:PutObject", "arn:aws:s3:::bkt/x", &[]),
            Decision::ExplicitDeny
        );
        assert_eq!(
            eval(&p, None, "s3:GetObject", "arn:aws:s3:::bkt/x", &[]),
            Decision::NoOpinion
        );
        assert_eq!(
            eval(&p, None, "s3:PutObject", "arn:aws:s3:::bkt/pub/x", &[]),
            Decision::NoOpinion
        );
    }

    #[test]
    fn string_operators() {
        assert!(cond(
            r#"{"StringEquals":{"s3:prefix":["a/","b/"]}}"#,
            &[("s3:prefix", &["b/"])]
        ));
        assert!(!cond(
            r#"{"StringEquals":{"s3:prefix":"a/"}}"#,
            &[("s3:prefix", &["A/"])]
        ));
        assert!(!cond(r#"{"StringEquals":{"s3:prefix":"a/"}}"#, &[]));
        assert!(cond(
            r#"{"StringNotEquals":{"s3:prefix":"a/"}}"#,
            &[("s3:prefix", &["b/"])]
        ));
        assert!(!cond(
            r#"{"StringNotEquals":{"s3:prefix":"a/"}}"#,
            &[("s3:prefix", &["a/"])]
        ));
        assert!(cond(r#"{"StringNotEquals":{"s3:prefix":"a/"}}"#, &[]));
        assert!(cond(
            r#"{"StringEqualsIgnoreCase":{"s3:prefix":"a/"}}"#,
            &[("s3:prefix", &["A/"])]
        ));
        assert!(!cond(
            r#"{"StringNotEqualsIgnoreCase":{"s3:prefix":"a/"}}"#,
            &[("s3:prefix", &["A/"])]
        ));
        assert!(cond(
            r#"{"StringLike":{"s3:prefix":"home/*"}}"#,
            &[("s3:prefix", &["home/x/y"])]
        ));
        assert!(!cond(
            r#"{"StringLike":{"s3:prefix":"home/?"}}"#,
            &[("s3:prefix", &["home/xy"])]
        ));
        assert!(cond(
            r#"{"StringNotLike":{"s3:prefix":"home/*"}}"#,
            &[("s3:prefix", &["other"])]
        ));
        // key names are case-insensitive
        assert!(cond(
            r#"{"StringEquals":{"S3:Prefix":"a"}}"#,
            &[("s3:prefix", &["a"])]
        ));
    }

    #[test]
    fn numeric_operators() {
        let k: &[(&str, &[&str])] = &[("s3:max-keys", &["10"])];
        assert!(cond(r#"{"NumericEquals":{"s3:max-keys":"10"}}"#, k));
        assert!(cond(r#"{"NumericNotEquals":{"s3:max-keys":11}}"#, k));
        assert!(cond(r#"{"NumericLessThan":{"s3:max-keys":"11"}}"#, k));
        assert!(!cond(r#"{"NumericLessThan":{"s3:max-keys":"10"}}"#, k));
        assert!(cond(r#"{"NumericLessThanEquals":{"s3:max-keys":"10"}}"#, k));
        assert!(cond(r#"{"NumericGreaterThan":{"s3:max-keys":"9.5"}}"#, k));
        assert!(!cond(
            r#"{"NumericGreaterThanEquals":{"s3:max-keys":"11"}}"#,
            k
        ));
        assert!(!cond(
            r#"{"NumericLessThan":{"s3:max-keys":"11"}}"#,
            &[("s3:max-keys", &["x"])]
        ));
    }

    #[test]
    fn date_operators() {
        let k: &[(&str, &[&str])] = &[("aws:CurrentTime", &["2024-06-01T12:00:00Z"])];
        assert!(cond(
            r#"{"DateGreaterThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#,
            k
        ));
        assert!(!cond(
            r#"{"DateLessThan":{"aws:CurrentTime":"2024-01-01"}}"#,
            k
        ));
        assert!(cond(
            r#"{"DateLessThanEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}"#,
            k
        ));
        assert!(cond(
            r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"1717243200"}}"#,
            k
        ));
        assert!(cond(
            r#"{"DateEquals":{"aws:CurrentTime":"2024-06-01T12:00:00Z"}}"#,
            k
        ));
        assert!(cond(
            r#"{"DateNotEquals":{"aws:CurrentTime":"2024-06-01T12:00:01Z"}}"#,
            k
        ));
    }

    #[test]
    fn bool_ip_null() {
        assert!(cond(
            r#"{"Bool":{"aws:SecureTransport":"false"}}"#,
            &[("aws:SecureTransport", &["false"])]
        ));
        assert!(!cond(
            r#"{"Bool":{"aws:SecureTransport":true}}"#,
            &[("aws:SecureTransport", &["false"])]
        ));
        let ip: &[(&str, &[&str])] = &[("aws:SourceIp", &["10.1.2.3"])];
        assert!(cond(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#, ip));
        assert!(!cond(
            r#"{"IpAddress":{"aws:SourceIp":["192.168.0.0/16","10.1.2.4/32"]}}"#,
            ip
        ));
        assert!(cond(
            r#"{"NotIpAddress":{"aws:SourceIp":"192.168.0.0/16"}}"#,
            ip
        ));
        assert!(cond(
            r#"{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}"#,
            &[("aws:SourceIp", &["2001:db8::1"])]
        ));
        assert!(cond(
            r#"{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}"#,
            &[("aws:SourceIp", &["::ffff:127.0.0.1"])]
        ));
        assert!(cond(r#"{"Null":{"s3:x-amz-acl":"true"}}"#, &[]));
        assert!(!cond(
            r#"{"Null":{"s3:x-amz-acl":"true"}}"#,
            &[("s3:x-amz-acl", &["private"])]
        ));
        assert!(cond(
            r#"{"Null":{"s3:x-amz-acl":"false"}}"#,
            &[("s3:x-amz-acl", &["private"])]
        ));
    }

    #[test]
    fn if_exists_and_set_qualifiers() {
        assert!(cond(
            r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"private"}}"#,
            &[]
        ));
        assert!(!cond(
            r#"{"StringEqualsIfExists":{"s3:x-amz-acl":"private"}}"#,
            &[("s3:x-amz-acl", &["public-read"])]
        ));
        assert!(cond(
            r#"{"NumericLessThanIfExists":{"s3:max-keys":"5"}}"#,
            &[]
        ));
        let tags: &[(&str, &[&str])] = &[("aws:TagKeys", &["a", "b"])];
        assert!(cond(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["b","z"]}}"#,
            tags
        ));
        assert!(!cond(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["b","z"]}}"#,
            tags
        ));
        assert!(cond(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a","b","z"]}}"#,
            tags
        ));
        assert!(cond(
            r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["a"]}}"#,
            &[]
        ));
        assert!(!cond(
            r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["a"]}}"#,
            &[]
        ));
    }

    #[test]
    fn policy_variables() {
        let p = pol(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/home/${aws:username}/*"}"#,
        );
        let k = keys(&[("aws:username", &["alice"])]);
        assert_eq!(
            eval(
                &p,
                Some(ALICE),
                "s3:GetObject",
                "arn:aws:s3:::bkt/home/alice/f",
                &k
            ),
            Decision::Allow
        );
        assert_eq!(
            eval(
                &p,
                Some(ALICE),
                "s3:GetObject",
                "arn:aws:s3:::bkt/home/bob/f",
                &k
            ),
            Decision::NoOpinion
        );
        assert_eq!(
            eval(
                &p,
                None,
                "s3:GetObject",
                "arn:aws:s3:::bkt/home/alice/f",
                &[]
            ),
            Decision::NoOpinion
        );
    }

    #[test]
    fn malformed_policies() {
        let bad = |s: &str| parse(s, B).unwrap_err().code;
        assert_eq!(bad("not json"), ErrorCode::MalformedPolicy);
        assert_eq!(bad("[]"), ErrorCode::MalformedPolicy);
        assert_eq!(
            bad(r#"{"Version":"2012-10-17","Statement":[]}"#),
            ErrorCode::MalformedPolicy
        );
        assert_eq!(
            bad(r#"{"Version":"2012-10-17"}"#),
            ErrorCode::MalformedPolicy
        );
        assert_eq!(
            bad(
                r#"{"Version":"2099-01-01","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}}"#
            ),
            ErrorCode::MalformedPolicy
        );
        let st = |body: &str| {
            parse(
                &format!(r#"{{"Version":"2012-10-17","Statement":{{{body}}}}}"#),
                B,
            )
        };
        assert!(st(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*""#).is_ok());
        assert!(st(
            r#""Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::bkt*""#
        )
        .is_ok());
        let e = st(
            r#""Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"arn:aws:s3:::bkt/*""#,
        )
        .unwrap_err();
        assert_eq!(e.message, "Policy has invalid action");
        let e = st(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*""#).unwrap_err();
        assert_eq!(e.message, "Policy has invalid resource");
        assert!(
            st(r#""Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"*""#)
                .is_err()
        );
        assert!(st(r#""Effect":"Allow","Action":"s3:GetObject","Resource":"*""#).is_err());
        assert!(st(r#""Effect":"Allow","Principal":"*","Resource":"*""#).is_err());
        assert!(st(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject""#).is_err());
        assert!(st(
            r#""Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:GetObject","Resource":"*""#
        )
        .is_err());
        assert!(st(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"Foo":{"aws:SourceIp":"1.2.3.4"}}"#).is_err());
        assert!(st(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.4/40"}}"#).is_err());
        assert!(st(r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"NumericEquals":{"s3:max-keys":"x"}}"#).is_err());
        assert!(st(
            r#""Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Extra":1"#
        )
        .is_err());
        let big = format!(
            r#"{{"Id":"{}","Statement":[]}}"#,
            "x".repeat(POLICY_BYTES_MAX)
        );
        assert_eq!(bad(&big), ErrorCode::MalformedPolicy);
    }

    #[test]
    fn public_meaning() {
        let p = |c: &str| {
            pol(&format!(
                r#"{{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{c}}}"#
            ))
        };
        assert!(!is_public(&p(
            r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#
        )));
        assert!(is_public(&p(
            r#"{"IpAddress":{"aws:SourceIp":"0.0.0.0/1"}}"#
        )));
        assert!(!is_public(&p(
            r#"{"StringEquals":{"aws:SourceAccount":"123"}}"#
        )));
        assert!(is_public(&p(r#"{"StringLike":{"aws:SourceAccount":"*"}}"#)));
        assert!(is_public(&p(r#"{"Bool":{"aws:SecureTransport":"true"}}"#)));
        let deny =
            pol(r#"{"Effect":"Deny","Principal":"*","Action":"s3:GetObject","Resource":"*"}"#);
        assert!(!is_public(&deny));
    }

    #[test]
    fn glob_matching() {
        assert!(glob("*", ""));
        assert!(glob("a*c", "abbbc"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob("bkt/*/x", "bkt/a/b/x"));
        assert!(!glob("bkt/*", "bkt"));
    }

    #[test]
    fn stored_round_trip() {
        let p = pol(
            r#"{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"ForAnyValue:StringLikeIfExists":{"s3:prefix":["a",1,true]}}}"#,
        );
        let s = StoredPolicy {
            text: "{}".into(),
            policy: p,
        };
        let bytes = crate::meta::types::encode(&s);
        assert_eq!(
            crate::meta::types::decode::<StoredPolicy>(&bytes).unwrap(),
            s
        );
    }
}

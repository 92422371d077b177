//! Access control: canned ACLs, x-amz-grant-* headers, and the permission check every
//! handler makes. A canned ACL leaves the owner FULL_CONTROL and adds grants; an ACL given
//! grant by grant (see `Grantee::ExplicitOwner`) is exactly its grants, the owner keeping
//! only READ_ACP and WRITE_ACP beyond them. AccessControlPolicy documents in (PutBucketAcl,
//! PutObjectAcl) and out (GetBucketAcl, GetObjectAcl).

use crate::auth::users::{User, Users};
use crate::engine::{Acl, Grant, Grantee, Permission};
use crate::http::conn::Request;
use crate::http::head::RequestHead;
use crate::s3::ctx::Ctx;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use crate::s3::request::{read_small_body, CONFIG_BODY_BYTES_MAX};
use crate::s3::xml;

pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
pub const LOG_DELIVERY_URI: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// Grants beyond this per ACL are refused (bounded records).
const GRANTS_MAX: usize = 100;

/// Whether the ACL was given grant by grant: the owner has no implicit FULL_CONTROL.
pub fn is_explicit(acl: &Acl) -> bool {
    acl.grants
        .iter()
        .any(|g| g.grantee == Grantee::ExplicitOwner)
}

/// An ACL that is exactly `grants` (the owner's own included).
pub fn explicit(mut grants: Vec<Grant>) -> Acl {
    grants.retain(|g| g.grantee != Grantee::ExplicitOwner);
    grants.insert(0, grant(Grantee::ExplicitOwner, Permission::Read));
    Acl { grants }
}

/// Whether `caller` (None = anonymous) holds `perm` on a resource owned by `owner_id`.
pub fn allowed(owner_id: &str, acl: &Acl, caller: Option<&User>, perm: Permission) -> bool {
    if let Some(u) = caller {
        // The owner may always read and rewrite the ACL, so an ACL that grants nothing can
        // still be repaired.
        if u.id == owner_id
            && (matches!(perm, Permission::ReadAcp | Permission::WriteAcp) || !is_explicit(acl))
        {
            return true;
        }
    }
    acl.grants.iter().any(|g| {
        let who = match &g.grantee {
            Grantee::AllUsers => true,
            Grantee::AuthenticatedUsers => caller.is_some(),
            Grantee::User { id } => caller.map(|u| &u.id == id).unwrap_or(false),
            Grantee::Email(_) | Grantee::LogDelivery | Grantee::ExplicitOwner => false,
        };
        who && (g.permission == perm || g.permission == Permission::FullControl)
    })
}

pub fn require(owner_id: &str, acl: &Acl, caller: Option<&User>, perm: Permission) -> S3Result<()> {
    if allowed(owner_id, acl, caller, perm) {
        Ok(())
    } else {
        Err(S3Error::new(ErrorCode::AccessDenied))
    }
}

fn grant(grantee: Grantee, permission: Permission) -> Grant {
    Grant {
        grantee,
        permission,
    }
}

/// The grants a canned ACL stands for (the owner's FULL_CONTROL is implicit).
pub fn canned(name: &str, bucket_owner: Option<&str>) -> S3Result<Acl> {
    let grants = match name {
        "private" => vec![],
        "public-read" => vec![grant(Grantee::AllUsers, Permission::Read)],
        "public-read-write" => {
            vec![
                grant(Grantee::AllUsers, Permission::Read),
                grant(Grantee::AllUsers, Permission::Write),
            ]
        }
        "authenticated-read" => vec![grant(Grantee::AuthenticatedUsers, Permission::Read)],
        "aws-exec-read" => vec![],
        "log-delivery-write" => vec![
            grant(Grantee::LogDelivery, Permission::Write),
            grant(Grantee::LogDelivery, Permission::ReadAcp),
        ],
        "bucket-owner-read" => bucket_owner
            .map(|o| vec![grant(Grantee::User { id: o.to_string() }, Permission::Read)])
            .unwrap_or_default(),
        "bucket-owner-full-control" => bucket_owner
            .map(|o| {
                vec![grant(
                    Grantee::User { id: o.to_string() },
                    Permission::FullControl,
                )]
            })
            .unwrap_or_default(),
        other => {
            return Err(S3Error::invalid_argument(
                "Invalid canned ACL",
                "x-amz-acl",
                other,
            ));
        }
    };
    Ok(Acl { grants })
}

const GRANT_HEADERS: [(&str, Permission); 5] = [
    ("x-amz-grant-read", Permission::Read),
    ("x-amz-grant-write", Permission::Write),
    ("x-amz-grant-read-acp", Permission::ReadAcp),
    ("x-amz-grant-write-acp", Permission::WriteAcp),
    ("x-amz-grant-full-control", Permission::FullControl),
];

/// The ACL a request asks for with `x-amz-acl` or `x-amz-grant-*` (not both); None if neither.
pub fn from_headers(
    head: &RequestHead,
    bucket_owner: Option<&str>,
    users: &Users,
) -> S3Result<Option<Acl>> {
    let canned_name = head.header("x-amz-acl");
    let mut grants = Vec::new();
    for (h, perm) in GRANT_HEADERS {
        for value in head.header_all(h) {
            for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                grants.push(grant(parse_grantee(item)?, perm));
            }
        }
    }
    if grants.len() > GRANTS_MAX {
        return Err(S3Error::msg(ErrorCode::InvalidArgument, "Too many grants"));
    }
    match (canned_name, grants.is_empty()) {
        (Some(_), false) => Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(c), true) => canned(c, bucket_owner).map(Some),
        (None, false) => {
            resolve_grantees(&grants, users)?;
            Ok(Some(explicit(grants)))
        }
        (None, true) => Ok(None),
    }
}

/// Every user a grant names must exist: an unknown canonical id is 400 InvalidArgument, an
/// e-mail address 400 UnresolvableGrantByEmailAddress (users here have no e-mail address).
pub fn resolve_grantees(grants: &[Grant], users: &Users) -> S3Result<()> {
    for g in grants {
        match &g.grantee {
            Grantee::User { id } => {
                let known = users.by_id(id).is_some();
                if !known {
                    return Err(S3Error::invalid_argument(
                        "Invalid id",
                        "CanonicalUser/ID",
                        id,
                    ));
                }
            }
            Grantee::Email(e) => {
                return Err(S3Error::new(ErrorCode::UnresolvableGrantByEmailAddress)
                    .with("EmailAddress", e));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Renders an ACL as AccessControlPolicy XML: a canned ACL with the owner's implicit
/// FULL_CONTROL first, an explicit one exactly as given.
pub fn acl_xml(ctx: &Ctx, owner_id: &str, acl: &Acl) -> String {
    let users = &ctx.users;
    let owner = xml::Owner {
        id: owner_id.to_string(),
        display_name: Some(users.display_name(owner_id)),
    };
    let explicit = is_explicit(acl);
    let mut grants = Vec::new();
    if !explicit {
        grants.push(xml::Grant {
            grantee: xml::Grantee::CanonicalUser {
                id: owner.id.clone(),
                display_name: owner.display_name.clone(),
            },
            permission: xml::Permission::FullControl,
        });
    }
    for g in &acl.grants {
        let grantee = match &g.grantee {
            Grantee::ExplicitOwner => continue,
            // bucket-owner-full-control by the bucket's own owner: already listed.
            Grantee::User { id }
                if !explicit && id == owner_id && g.permission == Permission::FullControl =>
            {
                continue
            }
            Grantee::User { id } => xml::Grantee::CanonicalUser {
                id: id.clone(),
                display_name: Some(users.display_name(id)),
            },
            Grantee::Email(e) => xml::Grantee::Email(e.clone()),
            other => xml::Grantee::Group(group_uri(other).unwrap_or_default().to_string()),
        };
        grants.push(xml::Grant {
            grantee,
            permission: g.permission,
        });
    }
    xml::access_control_policy(&xml::AccessControlPolicy {
        owner: Some(owner),
        grants,
    })
}

/// The ACL a PutBucketAcl / PutObjectAcl request asks for: headers or an XML body. A body
/// replaces the ACL by exactly its grants: one with none leaves the owner only READ_ACP and
/// WRITE_ACP. `bucket_owner` is whom the bucket-owner-* canned ACLs name.
pub async fn requested_acl(ctx: &Ctx, req: &mut Request<'_>, bucket_owner: &str) -> S3Result<Acl> {
    if let Some(acl) = from_headers(&req.head, Some(bucket_owner), &ctx.users)? {
        return Ok(acl);
    }
    let body = read_small_body(req, ctx, CONFIG_BODY_BYTES_MAX).await?;
    if body.is_empty() {
        return Err(S3Error::new(ErrorCode::MissingRequestBodyError));
    }
    let policy = xml::parse_access_control_policy(&body)?;
    let mut grants = Vec::new();
    for g in policy.grants {
        let grantee = match g.grantee {
            xml::Grantee::CanonicalUser { id, .. } => Grantee::User { id },
            xml::Grantee::Email(e) => Grantee::Email(e),
            xml::Grantee::Group(uri) => group(&uri).ok_or_else(|| {
                S3Error::msg(ErrorCode::MalformedACLError, format!("Unknown group {uri}"))
            })?,
        };
        grants.push(Grant {
            grantee,
            permission: g.permission,
        });
    }
    resolve_grantees(&grants, &ctx.users)?;
    Ok(explicit(grants))
}

/// `id="..."`, `uri="..."` or `emailAddress="..."`.
fn parse_grantee(item: &str) -> S3Result<Grantee> {
    let (kind, value) = item
        .split_once('=')
        .ok_or_else(|| S3Error::invalid_argument("Invalid grant", "x-amz-grant", item))?;
    let value = value.trim().trim_matches('"').to_string();
    match kind.trim().to_ascii_lowercase().as_str() {
        "id" => Ok(Grantee::User { id: value }),
        "emailaddress" => Ok(Grantee::Email(value)),
        "uri" => group(&value)
            .ok_or_else(|| S3Error::invalid_argument("Invalid group uri", "uri", &value)),
        _ => Err(S3Error::invalid_argument(
            "Invalid grant",
            "x-amz-grant",
            item,
        )),
    }
}

pub fn group(uri: &str) -> Option<Grantee> {
    match uri {
        ALL_USERS_URI => Some(Grantee::AllUsers),
        AUTHENTICATED_USERS_URI => Some(Grantee::AuthenticatedUsers),
        LOG_DELIVERY_URI => Some(Grantee::LogDelivery),
        _ => None,
    }
}

pub fn group_uri(g: &Grantee) -> Option<&'static str> {
    match g {
        Grantee::AllUsers => Some(ALL_USERS_URI),
        Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS_URI),
        Grantee::LogDelivery => Some(LOG_DELIVERY_URI),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            access_key: id.into(),
            secret_key: "s".into(),
            id: id.into(),
            display_name: id.into(),
        }
    }

    #[test]
    fn owner_always_allowed_others_need_grants() {
        let acl = Acl::default();
        assert!(allowed("a", &acl, Some(&user("a")), Permission::WriteAcp));
        assert!(!allowed("a", &acl, Some(&user("b")), Permission::Read));
        assert!(!allowed("a", &acl, None, Permission::Read));
    }

    #[test]
    fn canned_public_read_opens_reads_only() {
        let acl = canned("public-read", None).unwrap();
        assert!(allowed("a", &acl, None, Permission::Read));
        assert!(!allowed("a", &acl, None, Permission::Write));
        assert!(canned("bogus", None).is_err());
    }

    #[test]
    fn explicit_acls_bind_the_owner_too() {
        let none = explicit(vec![]);
        let a = user("a");
        assert!(!allowed("a", &none, Some(&a), Permission::Read));
        assert!(!allowed("a", &none, Some(&a), Permission::Write));
        assert!(allowed("a", &none, Some(&a), Permission::ReadAcp));
        assert!(allowed("a", &none, Some(&a), Permission::WriteAcp));
        let own = explicit(vec![grant(
            Grantee::User { id: "a".into() },
            Permission::Read,
        )]);
        assert!(allowed("a", &own, Some(&a), Permission::Read));
        assert!(!allowed("a", &own, Some(&a), Permission::Write));
        // Canned ACLs keep the owner's implicit FULL_CONTROL.
        assert!(allowed(
            "a",
            &canned("public-read", None).unwrap(),
            Some(&a),
            Permission::Write
        ));
    }

    #[test]
    fn full_control_grant_covers_everything() {
        let acl = Acl {
            grants: vec![grant(
                Grantee::User { id: "b".into() },
                Permission::FullControl,
            )],
        };
        assert!(allowed("a", &acl, Some(&user("b")), Permission::WriteAcp));
    }
}

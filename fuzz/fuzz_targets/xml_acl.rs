//! `s3::xml::parse_access_control_policy` on raw bytes: a successful parse has at most 100
//! grants and trimmed non-empty values holding only characters XML 1.0 allows, and rendering
//! it (what GetBucketAcl answers) and parsing that again gives the same policy.
#![no_main]

use bleepstore::s3::xml::{
    access_control_policy, parse_access_control_policy, AccessControlPolicy, Grantee,
    MAX_ACL_GRANTS,
};
use bleepstore_fuzz::is_xml_text;
use libfuzzer_sys::fuzz_target;

fn clean(s: &str) -> bool {
    !s.is_empty() && s.trim_matches([' ', '\t', '\r', '\n']) == s
}

fuzz_target!(|data: &[u8]| {
    let Ok(acp) = parse_access_control_policy(data) else {
        return;
    };
    assert!(
        acp.grants.len() <= MAX_ACL_GRANTS,
        "{} grants",
        acp.grants.len()
    );
    if let Some(owner) = &acp.owner {
        assert!(clean(&owner.id));
        assert!(owner.display_name.as_deref().is_none_or(clean));
    }
    for g in &acp.grants {
        match &g.grantee {
            Grantee::CanonicalUser { id, display_name } => {
                assert!(clean(id));
                assert!(display_name.as_deref().is_none_or(clean));
            }
            Grantee::Email(s) | Grantee::Group(s) => assert!(clean(s)),
        }
    }
    for t in texts(&acp) {
        assert!(is_xml_text(t), "a character XML 1.0 forbids: {t:?}");
    }
    let rendered = access_control_policy(&acp);
    match parse_access_control_policy(rendered.as_bytes()) {
        Ok(again) => assert_eq!(again, acp, "render/parse round trip changed the policy"),
        Err(e) => panic!("our own rendering does not parse: {e:?}\n{rendered}"),
    }
});

/// Every text value of a policy.
fn texts(acp: &AccessControlPolicy) -> Vec<&str> {
    let mut out = Vec::new();
    if let Some(owner) = &acp.owner {
        out.push(owner.id.as_str());
        out.extend(owner.display_name.as_deref());
    }
    for g in &acp.grants {
        match &g.grantee {
            Grantee::CanonicalUser { id, display_name } => {
                out.push(id.as_str());
                out.extend(display_name.as_deref());
            }
            Grantee::Email(s) | Grantee::Group(s) => out.push(s.as_str()),
        }
    }
    out
}

//! `PublicAccessBlockConfiguration`, `OwnershipControls` and `PolicyStatus` documents.

use super::{close, open, start_doc, text_el};

fn flag(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

/// GetPublicAccessBlock: the four flags.
pub fn public_access_block(flags: [bool; 4]) -> String {
    let root = "PublicAccessBlockConfiguration";
    let mut out = start_doc(320, root);
    let names = [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ];
    for (n, v) in names.iter().zip(flags) {
        text_el(&mut out, n, flag(v));
    }
    close(&mut out, root);
    out
}

/// GetBucketOwnershipControls: one rule.
pub fn ownership_controls(ownership: &str) -> String {
    let mut out = start_doc(192, "OwnershipControls");
    open(&mut out, "Rule");
    text_el(&mut out, "ObjectOwnership", ownership);
    close(&mut out, "Rule");
    close(&mut out, "OwnershipControls");
    out
}

/// GetBucketPolicyStatus.
pub fn policy_status(is_public: bool) -> String {
    let mut out = start_doc(128, "PolicyStatus");
    text_el(&mut out, "IsPublic", flag(is_public));
    close(&mut out, "PolicyStatus");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents() {
        let d = public_access_block([true, false, true, false]);
        assert!(d.contains(
            "<BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls>"
        ));
        assert!(ownership_controls("ObjectWriter")
            .contains("<Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>"));
        assert!(policy_status(true).contains("<IsPublic>true</IsPublic>"));
    }
}

//! Object Lock documents: `ObjectLockConfiguration` (GetObjectLockConfiguration),
//! `Retention` (GetObjectRetention), `LegalHold` (GetObjectLegalHold).

use super::{close, open, start_doc, text_el};

/// `<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>[<Rule>
/// <DefaultRetention><Mode/><Days/>|<Years/></DefaultRetention></Rule>]</...>`.
/// `period` is ("Days" | "Years", value).
pub fn object_lock_configuration(enabled: bool, rule: Option<(&str, (&str, u32))>) -> String {
    let root = "ObjectLockConfiguration";
    let mut out = start_doc(256, root);
    if enabled {
        text_el(&mut out, "ObjectLockEnabled", "Enabled");
    }
    if let Some((mode, (unit, n))) = rule {
        open(&mut out, "Rule");
        open(&mut out, "DefaultRetention");
        text_el(&mut out, "Mode", mode);
        text_el(&mut out, unit, &n.to_string());
        close(&mut out, "DefaultRetention");
        close(&mut out, "Rule");
    }
    close(&mut out, root);
    out
}

/// `<Retention><Mode/><RetainUntilDate/></Retention>` (the date in ISO 8601, milliseconds).
pub fn retention(mode: &str, until_ms: u64) -> String {
    let mut out = start_doc(192, "Retention");
    text_el(&mut out, "Mode", mode);
    text_el(
        &mut out,
        "RetainUntilDate",
        &crate::s3::xml::iso8601_ms(until_ms),
    );
    close(&mut out, "Retention");
    out
}

/// `<LegalHold><Status>ON|OFF</Status></LegalHold>`.
pub fn legal_hold(on: bool) -> String {
    let mut out = start_doc(128, "LegalHold");
    text_el(&mut out, "Status", if on { "ON" } else { "OFF" });
    close(&mut out, "LegalHold");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::s3::xml::{parse_legal_hold, parse_object_lock_configuration, parse_retention};

    #[test]
    fn documents_round_trip_through_the_parsers() {
        let doc = object_lock_configuration(true, Some(("COMPLIANCE", ("Years", 2))));
        let back = parse_object_lock_configuration(doc.as_bytes()).unwrap();
        assert_eq!(back.enabled.as_deref(), Some("Enabled"));
        let rule = back.rule.unwrap();
        assert_eq!(
            (rule.mode.as_deref(), rule.years.as_deref()),
            (Some("COMPLIANCE"), Some("2"))
        );
        let doc = object_lock_configuration(true, None);
        assert!(doc
            .ends_with("<ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>"));
        let doc = retention("GOVERNANCE", 1_000);
        let r = parse_retention(doc.as_bytes()).unwrap();
        assert_eq!(r.retain_until.as_deref(), Some("1970-01-01T00:00:01.000Z"));
        assert_eq!(
            parse_legal_hold(legal_hold(true).as_bytes())
                .unwrap()
                .as_deref(),
            Some("ON")
        );
        assert_eq!(
            parse_legal_hold(legal_hold(false).as_bytes())
                .unwrap()
                .as_deref(),
            Some("OFF")
        );
    }
}

//! S3 Object Lock rules that must hold inside a commit: a bucket's lock configuration (the
//! typed row of `ConfigKind::ObjectLock`), the default retention a new version gets, which
//! retention changes are allowed, and whether a version may be destroyed.
//!
//! The configuration type lives here rather than in `engine::lock` because the commands
//! that write object versions apply the bucket's default retention atomically with the
//! write (the engine encodes and decodes the same type through `engine::lock`).

use super::tables as t;
use super::types::{BucketMeta, ConfigKind, LegalHold, LockMode, ObjectLock, Record, Retention};
use crate::error::{ErrorCode, S3Error, S3Result};
use redb::WriteTransaction;
use serde::{Deserialize, Serialize};

/// Milliseconds in a day; a year of a default retention is 365 days.
pub const DAY_MS: u64 = 86_400_000;
/// Longest default retention AWS allows (100 years), in days and in years.
pub const RETENTION_DAYS_MAX: u32 = 36_500;
pub const RETENTION_YEARS_MAX: u32 = 100;

/// A bucket's Object Lock configuration (`ObjectLockConfiguration`), validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockConfig {
    /// `ObjectLockEnabled=Enabled`. A stored row always has it; kept for the document.
    pub enabled: bool,
    /// `Rule/DefaultRetention`, applied to new versions that carry no retention of their own.
    pub default: Option<DefaultRetention>,
}

impl Record for LockConfig {}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: LockMode,
    pub period: Period,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    Days(u32),
    Years(u32),
}

impl Period {
    pub fn ms(self) -> u64 {
        match self {
            Period::Days(d) => u64::from(d) * DAY_MS,
            Period::Years(y) => u64::from(y) * 365 * DAY_MS,
        }
    }
}

impl DefaultRetention {
    /// The retention a version created at `created_ms` gets.
    pub fn retention_from(self, created_ms: u64) -> Retention {
        Retention {
            mode: self.mode,
            until_ms: created_ms.saturating_add(self.period.ms()),
        }
    }
}

/// The bucket's lock configuration, read only when its record says it has one.
pub fn bucket_config(txn: &impl t::Tables, bucket: &BucketMeta) -> S3Result<Option<LockConfig>> {
    if !bucket.has_config(ConfigKind::ObjectLock) {
        return Ok(None);
    }
    match t::get_bucket_config(txn, &bucket.name, ConfigKind::ObjectLock)? {
        Some(bytes) => super::types::decode(&bytes)
            .map(Some)
            .map_err(|e| S3Error::corrupt(format!("corrupt object lock configuration: {e}"))),
        None => Ok(None),
    }
}

/// The refusal of lock parameters on a bucket without Object Lock.
pub fn missing_config() -> S3Error {
    S3Error::msg(
        ErrorCode::InvalidRequest,
        "Bucket is missing Object Lock Configuration",
    )
}

/// Prepares the lock state of a new version of `bucket` created at `created_ms`: explicit
/// lock parameters need an Object Lock bucket (InvalidRequest), and a version without a
/// retention of its own gets the bucket's default one.
pub fn w_new_version(
    txn: &WriteTransaction,
    bucket: &BucketMeta,
    lock: &mut ObjectLock,
    created_ms: u64,
) -> S3Result<()> {
    let config = bucket_config(txn, bucket)?;
    let Some(config) = config.filter(|c| c.enabled) else {
        if lock.protects() {
            return Err(missing_config());
        }
        *lock = ObjectLock::default();
        return Ok(());
    };
    if lock.retention.is_none() {
        lock.retention = config.default.map(|d| d.retention_from(created_ms));
    }
    Ok(())
}

/// What a caller asks of a delete or a retention change: the time of the request and
/// whether a GOVERNANCE retention may be bypassed (`x-amz-bypass-governance-retention: true`
/// from a caller allowed to).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockCheck {
    pub now_ms: u64,
    pub bypass_governance: bool,
}

fn locked(message: &str) -> S3Error {
    S3Error::msg(ErrorCode::AccessDenied, message)
}

/// Why a version with `lock` may not be destroyed now (None: it may). A legal hold and a
/// COMPLIANCE retention are never bypassed; a GOVERNANCE one only with `bypass_governance`.
pub fn deletion_refused(lock: &ObjectLock, check: LockCheck) -> Option<S3Error> {
    if lock.legal_hold.is_on() {
        return Some(locked(
            "Access Denied because object protected by object lock (legal hold).",
        ));
    }
    match lock.retention {
        Some(r) if r.until_ms > check.now_ms => match r.mode {
            LockMode::Compliance => Some(locked(
                "Access Denied because object protected by object lock (COMPLIANCE retention).",
            )),
            LockMode::Governance if !check.bypass_governance => Some(locked(
                "Access Denied because object protected by object lock (GOVERNANCE retention).",
            )),
            LockMode::Governance => None,
        },
        _ => None,
    }
}

/// Checks replacing the retention `old` by `new` (None: removing it). A retention in force
/// may always be extended (same mode, or GOVERNANCE raised to COMPLIANCE); under COMPLIANCE
/// it can never be shortened, removed or changed to GOVERNANCE; under GOVERNANCE that needs
/// `bypass_governance`. An expired retention may be replaced freely.
pub fn check_retention_change(
    old: Option<Retention>,
    new: Option<Retention>,
    check: LockCheck,
) -> S3Result<()> {
    let Some(old) = old.filter(|o| o.until_ms > check.now_ms) else {
        return Ok(());
    };
    let keeps = match new {
        Some(n) => {
            n.until_ms >= old.until_ms && (n.mode == old.mode || n.mode == LockMode::Compliance)
        }
        None => false,
    };
    if keeps {
        return Ok(());
    }
    match old.mode {
        LockMode::Compliance => Err(locked(
            "Access Denied because object protected by object lock (COMPLIANCE retention cannot be shortened, removed or changed).",
        )),
        LockMode::Governance if check.bypass_governance => Ok(()),
        LockMode::Governance => Err(locked(
            "Access Denied because object protected by object lock (GOVERNANCE retention: shortening or removing it needs x-amz-bypass-governance-retention).",
        )),
    }
}

/// One change of a version's lock state (PutObjectRetention, PutObjectLegalHold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockChange {
    /// Sets (`Some`) or removes (`None`) the retention.
    Retention(Option<Retention>),
    LegalHold(bool),
}

impl LockChange {
    /// Applies the change to `lock` if the rules allow it.
    pub fn apply_to(self, lock: &mut ObjectLock, check: LockCheck) -> S3Result<()> {
        match self {
            LockChange::Retention(new) => {
                check_retention_change(lock.retention, new, check)?;
                lock.retention = new;
            }
            LockChange::LegalHold(on) => lock.legal_hold = LegalHold::set(on),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ret(mode: LockMode, until_ms: u64) -> Option<Retention> {
        Some(Retention { mode, until_ms })
    }

    const NOW: LockCheck = LockCheck {
        now_ms: 1_000,
        bypass_governance: false,
    };
    const BYPASS: LockCheck = LockCheck {
        now_ms: 1_000,
        bypass_governance: true,
    };

    #[test]
    fn deletion_rules() {
        let lock = |retention, on| ObjectLock {
            retention,
            legal_hold: if on { LegalHold::On } else { LegalHold::Off },
        };
        let gov = ret(LockMode::Governance, 2_000);
        let comp = ret(LockMode::Compliance, 2_000);
        assert!(deletion_refused(&lock(None, false), NOW).is_none());
        assert!(deletion_refused(&lock(gov, false), NOW).is_some());
        assert!(deletion_refused(&lock(gov, false), BYPASS).is_none());
        assert!(deletion_refused(&lock(comp, false), BYPASS).is_some());
        // Expired retentions no longer protect.
        assert!(deletion_refused(&lock(ret(LockMode::Compliance, 1_000), false), NOW).is_none());
        // A legal hold is never bypassed, with or without retention.
        assert!(deletion_refused(&lock(None, true), BYPASS).is_some());
        let e = deletion_refused(&lock(gov, true), BYPASS).unwrap();
        assert_eq!(e.code, ErrorCode::AccessDenied);
    }

    #[test]
    fn retention_change_rules() {
        let g = |u| ret(LockMode::Governance, u);
        let c = |u| ret(LockMode::Compliance, u);
        let ok = |old, new, chk| check_retention_change(old, new, chk).is_ok();
        // Nothing in force: anything goes.
        assert!(ok(None, c(5_000), NOW));
        assert!(ok(c(500), None, NOW));
        // Extending is always allowed; GOVERNANCE may be raised to COMPLIANCE.
        assert!(ok(c(2_000), c(3_000), NOW));
        assert!(ok(c(2_000), c(2_000), NOW));
        assert!(ok(g(2_000), g(3_000), NOW));
        assert!(ok(g(2_000), c(3_000), NOW));
        // COMPLIANCE: never shortened, removed or turned into GOVERNANCE.
        assert!(!ok(c(2_000), c(1_500), BYPASS));
        assert!(!ok(c(2_000), None, BYPASS));
        assert!(!ok(c(2_000), g(9_000), BYPASS));
        // GOVERNANCE: shortening or removing only with the bypass.
        assert!(!ok(g(2_000), g(1_500), NOW));
        assert!(!ok(g(2_000), None, NOW));
        assert!(ok(g(2_000), g(1_500), BYPASS));
        assert!(ok(g(2_000), None, BYPASS));
        let e = check_retention_change(c(2_000), None, NOW).unwrap_err();
        assert_eq!(e.code, ErrorCode::AccessDenied);
    }

    #[test]
    fn default_periods() {
        let d = DefaultRetention {
            mode: LockMode::Governance,
            period: Period::Days(2),
        };
        assert_eq!(d.retention_from(10).until_ms, 10 + 2 * DAY_MS);
        assert_eq!(Period::Years(1).ms(), 365 * DAY_MS);
        let cfg = LockConfig {
            enabled: true,
            default: Some(d),
        };
        let bytes = super::super::types::encode(&cfg);
        let back: LockConfig = super::super::types::decode(&bytes).unwrap();
        assert_eq!(back, cfg);
    }
}

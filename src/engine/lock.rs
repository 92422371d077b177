//! S3 Object Lock: a bucket's lock configuration (the `ConfigKind::ObjectLock` row, a
//! `LockConfig`), the retention and legal hold of object versions, and the checks on them.
//!
//! The lock state of a version lives in its record (`ObjectMeta::lock`), so it works the
//! same through every store, gateways included. What must be atomic is decided inside the
//! commands (`meta::lock`): the bucket's default retention given to a new version, the
//! retention rules of PutObjectRetention, and the refusal to destroy a locked version
//! (`meta::versions::w_delete_version`, the path every version delete takes).

use super::log::submit_for_bucket;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::meta::commands::MetaCmd;
pub use crate::meta::lock::{
    DefaultRetention, LockChange, LockCheck, LockConfig, Period, RETENTION_DAYS_MAX,
    RETENTION_YEARS_MAX,
};
use crate::meta::types::{decode, encode, BucketMeta, ConfigKind};
pub use crate::meta::types::{LegalHold, LockMode, ObjectLock, Retention};
use crate::meta::versions::VersionSel;

/// The configuration row a bucket created with `x-amz-bucket-object-lock-enabled: true`
/// starts with: enabled, no default retention.
pub fn enabled_config_row() -> (ConfigKind, Vec<u8>) {
    let config = LockConfig {
        enabled: true,
        default: None,
    };
    (ConfigKind::ObjectLock, encode(&config))
}

/// The bucket's lock configuration (read only when its record says it has one).
pub async fn config(bucket: &BucketMeta) -> S3Result<Option<LockConfig>> {
    match super::bucket::config(bucket, ConfigKind::ObjectLock).await? {
        Some(bytes) => decode(&bytes)
            .map(Some)
            .map_err(|e| S3Error::corrupt(format!("corrupt object lock configuration: {e}"))),
        None => Ok(None),
    }
}

/// Whether the bucket has Object Lock enabled.
pub async fn enabled(bucket: &BucketMeta) -> S3Result<bool> {
    Ok(config(bucket).await?.is_some_and(|c| c.enabled))
}

/// Checks a configuration a request gives: enabled, and a default retention's period
/// positive and at most 100 years (InvalidArgument).
pub fn check_config(config: &LockConfig) -> S3Result<()> {
    if !config.enabled {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    if let Some(d) = config.default {
        let (n, max, name) = match d.period {
            Period::Days(n) => (n, RETENTION_DAYS_MAX, "Days"),
            Period::Years(n) => (n, RETENTION_YEARS_MAX, "Years"),
        };
        if n == 0 {
            return Err(S3Error::msg(
                ErrorCode::InvalidArgument,
                "Default retention period must be a positive integer value.",
            )
            .with("ArgumentName", name)
            .with("ArgumentValue", n.to_string()));
        }
        if n > max {
            return Err(S3Error::msg(
                ErrorCode::InvalidArgument,
                "Default retention period is too large: at most 100 years.",
            )
            .with("ArgumentName", name)
            .with("ArgumentValue", n.to_string()));
        }
    }
    Ok(())
}

/// PutObjectLockConfiguration: stores `config` (checked by `check_config`). The bucket's
/// versioning must be Enabled (InvalidBucketState), checked in the commit.
pub async fn put_config(bucket: &str, config: &LockConfig) -> S3Result<()> {
    let cmd = MetaCmd::SetObjectLockConfig {
        name: bucket.to_string(),
        config: encode(config),
    };
    submit_for_bucket(bucket, cmd, Vec::new()).await?;
    Ok(())
}

/// A retention a request sets (PutObjectRetention, the lock headers of a write) must end in
/// the future (InvalidArgument).
pub fn check_new_retention(r: &Retention, now_ms: u64) -> S3Result<()> {
    if r.until_ms <= now_ms {
        return Err(S3Error::msg(
            ErrorCode::InvalidArgument,
            "The retain until date must be in the future!",
        ));
    }
    Ok(())
}

/// Changes the retention or legal hold of one version of `bucket/key` (the current object
/// when `version` is None) if the rules allow it; answers the version changed.
pub async fn change(
    bucket: &str,
    key: &str,
    version: Option<VersionSel>,
    change: LockChange,
    bypass_governance: bool,
) -> S3Result<crate::meta::types::VersionStamp> {
    let cmd = MetaCmd::SetObjectLock {
        bucket: bucket.to_string(),
        key: key.to_string(),
        version,
        change,
        check: LockCheck {
            now_ms: super::now_ms(),
            bypass_governance,
        },
    };
    let reply = submit_for_bucket(bucket, cmd, Vec::new()).await?;
    reply
        .version
        .ok_or_else(|| S3Error::internal("SetObjectLock answered no version"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_are_checked() {
        let cfg = |period| LockConfig {
            enabled: true,
            default: Some(DefaultRetention {
                mode: LockMode::Governance,
                period,
            }),
        };
        check_config(&cfg(Period::Days(1))).unwrap();
        check_config(&cfg(Period::Years(100))).unwrap();
        check_config(&cfg(Period::Days(36_500))).unwrap();
        for bad in [
            Period::Days(0),
            Period::Years(0),
            Period::Days(36_501),
            Period::Years(101),
        ] {
            assert_eq!(
                check_config(&cfg(bad)).unwrap_err().code,
                ErrorCode::InvalidArgument
            );
        }
        let off = LockConfig {
            enabled: false,
            default: None,
        };
        assert_eq!(
            check_config(&off).unwrap_err().code,
            ErrorCode::MalformedXML
        );
        let r = Retention {
            mode: LockMode::Compliance,
            until_ms: 10,
        };
        check_new_retention(&r, 9).unwrap();
        assert_eq!(
            check_new_retention(&r, 10).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
    }
}

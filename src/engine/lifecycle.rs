//! Bucket lifecycle: the configuration (its parsed, validated form, stored as the bucket's
//! `ConfigKind::Lifecycle` row), the pure rule evaluation, and the worker that applies the
//! rules.
//!
//! The worker runs on every core, over the shards that core owns. Each pass walks the
//! buckets of those shards that have a lifecycle configuration, reading each bucket's
//! versions in bounded pages (`meta::versions::list_versions`, [`PAGE`] entries per read
//! transaction), and submits what the rules select as `MetaCmd::LifecycleExpire` batches of
//! at most `lifecycle.batch_max` actions. Each action names the exact version it selected
//! (its version stamp and, for a current object, its ETag) and the commit re-checks it, so a
//! version written after the selection is never removed, and versions under retention or
//! legal hold are skipped inside the commit. A kill in the middle of a pass loses nothing:
//! every commit is one of those batches, and the next pass (at start-up, then every
//! interval) selects again what is still due.
//!
//! Time: an action is due `days × lifecycle.day_s` seconds after its start (an object's
//! last-modified time, the time a version became noncurrent: its successor's last-modified
//! time, an upload's initiation). With the real day (`day_s` = 86400) the due time is
//! rounded up to the next midnight UTC, as AWS does; with a shorter "day" (tests) it is not
//! rounded. `Expiration/Date` is an absolute time and never scaled.

use super::log::submit_for_bucket;
use super::{now_ms, store};
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::meta::commands::{LifecycleAction, LifecycleExpire, MetaCmd};
use crate::meta::types::{decode, encode, BucketMeta, ConfigKind, Record, Tags, VersionRecord};
use crate::meta::versions::VersionsFrom;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// Most rules in one configuration (AWS's limit).
pub const RULES_MAX: usize = 1000;
/// Longest rule ID, in characters (AWS's limit).
pub const RULE_ID_CHARS_MAX: usize = 255;
/// Highest NewerNoncurrentVersions (AWS's limit).
pub const NEWER_NONCURRENT_MAX: u32 = 100;
/// Version entries read per read transaction by the worker.
const PAGE: usize = 256;
const DAY_MS: u64 = 86_400_000;

/// A bucket's lifecycle configuration, as validated by [`check`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LifecycleConfig {
    pub rules: Vec<Rule>,
}

impl Record for LifecycleConfig {}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rule {
    /// Empty when the request gave none.
    pub id: String,
    pub enabled: bool,
    pub filter: Filter,
    pub expiration: Option<Expiration>,
    pub noncurrent: Option<NoncurrentExpiration>,
    /// AbortIncompleteMultipartUpload/DaysAfterInitiation.
    pub abort_upload_days: Option<u32>,
}

/// Which objects a rule applies to, in the form the request gave it (so it renders back
/// the same way).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Filter {
    /// The legacy form: `<Prefix>` directly in the rule.
    Legacy(String),
    /// `<Filter/>`: every object.
    #[default]
    All,
    Prefix(String),
    Tag(String, String),
    SizeGreaterThan(u64),
    SizeLessThan(u64),
    And(AndFilter),
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AndFilter {
    pub prefix: Option<String>,
    pub tags: Tags,
    pub size_greater_than: Option<u64>,
    pub size_less_than: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Expiration {
    pub days: Option<u32>,
    /// Midnight UTC, unix milliseconds.
    pub date_ms: Option<u64>,
    pub expired_object_delete_marker: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NoncurrentExpiration {
    pub days: u32,
    pub newer_noncurrent_versions: Option<u32>,
}

impl Filter {
    /// Whether an object version (`size`, `tags`) of `key` is in the filter.
    pub fn matches(&self, key: &str, size: u64, tags: &Tags) -> bool {
        let has = |k: &str, v: &str| tags.iter().any(|(tk, tv)| tk == k && tv == v);
        match self {
            Filter::All => true,
            Filter::Legacy(p) | Filter::Prefix(p) => key.starts_with(p.as_str()),
            Filter::Tag(k, v) => has(k, v),
            Filter::SizeGreaterThan(n) => size > *n,
            Filter::SizeLessThan(n) => size < *n,
            Filter::And(a) => {
                a.prefix.as_deref().is_none_or(|p| key.starts_with(p))
                    && a.tags.iter().all(|(k, v)| has(k, v))
                    && a.size_greater_than.is_none_or(|n| size > n)
                    && a.size_less_than.is_none_or(|n| size < n)
            }
        }
    }

    /// Whether the filter names tags (some actions cannot be combined with them).
    fn has_tags(&self) -> bool {
        match self {
            Filter::Tag(..) => true,
            Filter::And(a) => !a.tags.is_empty(),
            _ => false,
        }
    }

    /// Whether the filter names a size (delete markers and uploads have none: such a rule
    /// never applies to them).
    fn has_size(&self) -> bool {
        match self {
            Filter::SizeGreaterThan(_) | Filter::SizeLessThan(_) => true,
            Filter::And(a) => a.size_greater_than.is_some() || a.size_less_than.is_some(),
            _ => false,
        }
    }

    /// Whether a key with no tags and no size (a delete marker, an upload) is in the filter.
    fn matches_key_only(&self, key: &str) -> bool {
        !self.has_tags() && !self.has_size() && self.matches(key, 0, &Vec::new())
    }
}

fn invalid(message: &str) -> S3Error {
    S3Error::msg(ErrorCode::InvalidArgument, message)
}

fn invalid_request(message: &str) -> S3Error {
    S3Error::msg(ErrorCode::InvalidRequest, message)
}

/// Checks a parsed configuration as AWS does. (The parser already refused what is not the
/// schema: MalformedXML; and transitions: NotImplemented.)
pub fn check(config: &LifecycleConfig) -> S3Result<()> {
    if config.rules.is_empty() {
        return Err(S3Error::new(ErrorCode::MalformedXML));
    }
    if config.rules.len() > RULES_MAX {
        return Err(invalid_request(
            "Lifecycle configuration should not have more than 1000 rules",
        ));
    }
    for (i, rule) in config.rules.iter().enumerate() {
        if rule.id.chars().count() > RULE_ID_CHARS_MAX {
            return Err(invalid("ID length should not exceed allowed limit of 255"));
        }
        if !rule.id.is_empty() && config.rules[..i].iter().any(|r| r.id == rule.id) {
            return Err(invalid(
                "Rule ID must be unique. Found same ID for more than one rule",
            ));
        }
        check_rule(rule)?;
    }
    Ok(())
}

fn check_rule(rule: &Rule) -> S3Result<()> {
    if rule.expiration.is_none() && rule.noncurrent.is_none() && rule.abort_upload_days.is_none() {
        return Err(invalid_request(
            "At least one action needs to be specified in a rule",
        ));
    }
    match &rule.filter {
        Filter::Tag(k, v) => super::tagging::check(
            &vec![(k.clone(), v.clone())],
            super::tagging::TagOwner::Object,
        )?,
        Filter::And(a) => {
            super::tagging::check(&a.tags, super::tagging::TagOwner::Bucket)?;
            if let (Some(gt), Some(lt)) = (a.size_greater_than, a.size_less_than) {
                if gt >= lt {
                    return Err(invalid_request(
                        "ObjectSizeGreaterThan must be less than ObjectSizeLessThan",
                    ));
                }
            }
        }
        _ => {}
    }
    if let Some(e) = &rule.expiration {
        let set = e.days.is_some() as u8
            + e.date_ms.is_some() as u8
            + e.expired_object_delete_marker as u8;
        if e.expired_object_delete_marker && set > 1 {
            return Err(S3Error::new(ErrorCode::MalformedXML));
        }
        if set != 1 {
            return Err(S3Error::new(ErrorCode::MalformedXML));
        }
        if e.days == Some(0) {
            return Err(invalid(
                "'Days' for Expiration action must be a positive integer",
            ));
        }
        if e.date_ms.is_some_and(|d| d % DAY_MS != 0) {
            return Err(invalid("'Date' must be at midnight GMT"));
        }
        if e.expired_object_delete_marker && rule.filter.has_tags() {
            return Err(invalid_request(
                "ExpiredObjectDeleteMarker cannot be specified with tags",
            ));
        }
    }
    if let Some(n) = &rule.noncurrent {
        if n.days == 0 {
            return Err(invalid(
                "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
            ));
        }
        if n.newer_noncurrent_versions
            .is_some_and(|v| v == 0 || v > NEWER_NONCURRENT_MAX)
        {
            return Err(invalid(
                "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer up to 100",
            ));
        }
    }
    if let Some(d) = rule.abort_upload_days {
        if d == 0 {
            return Err(invalid(
                "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer",
            ));
        }
        if rule.filter.has_tags() {
            return Err(invalid_request(
                "AbortIncompleteMultipartUpload cannot be specified with Tags.",
            ));
        }
    }
    Ok(())
}

/// The stored form of a configuration.
pub fn encode_config(config: &LifecycleConfig) -> Vec<u8> {
    encode(config)
}

/// A bucket's lifecycle configuration, if it has one.
pub async fn get(bucket: &BucketMeta) -> S3Result<Option<LifecycleConfig>> {
    match super::bucket::config(bucket, ConfigKind::Lifecycle).await? {
        Some(bytes) => Ok(Some(decode(&bytes).map_err(|e| {
            S3Error::internal(format!("lifecycle configuration: {e}"))
        })?)),
        None => Ok(None),
    }
}

/// Sets (`Some`, already checked) or removes a bucket's lifecycle configuration. Rules
/// without an ID get one (`name_rules`), stored with them.
pub async fn set(bucket: &str, config: Option<LifecycleConfig>) -> S3Result<()> {
    let value = config.map(|mut c| {
        name_rules(&mut c, random_rule_id);
        encode_config(&c)
    });
    super::bucket::set_config(bucket, ConfigKind::Lifecycle, value).await
}

/// Gives each rule without an ID one made by `make` that no other rule has, as AWS makes up
/// a unique ID for such a rule (GetBucketLifecycleConfiguration returns it).
pub fn name_rules(config: &mut LifecycleConfig, mut make: impl FnMut() -> String) {
    for i in 0..config.rules.len() {
        if !config.rules[i].id.is_empty() {
            continue;
        }
        let id = loop {
            let id = make();
            if !id.is_empty() && !config.rules.iter().any(|r| r.id == id) {
                break id;
            }
        };
        config.rules[i].id = id;
    }
}

/// A random rule ID in AWS's shape: the base64 of a random UUID's text (48 characters).
fn random_rule_id() -> String {
    use base64::Engine;
    let b: [u8; 16] = rand::random();
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        hex::encode(&b[0..4]),
        hex::encode(&b[4..6]),
        hex::encode(&b[6..8]),
        hex::encode(&b[8..10]),
        hex::encode(&b[10..16])
    );
    base64::engine::general_purpose::STANDARD.encode(uuid)
}

// ---- time and rule evaluation (pure) -------------------------------------------------------

/// The lifecycle clock: how long a "day" is, and when an action `days` days after `start_ms`
/// is due (see the module comment: rounded to midnight UTC only with the real day).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub day_ms: u64,
}

impl Clock {
    pub fn due_ms(self, start_ms: u64, days: u32) -> u64 {
        let at = start_ms.saturating_add((days as u64).saturating_mul(self.day_ms));
        if self.day_ms >= DAY_MS {
            at.div_ceil(DAY_MS).saturating_mul(DAY_MS)
        } else {
            at
        }
    }
}

/// Whether the current object version is due for expiration under an enabled rule.
pub fn current_expires(
    rules: &[Rule],
    clock: Clock,
    now_ms: u64,
    key: &str,
    size: u64,
    tags: &Tags,
    last_modified_ms: u64,
) -> bool {
    rules.iter().filter(|r| r.enabled).any(|r| {
        let Some(e) = &r.expiration else { return false };
        if !r.filter.matches(key, size, tags) {
            return false;
        }
        let days_due = e
            .days
            .is_some_and(|d| now_ms >= clock.due_ms(last_modified_ms, d));
        let date_due = e.date_ms.is_some_and(|d| now_ms >= d);
        days_due || date_due
    })
}

/// Whether a noncurrent object version is due: noncurrent since `noncurrent_since_ms`,
/// with `newer` noncurrent versions of its key newer than itself.
#[allow(clippy::too_many_arguments)]
pub fn noncurrent_expires(
    rules: &[Rule],
    clock: Clock,
    now_ms: u64,
    key: &str,
    size: u64,
    tags: &Tags,
    noncurrent_since_ms: u64,
    newer: u32,
) -> bool {
    rules.iter().filter(|r| r.enabled).any(|r| {
        let Some(n) = &r.noncurrent else { return false };
        r.filter.matches(key, size, tags)
            && newer >= n.newer_noncurrent_versions.unwrap_or(0)
            && now_ms >= clock.due_ms(noncurrent_since_ms, n.days)
    })
}

/// Whether a noncurrent delete marker is due: NoncurrentVersionExpiration removes those too,
/// as AWS does, by the same days (noncurrent since `noncurrent_since_ms`) once `newer`
/// noncurrent object versions newer than it are kept. A marker has no tags or size: a rule
/// whose filter names them never selects it.
pub fn noncurrent_marker_expires(
    rules: &[Rule],
    clock: Clock,
    now_ms: u64,
    key: &str,
    noncurrent_since_ms: u64,
    newer: u32,
) -> bool {
    rules.iter().filter(|r| r.enabled).any(|r| {
        let Some(n) = &r.noncurrent else { return false };
        r.filter.matches_key_only(key)
            && newer >= n.newer_noncurrent_versions.unwrap_or(0)
            && now_ms >= clock.due_ms(noncurrent_since_ms, n.days)
    })
}

/// Whether a delete marker that is its key's only version is removed (ExpiredObjectDeleteMarker).
pub fn sole_marker_expires(rules: &[Rule], key: &str) -> bool {
    rules.iter().filter(|r| r.enabled).any(|r| {
        r.expiration
            .as_ref()
            .is_some_and(|e| e.expired_object_delete_marker)
            && r.filter.matches_key_only(key)
    })
}

/// Whether an upload of `key` initiated at `initiated_ms` is aborted.
pub fn upload_aborts(
    rules: &[Rule],
    clock: Clock,
    now_ms: u64,
    key: &str,
    initiated_ms: u64,
) -> bool {
    rules.iter().filter(|r| r.enabled).any(|r| {
        r.abort_upload_days
            .is_some_and(|d| now_ms >= clock.due_ms(initiated_ms, d))
            && r.filter.matches_key_only(key)
    })
}

// ---- the worker ----------------------------------------------------------------------------

/// How the worker runs (`lifecycle` section of the configuration).
#[derive(Debug, Clone, Copy)]
pub struct WorkerConfig {
    pub clock: Clock,
    /// Time between the starts of two passes.
    pub interval: Duration,
    /// Most actions in one commit.
    pub batch_max: usize,
    /// Pause after each commit of a pass (0: only a yield to the core's other tasks).
    pub batch_pause: Duration,
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassCounts {
    pub objects_expired: u64,
    pub markers_removed: u64,
    pub noncurrent_expired: u64,
    pub uploads_aborted: u64,
}

/// Runs passes on this core's shards forever: one now, then one every `interval`.
pub async fn run_worker(cfg: WorkerConfig) {
    loop {
        let started = Instant::now();
        let counts = pass(cfg).await;
        crate::observe::metrics::lifecycle_pass(started.elapsed());
        if counts.objects_expired
            + counts.markers_removed
            + counts.noncurrent_expired
            + counts.uploads_aborted
            > 0
        {
            tracing::info!(
                objects_expired = counts.objects_expired,
                delete_markers_removed = counts.markers_removed,
                noncurrent_expired = counts.noncurrent_expired,
                uploads_aborted = counts.uploads_aborted,
                "lifecycle pass"
            );
        }
        let wait = cfg.interval.saturating_sub(started.elapsed());
        glommio::timer::sleep(wait.max(Duration::from_millis(50))).await;
    }
}

/// One pass over the buckets of this core's shards that have a lifecycle configuration.
pub async fn pass(cfg: WorkerConfig) -> PassCounts {
    let mut counts = PassCounts::default();
    for (_, shard) in super::shards::local() {
        let buckets = match shard
            .read()
            .and_then(|t| crate::meta::tables::list_buckets(&t))
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "lifecycle: cannot list buckets");
                continue;
            }
        };
        for b in buckets
            .into_iter()
            .filter(|b| b.has_config(ConfigKind::Lifecycle))
        {
            let config = match shard.read().and_then(|t| {
                crate::meta::tables::get_bucket_config(&t, &b.name, ConfigKind::Lifecycle)
            }) {
                Ok(Some(bytes)) => match decode::<LifecycleConfig>(&bytes) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(bucket = %b.name, error = %e, "lifecycle: undecodable configuration");
                        continue;
                    }
                },
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(bucket = %b.name, error = %e, "lifecycle: cannot read configuration");
                    continue;
                }
            };
            if !config.rules.iter().any(|r| r.enabled) {
                continue;
            }
            if let Err(e) = bucket_pass(&shard, &b.name, &config, cfg, &mut counts).await {
                tracing::warn!(bucket = %b.name, error = %e, "lifecycle: pass over the bucket stopped");
            }
        }
    }
    counts
}

/// Where the walk of one key's history stands across pages.
#[derive(Default)]
struct KeyWalk {
    key: String,
    /// Last-modified time of the previous (newer) version of the key: when the next one
    /// became noncurrent.
    newer_modified_ms: u64,
    /// Noncurrent object versions of the key seen so far.
    noncurrent_seen: u32,
    /// A delete marker that is the key's newest version, while no older version was seen.
    sole_marker: Option<crate::meta::types::VersionStamp>,
}

struct Batch<'a> {
    bucket: &'a str,
    actions: Vec<LifecycleAction>,
    cfg: WorkerConfig,
}

impl Batch<'_> {
    async fn push(&mut self, a: LifecycleAction, counts: &mut PassCounts) -> S3Result<()> {
        self.actions.push(a);
        if self.actions.len() >= self.cfg.batch_max {
            self.flush(counts).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, counts: &mut PassCounts) -> S3Result<()> {
        if self.actions.is_empty() {
            return Ok(());
        }
        let actions = std::mem::take(&mut self.actions);
        let keys: Vec<String> = actions.iter().map(|a| a.key().to_string()).collect();
        let store = store();
        let mut turn_keys = keys.clone();
        turn_keys.sort_unstable();
        turn_keys.dedup();
        let _turns = store.delete_turns(self.bucket, &turn_keys).await?;
        let cmd = MetaCmd::LifecycleExpire(LifecycleExpire {
            bucket: self.bucket.to_string(),
            actions: actions.clone(),
            now_ms: now_ms(),
            seq: super::versions::new_stamp().seq,
        });
        let reply = submit_for_bucket(self.bucket, cmd, Vec::new()).await?;
        drop(_turns);
        let mut done = PassCounts::default();
        for ((a, key), outcome) in actions.iter().zip(&keys).zip(&reply.deleted) {
            if outcome.version.is_none() && outcome.freed.is_empty() {
                continue; // re-checked and skipped (changed since, or locked)
            }
            match a {
                LifecycleAction::ExpireCurrent { .. } => done.objects_expired += 1,
                LifecycleAction::RemoveNoncurrent { .. } if outcome.delete_marker => {
                    done.markers_removed += 1
                }
                LifecycleAction::RemoveNoncurrent { .. } => done.noncurrent_expired += 1,
                LifecycleAction::RemoveSoleMarker { .. } => done.markers_removed += 1,
            }
            store.free(self.bucket, key, outcome.freed.clone());
        }
        crate::observe::metrics::lifecycle_removed(
            done.objects_expired,
            done.markers_removed,
            done.noncurrent_expired,
            0,
        );
        counts.objects_expired += done.objects_expired;
        counts.noncurrent_expired += done.noncurrent_expired;
        counts.markers_removed += done.markers_removed;
        if self.cfg.batch_pause.is_zero() {
            glommio::yield_if_needed().await;
            glommio::timer::sleep(Duration::from_micros(1)).await;
        } else {
            glommio::timer::sleep(self.cfg.batch_pause).await;
        }
        Ok(())
    }
}

/// Applies `config` to one bucket: its versions page by page, then its uploads.
async fn bucket_pass(
    shard: &std::rc::Rc<crate::meta::shard::MetaShard>,
    bucket: &str,
    config: &LifecycleConfig,
    cfg: WorkerConfig,
    counts: &mut PassCounts,
) -> S3Result<()> {
    let rules = config.rules.as_slice();
    let wants_versions = rules
        .iter()
        .any(|r| r.enabled && (r.expiration.is_some() || r.noncurrent.is_some()));
    let mut batch = Batch {
        bucket,
        actions: Vec::new(),
        cfg,
    };
    if wants_versions {
        let mut from = VersionsFrom::default();
        let mut walk = KeyWalk::default();
        loop {
            let page = {
                let txn = shard.read()?;
                crate::meta::versions::list_versions(&txn, bucket, "", "", &from, PAGE)?
            };
            let now = now_ms();
            for entry in &page.entries {
                if entry.key != walk.key {
                    if let Some(stamp) = walk.sole_marker.take() {
                        batch
                            .push(
                                LifecycleAction::RemoveSoleMarker {
                                    key: std::mem::take(&mut walk.key),
                                    stamp,
                                },
                                counts,
                            )
                            .await?;
                    }
                    walk = KeyWalk {
                        key: entry.key.clone(),
                        ..KeyWalk::default()
                    };
                } else {
                    walk.sole_marker = None; // an older version exists
                }
                match (&entry.record, entry.is_latest) {
                    (VersionRecord::Object(m), true) => {
                        if current_expires(
                            rules,
                            cfg.clock,
                            now,
                            &entry.key,
                            m.size,
                            &m.tags,
                            m.last_modified_ms,
                        ) {
                            batch
                                .push(
                                    LifecycleAction::ExpireCurrent {
                                        key: entry.key.clone(),
                                        stamp: m.version,
                                        etag: m.etag.clone(),
                                    },
                                    counts,
                                )
                                .await?;
                        }
                        walk.newer_modified_ms = m.last_modified_ms;
                    }
                    (VersionRecord::Marker(d), true) => {
                        if sole_marker_expires(rules, &entry.key) {
                            walk.sole_marker = Some(d.version);
                        }
                        walk.newer_modified_ms = d.last_modified_ms;
                    }
                    (VersionRecord::Object(m), false) => {
                        let newer = walk.noncurrent_seen;
                        walk.noncurrent_seen = walk.noncurrent_seen.saturating_add(1);
                        if noncurrent_expires(
                            rules,
                            cfg.clock,
                            now,
                            &entry.key,
                            m.size,
                            &m.tags,
                            walk.newer_modified_ms,
                            newer,
                        ) {
                            batch
                                .push(
                                    LifecycleAction::RemoveNoncurrent {
                                        key: entry.key.clone(),
                                        stamp: m.version,
                                    },
                                    counts,
                                )
                                .await?;
                        }
                        walk.newer_modified_ms = m.last_modified_ms;
                    }
                    (VersionRecord::Marker(d), false) => {
                        if noncurrent_marker_expires(
                            rules,
                            cfg.clock,
                            now,
                            &entry.key,
                            walk.newer_modified_ms,
                            walk.noncurrent_seen,
                        ) {
                            let key = entry.key.clone();
                            let stamp = d.version;
                            let a = LifecycleAction::RemoveNoncurrent { key, stamp };
                            batch.push(a, counts).await?;
                        }
                        walk.newer_modified_ms = d.last_modified_ms;
                    }
                }
            }
            match (page.truncated, page.next) {
                (true, Some((key_marker, version))) => {
                    from = VersionsFrom {
                        key_marker,
                        version_marker: version
                            .as_deref()
                            .and_then(crate::meta::versions::parse_version_id),
                    };
                }
                _ => break,
            }
            glommio::yield_if_needed().await;
        }
        if let Some(stamp) = walk.sole_marker.take() {
            batch
                .push(
                    LifecycleAction::RemoveSoleMarker {
                        key: walk.key,
                        stamp,
                    },
                    counts,
                )
                .await?;
        }
        batch.flush(counts).await?;
    }
    if rules
        .iter()
        .any(|r| r.enabled && r.abort_upload_days.is_some())
    {
        abort_uploads(shard, bucket, rules, cfg, counts).await?;
    }
    Ok(())
}

/// Aborts the bucket's uploads the rules select, in pages, through the abort path.
async fn abort_uploads(
    shard: &std::rc::Rc<crate::meta::shard::MetaShard>,
    bucket: &str,
    rules: &[Rule],
    cfg: WorkerConfig,
    counts: &mut PassCounts,
) -> S3Result<()> {
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    loop {
        let page = {
            let txn = shard.read()?;
            crate::meta::tables::list_uploads(&txn, bucket, "", &key_marker, &id_marker, PAGE)?
        };
        let now = now_ms();
        let full = page.len() >= PAGE;
        for (i, u) in page.iter().enumerate() {
            if upload_aborts(rules, cfg.clock, now, &u.key, u.initiated_ms) {
                match super::multipart::abort(bucket, &u.key, &u.upload_id).await {
                    Ok(()) => {
                        counts.uploads_aborted += 1;
                        crate::observe::metrics::lifecycle_removed(0, 0, 0, 1);
                    }
                    Err(e) if e.code == ErrorCode::NoSuchUpload => {}
                    Err(e) => return Err(e),
                }
                if (i + 1) % cfg.batch_max.max(1) == 0 {
                    glommio::timer::sleep(cfg.batch_pause.max(Duration::from_micros(1))).await;
                }
            }
        }
        match page.last() {
            Some(last) if full => {
                key_marker = last.key.clone();
                id_marker = last.upload_id.clone();
            }
            _ => break,
        }
        glommio::yield_if_needed().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(filter: Filter) -> Rule {
        Rule {
            id: "r".into(),
            enabled: true,
            filter,
            expiration: Some(Expiration {
                days: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn filters_match_as_documented() {
        let t = tags(&[("a", "1"), ("b", "2")]);
        assert!(Filter::All.matches("x", 0, &Vec::new()));
        assert!(Filter::Prefix("logs/".into()).matches("logs/a", 1, &t));
        assert!(!Filter::Prefix("logs/".into()).matches("log", 1, &t));
        assert!(Filter::Legacy("".into()).matches("any", 1, &t));
        assert!(Filter::Tag("a".into(), "1".into()).matches("k", 1, &t));
        assert!(!Filter::Tag("a".into(), "2".into()).matches("k", 1, &t));
        assert!(Filter::SizeGreaterThan(10).matches("k", 11, &t));
        assert!(!Filter::SizeGreaterThan(10).matches("k", 10, &t));
        assert!(Filter::SizeLessThan(10).matches("k", 9, &t));
        assert!(!Filter::SizeLessThan(10).matches("k", 10, &t));
        let and = Filter::And(AndFilter {
            prefix: Some("p/".into()),
            tags: tags(&[("a", "1"), ("b", "2")]),
            size_greater_than: Some(1),
            size_less_than: Some(100),
        });
        assert!(and.matches("p/x", 50, &t));
        assert!(!and.matches("q/x", 50, &t));
        assert!(!and.matches("p/x", 50, &tags(&[("a", "1")])));
        assert!(!and.matches("p/x", 100, &t));
        // markers and uploads have no tags or size: such filters never select them
        assert!(!Filter::Tag("a".into(), "1".into()).matches_key_only("k"));
        assert!(!Filter::SizeLessThan(10).matches_key_only("k"));
        assert!(Filter::Prefix("k".into()).matches_key_only("k1"));
    }

    #[test]
    fn due_times_round_to_midnight_only_with_the_real_day() {
        let real = Clock { day_ms: DAY_MS };
        // 2026-01-01T10:00Z + 1 day → rounded up to 2026-01-03T00:00Z
        let start = 1_767_225_600_000 + 10 * 3_600_000;
        assert_eq!(real.due_ms(start, 1), 1_767_225_600_000 + 2 * DAY_MS);
        // exactly midnight stays
        assert_eq!(
            real.due_ms(1_767_225_600_000, 1),
            1_767_225_600_000 + DAY_MS
        );
        let fast = Clock { day_ms: 2000 };
        assert_eq!(fast.due_ms(start, 3), start + 6000);
    }

    #[test]
    fn evaluation_follows_rules() {
        let clock = Clock { day_ms: 1000 };
        let mut rules = vec![rule(Filter::Prefix("a/".into()))];
        let none = Vec::new();
        assert!(current_expires(&rules, clock, 2000, "a/x", 1, &none, 1000));
        assert!(!current_expires(&rules, clock, 1999, "a/x", 1, &none, 1000));
        assert!(!current_expires(&rules, clock, 9999, "b/x", 1, &none, 1000));
        rules[0].enabled = false;
        assert!(!current_expires(&rules, clock, 9999, "a/x", 1, &none, 1000));
        // Date: absolute
        let date_rule = Rule {
            expiration: Some(Expiration {
                date_ms: Some(DAY_MS),
                ..Default::default()
            }),
            ..rule(Filter::All)
        };
        assert!(current_expires(
            std::slice::from_ref(&date_rule),
            clock,
            DAY_MS,
            "k",
            0,
            &none,
            0
        ));
        assert!(!current_expires(
            &[date_rule],
            clock,
            DAY_MS - 1,
            "k",
            0,
            &none,
            0
        ));
        // noncurrent, keeping the newest 2
        let nc = Rule {
            expiration: None,
            noncurrent: Some(NoncurrentExpiration {
                days: 1,
                newer_noncurrent_versions: Some(2),
            }),
            ..rule(Filter::All)
        };
        let r = [nc];
        assert!(!noncurrent_expires(&r, clock, 5000, "k", 0, &none, 1000, 1));
        assert!(noncurrent_expires(&r, clock, 5000, "k", 0, &none, 1000, 2));
        assert!(!noncurrent_expires(&r, clock, 1999, "k", 0, &none, 1000, 2));
        // noncurrent markers: the same days and newer versions kept; no tag or size filter
        assert!(noncurrent_marker_expires(&r, clock, 5000, "k", 1000, 2));
        assert!(!noncurrent_marker_expires(&r, clock, 5000, "k", 1000, 1));
        assert!(!noncurrent_marker_expires(&r, clock, 1999, "k", 1000, 2));
        // markers, uploads
        let m = Rule {
            expiration: Some(Expiration {
                expired_object_delete_marker: true,
                ..Default::default()
            }),
            ..rule(Filter::Prefix("m".into()))
        };
        assert!(sole_marker_expires(std::slice::from_ref(&m), "m1"));
        assert!(!sole_marker_expires(&[m], "x"));
        let u = Rule {
            expiration: None,
            abort_upload_days: Some(2),
            ..rule(Filter::All)
        };
        assert!(upload_aborts(
            std::slice::from_ref(&u),
            clock,
            3000,
            "k",
            1000
        ));
        assert!(!upload_aborts(&[u], clock, 2999, "k", 1000));
    }

    fn refusal(config: &LifecycleConfig) -> (ErrorCode, String) {
        let e = check(config).unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn validation_refuses_as_aws() {
        let ok = LifecycleConfig {
            rules: vec![rule(Filter::All)],
        };
        check(&ok).unwrap();
        let with = |f: &dyn Fn(&mut Rule)| {
            let mut c = ok.clone();
            f(&mut c.rules[0]);
            refusal(&c)
        };
        assert_eq!(
            refusal(&LifecycleConfig::default()).0,
            ErrorCode::MalformedXML
        );
        assert_eq!(
            with(&|r| r.id = "x".repeat(256)),
            (
                ErrorCode::InvalidArgument,
                "ID length should not exceed allowed limit of 255".into()
            )
        );
        let dup = LifecycleConfig {
            rules: vec![rule(Filter::All), rule(Filter::All)],
        };
        assert_eq!(refusal(&dup).0, ErrorCode::InvalidArgument);
        assert_eq!(with(&|r| r.expiration = None).0, ErrorCode::InvalidRequest);
        assert_eq!(
            with(&|r| r.expiration.as_mut().unwrap().days = Some(0)).1,
            "'Days' for Expiration action must be a positive integer"
        );
        assert_eq!(
            with(&|r| {
                r.expiration = Some(Expiration {
                    date_ms: Some(DAY_MS + 1),
                    ..Default::default()
                })
            })
            .1,
            "'Date' must be at midnight GMT"
        );
        assert_eq!(
            with(&|r| r.expiration.as_mut().unwrap().date_ms = Some(DAY_MS)).0,
            ErrorCode::MalformedXML
        );
        assert_eq!(
            with(&|r| {
                r.filter = Filter::Tag("a".into(), "b".into());
                r.abort_upload_days = Some(1);
            }),
            (
                ErrorCode::InvalidRequest,
                "AbortIncompleteMultipartUpload cannot be specified with Tags.".into()
            )
        );
        assert_eq!(
            with(&|r| r.abort_upload_days = Some(0)).0,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            with(&|r| {
                r.noncurrent = Some(NoncurrentExpiration {
                    days: 1,
                    newer_noncurrent_versions: Some(101),
                })
            })
            .0,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            with(&|r| {
                r.filter = Filter::And(AndFilter {
                    size_greater_than: Some(10),
                    size_less_than: Some(10),
                    ..Default::default()
                })
            })
            .0,
            ErrorCode::InvalidRequest
        );
        let many = LifecycleConfig {
            rules: (0..1001)
                .map(|i| Rule {
                    id: format!("r{i}"),
                    ..rule(Filter::All)
                })
                .collect(),
        };
        assert_eq!(refusal(&many).0, ErrorCode::InvalidRequest);
    }

    #[test]
    fn rules_without_an_id_get_a_unique_one() {
        let mut config = LifecycleConfig {
            rules: vec![
                Rule {
                    id: "a".into(),
                    ..Rule::default()
                },
                Rule::default(),
                Rule::default(),
            ],
        };
        // A maker that first repeats a taken ID: the rule gets the next one.
        let mut made = ["a", "a", "", "x", "x", "y"].into_iter();
        name_rules(&mut config, || made.next().unwrap().to_string());
        let ids: Vec<&str> = config.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a", "x", "y"]);
        let id = random_rule_id();
        assert_eq!(id.len(), 48);
        assert_ne!(id, random_rule_id());
    }

    #[test]
    fn config_round_trips_through_its_record() {
        let c = LifecycleConfig {
            rules: vec![rule(Filter::Tag("a".into(), "b".into()))],
        };
        let back: LifecycleConfig = decode(&encode_config(&c)).unwrap();
        assert_eq!(back, c);
    }
}

//! Configuration: embedded defaults, overlaid by an optional YAML file, then by CLI flags.
//!
//! Unknown keys and bad values are refused (serde `deny_unknown_fields`), so a typo never
//! silently falls back to a default.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub auth: AuthConfig,
    pub metadata: MetadataConfig,
    pub storage: StorageConfig,
    pub limits: LimitsConfig,
    pub multipart: MultipartConfig,
    pub lifecycle: LifecycleConfig,
    pub cache: CacheConfig,
    pub cluster: ClusterConfig,
    pub gateway: GatewayConfig,
}

/// The tokio pool that runs gateway backends' upstream HTTP clients.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Worker threads of the gateway's tokio runtime.
    pub threads: usize,
    /// Connect timeout for upstream connections.
    pub connect_timeout_ms: u64,
    /// Longest wait for an upstream answer (headers) or between body bytes.
    pub read_timeout_ms: u64,
    /// Idle pooled upstream connections kept per host.
    pub pool_idle_per_host_max: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            threads: 2,
            connect_timeout_ms: 5_000,
            read_timeout_ms: 60_000,
            pool_idle_per_host_max: 64,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Bytes of hot object data kept in memory, split evenly over the cores. Default: 1/32
    /// of the machine's memory (`OBJECT_CACHE_SHARE`), 512 MiB if that cannot be read.
    pub size: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            size: share_of_memory(OBJECT_CACHE_SHARE, 512 << 20),
        }
    }
}

/// The default object cache is this fraction (1/n) of the machine's memory.
pub const OBJECT_CACHE_SHARE: u64 = 32;
/// The default metadata caches (all shards together) are this fraction (1/n) of it.
pub const META_CACHE_SHARE: u64 = 64;
/// Smallest redb cache a shard gets, however many shards share `metadata.cache_bytes`.
pub const META_CACHE_PER_SHARD_MIN: u64 = 4 << 20;

/// 1/`share` of the machine's memory, or `fallback` when it cannot be read.
fn share_of_memory(share: u64, fallback: u64) -> u64 {
    machine_memory_bytes().map_or(fallback, |m| m / share)
}

/// Physical memory of the machine (`/proc/meminfo` MemTotal); None when it cannot be read.
pub fn machine_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_total(&text)
}

fn parse_mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024).filter(|b| *b > 0)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub bind: String,
    pub domain: String,
    pub region: String,
    pub shards: usize,
    pub connections_per_core_max: usize,
    pub request_head_bytes_max: usize,
    pub header_count_max: usize,
    pub idle_timeout_ms: u64,
    pub header_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub log_level: String,
    pub log_format: LogFormat,
    /// One line per answered request (target `access`, level INFO).
    pub access_log: bool,
    pub metrics_token: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub access_key: String,
    pub secret_key: String,
    pub users: Vec<UserConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub access_key: String,
    pub secret_key: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    pub group_commit_max: usize,
    /// Bytes of redb cache, all shards together (each gets its share, at least
    /// `META_CACHE_PER_SHARD_MIN`). Default: 1/64 of the machine's memory, 128 MiB if that
    /// cannot be read.
    pub cache_bytes: u64,
}

impl MetadataConfig {
    /// The redb cache of one of `shards` shards.
    pub fn cache_bytes_per_shard(&self, shards: u32) -> u64 {
        (self.cache_bytes / u64::from(shards.max(1))).max(META_CACHE_PER_SHARD_MIN)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub inline_bytes_max: u64,
    pub aws: AwsConfig,
    pub gcp: GcpConfig,
    pub azure: AzureConfig,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Local,
    Aws,
    Gcp,
    Azure,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Aws => "aws",
            Backend::Gcp => "gcp",
            Backend::Azure => "azure",
        }
    }
}

/// `storage.aws`: an S3 (or S3-compatible) bucket holding the object bytes. Credentials
/// left empty are taken from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    pub bucket: String,
    pub region: String,
    pub endpoint_url: String,
    pub use_path_style: bool,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub prefix: String,
}

/// `storage.gcp`: a Cloud Storage bucket. `credentials_file` (or
/// GOOGLE_APPLICATION_CREDENTIALS) names a service-account JSON; with neither, requests go
/// unauthenticated (emulators).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GcpConfig {
    pub bucket: String,
    pub project: String,
    pub endpoint_url: String,
    pub credentials_file: String,
    pub prefix: String,
}

/// `storage.azure`: a Blob Storage container; Shared Key (`account_key`), a connection
/// string, or a SAS token.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AzureConfig {
    pub container: String,
    pub account: String,
    pub endpoint_url: String,
    pub account_key: String,
    pub connection_string: String,
    pub sas_token: String,
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    pub object_size_max: u64,
    pub metadata_bytes_max: usize,
    /// Request bytes each core may hold whole in memory at once (XML bodies, held-back
    /// gateway upload tails); past it requests wait briefly, then get 503 SlowDown.
    pub buffered_body_bytes_per_core_max: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultipartConfig {
    pub part_size_min: u64,
    pub upload_ttl_s: u64,
}

/// The lifecycle worker (bucket lifecycle rules: expirations, aborted uploads).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// Seconds in a lifecycle "day" (rules count in days). 86400: the real day, and due
    /// times are rounded up to midnight UTC as AWS does; shorter (tests): not rounded.
    pub day_s: u64,
    /// Seconds between the starts of two passes of each core's worker; 0: a quarter of a
    /// day, between 0.25 s and 3600 s.
    pub interval_s: u64,
    /// Most removals in one metadata commit.
    pub batch_max: usize,
    /// Pause after each commit of a pass, in milliseconds (0: only a yield).
    pub batch_pause_ms: u64,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            day_s: 86_400,
            interval_s: 0,
            batch_max: 256,
            batch_pause_ms: 0,
        }
    }
}

impl LifecycleConfig {
    /// Time between the starts of two passes.
    pub fn interval(&self) -> std::time::Duration {
        if self.interval_s > 0 {
            return std::time::Duration::from_secs(self.interval_s);
        }
        let quarter_ms = self.day_s.saturating_mul(1000) / 4;
        std::time::Duration::from_millis(quarter_ms.clamp(250, 3_600_000))
    }
}

/// `cluster:` (issue #19): the static membership of a cluster and this node's place in it.
/// Checked by [`ClusterConfig::validate`] when `enabled`; `cluster::config::ClusterSpec` is the
/// typed view the cluster module runs on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    pub enabled: bool,
    /// This node's id: one of `nodes`.
    pub node_id: u64,
    /// Shared by every node: keys the HMAC on every peer message.
    pub secret: String,
    /// Copies of each object's bytes; unset: min(3, nodes).
    pub replication_factor: Option<usize>,
    pub nodes: Vec<ClusterNode>,
    /// Metadata shards, one Raft group each: the same on every node (recorded in the data
    /// directory on first start, like the single-node count). Unset: 2.
    pub shards: Option<u32>,
    /// A node that joins a running cluster: it never forms the groups itself and waits
    /// until a member adds it (`bleepstore cluster add-node`). `nodes` then needs to list
    /// only this node and the members it may reach first.
    pub join: bool,
}

/// One member: its id, the S3 address clients use and the address peers connect to.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClusterNode {
    pub id: u64,
    pub s3: String,
    pub peer: String,
}

/// Shortest `cluster.secret` accepted: 16 bytes, 128 bits if they are random.
pub const CLUSTER_SECRET_BYTES_MIN: usize = 16;

/// Default metadata shards (Raft groups) of a cluster: few, each group costs heartbeats.
const CLUSTER_SHARDS_DEFAULT: u32 = 2;
/// Most metadata shards a cluster may have.
pub const CLUSTER_SHARDS_MAX: u32 = 256;

/// Default copies of each object, when the membership has at least that many nodes.
const REPLICATION_FACTOR_DEFAULT: usize = 3;

impl ClusterConfig {
    /// Metadata shards (Raft groups) of the cluster.
    pub fn shard_count(&self) -> u32 {
        self.shards.unwrap_or(CLUSTER_SHARDS_DEFAULT)
    }

    /// Copies of each object wanted: the configured value, or 3. Each file gets at most one
    /// copy per voting member (the membership changes at run time, so the cap is applied
    /// where copies are placed).
    pub fn replication_factor(&self) -> usize {
        self.replication_factor
            .unwrap_or(REPLICATION_FACTOR_DEFAULT)
    }

    /// The cross-field rules of the block; nothing is checked while `enabled` is false, so a
    /// block prepared in advance never stops a single node from starting.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        if self.nodes.is_empty() {
            return Err("cluster.nodes: at least one node is needed".into());
        }
        if !(1..=CLUSTER_SHARDS_MAX).contains(&self.shard_count()) {
            return Err(format!("cluster.shards: must be 1 to {CLUSTER_SHARDS_MAX}"));
        }
        if self.secret.len() < CLUSTER_SECRET_BYTES_MIN {
            return Err(format!(
                "cluster.secret: must be at least {CLUSTER_SECRET_BYTES_MIN} bytes"
            ));
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut addrs = std::collections::BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if !ids.insert(n.id) {
                return Err(format!("cluster.nodes[{i}]: id {} is listed twice", n.id));
            }
            for (field, text) in [("s3", &n.s3), ("peer", &n.peer)] {
                let addr: std::net::SocketAddr = text.parse().map_err(|_| {
                    format!("cluster.nodes[{i}].{field}: not an IP:PORT address: {text:?}")
                })?;
                if !addrs.insert(addr) {
                    return Err(format!(
                        "cluster.nodes[{i}].{field}: address {addr} is used twice"
                    ));
                }
            }
        }
        if !ids.contains(&self.node_id) {
            return Err(format!(
                "cluster.node_id: {} is not the id of any of cluster.nodes",
                self.node_id
            ));
        }
        // A joining node's list is partial: the membership it joins bounds its copies.
        let listed = self.replication_factor.unwrap_or(1);
        if listed == 0 || (!self.join && listed > self.nodes.len()) {
            return Err(format!(
                "cluster.replication_factor: must be between 1 and the {} nodes",
                self.nodes.len()
            ));
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "0.0.0.0:9000".into(),
            domain: String::new(),
            region: "us-east-1".into(),
            shards: 0,
            connections_per_core_max: 10_000,
            request_head_bytes_max: 16 * 1024,
            header_count_max: 128,
            idle_timeout_ms: 60_000,
            header_timeout_ms: 10_000,
            body_timeout_ms: 60_000,
            log_level: "info".into(),
            log_format: LogFormat::Text,
            access_log: true,
            metrics_token: String::new(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            access_key: "bleepstore".into(),
            secret_key: "bleepstore-secret".into(),
            users: Vec::new(),
        }
    }
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig {
            group_commit_max: 512,
            cache_bytes: share_of_memory(META_CACHE_SHARE, 128 << 20),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: Backend::Local,
            data_dir: PathBuf::from("./data"),
            inline_bytes_max: 64 * 1024,
            aws: AwsConfig::default(),
            gcp: GcpConfig::default(),
            azure: AzureConfig::default(),
        }
    }
}

/// Largest CompleteMultipartUpload or Delete body accepted (8 MiB). 10,000 parts with all
/// checksums, or 1,000 maximal (1,024-byte, heavily escaped) keys, fit comfortably. Owned
/// here because the body budget below must hold one; `s3::xml` re-exports it.
pub const MAX_XML_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The default budget of buffered request bodies per core when none is configured (unit
/// tests, tools).
pub const BUFFERED_BODY_BYTES_PER_CORE_MAX_DEFAULT: usize = 64 * 1024 * 1024;

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            object_size_max: 5 * 1024 * 1024 * 1024,
            metadata_bytes_max: 2048,
            buffered_body_bytes_per_core_max: BUFFERED_BODY_BYTES_PER_CORE_MAX_DEFAULT,
        }
    }
}

impl Default for MultipartConfig {
    fn default() -> Self {
        MultipartConfig {
            part_size_min: 5 * 1024 * 1024,
            upload_ttl_s: 7 * 24 * 3600,
        }
    }
}

/// Inline objects are read into one buffer; keep that buffer small whatever the file says.
const INLINE_BYTES_CEILING: u64 = 1024 * 1024;

impl Config {
    /// Parses YAML; the error names the offending key (yaml_serde reports its path).
    pub fn from_yaml(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let cfg: Config = yaml_serde::from_str(text).map_err(|e| e.to_string())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values serde cannot: ranges and cross-field rules.
    pub fn validate(&self) -> Result<(), String> {
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "server.bind: not a HOST:PORT address: {:?}",
                self.server.bind
            ));
        }
        if self.server.request_head_bytes_max < 1024 {
            return Err("server.request_head_bytes_max: must be at least 1024".into());
        }
        if self.server.header_count_max < 8 {
            return Err("server.header_count_max: must be at least 8".into());
        }
        if self.server.connections_per_core_max == 0 {
            return Err("server.connections_per_core_max: must be positive".into());
        }
        if self.lifecycle.day_s == 0 {
            return Err("lifecycle.day_s: must be positive".into());
        }
        if self.lifecycle.batch_max == 0 || self.lifecycle.batch_max > 10_000 {
            return Err("lifecycle.batch_max: must be between 1 and 10000".into());
        }
        if self.server.shards > 1024 {
            return Err("server.shards: at most 1024".into());
        }
        if self.auth.access_key.is_empty() || self.auth.secret_key.is_empty() {
            return Err("auth.access_key: access key and secret key must be set".into());
        }
        for (i, u) in self.auth.users.iter().enumerate() {
            if u.access_key.is_empty() || u.secret_key.is_empty() {
                return Err(format!(
                    "auth.users[{i}]: access_key and secret_key must be set"
                ));
            }
        }
        if self.storage.inline_bytes_max > INLINE_BYTES_CEILING {
            return Err(format!(
                "storage.inline_bytes_max: at most {INLINE_BYTES_CEILING}"
            ));
        }
        if self.metadata.group_commit_max == 0 {
            return Err("metadata.group_commit_max: must be positive".into());
        }
        if self.gateway.connect_timeout_ms == 0 {
            return Err("gateway.connect_timeout_ms: must be positive".into());
        }
        if self.gateway.read_timeout_ms == 0 {
            return Err("gateway.read_timeout_ms: must be positive".into());
        }
        if self.multipart.part_size_min == 0 {
            return Err("multipart.part_size_min: must be positive".into());
        }
        // One largest XML body must fit, or such a request could never be served.
        let body_max = MAX_XML_BODY_BYTES;
        if self.limits.buffered_body_bytes_per_core_max < body_max {
            return Err(format!(
                "limits.buffered_body_bytes_per_core_max: must be at least {body_max} (the largest XML body)"
            ));
        }
        if self.limits.object_size_max == 0 {
            return Err("limits.object_size_max: must be positive".into());
        }
        if !matches!(
            self.server.log_level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return Err(format!(
                "server.log_level: unknown level {:?}",
                self.server.log_level
            ));
        }
        self.cluster.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total_is_read_in_kib() {
        let text = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n";
        assert_eq!(parse_mem_total(text), Some(24_576_000 * 1024));
        assert_eq!(parse_mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: lots kB\n"), None);
        assert_eq!(parse_mem_total("MemTotal: 0 kB\n"), None);
    }

    #[test]
    fn caches_default_to_their_share_of_the_machine() {
        let machine = machine_memory_bytes().expect("/proc/meminfo on Linux");
        let c = Config::default();
        assert_eq!(c.cache.size, machine / OBJECT_CACHE_SHARE);
        assert_eq!(c.metadata.cache_bytes, machine / META_CACHE_SHARE);
        let m = MetadataConfig {
            cache_bytes: 64 << 20,
            ..MetadataConfig::default()
        };
        assert_eq!(m.cache_bytes_per_shard(4), 16 << 20);
        assert_eq!(m.cache_bytes_per_shard(0), 64 << 20);
        assert_eq!(m.cache_bytes_per_shard(1024), META_CACHE_PER_SHARD_MIN);
    }

    #[test]
    fn empty_yaml_is_defaults() {
        let c = Config::from_yaml("").unwrap();
        assert_eq!(c.server.bind, "0.0.0.0:9000");
        assert_eq!(c.auth.access_key, "bleepstore");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_yaml("server:\n  bindd: 1\n").unwrap_err();
        assert!(err.contains("bindd"), "{err}");
    }

    #[test]
    fn bad_value_is_named() {
        let err = Config::from_yaml("server:\n  bind: nope\n").unwrap_err();
        assert!(err.contains("server.bind"), "{err}");
        let err = Config::from_yaml("storage:\n  backend: floppy\n").unwrap_err();
        assert!(err.contains("backend"), "{err}");
        let err = Config::from_yaml("gateway:\n  read_timeout_ms: 0\n").unwrap_err();
        assert!(err.contains("gateway.read_timeout_ms"), "{err}");
    }

    #[test]
    fn example_file_parses() {
        let text = include_str!("../bleepstore.example.yaml");
        let c = Config::from_yaml(text).unwrap();
        assert_eq!(c.multipart.part_size_min, 5 * 1024 * 1024);
    }
}

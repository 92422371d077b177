//! Command line of `bleepstore-bench`: flags named as warp names them, with every value bounded.

use clap::{Parser, ValueEnum};
use std::time::Duration;

/// Most connections one run may open.
pub const CONCURRENT_MAX: usize = 10_000;
/// Most executors (threads) one run may start.
pub const CORES_MAX: usize = 256;
/// Most objects prepared for get / mixed / delete / list.
pub const OBJECTS_MAX: usize = 1_000_000;
/// Largest request body held in memory (object size, or part size for multipart).
pub const BODY_MAX: u64 = 1 << 30;
/// Most parts in one multipart upload (S3's own limit).
pub const PARTS_MAX: u64 = 10_000;
/// Longest measured phase.
pub const DURATION_MAX: Duration = Duration::from_secs(24 * 3600);
/// Longest wait for one request.
pub const TIMEOUT_MAX: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// PutObject of new keys.
    Put,
    /// GetObject of prepared objects, chosen at random.
    Get,
    /// PutObject over the prepared objects, chosen at random: every PUT replaces a live
    /// object (its old data is freed), and clients contend for the same keys.
    Overwrite,
    /// GET / PUT / DELETE / HEAD mix over a live key set (see --*-distrib).
    Mixed,
    /// DeleteObject of prepared objects, each once.
    Delete,
    /// ListObjectsV2 pages over the prepared objects.
    List,
    /// CreateMultipartUpload, UploadPart x N, CompleteMultipartUpload.
    Multipart,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Get => "get",
            Workload::Overwrite => "overwrite",
            Workload::Mixed => "mixed",
            Workload::Delete => "delete",
            Workload::List => "list",
            Workload::Multipart => "multipart",
        }
    }

    /// Whether the workload needs prepared objects.
    pub fn prepares(self) -> bool {
        matches!(
            self,
            Workload::Get
                | Workload::Overwrite
                | Workload::Mixed
                | Workload::Delete
                | Workload::List
        )
    }
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "bleepstore-bench",
    version,
    about = "warp-style S3 load generator: one event loop per core, keep-alive HTTP/1.1, SigV4"
)]
pub struct Cli {
    /// What to measure.
    #[arg(value_enum)]
    pub workload: Workload,
    /// Server as HOST:PORT or http://HOST:PORT.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub host: String,
    /// SigV4 access key.
    #[arg(long = "access-key", default_value = "bleepstore")]
    pub access_key: String,
    /// SigV4 secret key.
    #[arg(long = "secret-key", default_value = "bleepstore-secret")]
    pub secret_key: String,
    /// SigV4 region.
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    /// Connections, each with one request in flight (1..=10000).
    #[arg(long, default_value_t = 20)]
    pub concurrent: usize,
    /// Event loops (one thread each); default: every available core, at most --concurrent.
    #[arg(long)]
    pub cores: Option<usize>,
    /// Pin executor i to CPU i (default: let the kernel schedule).
    #[arg(long)]
    pub pin: bool,
    /// Object size: bytes, or with KiB / MiB / GiB (binary) or KB / MB / GB (decimal).
    #[arg(long = "obj.size", default_value = "4KiB", value_parser = parse_size)]
    pub obj_size: u64,
    /// Objects prepared for get / mixed / delete / list.
    #[arg(long, default_value_t = 1000)]
    pub objects: usize,
    /// Length of the measured phase (e.g. 10s, 500ms, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Bucket to use; created when absent.
    #[arg(long, default_value = "bleepstore-bench")]
    pub bucket: String,
    /// Key prefix of everything this tool writes. Cleanup deletes every key under it (with
    /// --no-prepare only the put/, new/ and mp/ keys a measured phase writes).
    #[arg(long, default_value = "bench")]
    pub prefix: String,
    /// Part size for the multipart workload (the object is --obj.size).
    #[arg(long = "part.size", default_value = "5MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Mixed: percent of GETs.
    #[arg(long = "get-distrib", default_value_t = 45)]
    pub get_distrib: u32,
    /// Mixed: percent of PUTs.
    #[arg(long = "put-distrib", default_value_t = 15)]
    pub put_distrib: u32,
    /// Mixed: percent of DELETEs.
    #[arg(long = "delete-distrib", default_value_t = 10)]
    pub delete_distrib: u32,
    /// Mixed: percent of HEADs (stat).
    #[arg(long = "stat-distrib", default_value_t = 30)]
    pub stat_distrib: u32,
    /// List: keys per ListObjectsV2 page (1..=1000).
    #[arg(long = "max-keys", default_value_t = 1000)]
    pub max_keys: u32,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Use objects left by an earlier run (same --prefix, --objects, --obj.size) and keep them.
    #[arg(long = "no-prepare")]
    pub no_prepare: bool,
    /// Leave every object this run wrote in place.
    #[arg(long = "no-cleanup")]
    pub no_cleanup: bool,
    /// Authenticate measured requests with presigned URLs instead of the Authorization header.
    #[arg(long)]
    pub presigned: bool,
    /// Sign the payload's SHA-256 instead of UNSIGNED-PAYLOAD (header auth only).
    #[arg(long)]
    pub sha256: bool,
    /// Prepare, then print a presigned GET URL (valid 7 days) of the first prepared object
    /// and exit: for replaying with wrk or curl. Nothing is measured or cleaned up.
    #[arg(long = "print-url")]
    pub print_url: bool,
    /// Longest wait for a connection, and for one whole request and its response.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

impl Cli {
    /// Checks every bound; the message names the flag.
    pub fn validate(&self) -> Result<(), String> {
        if self.concurrent == 0 || self.concurrent > CONCURRENT_MAX {
            return Err(format!("--concurrent must be 1..={CONCURRENT_MAX}"));
        }
        if let Some(c) = self.cores {
            if c == 0 || c > CORES_MAX {
                return Err(format!("--cores must be 1..={CORES_MAX}"));
            }
        }
        if self.objects == 0 || self.objects > OBJECTS_MAX {
            return Err(format!("--objects must be 1..={OBJECTS_MAX}"));
        }
        if self.duration.is_zero() || self.duration > DURATION_MAX {
            return Err("--duration must be more than 0 and at most 24h".into());
        }
        if self.timeout.is_zero() || self.timeout > TIMEOUT_MAX {
            return Err("--timeout must be more than 0 and at most 10m".into());
        }
        if self.workload == Workload::Multipart {
            if self.part_size == 0 || self.part_size > BODY_MAX {
                return Err("--part.size must be 1 byte..=1GiB".into());
            }
            if self.obj_size == 0 {
                return Err("--obj.size must be at least 1 byte for multipart".into());
            }
            if self.obj_size.div_ceil(self.part_size) > PARTS_MAX {
                return Err(format!(
                    "--obj.size / --part.size gives more than {PARTS_MAX} parts"
                ));
            }
        } else if self.obj_size > BODY_MAX {
            return Err("--obj.size must be at most 1GiB".into());
        }
        if self.workload == Workload::Mixed {
            let total = self.get_distrib as u64
                + self.put_distrib as u64
                + self.delete_distrib as u64
                + self.stat_distrib as u64;
            if total != 100 {
                return Err(format!(
                    "--get-distrib + --put-distrib + --delete-distrib + --stat-distrib must be 100, \
                     not {total}"
                ));
            }
        }
        if self.max_keys == 0 || self.max_keys > 1000 {
            return Err("--max-keys must be 1..=1000".into());
        }
        if !valid_bucket(&self.bucket) {
            return Err(format!(
                "--bucket {:?} is not a valid bucket name",
                self.bucket
            ));
        }
        if self.prefix.is_empty()
            || self.prefix.len() > 200
            || !self
                .prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
        {
            return Err("--prefix must be 1..=200 characters of [A-Za-z0-9-_./]".into());
        }
        if self.presigned && self.sha256 {
            return Err(
                "--sha256 applies to header auth; presigned URLs are UNSIGNED-PAYLOAD".into(),
            );
        }
        Ok(())
    }

    /// Executors to start: --cores, else the available cores; never more than connections.
    pub fn executors(&self) -> usize {
        let available = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        self.cores
            .unwrap_or(available)
            .min(self.concurrent)
            .clamp(1, CORES_MAX)
    }

    /// `host:port` without a scheme or path, as sent in the Host header.
    pub fn host_port(&self) -> Result<String, String> {
        let h = self.host.trim();
        let h = if let Some(rest) = h.strip_prefix("http://") {
            rest
        } else if h.starts_with("https://") {
            return Err("--host: https is not supported (plain HTTP/1.1 only)".into());
        } else {
            h
        };
        let h = h.split('/').next().unwrap_or_default();
        if h.is_empty() {
            return Err("--host is empty".into());
        }
        if h.rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            Ok(h.to_string())
        } else {
            Ok(format!("{h}:80"))
        }
    }
}

fn valid_bucket(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

/// `4KiB`, `1MiB`, `64MiB`, `1GiB`, `4KB` (1000s), `4k` (1024s), or plain bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" | "ki" => 1 << 10,
        "m" | "mib" | "mi" => 1 << 20,
        "g" | "gib" | "gi" => 1 << 30,
        "t" | "tib" | "ti" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        other => return Err(format!("unknown size unit {other:?} in {s:?}")),
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 4KiB, 1MiB, 4096)"))?;
    let bytes = value * mult as f64;
    if !bytes.is_finite() || bytes < 0.0 || bytes > (1u64 << 50) as f64 {
        return Err(format!("size {s:?} is out of range"));
    }
    Ok(bytes.round() as u64)
}

/// `10s`, `500ms`, `2m`, `1h`, `1m30s`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        return secs_to_duration(secs, s);
    }
    let mut total = 0f64;
    let mut rest = t;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{s:?}: a number needs a unit (ms, s, m, h)"))?;
        let (num, after) = rest.split_at(split);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration (e.g. 10s, 500ms, 2m)"))?;
        let scale = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("unknown duration unit {other:?} in {s:?}")),
        };
        total += n * scale;
        rest = next;
    }
    secs_to_duration(total, s)
}

fn secs_to_duration(secs: f64, s: &str) -> Result<Duration, String> {
    if !secs.is_finite() || !(0.0..=10.0 * 365.0 * 86_400.0).contains(&secs) {
        return Err(format!("duration {s:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4KiB").unwrap(), 4096);
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("64MiB").unwrap(), 64 << 20);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("4KB").unwrap(), 4000);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn hosts() {
        let mut c = Cli::parse_from(["b", "get"]);
        assert_eq!(c.host_port().unwrap(), "127.0.0.1:9000");
        c.host = "http://localhost:9300/".into();
        assert_eq!(c.host_port().unwrap(), "localhost:9300");
        c.host = "localhost".into();
        assert_eq!(c.host_port().unwrap(), "localhost:80");
        c.host = "https://x:1".into();
        assert!(c.host_port().is_err());
        assert!(c.validate().is_ok());
    }
}

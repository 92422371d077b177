//! Prometheus metrics. Each core counts into its own thread-local tables (no lock, no atomic
//! contention on the request path); a scrape asks every core for a snapshot and merges.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency bucket bounds in seconds (Prometheus histogram `le` labels).
const LATENCY_BUCKETS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Size bucket bounds in bytes.
const SIZE_BUCKETS_BYTES: [f64; 8] = [
    1024.0,
    4096.0,
    65536.0,
    262144.0,
    1048576.0,
    8388608.0,
    67108864.0,
    536870912.0,
];

#[derive(Clone, Default)]
pub struct Histogram {
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; bounds.len()];
        }
        for (i, b) in bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }
    fn merge(&mut self, o: &Histogram) {
        if self.counts.is_empty() {
            self.counts = vec![0; o.counts.len()];
        }
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.sum += o.sum;
        self.count += o.count;
    }
}

/// One core's counters; cloned whole for a scrape.
#[derive(Clone, Default)]
pub struct CoreMetrics {
    pub requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    pub duration: BTreeMap<&'static str, Histogram>,
    pub request_size: Histogram,
    pub response_size: Histogram,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub connections_open: i64,
    pub in_flight: i64,
    pub commit_batches: u64,
    pub commit_ops: u64,
    pub commit_seconds: Histogram,
    pub direct_bytes_written: u64,
    pub direct_bytes_read: u64,
    pub md5_batches: u64,
    pub md5_batched_jobs: u64,
    /// runtime::budget of this core: bytes held, bytes allowed, requests refused.
    pub buffered_body_bytes: u64,
    pub buffered_body_bytes_max: u64,
    pub buffered_body_refused: u64,
    /// storage::cache of this core: bytes held, its capacity, hits and misses.
    pub object_cache_bytes: u64,
    pub object_cache_capacity_bytes: u64,
    pub object_cache_hits: u64,
    pub object_cache_misses: u64,
    /// engine::records of this core: estimated bytes held, hits and misses.
    pub record_cache_bytes: u64,
    pub record_cache_capacity_bytes: u64,
    pub record_cache_hits: u64,
    pub record_cache_misses: u64,
    /// Data-file streams (a GET's reads or a PUT's writes) open on this core; each holds at
    /// most `IO_STREAM_BYTES_MAX` of I/O buffers.
    pub io_streams: i64,
}

/// I/O buffer bytes one data-file stream holds at most (storage::local's budget per stream).
pub const IO_STREAM_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Counts one open data-file stream on this core for as long as it lives.
pub struct IoStreamGauge(());

impl IoStreamGauge {
    pub fn open() -> IoStreamGauge {
        LOCAL.with(|m| m.borrow_mut().io_streams += 1);
        IoStreamGauge(())
    }
}

impl Drop for IoStreamGauge {
    fn drop(&mut self) {
        LOCAL.with(|m| m.borrow_mut().io_streams -= 1);
    }
}

thread_local! {
    static LOCAL: RefCell<CoreMetrics> = RefCell::new(CoreMetrics::default());
}

pub fn init(_cores: usize) {}

pub fn connection_opened(_core: usize) {
    LOCAL.with(|m| m.borrow_mut().connections_open += 1);
}

pub fn connection_closed(_core: usize) {
    LOCAL.with(|m| m.borrow_mut().connections_open -= 1);
}

pub fn request_started() {
    LOCAL.with(|m| m.borrow_mut().in_flight += 1);
}

/// A request refused before it could be routed (malformed head, framing): counted among
/// the requests, but it never entered `in_flight`.
pub fn request_rejected(status: u16) {
    LOCAL.with(|m| {
        *m.borrow_mut()
            .requests
            .entry(("OTHER", "BadRequest", status))
            .or_insert(0) += 1;
    });
}

pub fn request_finished(
    method: &'static str,
    op: &'static str,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    elapsed: Duration,
) {
    LOCAL.with(|m| {
        let mut m = m.borrow_mut();
        m.in_flight -= 1;
        *m.requests.entry((method, op, status)).or_insert(0) += 1;
        m.duration
            .entry(op)
            .or_default()
            .observe(&LATENCY_BUCKETS_S, elapsed.as_secs_f64());
        m.request_size.observe(&SIZE_BUCKETS_BYTES, bytes_in as f64);
        m.response_size
            .observe(&SIZE_BUCKETS_BYTES, bytes_out as f64);
        m.bytes_in += bytes_in;
        m.bytes_out += bytes_out;
    });
}

pub fn record_commit(_shard: u32, ops: usize, elapsed: Duration) {
    LOCAL.with(|m| {
        let mut m = m.borrow_mut();
        m.commit_batches += 1;
        m.commit_ops += ops as u64;
        m.commit_seconds
            .observe(&LATENCY_BUCKETS_S, elapsed.as_secs_f64());
    });
}

pub fn direct_written(bytes: u64) {
    LOCAL.with(|m| m.borrow_mut().direct_bytes_written += bytes);
}

/// One run of the per-core MD5 batcher over `jobs` request-body pieces.
pub fn md5_batch(jobs: usize) {
    LOCAL.with(|m| {
        let mut m = m.borrow_mut();
        m.md5_batches += 1;
        m.md5_batched_jobs += jobs as u64;
    });
}

pub fn direct_read(bytes: u64) {
    LOCAL.with(|m| m.borrow_mut().direct_bytes_read += bytes);
}

/// This core's counters. The body-budget fields are the caller's to fill (the budget lives
/// in `runtime`, a layer above telemetry).
/// The lifecycle worker's totals over every core (passes are rare: plain atomics).
struct LifecycleTotals {
    objects_expired: AtomicU64,
    markers_removed: AtomicU64,
    noncurrent_expired: AtomicU64,
    uploads_aborted: AtomicU64,
    passes: AtomicU64,
    /// Microseconds spent in passes.
    pass_us: AtomicU64,
}

static LIFECYCLE: LifecycleTotals = LifecycleTotals {
    objects_expired: AtomicU64::new(0),
    markers_removed: AtomicU64::new(0),
    noncurrent_expired: AtomicU64::new(0),
    uploads_aborted: AtomicU64::new(0),
    passes: AtomicU64::new(0),
    pass_us: AtomicU64::new(0),
};

/// Counts what one lifecycle commit removed (as it commits, so a pass shows progress).
pub fn lifecycle_removed(
    objects_expired: u64,
    markers_removed: u64,
    noncurrent_expired: u64,
    uploads_aborted: u64,
) {
    let l = &LIFECYCLE;
    l.objects_expired
        .fetch_add(objects_expired, Ordering::Relaxed);
    l.markers_removed
        .fetch_add(markers_removed, Ordering::Relaxed);
    l.noncurrent_expired
        .fetch_add(noncurrent_expired, Ordering::Relaxed);
    l.uploads_aborted
        .fetch_add(uploads_aborted, Ordering::Relaxed);
}

/// Counts one finished lifecycle pass of one core.
pub fn lifecycle_pass(took: Duration) {
    let l = &LIFECYCLE;
    l.passes.fetch_add(1, Ordering::Relaxed);
    l.pass_us
        .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
}

fn lifecycle_metrics(out: &mut String) {
    let l = &LIFECYCLE;
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    for (name, help, v) in [
        (
            "bleepstore_lifecycle_objects_expired_total",
            "Current objects expired by lifecycle rules (removed, or hidden by a delete marker).",
            get(&l.objects_expired),
        ),
        (
            "bleepstore_lifecycle_delete_markers_removed_total",
            "Expired object delete markers removed by lifecycle rules.",
            get(&l.markers_removed),
        ),
        (
            "bleepstore_lifecycle_noncurrent_versions_expired_total",
            "Noncurrent versions removed by lifecycle rules.",
            get(&l.noncurrent_expired),
        ),
        (
            "bleepstore_lifecycle_uploads_aborted_total",
            "Incomplete multipart uploads aborted by lifecycle rules.",
            get(&l.uploads_aborted),
        ),
        (
            "bleepstore_lifecycle_passes_total",
            "Lifecycle passes finished (one per core per interval).",
            get(&l.passes),
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
    let _ = writeln!(out, "# HELP bleepstore_lifecycle_pass_seconds_total Time spent in lifecycle passes.\n# TYPE bleepstore_lifecycle_pass_seconds_total counter\nbleepstore_lifecycle_pass_seconds_total {}", get(&l.pass_us) as f64 / 1e6);
}

pub fn snapshot() -> CoreMetrics {
    LOCAL.with(|m| m.borrow().clone())
}

fn hist(out: &mut String, name: &str, labels: &str, bounds: &[f64], h: &Histogram) {
    let sep = if labels.is_empty() { "" } else { "," };
    for (i, b) in bounds.iter().enumerate() {
        let c = h.counts.get(i).copied().unwrap_or(0);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count);
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", h.sum);
    let _ = writeln!(out, "{name}_count{braces} {}", h.count);
}

/// (name, type, help, reader) of a per-core series.
type PerCoreGauge = (
    &'static str,
    &'static str,
    &'static str,
    fn(&CoreMetrics) -> f64,
);

/// Memory the server sets aside by configuration, for the accounting next to the RSS.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBudget {
    /// The metadata shards' redb caches together (`metadata.cache_bytes`).
    pub meta_cache_bytes: u64,
    /// What those caches can hold at most now: per shard, the smaller of its cache and its
    /// database file (a cache never holds more pages than the file has).
    pub meta_cache_bound_bytes: u64,
    /// Buffers one open connection holds (request read buffer, response head buffer).
    pub connection_bytes: u64,
}

/// Renders Prometheus text format 0.0.4 from every core's snapshot.
pub fn render(
    cores: &[CoreMetrics],
    buckets: u64,
    objects: u64,
    started_at: std::time::SystemTime,
    budget: MemoryBudget,
) -> String {
    let mut out = String::with_capacity(8192);
    let mut requests: BTreeMap<(&str, &str, u16), u64> = BTreeMap::new();
    let mut ops: BTreeMap<(&str, u16), u64> = BTreeMap::new();
    let mut duration: BTreeMap<&str, Histogram> = BTreeMap::new();
    let (mut req_size, mut resp_size) = (Histogram::default(), Histogram::default());
    let (mut bytes_in, mut bytes_out) = (0u64, 0u64);
    for c in cores {
        for (k, v) in &c.requests {
            *requests.entry(*k).or_insert(0) += v;
            *ops.entry((k.1, k.2)).or_insert(0) += v;
        }
        for (k, h) in &c.duration {
            duration.entry(k).or_default().merge(h);
        }
        req_size.merge(&c.request_size);
        resp_size.merge(&c.response_size);
        bytes_in += c.bytes_in;
        bytes_out += c.bytes_out;
    }
    out.push_str("# HELP bleepstore_http_requests_total HTTP requests answered.\n# TYPE bleepstore_http_requests_total counter\n");
    for ((m, op, s), v) in &requests {
        let _ = writeln!(out, "bleepstore_http_requests_total{{method=\"{m}\",operation=\"{op}\",status=\"{s}\"}} {v}");
    }
    out.push_str("# HELP bleepstore_s3_operations_total S3 operations by outcome.\n# TYPE bleepstore_s3_operations_total counter\n");
    for ((op, s), v) in &ops {
        let _ = writeln!(
            out,
            "bleepstore_s3_operations_total{{operation=\"{op}\",status=\"{s}\"}} {v}"
        );
    }
    out.push_str("# HELP bleepstore_http_request_duration_seconds Time from request head to response sent.\n# TYPE bleepstore_http_request_duration_seconds histogram\n");
    for (op, h) in &duration {
        hist(
            &mut out,
            "bleepstore_http_request_duration_seconds",
            &format!("operation=\"{op}\""),
            &LATENCY_BUCKETS_S,
            h,
        );
    }
    out.push_str("# HELP bleepstore_http_request_size_bytes Request body sizes.\n# TYPE bleepstore_http_request_size_bytes histogram\n");
    hist(
        &mut out,
        "bleepstore_http_request_size_bytes",
        "",
        &SIZE_BUCKETS_BYTES,
        &req_size,
    );
    out.push_str("# HELP bleepstore_http_response_size_bytes Response body sizes.\n# TYPE bleepstore_http_response_size_bytes histogram\n");
    hist(
        &mut out,
        "bleepstore_http_response_size_bytes",
        "",
        &SIZE_BUCKETS_BYTES,
        &resp_size,
    );
    let _ = writeln!(out, "# HELP bleepstore_bytes_received_total Request body bytes received.\n# TYPE bleepstore_bytes_received_total counter\nbleepstore_bytes_received_total {bytes_in}");
    let _ = writeln!(out, "# HELP bleepstore_bytes_sent_total Response bytes sent.\n# TYPE bleepstore_bytes_sent_total counter\nbleepstore_bytes_sent_total {bytes_out}");
    let _ = writeln!(out, "# HELP bleepstore_buckets_total Buckets.\n# TYPE bleepstore_buckets_total gauge\nbleepstore_buckets_total {buckets}");
    let _ = writeln!(out, "# HELP bleepstore_objects_total Objects.\n# TYPE bleepstore_objects_total gauge\nbleepstore_objects_total {objects}");
    let per_core: [PerCoreGauge; 11] = [
        (
            "bleepstore_open_connections",
            "gauge",
            "Open client connections.",
            |c| c.connections_open as f64,
        ),
        (
            "bleepstore_in_flight_requests",
            "gauge",
            "Requests being served.",
            |c| c.in_flight as f64,
        ),
        (
            "bleepstore_group_commit_batches_total",
            "counter",
            "Metadata commits.",
            |c| c.commit_batches as f64,
        ),
        (
            "bleepstore_group_commit_ops_total",
            "counter",
            "Metadata writes committed (ops / batches = mean batch size).",
            |c| c.commit_ops as f64,
        ),
        (
            "bleepstore_direct_io_written_bytes_total",
            "counter",
            "Bytes written with O_DIRECT.",
            |c| c.direct_bytes_written as f64,
        ),
        (
            "bleepstore_direct_io_read_bytes_total",
            "counter",
            "Bytes read with O_DIRECT.",
            |c| c.direct_bytes_read as f64,
        ),
        (
            "bleepstore_md5_batches_total",
            "counter",
            "Runs of the per-core MD5 batcher (uploads hashed together, AVX-512VL only).",
            |c| c.md5_batches as f64,
        ),
        (
            "bleepstore_md5_batched_jobs_total",
            "counter",
            "Request-body pieces hashed by the batcher (jobs / batches = mean uploads per run; from 3 up they share the 8-lane kernel).",
            |c| c.md5_batched_jobs as f64,
        ),
        (
            "bleepstore_buffered_body_bytes",
            "gauge",
            "Request bytes held whole in memory (XML bodies, held-back gateway upload tails).",
            |c| c.buffered_body_bytes as f64,
        ),
        (
            "bleepstore_buffered_body_bytes_max",
            "gauge",
            "The core's budget for those bytes (limits.buffered_body_bytes_per_core_max).",
            |c| c.buffered_body_bytes_max as f64,
        ),
        (
            "bleepstore_buffered_body_refused_total",
            "counter",
            "Requests answered 503 SlowDown because the core's body budget stayed spent.",
            |c| c.buffered_body_refused as f64,
        ),
    ];
    for (name, kind, help, get) in per_core {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (i, c) in cores.iter().enumerate() {
            let _ = writeln!(out, "{name}{{core=\"{i}\"}} {}", get(c));
        }
    }
    out.push_str("# HELP bleepstore_group_commit_seconds Metadata commit latency.\n# TYPE bleepstore_group_commit_seconds histogram\n");
    for (i, c) in cores.iter().enumerate() {
        hist(
            &mut out,
            "bleepstore_group_commit_seconds",
            &format!("core=\"{i}\""),
            &LATENCY_BUCKETS_S,
            &c.commit_seconds,
        );
    }
    let _ = writeln!(out, "# HELP bleepstore_log_lines_dropped_total Log lines dropped because the reader of stderr did not keep up (logging never blocks a core).\n# TYPE bleepstore_log_lines_dropped_total counter\nbleepstore_log_lines_dropped_total {}", super::log::dropped_lines());
    lifecycle_metrics(&mut out);
    process_metrics(&mut out, started_at);
    memory_metrics(&mut out, cores, budget);
    out
}

/// `bleepstore_memory_bytes{part}`: the resident set and the parts that account for it.
/// Caches are counted as held; I/O and connection buffers as their upper bound (streams or
/// connections open × what each may hold); the allocator's figures show what is in use and
/// what it keeps after frees (fragmentation, earlier peaks).
fn memory_metrics(out: &mut String, cores: &[CoreMetrics], budget: MemoryBudget) {
    let p = super::memory::process();
    let sum = |f: fn(&CoreMetrics) -> u64| cores.iter().map(f).sum::<u64>();
    let streams = cores
        .iter()
        .map(|c| c.io_streams.max(0) as u64)
        .sum::<u64>();
    let conns = cores
        .iter()
        .map(|c| c.connections_open.max(0) as u64)
        .sum::<u64>();
    let (io_mapped, io_pooled) = crate::io_alloc::mapped_and_pooled_bytes();
    let parts: [(&str, u64); 15] = [
        ("rss", p.rss),
        ("heap_in_use", p.heap_in_use),
        ("heap_free", p.heap_free),
        ("heap_mmapped", p.heap_mmapped),
        ("object_cache", sum(|c| c.object_cache_bytes)),
        (
            "object_cache_capacity",
            sum(|c| c.object_cache_capacity_bytes),
        ),
        ("record_cache", sum(|c| c.record_cache_bytes)),
        (
            "record_cache_capacity",
            sum(|c| c.record_cache_capacity_bytes),
        ),
        ("meta_cache_capacity", budget.meta_cache_bytes),
        ("meta_cache_max", budget.meta_cache_bound_bytes),
        ("io_buffers_max", streams * IO_STREAM_BYTES_MAX),
        ("io_buffers_mapped", io_mapped),
        ("io_buffers_pooled", io_pooled),
        ("connection_buffers_max", conns * budget.connection_bytes),
        (
            "machine",
            crate::config::machine_memory_bytes().unwrap_or(0),
        ),
    ];
    out.push_str("# HELP bleepstore_memory_bytes Resident memory and what accounts for it: rss; heap_in_use / heap_free / heap_mmapped (malloc: held, kept after free, own mappings); object_cache and its capacity; record_cache and its capacity (decoded records kept per core); meta_cache_capacity (redb caches) and meta_cache_max (what they can hold now: each at most its file); io_buffers_max and connection_buffers_max (open streams / connections x their most); io_buffers_mapped and io_buffers_pooled (1 MiB I/O buffers mapped outside malloc, in use or cached, and of those the freed ones kept for reuse); machine (physical memory).\n# TYPE bleepstore_memory_bytes gauge\n");
    for (part, bytes) in parts {
        let _ = writeln!(out, "bleepstore_memory_bytes{{part=\"{part}\"}} {bytes}");
    }
    let _ = writeln!(out, "# HELP bleepstore_object_cache_hits_total Object cache chunk hits.\n# TYPE bleepstore_object_cache_hits_total counter\nbleepstore_object_cache_hits_total {}", sum(|c| c.object_cache_hits));
    let _ = writeln!(out, "# HELP bleepstore_object_cache_misses_total Object cache chunk misses (read from disk).\n# TYPE bleepstore_object_cache_misses_total counter\nbleepstore_object_cache_misses_total {}", sum(|c| c.object_cache_misses));
    let _ = writeln!(out, "# HELP bleepstore_record_cache_hits_total GET/HEAD record reads answered from the core's cache of decoded records.\n# TYPE bleepstore_record_cache_hits_total counter\nbleepstore_record_cache_hits_total {}", sum(|c| c.record_cache_hits));
    let _ = writeln!(out, "# HELP bleepstore_record_cache_misses_total GET/HEAD record reads that went to the metadata shard.\n# TYPE bleepstore_record_cache_misses_total counter\nbleepstore_record_cache_misses_total {}", sum(|c| c.record_cache_misses));
    let _ = writeln!(out, "# HELP bleepstore_io_streams Data-file streams open (GET reads, PUT writes).\n# TYPE bleepstore_io_streams gauge\nbleepstore_io_streams {streams}");
}

fn process_metrics(out: &mut String, started_at: std::time::SystemTime) {
    let tick = 100.0; // USER_HZ on Linux
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ut: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let st: f64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
        let _ = writeln!(out, "# HELP process_cpu_seconds_total CPU time.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}", (ut + st) / tick);
    }
    let rss = super::memory::resident_bytes().unwrap_or(0);
    let _ = writeln!(out, "# HELP process_resident_memory_bytes Resident memory.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}");
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let _ = writeln!(out, "# HELP process_open_fds Open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {fds}");
    let start = started_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let _ = writeln!(out, "# HELP process_start_time_seconds Start time since the epoch.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {start}");
}

//! Per-core statistics (one HdrHistogram per operation), merged at the end, and the report.

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies are recorded in microseconds, up to this (longer ones saturate).
const LATENCY_MAX_US: u64 = 3_600_000_000;
/// Distinct error labels kept per operation; the rest are counted as "other".
const ERROR_LABELS_MAX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Get,
    Put,
    Stat,
    Delete,
    List,
    MpCreate,
    MpPart,
    MpComplete,
}

pub const OPS: [Op; 8] = [
    Op::Get,
    Op::Put,
    Op::Stat,
    Op::Delete,
    Op::List,
    Op::MpCreate,
    Op::MpPart,
    Op::MpComplete,
];

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Get => "GET",
            Op::Put => "PUT",
            Op::Stat => "STAT",
            Op::Delete => "DELETE",
            Op::List => "LIST",
            Op::MpCreate => "CreateMultipartUpload",
            Op::MpPart => "UploadPart",
            Op::MpComplete => "CompleteMultipartUpload",
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

pub struct OpStats {
    /// Latency of successful requests, microseconds.
    pub hist: Histogram<u64>,
    pub ok: u64,
    /// Payload bytes moved by successful requests (sent for writes, received for reads).
    pub bytes: u64,
    pub errors: u64,
    /// Error label ("404 NoSuchKey", "io: timeout", ...) -> count.
    pub error_labels: BTreeMap<String, u64>,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            hist: Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)
                .expect("static histogram bounds are valid"),
            ok: 0,
            bytes: 0,
            errors: 0,
            error_labels: BTreeMap::new(),
        }
    }

    fn merge(&mut self, other: &OpStats) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
        self.ok += other.ok;
        self.bytes += other.bytes;
        self.errors += other.errors;
        for (k, v) in &other.error_labels {
            self.add_label(k, *v);
        }
    }

    fn add_label(&mut self, label: &str, n: u64) {
        if let Some(c) = self.error_labels.get_mut(label) {
            *c += n;
        } else if self.error_labels.len() < ERROR_LABELS_MAX {
            self.error_labels.insert(label.to_string(), n);
        } else {
            *self.error_labels.entry("other".into()).or_default() += n;
        }
    }
}

/// Statistics of one executor (or, merged, of the run).
pub struct Stats {
    ops: Vec<OpStats>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            ops: OPS.iter().map(|_| OpStats::new()).collect(),
        }
    }
}

impl Stats {
    pub fn ok(&mut self, op: Op, latency: Duration, bytes: u64) {
        let s = &mut self.ops[op.index()];
        s.hist
            .saturating_record((latency.as_micros() as u64).clamp(1, LATENCY_MAX_US));
        s.ok += 1;
        s.bytes += bytes;
    }

    pub fn error(&mut self, op: Op, label: &str) {
        let s = &mut self.ops[op.index()];
        s.errors += 1;
        s.add_label(label, 1);
    }

    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in self.ops.iter_mut().zip(&other.ops) {
            a.merge(b);
        }
    }

    pub fn get(&self, op: Op) -> &OpStats {
        &self.ops[op.index()]
    }

    pub fn total_ok(&self) -> u64 {
        self.ops.iter().map(|s| s.ok).sum()
    }

    pub fn total_errors(&self) -> u64 {
        self.ops.iter().map(|s| s.errors).sum()
    }

    /// Operations that saw any request, in report order.
    pub fn used(&self) -> impl Iterator<Item = (Op, &OpStats)> {
        OPS.iter()
            .map(|op| (*op, &self.ops[op.index()]))
            .filter(|(_, s)| s.ok + s.errors > 0)
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// Latency percentiles in milliseconds.
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
                mean: 0.0,
            };
        }
        Latency {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Human units for a byte count.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else if v.fract() == 0.0 {
        format!("{v:.0} {}", UNITS[u])
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// One line per operation plus totals, for people.
pub fn text_report(title: &str, stats: &Stats, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut out = String::new();
    out.push_str(title);
    out.push('\n');
    out.push_str(&format!(
        "{:<24} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}\n",
        "operation",
        "ops",
        "ops/s",
        "MiB/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "errors"
    ));
    for (op, s) in stats.used() {
        let l = Latency::of(&s.hist);
        out.push_str(&format!(
            "{:<24} {:>10} {:>11.1} {:>9.2} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>8}\n",
            op.name(),
            s.ok,
            s.ok as f64 / secs,
            s.bytes as f64 / MIB / secs,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            s.errors
        ));
        for (label, n) in &s.error_labels {
            out.push_str(&format!("    {label}: {n}\n"));
        }
    }
    if stats.used().count() > 1 {
        let ok = stats.total_ok();
        let bytes: u64 = stats.used().map(|(_, s)| s.bytes).sum();
        out.push_str(&format!(
            "{:<24} {:>10} {:>11.1} {:>9.2} {:>59}\n",
            "total",
            ok,
            ok as f64 / secs,
            bytes as f64 / MIB / secs,
            stats.total_errors()
        ));
    }
    out
}

/// The per-operation part of the JSON summary.
pub fn json_ops(stats: &Stats, elapsed: Duration) -> Value {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut ops = Vec::new();
    for (op, s) in stats.used() {
        let l = Latency::of(&s.hist);
        ops.push(json!({
            "op": op.name(),
            "ops": s.ok,
            "ops_per_s": s.ok as f64 / secs,
            "bytes": s.bytes,
            "mib_per_s": s.bytes as f64 / MIB / secs,
            "latency_ms": {
                "p50": l.p50, "p90": l.p90, "p99": l.p99, "p99_9": l.p999,
                "max": l.max, "mean": l.mean,
            },
            "errors": s.errors,
            "error_breakdown": s.error_labels,
        }));
    }
    Value::Array(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_report() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        a.ok(Op::Get, Duration::from_micros(1500), 4096);
        b.ok(Op::Get, Duration::from_micros(500), 4096);
        b.error(Op::Get, "404 NoSuchKey");
        a.merge(&b);
        let g = a.get(Op::Get);
        assert_eq!((g.ok, g.bytes, g.errors), (2, 8192, 1));
        assert_eq!(g.error_labels["404 NoSuchKey"], 1);
        let text = text_report("t", &a, Duration::from_secs(1));
        assert!(text.contains("GET"));
        assert!(text.contains("404 NoSuchKey: 1"));
        let j = json_ops(&a, Duration::from_secs(2));
        assert_eq!(j[0]["ops_per_s"], 1.0);
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(1536), "1.50 KiB");
    }
}

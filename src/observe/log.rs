//! Logging that never blocks a core.
//!
//! A core that writes to stderr itself stops when the reader of that pipe stops reading (the
//! pipe fills and `write` blocks the executor). So every line goes to one process-wide
//! writer thread through a queue bounded in bytes; when the queue is full the line is
//! dropped and counted (`bleepstore_log_lines_dropped_total`), never waited for.
//!
//! Access lines are the hot case (one per request): each core formats them by hand into a
//! buffer of its own and hands the buffer over when it is full or every
//! [`ACCESS_FLUSH_INTERVAL`], so a request costs a few hundred nanoseconds of formatting and
//! no system call.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

/// Bytes of log text waiting for the writer thread, at most; past it lines are dropped.
pub const QUEUE_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Buffers waiting for the writer thread, at most (a second bound for tiny lines).
const QUEUE_BUFFERS_MAX: usize = 4096;
/// A core hands its access lines over once this many bytes are buffered...
const ACCESS_BUFFER_BYTES: usize = 32 * 1024;
/// ... or this long after the last hand-over, whichever comes first.
pub const ACCESS_FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Room past [`ACCESS_BUFFER_BYTES`] for the line that fills the buffer (longer ones grow it).
const ACCESS_LINE_SLACK_BYTES: usize = 1024;

struct Sink {
    tx: SyncSender<Vec<u8>>,
    queued_bytes: AtomicUsize,
}

static SINK: OnceLock<Sink> = OnceLock::new();
static DROPPED_LINES: AtomicU64 = AtomicU64::new(0);
/// 0: no access log, 1: text lines, 2: JSON lines.
static ACCESS: AtomicU8 = AtomicU8::new(0);

/// Starts the writer thread; until then (and in unit tests) lines go straight to stderr.
pub fn start() {
    start_writer(|buf| {
        // Blocking here is the point: only this thread waits for the reader. The lock is
        // taken per buffer, never held across waits, so a panic message or the start-up
        // failure line can still reach stderr.
        let _ = std::io::stderr().lock().write_all(buf);
    });
}

/// Starts the writer thread with a writer that drops every line: benches that measure the
/// request path with the access log on, without printing it.
pub fn start_discarding() {
    start_writer(|_| {});
}

fn start_writer(write: fn(&[u8])) {
    SINK.get_or_init(|| {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE_BUFFERS_MAX);
        let spawned = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || {
                while let Ok(buf) = rx.recv() {
                    write(&buf);
                    if let Some(s) = SINK.get() {
                        s.queued_bytes.fetch_sub(buf.len(), Ordering::AcqRel);
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("bleepstore: log writer thread: {e}");
        }
        Sink {
            tx,
            queued_bytes: AtomicUsize::new(0),
        }
    });
}

/// Queues `buf` (holding `lines` lines) for the writer; drops and counts it when the queue
/// is full. Never blocks.
fn submit(buf: Vec<u8>, lines: u64) {
    if buf.is_empty() {
        return;
    }
    let Some(sink) = SINK.get() else {
        let _ = std::io::stderr().write_all(&buf);
        return;
    };
    let len = buf.len();
    if sink.queued_bytes.fetch_add(len, Ordering::AcqRel) + len > QUEUE_BYTES_MAX {
        sink.queued_bytes.fetch_sub(len, Ordering::AcqRel);
        DROPPED_LINES.fetch_add(lines, Ordering::Relaxed);
        return;
    }
    match sink.tx.try_send(buf) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
            sink.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            DROPPED_LINES.fetch_add(lines, Ordering::Relaxed);
        }
    }
}

/// Log lines dropped because the reader of stderr did not keep up.
pub fn dropped_lines() -> u64 {
    DROPPED_LINES.load(Ordering::Relaxed)
}

/// `tracing_subscriber`'s writer: each event is formatted into its own buffer and queued
/// as one piece when the formatter is done with it.
#[derive(Clone, Copy, Default)]
pub struct MakeQueuedWriter;

pub struct EventWriter(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeQueuedWriter {
    type Writer = EventWriter;
    fn make_writer(&'a self) -> EventWriter {
        EventWriter(Vec::with_capacity(256))
    }
}

impl Write for EventWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for EventWriter {
    fn drop(&mut self) {
        submit(std::mem::take(&mut self.0), 1);
    }
}

/// Turns the access log on (text or JSON) or off; set once at start-up.
pub fn set_access_log(enabled: bool, json: bool) {
    let mode = match (enabled, json) {
        (false, _) => 0,
        (true, false) => 1,
        (true, true) => 2,
    };
    ACCESS.store(mode, Ordering::Relaxed);
}

pub fn access_log_enabled() -> bool {
    ACCESS.load(Ordering::Relaxed) != 0
}

/// One answered request, as the access line shows it.
pub struct AccessRecord<'a> {
    pub request_id: &'a str,
    pub remote: std::net::SocketAddr,
    pub method: &'a str,
    pub operation: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub duration_us: u64,
}

struct AccessBuffer {
    buf: Vec<u8>,
    lines: u64,
    /// The formatted `YYYY-MM-DDTHH:MM:SS` of `stamp_secs`, reused within the second.
    stamp: String,
    stamp_secs: i64,
}

thread_local! {
    static ACCESS_BUF: RefCell<AccessBuffer> = const {
        RefCell::new(AccessBuffer {
            buf: Vec::new(),
            lines: 0,
            stamp: String::new(),
            stamp_secs: i64::MIN,
        })
    };
}

/// Appends one access line to this core's buffer (when the access log is on).
pub fn access(r: &AccessRecord<'_>) {
    let mode = ACCESS.load(Ordering::Relaxed);
    if mode == 0 {
        return;
    }
    let full = ACCESS_BUF.with(|b| {
        let mut b = b.borrow_mut();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs() as i64;
        if secs != b.stamp_secs {
            b.stamp = second_stamp(secs);
            b.stamp_secs = secs;
        }
        let AccessBuffer {
            buf, lines, stamp, ..
        } = &mut *b;
        format_access(buf, stamp, now.subsec_micros(), mode == 2, r);
        *lines += 1;
        buf.len() >= ACCESS_BUFFER_BYTES
    });
    if full {
        flush_access();
    }
}

/// Hands this core's buffered access lines to the writer thread.
pub fn flush_access() {
    let taken = ACCESS_BUF.with(|b| {
        let mut b = b.borrow_mut();
        if b.buf.is_empty() {
            return None;
        }
        let lines = std::mem::take(&mut b.lines);
        // The next lines go into a buffer of its full size at once, not one grown (and
        // copied) again and again as lines arrive: one allocation per hand-over.
        let fresh = Vec::with_capacity(ACCESS_BUFFER_BYTES + ACCESS_LINE_SLACK_BYTES);
        Some((std::mem::replace(&mut b.buf, fresh), lines))
    });
    if let Some((buf, lines)) = taken {
        submit(buf, lines);
    }
}

/// Runs on every core: flushes its access lines at least every [`ACCESS_FLUSH_INTERVAL`].
pub async fn access_flush_task() {
    loop {
        glommio::timer::sleep(ACCESS_FLUSH_INTERVAL).await;
        flush_access();
    }
}

fn second_stamp(secs: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Formats one line exactly as `tracing_subscriber`'s text / JSON formats showed the
/// `info!(target: "access", ...)` event it replaces (string fields quoted, Display fields
/// bare), so tooling that reads the access log sees the same lines as before.
fn format_access(out: &mut Vec<u8>, stamp: &str, micros: u32, json: bool, r: &AccessRecord<'_>) {
    if json {
        let _ = write!(
            out,
            "{{\"timestamp\":\"{stamp}.{micros:06}Z\",\"level\":\"INFO\",\"fields\":{{\"request_id\":\""
        );
        json_escape(out, r.request_id);
        let _ = write!(out, "\",\"remote\":\"{}\",\"method\":\"", r.remote);
        json_escape(out, r.method);
        out.extend_from_slice(b"\",\"operation\":\"");
        json_escape(out, r.operation);
        out.extend_from_slice(b"\",\"path\":\"");
        json_escape(out, r.path);
        let _ = writeln!(
            out,
            "\",\"status\":{},\"bytes_in\":{},\"bytes_out\":{},\"duration_us\":{}}},\"target\":\"access\"}}",
            r.status, r.bytes_in, r.bytes_out, r.duration_us
        );
    } else {
        let _ = writeln!(
            out,
            "{stamp}.{micros:06}Z  INFO access: request_id={} remote={} method=\"{}\" operation=\"{}\" path={} status={} bytes_in={} bytes_out={} duration_us={}",
            r.request_id,
            r.remote,
            r.method,
            r.operation,
            r.path,
            r.status,
            r.bytes_in,
            r.bytes_out,
            r.duration_us
        );
    }
}

fn json_escape(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut tmp = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
            }
        }
    }
}

/// Whether log output should carry ANSI colours: only on a terminal, and never when
/// `NO_COLOR` is set to anything non-empty (no-color.org).
pub fn use_colour(no_color: Option<&std::ffi::OsStr>, stderr_is_terminal: bool) -> bool {
    stderr_is_terminal && no_color.map(|v| v.is_empty()).unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str) -> AccessRecord<'_> {
        AccessRecord {
            request_id: "ABC",
            remote: "127.0.0.1:5000".parse().unwrap(),
            method: "GET",
            operation: "GetObject",
            path,
            status: 200,
            bytes_in: 0,
            bytes_out: 4096,
            duration_us: 87,
        }
    }

    #[test]
    fn text_line_has_every_field() {
        let mut out = Vec::new();
        format_access(&mut out, "2026-12-02T01:02:03", 42, false, &record("/b/k"));
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            "2026-12-02T01:02:03.000042Z  INFO access: request_id=ABC remote=127.0.0.1:5000 \
             method=\"GET\" operation=\"GetObject\" path=/b/k status=200 bytes_in=0 \
             bytes_out=4096 duration_us=87\n"
        );
    }

    #[test]
    fn json_line_parses_and_escapes() {
        let mut out = Vec::new();
        format_access(
            &mut out,
            "2026-12-02T01:02:03",
            7,
            true,
            &record("/b/\"q\\\u{1}"),
        );
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["fields"]["path"], "/b/\"q\\\u{1}");
        assert_eq!(v["fields"]["status"], 200);
        assert_eq!(v["target"], "access");
        assert_eq!(v["timestamp"], "2026-12-02T01:02:03.000007Z");
        assert!(out.ends_with(b"\n"));
    }

    #[test]
    fn second_stamp_is_utc() {
        assert_eq!(second_stamp(0), "1970-01-01T00:00:00");
        assert_eq!(second_stamp(1_764_637_323), "2025-12-02T01:02:03");
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(use_colour(None, true));
        assert!(!use_colour(None, false));
        assert!(!use_colour(Some(OsStr::new("1")), true));
        assert!(use_colour(Some(OsStr::new("")), true));
    }
}

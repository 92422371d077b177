//! The workloads: one event loop (a current-thread tokio runtime) per core, each driving its share of the connections,
//! each connection with one request in flight. Phases (setup, prepare, measure, cleanup) each
//! start their executors afresh and return per-core statistics.

use super::args::{Cli, Workload, OBJECTS_MAX};
use super::http::{BodySink, Conn, HttpError, Response};
use super::s3::{self, Creds, EMPTY_SHA256_HEX, UNSIGNED_PAYLOAD};
use super::stats::{Op, Stats};
use base64::Engine;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Largest XML response body kept (listings, multipart replies).
const XML_KEEP_MAX: usize = 8 * 1024 * 1024;
/// Largest error body kept (to read its `<Code>`).
const ERROR_KEEP_MAX: usize = 4096;
/// Pause after a transport error before the connection tries again.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Most presigned targets cached per core.
const PRESIGN_CACHE_MAX: usize = 2 * OBJECTS_MAX;
/// Most listing pages the cleanup reads (1,000 keys each).
const CLEANUP_PAGES_MAX: usize = 100_000;

/// A counter alone on its cache line, so cores do not contend for it.
#[repr(align(64))]
#[derive(Default)]
pub struct Padded(pub AtomicU64);

/// Everything every executor needs; read-only except the counters.
pub struct Plan {
    pub cli: Cli,
    pub addr: SocketAddr,
    pub creds: Creds,
    pub cores: usize,
    /// Random bytes; every request body is a prefix of it.
    pub body: Vec<u8>,
    /// `x-amz-content-sha256` of an --obj.size body.
    pub obj_hash: String,
    /// Multipart: part count, part size, last part size, and their payload hashes.
    pub parts: u64,
    pub part_size: u64,
    pub last_part_size: u64,
    pub part_hash: String,
    pub last_part_hash: String,
    pub presign_expires_s: u64,
    /// Per core: requests finished and failed in the current phase.
    pub done_ops: Vec<Padded>,
    pub failed_ops: Vec<Padded>,
    /// Connections connected and waiting for the measured phase to start.
    ready: AtomicUsize,
    start: OnceLock<Instant>,
    cores_finished: AtomicUsize,
}

impl Plan {
    pub fn new(cli: Cli) -> Result<Plan, String> {
        cli.validate()?;
        let host = cli.host_port()?;
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&host)
            .map_err(|e| format!("--host {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("--host {host}: no address"))?;
        let cores = cli.executors();
        let multipart = cli.workload == Workload::Multipart;
        let (parts, part_size, last_part_size) = if multipart {
            let parts = cli.obj_size.div_ceil(cli.part_size).max(1);
            let last = cli.obj_size - (parts - 1) * cli.part_size;
            (parts, cli.part_size.min(cli.obj_size), last)
        } else {
            (0, 0, 0)
        };
        let body_len = if multipart { part_size } else { cli.obj_size };
        let body = random_bytes(body_len as usize);
        let hash = |n: u64| {
            if cli.sha256 {
                bleepstore::auth::sigv4::sha256_hex(&body[..n as usize])
            } else {
                UNSIGNED_PAYLOAD.to_string()
            }
        };
        let obj_hash = if multipart {
            String::new()
        } else {
            hash(cli.obj_size)
        };
        let (part_hash, last_part_hash) = if multipart {
            (hash(part_size), hash(last_part_size))
        } else {
            (String::new(), String::new())
        };
        let presign_expires_s = (cli.duration.as_secs() + 3600).min(7 * 24 * 3600);
        let creds = Creds {
            access_key: cli.access_key.clone(),
            secret_key: cli.secret_key.clone(),
            region: cli.region.clone(),
            host,
        };
        Ok(Plan {
            addr,
            creds,
            cores,
            body,
            obj_hash,
            parts,
            part_size,
            last_part_size,
            part_hash,
            last_part_hash,
            presign_expires_s,
            done_ops: (0..cores).map(|_| Padded::default()).collect(),
            failed_ops: (0..cores).map(|_| Padded::default()).collect(),
            ready: AtomicUsize::new(0),
            start: OnceLock::new(),
            cores_finished: AtomicUsize::new(0),
            cli,
        })
    }

    /// When the measured phase started (all connections open), if it has.
    pub fn started(&self) -> Option<Instant> {
        self.start.get().copied()
    }

    fn bucket_path(&self) -> String {
        format!("/{}", self.cli.bucket)
    }

    fn payload_hash_empty(&self) -> &'static str {
        if self.cli.sha256 {
            EMPTY_SHA256_HEX
        } else {
            UNSIGNED_PAYLOAD
        }
    }
}

/// A fast non-cryptographic generator (xorshift64*): request choice, not security.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() >> 32) * n) >> 32
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut rng = Rng::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(7),
    );
    let mut out = vec![0u8; n];
    for chunk in out.chunks_mut(8) {
        let v = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Create the bucket (one connection).
    Setup,
    /// Upload the objects get / mixed / delete / list need.
    Prepare,
    /// The measured workload.
    Measure,
    /// Delete what the run wrote (one connection).
    Cleanup,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Prepare => "prepare",
            Phase::Measure => "measure",
            Phase::Cleanup => "cleanup",
        }
    }
}

/// What one executor reports back.
pub struct CoreOutcome {
    pub stats: Stats,
    /// When its last request of the phase finished.
    pub end: Option<Instant>,
    /// Setup or cleanup failures, and objects cleaned up.
    pub fatal: Option<String>,
    pub cleaned: u64,
    pub connects: u64,
}

/// Runs one phase on its executors and returns what each reported. Shows a progress line
/// on stderr while it runs when stderr is a terminal and `progress` is set.
pub fn run_phase(
    plan: &Arc<Plan>,
    phase: Phase,
    progress: bool,
) -> Result<Vec<CoreOutcome>, String> {
    let (executors, conns) = match phase {
        Phase::Setup | Phase::Cleanup => (1, 1),
        Phase::Prepare | Phase::Measure => (plan.cores, plan.cli.concurrent),
    };
    for c in plan.done_ops.iter().chain(&plan.failed_ops) {
        c.0.store(0, Ordering::Relaxed);
    }
    plan.cores_finished.store(0, Ordering::Release);
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut handles = Vec::with_capacity(executors);
    for id in 0..executors {
        let plan = plan.clone();
        let pin = plan.cli.pin.then_some(id % cpus);
        let handle = std::thread::Builder::new()
            .name(format!("bench-{id}"))
            .spawn(move || -> Result<CoreOutcome, String> {
                if let Some(cpu) = pin {
                    pin_to(cpu);
                }
                let out = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("event loop {id}: {e}"))
                    .map(|rt| {
                        let local = tokio::task::LocalSet::new();
                        let main = core_main(plan.clone(), id, executors, conns, phase);
                        local.block_on(&rt, main)
                    });
                plan.cores_finished.fetch_add(1, Ordering::AcqRel);
                out
            })
            .map_err(|e| format!("start executor {id}: {e}"))?;
        handles.push(handle);
    }
    let show = progress && std::io::stderr().is_terminal();
    let began = Instant::now();
    let mut last_print = Instant::now();
    while plan.cores_finished.load(Ordering::Acquire) < executors {
        std::thread::sleep(Duration::from_millis(50));
        if show && last_print.elapsed() >= Duration::from_millis(500) {
            last_print = Instant::now();
            print_progress(plan, phase, began);
        }
    }
    if show {
        eprint!("\r{:<100}\r", "");
    }
    let mut out = Vec::with_capacity(executors);
    for (id, h) in handles.into_iter().enumerate() {
        let r = h
            .join()
            .map_err(|_| format!("executor {id} panicked"))
            .and_then(|r| r);
        out.push(r?);
    }
    Ok(out)
}

/// Pins the calling thread to `cpu` (--pin).
fn pin_to(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET stays within it for cpu < CPU_SETSIZE, and
    // sched_setaffinity only reads the set we pass.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu < libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

fn print_progress(plan: &Plan, phase: Phase, began: Instant) {
    let done: u64 = plan
        .done_ops
        .iter()
        .map(|c| c.0.load(Ordering::Relaxed))
        .sum();
    let failed: u64 = plan
        .failed_ops
        .iter()
        .map(|c| c.0.load(Ordering::Relaxed))
        .sum();
    let (elapsed, of) = match (phase, plan.started()) {
        (Phase::Measure, Some(s)) => (
            s.elapsed(),
            format!(" / {:.0}s", plan.cli.duration.as_secs_f64()),
        ),
        _ => (began.elapsed(), String::new()),
    };
    let secs = elapsed.as_secs_f64().max(1e-3);
    eprint!(
        "\r[{} {}] {:.1}s{of}  {done} ops  {:.0} ops/s  {failed} errors   ",
        plan.cli.workload.name(),
        phase.name(),
        secs,
        done as f64 / secs
    );
}

/// State one executor shares among its connections.
struct Core {
    id: usize,
    executors: usize,
    plan: Arc<Plan>,
    stats: RefCell<Stats>,
    presigned: RefCell<HashMap<(Op, u64), Rc<str>>>,
    live: RefCell<LiveKeys>,
    next_new: Cell<u64>,
    end: Cell<Option<Instant>>,
    fatal: RefCell<Option<String>>,
    cleaned: Cell<u64>,
}

/// Mixed: the keys this core may read or delete, and how many reads each has in flight
/// (a key being read is never deleted under the reader).
#[derive(Default)]
struct LiveKeys {
    keys: Vec<u64>,
    readers: HashMap<u64, u32>,
}

async fn core_main(
    plan: Arc<Plan>,
    id: usize,
    executors: usize,
    conns: usize,
    phase: Phase,
) -> CoreOutcome {
    let mut live = LiveKeys::default();
    if phase == Phase::Measure && plan.cli.workload == Workload::Mixed {
        live.keys = (0..plan.cli.objects as u64)
            .filter(|i| *i as usize % executors == id)
            .collect();
    }
    let core = Rc::new(Core {
        id,
        executors,
        stats: RefCell::new(Stats::default()),
        presigned: RefCell::new(HashMap::new()),
        live: RefCell::new(live),
        next_new: Cell::new(0),
        end: Cell::new(None),
        fatal: RefCell::new(None),
        cleaned: Cell::new(0),
        plan,
    });
    let mut tasks = Vec::new();
    for g in (id..conns).step_by(executors) {
        let core = core.clone();
        tasks.push(tokio::task::spawn_local(async move {
            let mut w = Worker::new(core, g);
            match phase {
                Phase::Setup => w.setup().await,
                Phase::Prepare => w.prepare().await,
                Phase::Measure => w.measure().await,
                Phase::Cleanup => w.cleanup().await,
            }
            w.conn.connects
        }));
    }
    let mut connects = 0;
    for t in tasks {
        connects += t.await.unwrap_or(0);
    }
    let stats = core.stats.replace(Stats::default());
    let fatal = core.fatal.borrow_mut().take();
    CoreOutcome {
        stats,
        end: core.end.get(),
        fatal,
        cleaned: core.cleaned.get(),
        connects,
    }
}

/// How a request's response body is treated.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Discard the body; keep an error document's first bytes.
    Errors,
    /// Keep the body (an XML answer we need).
    Xml,
}

/// One connection and its reusable buffers.
struct Worker {
    core: Rc<Core>,
    /// Global connection number (0..concurrent).
    g: usize,
    conn: Conn,
    head: Vec<u8>,
    keep: Vec<u8>,
    rng: Rng,
    path: String,
}

impl Worker {
    fn new(core: Rc<Core>, g: usize) -> Worker {
        let plan = &core.plan;
        let conn = Conn::new(plan.addr, plan.cli.timeout);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ ((g as u64 + 1) << 32);
        Worker {
            core,
            g,
            conn,
            head: Vec::with_capacity(2048),
            keep: Vec::with_capacity(ERROR_KEEP_MAX),
            rng: Rng::new(seed),
            path: String::with_capacity(256),
        }
    }

    fn plan(&self) -> &Plan {
        &self.core.plan
    }

    /// Sets `self.path` to the path of the object with index `i`: a prepared object below
    /// `--objects`, a mixed-workload new object above.
    fn set_obj_path(&mut self, i: u64) {
        use std::fmt::Write;
        let p = &self.core.plan;
        self.path.clear();
        let _ = if i < p.cli.objects as u64 {
            write!(self.path, "/{}/{}/obj/{:08}", p.cli.bucket, p.cli.prefix, i)
        } else {
            write!(
                self.path,
                "/{}/{}/new/{:010}",
                p.cli.bucket, p.cli.prefix, i
            )
        };
    }

    /// One request; records latency and bytes (or the error) under `op`. A transport error
    /// pauses the connection briefly so a dead server is not spun on.
    #[allow(clippy::too_many_arguments)]
    async fn call(
        &mut self,
        op: Op,
        method: &str,
        query: &str,
        body: &[u8],
        payload_hash: &str,
        extra: &[(&str, &str)],
        presigned: Option<&str>,
        keep: Keep,
        want_etag: bool,
    ) -> Option<Response> {
        let plan = self.core.plan.clone();
        match presigned {
            Some(target) => s3::presigned_head(
                &mut self.head,
                &plan.creds,
                method,
                target,
                extra,
                (!body.is_empty() || method == "PUT" || method == "POST")
                    .then_some(body.len() as u64),
            ),
            None => s3::signed_head(
                &mut self.head,
                &plan.creds,
                method,
                &self.path,
                query,
                extra,
                (!body.is_empty() || method == "PUT" || method == "POST")
                    .then_some(body.len() as u64),
                payload_hash,
            ),
        }
        let mut sink = BodySink {
            keep: Some(&mut self.keep),
            keep_max: if keep == Keep::Xml {
                XML_KEEP_MAX
            } else {
                ERROR_KEEP_MAX
            },
            keep_only_errors: keep == Keep::Errors,
        };
        let started = Instant::now();
        let result = self
            .conn
            .request(&mut self.head, body, method == "HEAD", want_etag, &mut sink)
            .await;
        let latency = started.elapsed();
        self.core
            .end
            .set(Some(Instant::now()).max(self.core.end.get()));
        let counters = (
            &plan.done_ops[self.core.id].0,
            &plan.failed_ops[self.core.id].0,
        );
        match result {
            Ok(resp) if (200..300).contains(&resp.status) => {
                // CompleteMultipartUpload can fail after its 200 head: the error is the body.
                if op == Op::MpComplete && self.keep.windows(7).any(|w| w == b"<Error>") {
                    let code = s3::xml_text(&self.keep, "Code").unwrap_or_default();
                    self.core
                        .stats
                        .borrow_mut()
                        .error(op, &format!("{} {code}", resp.status));
                    counters.1.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                let bytes = if matches!(op, Op::Put | Op::MpPart) {
                    body.len() as u64
                } else {
                    resp.body_len
                };
                self.core.stats.borrow_mut().ok(op, latency, bytes);
                counters.0.fetch_add(1, Ordering::Relaxed);
                Some(resp)
            }
            Ok(resp) => {
                let label = match s3::xml_text(&self.keep, "Code") {
                    Some(code) => format!("{} {code}", resp.status),
                    None => resp.status.to_string(),
                };
                self.core.stats.borrow_mut().error(op, &label);
                counters.1.fetch_add(1, Ordering::Relaxed);
                None
            }
            Err(e) => {
                self.core.stats.borrow_mut().error(op, &e.label());
                counters.1.fetch_add(1, Ordering::Relaxed);
                if matches!(
                    e,
                    HttpError::Connect(_) | HttpError::Io(_) | HttpError::Closed
                ) {
                    tokio::time::sleep(ERROR_BACKOFF).await;
                }
                None
            }
        }
    }

    /// A presigned target for prepared object `i`, cached per core.
    fn presigned_obj(&mut self, op: Op, method: &str, i: u64) -> Rc<str> {
        if let Some(t) = self.core.presigned.borrow().get(&(op, i)) {
            return t.clone();
        }
        self.set_obj_path(i);
        let plan = self.plan();
        let t: Rc<str> =
            s3::presign(&plan.creds, method, &self.path, "", plan.presign_expires_s).into();
        let mut cache = self.core.presigned.borrow_mut();
        if cache.len() < PRESIGN_CACHE_MAX {
            cache.insert((op, i), t.clone());
        }
        t
    }

    /// GET / HEAD / DELETE / PUT of object `i`.
    async fn object_op(&mut self, op: Op, i: u64) -> Option<Response> {
        let plan = self.core.plan.clone();
        let method = match op {
            Op::Get => "GET",
            Op::Stat => "HEAD",
            Op::Delete => "DELETE",
            _ => "PUT",
        };
        let presigned = if plan.cli.presigned {
            if op == Op::Put {
                self.set_obj_path(i);
                Some(Rc::from(s3::presign(
                    &plan.creds,
                    method,
                    &self.path,
                    "",
                    plan.presign_expires_s,
                )))
            } else {
                Some(self.presigned_obj(op, method, i))
            }
        } else {
            None
        };
        self.set_obj_path(i);
        let (body, hash): (&[u8], &str) = if op == Op::Put {
            (&plan.body[..plan.cli.obj_size as usize], &plan.obj_hash)
        } else {
            (&[], plan.payload_hash_empty())
        };
        self.call(
            op,
            method,
            "",
            body,
            hash,
            &[],
            presigned.as_deref(),
            Keep::Errors,
            false,
        )
        .await
    }

    async fn setup(&mut self) {
        let plan = self.core.plan.clone();
        self.path = plan.bucket_path();
        let resp = self
            .call(
                Op::Put,
                "PUT",
                "",
                &[],
                plan.payload_hash_empty(),
                &[],
                None,
                Keep::Errors,
                false,
            )
            .await;
        if resp.is_some() {
            return;
        }
        // Already ours is fine; anything else stops the run. Some servers (s3s-fs, for one)
        // answer BucketAlreadyExists to the bucket's own owner: usable if HeadBucket
        // succeeds with our credentials.
        let exists = {
            let stats = self.core.stats.borrow();
            stats
                .get(Op::Put)
                .error_labels
                .keys()
                .all(|l| l.contains("BucketAlreadyExists"))
        };
        let usable = exists && {
            self.path = plan.bucket_path();
            self.call(
                Op::Stat,
                "HEAD",
                "",
                &[],
                plan.payload_hash_empty(),
                &[],
                None,
                Keep::Errors,
                false,
            )
            .await
            .is_some()
        };
        let stats = self.core.stats.borrow();
        let s = stats.get(Op::Put);
        let mine = usable
            || s.error_labels
                .keys()
                .all(|l| l.contains("BucketAlreadyOwnedByYou"));
        if !mine {
            let labels: Vec<String> = s.error_labels.keys().cloned().collect();
            *self.core.fatal.borrow_mut() = Some(format!(
                "create bucket {}: {}",
                plan.cli.bucket,
                labels.join(", ")
            ));
        }
    }

    async fn prepare(&mut self) {
        let plan = self.core.plan.clone();
        let mut i = self.g as u64;
        while i < plan.cli.objects as u64 {
            if self.object_op(Op::Put, i).await.is_none() {
                // Retry once; a second failure is recorded and the run stops after the phase.
                let _ = self.object_op(Op::Put, i).await;
            }
            i += plan.cli.concurrent as u64;
        }
    }

    async fn measure(&mut self) {
        let plan = self.core.plan.clone();
        // Open the connection first so the measured window does not pay for it, then start
        // together with every other connection.
        let _ = self.conn.connect().await;
        plan.ready.fetch_add(1, Ordering::AcqRel);
        let wait_until = Instant::now() + plan.cli.timeout.max(Duration::from_secs(60));
        while plan.ready.load(Ordering::Acquire) < plan.cli.concurrent
            && Instant::now() < wait_until
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let start = *plan.start.get_or_init(Instant::now);
        let deadline = start + plan.cli.duration;
        match plan.cli.workload {
            Workload::Put => {
                let mut seq = 0u64;
                while Instant::now() < deadline {
                    self.put_new(seq).await;
                    seq += 1;
                }
            }
            Workload::Get => {
                while Instant::now() < deadline {
                    let i = self.rng.below(plan.cli.objects as u64);
                    self.object_op(Op::Get, i).await;
                }
            }
            Workload::Overwrite => {
                while Instant::now() < deadline {
                    let i = self.rng.below(plan.cli.objects as u64);
                    self.object_op(Op::Put, i).await;
                }
            }
            Workload::Delete => {
                let mut i = self.g as u64;
                while i < plan.cli.objects as u64 && Instant::now() < deadline {
                    self.object_op(Op::Delete, i).await;
                    i += plan.cli.concurrent as u64;
                }
            }
            Workload::List => self.list_loop(deadline).await,
            Workload::Mixed => self.mixed_loop(deadline).await,
            Workload::Multipart => {
                let mut seq = 0u64;
                while Instant::now() < deadline {
                    self.multipart_upload(seq, deadline).await;
                    seq += 1;
                }
            }
        }
    }

    /// PUT of a fresh key under `put/` (put workload).
    async fn put_new(&mut self, seq: u64) {
        use std::fmt::Write;
        let plan = self.core.plan.clone();
        self.path.clear();
        let _ = write!(
            self.path,
            "/{}/{}/put/{}/{:010}",
            plan.cli.bucket, plan.cli.prefix, self.g, seq
        );
        let presigned = plan
            .cli
            .presigned
            .then(|| s3::presign(&plan.creds, "PUT", &self.path, "", plan.presign_expires_s));
        let body = &plan.body[..plan.cli.obj_size as usize];
        self.call(
            Op::Put,
            "PUT",
            "",
            body,
            &plan.obj_hash,
            &[],
            presigned.as_deref(),
            Keep::Errors,
            false,
        )
        .await;
    }

    async fn mixed_loop(&mut self, deadline: Instant) {
        let plan = self.core.plan.clone();
        let c = &plan.cli;
        let weights = [
            (Op::Get, c.get_distrib),
            (Op::Put, c.put_distrib),
            (Op::Delete, c.delete_distrib),
            (Op::Stat, c.stat_distrib),
        ];
        while Instant::now() < deadline {
            let mut roll = self.rng.below(100) as u32;
            let mut op = Op::Get;
            for (o, w) in weights {
                if roll < w {
                    op = o;
                    break;
                }
                roll -= w;
            }
            match op {
                Op::Get | Op::Stat => {
                    let Some(k) = self.pick_live(false) else {
                        self.mixed_put().await;
                        continue;
                    };
                    self.object_op(op, k).await;
                    let mut live = self.core.live.borrow_mut();
                    if let Some(r) = live.readers.get_mut(&k) {
                        *r -= 1;
                        if *r == 0 {
                            live.readers.remove(&k);
                        }
                    }
                }
                Op::Delete => match self.pick_live(true) {
                    Some(k) => {
                        self.object_op(Op::Delete, k).await;
                    }
                    None => self.mixed_put().await,
                },
                _ => self.mixed_put().await,
            }
        }
    }

    /// A random live key: for reading (its reader count goes up) or for deleting (taken out
    /// of the set; only keys nobody is reading qualify).
    fn pick_live(&mut self, delete: bool) -> Option<u64> {
        let mut live = self.core.live.borrow_mut();
        if live.keys.is_empty() {
            return None;
        }
        for _ in 0..8 {
            let idx = self.rng.below(live.keys.len() as u64) as usize;
            let k = live.keys[idx];
            if delete {
                if live.readers.contains_key(&k) {
                    continue;
                }
                live.keys.swap_remove(idx);
            } else {
                *live.readers.entry(k).or_default() += 1;
            }
            return Some(k);
        }
        None
    }

    /// Mixed: PUT of a new key, readable once it succeeded.
    async fn mixed_put(&mut self) {
        let plan = self.core.plan.clone();
        let n = self.core.next_new.get();
        self.core.next_new.set(n + 1);
        let k = plan.cli.objects as u64 + self.core.id as u64 + n * self.core.executors as u64;
        if self.object_op(Op::Put, k).await.is_some() {
            self.core.live.borrow_mut().keys.push(k);
        }
    }

    async fn list_loop(&mut self, deadline: Instant) {
        let plan = self.core.plan.clone();
        let prefix = format!("{}/obj/", plan.cli.prefix);
        let mut token: Option<String> = None;
        while Instant::now() < deadline {
            let resp = self
                .list_page(
                    Op::List,
                    &prefix,
                    token.as_deref(),
                    plan.cli.max_keys,
                    plan.cli.presigned,
                )
                .await;
            token = match resp {
                Some(_) if s3::xml_text(&self.keep, "IsTruncated").as_deref() == Some("true") => {
                    s3::xml_text(&self.keep, "NextContinuationToken")
                }
                _ => None,
            };
        }
    }

    /// One ListObjectsV2 page; the XML is left in `self.keep`.
    async fn list_page(
        &mut self,
        op: Op,
        prefix: &str,
        token: Option<&str>,
        max_keys: u32,
        presigned: bool,
    ) -> Option<Response> {
        let plan = self.core.plan.clone();
        self.path = plan.bucket_path();
        let mut query = format!(
            "list-type=2&max-keys={max_keys}&prefix={}",
            s3::uri_encode(prefix, true)
        );
        if let Some(t) = token {
            query.push_str("&continuation-token=");
            query.push_str(&s3::uri_encode(t, true));
        }
        let target = presigned.then(|| {
            s3::presign(
                &plan.creds,
                "GET",
                &self.path,
                &query,
                plan.presign_expires_s,
            )
        });
        self.call(
            op,
            "GET",
            &query,
            &[],
            plan.payload_hash_empty(),
            &[],
            target.as_deref(),
            Keep::Xml,
            false,
        )
        .await
    }

    /// CreateMultipartUpload, every part, CompleteMultipartUpload; aborted on a failure or
    /// when the deadline passes between parts.
    async fn multipart_upload(&mut self, seq: u64, deadline: Instant) {
        use std::fmt::Write;
        let plan = self.core.plan.clone();
        self.path.clear();
        let _ = write!(
            self.path,
            "/{}/{}/mp/{}/{:010}",
            plan.cli.bucket, plan.cli.prefix, self.g, seq
        );
        let presign = |path: &str, method: &str, query: &str| {
            plan.cli
                .presigned
                .then(|| s3::presign(&plan.creds, method, path, query, plan.presign_expires_s))
        };
        let empty_hash = plan.payload_hash_empty();
        let target = presign(&self.path, "POST", "uploads");
        if self
            .call(
                Op::MpCreate,
                "POST",
                "uploads",
                &[],
                empty_hash,
                &[],
                target.as_deref(),
                Keep::Xml,
                false,
            )
            .await
            .is_none()
        {
            return;
        }
        let Some(upload_id) = s3::xml_text(&self.keep, "UploadId") else {
            self.core
                .stats
                .borrow_mut()
                .error(Op::MpCreate, "no UploadId in reply");
            return;
        };
        let id_enc = s3::uri_encode(&upload_id, true);
        let mut etags: Vec<String> = Vec::with_capacity(plan.parts as usize);
        for n in 1..=plan.parts {
            if Instant::now() >= deadline {
                break;
            }
            let (size, hash) = if n == plan.parts {
                (plan.last_part_size, &plan.last_part_hash)
            } else {
                (plan.part_size, &plan.part_hash)
            };
            let query = format!("partNumber={n}&uploadId={id_enc}");
            let target = presign(&self.path, "PUT", &query);
            let body = &plan.body[..size as usize];
            let resp = self
                .call(
                    Op::MpPart,
                    "PUT",
                    &query,
                    body,
                    hash,
                    &[],
                    target.as_deref(),
                    Keep::Errors,
                    true,
                )
                .await;
            match resp.and_then(|r| r.etag) {
                Some(e) => etags.push(e),
                None => break,
            }
        }
        let query = format!("uploadId={id_enc}");
        if etags.len() as u64 != plan.parts {
            // Untimed abort so the server can free the parts.
            let target = presign(&self.path, "DELETE", &query);
            let mut sink = BodySink::discard();
            match target {
                Some(t) => s3::presigned_head(&mut self.head, &plan.creds, "DELETE", &t, &[], None),
                None => s3::signed_head(
                    &mut self.head,
                    &plan.creds,
                    "DELETE",
                    &self.path,
                    &query,
                    &[],
                    None,
                    empty_hash,
                ),
            }
            let _ = self
                .conn
                .request(&mut self.head, &[], false, false, &mut sink)
                .await;
            return;
        }
        let mut xml = String::with_capacity(64 + etags.len() * 80);
        xml.push_str("<CompleteMultipartUpload>");
        for (i, e) in etags.iter().enumerate() {
            let _ = write!(
                xml,
                "<Part><PartNumber>{}</PartNumber><ETag>{}</ETag></Part>",
                i + 1,
                s3::escape(e)
            );
        }
        xml.push_str("</CompleteMultipartUpload>");
        let hash = if plan.cli.sha256 {
            bleepstore::auth::sigv4::sha256_hex(xml.as_bytes())
        } else {
            UNSIGNED_PAYLOAD.to_string()
        };
        let target = presign(&self.path, "POST", &query);
        self.call(
            Op::MpComplete,
            "POST",
            &query,
            xml.as_bytes(),
            &hash,
            &[],
            target.as_deref(),
            Keep::Xml,
            false,
        )
        .await;
    }

    /// Deletes what the run wrote: everything under the prefix, or with --no-prepare only
    /// what the measured phase created (prepared objects stay for the next run).
    async fn cleanup(&mut self) {
        let plan = self.core.plan.clone();
        let p = &plan.cli.prefix;
        let prefixes: Vec<String> = if plan.cli.no_prepare {
            vec![format!("{p}/put/"), format!("{p}/new/"), format!("{p}/mp/")]
        } else {
            vec![format!("{p}/")]
        };
        for prefix in prefixes {
            for _ in 0..CLEANUP_PAGES_MAX {
                if self
                    .list_page(Op::List, &prefix, None, 1000, false)
                    .await
                    .is_none()
                {
                    self.cleanup_failed("list");
                    return;
                }
                let keys = s3::xml_texts(&self.keep, "Key");
                if keys.is_empty() {
                    break;
                }
                let mut xml = String::from("<Delete><Quiet>true</Quiet>");
                for k in &keys {
                    xml.push_str("<Object><Key>");
                    xml.push_str(&s3::escape(k));
                    xml.push_str("</Key></Object>");
                }
                xml.push_str("</Delete>");
                let md5 = base64::engine::general_purpose::STANDARD
                    .encode(bleepstore::hash::md5::Md5::digest(xml.as_bytes()));
                let hash = if plan.cli.sha256 {
                    bleepstore::auth::sigv4::sha256_hex(xml.as_bytes())
                } else {
                    UNSIGNED_PAYLOAD.to_string()
                };
                self.path = plan.bucket_path();
                let resp = self
                    .call(
                        Op::Delete,
                        "POST",
                        "delete",
                        xml.as_bytes(),
                        &hash,
                        &[("content-md5", &md5)],
                        None,
                        Keep::Xml,
                        false,
                    )
                    .await;
                if resp.is_none() || self.keep.windows(7).any(|w| w == b"<Error>") {
                    self.cleanup_failed("delete");
                    return;
                }
                self.core
                    .cleaned
                    .set(self.core.cleaned.get() + keys.len() as u64);
            }
        }
    }

    fn cleanup_failed(&self, what: &str) {
        let stats = self.core.stats.borrow();
        let labels: Vec<String> = [Op::List, Op::Delete]
            .iter()
            .flat_map(|op| stats.get(*op).error_labels.keys().cloned())
            .collect();
        let detail = if labels.is_empty() {
            "error inside a 200 reply".to_string()
        } else {
            labels.join(", ")
        };
        *self.core.fatal.borrow_mut() = Some(format!("cleanup {what} failed: {detail}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_below_is_in_range_and_spread() {
        let mut r = Rng::new(42);
        let mut seen = [0u32; 10];
        for _ in 0..10_000 {
            let v = r.below(10) as usize;
            seen[v] += 1;
        }
        assert!(seen.iter().all(|n| *n > 800), "{seen:?}");
    }

    #[test]
    fn multipart_plan_splits_parts() {
        use clap::Parser;
        let cli = Cli::parse_from([
            "b",
            "multipart",
            "--obj.size",
            "12MiB",
            "--part.size",
            "5MiB",
            "--host",
            "127.0.0.1:1",
        ]);
        let p = Plan::new(cli).unwrap();
        assert_eq!(
            (p.parts, p.part_size, p.last_part_size),
            (3, 5 << 20, 2 << 20)
        );
        assert_eq!(p.body.len(), 5 << 20);
        assert_eq!(p.part_hash, UNSIGNED_PAYLOAD);
    }
}

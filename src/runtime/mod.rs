//! Cores and sharding: one glommio executor per core, each pinned, each with its own
//! SO_REUSEPORT listener, each owning the metadata shards `s` with `s % executors == id`.
//!
//! Cores share nothing mutable. Work for a shard another core owns travels as a message (a
//! boxed closure) to that core's inbox and the answer comes back on a oneshot channel, so the
//! request path holds no Mutex or RwLock.

pub mod budget;
pub mod key_lock;
pub mod md5_batch;
pub mod offload;

use crate::config::Config;
use crate::meta::shard::MetaShard;
use crate::s3::users::Users;
use futures::future::LocalBoxFuture;
use glommio::{LocalExecutorBuilder, Placement};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A unit of work sent to another core; it builds its future there.
pub type Job = Box<dyn FnOnce() -> LocalBoxFuture<'static, ()> + Send>;

/// How often each core looks for expired multipart uploads (also once at start-up).
const REAP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Messages waiting in one core's inbox, at most; senders wait beyond it.
const INBOX_MAX: usize = 4096;

/// What every core knows; immutable after start-up except the readiness counters.
pub struct Shared {
    pub config: Config,
    pub users: Users,
    pub executors: u32,
    pub shard_count: u32,
    pub data_dir: PathBuf,
    /// The address every core binds (a configured port 0 resolved once, so cores agree).
    pub bind_addr: std::net::SocketAddr,
    pub started_at: std::time::SystemTime,
    inboxes: Vec<async_channel::Sender<Job>>,
    /// Cores that have opened their shards and are listening.
    pub cores_ready: AtomicUsize,
    /// Start-up recovery (sweeps) finished.
    pub recovered: AtomicBool,
    /// The upstream holding object bytes, for gateway backends (None: local disk).
    pub gateway: Option<Arc<crate::storage::gateway::bridge::Gateway>>,
}

impl Shared {
    /// Every core is listening and, for a gateway, the upstream answers.
    pub fn is_ready(&self) -> bool {
        self.cores_ready.load(Ordering::Acquire) == self.executors as usize
            && self
                .gateway
                .as_ref()
                .map(|g| g.is_healthy())
                .unwrap_or(true)
    }
}

/// The state one core owns.
pub struct Core {
    pub id: u32,
    pub shared: Arc<Shared>,
    pub shards: HashMap<u32, Rc<MetaShard>>,
    pub key_cache: RefCell<crate::auth::sigv4::SigningKeyCache>,
    pub connections: std::cell::Cell<usize>,
}

thread_local! {
    static CORE: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// The current core. Only called from code running on an executor started by `run`.
pub fn core() -> Rc<Core> {
    CORE.with(|c| c.borrow().clone())
        .expect("runtime::core() called outside a BleepStore executor")
}

pub fn shard_for_bucket(bucket: &str) -> u32 {
    let c = core();
    crate::meta::shard_of(bucket, c.shared.shard_count)
}

/// Runs `f` on the core that owns `shard`, with that shard, and returns its result.
pub async fn on_shard<R, F, Fut>(shard: u32, f: F) -> R
where
    R: Send + 'static,
    F: FnOnce(Rc<MetaShard>) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    let c = core();
    if let Some(s) = c.shards.get(&shard) {
        return f(s.clone()).await;
    }
    let owner = (shard % c.shared.executors) as usize;
    let (tx, rx) = futures::channel::oneshot::channel();
    let job: Job = Box::new(move || {
        Box::pin(async move {
            let s = core()
                .shards
                .get(&shard)
                .cloned()
                .expect("shard routed to its owner");
            let _ = tx.send(f(s).await);
        })
    });
    if c.shared.inboxes[owner].send(job).await.is_err() {
        panic!("core {owner} inbox closed: an executor has died");
    }
    rx.await.expect("owner core dropped a shard job")
}

/// Applies a metadata command on the shard that owns `bucket`, durably.
pub async fn apply_for_bucket(
    bucket: &str,
    cmd: crate::meta::commands::MetaCmd,
    sync_dirs: Vec<PathBuf>,
) -> crate::error::S3Result<crate::meta::commands::MetaReply> {
    on_shard(shard_for_bucket(bucket), move |s| async move {
        s.apply(cmd, sync_dirs).await
    })
    .await
}

/// Runs `f` on every core and collects the results (ListBuckets, metrics scrapes).
pub async fn on_all_cores<R, F, Fut>(f: F) -> Vec<R>
where
    R: Send + 'static,
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = R> + 'static,
{
    let c = core();
    let mut waits = Vec::new();
    for owner in 0..c.shared.executors as usize {
        let (tx, rx) = futures::channel::oneshot::channel();
        let f = f.clone();
        if owner == c.id as usize {
            let _ = tx.send(f().await);
        } else {
            let job: Job = Box::new(move || {
                Box::pin(async move {
                    let _ = tx.send(f().await);
                })
            });
            if c.shared.inboxes[owner].send(job).await.is_err() {
                panic!("core {owner} inbox closed: an executor has died");
            }
        }
        waits.push(rx);
    }
    let mut out = Vec::with_capacity(waits.len());
    for rx in waits {
        out.push(rx.await.expect("core dropped a broadcast job"));
    }
    out
}

/// Starts every core and serves until killed (there is no clean-shutdown path).
pub fn run(config: Config) -> Result<(), String> {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let executors = if config.server.shards == 0 {
        cpus
    } else {
        config.server.shards
    } as u32;
    let data_dir = config.storage.data_dir.clone();
    crate::storage::local::prepare_data_dir(&data_dir)
        .map_err(|e| format!("data dir {}: {e}", data_dir.display()))?;
    let shard_count = crate::meta::shard_count(&data_dir, executors)
        .map_err(|e| format!("shard count in {}: {e}", data_dir.display()))?;
    let users = Users::from_config(&config.auth, &config.server.region);
    let bind_addr = resolve_bind(&config.server.bind)?;
    warn_default_credentials(&config, bind_addr);
    let gateway = crate::storage::gateway::start(&config)?;
    let mut receivers = Vec::new();
    let mut inboxes = Vec::new();
    for _ in 0..executors {
        let (tx, rx) = async_channel::bounded::<Job>(INBOX_MAX);
        inboxes.push(tx);
        receivers.push(rx);
    }
    let shared = Arc::new(Shared {
        config,
        users,
        executors,
        shard_count,
        data_dir,
        bind_addr,
        started_at: std::time::SystemTime::now(),
        inboxes,
        cores_ready: AtomicUsize::new(0),
        recovered: AtomicBool::new(false),
        gateway,
    });
    crate::observe::metrics::init(executors as usize);
    offload::remember_process_cpus();
    let mut handles = Vec::new();
    for (id, inbox) in receivers.into_iter().enumerate() {
        let shared = shared.clone();
        let handle = LocalExecutorBuilder::new(Placement::Fixed(id % cpus))
            .name(&format!("core-{id}"))
            .spawn(move || async move { core_main(id as u32, shared, inbox).await })
            .map_err(|e| format!("start core {id}: {e}"))?;
        handles.push(handle);
    }
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(format!("core failed: {e}")),
        }
    }
    Ok(())
}

async fn core_main(
    id: u32,
    shared: Arc<Shared>,
    inbox: async_channel::Receiver<Job>,
) -> Result<(), String> {
    let mut shards = HashMap::new();
    for s in (0..shared.shard_count).filter(|s| s % shared.executors == id) {
        let path = crate::meta::shard_path(&shared.data_dir, s);
        let shard = Rc::new(MetaShard::open(
            s,
            &path,
            shared.config.metadata.group_commit_max,
        )?);
        shards.insert(s, shard);
    }
    let core = Rc::new(Core {
        id,
        shared: shared.clone(),
        shards,
        key_cache: RefCell::new(crate::auth::sigv4::SigningKeyCache::new()),
        connections: std::cell::Cell::new(0),
    });
    CORE.with(|c| *c.borrow_mut() = Some(core.clone()));
    md5_batch::enable_on_this_thread();
    budget::init(shared.config.limits.buffered_body_bytes_per_core_max);
    crate::storage::cache::init((shared.config.cache.size / shared.executors as u64) as usize);
    for shard in core.shards.values() {
        glommio::spawn_local(shard.clone().run_committer()).detach();
    }
    glommio::spawn_local(crate::observe::log::access_flush_task()).detach();
    glommio::spawn_local(async move {
        while let Ok(job) = inbox.recv().await {
            glommio::spawn_local(job()).detach();
        }
    })
    .detach();
    let listener =
        listen(shared.bind_addr).map_err(|e| format!("server.bind {}: {e}", shared.bind_addr))?;
    if id == 0 {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        println!(
            "bleepstore listening on http://{addr} ({} cores, {} metadata shards, data in {})",
            shared.executors,
            shared.shard_count,
            shared.data_dir.display()
        );
        glommio::spawn_local(crate::storage::local::sweep_orphans_task(shared.clone())).detach();
    }
    let (ttl_s, dir, gateway) = (
        shared.config.multipart.upload_ttl_s,
        shared.data_dir.clone(),
        shared.gateway.clone(),
    );
    glommio::spawn_local(async move {
        loop {
            crate::s3::multipart::reap_expired(ttl_s, dir.clone(), gateway.clone()).await;
            glommio::timer::sleep(REAP_INTERVAL).await;
        }
    })
    .detach();
    shared.cores_ready.fetch_add(1, Ordering::AcqRel);
    let service = Rc::new(crate::s3::service::S3Service::new(shared.clone(), id));
    let limits = Rc::new(crate::http::conn::Limits {
        head_bytes_max: shared.config.server.request_head_bytes_max,
        header_count_max: shared.config.server.header_count_max,
        idle_timeout_ms: shared.config.server.idle_timeout_ms,
        header_timeout_ms: shared.config.server.header_timeout_ms,
        body_timeout_ms: shared.config.server.body_timeout_ms,
    });
    let max_conns = shared.config.server.connections_per_core_max;
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if core.connections.get() >= max_conns {
            drop(stream);
            continue;
        }
        let remote = stream
            .peer_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
        core.connections.set(core.connections.get() + 1);
        crate::observe::metrics::connection_opened(id as usize);
        let service = service.clone();
        let limits = limits.clone();
        let core2 = core.clone();
        glommio::spawn_local(async move {
            crate::http::conn::serve(stream, remote, &limits, &*service).await;
            core2.connections.set(core2.connections.get() - 1);
            crate::observe::metrics::connection_closed(core2.id as usize);
        })
        .detach();
    }
}

/// Anyone who can reach a non-loopback address could sign with the credentials printed in
/// the README: say so once at start, so an operator does not ship them by accident.
fn warn_default_credentials(config: &Config, bind: std::net::SocketAddr) {
    let defaults = crate::config::AuthConfig::default();
    if !bind.ip().is_loopback()
        && config.auth.access_key == defaults.access_key
        && config.auth.secret_key == defaults.secret_key
    {
        tracing::warn!(
            "listening on {bind} with the built-in default credentials: set auth.access_key and auth.secret_key"
        );
    }
}

/// Pending connections the kernel queues per core's listener before accept.
const LISTEN_BACKLOG: i32 = 4096;

/// A listener of this core's own: SO_REUSEPORT so every core binds the same address and the
/// kernel spreads connections; SO_REUSEADDR so a restart right after `kill -9` is not
/// refused by the dead process's TIME_WAIT connections.
fn listen(addr: std::net::SocketAddr) -> std::io::Result<glommio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::unix::io::{FromRawFd, IntoRawFd};
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let sk = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    sk.set_reuse_address(true)?;
    sk.set_reuse_port(true)?;
    sk.bind(&addr.into())?;
    sk.listen(LISTEN_BACKLOG)?;
    // SAFETY: the fd is a listening TCP socket we own; ownership moves to the listener.
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(sk.into_raw_fd()) })
}

/// Binds once up front so a port conflict is one clear error, not a failure per core, and so
/// port 0 becomes one concrete port shared by every core's listener.
///
/// Our cores' listeners use SO_REUSEPORT among themselves, so the kernel would also let a
/// second server of the same user join the port and split requests between two stores.
/// Before binding, the address is therefore asked for `/healthz`: if an HTTP server answers
/// there, start-up stops. (Binding without SO_REUSEPORT would detect it too, but is also
/// refused for a while by the listening socket of a `kill -9`ed predecessor, and crash-only
/// restarts must not wait for it.)
fn resolve_bind(bind: &str) -> Result<std::net::SocketAddr, String> {
    use socket2::{Domain, Protocol, Socket, Type};
    let addr: std::net::SocketAddr = bind
        .parse()
        .map_err(|e| format!("server.bind {bind}: {e}"))?;
    if addr.port() != 0 && someone_answers(addr) {
        return Err(format!(
            "server.bind {bind}: address in use (another server answers there)"
        ));
    }
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let probe = || -> std::io::Result<std::net::SocketAddr> {
        let sk = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        sk.set_reuse_address(true)?;
        sk.set_reuse_port(true)?;
        sk.bind(&addr.into())?;
        sk.local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("not an inet address"))
    };
    probe().map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            format!("server.bind {bind}: address in use (is another server running there?)")
        }
        _ => format!("server.bind {bind}: {e}"),
    })
}

/// Whether an HTTP server answers at `addr` now (a wildcard address is dialled on loopback).
/// A TCP connect alone is not enough: for a moment after a `kill -9` the dead server's
/// listening socket still completes handshakes (its io_uring is torn down asynchronously),
/// but nothing answers a request on it.
fn someone_answers(addr: std::net::SocketAddr) -> bool {
    use std::io::{Read, Write};
    const DIAL_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
    // A live BleepStore answers /healthz from its event loop in milliseconds; a kill -9ed
    // predecessor's lingering listener accepts but stays silent until its process has
    // unmapped its memory (seen: 1.6 s with 100,000 objects), and a restart must not wait
    // for that.
    const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(if addr.is_ipv6() {
            std::net::Ipv6Addr::LOCALHOST.into()
        } else {
            std::net::Ipv4Addr::LOCALHOST.into()
        });
    }
    let Ok(mut conn) = std::net::TcpStream::connect_timeout(&target, DIAL_TIMEOUT) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(ANSWER_TIMEOUT));
    let _ = conn.set_write_timeout(Some(ANSWER_TIMEOUT));
    let request =
        b"GET /healthz HTTP/1.1\r\nHost: bleepstore-start-probe\r\nConnection: close\r\n\r\n";
    if conn.write_all(request).is_err() {
        return false;
    }
    let mut answer = [0u8; 5];
    conn.read_exact(&mut answer).is_ok() && &answer == b"HTTP/"
}

//! The mesh of cores: one glommio executor per core (started by `server::run`), each owning
//! the metadata shards `s` with `s % executors == id`.
//!
//! Cores share nothing mutable. Work for a shard another core owns travels as a message (a
//! boxed closure) to that core's inbox and the answer comes back on a oneshot channel, so the
//! request path holds no Mutex or RwLock.

pub mod budget;
pub mod key_lock;
pub mod md5_batch;
pub mod offload;

use crate::config::Config;
use futures::future::LocalBoxFuture;
use std::cell::RefCell;
use std::future::Future;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A unit of work sent to another core; it builds its future there.
pub type Job = Box<dyn FnOnce() -> LocalBoxFuture<'static, ()> + Send>;

/// Messages waiting in one core's inbox, at most; senders wait beyond it.
const INBOX_MAX: usize = 4096;

/// What every core knows; immutable after start-up except the readiness counters.
pub struct Shared {
    pub config: Config,
    pub executors: u32,
    pub shard_count: u32,
    pub data_dir: PathBuf,
    /// The address every core binds (a configured port 0 resolved once, so cores agree).
    pub bind_addr: std::net::SocketAddr,
    pub started_at: std::time::SystemTime,
    pub inboxes: Inboxes,
    /// Cores that have opened their shards and are listening.
    pub cores_ready: AtomicUsize,
    /// Start-up recovery (sweeps) finished.
    pub recovered: AtomicBool,
}

impl Shared {
    /// Every core has opened its shards and is listening.
    pub fn all_cores_ready(&self) -> bool {
        self.cores_ready.load(Ordering::Acquire) == self.executors as usize
    }
}

/// The sending ends of every core's inbox, in core order.
pub struct Inboxes(Vec<async_channel::Sender<Job>>);

/// The receiving end of one core's inbox.
pub struct Inbox(async_channel::Receiver<Job>);

/// One bounded inbox per core: the senders every core shares, and each core's receiver.
pub fn inboxes(executors: u32) -> (Inboxes, Vec<Inbox>) {
    let (mut senders, mut receivers) = (Vec::new(), Vec::new());
    for _ in 0..executors {
        let (tx, rx) = async_channel::bounded::<Job>(INBOX_MAX);
        senders.push(tx);
        receivers.push(Inbox(rx));
    }
    (Inboxes(senders), receivers)
}

impl Inboxes {
    /// Queues `job` on core `owner`, waiting while its inbox is full.
    async fn send(&self, owner: usize, job: Job) {
        if self.0[owner].send(job).await.is_err() {
            panic!("core {owner} inbox closed: an executor has died");
        }
    }
}

/// The state one core owns.
pub struct Core {
    pub id: u32,
    pub shared: Arc<Shared>,
}

thread_local! {
    static CORE: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Makes `core` this executor's core (what [`core`] answers from now on) and starts running
/// the jobs other cores send to its inbox.
pub fn enter(core: Core, inbox: Inbox) -> Rc<Core> {
    let core = Rc::new(core);
    CORE.with(|c| *c.borrow_mut() = Some(core.clone()));
    glommio::spawn_local(async move {
        while let Ok(job) = inbox.0.recv().await {
            glommio::spawn_local(job()).detach();
        }
    })
    .detach();
    core
}

/// The current core. Only called from code running on an executor after [`enter`].
pub fn core() -> Rc<Core> {
    CORE.with(|c| c.borrow().clone())
        .expect("runtime::core() called outside a BleepStore executor")
}

/// Stable across builds and platforms (FNV-1a), unlike std's randomized hasher: a bucket's
/// shard is recorded nowhere, it is this hash of its name.
pub fn stable_hash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The metadata shard that holds `bucket`, of `shard_count`.
pub fn shard_of(bucket: &str, shard_count: u32) -> u32 {
    (stable_hash(bucket) % shard_count as u64) as u32
}

pub fn shard_for_bucket(bucket: &str) -> u32 {
    shard_of(bucket, core().shared.shard_count)
}

/// Runs `f` on the core that owns `shard` (`shard % executors`) and returns its result.
pub async fn on_owner<R, F, Fut>(shard: u32, f: F) -> R
where
    R: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    let c = core();
    let owner = (shard % c.shared.executors) as usize;
    if owner == c.id as usize {
        return f().await;
    }
    let (tx, rx) = futures::channel::oneshot::channel();
    let job: Job = Box::new(move || {
        Box::pin(async move {
            let _ = tx.send(f().await);
        })
    });
    c.shared.inboxes.send(owner, job).await;
    rx.await.expect("owner core dropped a shard job")
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
            c.shared.inboxes.send(owner, job).await;
        }
        waits.push(rx);
    }
    let mut out = Vec::with_capacity(waits.len());
    for rx in waits {
        out.push(rx.await.expect("core dropped a broadcast job"));
    }
    out
}

//! Start-up: prepares the data directory, builds what every core shares, starts one pinned
//! executor per core; each opens its metadata shards, starts its background tasks and
//! accepts connections on its own listener.

use crate::auth::users::Users;
use crate::config::Config;
use crate::meta::shard::MetaShard;
use crate::runtime::{Core, Inbox, Shared};
use crate::storage::gateway::bridge::Gateway;
use glommio::{LocalExecutorBuilder, Placement};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// How often each core looks for expired multipart uploads (also once at start-up).
const REAP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

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
    let bind_addr = super::bind::resolve_bind(&config.server.bind)?;
    warn_default_credentials(&config, bind_addr);
    let gateway = crate::storage::gateway::start(&config)?;
    let (shared, receivers, users) = prepare(config, executors, bind_addr, gateway.clone())?;
    if shared.config.cluster.enabled {
        start_cluster(&shared, gateway.is_some())?;
    }
    crate::runtime::offload::remember_process_cpus();
    let mut handles = Vec::new();
    for (id, inbox) in receivers.into_iter().enumerate() {
        let shared = shared.clone();
        let (gateway, users) = (gateway.clone(), users.clone());
        let handle = LocalExecutorBuilder::new(Placement::Fixed(id % cpus))
            .name(&format!("core-{id}"))
            .spawn(move || async move { core_main(id as u32, shared, gateway, users, inbox).await })
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

/// What [`prepare`] builds: the shared state, each core's inbox (in core order), the users.
pub(super) type Prepared = (Arc<Shared>, Vec<Inbox>, Arc<Users>);

/// What every core shares, built once: the data directory prepared, the shard count fixed,
/// the users, the store installed into the engine, the mesh's inboxes (one per core).
pub(super) fn prepare(
    config: Config,
    executors: u32,
    bind_addr: std::net::SocketAddr,
    gateway: Option<Arc<Gateway>>,
) -> Result<Prepared, String> {
    let data_dir = config.storage.data_dir.clone();
    crate::storage::local::prepare_data_dir(&data_dir)
        .map_err(|e| format!("data dir {}: {e}", data_dir.display()))?;
    // A cluster's shards are its Raft groups: the same count on every node.
    let wanted = if config.cluster.enabled {
        config.cluster.shard_count()
    } else {
        executors
    };
    let shard_count = crate::meta::shard_count(&data_dir, wanted)
        .map_err(|e| format!("shard count in {}: {e}", data_dir.display()))?;
    if config.cluster.enabled && shard_count != wanted {
        return Err(format!(
            "cluster.shards: {wanted}, but the data directory {} holds {shard_count} shards",
            data_dir.display()
        ));
    }
    let users = Arc::new(Users::from_config(&config.auth, &config.server.region));
    let store = crate::storage::choose_store(
        gateway.clone(),
        data_dir.clone(),
        config.storage.inline_bytes_max,
    );
    // Cluster mode on the local backend: the store that copies data files to other nodes,
    // installed once the cluster runs (`start_cluster`).
    if !config.cluster.enabled || gateway.is_some() {
        crate::engine::install_store(store);
    }
    let (inboxes, receivers) = crate::runtime::inboxes(executors);
    let shared = Arc::new(Shared {
        config,
        executors,
        shard_count,
        data_dir,
        bind_addr,
        started_at: std::time::SystemTime::now(),
        inboxes,
        cores_ready: AtomicUsize::new(0),
        recovered: AtomicBool::new(false),
    });
    crate::observe::metrics::init(executors as usize);
    Ok((shared, receivers, users))
}

async fn core_main(
    id: u32,
    shared: Arc<Shared>,
    gateway: Option<Arc<Gateway>>,
    users: Arc<Users>,
    inbox: Inbox,
) -> Result<(), String> {
    start_core(id, &shared, inbox)?;
    let listener = super::bind::listen(shared.bind_addr)
        .map_err(|e| format!("server.bind {}: {e}", shared.bind_addr))?;
    if id == 0 {
        let cluster = crate::engine::log::cluster().is_some();
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
        if cluster {
            // Not in cluster mode: at start-up a shard may not yet have re-applied committed
            // entries that name this node's files, which the sweep would then delete.
            shared.recovered.store(true, Ordering::Release);
        } else {
            glommio::spawn_local(crate::engine::recovery::sweep_orphans_task(shared.clone()))
                .detach();
        }
    }
    spawn_reaper(&shared);
    spawn_lifecycle(&shared);
    shared.cores_ready.fetch_add(1, Ordering::AcqRel);
    accept_loop(id, &shared, gateway, users, listener).await
}

/// This core's part of the server, short of its listener and background workers: its
/// shards and their committers, its place in the mesh, its per-core budgets and caches,
/// the access-log flush. Runs on the core's executor.
pub(super) fn start_core(id: u32, shared: &Arc<Shared>, inbox: Inbox) -> Result<(), String> {
    let shards = open_shards(id, shared)?;
    for shard in shards.values() {
        glommio::spawn_local(shard.clone().run_committer()).detach();
    }
    // Before `enter`: from then on other cores' jobs for these shards may arrive.
    crate::engine::shards::install(shards);
    crate::runtime::enter(
        Core {
            id,
            shared: shared.clone(),
        },
        inbox,
    );
    crate::runtime::md5_batch::enable_on_this_thread();
    crate::runtime::budget::init(shared.config.limits.buffered_body_bytes_per_core_max);
    crate::storage::cache::init((shared.config.cache.size / shared.executors as u64) as usize);
    glommio::spawn_local(crate::observe::log::access_flush_task()).detach();
    Ok(())
}

/// The metadata shards this core owns: `s % executors == id`.
fn open_shards(id: u32, shared: &Shared) -> Result<BTreeMap<u32, Rc<MetaShard>>, String> {
    let mut shards = BTreeMap::new();
    for s in (0..shared.shard_count).filter(|s| s % shared.executors == id) {
        let path = crate::meta::shard_path(&shared.data_dir, s);
        let metadata = &shared.config.metadata;
        let cache_bytes = metadata.cache_bytes_per_shard(shared.shard_count);
        let preopened = PREOPENED.lock().ok().and_then(|mut m| m.remove(&s));
        let shard = match preopened {
            Some(db) => {
                MetaShard::with_database(s, &path, db, metadata.group_commit_max, cache_bytes)?
            }
            None => MetaShard::open(s, &path, metadata.group_commit_max, cache_bytes)?,
        };
        shards.insert(s, Rc::new(shard));
    }
    Ok(shards)
}

/// Shard databases the cluster's groups hold, opened before the cores (redb allows one
/// handle per file): each core takes its own from here.
static PREOPENED: std::sync::Mutex<BTreeMap<u32, Arc<redb::Database>>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Tokio worker threads of the cluster runtime (Raft groups, peer listener, batchers).
const CLUSTER_THREADS: usize = 2;

/// The cluster's runtime, alive for the rest of the process.
static CLUSTER_RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();

/// Cluster mode: opens every shard's database, starts the cluster runtime, the peer
/// listener and one Raft group per shard (files under `<data-dir>/raft/`), forms them from
/// the static membership, and makes them the engine's metadata log, before any core serves.
fn start_cluster(shared: &Shared, gateway: bool) -> Result<(), String> {
    use crate::cluster::{group::GroupTuning, node::ClusterNode, node::Limits};
    let spec = crate::cluster::config::ClusterSpec::new(&shared.config.cluster)?;
    let cache_bytes = shared
        .config
        .metadata
        .cache_bytes_per_shard(shared.shard_count);
    let mut dbs = Vec::new();
    for s in 0..shared.shard_count {
        let path = crate::meta::shard_path(&shared.data_dir, s);
        dbs.push((s, MetaShard::open_database(&path, cache_bytes)?));
    }
    if let Ok(mut map) = PREOPENED.lock() {
        map.extend(dbs.iter().map(|(s, db)| (*s, Arc::clone(db))));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(CLUSTER_THREADS)
        .thread_name("cluster")
        .enable_all()
        .build()
        .map_err(|e| format!("cluster runtime: {e}"))?;
    let raft_dir = shared.data_dir.join("raft");
    // Peers read object bytes this node holds (its local store's files) through the cluster.
    let dir = shared.data_dir.clone();
    // Copies from other nodes that were never sealed name no object.
    let objects = crate::storage::local::objects_dir(&shared.data_dir);
    let swept = crate::cluster::network::sweep_incoming(&objects)
        .map_err(|e| format!("unfinished data copies in {}: {e}", objects.display()))?;
    if swept > 0 {
        println!("removed {swept} unfinished data file copies from other nodes");
    }
    let data_files: crate::cluster::network::DataFiles =
        Arc::new(move |id| crate::storage::local::file_path(&dir, id));
    let started = runtime.block_on(ClusterNode::start(
        &spec,
        &raft_dir,
        Some(data_files),
        dbs,
        GroupTuning::default(),
        Limits::default(),
    ));
    let node = started.map_err(|e| format!("cluster: {e}"))?;
    if !gateway {
        // Copies this node kept after their objects went (it was down when they were freed).
        let dir = shared.data_dir.clone();
        node.sweep_orphans_with(
            Arc::new(move |referenced, cutoff| {
                crate::storage::local::remove_unreferenced_files(&dir, referenced, cutoff)
            }),
            std::time::Duration::from_secs(crate::cluster::repair::ORPHAN_AGE_MIN_S),
        );
    }
    // Restores missing copies of data files: at start, then every interval.
    let interval = std::time::Duration::from_secs(crate::cluster::repair::REPAIR_INTERVAL_S);
    runtime.spawn(Arc::clone(&node).run_repairs(interval));
    let _ = CLUSTER_RUNTIME.set(runtime);
    crate::engine::log::install_cluster(Arc::clone(&node));
    if !gateway {
        let local = crate::storage::choose_store(
            None,
            shared.data_dir.clone(),
            shared.config.storage.inline_bytes_max,
        );
        crate::engine::install_store(Arc::new(crate::engine::replica::ReplicatedStore::new(
            local, node,
        )));
    }
    println!(
        "bleepstore cluster node {} of {}: peer listener on {}, {} Raft groups (raft files in {})",
        spec.node_id,
        spec.nodes.len(),
        spec.this().map(|m| m.peer.to_string()).unwrap_or_default(),
        shared.shard_count,
        raft_dir.display()
    );
    Ok(())
}

/// Aborts this core's expired multipart uploads now and every [`REAP_INTERVAL`].
fn spawn_reaper(shared: &Shared) {
    let ttl_s = shared.config.multipart.upload_ttl_s;
    glommio::spawn_local(async move {
        loop {
            crate::engine::multipart::reap_expired(ttl_s).await;
            glommio::timer::sleep(REAP_INTERVAL).await;
        }
    })
    .detach();
}

/// Runs this core's lifecycle worker over the shards it owns: a pass now, then one every
/// `lifecycle` interval (`engine::lifecycle`).
fn spawn_lifecycle(shared: &Shared) {
    let l = &shared.config.lifecycle;
    let cfg = crate::engine::lifecycle::WorkerConfig {
        clock: crate::engine::lifecycle::Clock {
            day_ms: l.day_s.saturating_mul(1000),
        },
        interval: l.interval(),
        batch_max: l.batch_max,
        batch_pause: std::time::Duration::from_millis(l.batch_pause_ms),
    };
    glommio::spawn_local(crate::engine::lifecycle::run_worker(cfg)).detach();
}

/// Serves every connection this core's listener accepts, at most
/// `connections_per_core_max` at once (beyond it a new connection is closed at once).
async fn accept_loop(
    id: u32,
    shared: &Arc<Shared>,
    gateway: Option<Arc<Gateway>>,
    users: Arc<Users>,
    listener: glommio::net::TcpListener,
) -> Result<(), String> {
    let service = Rc::new(super::router::Router::new(
        shared.clone(),
        gateway,
        users,
        id,
    ));
    let limits = Rc::new(limits(shared));
    let max_conns = shared.config.server.connections_per_core_max;
    let connections = Rc::new(Cell::new(0usize));
    loop {
        let stream = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        if connections.get() >= max_conns {
            drop(stream);
            continue;
        }
        let remote = stream
            .peer_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
        connections.set(connections.get() + 1);
        crate::observe::metrics::connection_opened(id as usize);
        let service = service.clone();
        let limits = limits.clone();
        let connections = connections.clone();
        glommio::spawn_local(async move {
            let stream = crate::http::io::Stream::Tcp(stream);
            crate::http::conn::serve(stream, remote, &limits, &*service).await;
            connections.set(connections.get() - 1);
            crate::observe::metrics::connection_closed(id as usize);
        })
        .detach();
    }
}

/// What one connection may send, from the configuration.
pub(super) fn limits(shared: &Shared) -> crate::http::conn::Limits {
    let s = &shared.config.server;
    crate::http::conn::Limits {
        head_bytes_max: s.request_head_bytes_max,
        header_count_max: s.header_count_max,
        idle_timeout_ms: s.idle_timeout_ms,
        header_timeout_ms: s.header_timeout_ms,
        body_timeout_ms: s.body_timeout_ms,
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

//! `bleepstore`: runs the server. With no arguments it serves 0.0.0.0:9000 with data under
//! ./data and the credentials bleepstore / bleepstore-secret.

use bleepstore::config::{Config, LogFormat};
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "bleepstore", version, about = "S3-compatible object store")]
struct Cli {
    /// Address to listen on, HOST:PORT (server.bind).
    #[arg(long)]
    bind: Option<String>,
    /// Data directory (storage.data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// YAML configuration file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Executors, one per core (server.shards); 0 = the cores available.
    #[arg(long)]
    shards: Option<usize>,
    /// error | warn | info | debug | trace (server.log_level).
    #[arg(long)]
    log_level: Option<String>,
    /// text | json (server.log_format).
    #[arg(long)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Changes a running cluster's membership (the request goes to a member's peer
    /// address, authenticated with cluster.secret from --config).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(clap::Subcommand, Debug)]
enum ClusterCommand {
    /// Adds a node (started with `cluster.join: true`): it catches up, then votes, and
    /// data moves to it in the background.
    AddNode {
        /// The new node's id.
        #[arg(long)]
        id: u64,
        /// Its S3 address, IP:PORT.
        #[arg(long)]
        s3: std::net::SocketAddr,
        /// Its peer address, IP:PORT.
        #[arg(long)]
        peer: std::net::SocketAddr,
        /// A member's peer address to ask (default: the nodes of --config, in turn).
        #[arg(long)]
        via: Option<std::net::SocketAddr>,
    },
    /// Removes a node: the others stop counting on it and restore its copies among
    /// themselves in the background.
    RemoveNode {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        via: Option<std::net::SocketAddr>,
    },
}

/// `bleepstore cluster ...`: one membership change, asked of a running cluster.
fn cluster_command(config: &Config, command: ClusterCommand) -> ! {
    use bleepstore::cluster::network::MemberChange;
    let spec = bleepstore::cluster::config::ClusterSpec::new(&config.cluster)
        .unwrap_or_else(|e| fail(&format!("--config: {e}")));
    let (change, via) = match command {
        ClusterCommand::AddNode { id, s3, peer, via } => (MemberChange::Add { id, s3, peer }, via),
        ClusterCommand::RemoveNode { id, via } => (MemberChange::Remove { id }, via),
    };
    match bleepstore::cluster::membership::ask(&spec, via, change) {
        Ok(done) => {
            println!("{change}: {done}");
            std::process::exit(0)
        }
        Err(e) => fail(&format!("{change}: {e}")),
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("bleepstore: {msg}");
    std::process::exit(2)
}

/// The system allocator, with 1 MiB I/O buffers as pooled mappings (see `io_alloc`).
#[global_allocator]
static ALLOC: bleepstore::io_alloc::IoBufferAlloc = bleepstore::io_alloc::IoBufferAlloc;

fn main() {
    // Everything the server creates (data files, metadata shards, directories) is private
    // to its user: files 0600, directories 0700.
    // SAFETY: umask only sets this process's file-creation mask.
    unsafe {
        libc::umask(0o077);
    }
    use_heap_for_io_buffers();
    let cli = Cli::parse();
    let mut config = match &cli.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| fail(&format!("--config {}: {e}", path.display())));
            Config::from_yaml(&text).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())))
        }
        None => Config::default(),
    };
    if let Some(b) = cli.bind {
        config.server.bind = b;
    }
    if let Some(d) = cli.data_dir {
        config.storage.data_dir = d;
    }
    if let Some(s) = cli.shards {
        config.server.shards = s;
    }
    if let Some(l) = cli.log_level {
        config.server.log_level = l;
    }
    if let Some(f) = cli.log_format {
        config.server.log_format = match f.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => fail(&format!(
                "--log-format: expected text or json, got {other:?}"
            )),
        };
    }
    if let Err(e) = config.validate() {
        fail(&e);
    }
    if let Some(Command::Cluster(command)) = cli.command {
        cluster_command(&config, command);
    }
    init_logging(&config);
    raise_fd_limit();
    if let Err(e) = bleepstore::server::run(config) {
        fail(&e);
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        // glommio logs its one-time io_uring poll-ring probe at ERROR on filesystems that
        // cannot poll; it is not an error for us, so that one module is silenced. openraft
        // logs every vote and startup state at INFO: at most warnings from it, unless asked.
        .unwrap_or_else(|_| {
            let level = &config.server.log_level;
            let raft = if matches!(level.as_str(), "debug" | "trace") {
                level.as_str()
            } else {
                "warn"
            };
            tracing_subscriber::EnvFilter::new(format!(
                "{level},glommio::reactor=off,openraft={raft}"
            ))
        });
    // Lines go through a bounded queue to one writer thread: a stalled reader of stderr
    // drops (and counts) lines instead of stopping the cores.
    bleepstore::observe::log::start();
    use std::io::IsTerminal;
    let colour = bleepstore::observe::log::use_colour(
        std::env::var_os("NO_COLOR").as_deref(),
        std::io::stderr().is_terminal(),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(bleepstore::observe::log::MakeQueuedWriter);
    let json = config.server.log_format == LogFormat::Json;
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    // The access line is written by hand (observe::log::access), not through tracing, but
    // it obeys the same filter: on when target `access` is enabled at INFO.
    let access =
        config.server.access_log && tracing::enabled!(target: "access", tracing::Level::INFO);
    bleepstore::observe::log::set_access_log(access, json);
}

/// Every connection and open data file is a descriptor: lift the soft limit to the hard one
/// so `connections_per_core_max` is reachable without operator tuning.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a stack struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                tracing::warn!("could not raise the open-file limit");
            }
        }
    }
}

/// Large blocks other than the 1 MiB I/O buffers (which `io_alloc` pools as mappings of
/// their own) stay on the heap up to 4 MiB: above glibc's default mmap threshold each would
/// be a fresh mapping, with page faults and zeroing on first touch and an munmap that
/// interrupts the other cores to flush their TLBs (taking the I/O buffers from the heap
/// instead of fresh mappings measured +18 % on 64 MiB PUT, 935 → 1,102 MiB/s, before the
/// pool replaced both).
fn use_heap_for_io_buffers() {
    #[cfg(target_env = "gnu")]
    {
        const MMAP_THRESHOLD_BYTES: libc::c_int = 4 * 1024 * 1024;
        // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
        }
    }
}

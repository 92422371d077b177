//! One core of the server without a listener: requests are fed as bytes through
//! [`MemoryStream`] and run the whole path a socket's would (head parse, authentication,
//! routing, handler, engine, response head, access line). For benches and tests that
//! measure that path in-process (`benches/alloc.rs`: allocations per request).

use crate::config::Config;
use crate::http::conn::Limits;
use crate::http::io::{MemoryStream, Stream};
use std::cell::RefCell;
use std::rc::Rc;

/// A started core; lives on the glommio executor that started it.
pub struct InProcess {
    router: super::router::Router,
    limits: Limits,
}

impl InProcess {
    /// Starts core 0 of a one-core server over `config` (its data directory, users,
    /// storage) on the current glommio executor. The listener, the reapers and the
    /// lifecycle worker are not started. One per process: the engine's store is installed
    /// once.
    pub fn start(mut config: Config) -> Result<InProcess, String> {
        config.server.shards = 1;
        let bind_addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let (shared, receivers, users) = super::boot::prepare(config, 1, bind_addr, None)?;
        let inbox = receivers
            .into_iter()
            .next()
            .ok_or("the mesh has no inbox for core 0")?;
        super::boot::start_core(0, &shared, inbox)?;
        shared
            .cores_ready
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let limits = super::boot::limits(&shared);
        let router = super::router::Router::new(shared, None, users, 0);
        Ok(InProcess { router, limits })
    }

    /// Serves one connection on which the client sends `request` (one or more complete
    /// requests) `repeats` times, then closes. The answers' first `reply_max` bytes are
    /// appended to `reply` (reserved up front, so keeping them does not allocate).
    pub async fn exchange(
        &self,
        request: Rc<[u8]>,
        repeats: u64,
        reply: Rc<RefCell<Vec<u8>>>,
        reply_max: usize,
    ) {
        let stream = Stream::Memory(MemoryStream::new(request, repeats, reply, reply_max));
        let remote = ([127, 0, 0, 1], 40000).into();
        crate::http::conn::serve(stream, remote, &self.limits, &self.router).await;
    }
}

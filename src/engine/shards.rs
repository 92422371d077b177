//! The metadata shards this core owns, and running work on the core that owns a shard.
//!
//! The mesh below (`runtime`) only knows cores: it routes a job to the owner of shard `s`
//! (`s % executors`). Which `MetaShard` a core holds is the engine's business, so the
//! registry lives here, filled once at boot by the server.

use crate::meta::shard::{MetaShard, Submitter};
use redb::Database;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::{Arc, Weak};

thread_local! {
    static SHARDS: RefCell<BTreeMap<u32, Rc<MetaShard>>> = const { RefCell::new(BTreeMap::new()) };
    /// Read handles of the shards other cores own, learned on the first hop to each.
    static READERS: RefCell<BTreeMap<u32, Weak<Database>>> = const { RefCell::new(BTreeMap::new()) };
    /// Write queues: this core's shards' (at boot) and those of the shards other cores own,
    /// learned on the first write to each.
    static WRITERS: RefCell<BTreeMap<u32, Submitter>> = const { RefCell::new(BTreeMap::new()) };
}

/// A handle to read `shard` from this core without a hop: its own database when this core
/// owns it, else the one the owner lent on an earlier hop. None when the shard is being
/// reopened (the owner answers that) or not yet known here.
///
/// Why reads need no hop: a redb read transaction is an MVCC snapshot of the last commit
/// and `Database` is shared between threads, so any core may read. A hop wakes the owner's
/// core and then ours (two wake-ups of an idle executor, each with glommio's membarrier):
/// 0.1-0.3 ms on this 2-vCPU VM against microseconds for the read itself.
/// The owner keeps the only strong handle: other cores hold a `Weak`, upgraded for one read
/// at a time, so a reopen after a storage error (which needs the last handle gone) waits
/// only for reads in flight, and a stale handle simply fails to upgrade.
pub fn reader(shard: u32) -> Option<Arc<Database>> {
    if let Some(owned) = SHARDS.with(|s| s.borrow().get(&shard).cloned()) {
        return owned.database();
    }
    READERS.with(|r| r.borrow().get(&shard).and_then(Weak::upgrade))
}

/// A handle to queue writes on `shard`'s committer from this core without a hop (see
/// `meta::shard::Submitter`): its own shard's queue when this core owns it (installed at
/// boot), else the one the owner lent on an earlier write. None until then.
pub fn writer(shard: u32) -> Option<Submitter> {
    WRITERS.with(|w| w.borrow().get(&shard).cloned())
}

/// Remembers the owner's write queue of `shard` (see [`writer`]).
pub fn lend_writer(shard: u32, submitter: Submitter) {
    WRITERS.with(|w| w.borrow_mut().insert(shard, submitter));
}

/// Remembers the owner's read handle of `shard` (see [`reader`]).
pub fn lend(shard: u32, handle: Weak<Database>) {
    READERS.with(|r| r.borrow_mut().insert(shard, handle));
}

/// Makes `shards` this core's shards (boot, once per core, before it serves).
pub fn install(shards: BTreeMap<u32, Rc<MetaShard>>) {
    WRITERS.with(|w| {
        let mut w = w.borrow_mut();
        w.extend(shards.iter().map(|(id, sh)| (*id, sh.submitter())));
    });
    SHARDS.with(|s| *s.borrow_mut() = shards);
}

/// This core's shards, in shard order.
pub fn local() -> Vec<(u32, Rc<MetaShard>)> {
    SHARDS.with(|s| {
        s.borrow()
            .iter()
            .map(|(id, sh)| (*id, sh.clone()))
            .collect()
    })
}

/// The shard that holds `bucket`.
pub fn shard_for_bucket(bucket: &str) -> u32 {
    crate::runtime::shard_for_bucket(bucket)
}

/// Runs `f` on the core that owns `shard`, with that shard, and returns its result.
pub async fn on_shard<R, F, Fut>(shard: u32, f: F) -> R
where
    R: Send + 'static,
    F: FnOnce(Rc<MetaShard>) -> Fut + Send + 'static,
    Fut: Future<Output = R> + 'static,
{
    crate::runtime::on_owner(shard, move || async move {
        let owned = SHARDS.with(|s| s.borrow().get(&shard).cloned());
        // The mesh routes shard s to core s % executors, and boot opened exactly those.
        let owned = owned.expect("shard routed to the core that opened it");
        f(owned).await
    })
    .await
}

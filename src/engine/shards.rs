//! The metadata shards this core owns, and running work on the core that owns a shard.
//!
//! The mesh below (`runtime`) only knows cores: it routes a job to the owner of shard `s`
//! (`s % executors`). Which `MetaShard` a core holds is the engine's business, so the
//! registry lives here, filled once at boot by the server.

use crate::meta::shard::MetaShard;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;

thread_local! {
    static SHARDS: RefCell<BTreeMap<u32, Rc<MetaShard>>> = const { RefCell::new(BTreeMap::new()) };
}

/// Makes `shards` this core's shards (boot, once per core, before it serves).
pub fn install(shards: BTreeMap<u32, Rc<MetaShard>>) {
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

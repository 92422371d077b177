//! Per-key write locks for gateway backends.
//!
//! A gateway writes a key's bytes in place upstream (`{prefix}{bucket}/{key}`), so two
//! concurrent writers of one key could leave the upstream bytes of one beside the record of
//! the other. Writers of a key therefore take turns: the lock table lives on the core that
//! owns the bucket's shard (one thread, no mutex), and a request holds a `KeyGuard` from
//! before its upstream write until after its metadata commit. The local backend never
//! needs this: each write goes to a fresh file and the commit alone decides.

use crate::error::{ErrorCode, S3Error, S3Result};
use crate::runtime::{on_owner, shard_for_bucket};
use futures::channel::oneshot;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

/// Requests queued behind one key; beyond it a request gets SlowDown.
pub const KEY_WAITERS_MAX: usize = 256;

type LockKey = (String, String);

/// Readers share a key; a writer has it alone. Waiters are served in arrival order (a
/// run of readers at the head of the queue goes in together), so neither side starves.
#[derive(Default)]
struct KeyState {
    readers: usize,
    writer: bool,
    queue: VecDeque<(Mode, oneshot::Sender<()>)>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Read,
    Write,
}

thread_local! {
    static LOCKS: RefCell<HashMap<LockKey, KeyState>> = RefCell::new(HashMap::new());
}

/// Held while a gateway read or write of one key is in progress; dropping it lets the
/// next request in (also when the request is cancelled mid-way).
pub struct KeyGuard {
    shard: u32,
    mode: Mode,
    key: Option<LockKey>,
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let (shard, mode) = (self.shard, self.mode);
            glommio::spawn_local(async move {
                on_owner(shard, move || async move { release(key, mode) }).await;
            })
            .detach();
        }
    }
}

/// Waits for write access to `lock_name` within `bucket`.
pub async fn lock(bucket: &str, lock_name: &str) -> S3Result<KeyGuard> {
    acquire(bucket, lock_name, Mode::Write).await
}

/// Waits for shared read access to `lock_name` within `bucket`.
pub async fn lock_shared(bucket: &str, lock_name: &str) -> S3Result<KeyGuard> {
    acquire(bucket, lock_name, Mode::Read).await
}

async fn acquire(bucket: &str, lock_name: &str, mode: Mode) -> S3Result<KeyGuard> {
    let shard = shard_for_bucket(bucket);
    let key: LockKey = (bucket.to_string(), lock_name.to_string());
    on_owner(shard, move || async move {
        let waiter = LOCKS.with(|l| {
            let mut l = l.borrow_mut();
            let st = l.entry(key.clone()).or_default();
            let free = st.queue.is_empty() && !st.writer && (mode == Mode::Read || st.readers == 0);
            if free {
                match mode {
                    Mode::Read => st.readers += 1,
                    Mode::Write => st.writer = true,
                }
                return Ok(None);
            }
            if st.queue.len() >= KEY_WAITERS_MAX {
                return Err(S3Error::new(ErrorCode::SlowDown));
            }
            let (tx, rx) = oneshot::channel();
            st.queue.push_back((mode, tx));
            Ok(Some(rx))
        })?;
        if let Some(rx) = waiter {
            // `release` counts us in before it signals.
            let _ = rx.await;
        }
        // If the requester is gone by now, this guard is dropped here and releases.
        Ok(KeyGuard {
            shard,
            mode,
            key: Some(key),
        })
    })
    .await
}

/// Several keys of one bucket, taken in sorted order so multi-key writers cannot deadlock.
pub async fn lock_many(bucket: &str, names: &[String]) -> S3Result<Vec<KeyGuard>> {
    let mut sorted: Vec<&String> = names.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut guards = Vec::with_capacity(sorted.len());
    for n in sorted {
        guards.push(lock(bucket, n).await?);
    }
    Ok(guards)
}

/// Gives up one hold and lets in whoever is next: one writer, or every reader at the
/// head of the queue. A waiter that gave up (receiver dropped) is skipped.
fn release(key: LockKey, mode: Mode) {
    LOCKS.with(|l| {
        let mut l = l.borrow_mut();
        let Some(st) = l.get_mut(&key) else {
            return;
        };
        match mode {
            Mode::Read => st.readers = st.readers.saturating_sub(1),
            Mode::Write => st.writer = false,
        }
        grant(st);
        if st.readers == 0 && !st.writer && st.queue.is_empty() {
            l.remove(&key);
        }
    });
}

fn grant(st: &mut KeyState) {
    while !st.writer {
        let Some((mode, _)) = st.queue.front() else {
            return;
        };
        if *mode == Mode::Write && st.readers > 0 {
            return;
        }
        let Some((mode, tx)) = st.queue.pop_front() else {
            return;
        };
        if tx.is_canceled() {
            continue;
        }
        match mode {
            Mode::Read => st.readers += 1,
            Mode::Write => st.writer = true,
        }
        if tx.send(()).is_err() {
            // Gave up between the check and the send: undo and go on.
            match mode {
                Mode::Read => st.readers -= 1,
                Mode::Write => st.writer = false,
            }
        }
    }
}

/// Keys locked or awaited on this core (for tests and metrics).
pub fn held_on_this_core() -> usize {
    LOCKS.with(|l| l.borrow().len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(key: &LockKey, mode: Mode) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        LOCKS.with(|l| {
            l.borrow_mut()
                .entry(key.clone())
                .or_default()
                .queue
                .push_back((mode, tx))
        });
        rx
    }

    #[test]
    fn writers_alone_readers_together_in_arrival_order() {
        let key: LockKey = ("b".into(), "k".into());
        LOCKS.with(|l| {
            l.borrow_mut().entry(key.clone()).or_default().writer = true;
        });
        let gone = queue(&key, Mode::Write);
        drop(gone); // a waiter that gave up
        let mut r1 = queue(&key, Mode::Read);
        let mut r2 = queue(&key, Mode::Read);
        let mut w = queue(&key, Mode::Write);
        let mut r3 = queue(&key, Mode::Read);
        release(key.clone(), Mode::Write);
        assert_eq!(r1.try_recv().unwrap(), Some(()));
        assert_eq!(r2.try_recv().unwrap(), Some(()));
        assert_eq!(
            w.try_recv().unwrap(),
            None,
            "writer must wait for both readers"
        );
        release(key.clone(), Mode::Read);
        assert_eq!(w.try_recv().unwrap(), None);
        release(key.clone(), Mode::Read);
        assert_eq!(w.try_recv().unwrap(), Some(()));
        assert_eq!(r3.try_recv().unwrap(), None, "reader behind a writer waits");
        release(key.clone(), Mode::Write);
        assert_eq!(r3.try_recv().unwrap(), Some(()));
        assert_eq!(held_on_this_core(), 1);
        release(key, Mode::Read);
        assert_eq!(held_on_this_core(), 0);
    }
}

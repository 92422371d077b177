//! Offload threads: one OS thread per metadata shard that runs its group commits, free to
//! run on any core of the process.
//!
//! glommio's `spawn_blocking` runs on a thread pinned to the executor's own core. A commit
//! is CPU work (B-tree updates, page writes: ~9 µs per 4 KiB PUT measured with perf) plus
//! an fdatasync; pinned, it competes with the request path of the one core that owns a hot
//! bucket while the other cores idle. Unpinned, the scheduler runs it wherever there is room.
//! Commits of one shard are sequential anyway (redb has one writer), so one thread per shard
//! with a queue of one in-flight job is all the parallelism a shard can use.

use futures::channel::oneshot;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::OnceLock;

type Task = Box<dyn FnOnce() + Send>;

/// Jobs queued for one offload thread, at most. The committer has one in flight; the slack
/// only keeps a sender from blocking its executor if that ever changes.
const QUEUE_MAX: usize = 4;

/// The CPU set the process started with, before any executor pinned its thread.
static PROCESS_CPUS: OnceLock<libc::cpu_set_t> = OnceLock::new();

/// Records the calling thread's CPU set; call once from the main thread before the
/// executors start (threads spawned by a pinned executor inherit its single CPU).
pub fn remember_process_cpus() {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most sizeof(set) bytes.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc == 0 {
        let _ = PROCESS_CPUS.set(set);
    }
}

fn unpin_current_thread() {
    if let Some(set) = PROCESS_CPUS.get() {
        // SAFETY: passes a valid cpu_set_t of the size given; affects only this thread.
        let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
        if rc != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "offload thread stays on its parent's core"
            );
        }
    }
}

/// A dedicated thread that runs blocking jobs one after another.
pub struct Offload {
    tx: SyncSender<Task>,
}

impl Offload {
    pub fn spawn(name: String) -> std::io::Result<Offload> {
        let (tx, rx) = sync_channel::<Task>(QUEUE_MAX);
        std::thread::Builder::new().name(name).spawn(move || {
            unpin_current_thread();
            while let Ok(task) = rx.recv() {
                task();
            }
        })?;
        Ok(Offload { tx })
    }

    /// Runs `f` on the offload thread and waits (asynchronously) for its result.
    pub async fn run<R, F>(&self, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let task: Task = Box::new(move || {
            let _ = done.send(f());
        });
        self.tx
            .send(task)
            .expect("offload thread stopped: it only stops when a job panicked");
        result
            .await
            .expect("offload job dropped its result: the job panicked")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_jobs_in_order_off_the_calling_thread() {
        let off = Offload::spawn("offload-test".into()).unwrap();
        let caller = std::thread::current().id();
        let (a, b) = futures::executor::block_on(async {
            let a = off.run(|| (1, std::thread::current().id())).await;
            let b = off.run(|| (2, std::thread::current().id())).await;
            (a, b)
        });
        assert_eq!((a.0, b.0), (1, 2));
        assert_ne!(a.1, caller);
        assert_eq!(a.1, b.1, "one shard, one thread");
    }
}

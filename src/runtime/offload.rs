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

/// Sets the calling thread's nice value (Linux keeps one per thread). Lowering it below 0
/// needs CAP_SYS_NICE (or RLIMIT_NICE): without it the thread keeps the process's, which is
/// logged once, since it only costs speed.
fn set_current_thread_nice(nice: i32) {
    // SAFETY: gettid has no preconditions; setpriority with PRIO_PROCESS and a thread id
    // changes only that thread's nice value.
    let rc = unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
    };
    if rc != 0 {
        static LOGGED: std::sync::Once = std::sync::Once::new();
        let error = std::io::Error::last_os_error();
        LOGGED.call_once(|| {
            tracing::info!(
                %error,
                nice,
                "offload threads run at the process's priority (grant CAP_SYS_NICE for faster \
                 commits under load)"
            );
        });
    }
}

/// A dedicated thread that runs blocking jobs one after another.
pub struct Offload {
    tx: SyncSender<Task>,
}

impl Offload {
    /// Starts the thread, free to run on any core of the process, at nice value `nice`
    /// (0: the process's; below 0 when permitted: woken jobs preempt the executors).
    pub fn spawn(name: String, nice: i32) -> std::io::Result<Offload> {
        let (tx, rx) = sync_channel::<Task>(QUEUE_MAX);
        std::thread::Builder::new().name(name).spawn(move || {
            unpin_current_thread();
            if nice != 0 {
                set_current_thread_nice(nice);
            }
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
        let off = Offload::spawn("offload-test".into(), 0).unwrap();
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

    #[test]
    fn the_thread_runs_at_its_nice_value() {
        // Raising a thread's nice value needs no privilege, so this holds anywhere.
        let off = Offload::spawn("offload-nice".into(), 7).unwrap();
        let nice = futures::executor::block_on(off.run(|| {
            // SAFETY: gettid has no preconditions; getpriority only reads.
            unsafe {
                *libc::__errno_location() = 0;
                libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
            }
        }));
        assert_eq!(nice, 7);
        // SAFETY: as above.
        let here = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
        assert_ne!(here, 7, "only the offload thread changed");
    }
}

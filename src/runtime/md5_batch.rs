//! Per-core batching of MD5 work across concurrent uploads, so `hash::md5_lanes` can hash
//! several streams in one register.
//!
//! How: an upload with whole blocks to hash queues a job (its chaining state and a pointer
//! to its blocks) on this core. If that makes a full register, or every upload receiving on
//! this core has a job queued, the upload compresses the whole queue at once and wakes the
//! others. Otherwise it waits, at most `BATCH_WAIT`, for more to join; whoever's wait ends
//! first, or whoever fills the batch, does the work for all. An upload alone on its core is
//! hashed at once, scalar.
//!
//! Why a wait: socket reads on a busy core complete at different times (measured at 1 MiB
//! PUT, 16 connections: with a single yield, 60 % of batches held one job). A job is a
//! socket read of ~0.5 MiB, ~550 µs of scalar MD5; 100 µs of waiting lets the register fill.
//!
//! Only a thread that called `enable_on_this_thread` batches: a glommio core, whose tasks
//! never move to another thread. Anywhere else hashing is inline.

use crate::hash::md5;
use crate::hash::md5_lanes::{self, LaneJob};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Below this many blocks (16 KiB, ~18 µs of scalar MD5) waiting costs more than it saves.
const JOB_BLOCKS_MIN: usize = 256;
/// Jobs queued on one core at most; beyond that, hashing is inline.
const JOBS_QUEUED_MAX: usize = 64;
/// How long a job waits for others to fill the register.
const BATCH_WAIT: Duration = Duration::from_micros(100);

struct Job {
    id: u64,
    state: [u32; 4],
    blocks: *const [u8; 64],
    blocks_count: usize,
    done: bool,
    waker: Option<Waker>,
}

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
    static QUEUE: RefCell<Vec<Job>> = const { RefCell::new(Vec::new()) };
    /// Uploads receiving on this thread (live `Stream`s).
    static STREAMS: Cell<usize> = const { Cell::new(0) };
}

/// An upload receiving its body, counted so a batch knows how many could join it.
pub struct Stream(());

impl Stream {
    /// Counts an upload of `len` bytes (None: not known yet) if it is big enough to batch.
    pub fn for_upload(len: Option<u64>) -> Option<Stream> {
        let big = len.is_none_or(|n| n >= (JOB_BLOCKS_MIN * 64) as u64);
        (big && ENABLED.get()).then(Stream::register)
    }

    fn register() -> Stream {
        STREAMS.set(STREAMS.get() + 1);
        Stream(())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        STREAMS.set(STREAMS.get().saturating_sub(1));
    }
}

/// Lets uploads on the calling thread batch their hashing. Call on each core's thread.
pub fn enable_on_this_thread() {
    ENABLED.set(md5_lanes::simd_available());
}

/// Folds `blocks` into `state`, batched with other uploads on this core when there are any.
///
/// # Safety
/// The future must be polled to completion or dropped, never leaked (`mem::forget`, an `Rc`
/// cycle) while pending: until then this core's queue holds a pointer to `blocks`, and
/// dropping the future is what removes it.
pub async unsafe fn compress(state: &mut [u32; 4], blocks: &[[u8; 64]]) {
    if blocks.len() < JOB_BLOCKS_MIN || !ENABLED.get() {
        md5::compress(state, blocks);
        return;
    }
    let Some(id) = enqueue(*state, blocks) else {
        md5::compress(state, blocks);
        return;
    };
    let queued = Queued(id);
    let waiting = QUEUE.with_borrow(|q| q.iter().filter(|j| !j.done).count());
    if waiting < md5_lanes::LANES && waiting < STREAMS.get() {
        let done = pin!(JobDone(id));
        let timer = pin!(glommio::timer::sleep(BATCH_WAIT));
        futures::future::select(done, timer).await;
    }
    run_queue_unless_done(id);
    *state = queued.take();
}

fn enqueue(state: [u32; 4], blocks: &[[u8; 64]]) -> Option<u64> {
    QUEUE.with_borrow_mut(|q| {
        if q.len() >= JOBS_QUEUED_MAX {
            return None;
        }
        let id = NEXT_ID.get();
        NEXT_ID.set(id.wrapping_add(1));
        q.push(Job {
            id,
            state,
            blocks: blocks.as_ptr(),
            blocks_count: blocks.len(),
            done: false,
            waker: None,
        });
        Some(id)
    })
}

/// Compresses every queued job that is not done, unless `id`'s already is, and wakes the
/// jobs' owners.
fn run_queue_unless_done(id: u64) {
    let wakers: Vec<Waker> = QUEUE.with_borrow_mut(|q| {
        if q.iter().any(|j| j.id == id && j.done) {
            return Vec::new();
        }
        let mut lane_jobs: Vec<LaneJob<'_>> = q
            .iter()
            .filter(|j| !j.done)
            .map(|j| LaneJob {
                state: j.state,
                // SAFETY: a queued job's blocks stay borrowed by its pending `compress`
                // future, which removes the job when dropped (`Queued`); this runs
                // synchronously, so no owner can be dropped meanwhile.
                blocks: unsafe { std::slice::from_raw_parts(j.blocks, j.blocks_count) },
            })
            .collect();
        crate::observe::metrics::md5_batch(lane_jobs.len());
        md5_lanes::compress_lanes(&mut lane_jobs);
        let mut wakers = Vec::new();
        for (j, lj) in q.iter_mut().filter(|j| !j.done).zip(lane_jobs) {
            debug_assert!(lj.blocks.is_empty());
            j.state = lj.state;
            j.done = true;
            wakers.extend(j.waker.take());
        }
        wakers
    });
    for w in wakers {
        w.wake();
    }
}

/// Ready once the job is done; otherwise leaves its waker with the job.
struct JobDone(u64);

impl Future for JobDone {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        QUEUE.with_borrow_mut(|q| match q.iter_mut().find(|j| j.id == self.0) {
            Some(j) if !j.done => {
                j.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        })
    }
}

/// A queued job; dropping it (a cancelled upload) takes the job out of the queue.
struct Queued(u64);

impl Queued {
    fn take(self) -> [u32; 4] {
        let state = QUEUE.with_borrow_mut(|q| {
            let at = q.iter().position(|j| j.id == self.0);
            let job = at.map(|i| q.swap_remove(i));
            job.filter(|j| j.done).map(|j| j.state)
        });
        std::mem::forget(self);
        state.expect("a batched MD5 job is done when its owner resumes")
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        QUEUE.with_borrow_mut(|q| q.retain(|j| j.id != self.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::det_bytes;

    fn scalar(data: &[u8]) -> [u32; 4] {
        let mut s = md5::INIT;
        md5::compress(&mut s, data.as_chunks::<64>().0);
        s
    }

    /// Uploads running together on one glommio core each get their own digest, whether
    /// they finish together, alone, or are cancelled while queued.
    #[test]
    fn concurrent_uploads_on_one_core_each_get_their_own_state() {
        let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .make()
            .expect("executor");
        ex.run(async {
            enable_on_this_thread();
            if !md5_lanes::simd_available() {
                // No AVX-512 here: batching stays off and every upload hashes inline, at once.
                let d = det_bytes(7, 64 * 1000);
                let mut s = md5::INIT;
                {
                    // SAFETY: polled to completion here.
                    let fut = unsafe { compress(&mut s, d.as_chunks::<64>().0) };
                    let mut fut = std::pin::pin!(fut);
                    let waker = futures::task::noop_waker();
                    let mut cx = Context::from_waker(&waker);
                    assert!(fut.as_mut().poll(&mut cx).is_ready());
                }
                assert_eq!(s, scalar(&d));
                assert_eq!(QUEUE.with_borrow(|q| q.len()), 0);
                return;
            }
            let streams: Vec<Stream> = (0..13).map(|_| Stream::register()).collect();
            let data: Vec<Vec<u8>> = (0..12)
                .map(|i| det_bytes(i, 64 * (300 + 97 * i as usize)))
                .collect();
            let tasks: Vec<_> = data
                .iter()
                .cloned()
                .map(|d| {
                    glommio::spawn_local(async move {
                        let mut s = md5::INIT;
                        // SAFETY: awaited here.
                        unsafe { compress(&mut s, d.as_chunks::<64>().0) }.await;
                        s
                    })
                })
                .collect();
            // One more, cancelled while queued: its job must leave the queue.
            let d = det_bytes(99, 64 * 1000);
            let mut s = md5::INIT;
            {
                // SAFETY: dropped, not leaked.
                let fut = unsafe { compress(&mut s, d.as_chunks::<64>().0) };
                let mut fut = std::pin::pin!(fut);
                let waker = futures::task::noop_waker();
                let mut cx = Context::from_waker(&waker);
                assert!(fut.as_mut().poll(&mut cx).is_pending());
            }
            for (t, d) in tasks.into_iter().zip(&data) {
                assert_eq!(t.await, scalar(d));
            }
            assert_eq!(QUEUE.with_borrow(|q| q.len()), 0);
            drop(streams);
            assert_eq!(STREAMS.get(), 0);
        });
    }
}

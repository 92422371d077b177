//! One memory budget per core for request bytes held whole in memory: XML bodies
//! (DeleteObjects, CompleteMultipartUpload, ACLs, bucket configuration) and the last chunk a
//! gateway upload holds back until its body is verified.
//!
//! Each such buffer is bounded on its own (8 MiB for an XML body), but without a shared
//! bound a hundred connections trickling 8 MiB bodies hold 800 MiB. A buffer takes a
//! [`Lease`] on its core's budget before it grows; when the budget is spent the request
//! waits up to [`WAIT_MAX`] for others to finish, then gets 503 SlowDown.

use crate::error::{ErrorCode, S3Error, S3Result};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long a request waits for budget before it is refused with 503 SlowDown.
pub const WAIT_MAX: Duration = Duration::from_millis(500);

/// The default budget per core when none is configured (unit tests, tools).
use crate::config::BUFFERED_BODY_BYTES_PER_CORE_MAX_DEFAULT;

struct Budget {
    bytes_max: Cell<usize>,
    used: Cell<usize>,
    refused: Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

thread_local! {
    static BUDGET: Budget = const {
        Budget {
            bytes_max: Cell::new(BUFFERED_BODY_BYTES_PER_CORE_MAX_DEFAULT),
            used: Cell::new(0),
            refused: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
        }
    };
}

/// Sets this core's budget (once, at core start).
pub fn init(bytes_max: usize) {
    BUDGET.with(|b| b.bytes_max.set(bytes_max));
}

/// (bytes in use, bytes allowed, requests refused) on this core, for /metrics.
pub fn snapshot() -> (usize, usize, u64) {
    BUDGET.with(|b| (b.used.get(), b.bytes_max.get(), b.refused.get()))
}

fn try_take(bytes: usize) -> bool {
    BUDGET.with(|b| {
        let used = b.used.get();
        let fits = used
            .checked_add(bytes)
            .map(|total| total <= b.bytes_max.get())
            .unwrap_or(false);
        if fits {
            b.used.set(used + bytes);
        }
        fits
    })
}

fn give_back(bytes: usize) {
    if bytes == 0 {
        return;
    }
    let waiters = BUDGET.with(|b| {
        let used = b.used.get();
        assert!(used >= bytes, "budget released more than was taken");
        b.used.set(used - bytes);
        std::mem::take(&mut *b.waiters.borrow_mut())
    });
    for w in waiters {
        w.wake();
    }
}

/// Bytes of this core's budget held by one buffer; given back on drop. Not `Send`: the
/// budget is the core's own.
pub struct Lease {
    bytes: usize,
    _core_bound: PhantomData<Rc<()>>,
}

impl Lease {
    /// An empty lease, to grow as the buffer does.
    pub fn empty() -> Lease {
        Lease {
            bytes: 0,
            _core_bound: PhantomData,
        }
    }

    /// Takes `bytes` for a new buffer, waiting up to [`WAIT_MAX`].
    pub async fn take(bytes: usize) -> S3Result<Lease> {
        let mut lease = Lease::empty();
        lease.grow(bytes).await?;
        Ok(lease)
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds `more` bytes to the lease, waiting up to [`WAIT_MAX`] for them.
    pub async fn grow(&mut self, more: usize) -> S3Result<()> {
        if more == 0 || try_take(more) {
            self.bytes += more;
            return Ok(());
        }
        let got = futures_lite::future::or(TakeWhenFree { bytes: more }, async {
            glommio::timer::sleep(WAIT_MAX).await;
            false
        })
        .await;
        if !got {
            BUDGET.with(|b| b.refused.set(b.refused.get() + 1));
            return Err(S3Error::msg(
                ErrorCode::SlowDown,
                "Please reduce your request rate: this server's memory for request bodies is in use.",
            ));
        }
        self.bytes += more;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        give_back(self.bytes);
    }
}

/// Resolves to true once `bytes` could be taken; registers for a wake-up otherwise.
struct TakeWhenFree {
    bytes: usize,
}

impl Future for TakeWhenFree {
    type Output = bool;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        if try_take(self.bytes) {
            return Poll::Ready(true);
        }
        BUDGET.with(|b| b.waiters.borrow_mut().push(cx.waker().clone()));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<G, F>(g: G)
    where
        G: FnOnce() -> F + Send + 'static,
        F: Future<Output = ()> + 'static,
    {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .spawn(g)
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn leases_take_and_give_back() {
        run(|| async {
            init(100);
            let a = Lease::take(60).await.unwrap();
            let mut b = Lease::take(40).await.unwrap();
            assert_eq!(snapshot().0, 100);
            drop(a);
            assert_eq!(snapshot().0, 40);
            b.grow(60).await.unwrap();
            assert_eq!(b.bytes(), 100);
            drop(b);
            assert_eq!(snapshot().0, 0);
        });
    }

    #[test]
    fn a_spent_budget_refuses_with_slow_down_after_waiting() {
        run(|| async {
            init(100);
            let _held = Lease::take(100).await.unwrap();
            let started = std::time::Instant::now();
            let err = Lease::take(1).await.err().expect("budget is spent");
            assert_eq!(err.code, ErrorCode::SlowDown);
            assert!(started.elapsed() >= WAIT_MAX);
            assert_eq!(snapshot().2, 1);
            assert_eq!(snapshot().0, 100);
        });
    }

    #[test]
    fn a_waiter_gets_the_bytes_another_gives_back() {
        run(|| async {
            init(100);
            let held = Lease::take(100).await.unwrap();
            let waiter = glommio::spawn_local(async { Lease::take(50).await.map(|l| l.bytes()) });
            glommio::yield_if_needed().await;
            glommio::executor().yield_task_queue_now().await;
            drop(held);
            assert_eq!(waiter.await.unwrap(), 50);
            assert_eq!(snapshot().0, 0);
        });
    }
}

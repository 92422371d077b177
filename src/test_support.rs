//! Helpers shared by the unit tests and the criterion benches.

/// Deterministic pseudo-random bytes (xorshift64), different for each seed.
pub fn det_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Runs a future to its end on a fresh glommio executor (its own thread), as the unit tests
/// of code that needs one (timers, DMA files, spawned tasks) do.
pub fn on_executor<F: std::future::Future<Output = ()> + 'static>(
    f: impl FnOnce() -> F + Send + 'static,
) {
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move { f().await })
        .expect("start a test executor")
        .join()
        .expect("the test executor's thread");
}

/// Allocations and bytes asked for, as [`CountingAlloc`] counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocCounts {
    /// `alloc`, `alloc_zeroed` and `realloc` calls.
    pub allocs: u64,
    /// Bytes those calls asked for (a `realloc` counts its new size).
    pub bytes: u64,
}

impl AllocCounts {
    pub fn since(self, earlier: AllocCounts) -> AllocCounts {
        AllocCounts {
            allocs: self.allocs - earlier.allocs,
            bytes: self.bytes - earlier.bytes,
        }
    }
}

static ALL_ALLOCS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static ALL_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    // Const-initialized and without a destructor: usable from inside the allocator.
    static THREAD_COUNTS: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A global allocator (the system's) that counts what it is asked for, per thread and in
/// all; a bench or test binary installs it with `#[global_allocator]`. The allocation bench
/// (`benches/alloc.rs`) and its bounds test (`tests/alloc.rs`) read it.
pub struct CountingAlloc;

impl CountingAlloc {
    fn count(bytes: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        ALL_ALLOCS.fetch_add(1, Relaxed);
        ALL_BYTES.fetch_add(bytes as u64, Relaxed);
        let _ = THREAD_COUNTS.try_with(|c| {
            let (n, b) = c.get();
            c.set((n + 1, b + bytes as u64));
        });
    }

    /// What this thread has asked for so far.
    pub fn this_thread() -> AllocCounts {
        let (allocs, bytes) = THREAD_COUNTS.try_with(|c| c.get()).unwrap_or((0, 0));
        AllocCounts { allocs, bytes }
    }

    /// What every thread has asked for so far.
    pub fn all_threads() -> AllocCounts {
        use std::sync::atomic::Ordering::Relaxed;
        AllocCounts {
            allocs: ALL_ALLOCS.load(Relaxed),
            bytes: ALL_BYTES.load(Relaxed),
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches only atomics and
// a const thread-local `Cell`, neither of which allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        Self::count(layout.size());
        std::alloc::System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        Self::count(layout.size());
        std::alloc::System.alloc_zeroed(layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        Self::count(new_size);
        std::alloc::System.realloc(ptr, layout, new_size)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        std::alloc::System.dealloc(ptr, layout)
    }
}

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
    /// Whether this thread's allocations are traced to their call sites, and whether a trace
    /// is being taken now (its own allocations are not traced).
    static TRACING: std::cell::Cell<(bool, bool)> = const { std::cell::Cell::new((false, false)) };
    static SITES: std::cell::RefCell<std::collections::HashMap<String, u64>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Frames of a call site kept per traced allocation: the innermost of this crate's.
const SITE_FRAMES: usize = 4;

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
        Self::trace();
    }

    /// Starts or stops tracing this thread's allocations to their call sites (slow: a
    /// backtrace per allocation; for finding what a request allocates, never for timing).
    pub fn trace_sites(on: bool) {
        let _ = TRACING.try_with(|t| t.set((on, t.get().1)));
    }

    /// The call sites traced so far on this thread, most allocations first; clears them.
    pub fn take_sites() -> Vec<(String, u64)> {
        let mut sites: Vec<(String, u64)> = SITES
            .try_with(|s| s.borrow_mut().drain().collect())
            .unwrap_or_default();
        sites.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sites
    }

    fn trace() {
        let Ok((on, busy)) = TRACING.try_with(|t| t.get()) else {
            return;
        };
        if !on || busy {
            return;
        }
        let _ = TRACING.try_with(|t| t.set((true, true)));
        let site = call_site(&std::backtrace::Backtrace::force_capture().to_string());
        let _ = SITES.try_with(|s| *s.borrow_mut().entry(site).or_insert(0) += 1);
        let _ = TRACING.try_with(|t| t.set((true, false)));
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
// a const thread-local `Cell`, neither of which allocates. Tracing (off unless asked for)
// allocates, with a per-thread guard that keeps it from tracing itself.
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

/// The innermost frames of this crate in a rendered backtrace, below the allocator's own.
fn call_site(trace: &str) -> String {
    let frames: Vec<&str> = trace
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("at "))
        .filter_map(|l| l.split_once(": ").map(|(_, f)| f))
        .filter(|f| f.starts_with("bleepstore::") && !f.starts_with("bleepstore::test_support"))
        .take(SITE_FRAMES)
        .collect();
    if frames.is_empty() {
        "(outside bleepstore)".to_string()
    } else {
        frames.join(" < ")
    }
}

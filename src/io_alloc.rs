//! The server's global allocator: the system's, except for the 1 MiB O_DIRECT buffers object
//! data moves through, which get mappings of their own kept in a bounded pool.
//!
//! Why: glommio allocates those buffers 4 KiB-aligned (`posix_memalign`) whenever its
//! registered I/O arena is full, and the object cache keeps some of them for minutes
//! between short-lived ones. glibc carves each aligned block out of a larger one and leaves
//! the pieces around it to small allocations, so a freed buffer seldom fits the next
//! aligned request: with a 64 MiB object cache, 1 MiB GETs at 16 connections left 841 MiB
//! freed but kept in malloc's arenas (RSS 933 MiB; `heap_free` in /metrics). A mapping per
//! buffer returns all of it, but faulting and zeroing a fresh one per chunk cost 64 MiB PUT
//! 15 % (4afca5d): so freed buffers wait in a pool for the next one, up to
//! [`POOL_SLOTS`], and only beyond that are unmapped. Mapped buffers are at most the most
//! that were ever live at once (in flight plus cached), never the allocator's leftovers.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// The smallest allocation served from the pool: one I/O chunk.
const POOLED_MIN_BYTES: usize = 1 << 20;
/// Every pooled buffer is a mapping of this size, which serves any request from 1 MiB up to
/// it (a read of a chunk that does not start on a 4 KiB boundary asks for a little more).
pub const POOLED_BYTES: usize = (1 << 20) + (64 << 10);
/// Alignment a mapping gives (one page); stricter requests go to the system allocator.
const POOLED_ALIGN_MAX: usize = 4096;
/// Freed buffers kept for reuse, at most (272 MiB): 64 connections each streaming with a
/// read-ahead of 3 buffers plus the one being sent, the largest load the bench puts on it.
pub const POOL_SLOTS: usize = 256;

static POOL: [AtomicPtr<u8>; POOL_SLOTS] = [const { AtomicPtr::new(null_mut()) }; POOL_SLOTS];
/// Buffers mapped now (in use or pooled).
static MAPPED: AtomicUsize = AtomicUsize::new(0);
/// Buffers waiting in the pool now.
static POOLED: AtomicUsize = AtomicUsize::new(0);

/// The allocator (`#[global_allocator]` in the server binary).
pub struct IoBufferAlloc;

/// Bytes of pooled-class buffers mapped now, and of those the ones waiting in the pool.
pub fn mapped_and_pooled_bytes() -> (u64, u64) {
    let bytes = |n: usize| (n * POOLED_BYTES) as u64;
    (
        bytes(MAPPED.load(Ordering::Relaxed)),
        bytes(POOLED.load(Ordering::Relaxed)),
    )
}

fn pooled(layout: Layout) -> bool {
    (POOLED_MIN_BYTES..=POOLED_BYTES).contains(&layout.size()) && layout.align() <= POOLED_ALIGN_MAX
}

/// A buffer from the pool, or a fresh mapping; null when the system has no memory left.
fn take() -> *mut u8 {
    for slot in &POOL {
        if slot.load(Ordering::Relaxed).is_null() {
            continue;
        }
        let p = slot.swap(null_mut(), Ordering::Acquire);
        if !p.is_null() {
            POOLED.fetch_sub(1, Ordering::Relaxed);
            return p;
        }
    }
    // SAFETY: an anonymous private mapping, no file and no fixed address.
    let p = unsafe {
        libc::mmap(
            null_mut(),
            POOLED_BYTES,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return null_mut();
    }
    MAPPED.fetch_add(1, Ordering::Relaxed);
    p.cast()
}

/// Keeps `p` for the next buffer, or unmaps it when the pool is full.
///
/// # Safety
/// `p` came from [`take`] and is not used after this.
unsafe fn give_back(p: *mut u8) {
    for slot in &POOL {
        if slot
            .compare_exchange(null_mut(), p, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            POOLED.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    MAPPED.fetch_sub(1, Ordering::Relaxed);
    // SAFETY: `p` is the start of a mapping of POOLED_BYTES made by `take`, no longer used.
    let rc = unsafe { libc::munmap(p.cast(), POOLED_BYTES) };
    debug_assert_eq!(rc, 0, "munmap of a pooled I/O buffer");
}

// SAFETY: every block is either the system allocator's (passed through unchanged) or a whole
// mapping of POOLED_BYTES, page-aligned, handed to one owner at a time: the pool's slots
// are swapped atomically, so a buffer is never in two slots or in a slot and in use.
unsafe impl GlobalAlloc for IoBufferAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if pooled(layout) {
            return take();
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if pooled(layout) {
            let p = take();
            if !p.is_null() {
                // SAFETY: `p` is POOLED_BYTES long, at least layout.size().
                unsafe { p.write_bytes(0, layout.size()) };
            }
            return p;
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if pooled(layout) {
            // SAFETY: allocated by `alloc` with the same layout, so by `take`.
            unsafe { give_back(ptr) };
            return;
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract: `layout.align()` is valid and `new_size` fits it.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (pooled(layout), pooled(new_layout)) {
            // The mapping already has room for any size of the class.
            (true, true) => ptr,
            // SAFETY: the caller's contract, passed on.
            (false, false) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: a fresh block of the new layout; the old one is valid for
                // min(old, new) bytes and freed once copied.
                unsafe {
                    let p = self.alloc(new_layout);
                    if !p.is_null() {
                        std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    p
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHUNK: Layout = match Layout::from_size_align(1 << 20, 4096) {
        Ok(l) => l,
        Err(_) => panic!("a valid layout"),
    };

    /// The pool is process-wide: the tests that count it take turns.
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_freed_buffer_is_reused_and_the_pool_is_bounded() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let a = IoBufferAlloc;
        // SAFETY: layouts are valid; every block is written within its size and freed once.
        unsafe {
            let p = a.alloc(CHUNK);
            assert!(!p.is_null());
            assert_eq!(p as usize % 4096, 0, "page-aligned");
            p.write_bytes(0xab, CHUNK.size());
            a.dealloc(p, CHUNK);
            let q = a.alloc(CHUNK);
            assert_eq!(q, p, "the freed buffer is the next one handed out");
            a.dealloc(q, CHUNK);

            // More buffers live at once than the pool keeps: freeing all of them unmaps
            // the surplus, and the pool never holds more than its slots.
            let many: Vec<*mut u8> = (0..POOL_SLOTS + 8).map(|_| a.alloc(CHUNK)).collect();
            assert!(many.iter().all(|p| !p.is_null()));
            for p in many {
                a.dealloc(p, CHUNK);
            }
            let (mapped, pooled) = mapped_and_pooled_bytes();
            let full = (POOL_SLOTS * POOLED_BYTES) as u64;
            assert_eq!(
                (mapped, pooled),
                (full, full),
                "the pool full, the surplus unmapped"
            );
        }
    }

    #[test]
    fn zeroed_and_grown_blocks_keep_their_contents() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let a = IoBufferAlloc;
        // SAFETY: as above; realloc gets the block's own layout.
        unsafe {
            // A pooled buffer handed back dirty comes out zeroed when asked to.
            let p = a.alloc(CHUNK);
            p.write_bytes(0xcd, CHUNK.size());
            a.dealloc(p, CHUNK);
            let z = a.alloc_zeroed(CHUNK);
            assert!(std::slice::from_raw_parts(z, CHUNK.size())
                .iter()
                .all(|b| *b == 0));
            a.dealloc(z, CHUNK);

            // Small → pooled → larger than the class: the bytes move along.
            let small = Layout::from_size_align(64, 8).unwrap();
            let s = a.alloc(small);
            s.write_bytes(7, 64);
            let mid = a.realloc(s, small, 1 << 20);
            assert_eq!(std::slice::from_raw_parts(mid, 64), &[7u8; 64][..]);
            let mid_layout = Layout::from_size_align(1 << 20, 8).unwrap();
            let same = a.realloc(mid, mid_layout, POOLED_BYTES);
            assert_eq!(same, mid, "within the class the mapping is kept");
            let big = a.realloc(
                same,
                Layout::from_size_align(POOLED_BYTES, 8).unwrap(),
                4 << 20,
            );
            assert_eq!(std::slice::from_raw_parts(big, 64), &[7u8; 64][..]);
            a.dealloc(big, Layout::from_size_align(4 << 20, 8).unwrap());
        }
    }
}

//! Where the process's memory goes (issue #21): the resident set next to the parts that
//! explain it, so a climbing RSS can be traced to a cache, to I/O buffers in flight or to
//! the allocator keeping memory that was freed. Read at scrape time only: `mallinfo2` takes
//! every arena's lock once, which no request path should pay.

/// The process-wide figures, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessMemory {
    /// Resident set (`/proc/self/statm`): what the kernel charges the process.
    pub rss: u64,
    /// Bytes the program holds from malloc (small and large allocations together).
    pub heap_in_use: u64,
    /// Bytes freed back to malloc and kept in its arenas, resident until reused or trimmed:
    /// fragmentation and the high-water mark of earlier peaks.
    pub heap_free: u64,
    /// Bytes of allocations served by their own mmap (large blocks), in use.
    pub heap_mmapped: u64,
}

/// Reads the figures now; a part the platform cannot tell stays 0.
pub fn process() -> ProcessMemory {
    let mut m = ProcessMemory {
        rss: resident_bytes().unwrap_or(0),
        ..ProcessMemory::default()
    };
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's own bookkeeping and returns it by value.
        let info = unsafe { libc::mallinfo2() };
        m.heap_in_use = (info.uordblks + info.hblkhd) as u64;
        m.heap_free = info.fordblks as u64;
        m.heap_mmapped = info.hblkhd as u64;
    }
    m
}

/// Resident bytes from `/proc/self/statm` (its second field, in pages).
pub fn resident_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf reads a constant of the running system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_process_figures_add_up() {
        let held = std::hint::black_box(vec![7u8; 8 << 20]); // touched, so resident
        let m = process();
        assert!(
            m.rss >= held.len() as u64,
            "rss {} below a held 8 MiB",
            m.rss
        );
        assert!(m.heap_in_use >= held.len() as u64);
        assert!(crate::config::machine_memory_bytes().unwrap_or(0) >= m.rss);
        drop(std::hint::black_box(held));
    }
}

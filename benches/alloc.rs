//! Allocations per request on the whole request path, in-process (issue #21): GET and HEAD
//! of a 4 KiB inline object and PUT of a 4 KiB object, after warm-up, access log on.
//! Counts are deterministic, not timed; `tests/alloc.rs` holds GET and HEAD to a bound.
//!
//! Run: `cargo bench --bench alloc` (optionally `-- 2000`: requests per connection).
//! With `ALLOC_SITES=1` it also prints where one warm GET allocates, by call site.

#[path = "support/alloc_cells.rs"]
mod cells;

#[global_allocator]
static COUNTING: bleepstore::test_support::CountingAlloc = bleepstore::test_support::CountingAlloc;

fn main() {
    // `cargo bench` passes `--bench`; a bare number among the arguments sets n.
    let n = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<u64>().ok())
        .unwrap_or(1000);
    println!(
        "allocations per request ({n} and {} requests per connection, after warm-up)",
        2 * n
    );
    println!(
        "{:<20} {:>12} {:>12} {:>14} {:>14}",
        "cell", "core allocs", "core bytes", "all-thr allocs", "all-thr bytes"
    );
    for c in cells::measure(n) {
        println!(
            "{:<20} {:>12.2} {:>12.1} {:>14.2} {:>14.1}",
            c.name, c.core_allocs, c.core_bytes, c.all_allocs, c.all_bytes
        );
    }
}

//! Allocation bounds on the request path (issue #21), from the same in-process cells the
//! allocation bench prints (`benches/alloc.rs`). A count is deterministic, so a bound is an
//! honest test: a change that adds allocations to GET or HEAD of an inline object fails here.

// The bench prints every figure; this test reads only the core's allocation counts.
#[allow(dead_code)]
#[path = "../benches/support/alloc_cells.rs"]
mod cells;

#[global_allocator]
static COUNTING: bleepstore::test_support::CountingAlloc = bleepstore::test_support::CountingAlloc;

/// Allocations per GET / HEAD of an inline object on the core's thread, at most: the counts
/// measured when this bound was set (51 and 49, down from 119 and 116) plus a little room
/// for amortized costs (a log hand-over, a timestamp per second). Lower them as cuts land.
const GET_ALLOCS_MAX: f64 = 56.0;
const HEAD_ALLOCS_MAX: f64 = 54.0;

#[test]
fn inline_get_and_head_stay_under_their_allocation_bounds() {
    let cells = cells::measure(200);
    let get = cells.iter().find(|c| c.name.starts_with("GET")).unwrap();
    let head = cells.iter().find(|c| c.name.starts_with("HEAD")).unwrap();
    assert!(get.core_allocs <= GET_ALLOCS_MAX, "{get:?}");
    assert!(head.core_allocs <= HEAD_ALLOCS_MAX, "{head:?}");
}

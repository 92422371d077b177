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

//! Multi-buffer MD5: up to eight independent streams compressed in lock-step, one stream per
//! 32-bit lane of a 256-bit register.
//!
//! Why: one MD5 stream is a serial chain of 64 dependent steps per block, so a core hashes
//! one stream at ~900 MiB/s however wide it is, and a 2-core box receiving large PUTs spends
//! most of its CPU there. Streams of different uploads are independent, so eight of them fit
//! in one register: each step costs the same four-instruction chain (ternary-logic function,
//! add, rotate, add) for eight blocks instead of one. AVX-512VL gives the one-instruction
//! boolean functions (`vpternlogd`) and rotate (`vprold`) that keep the chain that short.
//! Without it, `compress_lanes` falls back to the scalar compression, stream by stream.
//!
//! The caller batches the streams (`runtime::md5_batch`); this module only computes.

use super::md5::compress;

/// Streams per register.
pub const LANES: usize = 8;

/// A step of the 8-lane kernel takes ~2.2 times as long as a scalar step here (criterion,
/// `md5_lanes`: 8 streams 3.05 GiB/s, 2 streams 0.76, one scalar stream 0.85), so the
/// kernel pays from three busy lanes up; fewer run scalar.
const LANES_SIMD_MIN: usize = 3;

/// One stream's share of a batch: its chaining state and the whole blocks to fold into it.
pub struct LaneJob<'d> {
    pub state: [u32; 4],
    pub blocks: &'d [[u8; 64]],
}

/// Compresses every job's blocks into its state. Jobs of unequal length are fine: a lane
/// whose job ends takes the next waiting job; the last few jobs, too few to fill a
/// register usefully, go scalar.
pub fn compress_lanes(jobs: &mut [LaneJob<'_>]) {
    if jobs.len() < LANES_SIMD_MIN || !simd_available() {
        for j in jobs.iter_mut() {
            compress(&mut j.state, j.blocks);
            j.blocks = &[];
        }
        return;
    }
    // Lanes hold job indices; `next` is the first job not yet in a lane.
    let mut lanes: Vec<usize> = Vec::with_capacity(LANES);
    let mut next = 0;
    loop {
        while lanes.len() < LANES && next < jobs.len() {
            if !jobs[next].blocks.is_empty() {
                lanes.push(next);
            }
            next += 1;
        }
        if lanes.len() < LANES_SIMD_MIN && next == jobs.len() {
            for &i in &lanes {
                let j = &mut jobs[i];
                compress(&mut j.state, j.blocks);
                j.blocks = &[];
            }
            return;
        }
        let steps = lanes
            .iter()
            .map(|&i| jobs[i].blocks.len())
            .min()
            .unwrap_or(0);
        run_lanes(jobs, &lanes, steps);
        lanes.retain(|&i| !jobs[i].blocks.is_empty());
    }
}

/// Runs `steps` blocks of each job in `lanes` through the 8-lane kernel. Unused lanes
/// recompute lane 0's blocks into a scratch state that is thrown away.
fn run_lanes(jobs: &mut [LaneJob<'_>], lanes: &[usize], steps: usize) {
    assert!(!lanes.is_empty() && lanes.len() <= LANES);
    let mut states = [[0u32; 4]; LANES];
    let mut ptrs = [jobs[lanes[0]].blocks.as_ptr(); LANES];
    for (k, &i) in lanes.iter().enumerate() {
        assert!(jobs[i].blocks.len() >= steps);
        states[k] = jobs[i].state;
        ptrs[k] = jobs[i].blocks.as_ptr();
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `simd_available()` was checked by the only caller; every pointer addresses at
    // least `steps` blocks (asserted above) borrowed from `jobs` for this call.
    unsafe {
        x86::compress8(&mut states, &ptrs, steps)
    };
    for (k, &i) in lanes.iter().enumerate() {
        jobs[i].state = states[k];
        jobs[i].blocks = &jobs[i].blocks[steps..];
    }
}

/// Whether this CPU runs the 8-lane kernel (AVX-512F + VL), checked once.
pub fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::LANES;
    use crate::hash::md5::{md5_rounds, RC};
    use std::arch::x86_64::*;

    // Each step: a = b + rotl(a + (X[k] + RC[i]) + f(b, c, d), s), on eight lanes at once.
    // `(X[k] + RC[i])` and its sum with `a` do not wait on `b`, so the chain is f-add-rol-add.
    // The ternary-logic immediates are f's truth tables over (b, c, d).
    macro_rules! step {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr, $f:expr) => {
            let t = _mm256_add_epi32($a, _mm256_add_epi32($m, _mm256_set1_epi32(RC[$i] as i32)));
            let f = _mm256_ternarylogic_epi32::<{ $f }>($b, $c, $d);
            $a = _mm256_add_epi32(_mm256_rol_epi32::<{ $s }>(_mm256_add_epi32(t, f)), $b);
        };
    }
    /// Defines a round's step macro, in the shape `md5_rounds!` calls, from its truth table.
    /// (`$d` passes a literal `$` through, so the inner macro can have metavariables.)
    macro_rules! round {
        ($d:tt $name:ident, $f:expr) => {
            macro_rules! $name {
                ($d a:ident, $d b:ident, $d c:ident, $d x:ident, $d m:expr, $d i:expr, $d s:expr) => {
                    step!($d a, $d b, $d c, $d x, $d m, $d i, $d s, $f)
                };
            }
        };
    }
    round!($ v1, 0xCA); // f = (b & c) | (!b & d)
    round!($ v2, 0xE4); // f = (b & d) | (c & !d)
    round!($ v3, 0x96); // f = b ^ c ^ d
    round!($ v4, 0x39); // f = c ^ (b | !d)

    /// Eight rows of eight u32s (one row per lane) become eight registers of one word each.
    #[target_feature(enable = "avx2")]
    fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
        let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
        let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }

    /// Loads 32 bytes at `offset` of each lane's block, transposed.
    ///
    /// SAFETY: each `ptrs[k]` + `offset` + 32 must be readable.
    #[target_feature(enable = "avx2")]
    unsafe fn load_words(ptrs: &[*const u8; LANES], offset: usize) -> [__m256i; 8] {
        let mut rows = [_mm256_setzero_si256(); 8];
        for (row, p) in rows.iter_mut().zip(ptrs) {
            // SAFETY: the caller's contract.
            *row = unsafe { _mm256_loadu_si256(p.add(offset) as *const __m256i) };
        }
        transpose(rows)
    }

    /// Folds `steps` blocks of each lane into its state.
    ///
    /// SAFETY: the CPU has AVX-512F and AVX-512VL; each `ptrs[k]` addresses `steps` readable
    /// 64-byte blocks.
    #[target_feature(enable = "avx2,avx512f,avx512vl")]
    pub(super) unsafe fn compress8(
        states: &mut [[u32; 4]; LANES],
        ptrs: &[*const [u8; 64]; LANES],
        steps: usize,
    ) {
        let column = |w: usize| {
            let mut v = [0u32; LANES];
            for (x, s) in v.iter_mut().zip(states.iter()) {
                *x = s[w];
            }
            // SAFETY: an unaligned 32-byte load from a 32-byte array.
            unsafe { _mm256_loadu_si256(v.as_ptr() as *const __m256i) }
        };
        let (mut a, mut b, mut c, mut d) = (column(0), column(1), column(2), column(3));
        let mut p: [*const u8; LANES] = [std::ptr::null(); LANES];
        for (q, s) in p.iter_mut().zip(ptrs) {
            *q = s.cast();
        }
        for _ in 0..steps {
            // SAFETY: the caller's contract; each lane advances 64 bytes per step.
            let lo = unsafe { load_words(&p, 0) };
            let hi = unsafe { load_words(&p, 32) };
            let x = [
                lo[0], lo[1], lo[2], lo[3], lo[4], lo[5], lo[6], lo[7], hi[0], hi[1], hi[2], hi[3],
                hi[4], hi[5], hi[6], hi[7],
            ];
            let (a0, b0, c0, d0) = (a, b, c, d);
            md5_rounds!(v1, v2, v3, v4, a, b, c, d, x);
            a = _mm256_add_epi32(a, a0);
            b = _mm256_add_epi32(b, b0);
            c = _mm256_add_epi32(c, c0);
            d = _mm256_add_epi32(d, d0);
            for q in p.iter_mut() {
                // SAFETY: stays within (or one past) the caller's blocks.
                *q = unsafe { q.add(64) };
            }
        }
        for (w, v) in [a, b, c, d].into_iter().enumerate() {
            let mut out = [0u32; LANES];
            // SAFETY: an unaligned 32-byte store into a 32-byte array.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, v) };
            for (s, x) in states.iter_mut().zip(out) {
                s[w] = x;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::md5::INIT;
    use crate::test_support::det_bytes;

    /// Runs `data` through `compress_lanes` as one batch and checks each stream's state
    /// against the scalar compression.
    fn check_batch(data: &[Vec<u8>]) {
        let mut jobs: Vec<LaneJob> = data
            .iter()
            .map(|d| LaneJob {
                state: INIT,
                blocks: d.as_chunks::<64>().0,
            })
            .collect();
        compress_lanes(&mut jobs);
        for (j, d) in jobs.iter().zip(data) {
            assert!(j.blocks.is_empty());
            let mut want = INIT;
            compress(&mut want, d.as_chunks::<64>().0);
            assert_eq!(j.state, want, "batch of {}", data.len());
        }
    }

    #[test]
    fn lanes_match_scalar_for_any_mix_of_lengths() {
        let data: Vec<Vec<u8>> = (0..19)
            .map(|i| det_bytes(i, 64 * (i as usize * 7 % 23)))
            .collect();
        for count in [1, 2, 3, 7, 8, 9, 16, 19] {
            check_batch(&data[..count]);
        }
    }

    #[test]
    fn eight_lanes_of_one_megabyte_match_scalar() {
        let data: Vec<Vec<u8>> = (0..8).map(|i| det_bytes(100 + i, 1 << 20)).collect();
        check_batch(&data);
    }
}

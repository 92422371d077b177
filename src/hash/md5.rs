//! MD5, the ETag of every single-request upload, hashed in the same pass that writes it.
//!
//! Why our own: on a 2-core box a large PUT is bound by MD5 (half of all CPU samples at
//! 1 MiB PUT), and MD5 is one serial dependency chain, so speed is the chain's latency per
//! step. The md-5 crate's compression runs at ~690 MiB/s per core here (asm feature) and
//! ~730 MiB/s (portable); OpenSSL's at ~860. The x86-64 steps below reach ~900 MiB/s by
//! ordering each step so that only the last few instructions wait on the previous one:
//! the message word and round constant are added to `a` first (one `lea`, off the chain),
//! the boolean function's parts that do not involve `b` are prepared early, and round 2's
//! `(b & d) | (c & !d)` is written as a sum of disjoint masks, so the chain is and-add-rol-add.
//! The portable version (other targets) is the same arithmetic in Rust. Tests check both
//! against the md-5 crate.
//!
//! Concurrent uploads do better still: `md5_lanes` compresses up to eight streams in one
//! register, and request bodies reach it through the per-core batcher `runtime::md5_batch`
//! (split updates: `absorb_head`, `state_mut`, `absorb_tail`).

/// Round constants: floor(abs(sin(i + 1)) * 2^32).
pub(crate) const RC: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

pub(crate) const INIT: [u32; 4] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];

const BLOCK_SIZE: usize = 64;

/// An incremental MD5: `update` any number of times, then `finalize`.
#[derive(Clone)]
pub struct Md5 {
    state: [u32; 4],
    /// Bytes of an incomplete block, waiting for the next update.
    pending: [u8; BLOCK_SIZE],
    pending_len: usize,
    total_len: u64,
}

impl Default for Md5 {
    fn default() -> Self {
        Md5::new()
    }
}

impl Md5 {
    pub fn new() -> Md5 {
        Md5 {
            state: INIT,
            pending: [0; BLOCK_SIZE],
            pending_len: 0,
            total_len: 0,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        let (blocks, tail) = self.absorb_head(data);
        compress(&mut self.state, blocks);
        self.absorb_tail(tail);
    }

    /// The first third of an `update` whose whole blocks are compressed elsewhere (by the
    /// per-core batcher, `runtime::md5_batch`): counts `data`, completes a pending partial
    /// block, and returns the whole blocks that follow and the tail. The caller compresses
    /// the blocks into `state_mut()`, then hands the tail to `absorb_tail`.
    pub fn absorb_head<'d>(&mut self, mut data: &'d [u8]) -> (&'d [[u8; BLOCK_SIZE]], &'d [u8]) {
        self.total_len = self.total_len.wrapping_add(data.len() as u64);
        if self.pending_len > 0 {
            let take = (BLOCK_SIZE - self.pending_len).min(data.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&data[..take]);
            self.pending_len += take;
            data = &data[take..];
            if self.pending_len < BLOCK_SIZE {
                assert!(data.is_empty());
                return (&[], &[]);
            }
            compress(&mut self.state, std::slice::from_ref(&self.pending));
            self.pending_len = 0;
        }
        data.as_chunks::<BLOCK_SIZE>()
    }

    pub fn state_mut(&mut self) -> &mut [u32; 4] {
        &mut self.state
    }

    /// The last third of a split `update`: keeps the tail for the next block.
    pub fn absorb_tail(&mut self, tail: &[u8]) {
        assert!(tail.len() < BLOCK_SIZE);
        if tail.is_empty() {
            return;
        }
        assert_eq!(self.pending_len, 0, "a tail follows whole blocks only");
        self.pending[..tail.len()].copy_from_slice(tail);
        self.pending_len = tail.len();
    }

    pub fn finalize(mut self) -> [u8; 16] {
        let bit_len = self.total_len.wrapping_mul(8);
        // Padding: 0x80, zeros up to 56 mod 64, then the message length in bits (LE).
        let mut tail = [0u8; 2 * BLOCK_SIZE];
        let n = self.pending_len;
        tail[..n].copy_from_slice(&self.pending[..n]);
        tail[n] = 0x80;
        let tail_len = if n < 56 { BLOCK_SIZE } else { 2 * BLOCK_SIZE };
        tail[tail_len - 8..tail_len].copy_from_slice(&bit_len.to_le_bytes());
        let (blocks, rest) = tail[..tail_len].as_chunks::<BLOCK_SIZE>();
        debug_assert!(rest.is_empty());
        compress(&mut self.state, blocks);
        let mut out = [0u8; 16];
        for (o, w) in out.as_chunks_mut::<4>().0.iter_mut().zip(self.state) {
            *o = w.to_le_bytes();
        }
        out
    }

    /// The digest of one buffer.
    pub fn digest(data: &[u8]) -> [u8; 16] {
        let mut h = Md5::new();
        h.update(data);
        h.finalize()
    }
}

fn words(block: &[u8; BLOCK_SIZE]) -> [u32; 16] {
    let mut x = [0u32; 16];
    for (w, b) in x.iter_mut().zip(block.as_chunks::<4>().0) {
        *w = u32::from_le_bytes(*b);
    }
    x
}

/// Defines `compress` from the round macros `r1`..`r4` in scope at the call site, each
/// `rN!(a, b, c, d, word, step, shift)`.
macro_rules! md5_compress_fn {
    () => {
        pub(crate) fn compress(state: &mut [u32; 4], blocks: &[[u8; 64]]) {
            let [mut a, mut b, mut c, mut d] = *state;
            for block in blocks {
                let x = words(block);
                let (a0, b0, c0, d0) = (a, b, c, d);
                md5_rounds!(r1, r2, r3, r4, a, b, c, d, x);
                a = a.wrapping_add(a0);
                b = b.wrapping_add(b0);
                c = c.wrapping_add(c0);
                d = d.wrapping_add(d0);
            }
            *state = [a, b, c, d];
        }
    };
}

/// The 64 steps over one block.
macro_rules! md5_rounds {
    ($r1:ident, $r2:ident, $r3:ident, $r4:ident, $a:ident, $b:ident, $c:ident, $d:ident, $x:ident) => {
        $r1!($a, $b, $c, $d, $x[0], 0, 7);
        $r1!($d, $a, $b, $c, $x[1], 1, 12);
        $r1!($c, $d, $a, $b, $x[2], 2, 17);
        $r1!($b, $c, $d, $a, $x[3], 3, 22);
        $r1!($a, $b, $c, $d, $x[4], 4, 7);
        $r1!($d, $a, $b, $c, $x[5], 5, 12);
        $r1!($c, $d, $a, $b, $x[6], 6, 17);
        $r1!($b, $c, $d, $a, $x[7], 7, 22);
        $r1!($a, $b, $c, $d, $x[8], 8, 7);
        $r1!($d, $a, $b, $c, $x[9], 9, 12);
        $r1!($c, $d, $a, $b, $x[10], 10, 17);
        $r1!($b, $c, $d, $a, $x[11], 11, 22);
        $r1!($a, $b, $c, $d, $x[12], 12, 7);
        $r1!($d, $a, $b, $c, $x[13], 13, 12);
        $r1!($c, $d, $a, $b, $x[14], 14, 17);
        $r1!($b, $c, $d, $a, $x[15], 15, 22);
        $r2!($a, $b, $c, $d, $x[1], 16, 5);
        $r2!($d, $a, $b, $c, $x[6], 17, 9);
        $r2!($c, $d, $a, $b, $x[11], 18, 14);
        $r2!($b, $c, $d, $a, $x[0], 19, 20);
        $r2!($a, $b, $c, $d, $x[5], 20, 5);
        $r2!($d, $a, $b, $c, $x[10], 21, 9);
        $r2!($c, $d, $a, $b, $x[15], 22, 14);
        $r2!($b, $c, $d, $a, $x[4], 23, 20);
        $r2!($a, $b, $c, $d, $x[9], 24, 5);
        $r2!($d, $a, $b, $c, $x[14], 25, 9);
        $r2!($c, $d, $a, $b, $x[3], 26, 14);
        $r2!($b, $c, $d, $a, $x[8], 27, 20);
        $r2!($a, $b, $c, $d, $x[13], 28, 5);
        $r2!($d, $a, $b, $c, $x[2], 29, 9);
        $r2!($c, $d, $a, $b, $x[7], 30, 14);
        $r2!($b, $c, $d, $a, $x[12], 31, 20);
        $r3!($a, $b, $c, $d, $x[5], 32, 4);
        $r3!($d, $a, $b, $c, $x[8], 33, 11);
        $r3!($c, $d, $a, $b, $x[11], 34, 16);
        $r3!($b, $c, $d, $a, $x[14], 35, 23);
        $r3!($a, $b, $c, $d, $x[1], 36, 4);
        $r3!($d, $a, $b, $c, $x[4], 37, 11);
        $r3!($c, $d, $a, $b, $x[7], 38, 16);
        $r3!($b, $c, $d, $a, $x[10], 39, 23);
        $r3!($a, $b, $c, $d, $x[13], 40, 4);
        $r3!($d, $a, $b, $c, $x[0], 41, 11);
        $r3!($c, $d, $a, $b, $x[3], 42, 16);
        $r3!($b, $c, $d, $a, $x[6], 43, 23);
        $r3!($a, $b, $c, $d, $x[9], 44, 4);
        $r3!($d, $a, $b, $c, $x[12], 45, 11);
        $r3!($c, $d, $a, $b, $x[15], 46, 16);
        $r3!($b, $c, $d, $a, $x[2], 47, 23);
        $r4!($a, $b, $c, $d, $x[0], 48, 6);
        $r4!($d, $a, $b, $c, $x[7], 49, 10);
        $r4!($c, $d, $a, $b, $x[14], 50, 15);
        $r4!($b, $c, $d, $a, $x[5], 51, 21);
        $r4!($a, $b, $c, $d, $x[12], 52, 6);
        $r4!($d, $a, $b, $c, $x[3], 53, 10);
        $r4!($c, $d, $a, $b, $x[10], 54, 15);
        $r4!($b, $c, $d, $a, $x[1], 55, 21);
        $r4!($a, $b, $c, $d, $x[8], 56, 6);
        $r4!($d, $a, $b, $c, $x[15], 57, 10);
        $r4!($c, $d, $a, $b, $x[6], 58, 15);
        $r4!($b, $c, $d, $a, $x[13], 59, 21);
        $r4!($a, $b, $c, $d, $x[4], 60, 6);
        $r4!($d, $a, $b, $c, $x[11], 61, 10);
        $r4!($c, $d, $a, $b, $x[2], 62, 15);
        $r4!($b, $c, $d, $a, $x[9], 63, 21);
    };
}
pub(crate) use md5_rounds;

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::compress;

#[cfg(not(target_arch = "x86_64"))]
pub(crate) use portable::compress;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{words, RC};
    use std::arch::asm;

    // Each step: a = b + rotl(a + X[k] + RC[i] + f(b, c, d), s). The registers hold u32s;
    // `lea` adds in 64-bit registers and keeps the low 32 bits, which is the wrapping sum.
    // SAFETY (all four): register-only arithmetic, no memory, no stack, no flags relied on.

    /// Round 1, f = d ^ (b & (c ^ d)).
    macro_rules! r1 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
            unsafe {
                asm!(
                    "mov {t:e}, {c:e}", "xor {t:e}, {d:e}", "lea {a:e}, [{a:r} + {m:r} + {k}]",
                    "and {t:e}, {b:e}", "xor {t:e}, {d:e}", "add {a:e}, {t:e}",
                    "rol {a:e}, {s}", "add {a:e}, {b:e}",
                    a = inout(reg) $a, b = in(reg) $b, c = in(reg) $c, d = in(reg) $d,
                    m = in(reg) $m, t = out(reg) _, k = const RC[$i] as i32, s = const $s,
                    options(pure, nomem, nostack)
                )
            }
        };
    }
    /// Round 2, f = (b & d) + (c & !d): disjoint masks, so + is |.
    macro_rules! r2 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
            unsafe {
                asm!(
                    "mov {t:e}, {d:e}", "not {t:e}", "lea {a:e}, [{a:r} + {m:r} + {k}]",
                    "and {t:e}, {c:e}", "mov {u:e}, {d:e}", "add {a:e}, {t:e}",
                    "and {u:e}, {b:e}", "add {a:e}, {u:e}", "rol {a:e}, {s}", "add {a:e}, {b:e}",
                    a = inout(reg) $a, b = in(reg) $b, c = in(reg) $c, d = in(reg) $d,
                    m = in(reg) $m, t = out(reg) _, u = out(reg) _, k = const RC[$i] as i32,
                    s = const $s, options(pure, nomem, nostack)
                )
            }
        };
    }
    /// Round 3, f = b ^ c ^ d.
    macro_rules! r3 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
            unsafe {
                asm!(
                    "mov {t:e}, {c:e}", "xor {t:e}, {d:e}", "lea {a:e}, [{a:r} + {m:r} + {k}]",
                    "xor {t:e}, {b:e}", "add {a:e}, {t:e}", "rol {a:e}, {s}", "add {a:e}, {b:e}",
                    a = inout(reg) $a, b = in(reg) $b, c = in(reg) $c, d = in(reg) $d,
                    m = in(reg) $m, t = out(reg) _, k = const RC[$i] as i32, s = const $s,
                    options(pure, nomem, nostack)
                )
            }
        };
    }
    /// Round 4, f = c ^ (b | !d).
    macro_rules! r4 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
            unsafe {
                asm!(
                    "mov {t:e}, {d:e}", "not {t:e}", "lea {a:e}, [{a:r} + {m:r} + {k}]",
                    "or {t:e}, {b:e}", "xor {t:e}, {c:e}", "add {a:e}, {t:e}",
                    "rol {a:e}, {s}", "add {a:e}, {b:e}",
                    a = inout(reg) $a, b = in(reg) $b, c = in(reg) $c, d = in(reg) $d,
                    m = in(reg) $m, t = out(reg) _, k = const RC[$i] as i32, s = const $s,
                    options(pure, nomem, nostack)
                )
            }
        };
    }

    md5_compress_fn!();
}

#[cfg(any(test, not(target_arch = "x86_64")))]
mod portable {
    use super::{words, RC};

    macro_rules! r1 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
            let t = $a.wrapping_add($m).wrapping_add(RC[$i]);
            $a = t
                .wrapping_add((($c ^ $d) & $b) ^ $d)
                .rotate_left($s)
                .wrapping_add($b);
        };
    }
    macro_rules! r2 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
            let t = $a
                .wrapping_add($m)
                .wrapping_add(RC[$i])
                .wrapping_add($c & !$d);
            $a = t.wrapping_add($b & $d).rotate_left($s).wrapping_add($b);
        };
    }
    macro_rules! r3 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
            let t = $a.wrapping_add($m).wrapping_add(RC[$i]);
            $a = t
                .wrapping_add($b ^ $c ^ $d)
                .rotate_left($s)
                .wrapping_add($b);
        };
    }
    macro_rules! r4 {
        ($a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
            let t = $a.wrapping_add($m).wrapping_add(RC[$i]);
            $a = t
                .wrapping_add(($b | !$d) ^ $c)
                .rotate_left($s)
                .wrapping_add($b);
        };
    }

    md5_compress_fn!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    fn reference(data: &[u8]) -> [u8; 16] {
        md5::Md5::digest(data).into()
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
        crate::test_support::det_bytes(seed, len)
    }

    #[test]
    fn rfc1321_vectors() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (input, hex_digest) in cases {
            assert_eq!(hex::encode(Md5::digest(input)), hex_digest);
        }
    }

    #[test]
    fn every_length_around_block_and_padding_edges_matches_md5_crate() {
        for len in (0..300).chain([4095, 4096, 4097, 65_536, 1_048_577]) {
            let data = pseudo_random(len, len as u64);
            assert_eq!(Md5::digest(&data), reference(&data), "len {len}");
        }
    }

    #[test]
    fn any_split_into_updates_gives_the_same_digest() {
        let data = pseudo_random(10_000, 7);
        let want = reference(&data);
        for step in [1, 3, 63, 64, 65, 127, 1000, 4096] {
            let mut h = Md5::new();
            for chunk in data.chunks(step) {
                h.update(chunk);
            }
            assert_eq!(h.finalize(), want, "updates of {step} bytes");
        }
    }

    #[test]
    fn portable_and_x86_compress_agree() {
        let data = pseudo_random(64 * 257, 11);
        let (blocks, _) = data.as_chunks::<64>();
        let mut a = INIT;
        let mut b = INIT;
        compress(&mut a, blocks);
        portable::compress(&mut b, blocks);
        assert_eq!(a, b);
    }
}

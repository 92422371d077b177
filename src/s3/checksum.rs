//! Payload digests computed in the same pass as the bytes stream through: MD5 (the ETag),
//! and any S3 additional checksum the client asked for (CRC32, CRC32C, CRC64NVME, SHA-1,
//! SHA-256), rendered as S3 renders them: base64 of the big-endian digest.

use super::md5::Md5;
use crate::engine::Checksums;
use crate::s3::error::{ErrorCode, S3Error, S3Result};
use base64::Engine;
use sha2::Digest as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

pub const ALL_ALGOS: [Algo; 5] = [
    Algo::Crc32,
    Algo::Crc32c,
    Algo::Crc64Nvme,
    Algo::Sha1,
    Algo::Sha256,
];

impl Algo {
    pub fn parse(s: &str) -> Option<Algo> {
        match s.to_ascii_uppercase().as_str() {
            "CRC32" => Some(Algo::Crc32),
            "CRC32C" => Some(Algo::Crc32c),
            "CRC64NVME" => Some(Algo::Crc64Nvme),
            "SHA1" => Some(Algo::Sha1),
            "SHA256" => Some(Algo::Sha256),
            _ => None,
        }
    }
    pub fn header(self) -> &'static str {
        match self {
            Algo::Crc32 => "x-amz-checksum-crc32",
            Algo::Crc32c => "x-amz-checksum-crc32c",
            Algo::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Algo::Sha1 => "x-amz-checksum-sha1",
            Algo::Sha256 => "x-amz-checksum-sha256",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Algo::Crc32 => "CRC32",
            Algo::Crc32c => "CRC32C",
            Algo::Crc64Nvme => "CRC64NVME",
            Algo::Sha1 => "SHA1",
            Algo::Sha256 => "SHA256",
        }
    }
    fn digest_len(self) -> usize {
        match self {
            Algo::Crc32 | Algo::Crc32c => 4,
            Algo::Crc64Nvme => 8,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
        }
    }
}

enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl State {
    fn new(a: Algo) -> State {
        match a {
            Algo::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            Algo::Crc32c => State::Crc32c(0),
            Algo::Crc64Nvme => State::Crc64(crc64fast_nvme::Digest::new()),
            Algo::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algo::Sha256 => State::Sha256(sha2::Sha256::new()),
        }
    }
    fn update(&mut self, d: &[u8]) {
        match self {
            State::Crc32(h) => h.update(d),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, d),
            State::Crc64(h) => h.write(d),
            State::Sha1(h) => h.update(d),
            State::Sha256(h) => h.update(d),
        }
    }
    fn finish(self) -> Vec<u8> {
        match self {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(c) => c.to_be_bytes().to_vec(),
            State::Crc64(h) => h.sum64().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Digests of one payload, fed incrementally.
pub struct Hashers {
    md5: Md5,
    extra: Vec<(Algo, State)>,
}

pub struct Digests {
    pub md5: [u8; 16],
    pub checksums: Vec<(Algo, String)>,
}

impl Hashers {
    pub fn new(algos: &[Algo]) -> Hashers {
        let mut extra: Vec<(Algo, State)> = Vec::new();
        for a in algos {
            if !extra.iter().any(|(b, _)| b == a) {
                extra.push((*a, State::new(*a)));
            }
        }
        Hashers {
            md5: Md5::new(),
            extra,
        }
    }
    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.update_extra(data);
    }

    fn update_extra(&mut self, data: &[u8]) {
        for (_, s) in &mut self.extra {
            s.update(data);
        }
    }
    /// `update`, with the MD5's whole blocks batched with other uploads on this core
    /// (`runtime::md5_batch`).
    ///
    /// # Safety
    /// As `md5_batch::compress`: the future must be polled to completion or dropped, never
    /// leaked.
    pub async unsafe fn update_batched(&mut self, data: &[u8]) {
        self.update_extra(data);
        let (blocks, tail) = self.md5.absorb_head(data);
        // SAFETY: the caller's contract.
        unsafe { crate::runtime::md5_batch::compress(self.md5.state_mut(), blocks) }.await;
        self.md5.absorb_tail(tail);
    }

    pub fn finish(self) -> Digests {
        let md5 = self.md5.finalize();
        let checksums = self
            .extra
            .into_iter()
            .map(|(a, s)| (a, b64(&s.finish())))
            .collect();
        Digests { md5, checksums }
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Checks a client-supplied checksum value is well-formed for its algorithm.
pub fn validate_value(algo: Algo, value: &str) -> S3Result<()> {
    match base64::engine::general_purpose::STANDARD.decode(value) {
        Ok(b) if b.len() == algo.digest_len() => Ok(()),
        _ => Err(S3Error::msg(
            ErrorCode::InvalidRequest,
            format!("Value for {} header is invalid.", algo.header()),
        )),
    }
}

/// Content-MD5: base64 of 16 bytes, else InvalidDigest.
pub fn parse_content_md5(value: &str) -> S3Result<[u8; 16]> {
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .ok()
        .and_then(|b| <[u8; 16]>::try_from(b.as_slice()).ok())
        .ok_or_else(|| S3Error::new(ErrorCode::InvalidDigest))
}

pub fn set(c: &mut Checksums, algo: Algo, value: String) {
    match algo {
        Algo::Crc32 => c.crc32 = Some(value),
        Algo::Crc32c => c.crc32c = Some(value),
        Algo::Crc64Nvme => c.crc64nvme = Some(value),
        Algo::Sha1 => c.sha1 = Some(value),
        Algo::Sha256 => c.sha256 = Some(value),
    }
}

pub fn get(c: &Checksums, algo: Algo) -> Option<&String> {
    match algo {
        Algo::Crc32 => c.crc32.as_ref(),
        Algo::Crc32c => c.crc32c.as_ref(),
        Algo::Crc64Nvme => c.crc64nvme.as_ref(),
        Algo::Sha1 => c.sha1.as_ref(),
        Algo::Sha256 => c.sha256.as_ref(),
    }
}

/// How an object's checksum covers it: one checksum of all its bytes, or (multipart) a
/// checksum of the parts' checksums, rendered `value-N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumType {
    FullObject,
    Composite,
}

impl ChecksumType {
    pub fn parse(s: &str) -> Option<ChecksumType> {
        match s.to_ascii_uppercase().as_str() {
            "FULL_OBJECT" => Some(ChecksumType::FullObject),
            "COMPOSITE" => Some(ChecksumType::Composite),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }
}

/// The type of a stored object's checksum, None when it has none.
pub fn stored_type(c: &Checksums) -> Option<ChecksumType> {
    ALL_ALGOS.iter().find(|a| get(c, **a).is_some())?;
    Some(if c.composite_parts > 0 {
        ChecksumType::Composite
    } else {
        ChecksumType::FullObject
    })
}

/// Reflected polynomial and width of the CRCs whose values can be combined. All three start
/// from all-ones and end with an all-ones xor, which is what makes `crc_combine` hold.
fn crc_params(algo: Algo) -> Option<(u64, u32)> {
    match algo {
        Algo::Crc32 => Some((0xEDB8_8320, 32)),
        Algo::Crc32c => Some((0x82F6_3B78, 32)),
        Algo::Crc64Nvme => Some((0x9A6C_9329_AC4B_C9B5, 64)),
        _ => None,
    }
}

/// a * b modulo the CRC polynomial, in the reflected bit order CRC registers use.
fn mul_mod_p(a: u64, mut b: u64, poly: u64, width: u32) -> u64 {
    let mut m = 1u64 << (width - 1);
    let mut p = 0u64;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ poly } else { b >> 1 };
    }
    p
}

/// x^(8 * 2^k) modulo the polynomial for k = 0..64: the operators "append 2^k zero bytes".
fn zero_byte_operators(poly: u64, width: u32) -> [u64; 64] {
    let x = 1u64 << (width - 2);
    let mut sq = mul_mod_p(x, x, poly, width); // x^2
    sq = mul_mod_p(sq, sq, poly, width); // x^4
    sq = mul_mod_p(sq, sq, poly, width); // x^8: one zero byte
    let mut ops = [0u64; 64];
    for op in ops.iter_mut() {
        *op = sq;
        sq = mul_mod_p(sq, sq, poly, width);
    }
    ops
}

/// x^(8 * len) modulo the polynomial: the operator "append `len` zero bytes" to a register.
fn x_pow_8n(len: u64, ops: &[u64; 64], poly: u64, width: u32) -> u64 {
    let mut p = 1u64 << (width - 1); // x^0
    for (k, op) in ops.iter().enumerate() {
        if len >> k & 1 != 0 {
            p = mul_mod_p(*op, p, poly, width);
        }
    }
    p
}

/// The CRC of A followed by B from crc(A), crc(B) and len(B), without the data (the zlib
/// `crc32_combine` identity: crc(AB) = crc(A) * x^(8 len B) mod P  xor  crc(B)).
fn crc_combine(ops: &[u64; 64], poly: u64, width: u32, crc_a: u64, crc_b: u64, len_b: u64) -> u64 {
    mul_mod_p(x_pow_8n(len_b, ops, poly, width), crc_a, poly, width) ^ crc_b
}

/// The whole-object CRC of consecutive pieces given as (base64 big-endian CRC, length);
/// None when the algorithm cannot be combined or a value is malformed.
pub fn combine_full_object(algo: Algo, pieces: &[(&str, u64)]) -> Option<String> {
    let (poly, width) = crc_params(algo)?;
    let bytes = (width / 8) as usize;
    let ops = zero_byte_operators(poly, width);
    // The CRC of no bytes is 0 for all three algorithms.
    let mut acc = 0u64;
    for (v, len) in pieces {
        let raw = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
        if raw.len() != bytes {
            return None;
        }
        let crc = raw.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
        acc = crc_combine(&ops, poly, width, acc, crc, *len);
    }
    Some(b64(&acc.to_be_bytes()[8 - bytes..]))
}

/// Whether the algorithm supports `FULL_OBJECT` multipart checksums.
pub fn combinable(algo: Algo) -> bool {
    crc_params(algo).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(algo: Algo, data: &[u8]) -> String {
        let mut h = Hashers::new(&[algo]);
        h.update(data);
        h.finish().checksums[0].1.clone()
    }

    #[test]
    fn crc_combination_equals_crc_of_the_concatenation() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        for algo in [Algo::Crc32, Algo::Crc32c, Algo::Crc64Nvme] {
            for cuts in [
                vec![0usize, 100_000],
                vec![0, 1, 100_000],
                vec![0, 0, 5, 5, 70_001, 100_000],
                vec![0, 65_536, 99_999, 100_000],
            ] {
                let pieces: Vec<(String, u64)> = cuts
                    .windows(2)
                    .map(|w| (digest(algo, &data[w[0]..w[1]]), (w[1] - w[0]) as u64))
                    .collect();
                let refs: Vec<(&str, u64)> = pieces.iter().map(|(v, n)| (v.as_str(), *n)).collect();
                assert_eq!(
                    combine_full_object(algo, &refs).unwrap(),
                    digest(algo, &data),
                    "{algo:?} {cuts:?}"
                );
            }
        }
        assert_eq!(combine_full_object(Algo::Sha256, &[]), None);
        // Lengths past 4 GiB (parts are up to 5 GiB): zeros doubled up to 2^33 bytes must
        // agree whichever way the pieces are grouped.
        for algo in [Algo::Crc32, Algo::Crc64Nvme] {
            let mut z = vec![digest(algo, &[0u8])]; // z[k] = crc of 2^k zero bytes
            for k in 0..33u32 {
                let half = z[k as usize].clone();
                let both = combine_full_object(algo, &[(&half, 1u64 << k), (&half, 1u64 << k)]);
                z.push(both.unwrap());
            }
            let (a, b) = ((z[32].as_str(), 1u64 << 32), (z[31].as_str(), 1u64 << 31));
            let ab = combine_full_object(algo, &[a, b]).unwrap();
            let ba = combine_full_object(algo, &[b, a]).unwrap();
            assert_eq!(ab, ba, "{algo:?}");
            let three = [(z[31].as_str(), 1u64 << 31); 3];
            assert_eq!(combine_full_object(algo, &three).unwrap(), ab, "{algo:?}");
        }
        assert_eq!(combine_full_object(Algo::Crc32, &[("AAAA", 1)]), None);
    }

    #[test]
    fn known_digests() {
        let mut h = Hashers::new(&ALL_ALGOS);
        h.update(b"hello ");
        h.update(b"world");
        let d = h.finish();
        assert_eq!(hex::encode(d.md5), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        let get = |a| d.checksums.iter().find(|(b, _)| *b == a).unwrap().1.clone();
        // crc32("hello world") = 0x0d4a1185
        assert_eq!(get(Algo::Crc32), b64(&0x0d4a1185u32.to_be_bytes()));
        // crc32c("hello world") = 0xc99465aa
        assert_eq!(get(Algo::Crc32c), b64(&0xc99465aau32.to_be_bytes()));
        assert_eq!(get(Algo::Sha1), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(
            get(Algo::Sha256),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
    }

    #[test]
    fn content_md5_must_be_16_bytes() {
        assert!(parse_content_md5("XrY7u+Ae7tCTyyK7j1rNww==").is_ok());
        assert_eq!(
            parse_content_md5("abc").unwrap_err().code,
            ErrorCode::InvalidDigest
        );
    }
}

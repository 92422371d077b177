//! The S3 additional checksums (CRC32, CRC32C, CRC64NVME, SHA-1, SHA-256): the algorithms,
//! one running digest, and the CRC arithmetic that combines part CRCs into the whole
//! object's. Rendered as S3 renders them: base64 of the big-endian digest.
//!
//! Below the metadata layer, which computes multipart checksums at Complete;
//! `s3::checksum` adds the request-side parts (MD5 batching, header validation).

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
    /// Bytes of the binary digest.
    pub fn digest_len(self) -> usize {
        match self {
            Algo::Crc32 | Algo::Crc32c => 4,
            Algo::Crc64Nvme => 8,
            Algo::Sha1 => 20,
            Algo::Sha256 => 32,
        }
    }
}

/// One running digest of one algorithm.
pub enum State {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64(crc64fast_nvme::Digest),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
}

impl State {
    pub fn new(a: Algo) -> State {
        match a {
            Algo::Crc32 => State::Crc32(crc32fast::Hasher::new()),
            Algo::Crc32c => State::Crc32c(0),
            Algo::Crc64Nvme => State::Crc64(crc64fast_nvme::Digest::new()),
            Algo::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algo::Sha256 => State::Sha256(sha2::Sha256::new()),
        }
    }
    pub fn update(&mut self, d: &[u8]) {
        match self {
            State::Crc32(h) => h.update(d),
            State::Crc32c(c) => *c = crc32c::crc32c_append(*c, d),
            State::Crc64(h) => h.write(d),
            State::Sha1(h) => h.update(d),
            State::Sha256(h) => h.update(d),
        }
    }
    pub fn finish(self) -> Vec<u8> {
        match self {
            State::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
            State::Crc32c(c) => c.to_be_bytes().to_vec(),
            State::Crc64(h) => h.sum64().to_be_bytes().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The base64 checksum of `pieces` read as one byte string.
pub fn digest_b64<'a>(algo: Algo, pieces: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut state = State::new(algo);
    for p in pieces {
        state.update(p);
    }
    b64(&state.finish())
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

    #[test]
    fn digest_of_pieces_is_digest_of_concatenation() {
        let whole = digest_b64(Algo::Crc32c, [&b"hello world"[..]]);
        assert_eq!(whole, b64(&0xc99465aau32.to_be_bytes()));
        assert_eq!(digest_b64(Algo::Crc32c, [&b"hello "[..], b"world"]), whole);
    }
}

//! Payload digests computed in the same pass as the bytes stream through: MD5 (the ETag),
//! and any S3 additional checksum the client asked for (CRC32, CRC32C, CRC64NVME, SHA-1,
//! SHA-256), rendered as S3 renders them: base64 of the big-endian digest.

use super::md5::Md5;
use crate::error::{ErrorCode, S3Error, S3Result};
use crate::hash::checksum::State;
// The algorithms and the CRC arithmetic live in `hash::checksum` (the metadata layer computes
// multipart checksums with them); re-exported here, where the handlers find them.
use crate::engine::Checksums;
pub use crate::hash::checksum::{b64, combinable, combine_full_object, Algo, ALL_ALGOS};
use base64::Engine;

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
    c.set(algo, value)
}

pub fn get(c: &Checksums, algo: Algo) -> Option<&String> {
    c.get(algo)
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

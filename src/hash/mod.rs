//! Hashing below every layer that needs it: MD5 (the ETag), scalar and in SIMD lanes; the S3
//! additional checksums; the SigV4 signing primitives; short texts
//! formatted on the stack (`stack_str`). The per-core batcher that feeds the
//! MD5 lanes is `runtime::md5_batch`.

pub mod checksum;
pub mod md5;
pub mod md5_lanes;
pub mod sigv4;
pub mod stack_str;

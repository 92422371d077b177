//! Hashing below every layer that needs it: MD5 (the ETag), scalar and in SIMD lanes.
//! The per-core batcher that feeds the lanes is `runtime::md5_batch`.

pub mod md5;
pub mod md5_lanes;

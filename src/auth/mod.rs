//! Authentication: AWS Signature Version 4 and 2 for request heads (header and presigned),
//! the `aws-chunked` body decoder that checks per-chunk signatures, a client-side signer
//! that shares the canonicalization code with the verifier, and the configured users.

pub mod chunked;
pub mod post_form;
pub mod signer;
pub mod sigv2;
pub mod sigv4;
pub mod users;
pub mod verify;

pub use chunked::{AwsChunkedDecoder, Streaming, AWS_CHUNK_SIZE_MAX_BYTES};
pub use signer::{amz_date, presign, sign_headers};
pub use sigv4::{
    derive_signing_key, hmac_sha256, sha256_hex, uri_encode, AuthOutcome, ChunkSigningContext,
    PayloadMode, SecretLookup, SigningKeyCache,
};
pub use verify::{authenticate, authenticate_in};

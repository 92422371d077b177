//! Helpers shared by the fuzz targets: deterministic input splitting, a decoder driver that
//! checks the `Step` contract on every call, a fixed signing identity, and a lenient builder
//! of request heads from text.
//!
//! Nothing here may panic on its own account: a panic must always mean an invariant of
//! BleepStore was broken.

use bleepstore::auth::sigv4::{derive_signing_key, ChunkSigningContext, SecretLookup};
use bleepstore::http::chunked::Step;
use bleepstore::http::head::{Method, RequestHead};
use bleepstore::s3::error::{ErrorCode, S3Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whether to step around the known, still unfixed bugs listed in README.md ("Known
/// bugs"), so a long run can look for new ones: set `FUZZ_SKIP_KNOWN_BUGS=1`. Off by default,
/// so CI keeps failing until they are fixed; remove each filter with its fix. (No target
/// filters anything at the moment: every known bug is fixed.)
pub fn skip_known_bugs() -> bool {
    static SKIP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SKIP.get_or_init(|| {
        std::env::var("FUZZ_SKIP_KNOWN_BUGS").is_ok_and(|v| !v.is_empty() && v != "0")
    })
}

/// Whether every character of `s` is one XML 1.0 allows (production [2] `Char`:
/// `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`). Whatever the XML
/// parsers accept must be renderable as well-formed XML again, so no value they return may
/// hold anything else, whether it came raw or as a character reference.
pub fn is_xml_text(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
    })
}

/// The access key the fuzz targets sign with (AWS's documentation example).
pub const AK: &str = "AKIAIOSFODNN7EXAMPLE";
/// Its secret.
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
pub const REGION: &str = "us-east-1";
/// 2013-05-24T00:00:00Z, the time of AWS's SigV4 examples; "now" for the auth targets.
pub const NOW_AMZ: &str = "20130524T000000Z";
pub const NOW_SECS: u64 = 1_369_353_600;
/// Seed signature of AWS's aws-chunked example; the chain start for the decoder targets.
pub const SEED_SIGNATURE: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// One access key, one region.
pub struct OneKey;

impl SecretLookup for OneKey {
    fn secret_for(&self, access_key: &str) -> Option<&str> {
        (access_key == AK).then_some(SECRET)
    }
    fn region(&self) -> Option<&str> {
        Some(REGION)
    }
}

/// The signing context of a request signed by [`AK`] at [`NOW_AMZ`].
pub fn chunk_ctx() -> ChunkSigningContext {
    ChunkSigningContext {
        signing_key: derive_signing_key(SECRET, &NOW_AMZ[..8], REGION, "s3"),
        scope: format!("{}/{REGION}/s3/aws4_request", &NOW_AMZ[..8]),
        amz_date: NOW_AMZ.to_string(),
        seed_signature: SEED_SIGNATURE.to_string(),
    }
}

/// FNV-1a, to seed the splitter from the input itself (so a crash file reproduces alone).
pub fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Piece sizes for feeding a decoder: pseudo-random in `1..=max`, from `seed`.
pub struct Pieces {
    state: u64,
    max: usize,
}

impl Pieces {
    pub fn new(seed: u64, max: usize) -> Self {
        Pieces {
            state: seed | 1,
            max: max.max(1),
        }
    }
    /// Always the same size (1 for byte by byte, `usize::MAX` for all at once).
    pub fn fixed(size: usize) -> Self {
        Pieces {
            state: 0,
            max: size.max(1),
        }
    }
    pub fn next_size(&mut self) -> usize {
        if self.state == 0 {
            return self.max;
        }
        // xorshift64
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        1 + (self.state % self.max as u64) as usize
    }
}

/// What a decoder made of a whole input.
#[derive(Debug, PartialEq, Eq)]
pub struct Decoded {
    pub payload: Vec<u8>,
    /// Input bytes that belong to the body (all of them when it never finished; 0 after an
    /// error, where it depends on how far the failing `feed` call had got).
    pub consumed: usize,
    pub done: bool,
    pub error: Option<ErrorCode>,
}

/// Feeds `input` to a chunked-style decoder the way a socket would deliver it (pieces of the
/// sizes `pieces` gives), checking the `Step` contract on every call:
/// `consumed <= input.len()`, the payload range lies within `..consumed`, non-empty input is
/// never left unconsumed unless the body is done, and a done decoder takes nothing more.
pub fn drive(
    mut feed: impl FnMut(&[u8]) -> S3Result<Step>,
    input: &[u8],
    pieces: &mut Pieces,
) -> Decoded {
    let mut payload = Vec::new();
    let mut start = 0usize;
    let mut available = 0usize;
    loop {
        let window = &input[start..available];
        let step = match feed(window) {
            Ok(step) => step,
            Err(e) => {
                return Decoded {
                    payload,
                    consumed: 0,
                    done: false,
                    error: Some(e.code),
                }
            }
        };
        assert!(
            step.consumed <= window.len(),
            "consumed {} of a {}-byte input",
            step.consumed,
            window.len()
        );
        if let Some(r) = &step.payload {
            assert!(
                r.start <= r.end && r.end <= step.consumed,
                "payload {r:?} outside ..{}",
                step.consumed
            );
            payload.extend_from_slice(&window[r.clone()]);
        }
        if !window.is_empty() && !step.done {
            assert!(step.consumed > 0, "no progress on {} bytes", window.len());
        }
        start += step.consumed;
        if step.done {
            // Bytes after the body belong to the next request: a done decoder takes none.
            let again = feed(&input[start..]).expect("a done decoder must not fail");
            assert_eq!(
                again,
                Step {
                    consumed: 0,
                    payload: None,
                    done: true
                },
                "a done decoder consumed more"
            );
            return Decoded {
                payload,
                consumed: start,
                done: true,
                error: None,
            };
        }
        if start == available {
            if available == input.len() {
                return Decoded {
                    payload,
                    consumed: start,
                    done: false,
                    error: None,
                };
            }
            available = available
                .saturating_add(pieces.next_size())
                .min(input.len());
        }
    }
}

/// Lower-cases like `parse_head` does for header names.
pub fn header(name: &str, value: &str) -> (String, String) {
    (name.trim().to_ascii_lowercase(), value.trim().to_string())
}

/// A request head from text, leniently: the first line is `METHOD TARGET` (target split at
/// the first `?`), every further line is `name:value` (a line without a colon is a header
/// with an empty value). Names are lower-cased and values trimmed, as `parse_head` leaves
/// them; nothing else is checked, so this reaches heads `parse_head` would refuse too.
pub fn head_from_text(text: &str) -> RequestHead {
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let first = lines.next().unwrap_or("");
    let (method, target) = first.split_once(' ').unwrap_or((first, "/"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or((l, ""));
            header(n, v)
        })
        .collect();
    RequestHead {
        method: Method::parse(method),
        method_raw: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        opaque: Vec::new(),
        version_minor: 1,
    }
}

/// RFC 9110 token characters, for turning arbitrary bytes into valid field names.
pub const TOKEN_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~";

/// A valid lower-case field name from arbitrary text (never empty).
pub fn token(s: &str) -> String {
    let t: String = s
        .bytes()
        .map(|b| {
            let b = b.to_ascii_lowercase();
            if TOKEN_CHARS.contains(&b) {
                char::from(b)
            } else {
                '-'
            }
        })
        .collect();
    if t.is_empty() {
        "x".to_string()
    } else {
        t
    }
}

/// The bytes `uri_encode` leaves alone.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')
}

/// Every `%` in `s` starts an upper-case `%XX` and every other byte is unreserved or in
/// `extra`.
pub fn assert_encoded(s: &str, extra: &[u8]) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: u8| c.is_ascii_digit() || (b'A'..=b'F').contains(&c);
            assert!(
                i + 2 < b.len() && hex(b[i + 1]) && hex(b[i + 2]),
                "bad escape at {i} in {s:?}"
            );
            i += 3;
        } else {
            assert!(
                is_unreserved(b[i]) || extra.contains(&b[i]),
                "byte {:?} left unencoded in {s:?}",
                char::from(b[i])
            );
            i += 1;
        }
    }
}

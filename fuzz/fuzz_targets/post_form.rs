//! `s3::form` (the streaming multipart/form-data reader of POST Object) on raw bytes: the
//! first line is the boundary, the rest the body, delivered in pieces of a size taken from
//! the input. It never panics; a form it accepts reads the same whatever the piece size, and
//! its parts fit the budget.
#![no_main]

use bleepstore::s3::form::{read_all, run_ready, SliceSource};
use bleepstore_fuzz::fnv;
use libfuzzer_sys::fuzz_target;

const BUDGET: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let Some(nl) = data.iter().position(|b| *b == b'\n') else {
        return;
    };
    let Ok(boundary) = std::str::from_utf8(&data[..nl]) else {
        return;
    };
    if boundary.is_empty() || boundary.len() > 70 {
        return;
    }
    let body = &data[nl + 1..];
    let piece = (fnv(data) % 64) as usize + 1;
    let mut src = SliceSource { data: body, piece };
    let got = run_ready(read_all(&mut src, boundary, BUDGET));
    let mut whole = SliceSource {
        data: body,
        piece: usize::MAX,
    };
    let again = run_ready(read_all(&mut whole, boundary, BUDGET));
    match (&got, &again) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "pieces of {piece} read differently");
            let total: usize = a.iter().map(|p| p.data.len()).sum();
            assert!(total <= BUDGET);
        }
        (Err(a), Err(b)) => assert_eq!(a.code, b.code),
        _ => panic!("pieces of {piece}: {:?} vs whole: {:?}", got.is_ok(), again.is_ok()),
    }
});

//! `s3::object::parse_range`. Input: the object size in decimal on the first line (a line
//! that is not a number gives its length as the size), the Range header after it.
#![no_main]

use bleepstore::s3::object::{parse_range, RangeSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (size_line, header) = text.split_once('\n').unwrap_or(("", &text));
    let size = size_line
        .trim()
        .parse::<u64>()
        .unwrap_or(size_line.len() as u64);
    let spec = parse_range(header, size);
    let trimmed = header.trim();
    match spec {
        RangeSpec::Whole => {}
        RangeSpec::Part(start, end) => {
            assert!(
                start < end && end <= size,
                "{start}..{end} of {size} from {header:?}"
            );
            assert!(trimmed.starts_with("bytes="));
            let spec = trimmed["bytes=".len()..].trim();
            if spec.starts_with('-') {
                assert_eq!(end, size, "a suffix range must end at the object's end");
            } else {
                let first = spec.split('-').next().unwrap_or("").trim();
                assert_eq!(
                    first.parse::<u64>().ok(),
                    Some(start),
                    "start is not the one asked"
                );
            }
        }
        RangeSpec::Unsatisfiable => {
            assert!(
                trimmed.starts_with("bytes="),
                "unsatisfiable without a byte range"
            );
        }
    }
    // The object's size alone decides satisfiability; an empty object has no byte to give.
    if size == 0 {
        assert!(!matches!(spec, RangeSpec::Part(..)));
    }
});

//! `http::conn::parse_head` on raw bytes, under the default limits and under the smallest
//! limits the config accepts.
#![no_main]

use bleepstore::http::conn::{parse_head, Limits};
use bleepstore::http::head::Method;
use libfuzzer_sys::fuzz_target;

fn limits(head_bytes_max: usize, header_count_max: usize) -> Limits {
    Limits {
        head_bytes_max,
        header_count_max,
        idle_timeout_ms: 1,
        header_timeout_ms: 1,
        body_timeout_ms: 1,
    }
}

fn check(data: &[u8], limits: &Limits) {
    match parse_head(data, limits) {
        Ok(None) => assert!(
            data.len() <= limits.head_bytes_max,
            "asked for more bytes past the head limit"
        ),
        Ok(Some((head, used))) => {
            assert!(used <= data.len(), "used {used} of {} bytes", data.len());
            assert!(
                used <= limits.head_bytes_max,
                "head over the limit accepted"
            );
            assert!(head.path.starts_with('/'), "path {:?}", head.path);
            assert!(
                !head.path.contains('?'),
                "query left in path {:?}",
                head.path
            );
            assert!(head.headers.len() <= limits.header_count_max);
            assert!(head.version_minor <= 1);
            assert_eq!(head.method, Method::parse(&head.method_raw));
            for (name, value) in &head.headers {
                assert!(!name.is_empty());
                assert!(
                    !name.bytes().any(|b| b.is_ascii_uppercase()),
                    "name {name:?}"
                );
                assert_eq!(value.trim_matches([' ', '\t']), value, "value not trimmed");
            }
            // Only user metadata may carry a value that is not UTF-8.
            for o in &head.opaque {
                assert!(o.name.starts_with("x-amz-meta-"), "opaque {:?}", o.name);
                assert!(std::str::from_utf8(&o.value).is_err());
                assert_eq!(o.value.trim_ascii(), &o.value[..], "opaque value not trimmed");
                assert!(o.at <= head.headers.len());
            }
            // The head alone parses the same: what follows it (a body, the next pipelined
            // request) has no say in it.
            let (again, used_again) = parse_head(&data[..used], limits)
                .expect("the head alone failed")
                .expect("the head alone was incomplete");
            assert_eq!(used_again, used);
            assert_eq!(again.method_raw, head.method_raw);
            assert_eq!(again.path, head.path);
            assert_eq!(again.query, head.query);
            assert_eq!(again.headers, head.headers);
            assert_eq!(again.opaque, head.opaque);
            // A head that arrives in two reads: the first part must ask for more, never fail.
            for cut in [used - 1, used / 2] {
                let r = parse_head(&data[..cut], limits);
                assert!(
                    matches!(r, Ok(None)),
                    "a prefix of a valid head ({cut} of {used} bytes) gave {:?}",
                    r.map(|o| o.map(|(_, n)| n))
                );
            }
        }
        Err(_) => {}
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, &limits(16 * 1024, 128));
    check(data, &limits(1024, 8));
});

//! Client-side SigV4 signing (for tools, tests and replication), built on exactly the
//! canonicalization the server verifies with, so the two cannot drift apart.

pub use crate::hash::sigv4::{amz_date, presign, sign_headers};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::sigv4::tests::{at, example_time, head, OneKey, AK, SECRET};
    use crate::auth::sigv4::{sha256_hex, PayloadMode, SigningKeyCache};
    use crate::auth::verify::authenticate;
    use crate::error::ErrorCode;
    use std::time::Duration;

    fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
        headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reproduces_the_aws_get_object_example() {
        let empty = sha256_hex(b"");
        let headers = owned(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", &empty),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let now = example_time();
        assert_eq!(amz_date(now), "20130524T000000Z");
        let auth = sign_headers(
            "GET",
            "/test.txt",
            "",
            &headers,
            &empty,
            AK,
            SECRET,
            "us-east-1",
            "s3",
            now,
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn reproduces_the_aws_presigned_example() {
        let url = presign(
            "GET",
            "examplebucket.s3.amazonaws.com",
            "/test.txt",
            "",
            AK,
            SECRET,
            "us-east-1",
            example_time(),
            86_400,
        );
        assert_eq!(
            url,
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn header_signing_round_trips_through_authenticate() {
        let now = at("20240301T120000Z");
        let date = amz_date(now);
        let body_hash = sha256_hex(b"hello");
        let path = "/bucket/dir/a%20b%2Bc~%E2%82%AC$!'()*";
        let query = "prefix=x%20y%2Bz%2F~&delimiter=%2F&uploads&list-type=2";
        let headers = owned(&[
            ("Host", "bleep.local:9000"),
            ("X-Amz-Date", &date),
            ("X-Amz-Content-Sha256", &body_hash),
            ("X-Amz-Meta-Tag", " spaced   value "),
            ("Content-Type", "text/plain"),
        ]);
        let auth = sign_headers(
            "PUT", path, query, &headers, &body_hash, AK, SECRET, "moon-1", "s3", now,
        );
        let mut with_auth: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        with_auth.push(("Authorization", &auth));
        let h = head("PUT", &format!("{path}?{query}"), &with_auth);
        let out = authenticate(&h, &OneKey, &mut SigningKeyCache::new(), now).unwrap();
        assert_eq!(out.access_key.as_deref(), Some(AK));
        assert!(matches!(out.payload, PayloadMode::Sha256(_)));

        let wrong = sign_headers(
            "PUT", path, query, &headers, &body_hash, AK, "nope", "moon-1", "s3", now,
        );
        let mut with_wrong: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        with_wrong.push(("Authorization", &wrong));
        let h = head("PUT", &format!("{path}?{query}"), &with_wrong);
        let err = authenticate(&h, &OneKey, &mut SigningKeyCache::new(), now).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    }

    #[test]
    fn presign_round_trips_and_expires() {
        let now = at("20240301T120000Z");
        let target = presign(
            "GET",
            "bleep.local",
            "/b/k%20ey",
            "partNumber=1&versionId=a%2Bb",
            AK,
            SECRET,
            "us-west-2",
            now,
            60,
        );
        let h = head("GET", &target, &[("Host", "bleep.local")]);
        let mut cache = SigningKeyCache::new();
        let out = authenticate(&h, &OneKey, &mut cache, now + Duration::from_secs(60)).unwrap();
        assert_eq!(out.payload, PayloadMode::Unsigned);
        let late =
            authenticate(&h, &OneKey, &mut cache, now + Duration::from_secs(61)).unwrap_err();
        assert_eq!(late.code, ErrorCode::AccessDenied);
        let elsewhere = head("GET", &target, &[("Host", "other.host")]);
        let err = authenticate(&elsewhere, &OneKey, &mut cache, now).unwrap_err();
        assert_eq!(err.code, ErrorCode::SignatureDoesNotMatch);
    }
}

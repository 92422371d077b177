//! `s3::endpoint::route` over a request head built from text: first line `METHOD TARGET`,
//! second line the virtual-host domain (may be empty), then `name:value` header lines
//! (`host:` among them).
#![no_main]

use bleepstore::http::head::parse_query;
use bleepstore::s3::endpoint::{route, Endpoint, KEY_BYTES_MAX};
use bleepstore_fuzz::head_from_text;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (first, rest) = text.split_once('\n').unwrap_or((&text, ""));
    let (domain, headers) = rest.split_once('\n').unwrap_or((rest, ""));
    let domain = domain.trim();
    let head = head_from_text(&format!("{first}\n{headers}"));
    let Ok(r) = route(&head, domain) else { return };

    assert_eq!(r.query, parse_query(&head.query));
    if let Some(key) = &r.key {
        assert!(
            !key.is_empty() && key.len() <= KEY_BYTES_MAX,
            "key of {} bytes",
            key.len()
        );
        assert!(r.bucket.is_some(), "a key without a bucket");
    }
    let object_level = matches!(
        r.endpoint,
        Endpoint::PutObject
            | Endpoint::CopyObject
            | Endpoint::GetObject
            | Endpoint::HeadObject
            | Endpoint::DeleteObject
            | Endpoint::GetObjectAcl
            | Endpoint::PutObjectAcl
            | Endpoint::CreateMultipartUpload
            | Endpoint::UploadPart { .. }
            | Endpoint::UploadPartCopy { .. }
            | Endpoint::CompleteMultipartUpload { .. }
            | Endpoint::AbortMultipartUpload { .. }
            | Endpoint::ListParts { .. }
            | Endpoint::GetObjectAttributes
            | Endpoint::GetObjectTagging
            | Endpoint::PutObjectTagging
            | Endpoint::DeleteObjectTagging
            | Endpoint::GetObjectRetention
            | Endpoint::PutObjectRetention
            | Endpoint::GetObjectLegalHold
            | Endpoint::PutObjectLegalHold
    );
    match (&r.bucket, &r.key) {
        (None, _) => assert_eq!(r.endpoint, Endpoint::ListBuckets),
        (Some(_), None) => assert!(!object_level, "{:?} on a bucket", r.endpoint),
        (Some(_), Some(_)) => assert!(
            object_level
                || matches!(
                    r.endpoint,
                    Endpoint::NotImplemented(_) | Endpoint::CorsPreflight
                ),
            "{:?} on an object",
            r.endpoint
        ),
    }
    match &r.endpoint {
        Endpoint::UploadPart {
            upload_id,
            part_number,
        }
        | Endpoint::UploadPartCopy {
            upload_id,
            part_number,
        } => {
            assert_eq!(Some(upload_id.as_str()), r.param("uploadId"));
            assert_eq!(part_number.as_str(), r.param("partNumber").unwrap_or(""));
        }
        Endpoint::CompleteMultipartUpload { upload_id }
        | Endpoint::AbortMultipartUpload { upload_id }
        | Endpoint::ListParts { upload_id } => {
            assert_eq!(Some(upload_id.as_str()), r.param("uploadId"));
        }
        _ => {}
    }
    assert!(!r.endpoint.name().is_empty());
});

//! `CORSConfiguration` documents (GetBucketCors) and the `PostResponse` of a browser upload.

use super::{close, etag_el, lossy_text_el, open, start_doc, text_el};
use crate::engine::cors::CorsConfig;

/// The configuration as stored, rules and values in order.
pub fn cors_configuration(cfg: &CorsConfig) -> String {
    let mut out = start_doc(128 + cfg.rules.len() * 256, "CORSConfiguration");
    for r in &cfg.rules {
        open(&mut out, "CORSRule");
        if let Some(id) = &r.id {
            text_el(&mut out, "ID", id);
        }
        for h in &r.allowed_headers {
            text_el(&mut out, "AllowedHeader", h);
        }
        for m in &r.allowed_methods {
            text_el(&mut out, "AllowedMethod", m);
        }
        for o in &r.allowed_origins {
            text_el(&mut out, "AllowedOrigin", o);
        }
        for h in &r.expose_headers {
            text_el(&mut out, "ExposeHeader", h);
        }
        if let Some(age) = r.max_age_seconds {
            text_el(&mut out, "MaxAgeSeconds", &age.to_string());
        }
        close(&mut out, "CORSRule");
    }
    close(&mut out, "CORSConfiguration");
    out
}

/// `<PostResponse>` (POST Object with `success_action_status` 201).
pub fn post_response(location: &str, bucket: &str, key: &str, etag: &str) -> String {
    let mut out = start_doc(256 + key.len() + location.len(), "PostResponse");
    text_el(&mut out, "Location", location);
    text_el(&mut out, "Bucket", bucket);
    lossy_text_el(&mut out, "Key", key);
    etag_el(&mut out, etag);
    close(&mut out, "PostResponse");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_response_escapes() {
        let doc = post_response("http://h/b/a%26b", "b", "a&b", "abc");
        assert!(doc.contains("<Key>a&amp;b</Key>"), "{doc}");
        assert!(doc.contains("<ETag>&quot;abc&quot;</ETag>"), "{doc}");
        assert!(doc.contains("<PostResponse xmlns="), "{doc}");
    }
}

//! `LifecycleConfiguration` documents (GetBucketLifecycleConfiguration).

use super::{bool_el, close, open, start_doc, text_el, time_el, u64_el};
use crate::engine::lifecycle::{Filter, LifecycleConfig};

fn tag_el(out: &mut String, key: &str, value: &str) {
    open(out, "Tag");
    text_el(out, "Key", key);
    text_el(out, "Value", value);
    close(out, "Tag");
}

fn filter_el(out: &mut String, filter: &Filter) {
    if let Filter::Legacy(p) = filter {
        text_el(out, "Prefix", p);
        return;
    }
    open(out, "Filter");
    match filter {
        Filter::Legacy(_) | Filter::All => {}
        Filter::Prefix(p) => text_el(out, "Prefix", p),
        Filter::Tag(k, v) => tag_el(out, k, v),
        Filter::SizeGreaterThan(n) => u64_el(out, "ObjectSizeGreaterThan", *n),
        Filter::SizeLessThan(n) => u64_el(out, "ObjectSizeLessThan", *n),
        Filter::And(a) => {
            open(out, "And");
            if let Some(p) = &a.prefix {
                text_el(out, "Prefix", p);
            }
            for (k, v) in &a.tags {
                tag_el(out, k, v);
            }
            if let Some(n) = a.size_greater_than {
                u64_el(out, "ObjectSizeGreaterThan", n);
            }
            if let Some(n) = a.size_less_than {
                u64_el(out, "ObjectSizeLessThan", n);
            }
            close(out, "And");
        }
    }
    close(out, "Filter");
}

/// The stored rules, in order, each element as AWS names it.
pub fn lifecycle(config: &LifecycleConfig) -> String {
    let mut out = start_doc(128 + config.rules.len() * 256, "LifecycleConfiguration");
    for r in &config.rules {
        open(&mut out, "Rule");
        if !r.id.is_empty() {
            text_el(&mut out, "ID", &r.id);
        }
        filter_el(&mut out, &r.filter);
        text_el(
            &mut out,
            "Status",
            if r.enabled { "Enabled" } else { "Disabled" },
        );
        if let Some(e) = &r.expiration {
            open(&mut out, "Expiration");
            if let Some(d) = e.days {
                u64_el(&mut out, "Days", d as u64);
            }
            if let Some(ms) = e.date_ms {
                time_el(&mut out, "Date", ms);
            }
            if e.expired_object_delete_marker {
                bool_el(&mut out, "ExpiredObjectDeleteMarker", true);
            }
            close(&mut out, "Expiration");
        }
        if let Some(n) = &r.noncurrent {
            open(&mut out, "NoncurrentVersionExpiration");
            u64_el(&mut out, "NoncurrentDays", n.days as u64);
            if let Some(v) = n.newer_noncurrent_versions {
                u64_el(&mut out, "NewerNoncurrentVersions", v as u64);
            }
            close(&mut out, "NoncurrentVersionExpiration");
        }
        if let Some(d) = r.abort_upload_days {
            open(&mut out, "AbortIncompleteMultipartUpload");
            u64_el(&mut out, "DaysAfterInitiation", d as u64);
            close(&mut out, "AbortIncompleteMultipartUpload");
        }
        close(&mut out, "Rule");
    }
    close(&mut out, "LifecycleConfiguration");
    out
}

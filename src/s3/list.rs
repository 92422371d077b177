//! ListObjects (v1) and ListObjectsV2: current objects only (ListObjectVersions is in
//! `s3::versioning`). A page is one seek over the shard's ordered keys.

use crate::engine::{ListPage, Permission};
use crate::http::response::Response;
use crate::s3::access::authorize_bucket;
use crate::s3::ctx::Ctx;
use crate::s3::error::{S3Error, S3Result};
use crate::s3::reply::listing;
use crate::s3::request::{decode_token, encode_token, max_keys};
use crate::s3::xml;

/// Longest prefix / delimiter / marker accepted (a key is at most 1024 bytes).
const LIST_ARG_BYTES_MAX: usize = 1024;

pub fn arg(ctx: &Ctx, name: &str) -> S3Result<String> {
    let v = ctx.route.param(name).unwrap_or("").to_string();
    if v.len() > LIST_ARG_BYTES_MAX {
        return Err(S3Error::invalid_argument("Argument too long", name, ""));
    }
    Ok(v)
}

pub fn encoding_url(ctx: &Ctx) -> S3Result<bool> {
    match ctx.route.param("encoding-type") {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(true),
        Some(v) => Err(S3Error::invalid_argument(
            "Invalid Encoding Method specified in Request",
            "encoding-type",
            v,
        )),
    }
}

pub async fn scan(
    bucket: &str,
    prefix: &str,
    after: &str,
    delimiter: &str,
    max: usize,
) -> S3Result<ListPage> {
    crate::engine::read::objects(bucket, prefix, after, delimiter, max).await
}

fn entries(ctx: &Ctx, page: &ListPage, with_owner: bool) -> Vec<xml::ObjectEntry> {
    page.objects
        .iter()
        .map(|(k, m)| {
            let mut e =
                xml::ObjectEntry::new(k.clone(), m.last_modified_ms, m.etag.clone(), m.size);
            if with_owner {
                e.owner = Some(xml::Owner {
                    id: m.owner_id.clone(),
                    display_name: Some(ctx.users.display_name(&m.owner_id)),
                });
            }
            e.checksum_algorithm = crate::s3::checksum::ALL_ALGOS
                .iter()
                .find(|a| crate::s3::checksum::get(&m.checksums, **a).is_some())
                .map(|a| a.name().to_string());
            e
        })
        .collect()
}

pub async fn list_objects_v2(ctx: &Ctx) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Read).await?;
    let prefix = arg(ctx, "prefix")?;
    let delimiter = arg(ctx, "delimiter")?;
    let start_after = arg(ctx, "start-after")?;
    let token = ctx.route.param("continuation-token").map(str::to_string);
    let max = max_keys(ctx, "max-keys")?;
    let url = encoding_url(ctx)?;
    let after = match &token {
        Some(t) => decode_token(t)?,
        None => start_after.clone(),
    };
    let page = scan(ctx.bucket(), &prefix, &after, &delimiter, max).await?;
    let fetch_owner = ctx.route.param("fetch-owner") == Some("true");
    let contents = entries(ctx, &page, fetch_owner);
    let result = xml::ListObjectsV2Result {
        name: ctx.bucket().to_string(),
        prefix,
        delimiter: (!delimiter.is_empty()).then_some(delimiter),
        max_keys: max as u32,
        encoding_type_url: url,
        is_truncated: page.truncated,
        key_count: page.objects.len() + page.prefixes.len(),
        continuation_token: token,
        next_continuation_token: if page.truncated {
            page.last.as_deref().map(encode_token)
        } else {
            None
        },
        start_after: (!start_after.is_empty()).then_some(start_after),
        contents,
        common_prefixes: page.prefixes,
    };
    listing(xml::list_objects_v2(&result))
}

pub async fn list_objects_v1(ctx: &Ctx) -> S3Result<Response> {
    authorize_bucket(ctx, Permission::Read).await?;
    let prefix = arg(ctx, "prefix")?;
    let delimiter = arg(ctx, "delimiter")?;
    let marker = arg(ctx, "marker")?;
    let max = max_keys(ctx, "max-keys")?;
    let url = encoding_url(ctx)?;
    let page = scan(ctx.bucket(), &prefix, &marker, &delimiter, max).await?;
    let contents = entries(ctx, &page, true);
    let result = xml::ListObjectsV1Result {
        name: ctx.bucket().to_string(),
        prefix,
        marker,
        // S3 returns NextMarker only with a delimiter; clients fall back to the last key.
        next_marker: if page.truncated && !delimiter.is_empty() {
            page.last.clone()
        } else {
            None
        },
        delimiter: (!delimiter.is_empty()).then_some(delimiter),
        max_keys: max as u32,
        encoding_type_url: url,
        is_truncated: page.truncated,
        contents,
        common_prefixes: page.prefixes,
    };
    listing(xml::list_objects_v1(&result))
}

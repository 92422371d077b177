//! `GET /openapi.json`: an OpenAPI 3.1 description of everything this server answers. The
//! document is data, checked in as `openapi.json` beside this file (pretty-printed, edited by
//! hand); it lists every S3 operation the router knows once, plus the operational endpoints.
//!
//! # How S3's overloaded routes are modelled
//!
//! S3 puts many operations on one method + path and tells them apart by a query subresource
//! (`?acl`, `?uploads`, `?list-type=2`, ...) or by a header (`x-amz-copy-source`). OpenAPI
//! keys operations by path + method, so two S3 operations cannot share a path key. We follow
//! AWS's own Smithy model of S3 (and the OpenAPI documents generated from it): the
//! distinguishing query goes into the path key as a literal (`/{bucket}?acl`,
//! `/{bucket}?list-type=2`), and operations that would still collide because a header or a
//! query *value* tells them apart get `?x-id=<Operation>` (`/{bucket}/{key}?x-id=CopyObject`,
//! `?x-id=UploadPart`). `x-id` is what the AWS SDKs themselves send on the wire; the router
//! ignores it, exactly as S3 does.
//!
//! Why this and not one operation per path + method whose description enumerates the
//! variants: every S3 operation stays one documented operation whose `operationId` is the
//! name the router gives it (`Endpoint::name()`, the metrics label), with its own
//! parameters, XML request body and response schemas. Swagger UI lists each one, and
//! schemathesis tests each one; both build a request by appending their own query
//! parameters to the literal with `&` (swagger-client and python-requests merge into an
//! existing query string), so the bytes on the wire are what the router expects. The
//! collapsed alternative would fold ~75 operations into 13 with one response schema per
//! status, unable to say that `?uploads` answers a `ListMultipartUploadsResult`.
//!
//! Keys: `{key}` is a single OpenAPI path parameter, but an S3 key may contain `/` (AWS's
//! model writes it `{Key+}`, a greedy label). The parameter says so and carries
//! `x-greedy: true`; clients may send the slashes raw or as `%2F` (decoded once).
//!
//! # Drift against the router
//!
//! The tests below read the checked-in document: a request built from every documented S3
//! operation (method, path with sample bucket and key, the literal query, required — then
//! also every optional — query parameter and header, from each parameter's `example`) must
//! route through [`crate::s3::endpoint::route`] to the operation's `operationId`; the
//! documented names must be exactly the names the router can produce
//! ([`crate::s3::endpoint::operation_names`], kept complete by an exhaustive `match`); every
//! operational path must be one the server's router answers, and every operational endpoint
//! documented. Adding an operation to the router without documenting it fails them.

use serde_json::Value;
use std::sync::OnceLock;

/// The document as checked in.
const DOCUMENT: &str = include_str!("openapi.json");

/// The document with this build's version in `info.version`, so a release bump needs no edit
/// of the asset.
pub fn document() -> Value {
    let mut doc: Value = serde_json::from_str(DOCUMENT)
        .expect("src/server/openapi.json is valid JSON (the unit tests parse it)");
    doc["info"]["version"] = Value::from(env!("CARGO_PKG_VERSION"));
    doc
}

/// The document as served: parsed once per process, written compactly.
pub fn json_bytes() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::to_vec(&document()).expect("serializing a serde_json::Value cannot fail")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::head::{Method, RequestHead};
    use crate::s3::endpoint::route;
    use crate::server::endpoints::Operational;
    use std::collections::BTreeSet;

    const BUCKET: &str = "examplebucket";
    const KEY: &str = "photos/2024/cat.jpg";
    /// The tag of the operational endpoints (everything else is an S3 operation).
    const TAG_OPS: &str = "Operational";
    /// The tag of known S3 operations answered 501.
    const TAG_NYI: &str = "Not implemented (501)";

    /// One documented operation.
    struct Op {
        /// The path key, with its query literal.
        path: String,
        /// Lower-case, as OpenAPI spells it.
        method: String,
        v: Value,
    }

    impl Op {
        fn id(&self) -> &str {
            self.v["operationId"].as_str().unwrap()
        }
        fn is_operational(&self) -> bool {
            self.v["tags"][0] == TAG_OPS
        }
    }

    fn operations(doc: &Value) -> Vec<Op> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, v) in item.as_object().unwrap() {
                out.push(Op {
                    path: path.clone(),
                    method: method.clone(),
                    v: v.clone(),
                });
            }
        }
        out
    }

    /// What a `$ref` (`#/components/...`) points at; any other value is itself.
    fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        let Some(target) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let mut t = doc;
        for seg in target.trim_start_matches("#/").split('/') {
            t = &t[seg];
        }
        assert!(!t.is_null(), "dangling $ref {target}");
        t
    }

    fn example_text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Null => panic!("parameter without an example"),
            other => other.to_string(),
        }
    }

    /// The request head a client following the document sends for `o`: sample bucket and
    /// key, the path's query literal, every required parameter; with `optional`, every
    /// optional query parameter and header too.
    fn request_for(doc: &Value, o: &Op, optional: bool) -> RequestHead {
        let (path_tpl, literal) = o.path.split_once('?').unwrap_or((&o.path, ""));
        let path = path_tpl.replace("{bucket}", BUCKET).replace("{key}", KEY);
        let mut query: Vec<String> = literal
            .split('&')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let mut headers = vec![("host".to_string(), "127.0.0.1:9000".to_string())];
        for p in o.v["parameters"].as_array().into_iter().flatten() {
            let p = resolve(doc, p);
            let required = p["required"] == true;
            if p["in"] == "path" || (!required && !optional) {
                continue;
            }
            let name = p["name"].as_str().unwrap();
            let example = example_text(&p["example"]);
            match p["in"].as_str().unwrap() {
                "query" => query.push(format!(
                    "{name}={}",
                    percent_encoding::utf8_percent_encode(
                        &example,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                )),
                "header" => {
                    headers.push((name.replace('*', "color").to_ascii_lowercase(), example))
                }
                other => panic!("{} {}: parameter in {other}", o.method, o.path),
            }
        }
        let method = o.method.to_ascii_uppercase();
        RequestHead {
            method: Method::parse(&method),
            method_raw: method,
            path,
            query: query.join("&"),
            headers,
            opaque: Vec::new(),
            version_minor: 1,
        }
    }

    fn unsigned_get(path: &str) -> RequestHead {
        RequestHead {
            method: Method::Get,
            method_raw: "GET".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![("host".to_string(), "127.0.0.1:9000".to_string())],
            opaque: Vec::new(),
            version_minor: 1,
        }
    }

    #[test]
    fn every_documented_s3_operation_routes_to_itself() {
        let doc = document();
        let ops = operations(&doc);
        assert!(ops.len() > 50, "only {} operations documented", ops.len());
        for o in ops.iter().filter(|o| !o.is_operational()) {
            for optional in [false, true] {
                let head = request_for(&doc, o, optional);
                let r = route(&head, "").unwrap_or_else(|e| {
                    panic!(
                        "{} {}?{} does not route: {e}",
                        head.method_raw, head.path, head.query
                    )
                });
                assert_eq!(
                    r.endpoint.name(),
                    o.id(),
                    "{} {}?{} (documented as {}, optional parameters: {optional})",
                    head.method_raw,
                    head.path,
                    head.query,
                    o.path
                );
                assert_eq!(
                    r.bucket.as_deref(),
                    o.path.contains("{bucket}").then_some(BUCKET)
                );
                assert_eq!(r.key.as_deref(), o.path.contains("{key}").then_some(KEY));
            }
        }
    }

    #[test]
    fn documented_names_are_exactly_the_router_names() {
        let doc = document();
        let router: BTreeSet<String> = crate::s3::endpoint::operation_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        let documented: BTreeSet<String> = operations(&doc)
            .iter()
            .filter(|o| !o.is_operational())
            .map(|o| o.id().to_string())
            .collect();
        let undocumented: Vec<_> = router.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&router).collect();
        assert!(
            undocumented.is_empty(),
            "router operations missing from src/server/openapi.json: {undocumented:?}"
        );
        assert!(
            unknown.is_empty(),
            "documented operations the router never names: {unknown:?}"
        );
    }

    #[test]
    fn every_operational_path_is_served_and_every_endpoint_documented() {
        let doc = document();
        let mut documented = BTreeSet::new();
        for o in operations(&doc).iter().filter(|o| o.is_operational()) {
            assert_eq!(o.method, "get", "{}", o.path);
            documented.insert(o.id().to_string());
            let paths: Vec<String> = match o.path.split_once("{asset}") {
                None => vec![o.path.clone()],
                Some((prefix, _)) => {
                    let names: BTreeSet<&str> = o.v["parameters"][0]["schema"]["enum"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n.as_str().unwrap())
                        .collect();
                    let served: BTreeSet<&str> =
                        crate::server::docs::ASSETS.iter().map(|a| a.name).collect();
                    assert_eq!(names, served, "/docs/{{asset}} names what /docs serves");
                    names.iter().map(|n| format!("{prefix}{n}")).collect()
                }
            };
            for path in paths {
                assert!(crate::server::router::is_operational(&unsigned_get(&path)));
                assert_eq!(
                    Operational::of(&path).map(Operational::operation_id),
                    Some(o.id()),
                    "{path}"
                );
            }
        }
        let served: BTreeSet<String> = Operational::ALL
            .iter()
            .map(|e| e.operation_id().to_string())
            .collect();
        assert_eq!(documented, served);
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut ids = BTreeSet::new();
        for o in operations(&doc) {
            assert!(
                ids.insert(o.id().to_string()),
                "{} documented twice",
                o.id()
            );
            assert!(
                ["get", "put", "post", "delete", "head", "options"].contains(&o.method.as_str()),
                "{}",
                o.method
            );
        }
    }

    #[test]
    fn document_shape() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        for o in operations(&doc) {
            let (method, path) = (&o.method, &o.path);
            assert!(path.starts_with('/'));
            // Every template variable is a declared path parameter.
            let declared = o.v["parameters"].as_array().map(|a| a.len()).unwrap_or(0);
            assert!(declared >= path.matches('{').count(), "{method} {path}");
            for p in o.v["parameters"].as_array().into_iter().flatten() {
                let p = resolve(&doc, p);
                assert!(
                    p["name"].is_string() && p["in"].is_string(),
                    "{method} {path}"
                );
                assert!(p["schema"].is_object(), "{method} {path} {}", p["name"]);
            }
            for (status, resp) in o.v["responses"].as_object().unwrap() {
                assert!(status.len() == 3, "{method} {path} {status}");
                assert!(
                    resolve(&doc, resp)["description"].is_string(),
                    "{method} {path} {status}"
                );
            }
        }
        // Every $ref resolves.
        let text = serde_json::to_string(&doc).unwrap();
        let mut refs = 0;
        for part in text.split("\"$ref\":\"#/").skip(1) {
            let target = part.split('"').next().unwrap();
            let mut v = &doc;
            for seg in target.split('/') {
                v = &v[seg];
            }
            assert!(!v.is_null(), "dangling $ref #/{target}");
            refs += 1;
        }
        assert!(refs > 100, "only {refs} references");
    }

    #[test]
    fn unimplemented_operations_answer_501_only() {
        let doc = document();
        let nyi: Vec<Op> = operations(&doc)
            .into_iter()
            .filter(|o| o.v["tags"][0] == TAG_NYI)
            .collect();
        assert!(!nyi.is_empty());
        for o in nyi {
            let resp = o.v["responses"].as_object().unwrap();
            assert!(resp["501"].is_object(), "{}", o.id());
            assert!(
                resp.keys()
                    .all(|s| s.starts_with('4') || s.starts_with('5')),
                "{}",
                o.id()
            );
        }
    }

    #[test]
    fn served_bytes_are_the_checked_in_document_with_this_version() {
        let served: Value = serde_json::from_slice(json_bytes()).unwrap();
        assert_eq!(served["info"]["version"], env!("CARGO_PKG_VERSION"));
        let mut asset: Value = serde_json::from_str(DOCUMENT).unwrap();
        asset["info"]["version"] = served["info"]["version"].clone();
        assert_eq!(served, asset);
    }
}

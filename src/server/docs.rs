//! `GET /docs`: Swagger UI for `/openapi.json`, served entirely from the binary so it works
//! air-gapped. The vendored files live in `assets/swagger-ui/` (see its README for version
//! and provenance); the page and its start-up script are here.
//!
//! The page asks for every asset as `/docs/<name>?v=<version>`, so the assets can be cached
//! for a year (`immutable`): a new Swagger UI version is a new URL. The page itself is
//! `no-cache` and carries a Content-Security-Policy that allows only this origin, so the
//! browser would refuse any request elsewhere even if a script tried.

use crate::http::response::{Body, Response};

/// The vendored swagger-ui-dist version (keep in step with assets/swagger-ui/README.md).
pub const SWAGGER_UI_VERSION: &str = "5.35.0";

/// A static file under `/docs/`.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const INIT_JS: &str = r##"// Starts Swagger UI on /openapi.json (BleepStore, src/server/docs.rs).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    deepLinking: true,
    displayOperationId: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
    validatorUrl: null,
    tryItOutEnabled: false,
  });
});
"##;

/// Every file served under `/docs/` (also the enum of `/docs/{asset}` in the OpenAPI
/// document).
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "swagger-ui-bundle.js",
        content_type: "application/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    },
    Asset {
        name: "swagger-ui.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    },
    Asset {
        name: "init.js",
        content_type: "application/javascript; charset=utf-8",
        bytes: INIT_JS.as_bytes(),
    },
    Asset {
        name: "favicon-32x32.png",
        content_type: "image/png",
        bytes: include_bytes!("../../assets/swagger-ui/favicon-32x32.png"),
    },
    Asset {
        name: "LICENSE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../../assets/swagger-ui/LICENSE"),
    },
    Asset {
        name: "NOTICE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../../assets/swagger-ui/NOTICE"),
    },
    Asset {
        name: "swagger-ui-bundle.js.LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"),
    },
];

/// Only this origin: scripts and styles from /docs, the document from /openapi.json.
/// Swagger UI sets inline styles and uses data: URIs for its icons.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; \
form-action 'none'; frame-ancestors 'none'";

fn index_html() -> String {
    let v = SWAGGER_UI_VERSION;
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>BleepStore API</title>\n\
<link rel=\"icon\" type=\"image/png\" href=\"/docs/favicon-32x32.png?v={v}\">\n\
<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css?v={v}\">\n\
</head>\n<body>\n<div id=\"swagger-ui\"></div>\n\
<noscript>Swagger UI needs JavaScript; the document itself is <a href=\"/openapi.json\">/openapi.json</a>.</noscript>\n\
<script src=\"/docs/swagger-ui-bundle.js?v={v}\"></script>\n\
<script src=\"/docs/init.js?v={v}\"></script>\n\
</body>\n</html>\n"
    )
}

fn page(content_type: &str, cache: &str, body: Vec<u8>) -> Response {
    let mut r = Response::new(200);
    r.header("content-type", content_type.to_string());
    r.header("cache-control", cache.to_string());
    r.header("x-content-type-options", "nosniff");
    r.body = Body::Bytes(body);
    r
}

/// Whether `path` names the Swagger UI page.
pub fn is_page(path: &str) -> bool {
    matches!(path, "/docs" | "/docs/" | "/docs/index.html")
}

/// The embedded file called `name`.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// Answers `/docs`, `/docs/` and `/docs/<asset>`; None for any other path (an unknown
/// `/docs/...` is an S3 request for an object in a bucket named `docs`).
pub fn serve(path: &str) -> Option<Response> {
    match path {
        p if is_page(p) => {
            let mut r = page(
                "text/html; charset=utf-8",
                "no-cache",
                index_html().into_bytes(),
            );
            r.header("content-security-policy", CSP);
            r.header("referrer-policy", "no-referrer");
            Some(r)
        }
        _ => {
            let asset = asset(path.strip_prefix("/docs/")?)?;
            Some(page(
                asset.content_type,
                "public, max-age=31536000, immutable",
                asset.bytes.to_vec(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn index_loads_only_local_versioned_assets() {
        let r = serve("/docs").unwrap();
        assert_eq!(header(&r, "content-type"), Some("text/html; charset=utf-8"));
        let Body::Bytes(b) = &r.body else {
            panic!("index has a body")
        };
        let html = std::str::from_utf8(b).unwrap();
        for src in html.split(['"']).filter(|s| s.starts_with("/docs/")) {
            let (path, v) = src.split_once("?v=").unwrap();
            assert_eq!(v, SWAGGER_UI_VERSION);
            assert!(serve(path).is_some(), "{path} not served");
        }
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "index must not load anything remote"
        );
        assert!(header(&r, "content-security-policy")
            .unwrap()
            .contains("connect-src 'self'"));
    }

    #[test]
    fn assets_have_types_and_long_cache() {
        let r = serve("/docs/swagger-ui-bundle.js").unwrap();
        assert_eq!(
            header(&r, "content-type"),
            Some("application/javascript; charset=utf-8")
        );
        assert!(header(&r, "cache-control")
            .unwrap()
            .contains("max-age=31536000"));
        let Body::Bytes(b) = &r.body else {
            panic!("asset has a body")
        };
        assert!(b.len() > 1_000_000, "the bundle is embedded whole");
        assert_eq!(
            header(&serve("/docs/swagger-ui.css").unwrap(), "content-type"),
            Some("text/css; charset=utf-8")
        );
        assert!(serve("/docs/nope.js").is_none());
        assert!(serve("/docsx").is_none());
        assert!(serve("/docs/init.js").is_some());
    }
}

//! The one [`Service`] every connection runs: unsigned GETs of an operational path go to
//! [`super::endpoints`], everything else to the S3 service. Both kinds of answer carry the
//! same request id and common headers, and are counted and logged alike.

use crate::auth::users::Users;
use crate::http::conn::{Finished, Request, Service};
use crate::http::head::{Method, RequestHead};
use crate::http::response::Response;
use crate::runtime::Shared;
use crate::s3::error::S3Error;
use crate::s3::service::S3Service;
use crate::storage::gateway::bridge::Gateway;
use std::sync::Arc;

/// One per core.
pub struct Router {
    shared: Arc<Shared>,
    /// The upstream holding object bytes, for gateway backends (None: local disk): health
    /// and readiness report on it.
    gateway: Option<Arc<Gateway>>,
    s3: S3Service,
}

impl Router {
    pub fn new(
        shared: Arc<Shared>,
        gateway: Option<Arc<Gateway>>,
        users: Arc<Users>,
        core_id: u32,
    ) -> Router {
        Router {
            s3: S3Service::new(shared.clone(), users, core_id),
            shared,
            gateway,
        }
    }

    async fn handle(&self, req: &mut Request<'_>) -> Response {
        let request_id = self.s3.begin();
        let mut resp = match self.operational(&req.head).await {
            Some(resp) => resp,
            None => self.s3.answer(req, &request_id).await,
        };
        crate::s3::service::common_headers(&mut resp, &request_id);
        resp
    }

    /// The operational endpoint's answer, or None when the request is for the S3 API.
    async fn operational(&self, head: &RequestHead) -> Option<Response> {
        if !is_operational(head) {
            return None;
        }
        let mut resp = super::endpoints::serve(&self.shared, self.gateway.as_deref(), head).await?;
        if resp.label.is_empty() {
            resp.label = "Operational";
        }
        Some(resp)
    }
}

/// Whether the request may name an operational endpoint rather than an S3 resource: only
/// unsigned GETs, so a bucket called "metrics" stays reachable with a signed request.
pub fn is_operational(head: &RequestHead) -> bool {
    head.method == Method::Get
        && head
            .header("authorization")
            .map(|a| a.starts_with("Bearer "))
            .unwrap_or(true)
        && !head.query.contains("X-Amz-Algorithm")
        && !head.query.contains("AWSAccessKeyId")
}

impl Service for Router {
    fn call<'a, 'c: 'a>(
        &'a self,
        req: &'a mut Request<'c>,
    ) -> impl std::future::Future<Output = Response> + 'a {
        self.handle(req)
    }

    fn reject(&self, err: S3Error) -> Response {
        self.s3.reject(err)
    }

    fn finished(&self, d: &Finished<'_>) {
        let method: &'static str = d.head.method.as_str();
        let elapsed = d.started.elapsed();
        crate::observe::metrics::request_finished(
            method,
            d.label,
            d.status,
            d.bytes_in,
            d.bytes_out,
            elapsed,
        );
        crate::observe::log::access(&crate::observe::log::AccessRecord {
            request_id: d.request_id,
            remote: d.remote,
            method,
            operation: d.label,
            path: &d.head.path,
            status: d.status,
            bytes_in: d.bytes_in,
            bytes_out: d.bytes_out,
            duration_us: elapsed.as_micros() as u64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::is_operational;
    use crate::http::head::{Method, RequestHead};

    fn head(method: &str, query: &str, authorization: Option<&str>) -> RequestHead {
        let mut headers = vec![("host".to_string(), "127.0.0.1:9000".to_string())];
        if let Some(a) = authorization {
            headers.push(("authorization".to_string(), a.to_string()));
        }
        RequestHead {
            method: Method::parse(method),
            method_raw: method.to_string(),
            path: "/metrics".to_string(),
            query: query.to_string(),
            headers,
            opaque: Vec::new(),
            version_minor: 1,
        }
    }

    #[test]
    fn only_unsigned_gets_are_operational() {
        assert!(is_operational(&head("GET", "", None)));
        assert!(is_operational(&head("GET", "", Some("Bearer t0ken"))));
        assert!(!is_operational(&head("HEAD", "", None)));
        assert!(!is_operational(&head("PUT", "", None)));
        assert!(!is_operational(&head(
            "GET",
            "",
            Some("AWS4-HMAC-SHA256 Credential=a/20250101/us-east-1/s3/aws4_request")
        )));
        assert!(!is_operational(&head(
            "GET",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            None
        )));
        assert!(!is_operational(&head(
            "GET",
            "AWSAccessKeyId=a&Signature=s",
            None
        )));
    }
}

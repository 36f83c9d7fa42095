//! `X-Request-Id`: the client's own when it sent a usable one, else one made up, so a log line
//! and the client's report of a failure can be matched. Inner layers find it in the request's
//! extensions ([`RequestId`]); the response carries it back.

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Request, Response};

use crate::http::{Body, RequestId, Service};

const HEADER: &str = "x-request-id";

pub(crate) struct RequestIds<S> {
    inner: S,
}

impl<S> RequestIds<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: Service> Service for RequestIds<S> {
    async fn call(&self, mut request: Request<Incoming>) -> Response<Body> {
        let id = presented(request.headers()).unwrap_or_else(new_request_id);
        request.extensions_mut().insert(RequestId(id.clone()));
        let mut response = self.inner.call(request).await;
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert(HEADER, value);
        }
        response
    }
}

/// The client's id, if it is short printable ASCII (it ends up in log lines and a header).
fn presented(headers: &HeaderMap) -> Option<String> {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
}

/// Process id and a counter: unique per process without coordination.
fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{n:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_printable_short_ids_are_kept() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented(&headers), None);
        headers.insert(HEADER, HeaderValue::from_static("abc-1"));
        assert_eq!(presented(&headers).as_deref(), Some("abc-1"));
        headers.insert(HEADER, HeaderValue::from_static("a b"));
        assert_eq!(presented(&headers), None);
        let long = "x".repeat(129);
        headers.insert(HEADER, HeaderValue::from_str(&long).expect("ascii"));
        assert_eq!(presented(&headers), None);
        assert_ne!(new_request_id(), new_request_id());
    }
}

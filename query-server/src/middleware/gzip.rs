//! gzip for clients that accept it: complete JSON and CSV bodies of 1 KiB or more. Streamed
//! bodies (CSV exports) go out as they are, since compressing them would mean holding them.

use std::io::Write;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Request, Response};

use crate::http::{full, Body, Service};

/// Below this, the gzip header and the CPU cost more than they save.
const MIN_BYTES: u64 = 1024;

pub(crate) struct Gzip<S> {
    inner: S,
}

impl<S> Gzip<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: Service> Service for Gzip<S> {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let accepted = accepts_gzip(request.headers());
        let response = self.inner.call(request).await;
        if accepted {
            compress(response).await
        } else {
            response
        }
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.trim().split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

async fn compress(response: Response<Body>) -> Response<Body> {
    let compressible = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/csv"));
    let exact = hyper::body::Body::size_hint(response.body()).exact();
    if !compressible
        || exact.is_none_or(|n| n < MIN_BYTES)
        || response.headers().contains_key(header::CONTENT_ENCODING)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        return Response::from_parts(parts, full(Bytes::new()));
    };
    let raw = collected.to_bytes();
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    let compressed = encoder.write_all(&raw).and_then(|()| encoder.finish());
    match compressed {
        Ok(bytes) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            Response::from_parts(parts, full(bytes))
        }
        Err(_) => Response::from_parts(parts, full(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_unless_refused() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
            accepts_gzip(&headers)
        };
        assert!(with("gzip, deflate"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(!with("gzip;q=0"));
        assert!(!with("identity"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[tokio::test]
    async fn large_json_is_compressed_small_is_not() {
        let large =
            crate::http::with_type(hyper::StatusCode::OK, "application/json", vec![b'1'; 4096]);
        let compressed = compress(large).await;
        assert_eq!(compressed.headers()[header::CONTENT_ENCODING], "gzip");
        let small = crate::http::with_type(hyper::StatusCode::OK, "application/json", "[]");
        assert!(!compress(small)
            .await
            .headers()
            .contains_key(header::CONTENT_ENCODING));
    }
}

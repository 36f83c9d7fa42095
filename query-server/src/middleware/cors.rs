//! CORS: preflights are answered here for any path, and responses to an allowed `Origin` say
//! so. `CORS_ALLOWED_ORIGINS` lists the origins; `*` allows any.

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use crate::http::{full, Body, RouteLabel, Service};

pub(crate) struct Cors<S> {
    allowed: Vec<String>,
    inner: S,
}

impl<S> Cors<S> {
    pub(crate) fn new(allowed: Vec<String>, inner: S) -> Self {
        Self { allowed, inner }
    }
}

impl<S: Service> Service for Cors<S> {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let origin = request.headers().get(header::ORIGIN).cloned();
        let mut response = if request.method() == Method::OPTIONS {
            preflight(request.headers())
        } else {
            self.inner.call(request).await
        };
        allow_origin(&self.allowed, origin.as_ref(), response.headers_mut());
        response
    }
}

fn preflight(headers: &HeaderMap) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response.extensions_mut().insert(RouteLabel("preflight"));
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_static("Content-Type, Authorization, X-Admin-Token, X-Request-Id")
        });
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

fn allow_origin(allowed: &[String], origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    let Some(origin) = origin else { return };
    let Ok(origin_text) = origin.to_str() else {
        return;
    };
    if allowed.iter().any(|a| a == "*") {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else if allowed.iter().any(|a| a == origin_text) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        // The answer depends on the origin: caches must not serve it to another one.
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    } else {
        return;
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("X-Request-Id, Content-Disposition"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_are_allowed() {
        let origin = HeaderValue::from_static("https://city.example");
        let mut headers = HeaderMap::new();
        allow_origin(
            &["https://other.example".into()],
            Some(&origin),
            &mut headers,
        );
        assert!(headers.is_empty());
        allow_origin(
            &["https://city.example".into()],
            Some(&origin),
            &mut headers,
        );
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], origin);
        assert_eq!(headers[header::VARY], "Origin");
        let mut any = HeaderMap::new();
        allow_origin(&["*".into()], Some(&origin), &mut any);
        assert_eq!(any[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        let preflight = preflight(&HeaderMap::new());
        assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
        assert_eq!(RouteLabel::of(&preflight), "preflight");
    }
}

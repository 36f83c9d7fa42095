//! `(method, path segments)` to a [`Route`] and the values of its `{...}` segments: 404 for an
//! unknown path, 405 (with `Allow`) for a known path under another method, HEAD as GET.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response};

use crate::error::ApiError;
use crate::http::{error_response, Body, RouteLabel, Service};
use crate::routes::Route;

/// The resolved route of a request (request extension), for the layers inside the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Matched {
    pub(crate) route: Route,
    /// Values of the `{...}` segments of the route template, in order, percent-decoded.
    pub(crate) params: Vec<String>,
}

pub(crate) struct Router<S> {
    inner: S,
}

impl<S> Router<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: Service> Service for Router<S> {
    async fn call(&self, mut request: Request<Incoming>) -> Response<Body> {
        match resolve(request.method(), request.uri().path()) {
            Ok(matched) => {
                let label = RouteLabel(matched.route.spec().1);
                request.extensions_mut().insert(matched);
                let mut response = self.inner.call(request).await;
                response.extensions_mut().insert(label);
                response
            }
            Err(error) => unrouted(&error, request.uri().path()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ResolveError {
    NotFound,
    MethodNotAllowed(Vec<Method>),
}

fn resolve(method: &Method, path: &str) -> Result<Matched, ResolveError> {
    let segments: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let mut allowed = Vec::new();
    for &route in Route::ALL {
        let (route_method, template) = route.spec();
        if let Some(params) = match_template(template, &segments) {
            if route_method == *method || (route_method == Method::GET && *method == Method::HEAD) {
                return Ok(Matched { route, params });
            }
            allowed.push(route_method);
        }
    }
    if allowed.is_empty() {
        Err(ResolveError::NotFound)
    } else {
        Err(ResolveError::MethodNotAllowed(allowed))
    }
}

fn match_template(template: &str, segments: &[&str]) -> Option<Vec<String>> {
    let parts: Vec<&str> = template
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if part.starts_with('{') {
            let decoded = form_urlencoded::parse(format!("v={segment}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            params.push(decoded);
        } else if part != segment {
            return None;
        }
    }
    Some(params)
}

/// The 404 or 405 (with `Allow`, and the allowed methods in the message).
fn unrouted(error: &ResolveError, path: &str) -> Response<Body> {
    let (label, api_error) = match error {
        ResolveError::NotFound => (
            "unmatched",
            ApiError::not_found(format!("no route for {path}")),
        ),
        ResolveError::MethodNotAllowed(allowed) => (
            "method_not_allowed",
            ApiError::new(
                hyper::StatusCode::METHOD_NOT_ALLOWED,
                format!("method not allowed on {path}; allowed: {}", list(allowed)),
            ),
        ),
    };
    let mut response = error_response(&api_error);
    if let ResolveError::MethodNotAllowed(allowed) = error {
        if let Ok(value) = HeaderValue::from_str(&list(allowed)) {
            response.headers_mut().insert(header::ALLOW, value);
        }
    }
    response.extensions_mut().insert(RouteLabel(label));
    response
}

fn list(methods: &[Method]) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(method: &Method, path: &str) -> Result<(Route, Vec<String>), ResolveError> {
        resolve(method, path).map(|m| (m.route, m.params))
    }

    #[test]
    fn resolves_paths_params_and_methods() {
        assert_eq!(
            resolved(&Method::GET, "/health"),
            Ok((Route::Health, vec![]))
        );
        assert_eq!(
            resolved(&Method::HEAD, "/metrics"),
            Ok((Route::Prometheus, vec![]))
        );
        assert_eq!(
            resolved(&Method::POST, "/api/alerts/42/acknowledge"),
            Ok((Route::AlertAcknowledge, vec!["42".to_owned()]))
        );
        assert_eq!(
            resolved(&Method::PUT, "/api/admin/cameras/cam%2001"),
            Ok((Route::AdminCameraPut, vec!["cam 01".to_owned()]))
        );
        assert_eq!(resolved(&Method::GET, "/nope"), Err(ResolveError::NotFound));
        assert!(matches!(
            resolved(&Method::DELETE, "/api/admin/thresholds"),
            Err(ResolveError::MethodNotAllowed(m)) if m == vec![Method::GET, Method::PUT]
        ));
    }

    #[test]
    fn unrouted_answers_carry_allow_and_their_label() {
        let response = unrouted(
            &ResolveError::MethodNotAllowed(vec![Method::GET, Method::PUT]),
            "/api/admin/thresholds",
        );
        assert_eq!(response.status(), hyper::StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET, PUT");
        assert_eq!(RouteLabel::of(&response), "method_not_allowed");
        let missing = unrouted(&ResolveError::NotFound, "/nope");
        assert_eq!(missing.status(), hyper::StatusCode::NOT_FOUND);
        assert_eq!(RouteLabel::of(&missing), "unmatched");
    }
}

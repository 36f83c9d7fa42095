//! One line per request on the `query_server::access` target, so it can be filtered or routed
//! apart from the application's own lines.

use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::http::{Body, Peer, RequestId, RouteLabel, Service};

pub(crate) struct AccessLog<S> {
    inner: S,
}

impl<S> AccessLog<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: Service> Service for AccessLog<S> {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let peer = request
            .extensions()
            .get::<Peer>()
            .map_or_else(|| "unknown".to_owned(), |peer| peer.0.to_string());
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let response = self.inner.call(request).await;
        log::info!(
            target: "query_server::access",
            "request request_id={request_id} peer={peer} method={method} path={path} route={} status={} ms={:.2}",
            RouteLabel::of(&response),
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
        response
    }
}

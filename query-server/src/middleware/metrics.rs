//! `b2_api_requests` and `b2_api_request_latency_seconds`, by method, route template and
//! status.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::{Request, Response};

use crate::http::{Body, RouteLabel, Service};
use crate::telemetry::ApiMetrics;

pub(crate) struct Metrics<S> {
    metrics: Arc<ApiMetrics>,
    inner: S,
}

impl<S> Metrics<S> {
    pub(crate) fn new(metrics: Arc<ApiMetrics>, inner: S) -> Self {
        Self { metrics, inner }
    }
}

impl<S: Service> Service for Metrics<S> {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let method = request.method().clone();
        let response = self.inner.call(request).await;
        self.metrics.observe(
            method.as_str(),
            RouteLabel::of(&response),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
        response
    }
}

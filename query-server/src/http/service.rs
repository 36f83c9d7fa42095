//! One stage of the request path, in the manner of tower's `Service`: a layer holds the stage
//! inside it, may answer by itself, and otherwise passes the request on and adjusts the
//! response. The stages are put together once, in `server`.
//!
//! Stages never fail: an error has become a JSON response by the time it leaves the stage that
//! met it. What one stage learns for another travels in the request's or response's extensions.

use std::future::Future;
use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, Response};

use super::Body;

pub(crate) trait Service: Send + Sync + 'static {
    fn call(&self, request: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// The client's address (request extension, set by the server).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// The request's id, the client's `X-Request-Id` or one made up (request extension).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub(crate) String);

/// The route template the response answered, or what answered instead (`unmatched`,
/// `method_not_allowed`, `preflight`): the metrics' and the access log's `route` (response
/// extension). Templates, never raw paths, keep the metrics' label set bounded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RouteLabel(pub(crate) &'static str);

impl RouteLabel {
    /// The label of `response`; every answer sets one, so the fallback is only a safeguard.
    pub(crate) fn of(response: &Response<Body>) -> &'static str {
        response
            .extensions()
            .get::<RouteLabel>()
            .map_or("unmatched", |label| label.0)
    }
}

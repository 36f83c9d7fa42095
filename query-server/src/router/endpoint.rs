//! The innermost stage: a resolved (and, for admin routes, authorized) request becomes the
//! handler's answer. WebSocket routes upgrade here; every other route gets its body and
//! parameters read, and hot GETs are answered from the cache.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use super::resolve::Matched;
use super::{dispatch, hot, request};
use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::{error_response, ApiResult, Body, RequestId, Service};
use crate::routes::Route;
use crate::ws;

pub(crate) struct Endpoint {
    ctx: Arc<Ctx>,
}

impl Endpoint {
    pub(crate) fn new(ctx: Arc<Ctx>) -> Self {
        Self { ctx }
    }

    async fn answer(
        &self,
        route: Route,
        params: Vec<String>,
        request: Request<Incoming>,
    ) -> ApiResult {
        let key = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let req = request::read(request, params, self.ctx.config.max_body_bytes).await?;
        if route.is_hot() && req.method == Method::GET {
            hot::answer(&self.ctx, route, &req, &key).await
        } else {
            dispatch::dispatch(route, &self.ctx, &req).await
        }
    }
}

impl Service for Endpoint {
    async fn call(&self, mut request: Request<Incoming>) -> Response<Body> {
        let Some(Matched { route, params }) = request.extensions_mut().remove::<Matched>() else {
            return error_response(&ApiError::internal("the request reached no route"));
        };
        let method = request.method().clone();
        if method == Method::GET {
            if let Some(channel) = upgrade(route) {
                return ws::handshake::accept(&self.ctx, channel, request)
                    .unwrap_or_else(|error| error_response(&error));
            }
        }
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let response = match self.answer(route, params, request).await {
            Ok(response) => response,
            Err(error) => {
                if error.status.is_server_error() {
                    log::warn!(
                        "request_failed request_id={request_id} route={} status={} error={}",
                        route.spec().1,
                        error.status.as_u16(),
                        error.message
                    );
                }
                error_response(&error)
            }
        };
        // A write through this server: its own hot answers must show it at once (other replicas
        // learn it from the NOTIFY the write sends or triggers).
        if method != Method::GET && method != Method::HEAD && response.status().is_success() {
            self.ctx.hot.invalidate();
        }
        response
    }
}

/// The WebSocket channel a route upgrades to.
fn upgrade(route: Route) -> Option<ws::Channel> {
    match route {
        Route::WsMetrics => Some(ws::Channel::Metrics),
        Route::WsMetricsLanes => Some(ws::Channel::Lanes),
        Route::WsEvents => Some(ws::Channel::Events),
        _ => None,
    }
}

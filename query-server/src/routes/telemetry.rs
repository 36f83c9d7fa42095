//! `GET /metrics`: the Prometheus text exposition.

use hyper::StatusCode;

use crate::context::{Ctx, Req};
use crate::http::{with_type, ApiResult};

pub(crate) async fn prometheus(ctx: &Ctx, _req: &Req) -> ApiResult {
    Ok(with_type(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ctx.metrics.encode(),
    ))
}

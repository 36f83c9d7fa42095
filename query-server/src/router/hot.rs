//! Hot routes through [`crate::live::HotCache`]: the handler's complete response is kept in a
//! shareable form and served again until the data version moves or it ages out.

use http_body_util::BodyExt;
use hyper::header::{self, HeaderValue};
use hyper::Response;

use super::dispatch::dispatch;
use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{full, ApiResult, Body};
use crate::live::CachedResponse;
use crate::routes::Route;

/// `key`: the path and query, so different parameters are different answers.
pub(super) async fn answer(ctx: &Ctx, route: Route, req: &Req, key: &str) -> ApiResult {
    let cached = ctx
        .hot
        .get_or_build(key, || async {
            keep(dispatch(route, ctx, req).await?).await
        })
        .await?;
    Ok(from_cache(cached))
}

async fn keep(response: Response<Body>) -> Result<CachedResponse, ApiError> {
    let (parts, body) = response.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let body = body
        .collect()
        .await
        .map_err(|e| ApiError::internal(format!("cannot read response: {e}")))?
        .to_bytes();
    Ok(CachedResponse {
        status: parts.status,
        content_type,
        body,
    })
}

fn from_cache(cached: CachedResponse) -> Response<Body> {
    let mut response = Response::new(full(cached.body));
    *response.status_mut() = cached.status;
    if let Ok(value) = HeaderValue::from_str(&cached.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

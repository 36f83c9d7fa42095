//! PLACEHOLDER: replaced by the real handlers.

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::ApiResult;

pub async fn thresholds_get(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn thresholds_put(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn zones_list(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn zones_create(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn zone_update(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn zone_delete(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn cameras_list(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn camera_put(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn broadcast(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

//! PLACEHOLDER: replaced by the real handlers.

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::ApiResult;

pub async fn current(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn history(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

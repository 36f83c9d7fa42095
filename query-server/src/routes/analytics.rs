//! PLACEHOLDER: replaced by the real handlers.

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::ApiResult;

pub async fn metrics(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn compare(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

pub async fn report_pdf(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Err(ApiError::unavailable("not built yet"))
}

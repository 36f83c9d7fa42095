//! `GET /openapi.json` and `GET /docs`. The document is built once (it depends only on the
//! route table) and the page is a static, self-contained file: the docs work on machines with
//! no internet access, so nothing is loaded from a CDN.

use std::sync::OnceLock;

use bytes::Bytes;
use hyper::StatusCode;

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{with_type, ApiResult};

const PAGE: &str = include_str!("../docs.html");

pub async fn openapi(_ctx: &Ctx, _req: &Req) -> ApiResult {
    static DOCUMENT: OnceLock<Option<Bytes>> = OnceLock::new();
    let bytes = DOCUMENT
        .get_or_init(|| {
            serde_json::to_vec(&crate::openapi::document())
                .map(Bytes::from)
                .map_err(|e| log::error!("openapi_encode_failed error={e}"))
                .ok()
        })
        .clone()
        .ok_or_else(|| ApiError::internal("cannot encode the OpenAPI document"))?;
    Ok(with_type(StatusCode::OK, "application/json", bytes))
}

pub async fn page(_ctx: &Ctx, _req: &Req) -> ApiResult {
    Ok(with_type(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Bytes::from_static(PAGE.as_bytes()),
    ))
}

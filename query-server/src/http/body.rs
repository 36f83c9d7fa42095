//! Response bodies and the helpers handlers build responses with.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::error::ApiError;

/// Every response body: complete (`Full`) or streamed (CSV exports).
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

pub(crate) type ApiResult = Result<Response<Body>, ApiError>;

pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

pub(crate) fn with_type(
    status: StatusCode,
    content_type: &'static str,
    bytes: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(full(bytes));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> ApiResult {
    json_status(StatusCode::OK, value)
}

pub(crate) fn json_status<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> ApiResult {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("cannot encode response: {e}")))?;
    Ok(with_type(status, "application/json", bytes))
}

pub(crate) fn error_response(error: &ApiError) -> Response<Body> {
    let bytes = serde_json::to_vec(&error.body()).unwrap_or_default();
    with_type(error.status, "application/json", bytes)
}

/// Marks a response as a file to save under `filename` (CSV exports, the PDF report).
pub(crate) fn attachment(mut response: Response<Body>, filename: &str) -> ApiResult {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|e| ApiError::internal(format!("bad header: {e}")))?;
    response
        .headers_mut()
        .insert(CONTENT_DISPOSITION, disposition);
    Ok(response)
}

/// A body fed chunk by chunk from a blocking producer (large CSV exports stream instead of
/// being built in memory).
pub(crate) fn streamed(
    content_type: &'static str,
    chunks: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> Response<Body> {
    let stream = futures_util::stream::unfold(chunks, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk.map(Frame::data), rx))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

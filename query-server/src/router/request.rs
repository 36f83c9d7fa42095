//! The request as handlers see it ([`Req`]): the body read up to the configured limit, and the
//! query parameters parsed.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::context::Req;
use crate::error::ApiError;
use crate::params::Params;

pub(super) async fn read(
    request: Request<Incoming>,
    path_params: Vec<String>,
    body_limit: usize,
) -> Result<Req, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(body, body_limit).await?;
    Ok(Req {
        method: parts.method,
        params: Params::parse(parts.uri.query()).checked()?,
        path_params,
        body,
    })
}

/// 413 beyond `limit`, so one client cannot make the server hold an unbounded body.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body larger than {limit} bytes"),
            ))
        }
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read request body: {e}"),
        )),
    }
}

//! What every layer of the request path shares: response bodies and their builders, and the
//! [`Service`] each layer implements.
//!
//! - [`body`]: [`Body`], [`ApiResult`] and the response builders handlers use.
//! - [`service`]: one stage of the request path, and the values stages pass each other in a
//!   request's or response's extensions.

pub(crate) mod body;
pub(crate) mod service;

pub(crate) use body::{
    attachment, error_response, full, json, json_status, streamed, with_type, ApiResult, Body,
};
pub(crate) use service::{Peer, RequestId, RouteLabel, Service};

/// Request headers from name/value pairs, for unit tests of the layers that read them.
#[cfg(test)]
pub(crate) fn header_map(pairs: &[(&'static str, &str)]) -> hyper::HeaderMap {
    let mut headers = hyper::HeaderMap::new();
    for (name, value) in pairs {
        headers.append(*name, value.parse().expect("header value"));
    }
    headers
}

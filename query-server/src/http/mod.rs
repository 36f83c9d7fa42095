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

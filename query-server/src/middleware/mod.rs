//! The layers around the router, each one concern, in the manner of tower's middleware. From
//! the outside in (assembled in `server`):
//!
//! - [`request_id`]: takes the client's `X-Request-Id` or makes one, and echoes it.
//! - [`access_log`]: one log line per request.
//! - [`metrics`]: request count and latency by route template.
//! - [`cors`]: answers preflights and allows the configured origins.
//! - [`gzip`]: compresses JSON and CSV bodies for clients that accept it.
//! - [`head`]: HEAD answers keep the GET's headers and drop its body.
//! - [`auth`]: the admin token; it sits inside the router, since only a resolved route says
//!   whether it is an admin route (an unknown path is a 404 with or without a token).

pub(crate) mod access_log;
pub(crate) mod auth;
pub(crate) mod cors;
pub(crate) mod gzip;
pub(crate) mod head;
pub(crate) mod metrics;
pub(crate) mod request_id;

pub(crate) use access_log::AccessLog;
pub(crate) use auth::AdminAuth;
pub(crate) use cors::Cors;
pub(crate) use gzip::Gzip;
pub(crate) use head::Head;
pub(crate) use metrics::Metrics;
pub(crate) use request_id::RequestIds;

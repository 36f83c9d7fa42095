//! The handlers, one file per domain, and the route table they answer. Every handler is
//! `async fn(&Ctx, &Req) -> ApiResult`.

pub(crate) mod admin;
pub(crate) mod alerts;
pub(crate) mod analytics;
pub(crate) mod cameras;
pub(crate) mod dashboard;
pub(crate) mod health;
pub(crate) mod map;
pub(crate) mod metrics;
pub(crate) mod predict;
mod table;
pub(crate) mod telemetry;

pub(crate) use table::Route;

//! One file per domain; every handler is `async fn(&Ctx, &Req) -> ApiResult`.

pub mod admin;
pub mod alerts;
pub mod analytics;
pub mod cameras;
pub mod dashboard;
pub mod docs;
pub mod health;
pub mod map;
pub mod metrics;
pub mod predict;
pub mod telemetry;

//! What every handler receives: shared state ([`Ctx`]) and the parsed request ([`Req`]).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::data::probes::KafkaProbe;
use crate::db::Db;
use crate::error::ApiError;
use crate::live::{Feed, HotCache};
use crate::params::Params;
use crate::telemetry::ApiMetrics;

pub(crate) struct Ctx {
    pub(crate) config: Config,
    pub(crate) db: Db,
    pub(crate) metrics: Arc<ApiMetrics>,
    pub(crate) kafka: KafkaProbe,
    pub(crate) hot: Arc<HotCache>,
    pub(crate) feed: Arc<Feed>,
    /// One permit per open WebSocket session.
    pub(crate) ws_slots: Arc<tokio::sync::Semaphore>,
    /// Turns true when the server is stopping; sessions close on it.
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
    pub(crate) started: Instant,
}

pub(crate) struct Req {
    pub(crate) method: hyper::Method,
    /// Values of the `{...}` segments of the route template, in order.
    pub(crate) path_params: Vec<String>,
    pub(crate) params: Params,
    pub(crate) body: Bytes,
}

impl Req {
    pub(crate) fn path_param(&self, index: usize, name: &str) -> Result<&str, ApiError> {
        self.path_params
            .get(index)
            .map(String::as_str)
            .ok_or_else(|| ApiError::bad_param(name, "is required in the path"))
    }

    /// The JSON body as `T`; malformed JSON is a 400, a well-formed body of the wrong shape a 422.
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::new(
                hyper::StatusCode::BAD_REQUEST,
                "a JSON body is required",
            ));
        }
        let value: serde_json::Value = serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::new(
                hyper::StatusCode::BAD_REQUEST,
                format!("body is not valid JSON: {e}"),
            )
        })?;
        if contains_nul(&value) {
            // PostgreSQL text and jsonb cannot hold U+0000.
            return Err(ApiError::unprocessable(
                "invalid body: strings must not contain NUL (\\u0000)",
            ));
        }
        serde_json::from_value(value)
            .map_err(|e| ApiError::unprocessable(format!("invalid body: {e}")))
    }
}

fn contains_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(contains_nul),
        serde_json::Value::Object(map) => {
            map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v))
        }
        _ => false,
    }
}

//! What every handler receives: shared state ([`Ctx`]) and the parsed request ([`Req`]).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::HeaderMap;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::config::Config;
use crate::db::Db;
use crate::error::ApiError;
use crate::params::Params;
use crate::telemetry::ApiMetrics;

pub struct Ctx {
    pub config: Config,
    pub db: Db,
    pub metrics: Arc<ApiMetrics>,
    pub kafka: crate::routes::health::KafkaProbe,
    pub hot: Arc<crate::live::HotCache>,
    pub feed: Arc<crate::live::Feed>,
    /// One permit per open WebSocket session.
    pub ws_slots: Arc<tokio::sync::Semaphore>,
    /// Turns true when the server is stopping; sessions close on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub started: Instant,
}

pub struct Req {
    pub method: hyper::Method,
    pub path: String,
    /// Values of the `{...}` segments of the route template, in order.
    pub path_params: Vec<String>,
    pub params: Params,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn path_param(&self, index: usize, name: &str) -> Result<&str, ApiError> {
        self.path_params
            .get(index)
            .map(String::as_str)
            .ok_or_else(|| ApiError::bad_param(name, "is required in the path"))
    }

    /// The JSON body as `T`; malformed JSON is a 400, a well-formed body of the wrong shape a 422.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
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

/// Admin routes take `X-Admin-Token: <key>` or `Authorization: Bearer <key>`: 401 without a
/// token, 403 with a wrong one, and closed (403) when no key is configured.
pub fn authorize_admin(config: &Config, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = config.admin_api_key.as_deref() else {
        return Err(ApiError::forbidden(
            "admin routes are disabled: ADMIN_API_KEY is not set",
        ));
    };
    let presented = headers
        .get("x-admin-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or_else(|| {
            headers
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
        })
        .filter(|t| !t.is_empty());
    let Some(presented) = presented else {
        return Err(ApiError::unauthorized(
            "admin token required (X-Admin-Token or Authorization: Bearer)",
        ));
    };
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::forbidden("invalid admin token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(key: Option<&str>) -> Config {
        let key = key.map(str::to_owned);
        Config::from_lookup(|name| {
            if name == "ADMIN_API_KEY" {
                key.clone()
            } else {
                None
            }
        })
        .expect("config")
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn admin_auth_codes() {
        let c = config(Some("s3cret"));
        assert_eq!(
            authorize_admin(&c, &headers(&[]))
                .expect_err("none")
                .status
                .as_u16(),
            401
        );
        assert_eq!(
            authorize_admin(&c, &headers(&[("x-admin-token", "nope")]))
                .expect_err("bad")
                .status
                .as_u16(),
            403
        );
        assert!(authorize_admin(&c, &headers(&[("x-admin-token", "s3cret")])).is_ok());
        assert!(authorize_admin(&c, &headers(&[("authorization", "Bearer s3cret")])).is_ok());
        let closed = config(None);
        assert_eq!(
            authorize_admin(&closed, &headers(&[("x-admin-token", "s3cret")]))
                .expect_err("closed")
                .status
                .as_u16(),
            403
        );
    }
}

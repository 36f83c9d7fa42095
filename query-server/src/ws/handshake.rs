//! The HTTP side of a WebSocket: checks the upgrade request, answers 101 and hands the
//! upgraded connection to a session task. Requests that are not WebSocket handshakes get a
//! JSON 426; a full server gets a 503 before any upgrade.

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::session;
use super::subscription::{Channel, Subscription};
use crate::context::Ctx;
use crate::error::ApiError;
use crate::http::{full, Body};
use crate::params::Params;

/// Clients send little (pongs, a close): small buffers keep an idle session cheap.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024))
}

pub(crate) fn accept(
    ctx: &Arc<Ctx>,
    channel: Channel,
    request: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let key = handshake_key(request.headers())?;
    let permit = ctx.ws_slots.clone().try_acquire_owned().map_err(|_| {
        ctx.metrics.ws_closed("capacity");
        ApiError::unavailable(format!(
            "too many WebSocket clients (limit {}); retry later",
            ctx.config.ws_max_clients
        ))
    })?;
    let subscription = Params::parse(request.uri().query())
        .checked()
        .map_err(|e| e.message)
        .and_then(|params| Subscription::parse(channel, &params));
    let ctx = ctx.clone();
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(request).await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                log::debug!("ws_upgrade_failed error={e}");
                return;
            }
        };
        let socket = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(socket_config()),
        )
        .await;
        match subscription {
            Ok(subscription) => session::run(ctx, socket, subscription, permit).await,
            Err(reason) => session::refuse(&ctx, socket, reason).await,
        }
    });
    let mut response = Response::new(full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|e| ApiError::internal(format!("accept key: {e}")))?;
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(response)
}

/// The `Sec-WebSocket-Key` of a valid version-13 upgrade request.
fn handshake_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has_token(header::UPGRADE, "websocket") || !has_token(header::CONNECTION, "upgrade") {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: connect with a WebSocket client (ws://...)",
        ));
    }
    let version = headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok());
    if version.map(str::trim) != Some("13") {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "Sec-WebSocket-Version 13 is required",
        ));
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| k.len() == 24)
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "Sec-WebSocket-Key is missing or not 16 base64-encoded bytes",
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::header_map as headers;

    #[test]
    fn only_version_13_upgrades_with_a_key_pass() {
        let good = [
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        assert_eq!(
            handshake_key(&headers(&good)).expect("valid"),
            "dGhlIHNhbXBsZSBub25jZQ=="
        );
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        let plain = handshake_key(&headers(&[])).expect_err("plain GET");
        assert_eq!(plain.status, StatusCode::UPGRADE_REQUIRED);
        let old = handshake_key(&headers(&[
            good[0],
            good[1],
            ("sec-websocket-version", "8"),
            good[3],
        ]))
        .expect_err("version");
        assert_eq!(old.status, StatusCode::UPGRADE_REQUIRED);
        let keyless = handshake_key(&headers(&good[..3])).expect_err("key");
        assert_eq!(keyless.status, StatusCode::BAD_REQUEST);
    }
}

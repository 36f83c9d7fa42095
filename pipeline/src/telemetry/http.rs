//! A small HTTP endpoint for Prometheus: `GET /metrics`, and `GET /health` for orchestrators
//! (200 while commits keep up, 503 when data waits too long or the process is failing).

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Health, PipelineMetrics};
use crate::shutdown::Shutdown;

/// Serves until `stop`; returns the bound address (port 0 picks a free one). `process` carries the
/// failure reason `/health` reports.
pub fn serve(
    addr: SocketAddr,
    metrics: Arc<PipelineMetrics>,
    health: Arc<Health>,
    process: Shutdown,
    stop: Shutdown,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("metrics listener has no IP address"))?;
    let handle = std::thread::Builder::new()
        .name("metrics-http".into())
        .spawn(move || {
            while !stop.is_triggered() {
                let request = match server.recv_timeout(Duration::from_millis(200)) {
                    Ok(Some(request)) => request,
                    Ok(None) => continue,
                    Err(e) => {
                        log::warn!("metrics_http_error error={e}");
                        continue;
                    }
                };
                let (status, content_type, body) = match (request.method(), request.url()) {
                    (tiny_http::Method::Get, "/metrics") => (
                        200,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        metrics.encode(),
                    ),
                    (tiny_http::Method::Get, "/health") => {
                        let (status, body) = health.report(process.failure());
                        (status, "application/json", body)
                    }
                    _ => (
                        404,
                        "application/json",
                        r#"{"error":"not found","status":404}"#.to_owned(),
                    ),
                };
                let mut response = tiny_http::Response::from_string(body).with_status_code(status);
                // Only constant, valid header values are used here.
                if let Ok(header) = tiny_http::Header::from_bytes("Content-Type", content_type) {
                    response = response.with_header(header);
                }
                if let Err(e) = request.respond(response) {
                    log::debug!("metrics_http_respond_failed error={e}");
                }
            }
        })?;
    Ok((bound, handle))
}

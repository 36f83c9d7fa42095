//! The hyper server: accept loop with a connection cap, header timeout, body-size limit,
//! graceful shutdown, and the per-request wrapping every route shares (request id, CORS
//! preflight, admin auth, metrics, gzip, access log).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::context::{authorize_admin, Ctx, Req};
use crate::error::ApiError;
use crate::http::{error_response, full, Body};
use crate::live::CachedResponse;
use crate::params::Params;
use crate::router::{dispatch, resolve, resolve_error, ResolveError};

/// Serves on `listener` until `shutdown` turns true, then lets open requests finish and
/// WebSocket sessions close (up to 10 s).
pub async fn serve(listener: TcpListener, ctx: Arc<Ctx>, mut shutdown: watch::Receiver<bool>) {
    let max = ctx.config.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        log::warn!("accept_failed error={e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    log::warn!("connection_refused peer={peer} reason=max_connections");
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(ctx.clone(), stream, peer, slot, shutdown.clone()));
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    // Every connection and session holds a permit until it is done.
    let sessions = ctx.config.ws_max_clients.clamp(1, Semaphore::MAX_PERMITS);
    let drained = async {
        let _connections = slots.acquire_many(permits(max)).await;
        let _sessions = ctx.ws_slots.acquire_many(permits(sessions)).await;
    };
    tokio::select! {
        _ = drained => log::info!("query_server_drained"),
        _ = tokio::time::sleep(Duration::from_secs(10)) => log::warn!("query_server_drain_timeout"),
    }
}

fn permits(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// One HTTP/1.1 connection (kept alive, possibly upgraded to a WebSocket). On shutdown, a
/// request in progress is finished and the connection closed after it.
async fn connection(
    ctx: Arc<Ctx>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: tokio::sync::OwnedSemaphorePermit,
    mut shutdown: watch::Receiver<bool>,
) {
    let service_ctx = ctx.clone();
    let service = service_fn(move |request| {
        let ctx = service_ctx.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&ctx, request, peer).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(ctx.config.header_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let stopping = async {
        if shutdown.wait_for(|stop| *stop).await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopping => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        log::debug!("connection_error peer={peer} error={e}");
    }
    drop(slot);
}

/// One request, start to finish. Never fails: every error becomes a JSON response here.
pub async fn handle(
    ctx: &Arc<Ctx>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(new_request_id);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let log_path = path.clone();
    let origin = request.headers().get(header::ORIGIN).cloned();
    let gzip_ok = accepts_gzip(request.headers());

    let (route_label, mut response) = if method == Method::OPTIONS {
        ("preflight", preflight(request.headers()))
    } else {
        match resolve(&method, &path) {
            Err(e) => {
                let label = match e {
                    ResolveError::NotFound => "unmatched",
                    ResolveError::MethodNotAllowed(_) => "method_not_allowed",
                };
                let mut response = error_response(&resolve_error(&e, &path));
                if let ResolveError::MethodNotAllowed(allowed) = &e {
                    let list = allowed
                        .iter()
                        .map(Method::as_str)
                        .collect::<Vec<_>>()
                        .join(", ");
                    if let Ok(value) = HeaderValue::from_str(&list) {
                        response.headers_mut().insert(header::ALLOW, value);
                    }
                }
                (label, response)
            }
            Ok((route, _)) if route.websocket().is_some() && method == Method::GET => {
                let label = route.spec().1;
                let channel = route.websocket().unwrap_or(crate::ws::Channel::Events);
                let response = crate::ws::handshake::accept(ctx, channel, request)
                    .unwrap_or_else(|error| error_response(&error));
                (label, response)
            }
            Ok((route, path_params)) => {
                let label = route.spec().1;
                let outcome = async {
                    if route.is_admin() {
                        authorize_admin(&ctx.config, request.headers())?;
                    }
                    let (parts, body) = request.into_parts();
                    let body = read_body(body, ctx.config.max_body_bytes).await?;
                    let key = parts
                        .uri
                        .path_and_query()
                        .map(|p| p.as_str().to_owned())
                        .unwrap_or_default();
                    let req = Req {
                        method: parts.method,
                        params: Params::parse(parts.uri.query()).checked()?,
                        path,
                        path_params,
                        headers: parts.headers,
                        body,
                    };
                    if route.is_hot() && req.method == Method::GET {
                        let cached = ctx
                            .hot
                            .get_or_build(&key, || async {
                                keep(dispatch(route, ctx, &req).await?).await
                            })
                            .await?;
                        Ok(from_cache(cached))
                    } else {
                        dispatch(route, ctx, &req).await
                    }
                }
                .await;
                let response = match outcome {
                    Ok(response) => response,
                    Err(error) => {
                        if error.status.is_server_error() {
                            log::warn!("request_failed request_id={request_id} route={label} status={} error={}", error.status.as_u16(), error.message);
                        }
                        error_response(&error)
                    }
                };
                (label, response)
            }
        }
    };

    // A write through this server: its own hot answers must show it at once (other replicas
    // learn it from the NOTIFY the write sends or triggers).
    if method != Method::GET && method != Method::HEAD && response.status().is_success() {
        ctx.hot.invalidate();
    }
    if method == Method::HEAD {
        *response.body_mut() = full(Bytes::new());
    } else if gzip_ok {
        response = gzip(response).await;
    }
    cors(
        &ctx.config.cors_allowed_origins,
        origin.as_ref(),
        response.headers_mut(),
    );
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    ctx.metrics
        .observe(method.as_str(), route_label, status, elapsed);
    log::info!(
        target: "query_server::access",
        "request request_id={request_id} peer={peer} method={method} path={} route={route_label} status={status} ms={:.2}",
        log_path,
        elapsed * 1000.0
    );
    response
}

fn new_request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{n:x}", std::process::id())
}

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

fn accepts_gzip(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.trim().split(';');
            let name = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| p.trim().replace(' ', "") == "q=0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// Compresses complete JSON/CSV bodies above 1 KiB; streamed bodies go out as they are.
async fn gzip(response: Response<Body>) -> Response<Body> {
    const MIN_BYTES: u64 = 1024;
    let compressible = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/csv"));
    let exact = hyper::body::Body::size_hint(response.body()).exact();
    if !compressible
        || exact.is_none_or(|n| n < MIN_BYTES)
        || response.headers().contains_key(header::CONTENT_ENCODING)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(collected) = body.collect().await else {
        return Response::from_parts(parts, full(Bytes::new()));
    };
    let raw = collected.to_bytes();
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    let compressed = encoder.write_all(&raw).and_then(|()| encoder.finish());
    match compressed {
        Ok(bytes) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            parts
                .headers
                .append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
            Response::from_parts(parts, full(bytes))
        }
        Err(_) => Response::from_parts(parts, full(raw)),
    }
}

fn preflight(headers: &hyper::HeaderMap) -> Response<Body> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_static("Content-Type, Authorization, X-Admin-Token, X-Request-Id")
        });
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

fn cors(allowed: &[String], origin: Option<&HeaderValue>, headers: &mut hyper::HeaderMap) {
    let Some(origin) = origin else { return };
    let Ok(origin_text) = origin.to_str() else {
        return;
    };
    if allowed.iter().any(|a| a == "*") {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    } else if allowed.iter().any(|a| a == origin_text) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.append(header::VARY, HeaderValue::from_static("Origin"));
    } else {
        return;
    }
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("X-Request-Id, Content-Disposition"),
    );
}

/// A handler's complete response, in a form the hot cache can share.
async fn keep(response: Response<Body>) -> Result<CachedResponse, ApiError> {
    let (parts, body) = response.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_owned();
    let body = body
        .collect()
        .await
        .map_err(|e| ApiError::internal(format!("cannot read response: {e}")))?
        .to_bytes();
    Ok(CachedResponse {
        status: parts.status,
        content_type,
        body,
    })
}

fn from_cache(cached: CachedResponse) -> Response<Body> {
    let mut response = Response::new(full(cached.body));
    *response.status_mut() = cached.status;
    if let Ok(value) = HeaderValue::from_str(&cached.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

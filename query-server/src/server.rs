//! The hyper server: the accept loop with a connection cap and header timeout, the layers every
//! request passes (assembled here, in order), and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::context::Ctx;
use crate::http::{Peer, Service};
use crate::middleware::{AccessLog, AdminAuth, Cors, Gzip, Head, Metrics, RequestIds};
use crate::router::{Endpoint, Router};

/// Every request's path, outermost layer first; see [`crate::middleware`] for what each does.
fn stack(ctx: &Arc<Ctx>) -> impl Service {
    RequestIds::new(AccessLog::new(Metrics::new(
        ctx.metrics.clone(),
        Cors::new(
            ctx.config.cors_allowed_origins.clone(),
            Gzip::new(Head::new(Router::new(AdminAuth::new(
                ctx.config.admin_api_key.clone(),
                Endpoint::new(ctx.clone()),
            )))),
        ),
    )))
}

/// Serves on `listener` until `shutdown` turns true, then lets open requests finish and
/// WebSocket sessions close (up to 10 s).
pub(crate) async fn serve(
    listener: TcpListener,
    ctx: Arc<Ctx>,
    mut shutdown: watch::Receiver<bool>,
) {
    let app = Arc::new(stack(&ctx));
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
                tokio::spawn(connection(
                    app.clone(),
                    ctx.config.header_timeout,
                    stream,
                    peer,
                    slot,
                    shutdown.clone(),
                ));
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
async fn connection<S: Service>(
    app: Arc<S>,
    header_timeout: Duration,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    slot: tokio::sync::OwnedSemaphorePermit,
    mut shutdown: watch::Receiver<bool>,
) {
    let service = service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        let app = app.clone();
        request.extensions_mut().insert(Peer(peer));
        async move { Ok::<_, std::convert::Infallible>(app.call(request).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
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

//! The query server: the REST API over what the pipeline stores, on hand-rolled hyper 1.x.
//!
//! Module map:
//! - [`server`]: accept loop (connection cap, header timeout, graceful shutdown) and the
//!   per-request wrapping: request id, CORS, admin auth, body limit, metrics, gzip, access log.
//! - [`router`]: the one router, `(method, path segments)` to a [`router::Route`], and the route table.
//! - [`routes`]: one file per domain (health, cameras, metrics, dashboard, map, alerts,
//!   analytics, admin, predict, docs, telemetry); every handler returns `Result<Response, ApiError>`.
//! - [`live`]: hot routes served from memory, invalidated by LISTEN/NOTIFY on a thread of its own.
//! - [`report`]: the PDF report.
//! - [`openapi`]: the OpenAPI 3.1 document, built from the route table (served by `routes::docs`).
//! - [`error`]: [`error::ApiError`], turned into `{"error","status"}` JSON in one place.
//! - [`params`]: typed query parameters (400 naming the parameter).
//! - [`db`]: the r2d2 pool; queries run on tokio's blocking pool, never on the executor.
//! - [`context`], [`http`], [`config`], [`telemetry`]: shared request state, bodies, environment, logs and metrics.

pub mod config;
pub mod context;
pub mod db;
pub mod error;
pub mod http;
pub mod live;
pub mod openapi;
pub mod params;
pub mod report;
pub mod router;
pub mod routes;
pub mod server;
pub mod telemetry;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid DATABASE_URL: {0}")]
    Database(#[from] postgres::Error),
}

/// Binds and serves until `shutdown` turns true; returns once open requests are done.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> Result<(), StartError> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.addr,
            source,
        })?;
    let bound = listener.local_addr().unwrap_or(config.addr);
    let db = db::Db::new(&config.database_url, config.db_pool_size)?;
    // Apply migrations if the database is reachable; serving does not wait for it.
    let migrate_db = config.database_url.clone();
    tokio::task::spawn_blocking(move || {
        match postgres::Client::connect(&migrate_db, postgres::NoTls) {
            Ok(mut client) => {
                if let Err(e) = migrations::apply(&mut client) {
                    log::error!("migrations_failed error={e}");
                }
            }
            Err(e) => log::warn!("database_unreachable_at_start error={e}"),
        }
    });
    if config.admin_api_key.is_none() {
        log::warn!("admin_routes_disabled reason=ADMIN_API_KEY is not set; every /api/admin route answers 403");
    }
    let hot = Arc::new(live::HotCache::new(config.hot_cache_max_age));
    let stop_listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener_thread = live::listen::spawn(
        config.database_url.clone(),
        hot.clone(),
        stop_listening.clone(),
    )
    .map_err(|source| StartError::Bind {
        addr: config.addr,
        source,
    })?;
    let ctx = Arc::new(context::Ctx {
        kafka: routes::health::KafkaProbe::new(&config.kafka_brokers),
        config,
        db,
        metrics: Arc::new(telemetry::ApiMetrics::new()),
        hot,
        started: Instant::now(),
    });
    log::info!("query_server_listening url=http://{bound} docs=http://{bound}/docs");
    server::serve(listener, ctx.clone(), shutdown).await;
    // Pooled `postgres` clients block when dropped: drop them off the async threads.
    let _ = tokio::task::spawn_blocking(move || drop(ctx)).await;
    stop_listening.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || listener_thread.join()).await;
    log::info!("query_server_stopped");
    Ok(())
}

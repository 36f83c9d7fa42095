//! The query server: the REST API and WebSocket channels over what the pipeline stores, on
//! hand-rolled hyper 1.x.
//!
//! Layers, top to bottom; a module imports only from layers below it:
//! - [`server`]: accept loop (connection cap, header timeout), graceful shutdown, and the
//!   assembly of the layers every request passes.
//! - [`middleware`]: those layers, one concern each: request id, access log, metrics, CORS,
//!   gzip, HEAD, and the admin token.
//! - [`router`]: `(method, path segments)` to a route of the table, then to its handler (hot
//!   routes through the cache, WebSocket routes to the upgrade).
//! - [`openapi`]: the OpenAPI 3.1 document built from the route table, and `/openapi.json`,
//!   `/docs`.
//! - [`routes`] and [`ws`]: the route table and the handlers, one file per domain, every one
//!   `Result<Response, ApiError>`; the WebSocket channels (`/ws/metrics`, `/ws/metrics/lanes`,
//!   `/ws/events`). [`report`] renders the PDF report for `routes::analytics`.
//! - [`context`]: what handlers receive, the shared state and the parsed request.
//! - [`live`]: the LISTEN thread, the live state and its fan-out, and the hot-route cache.
//! - [`data`]: row types and their JSON, shared queries, paging, reachability probes.
//! - [`db`]: the r2d2 pool; queries run on tokio's blocking pool, never on the executor.
//!
//! Used by every layer: [`http`] (bodies, the `Service` of the layers), [`error`] (`ApiError`,
//! turned into `{"error","status"}` JSON in one place), [`params`] (typed query parameters),
//! [`config`] and [`telemetry`] (the API's Prometheus metrics). What the processes agree on
//! (NOTIFY channels and payloads, congestion levels, thresholds) is the `contract` crate's.

mod config;
mod context;
mod data;
mod db;
mod error;
mod http;
mod live;
mod middleware;
mod openapi;
mod params;
mod report;
mod router;
mod routes;
mod server;
mod telemetry;
mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

pub use config::{Config, ConfigError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the LISTEN thread: {0}")]
    Thread(#[source] std::io::Error),
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
    let db = db::Db::new(&config.database, config.db_pool_size);
    // Apply migrations if the database is reachable; serving does not wait for it.
    let migrate_db = config.database.clone();
    tokio::task::spawn_blocking(move || match migrate_db.connect() {
        Ok(mut client) => {
            if let Err(e) = migrations::apply(&mut client) {
                log::error!("migrations_failed error={e}");
            }
        }
        Err(e) => log::warn!("database_unreachable_at_start error={e}"),
    });
    // The forecast bundle loads in the background: serving does not wait for it, and the
    // forecast route waits for the same load if asked meanwhile.
    #[cfg(feature = "forecast")]
    {
        let forecast_config = config.clone();
        tokio::task::spawn_blocking(move || {
            routes::predict::load(&forecast_config);
        });
    }
    if config.admin_api_key.is_none() {
        log::warn!("admin_routes_disabled reason=ADMIN_API_KEY is not set; every /api/admin route answers 403");
    }
    let hot = Arc::new(live::HotCache::new(config.hot_cache_max_age));
    let feed = Arc::new(live::Feed::new(config.ws_backlog));
    let metrics = Arc::new(telemetry::ApiMetrics::new());
    let stop_listening = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener_thread = live::listen::Listener {
        database: config.database.clone(),
        cache: hot.clone(),
        feed: feed.clone(),
        metrics: metrics.clone(),
        stop: stop_listening.clone(),
    }
    .spawn()
    .map_err(StartError::Thread)?;
    tokio::spawn(live::heatmap::publish_periodically(
        feed.clone(),
        config.ws_heatmap_interval,
        shutdown.clone(),
    ));
    let ctx = Arc::new(context::Ctx {
        kafka: data::probes::KafkaProbe::new(&config.kafka_brokers, &config.kafka_properties),
        ws_slots: Arc::new(tokio::sync::Semaphore::new(
            config
                .ws_max_clients
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        )),
        config,
        db,
        metrics,
        hot,
        feed,
        shutdown: shutdown.clone(),
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

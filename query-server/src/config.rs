//! Configuration from the environment (`.env.example` lists every variable; `main` checks it
//! does).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bootstrap::database::Database;

#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub database: Database,
    /// Checked by `/health` only.
    pub kafka_brokers: String,
    /// librdkafka properties for the probe (TLS, SASL), as the pipeline reads them.
    pub kafka_properties: Vec<(String, String)>,
    /// Admin routes are closed when unset.
    pub admin_api_key: Option<String>,
    /// Origins allowed by CORS; `*` allows any.
    pub cors_allowed_origins: Vec<String>,
    pub max_connections: usize,
    pub db_pool_size: u32,
    pub max_body_bytes: usize,
    pub header_timeout: Duration,
    /// Longest time a hot route's answer is reused when no change was announced.
    pub hot_cache_max_age: Duration,
    /// Open WebSocket sessions at most (upgrades beyond it get a 503).
    pub ws_max_clients: usize,
    /// Updates a WebSocket client may fall behind before it is dropped.
    pub ws_backlog: usize,
    /// Longest a write to one WebSocket client may take before it is dropped.
    pub ws_send_timeout: Duration,
    /// Period of the keep-alive ping; a client silent for two periods is dropped.
    pub ws_ping_interval: Duration,
    /// Period of `heatmap_update` on `/ws/events`.
    pub ws_heatmap_interval: Duration,
    /// Forecast model bundle directory (written by `forecast train`).
    pub forecast_model_dir: Option<PathBuf>,
    /// The original's names: a bundle's `bundle.json` and its weights, given separately.
    pub stgcn_config_path: Option<PathBuf>,
    pub stgcn_checkpoint_path: Option<PathBuf>,
    /// libtorch intra-op threads of the forecast (process-wide; small, beside the server).
    pub forecast_threads: i32,
}

impl Config {
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let path = |name: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .map(PathBuf::from)
        };
        fn parse<T: std::str::FromStr>(name: &'static str, value: String) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            value.trim().parse().map_err(|e: T::Err| ConfigError {
                name,
                value,
                reason: e.to_string(),
            })
        }
        Ok(Self {
            addr: parse(
                "QUERY_SERVER_ADDR",
                text("QUERY_SERVER_ADDR", "127.0.0.1:18001"),
            )?,
            database: {
                let url = text("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/traffic");
                Database::parse(&url).map_err(|e| ConfigError {
                    name: "DATABASE_URL",
                    value: bootstrap::database::redact_url(&url),
                    reason: e.to_string(),
                })?
            },
            kafka_brokers: text("KAFKA_BROKERS", "localhost:9092"),
            kafka_properties: bootstrap::settings::kafka_properties(&lookup, "").map_err(|e| {
                ConfigError {
                    name: e.name,
                    value: e.value,
                    reason: e.reason,
                }
            })?,
            admin_api_key: lookup("ADMIN_API_KEY").filter(|k| !k.is_empty()),
            cors_allowed_origins: text("CORS_ALLOWED_ORIGINS", "*")
                .split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            max_connections: parse(
                "QUERY_SERVER_MAX_CONNECTIONS",
                text("QUERY_SERVER_MAX_CONNECTIONS", "1024"),
            )?,
            db_pool_size: parse(
                "QUERY_SERVER_DB_POOL_SIZE",
                text("QUERY_SERVER_DB_POOL_SIZE", "8"),
            )?,
            max_body_bytes: parse(
                "QUERY_SERVER_MAX_BODY_BYTES",
                text("QUERY_SERVER_MAX_BODY_BYTES", "65536"),
            )?,
            header_timeout: Duration::from_secs(parse(
                "QUERY_SERVER_HEADER_TIMEOUT_SECONDS",
                text("QUERY_SERVER_HEADER_TIMEOUT_SECONDS", "30"),
            )?),
            hot_cache_max_age: Duration::from_millis(parse(
                "QUERY_SERVER_HOT_CACHE_MS",
                text("QUERY_SERVER_HOT_CACHE_MS", "1000"),
            )?),
            ws_max_clients: parse(
                "QUERY_SERVER_WS_MAX_CLIENTS",
                text("QUERY_SERVER_WS_MAX_CLIENTS", "15000"),
            )?,
            ws_backlog: positive(
                "QUERY_SERVER_WS_BACKLOG",
                parse(
                    "QUERY_SERVER_WS_BACKLOG",
                    text("QUERY_SERVER_WS_BACKLOG", "1024"),
                )?,
            )?,
            ws_send_timeout: Duration::from_millis(positive(
                "QUERY_SERVER_WS_SEND_TIMEOUT_MS",
                parse(
                    "QUERY_SERVER_WS_SEND_TIMEOUT_MS",
                    text("QUERY_SERVER_WS_SEND_TIMEOUT_MS", "10000"),
                )?,
            )?),
            ws_ping_interval: Duration::from_millis(positive(
                "QUERY_SERVER_WS_PING_MS",
                parse(
                    "QUERY_SERVER_WS_PING_MS",
                    text("QUERY_SERVER_WS_PING_MS", "30000"),
                )?,
            )?),
            ws_heatmap_interval: Duration::from_millis(positive(
                "QUERY_SERVER_WS_HEATMAP_MS",
                parse(
                    "QUERY_SERVER_WS_HEATMAP_MS",
                    text("QUERY_SERVER_WS_HEATMAP_MS", "10000"),
                )?,
            )?),
            forecast_model_dir: path("FORECAST_MODEL_DIR"),
            stgcn_config_path: path("STGCN_CONFIG_PATH"),
            stgcn_checkpoint_path: path("STGCN_CHECKPOINT_PATH"),
            forecast_threads: parse("FORECAST_THREADS", text("FORECAST_THREADS", "1"))?,
        })
    }
}

/// Zero would mean "never" or "nothing": refused instead of misbehaving.
fn positive<T: PartialOrd + Default + ToString>(
    name: &'static str,
    value: T,
) -> Result<T, ConfigError> {
    if value > T::default() {
        Ok(value)
    } else {
        Err(ConfigError {
            name,
            value: value.to_string(),
            reason: "must be greater than 0".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_original() {
        let c = Config::from_lookup(|_| None).expect("defaults");
        assert_eq!(c.addr.to_string(), "127.0.0.1:18001");
        assert!(c.admin_api_key.is_none());
        assert_eq!(c.cors_allowed_origins, vec!["*".to_owned()]);
    }

    #[test]
    fn bad_numbers_name_the_variable() {
        let err =
            Config::from_lookup(|n| (n == "QUERY_SERVER_DB_POOL_SIZE").then(|| "many".to_owned()))
                .expect_err("not a number");
        assert!(err.to_string().contains("QUERY_SERVER_DB_POOL_SIZE"));
    }
}

//! Configuration from the environment (names fixed by the design so scripts can rely on them).
//! `.env.example` at the repository root lists every variable with its default.

use std::net::SocketAddr;

use bootstrap::database::{Database, DatabaseUrlError};
use std::time::Duration;

use operators::camera::AlertConfig;
use operators::dataflow::CameraWindowsConfig;
use operators::event_time::TimeBounds;
use operators::speed::SpeedTrackerConfig;
use operators::window::WindowConfig;

use crate::source::kafka::OffsetResetPolicy;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}={value:?} is not valid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error(transparent)]
    Database(#[from] DatabaseUrlError),
    #[error(transparent)]
    Setting(#[from] bootstrap::settings::SettingError),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: Database,
    pub kafka_brokers: String,
    pub kafka_topic: String,
    pub kafka_group_id: String,
    /// librdkafka properties, applied last (e.g. `fetch.wait.max.ms=10`).
    pub kafka_properties: Vec<(String, String)>,
    /// Optional topic receiving every dropped message with its reason.
    pub dead_letter_topic: Option<String>,
    /// What the source does when the broker no longer holds a stored position.
    pub kafka_offset_reset_policy: OffsetResetPolicy,
    pub window: WindowConfig,
    pub alert_clear_windows: u32,
    pub pixel_to_meter: f64,
    pub free_flow_speed_kmh: f64,
    /// Length of one ingest epoch, which is also the commit interval.
    pub checkpoint_interval: Duration,
    /// Messages one source activation reads before yielding to other operators.
    pub max_poll_records: usize,
    /// Pause reading when this many epochs wait to be committed (memory bound under a slow database).
    pub max_pending_epochs: u64,
    pub retention_events_hours: i64,
    pub retention_metrics_days: i64,
    pub retention_interval: Duration,
    pub metrics_addr: SocketAddr,
    /// How far event time may lead or trail ingest time (`off` on either side for backfills).
    pub event_time_bounds: TimeBounds,
    /// `/health` answers 503 when data has waited this long without a commit.
    pub health_stall_after: Duration,
}

impl Config {
    /// Reads settings through `lookup`, so tests can configure without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let window = WindowConfig {
            size_ms: seconds_ms(&lookup, "WINDOW_SIZE_SECONDS", 5.0, 0.001)?,
            allowed_lateness_ms: seconds_ms(&lookup, "WINDOW_ALLOWED_LATENESS_SECONDS", 2.0, 0.0)?,
            idle_timeout_ms: seconds_ms(&lookup, "CAMERA_IDLE_TIMEOUT_SECONDS", 10.0, 0.001)?,
        };
        let retention_events_hours = number(&lookup, "RETENTION_EVENTS_HOURS", 24i64, |v| *v >= 1)?;
        let event_time_bounds = TimeBounds {
            max_future_ms: switchable(&lookup, "EVENT_TIME_MAX_FUTURE_SECONDS", Some(300))?
                .map(|s| s.saturating_mul(1000)),
            max_past_ms: switchable(
                &lookup,
                "EVENT_TIME_MAX_PAST_HOURS",
                Some(retention_events_hours),
            )?
            .map(|h| h.saturating_mul(3_600_000)),
        };
        Ok(Self {
            database: Database::parse(&text(
                "DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/traffic",
            ))?,
            kafka_brokers: text("KAFKA_BROKERS", "localhost:9092"),
            kafka_topic: text("KAFKA_TOPIC", "traffic-events"),
            kafka_group_id: text("KAFKA_GROUP_ID", "b2-stream-processor"),
            kafka_properties: bootstrap::settings::kafka_properties(
                &lookup,
                "fetch.wait.max.ms=10",
            )?,
            dead_letter_topic: lookup("DEAD_LETTER_TOPIC").filter(|v| !v.is_empty()),
            kafka_offset_reset_policy: number(
                &lookup,
                "KAFKA_OFFSET_RESET_POLICY",
                OffsetResetPolicy::Error,
                |_| true,
            )?,
            window,
            alert_clear_windows: number(&lookup, "ALERT_CLEAR_WINDOWS", 2u32, |v| *v >= 1)?,
            pixel_to_meter: number(&lookup, "SPEED_TRACKER_PIXEL_TO_METER", 0.05f64, |v| {
                v.is_finite() && *v > 0.0
            })?,
            free_flow_speed_kmh: number(&lookup, "FREE_FLOW_SPEED_KMH", 50.0f64, |v| {
                v.is_finite() && *v > 0.0
            })?,
            checkpoint_interval: positive(&lookup, "CHECKPOINT_INTERVAL_MS", 100)
                .map(Duration::from_millis)?,
            max_poll_records: number(&lookup, "KAFKA_MAX_POLL_RECORDS", 5_000usize, |v| *v >= 1)?,
            max_pending_epochs: number(&lookup, "MAX_PENDING_EPOCHS", 20u64, |v| *v >= 1)?,
            retention_events_hours,
            retention_metrics_days: number(&lookup, "RETENTION_METRICS_DAYS", 30i64, |v| *v >= 1)?,
            retention_interval: positive(&lookup, "RETENTION_INTERVAL_SECONDS", 3600)
                .map(Duration::from_secs)?,
            metrics_addr: number(
                &lookup,
                "PIPELINE_METRICS_ADDR",
                SocketAddr::from(([127, 0, 0, 1], 9100)),
                |_| true,
            )?,
            event_time_bounds,
            health_stall_after: positive(&lookup, "HEALTH_COMMIT_STALL_SECONDS", 60)
                .map(Duration::from_secs)?,
        })
    }

    pub fn camera_windows(&self) -> CameraWindowsConfig {
        CameraWindowsConfig {
            window: self.window,
            tracker: SpeedTrackerConfig::default(),
            alerts: AlertConfig {
                clear_after: self.alert_clear_windows,
            },
            epoch_ms: self.checkpoint_interval.as_millis() as i64,
            evict_after_ms: Some(self.retention_events_hours.saturating_mul(3_600_000)),
        }
    }
}

/// A whole number of at least 1 (a period, a count), `default` when unset.
fn positive(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    number(lookup, name, default, |v| *v >= 1)
}

fn number<T: std::str::FromStr>(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    valid: impl Fn(&T) -> bool,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(default);
    };
    let parsed = value
        .trim()
        .parse::<T>()
        .map_err(|e| ConfigError::Invalid {
            name,
            value: value.clone(),
            reason: e.to_string(),
        })?;
    if valid(&parsed) {
        Ok(parsed)
    } else {
        Err(ConfigError::Invalid {
            name,
            value,
            reason: "out of range".into(),
        })
    }
}

/// A non-negative whole number, or `off` (also `none`) to switch the bound off.
fn switchable(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Option<i64>,
) -> Result<Option<i64>, ConfigError> {
    match lookup(name).map(|v| v.trim().to_ascii_lowercase()) {
        Some(v) if v == "off" || v == "none" => Ok(None),
        Some(v) if !v.is_empty() => number(lookup, name, 0i64, |v| *v >= 0).map(Some),
        _ => Ok(default),
    }
}

fn seconds_ms(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: f64,
    min: f64,
) -> Result<i64, ConfigError> {
    let secs = number(lookup, name, default, |v| {
        v.is_finite() && *v >= min && *v < 1e9
    })?;
    Ok((secs * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_design() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.kafka_topic, "traffic-events");
        assert_eq!(c.kafka_group_id, "b2-stream-processor");
        assert_eq!(c.window.size_ms, 5_000);
        assert_eq!(c.pixel_to_meter, 0.05);
        assert_eq!(c.metrics_addr.to_string(), "127.0.0.1:9100");
        assert_eq!(c.retention_interval, Duration::from_secs(3600));
        assert_eq!(
            c.kafka_properties,
            vec![("fetch.wait.max.ms".to_string(), "10".to_string())]
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = config(&[("WINDOW_SIZE_SECONDS", "five")]).expect_err("not a number");
        assert!(err.to_string().contains("WINDOW_SIZE_SECONDS"));
        let err = config(&[("SPEED_TRACKER_PIXEL_TO_METER", "-1")]).expect_err("negative");
        assert!(err.to_string().contains("out of range"));
        assert!(config(&[("KAFKA_PROPERTIES", "novalue")]).is_err());
    }

    #[test]
    fn offset_reset_policy_defaults_to_error() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.kafka_offset_reset_policy, OffsetResetPolicy::Error);
        let c = config(&[("KAFKA_OFFSET_RESET_POLICY", "Earliest")]).expect("valid");
        assert_eq!(c.kafka_offset_reset_policy, OffsetResetPolicy::Earliest);
        let c = config(&[("KAFKA_OFFSET_RESET_POLICY", "latest")]).expect("valid");
        assert_eq!(c.kafka_offset_reset_policy, OffsetResetPolicy::Latest);
        let err = config(&[("KAFKA_OFFSET_RESET_POLICY", "smallest")]).expect_err("unknown");
        assert!(err.to_string().contains("KAFKA_OFFSET_RESET_POLICY"));
    }

    #[test]
    fn fractional_seconds_are_allowed() {
        let c = config(&[("WINDOW_SIZE_SECONDS", "0.5")]).expect("valid");
        assert_eq!(c.window.size_ms, 500);
    }

    #[test]
    fn event_time_bounds_default_on_and_switch_off() {
        let c = config(&[("RETENTION_EVENTS_HOURS", "48")]).expect("valid");
        assert_eq!(c.event_time_bounds.max_future_ms, Some(300_000));
        assert_eq!(c.event_time_bounds.max_past_ms, Some(48 * 3_600_000));
        let c = config(&[
            ("EVENT_TIME_MAX_FUTURE_SECONDS", "off"),
            ("EVENT_TIME_MAX_PAST_HOURS", "None"),
        ])
        .expect("valid");
        assert!(c.event_time_bounds.is_off());
        let err = config(&[("EVENT_TIME_MAX_FUTURE_SECONDS", "-5")]).expect_err("negative");
        assert!(err.to_string().contains("EVENT_TIME_MAX_FUTURE_SECONDS"));
    }
}

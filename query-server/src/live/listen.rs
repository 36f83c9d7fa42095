//! The LISTEN connection, on a thread of its own: notifications become updates of the live state
//! (and of the WebSocket channels), and new versions of the hot-route cache.
//!
//! Notification payloads only say what changed; the rows are read back from the tables, so the
//! channels carry exactly what was committed. After every (re)connection, LISTEN is issued
//! first and the state is re-read second: rows committed while disconnected are found by their
//! commit time (`updated_at`, with a margin for transactions in flight), and the live state
//! drops anything it already delivered, so a gap loses nothing and repeats nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fallible_iterator::FallibleIterator;
use postgres::{Client, GenericClient, IsolationLevel};
use serde_json::Value;

use super::feed::{Feed, Outgoing};
use super::state::{CameraInfo, CameraWindow, LiveState, HEATMAP_MINUTES};
use super::HotCache;
use crate::routes::alerts::{alert_json, COLUMNS as ALERT_COLUMNS};
use crate::routes::metrics::{MetricRow, METRIC_COLUMNS};
use crate::telemetry::ApiMetrics;

pub const METRICS_CHANNEL: &str = "b2_metrics";
pub const ALERTS_CHANNEL: &str = "b2_alerts";
pub const CAMERAS_CHANNEL: &str = "b2_cameras";
pub const THRESHOLDS_CHANNEL: &str = "b2_thresholds";
pub const BROADCAST_CHANNEL: &str = "b2_broadcast";
const CHANNELS: &[&str] = &[
    METRICS_CHANNEL,
    ALERTS_CHANNEL,
    CAMERAS_CHANNEL,
    THRESHOLDS_CHANNEL,
    BROADCAST_CHANNEL,
];

/// `application_name` of the LISTEN connection.
pub const APPLICATION_NAME: &str = "query-server live";

/// How far before the last commit seen a re-read starts: covers transactions that began
/// before it (their `updated_at` is their start) and committed after.
const RESYNC_MARGIN: chrono::Duration = chrono::Duration::seconds(60);
/// Notifications handled per round of reads.
const BATCH: usize = 2000;

pub struct Listener {
    pub database_url: String,
    pub cache: Arc<HotCache>,
    pub feed: Arc<Feed>,
    pub metrics: Arc<ApiMetrics>,
    pub stop: Arc<AtomicBool>,
}

impl Listener {
    /// Runs until `stop` is set, reconnecting with backoff.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("listen".into())
            .spawn(move || {
                let mut backoff = Duration::from_millis(200);
                let mut seen = Seen::default();
                while !self.stop.load(Ordering::Relaxed) {
                    match self.session(&mut seen, &mut backoff) {
                        Ok(()) => return,
                        Err(e) => {
                            self.feed.set_current(false);
                            self.metrics.live_disconnects.inc();
                            log::warn!(
                                "listen_disconnected retry_in_ms={} error={e}",
                                backoff.as_millis()
                            );
                            self.cache.invalidate();
                            std::thread::sleep(backoff);
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            })
    }

    /// One connection's life: LISTEN, re-read, then follow notifications.
    fn session(&self, seen: &mut Seen, backoff: &mut Duration) -> Result<(), postgres::Error> {
        let mut config: postgres::Config = self.database_url.parse()?;
        // Named, so an operator can tell this long-lived connection from the pool's.
        config.application_name(APPLICATION_NAME);
        let mut client = config.connect(postgres::NoTls)?;
        let statement: String = CHANNELS.iter().map(|c| format!("LISTEN {c};")).collect();
        client.batch_execute(&statement)?;
        self.resync(&mut client, seen)?;
        self.feed.set_current(true);
        self.cache.invalidate();
        *backoff = Duration::from_millis(200);
        log::info!("listen_connected channels={}", CHANNELS.join(","));
        let mut batch = Vec::new();
        while !self.stop.load(Ordering::Relaxed) {
            batch.clear();
            {
                let mut notifications = client.notifications();
                if let Some(first) = notifications
                    .timeout_iter(Duration::from_millis(500))
                    .next()?
                {
                    batch.push(first);
                }
                let mut pending = notifications.iter();
                while batch.len() < BATCH {
                    match pending.next()? {
                        Some(n) => batch.push(n),
                        None => break,
                    }
                }
            }
            if !batch.is_empty() {
                self.handle(&mut client, &batch, seen)?;
                // After the state moved, so a rebuilt answer cannot predate it.
                self.cache.invalidate();
            }
        }
        Ok(())
    }

    /// Re-reads cameras, recent windows and active alerts in one snapshot, and publishes what
    /// the live state did not hold yet.
    fn resync(&self, client: &mut Client, seen: &mut Seen) -> Result<(), postgres::Error> {
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let now: DateTime<Utc> = tx.query_one("SELECT now()", &[])?.get(0);
        let cameras = read_cameras(&mut tx)?;
        let rows = match seen.commit {
            // Committed since the last one seen (lanes included).
            Some(last) => tx.query(
                &format!(
                    "SELECT {METRIC_COLUMNS}, updated_at FROM traffic_metrics
                     WHERE updated_at >= $1"
                ),
                &[&(last - RESYNC_MARGIN)],
            )?,
            // First start: the heatmap's span of recent windows, and each camera's latest.
            None => tx.query(
                &format!(
                    "WITH latest AS (
                         SELECT l.camera_id, l.window_start FROM cameras c
                         CROSS JOIN LATERAL (
                             SELECT camera_id, window_start FROM traffic_metrics m
                             WHERE m.camera_id = c.camera_id AND m.lane_id IS NULL
                             ORDER BY window_start DESC LIMIT 1) l)
                     SELECT {METRIC_COLUMNS}, updated_at FROM traffic_metrics
                     WHERE window_start >= $1::timestamptz - make_interval(mins => $2::int)
                       AND lane_id IS NULL
                     UNION
                     SELECT {cols}, m.updated_at FROM traffic_metrics m
                     JOIN latest USING (camera_id, window_start)",
                    cols = prefixed(METRIC_COLUMNS, "m.")
                ),
                &[&now, &(HEATMAP_MINUTES as i32)],
            )?,
        };
        let active = tx.query(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'active'"),
            &[],
        )?;
        let held = self.feed.read(LiveState::active_alert_ids);
        let active_ids: Vec<i64> = active.iter().map(|r| r.get("alert_id")).collect();
        let gone: Vec<i64> = held
            .into_iter()
            .filter(|id| !active_ids.contains(id))
            .collect();
        let gone_rows = tx.query(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = ANY($1)"),
            &[&gone],
        )?;
        // Alerts opened and already resolved while disconnected: ids are handed out in commit
        // order, so they are the ended ones above the highest id seen.
        let ended_unseen = match seen.alert_id {
            Some(highest) => tx.query(
                &format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts
                     WHERE alert_id > $1 AND status <> 'active' ORDER BY alert_id"
                ),
                &[&highest],
            )?,
            None => Vec::new(),
        };
        let highest: Option<i64> = tx
            .query_one("SELECT max(alert_id) FROM alerts", &[])?
            .get(0);
        tx.commit()?;
        seen.alert_id = Some(highest.unwrap_or(0).max(seen.alert_id.unwrap_or(0)));

        let newest = rows
            .iter()
            .map(|r| r.get::<_, DateTime<Utc>>("updated_at"))
            .max();
        seen.commit = Some(match (seen.commit, newest) {
            (Some(prev), Some(n)) => prev.max(n),
            (Some(prev), None) => prev,
            (None, n) => n.unwrap_or(now).max(now),
        });
        let windows = group_windows(&rows);
        let published = self.feed.publish(|state| {
            state.set_cameras(cameras);
            let mut out: Vec<Outgoing> = windows
                .into_iter()
                .filter_map(|w| {
                    let update = Outgoing::window(&w);
                    state.apply_window(w).then_some(update)
                })
                .collect();
            for row in ended_unseen.iter().map(alert_json) {
                let opened = opened_view(&row);
                if let Some(change) = state.apply_alert(opened.clone()) {
                    out.push(Outgoing::alert(change, &opened));
                }
                if let Some(change) = state.apply_alert(row.clone()) {
                    out.push(Outgoing::alert(change, &row));
                }
            }
            for row in active.iter().chain(gone_rows.iter()).map(alert_json) {
                if let Some(change) = state.apply_alert(row.clone()) {
                    out.push(Outgoing::alert(change, &row));
                }
            }
            out
        });
        log::info!("live_state_loaded updates={published}");
        self.count(published, "resync");
        Ok(())
    }

    /// One round of notifications, in order.
    fn handle(
        &self,
        client: &mut Client,
        batch: &[postgres::Notification],
        seen: &mut Seen,
    ) -> Result<(), postgres::Error> {
        let mut window_keys: Vec<(String, DateTime<Utc>)> = Vec::new();
        // Announced without a window (another writer): their latest window is read instead.
        let mut stale_cameras: Vec<String> = Vec::new();
        let mut alert_ids: Vec<i64> = Vec::new();
        let mut cameras_changed = false;
        let parsed: Vec<(&str, Option<Value>)> = batch
            .iter()
            .map(|n| (n.channel(), serde_json::from_str(n.payload()).ok()))
            .collect();
        for (channel, payload) in &parsed {
            let Some(payload) = payload else {
                if *channel != THRESHOLDS_CHANNEL && *channel != CAMERAS_CHANNEL {
                    log::warn!("notification_unreadable channel={channel}");
                }
                cameras_changed |= *channel == CAMERAS_CHANNEL;
                continue;
            };
            match *channel {
                METRICS_CHANNEL => match (window_key(payload), payload.get("camera_id")) {
                    (Some(key), _) => window_keys.push(key),
                    (None, Some(Value::String(camera))) => stale_cameras.push(camera.clone()),
                    _ => log::warn!("notification_unreadable channel={channel}"),
                },
                ALERTS_CHANNEL => {
                    if let Some(id) = payload.get("alert_id").and_then(Value::as_i64) {
                        alert_ids.push(id);
                    }
                }
                CAMERAS_CHANNEL => cameras_changed = true,
                _ => {}
            }
        }

        let windows = if window_keys.is_empty() {
            BTreeMap::new()
        } else {
            let cameras: Vec<&str> = window_keys.iter().map(|(c, _)| c.as_str()).collect();
            let starts: Vec<DateTime<Utc>> = window_keys.iter().map(|(_, s)| *s).collect();
            let rows = client.query(
                &format!(
                    "SELECT {METRIC_COLUMNS}, updated_at FROM traffic_metrics
                     WHERE window_start = ANY($2) AND camera_id = ANY($1)"
                ),
                &[&cameras, &starts],
            )?;
            if let Some(newest) = rows
                .iter()
                .map(|r| r.get::<_, DateTime<Utc>>("updated_at"))
                .max()
            {
                seen.commit = Some(seen.commit.map_or(newest, |s| s.max(newest)));
            }
            group_windows(&rows)
                .into_iter()
                .map(|w| ((w.camera_id().to_owned(), w.window_start()), w))
                .collect()
        };
        let mut latest: BTreeMap<String, CameraWindow> = if stale_cameras.is_empty() {
            BTreeMap::new()
        } else {
            let rows = client.query(
                &format!(
                    "SELECT {cols}, m.updated_at FROM UNNEST($1::text[]) AS k(camera_id)
                     CROSS JOIN LATERAL (
                         SELECT window_start FROM traffic_metrics t
                         WHERE t.camera_id = k.camera_id AND t.lane_id IS NULL
                         ORDER BY window_start DESC LIMIT 1) l
                     JOIN traffic_metrics m
                       ON m.camera_id = k.camera_id AND m.window_start = l.window_start",
                    cols = prefixed(METRIC_COLUMNS, "m.")
                ),
                &[&stale_cameras],
            )?;
            group_windows(&rows)
                .into_iter()
                .map(|w| (w.camera_id().to_owned(), w))
                .collect()
        };
        let alerts: BTreeMap<i64, Value> = if alert_ids.is_empty() {
            BTreeMap::new()
        } else {
            client
                .query(
                    &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = ANY($1)"),
                    &[&alert_ids],
                )?
                .iter()
                .map(|r| (r.get("alert_id"), alert_json(r)))
                .collect()
        };
        let cameras = if cameras_changed {
            Some(read_cameras(client)?)
        } else {
            None
        };

        let mut windows = windows;
        let published = self.feed.publish(|state| {
            if let Some(cameras) = cameras {
                state.set_cameras(cameras);
            }
            let mut out = Vec::new();
            for (channel, payload) in &parsed {
                let Some(payload) = payload else { continue };
                match *channel {
                    METRICS_CHANNEL => {
                        let window = match window_key(payload) {
                            Some(k) => windows.remove(&k),
                            None => payload
                                .get("camera_id")
                                .and_then(Value::as_str)
                                .and_then(|c| latest.remove(c)),
                        };
                        if let Some(window) = window {
                            let update = Outgoing::window(&window);
                            if state.apply_window(window) {
                                out.push(update);
                            }
                        }
                    }
                    ALERTS_CHANNEL => {
                        let Some(row) = payload
                            .get("alert_id")
                            .and_then(Value::as_i64)
                            .and_then(|id| alerts.get(&id))
                        else {
                            continue;
                        };
                        let row = as_of_notification(row, payload);
                        if let Some(change) = state.apply_alert(row.clone()) {
                            out.push(Outgoing::alert(change, &row));
                        }
                    }
                    BROADCAST_CHANNEL => out.push(Outgoing::broadcast(payload)),
                    _ => {}
                }
            }
            out
        });
        self.count(published, "notification");
        // Only once the batch is applied: a connection lost while reading its rows must leave the
        // re-read after reconnecting to find the alerts that opened and ended meanwhile.
        if let Some(&top) = alert_ids.iter().max() {
            seen.alert_id = Some(seen.alert_id.map_or(top, |h| h.max(top)));
        }
        Ok(())
    }

    fn count(&self, n: usize, source: &str) {
        if n > 0 {
            self.metrics.live_updates(source).inc_by(n as u64);
        }
    }
}

/// What the listener has seen, so a re-read after a reconnection starts where it stopped.
#[derive(Debug, Default)]
struct Seen {
    /// Latest `updated_at` of the window rows applied.
    commit: Option<DateTime<Utc>>,
    /// Highest alert id applied or known to exist.
    alert_id: Option<i64>,
}

/// An ended alert as it was while open, so that its opening is announced too.
fn opened_view(row: &Value) -> Value {
    let mut row = row.clone();
    row["status"] = Value::from("active");
    row["resolved_at"] = Value::Null;
    row
}

fn window_key(payload: &Value) -> Option<(String, DateTime<Utc>)> {
    let camera = payload.get("camera_id").and_then(Value::as_str)?;
    let start = payload.get("window_start").and_then(Value::as_str)?;
    let start = DateTime::parse_from_rfc3339(start).ok()?;
    Some((camera.to_owned(), start.with_timezone(&Utc)))
}

/// The alert row as the notification saw it: an alert opened or updated and already resolved
/// by the time it is read is first shown active, so `new_alert` is never skipped.
fn as_of_notification(row: &Value, payload: &Value) -> Value {
    let event = payload.get("event").and_then(Value::as_str);
    let resolved = row.get("status").and_then(Value::as_str) == Some("resolved");
    if !(resolved && matches!(event, Some("opened" | "updated"))) {
        return row.clone();
    }
    let mut row = row.clone();
    row["status"] = Value::from("active");
    row["resolved_at"] = Value::Null;
    for field in ["severity", "score", "message"] {
        if let Some(value) = payload.get(field) {
            row[field] = value.clone();
        }
    }
    if let Some(at) = payload.get("at") {
        row["updated_at"] = at.clone();
    }
    row
}

fn read_cameras(
    client: &mut impl GenericClient,
) -> Result<BTreeMap<String, CameraInfo>, postgres::Error> {
    Ok(client
        .query(
            "SELECT camera_id, latitude, longitude, road_segment FROM cameras",
            &[],
        )?
        .iter()
        .map(|r| {
            (
                r.get(0),
                CameraInfo {
                    latitude: r.get(1),
                    longitude: r.get(2),
                    road_segment: r.get(3),
                },
            )
        })
        .collect())
}

/// Rows (selected with `METRIC_COLUMNS`) grouped into camera windows, oldest first; lane rows
/// without their camera-wide row are left out.
fn group_windows(rows: &[postgres::Row]) -> Vec<CameraWindow> {
    type Parts = (Option<MetricRow>, Vec<MetricRow>);
    let mut grouped: BTreeMap<(DateTime<Utc>, String), Parts> = BTreeMap::new();
    for row in rows {
        let metric = MetricRow::from_row(row);
        let entry = grouped
            .entry((metric.window_start.0, metric.camera_id.clone()))
            .or_default();
        if metric.lane_id.is_none() {
            entry.0 = Some(metric);
        } else {
            entry.1.push(metric);
        }
    }
    grouped
        .into_values()
        .filter_map(|(camera, mut lanes)| {
            lanes.sort_by(|a, b| lane_order(&a.lane_id).cmp(&lane_order(&b.lane_id)));
            Some(CameraWindow {
                camera: camera?,
                lanes,
            })
        })
        .collect()
}

/// Lane ids in the REST order: numeric ids numerically (by length, then text).
fn lane_order(lane: &Option<String>) -> (usize, &str) {
    let lane = lane.as_deref().unwrap_or_default();
    (lane.len(), lane)
}

fn prefixed(columns: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{prefix}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_resolved_alert_is_shown_open_for_its_opening() {
        let row = json!({"alert_id": 1, "status": "resolved", "resolved_at": "t2",
                         "severity": "HIGH", "score": 0.5, "updated_at": "t2"});
        let opened = json!({"event": "opened", "alert_id": 1, "severity": "SEVERE",
                            "score": 0.8, "at": "t1"});
        let shown = as_of_notification(&row, &opened);
        assert_eq!(shown["status"], "active");
        assert_eq!(shown["resolved_at"], Value::Null);
        assert_eq!(shown["severity"], "SEVERE");
        assert_eq!(shown["updated_at"], "t1");
        let resolved = json!({"event": "resolved", "alert_id": 1});
        assert_eq!(as_of_notification(&row, &resolved), row);
    }

    #[test]
    fn window_keys_and_column_prefixes() {
        let key =
            window_key(&json!({"camera_id": "c", "window_start": "2026-01-01T00:00:05.000Z"}));
        assert_eq!(key.map(|k| k.1.timestamp()), Some(1_767_225_605));
        assert_eq!(window_key(&json!({"camera_id": "c"})), None);
        assert_eq!(prefixed("a, b,c", "m."), "m.a, m.b, m.c");
        assert!(lane_order(&Some("2".into())) < lane_order(&Some("10".into())));
    }
}

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
use contract::notice::{AlertEvent, AlertNotice, Notice};
use contract::Channel;
use fallible_iterator::FallibleIterator;
use postgres::{Client, IsolationLevel};
use serde_json::Value;

use super::feed::{Feed, Outgoing};
use super::state::{LiveState, HEATMAP_MINUTES};
use super::HotCache;
use crate::data::windows::{self, CameraWindow};
use crate::data::{alerts, cameras};
use crate::params::rfc3339;
use crate::telemetry::ApiMetrics;

/// `application_name` of the LISTEN connection.
const APPLICATION_NAME: &str = "query-server live";

/// How far before the last commit seen a re-read starts: covers transactions that began
/// before it (their `updated_at` is their start) and committed after.
const RESYNC_MARGIN: chrono::Duration = chrono::Duration::seconds(60);
/// Notifications handled per round of reads.
const BATCH: usize = 2000;

pub(crate) struct Listener {
    pub(crate) database: bootstrap::database::Database,
    pub(crate) cache: Arc<HotCache>,
    pub(crate) feed: Arc<Feed>,
    pub(crate) metrics: Arc<ApiMetrics>,
    pub(crate) stop: Arc<AtomicBool>,
}

impl Listener {
    /// Runs until `stop` is set, reconnecting with backoff.
    pub(crate) fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
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
        let mut config = self.database.config().clone();
        // Named, so an operator can tell this long-lived connection from the pool's.
        config.application_name(APPLICATION_NAME);
        let mut client = config.connect(self.database.tls())?;
        client.batch_execute(&Channel::listen_statement(&Channel::ALL))?;
        self.resync(&mut client, seen)?;
        self.feed.set_current(true);
        self.cache.invalidate();
        *backoff = Duration::from_millis(200);
        let names: Vec<&str> = Channel::ALL.iter().map(|c| c.name()).collect();
        log::info!("listen_connected channels={}", names.join(","));
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
        let locations = cameras::locations(&mut tx)?;
        let read = match seen.commit {
            // Committed since the last one seen (lanes included).
            Some(last) => windows::committed_since(&mut tx, last - RESYNC_MARGIN)?,
            // First start: the heatmap's span of recent windows, and each camera's latest.
            None => windows::recent_and_latest(&mut tx, now, HEATMAP_MINUTES as i32)?,
        };
        let active = alerts::active(&mut tx)?;
        let held = self.feed.read(LiveState::active_alert_ids);
        let active_ids: Vec<i64> = active.iter().filter_map(alert_id).collect();
        let gone: Vec<i64> = held
            .into_iter()
            .filter(|id| !active_ids.contains(id))
            .collect();
        let gone_rows = alerts::by_ids(&mut tx, &gone)?;
        // Alerts opened and already resolved while disconnected.
        let ended_unseen = match seen.alert_id {
            Some(highest) => alerts::ended_after(&mut tx, highest)?,
            None => Vec::new(),
        };
        let highest = alerts::highest_id(&mut tx)?;
        tx.commit()?;
        seen.alert_id = Some(highest.unwrap_or(0).max(seen.alert_id.unwrap_or(0)));
        seen.commit = Some(match (seen.commit, read.newest) {
            (Some(prev), Some(n)) => prev.max(n),
            (Some(prev), None) => prev,
            (None, n) => n.unwrap_or(now).max(now),
        });
        let published = self.feed.publish(|state| {
            state.set_cameras(locations);
            let mut out: Vec<Outgoing> = read
                .windows
                .into_iter()
                .filter_map(|w| {
                    let update = Outgoing::window(&w);
                    state.apply_window(w).then_some(update)
                })
                .collect();
            for row in ended_unseen {
                let opened = opened_view(&row);
                if let Some(change) = state.apply_alert(opened.clone()) {
                    out.push(Outgoing::alert(change, &opened));
                }
                if let Some(change) = state.apply_alert(row.clone()) {
                    out.push(Outgoing::alert(change, &row));
                }
            }
            for row in active.into_iter().chain(gone_rows) {
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
        let mut notices: Vec<Notice> = Vec::with_capacity(batch.len());
        for notification in batch {
            let channel = notification.channel();
            match Channel::from_name(channel) {
                // Trigger payloads are not read: any change of `cameras` means re-reading them,
                // and nothing here depends on the thresholds.
                Some(Channel::Cameras) => cameras_changed = true,
                Some(Channel::Thresholds) => {}
                _ => match Notice::decode(channel, notification.payload()) {
                    Ok(notice) => notices.push(notice),
                    Err(e) => log::warn!("notification_unreadable channel={channel} error={e}"),
                },
            }
        }
        for notice in &notices {
            match notice {
                Notice::Window(window) => match window.window_start {
                    Some(start) => window_keys.push((window.camera_id.clone(), start)),
                    None => stale_cameras.push(window.camera_id.clone()),
                },
                Notice::Alert(alert) => alert_ids.push(alert.alert_id),
                _ => {}
            }
        }

        let mut windows: BTreeMap<(String, DateTime<Utc>), CameraWindow> = BTreeMap::new();
        if !window_keys.is_empty() {
            let read = windows::at(client, &window_keys)?;
            if let Some(newest) = read.newest {
                seen.commit = Some(seen.commit.map_or(newest, |s| s.max(newest)));
            }
            windows.extend(
                read.windows
                    .into_iter()
                    .map(|w| ((w.camera_id().to_owned(), w.window_start()), w)),
            );
        }
        let mut latest: BTreeMap<String, CameraWindow> = if stale_cameras.is_empty() {
            BTreeMap::new()
        } else {
            windows::latest(client, &stale_cameras)?
                .into_iter()
                .map(|w| (w.camera_id().to_owned(), w))
                .collect()
        };
        let alert_rows: BTreeMap<i64, Value> = if alert_ids.is_empty() {
            BTreeMap::new()
        } else {
            alerts::by_ids(client, &alert_ids)?
                .into_iter()
                .filter_map(|row| Some((alert_id(&row)?, row)))
                .collect()
        };
        let locations = if cameras_changed {
            Some(cameras::locations(client)?)
        } else {
            None
        };

        let published = self.feed.publish(|state| {
            if let Some(locations) = locations {
                state.set_cameras(locations);
            }
            let mut out = Vec::new();
            for notice in &notices {
                match notice {
                    Notice::Window(notice) => {
                        let window = match notice.window_start {
                            Some(start) => windows.remove(&(notice.camera_id.clone(), start)),
                            None => latest.remove(&notice.camera_id),
                        };
                        if let Some(window) = window {
                            let update = Outgoing::window(&window);
                            if state.apply_window(window) {
                                out.push(update);
                            }
                        }
                    }
                    Notice::Alert(notice) => {
                        let Some(row) = alert_rows.get(&notice.alert_id) else {
                            continue;
                        };
                        let row = as_of_notification(row, notice);
                        if let Some(change) = state.apply_alert(row.clone()) {
                            out.push(Outgoing::alert(change, &row));
                        }
                    }
                    Notice::Broadcast(notice) => out.push(Outgoing::broadcast(notice)),
                    Notice::Camera(_) | Notice::Thresholds(_) => {}
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

fn alert_id(row: &Value) -> Option<i64> {
    row.get("alert_id").and_then(Value::as_i64)
}

/// An ended alert as it was while open, so that its opening is announced too.
fn opened_view(row: &Value) -> Value {
    let mut row = row.clone();
    row["status"] = Value::from("active");
    row["resolved_at"] = Value::Null;
    row
}

/// The alert row as the notification saw it: an alert opened or updated and already resolved
/// by the time it is read is first shown active, so `new_alert` is never skipped.
fn as_of_notification(row: &Value, notice: &AlertNotice) -> Value {
    let reopened = matches!(notice.event, AlertEvent::Opened | AlertEvent::Updated);
    let resolved = row.get("status").and_then(Value::as_str) == Some("resolved");
    if !(resolved && reopened) {
        return row.clone();
    }
    let mut row = opened_view(row);
    if let Some(severity) = notice.severity {
        row["severity"] = Value::from(severity.as_str());
    }
    if let Some(score) = notice.score {
        row["score"] = Value::from(score);
    }
    if let Some(message) = &notice.message {
        row["message"] = Value::from(message.as_str());
    }
    if let Some(at) = notice.at {
        row["updated_at"] = Value::from(rfc3339(at));
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::CongestionLevel;
    use serde_json::json;

    #[test]
    fn a_resolved_alert_is_shown_open_for_its_opening() {
        let row = json!({"alert_id": 1, "status": "resolved", "resolved_at": "t2",
                         "severity": "HIGH", "score": 0.5, "updated_at": "t2"});
        let at = contract::timestamp::from_millis(1_767_225_605_000);
        let opened = AlertNotice {
            severity: Some(CongestionLevel::Severe),
            score: Some(0.8),
            at: Some(at),
            ..AlertNotice::bare(AlertEvent::Opened, 1)
        };
        let shown = as_of_notification(&row, &opened);
        assert_eq!(shown["status"], "active");
        assert_eq!(shown["resolved_at"], Value::Null);
        assert_eq!(shown["severity"], "SEVERE");
        assert_eq!(shown["score"], 0.8);
        assert_eq!(shown["updated_at"], "2026-01-01T00:00:05.000Z");
        let resolved = AlertNotice::bare(AlertEvent::Resolved, 1);
        assert_eq!(as_of_notification(&row, &resolved), row);
    }
}

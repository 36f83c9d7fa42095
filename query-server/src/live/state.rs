//! The live picture, as plain data: per camera its latest committed camera-wide window with that
//! window's lane rows, the scores of its recent windows (for `heatmap_update`), where it is, and
//! the active alerts. The feed thread applies what it reads from PostgreSQL; WebSocket sessions
//! start from a snapshot of it. Applying is idempotent, so the same row read twice (from a
//! notification and from a re-read after a reconnection) is delivered once.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use contract::CongestionLevel;
use serde_json::{json, Value};

use crate::data::cameras::CameraInfo;
use crate::data::windows::CameraWindow;
use crate::params::rfc3339;

/// Minutes of recent windows kept per camera: the span of `heatmap_update` (and the default of
/// `/api/map/heatmap`).
pub(crate) const HEATMAP_MINUTES: i64 = 5;

#[derive(Debug, Clone, Copy)]
struct Recent {
    window_start: DateTime<Utc>,
    score: f64,
    vehicles: i32,
    level: CongestionLevel,
}

/// What an alert row changed, named as the `/ws/events` envelope type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertChange {
    Opened,
    Updated,
    Acknowledged,
    Resolved,
}

impl AlertChange {
    pub(crate) fn event_type(self) -> &'static str {
        match self {
            AlertChange::Opened => "new_alert",
            AlertChange::Updated => "alert_updated",
            AlertChange::Acknowledged => "alert_acknowledged",
            AlertChange::Resolved => "alert_resolved",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct LiveState {
    windows: BTreeMap<String, CameraWindow>,
    recent: BTreeMap<String, VecDeque<Recent>>,
    cameras: BTreeMap<String, CameraInfo>,
    /// Active alerts as the API shows them (`alert_json`), by id.
    alerts: BTreeMap<i64, Value>,
}

impl LiveState {
    /// Keeps `window` if it is newer than the camera's latest; false when it was already held
    /// (windows of a camera commit in order, so an older or equal start is a repeat).
    pub(crate) fn apply_window(&mut self, window: CameraWindow) -> bool {
        let start = window.window_start();
        if let Some(held) = self.windows.get(window.camera_id()) {
            if held.window_start() >= start {
                return false;
            }
        }
        let recent = self
            .recent
            .entry(window.camera_id().to_owned())
            .or_default();
        recent.push_back(Recent {
            window_start: start,
            score: window.camera.congestion_score,
            vehicles: window.camera.vehicle_count,
            // The schema admits only the contract's levels; anything else counts as the lowest.
            level: window.camera.congestion_level.parse().unwrap_or_default(),
        });
        let horizon = start - Duration::minutes(HEATMAP_MINUTES);
        while recent.front().is_some_and(|r| r.window_start < horizon) {
            recent.pop_front();
        }
        self.windows.insert(window.camera_id().to_owned(), window);
        true
    }

    pub(crate) fn set_cameras(&mut self, cameras: BTreeMap<String, CameraInfo>) {
        self.cameras = cameras;
    }

    pub(crate) fn camera(&self, camera_id: &str) -> Option<&CameraInfo> {
        self.cameras.get(camera_id)
    }

    /// Registered cameras that have a window, ordered by camera id, with their latest window.
    pub(crate) fn registered_windows(&self) -> impl Iterator<Item = (&CameraInfo, &CameraWindow)> {
        self.cameras
            .iter()
            .filter_map(|(id, info)| self.windows.get(id).map(|w| (info, w)))
    }

    /// Latest windows, ordered by camera id, optionally of one camera.
    pub(crate) fn windows<'a>(
        &'a self,
        camera_id: Option<&'a str>,
    ) -> impl Iterator<Item = &'a CameraWindow> + 'a {
        self.windows
            .values()
            .filter(move |w| camera_id.is_none_or(|c| w.camera_id() == c))
    }

    pub(crate) fn active_alerts(&self) -> impl Iterator<Item = &Value> {
        self.alerts.values()
    }

    pub(crate) fn active_alert_ids(&self) -> Vec<i64> {
        self.alerts.keys().copied().collect()
    }

    /// Applies an alert row as read from the database and says what changed, if anything.
    pub(crate) fn apply_alert(&mut self, row: Value) -> Option<AlertChange> {
        let id = row.get("alert_id").and_then(Value::as_i64)?;
        let active = row.get("status").and_then(Value::as_str) == Some("active");
        match (self.alerts.get(&id), active) {
            (None, true) => {
                self.alerts.insert(id, row);
                Some(AlertChange::Opened)
            }
            (None, false) => None,
            (Some(held), true) if *held == row => None,
            (Some(held), true) => {
                let change = if only_acknowledgement_differs(held, &row) {
                    AlertChange::Acknowledged
                } else {
                    AlertChange::Updated
                };
                self.alerts.insert(id, row);
                Some(change)
            }
            (Some(_), false) => {
                self.alerts.remove(&id);
                Some(AlertChange::Resolved)
            }
        }
    }

    /// The items of `heatmap_update`: per registered camera with windows starting in the last
    /// [`HEATMAP_MINUTES`] before `now`, the mean score clamped to [0, 1], mean vehicle count,
    /// highest level and window count, as `/api/map/heatmap?minutes=5` reports them (that route
    /// answers from SQL, with the database's clock).
    pub(crate) fn heatmap(&self, now: DateTime<Utc>) -> Vec<Value> {
        let since = now - Duration::minutes(HEATMAP_MINUTES);
        self.recent
            .iter()
            .filter_map(|(camera_id, recent)| {
                let info = self.cameras.get(camera_id)?;
                let inside: Vec<&Recent> =
                    recent.iter().filter(|r| r.window_start >= since).collect();
                let last = inside.last()?;
                let n = inside.len() as f64;
                let score = inside.iter().map(|r| r.score).sum::<f64>() / n;
                let vehicles = inside.iter().map(|r| f64::from(r.vehicles)).sum::<f64>() / n;
                let max_level = inside.iter().map(|r| r.level).max().unwrap_or_default();
                Some(json!({
                    "camera_id": camera_id,
                    "latitude": info.latitude,
                    "longitude": info.longitude,
                    "road_segment": info.road_segment,
                    "intensity": score.clamp(0.0, 1.0),
                    "avg_vehicle_count": vehicles,
                    "max_congestion_level": max_level.as_str(),
                    "windows": inside.len(),
                    "latest_window_start": rfc3339(last.window_start),
                }))
            })
            .collect()
    }
}

fn only_acknowledgement_differs(held: &Value, row: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("acknowledged_by");
            map.remove("acknowledged_at");
        }
        v
    };
    strip(held) == strip(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::windows::MetricRow;
    use crate::params::Rfc3339;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000 + seconds, 0).expect("time")
    }

    fn row(camera: &str, lane: Option<&str>, start: i64, score: f64, level: &str) -> MetricRow {
        MetricRow {
            camera_id: camera.into(),
            lane_id: lane.map(Into::into),
            window_start: Rfc3339(at(start)),
            window_end: Rfc3339(at(start + 5)),
            vehicle_count: 4,
            event_count: 10,
            avg_speed_kmh: Some(40.0),
            speed_source: "reported".into(),
            car_count: 4,
            truck_count: 0,
            bus_count: 0,
            motorcycle_count: 0,
            bicycle_count: 0,
            other_count: 0,
            avg_confidence: Some(0.9),
            congestion_score: score,
            congestion_level: level.into(),
        }
    }

    fn window(camera: &str, start: i64, score: f64, level: &str) -> CameraWindow {
        CameraWindow {
            camera: row(camera, None, start, score, level),
            lanes: vec![row(camera, Some("1"), start, score, level)],
        }
    }

    #[test]
    fn a_window_is_kept_once_and_only_if_newer() {
        let mut state = LiveState::default();
        assert!(state.apply_window(window("a", 10, 0.2, "LOW")));
        assert!(!state.apply_window(window("a", 10, 0.2, "LOW")), "repeat");
        assert!(!state.apply_window(window("a", 5, 0.2, "LOW")), "older");
        assert!(state.apply_window(window("a", 15, 0.2, "LOW")));
        assert!(state.apply_window(window("b", 0, 0.2, "LOW")));
        let latest = state.windows(Some("a")).map(CameraWindow::window_start);
        assert_eq!(latest.collect::<Vec<_>>(), [at(15)]);
        let ids: Vec<&str> = state.windows(None).map(CameraWindow::camera_id).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(state.windows(Some("b")).count(), 1);
    }

    #[test]
    fn heatmap_averages_the_last_five_minutes_of_registered_cameras() {
        let mut state = LiveState::default();
        state.set_cameras(BTreeMap::from([(
            "a".to_owned(),
            CameraInfo {
                latitude: Some(52.0),
                longitude: Some(4.0),
                road_segment: Some("s".into()),
            },
        )]));
        state.apply_window(window("a", 0, 0.9, "SEVERE"));
        state.apply_window(window("a", 400, 0.2, "LOW"));
        state.apply_window(window("a", 405, 1.6, "HIGH"));
        state.apply_window(window("b", 405, 0.5, "MODERATE"));
        let items = state.heatmap(at(410));
        assert_eq!(items.len(), 1, "b is not registered: {items:?}");
        let a = &items[0];
        assert_eq!(a["windows"], 2, "the window at 0 is older than 5 minutes");
        assert!((a["intensity"].as_f64().expect("f64") - 0.9).abs() < 1e-9);
        assert_eq!(a["max_congestion_level"], "HIGH");
        assert_eq!(a["latest_window_start"], rfc3339(at(405)));
        assert!(state.heatmap(at(2000)).is_empty(), "nothing recent");
    }

    #[test]
    fn alert_changes_are_reported_once() {
        let mut state = LiveState::default();
        let alert = |status: &str, score: f64, by: Option<&str>| json!({"alert_id": 7, "status": status, "score": score, "acknowledged_by": by});
        assert_eq!(
            state.apply_alert(alert("active", 0.6, None)),
            Some(AlertChange::Opened)
        );
        assert_eq!(state.apply_alert(alert("active", 0.6, None)), None);
        assert_eq!(
            state.apply_alert(alert("active", 0.8, None)),
            Some(AlertChange::Updated)
        );
        assert_eq!(
            state.apply_alert(alert("active", 0.8, Some("op"))),
            Some(AlertChange::Acknowledged)
        );
        assert_eq!(state.active_alert_ids(), [7]);
        assert_eq!(
            state.apply_alert(alert("resolved", 0.8, Some("op"))),
            Some(AlertChange::Resolved)
        );
        assert_eq!(state.apply_alert(alert("resolved", 0.8, Some("op"))), None);
        assert_eq!(state.active_alerts().count(), 0);
        assert_eq!(
            state.apply_alert(json!({"status": "active"})),
            None,
            "no id"
        );
    }
}

//! One camera's whole streaming state, and the step that feeds it an event.
//!
//! The state is a plain value (serde) so the pipeline can store it beside its Kafka positions in
//! one transaction and resume exactly where it stopped: open windows, watermark, speed tracks and
//! the alert state all survive a restart. It is stored inside the versioned envelope of
//! `contract::checkpoint`, so a layout change is refused by name instead of misread.

use std::collections::BTreeMap;

use contract::checkpoint::CheckpointError;
use serde::{Deserialize, Serialize};

use crate::alerts::{AlertTracker, AlertTransition};
use crate::congestion::Thresholds;
use crate::event::Detection;
use crate::metrics::{CameraProfile, SpeedSample, WindowResult, WindowState};
use crate::speed::{SpeedTracker, SpeedTrackerConfig};
use crate::window::{Watermark, WindowConfig};

/// What happened to one detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventOutcome {
    /// The tracker's estimate, whether or not B1 sent a speed (stored beside B1's own).
    pub estimated_speed_kmh: Option<f64>,
    /// Its window had already closed: it is stored raw but not counted.
    pub late: bool,
    /// Its lane would exceed [`MAX_LANES_PER_WINDOW`]: counted camera-wide, not per lane.
    pub lane_capped: bool,
    /// A new track would exceed the tracker's cap: no speed estimate.
    pub track_capped: bool,
}

/// Distinct lanes one window keeps. A road has a handful; a producer inventing lane ids must
/// not grow a window (and its checkpoint and rows) without bound.
pub const MAX_LANES_PER_WINDOW: usize = 64;

/// Everything a window close produces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Closed {
    pub windows: Vec<WindowResult>,
    pub alerts: Vec<AlertTransition>,
}

/// Run-time parameters of the alert state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertConfig {
    /// Consecutive calm windows before an alert resolves.
    pub clear_after: u32,
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self { clear_after: 2 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraState {
    pub camera_id: String,
    watermark: Watermark,
    open: BTreeMap<i64, WindowState>,
    tracker: SpeedTracker,
    alerts: AlertTracker,
}

impl CameraState {
    pub fn new(camera_id: &str, tracker: SpeedTrackerConfig) -> Self {
        Self {
            camera_id: camera_id.to_owned(),
            watermark: Watermark::default(),
            open: BTreeMap::new(),
            tracker: SpeedTracker::new(tracker),
            alerts: AlertTracker::default(),
        }
    }

    pub fn watermark(&self) -> &Watermark {
        &self.watermark
    }

    pub fn open_windows(&self) -> usize {
        self.open.len()
    }

    /// The stored form: this state in the current checkpoint format.
    pub fn to_checkpoint(&self) -> Result<String, serde_json::Error> {
        contract::checkpoint::encode(self)
    }

    /// A stored checkpoint of any format this build reads; newer or retired formats are
    /// refused by name.
    pub fn from_checkpoint(text: &str) -> Result<Self, CheckpointError> {
        contract::checkpoint::decode(text)
    }

    /// Called once after loading from a checkpoint.
    pub fn resume_at(&mut self, processing_ms: i64) {
        self.watermark.resume_at(processing_ms);
    }

    /// Adds one detection. Windows it makes closable are closed by `close_ready`.
    pub fn on_event(
        &mut self,
        det: &Detection,
        processing_ms: i64,
        profile: &CameraProfile,
        config: &WindowConfig,
    ) -> EventOutcome {
        let track_capped = self.tracker.is_full_for(&det.vehicle_id);
        let estimated = if track_capped {
            None
        } else {
            self.tracker.observe(
                &det.vehicle_id,
                det.ts_ms,
                det.bbox.centroid(),
                profile.metres_per_pixel,
            )
        };
        let mut lane_capped = false;
        let start = config.window_start(det.ts_ms);
        let late = self.watermark.is_closed(config.window_end(start));
        if !late {
            let speed = match (det.speed_kmh, estimated) {
                (Some(kmh), _) => SpeedSample::Reported(kmh),
                (None, Some(kmh)) => SpeedSample::Estimated(kmh),
                (None, None) => SpeedSample::Unknown,
            };
            let window = self.open.entry(start).or_default();
            window
                .camera
                .add(&det.vehicle_id, det.kind, det.confidence, speed);
            if let Some(lane) = &det.lane_id {
                // Look up before inserting: cloning the lane id for every event shows in profiles.
                let full = window.lanes.len() >= MAX_LANES_PER_WINDOW;
                let lane_acc = match window.lanes.get_mut(lane) {
                    Some(acc) => Some(acc),
                    None if full => None,
                    None => Some(window.lanes.entry(lane.clone()).or_default()),
                };
                match lane_acc {
                    Some(acc) => acc.add(&det.vehicle_id, det.kind, det.confidence, speed),
                    None => lane_capped = true,
                }
            }
        }
        self.watermark.observe(det.ts_ms, processing_ms, config);
        EventOutcome {
            estimated_speed_kmh: estimated,
            late,
            lane_capped,
            track_capped,
        }
    }

    /// Silent for longer than `silent_ms` (by event time, against processing time) with nothing
    /// open: its state can go, and its checkpoint row with it.
    pub fn is_evictable(&self, processing_ms: i64, silent_ms: i64) -> bool {
        self.open.is_empty()
            && self
                .watermark
                .max_event_ms()
                .is_some_and(|last| last < processing_ms.saturating_sub(silent_ms))
    }

    /// Closes every window the watermark has passed (after an idle check), in window order.
    pub fn close_ready(
        &mut self,
        processing_ms: i64,
        profile: &CameraProfile,
        thresholds: &Thresholds,
        config: &WindowConfig,
        alert_config: &AlertConfig,
    ) -> Closed {
        self.watermark.on_idle_check(processing_ms, config);
        if let Some(max) = self.watermark.max_event_ms() {
            self.tracker.expire(max);
        }
        let mut closed = Closed::default();
        while let Some(entry) = self.open.first_entry() {
            let start = *entry.key();
            let end = config.window_end(start);
            if !self.watermark.is_closed(end) {
                break;
            }
            let rows =
                entry
                    .remove()
                    .into_results(&self.camera_id, start, end, profile, thresholds);
            if let Some(camera_row) = rows.first() {
                if let Some(t) = self.alerts.on_window(
                    &self.camera_id,
                    start,
                    end,
                    camera_row.congestion_level,
                    camera_row.congestion_score,
                    camera_row.avg_speed_kmh,
                    camera_row.vehicle_count,
                    alert_config.clear_after,
                ) {
                    closed.alerts.push(t);
                }
            }
            closed.windows.extend(rows);
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::CongestionLevel;
    use crate::fixtures::{car, profile};

    fn det(ts_ms: i64, vehicle: &str, lane: Option<&str>, speed: Option<f64>) -> Detection {
        car("cam_01", ts_ms, vehicle, lane, speed)
    }

    #[test]
    fn closes_window_after_lateness_and_counts_late_events() {
        let cfg = WindowConfig::default();
        let t = Thresholds::default();
        let mut cam = CameraState::new("cam_01", SpeedTrackerConfig::default());
        cam.on_event(&det(1_000, "a", Some("1"), Some(40.0)), 0, &profile(), &cfg);
        cam.on_event(&det(4_000, "b", Some("2"), Some(20.0)), 0, &profile(), &cfg);
        let none = cam.close_ready(0, &profile(), &t, &cfg, &AlertConfig::default());
        assert!(none.windows.is_empty());
        cam.on_event(&det(7_000, "c", None, None), 0, &profile(), &cfg);
        let closed = cam.close_ready(0, &profile(), &t, &cfg, &AlertConfig::default());
        assert_eq!(closed.windows.len(), 3, "camera row + 2 lanes");
        assert_eq!(closed.windows[0].vehicle_count, 2);
        assert_eq!(closed.windows[0].avg_speed_kmh, Some(30.0));
        let late = cam.on_event(&det(2_000, "d", None, None), 0, &profile(), &cfg);
        assert!(late.late);
    }

    #[test]
    fn congested_window_opens_an_alert() {
        let cfg = WindowConfig::default();
        let t = Thresholds::default();
        let mut cam = CameraState::new("cam_01", SpeedTrackerConfig::default());
        for v in 0..20 {
            cam.on_event(
                &det(1_000 + v, &format!("v{v}"), None, Some(3.0)),
                0,
                &profile(),
                &cfg,
            );
        }
        cam.on_event(&det(9_000, "z", None, Some(3.0)), 0, &profile(), &cfg);
        let closed = cam.close_ready(0, &profile(), &t, &cfg, &AlertConfig::default());
        assert_eq!(closed.windows[0].congestion_level, CongestionLevel::Severe);
        assert!(matches!(
            closed.alerts.as_slice(),
            [AlertTransition::Opened(_)]
        ));
    }

    #[test]
    fn lanes_beyond_the_cap_count_camera_wide_only() {
        let cfg = WindowConfig::default();
        let t = Thresholds::default();
        let mut cam = CameraState::new("cam_01", SpeedTrackerConfig::default());
        let mut capped = 0;
        for i in 0..(MAX_LANES_PER_WINDOW + 10) {
            let lane = format!("lane-{i}");
            let outcome = cam.on_event(
                &det(1_000, &format!("v{i}"), Some(&lane), None),
                0,
                &profile(),
                &cfg,
            );
            capped += usize::from(outcome.lane_capped);
        }
        assert_eq!(capped, 10);
        cam.on_event(&det(9_000, "z", None, None), 0, &profile(), &cfg);
        let closed = cam.close_ready(0, &profile(), &t, &cfg, &AlertConfig::default());
        assert_eq!(closed.windows.len(), 1 + MAX_LANES_PER_WINDOW);
        assert_eq!(
            closed.windows[0].vehicle_count as usize,
            MAX_LANES_PER_WINDOW + 10
        );
    }

    #[test]
    fn tracks_beyond_the_cap_get_no_estimate() {
        let cfg = WindowConfig::default();
        let mut cam = CameraState::new("cam_01", SpeedTrackerConfig::default());
        for i in 0..crate::speed::MAX_TRACKS {
            let outcome = cam.on_event(
                &det(1_000, &format!("v{i}"), None, None),
                0,
                &profile(),
                &cfg,
            );
            assert!(!outcome.track_capped);
        }
        let outcome = cam.on_event(&det(1_000, "one-too-many", None, None), 0, &profile(), &cfg);
        assert!(outcome.track_capped);
        assert!(outcome.estimated_speed_kmh.is_none());
        let known = cam.on_event(&det(1_100, "v1", None, None), 0, &profile(), &cfg);
        assert!(!known.track_capped, "known vehicles keep their track");
    }

    #[test]
    fn only_silent_cameras_with_nothing_open_are_evictable() {
        let cfg = WindowConfig::default();
        let t = Thresholds::default();
        let day = 86_400_000;
        let mut cam = CameraState::new("cam_01", SpeedTrackerConfig::default());
        assert!(!cam.is_evictable(10 * day, day), "never saw an event");
        cam.on_event(&det(1_000, "a", None, None), 0, &profile(), &cfg);
        assert!(!cam.is_evictable(10 * day, day), "a window is open");
        cam.on_event(&det(60_000, "b", None, None), 0, &profile(), &cfg);
        cam.close_ready(0, &profile(), &t, &cfg, &AlertConfig::default());
        // The window of the last event stays open until an idle close.
        cam.close_ready(10 * day, &profile(), &t, &cfg, &AlertConfig::default());
        assert_eq!(cam.open_windows(), 0);
        assert!(cam.is_evictable(10 * day, day));
        assert!(
            !cam.is_evictable(60_000 + day / 2, day),
            "silent for less than the limit"
        );
    }

    #[test]
    fn state_round_trips_through_its_checkpoint() {
        let cfg = WindowConfig::default();
        let mut cam = CameraState::new("cam_01", SpeedTrackerConfig::default());
        cam.on_event(&det(1_000, "a", Some("1"), None), 0, &profile(), &cfg);
        cam.on_event(&det(1_100, "a", Some("1"), None), 0, &profile(), &cfg);
        let stored = cam.to_checkpoint().expect("serializes");
        assert!(stored.starts_with(r#"{"format":1,"state":{"camera_id":"cam_01","#));
        let back = CameraState::from_checkpoint(&stored).expect("deserializes");
        assert_eq!(back, cam);
    }
}

//! Per-camera congestion alert state machine.
//!
//! An alert opens when a camera-wide window reaches HIGH or SEVERE, is
//! updated on every further alerting window, and resolves only after a run
//! of calm windows so that traffic hovering around the HIGH threshold does
//! not open and close alerts every few seconds.

use serde::{Deserialize, Serialize};

use crate::congestion::CongestionLevel;

pub const CONGESTION_ALERT: &str = "congestion";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub camera_id: String,
    /// Identifies the alert together with `camera_id`, so repeated
    /// transitions can be upserted onto one row.
    pub opened_window_start_ms: i64,
    pub alert_type: String,
    /// Current severity, always HIGH or SEVERE.
    pub severity: CongestionLevel,
    pub peak_severity: CongestionLevel,
    /// Latest score, including the calm window that resolved the alert.
    pub score: f64,
    pub message: String,
    /// End of the window that produced this transition.
    pub updated_window_end_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AlertTransition {
    Opened(AlertRecord),
    Updated(AlertRecord),
    Resolved(AlertRecord),
}

impl AlertTransition {
    pub fn record(&self) -> &AlertRecord {
        match self {
            AlertTransition::Opened(r)
            | AlertTransition::Updated(r)
            | AlertTransition::Resolved(r) => r,
        }
    }
}

/// Alert state of one camera; the caller keeps one tracker per camera.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlertTracker {
    open: Option<AlertRecord>,
    calm_windows: u32,
    last_window_start_ms: Option<i64>,
}

impl AlertTracker {
    /// Feeds the camera-wide result of one window. `clear_after` is the number
    /// of consecutive non-alerting windows that resolve an open alert (0 is
    /// treated as 1). Windows not after the last seen one are ignored.
    #[allow(clippy::too_many_arguments)]
    pub fn on_window(
        &mut self,
        camera_id: &str,
        window_start_ms: i64,
        window_end_ms: i64,
        level: CongestionLevel,
        score: f64,
        avg_speed_kmh: Option<f64>,
        vehicle_count: u64,
        clear_after: u32,
    ) -> Option<AlertTransition> {
        if self
            .last_window_start_ms
            .is_some_and(|last| window_start_ms <= last)
        {
            return None;
        }
        self.last_window_start_ms = Some(window_start_ms);

        if level.is_alerting() {
            self.calm_windows = 0;
            let message = describe(
                "Congestion",
                level,
                camera_id,
                score,
                avg_speed_kmh,
                vehicle_count,
            );
            return Some(match self.open.as_mut() {
                Some(record) => {
                    record.severity = level;
                    record.peak_severity = record.peak_severity.max(level);
                    record.score = score;
                    record.message = message;
                    record.updated_window_end_ms = window_end_ms;
                    AlertTransition::Updated(record.clone())
                }
                None => {
                    let record = AlertRecord {
                        camera_id: camera_id.to_owned(),
                        opened_window_start_ms: window_start_ms,
                        alert_type: CONGESTION_ALERT.to_owned(),
                        severity: level,
                        peak_severity: level,
                        score,
                        message,
                        updated_window_end_ms: window_end_ms,
                    };
                    self.open = Some(record.clone());
                    AlertTransition::Opened(record)
                }
            });
        }

        let record = self.open.as_mut()?;
        self.calm_windows = self.calm_windows.saturating_add(1);
        if self.calm_windows < clear_after.max(1) {
            return None;
        }
        record.score = score;
        record.message = describe(
            "Congestion cleared",
            level,
            camera_id,
            score,
            avg_speed_kmh,
            vehicle_count,
        );
        record.updated_window_end_ms = window_end_ms;
        self.calm_windows = 0;
        self.open.take().map(AlertTransition::Resolved)
    }

    pub fn open_alert(&self) -> Option<&AlertRecord> {
        self.open.as_ref()
    }
}

fn describe(
    headline: &str,
    level: CongestionLevel,
    camera_id: &str,
    score: f64,
    avg_speed_kmh: Option<f64>,
    vehicle_count: u64,
) -> String {
    let avg = match avg_speed_kmh {
        Some(avg) if avg.is_finite() => format!("{avg:.1} km/h"),
        _ => "n/a".to_owned(),
    };
    let noun = if vehicle_count == 1 {
        "vehicle"
    } else {
        "vehicles"
    };
    format!(
        "{headline} {level} at {camera_id} (score {score:.2}, avg {avg}, {vehicle_count} {noun})"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use CongestionLevel::{High, Low, Moderate, Severe};

    const WINDOW_MS: i64 = 5_000;

    /// Feeds window `n` (5 s windows) with a score matching the level.
    fn feed(
        tracker: &mut AlertTracker,
        n: i64,
        level: CongestionLevel,
        clear_after: u32,
    ) -> Option<AlertTransition> {
        let score = match level {
            Low => 0.1,
            Moderate => 0.4,
            High => 0.62,
            Severe => 0.8,
        };
        let start = n * WINDOW_MS;
        tracker.on_window(
            "cam_01",
            start,
            start + WINDOW_MS,
            level,
            score,
            Some(12.3),
            14,
            clear_after,
        )
    }

    #[test]
    fn calm_windows_without_alert_emit_nothing() {
        let mut t = AlertTracker::default();
        assert_eq!(feed(&mut t, 0, Low, 2), None);
        assert_eq!(feed(&mut t, 1, Moderate, 2), None);
        assert!(t.open_alert().is_none());
    }

    #[test]
    fn high_window_opens_alert() {
        let mut t = AlertTracker::default();
        let Some(AlertTransition::Opened(record)) = feed(&mut t, 3, High, 2) else {
            panic!("expected an opened alert");
        };
        assert_eq!(record.camera_id, "cam_01");
        assert_eq!(record.opened_window_start_ms, 15_000);
        assert_eq!(record.alert_type, "congestion");
        assert_eq!(record.severity, High);
        assert_eq!(record.peak_severity, High);
        assert_eq!(record.score, 0.62);
        assert_eq!(record.updated_window_end_ms, 20_000);
        assert_eq!(
            record.message,
            "Congestion HIGH at cam_01 (score 0.62, avg 12.3 km/h, 14 vehicles)"
        );
        assert_eq!(t.open_alert(), Some(&record));
    }

    #[test]
    fn every_alerting_window_updates_and_tracks_peak() {
        let mut t = AlertTracker::default();
        feed(&mut t, 0, High, 2);
        let Some(AlertTransition::Updated(up)) = feed(&mut t, 1, Severe, 2) else {
            panic!("expected an update");
        };
        assert_eq!((up.severity, up.peak_severity), (Severe, Severe));
        let Some(AlertTransition::Updated(down)) = feed(&mut t, 2, High, 2) else {
            panic!("expected an update");
        };
        assert_eq!((down.severity, down.peak_severity), (High, Severe));
        assert_eq!(down.opened_window_start_ms, 0);
        assert_eq!(down.updated_window_end_ms, 3 * WINDOW_MS);
        let Some(AlertTransition::Updated(same)) = feed(&mut t, 3, High, 2) else {
            panic!("unchanged severity still updates");
        };
        assert_eq!(same.updated_window_end_ms, 4 * WINDOW_MS);
    }

    #[test]
    fn resolves_after_consecutive_calm_windows() {
        let mut t = AlertTracker::default();
        feed(&mut t, 0, Severe, 2);
        assert_eq!(feed(&mut t, 1, Moderate, 2), None);
        assert!(t.open_alert().is_some());
        let Some(AlertTransition::Resolved(record)) = feed(&mut t, 2, Low, 2) else {
            panic!("expected resolution");
        };
        assert_eq!(record.opened_window_start_ms, 0);
        assert_eq!(record.peak_severity, Severe);
        assert_eq!(record.score, 0.1);
        assert_eq!(record.updated_window_end_ms, 3 * WINDOW_MS);
        assert!(record
            .message
            .starts_with("Congestion cleared LOW at cam_01"));
        assert!(t.open_alert().is_none());
    }

    #[test]
    fn alerting_window_resets_calm_streak() {
        let mut t = AlertTracker::default();
        feed(&mut t, 0, High, 2);
        assert_eq!(feed(&mut t, 1, Low, 2), None);
        assert!(matches!(
            feed(&mut t, 2, High, 2),
            Some(AlertTransition::Updated(_))
        ));
        assert_eq!(feed(&mut t, 3, Low, 2), None);
        assert!(matches!(
            feed(&mut t, 4, Low, 2),
            Some(AlertTransition::Resolved(_))
        ));
    }

    #[test]
    fn clear_after_one_resolves_at_first_calm_window() {
        for clear_after in [0, 1] {
            let mut t = AlertTracker::default();
            feed(&mut t, 0, High, clear_after);
            assert!(matches!(
                feed(&mut t, 1, Moderate, clear_after),
                Some(AlertTransition::Resolved(_))
            ));
        }
    }

    #[test]
    fn reopens_as_a_new_alert_after_resolution() {
        let mut t = AlertTracker::default();
        feed(&mut t, 0, High, 1);
        feed(&mut t, 1, Low, 1);
        let Some(AlertTransition::Opened(record)) = feed(&mut t, 2, High, 1) else {
            panic!("expected a new alert");
        };
        assert_eq!(record.opened_window_start_ms, 2 * WINDOW_MS);
    }

    #[test]
    fn stale_or_repeated_windows_are_ignored() {
        let mut t = AlertTracker::default();
        feed(&mut t, 5, High, 1);
        assert_eq!(feed(&mut t, 5, Low, 1), None);
        assert_eq!(feed(&mut t, 4, Low, 1), None);
        assert!(t.open_alert().is_some());
        assert!(matches!(
            feed(&mut t, 6, Low, 1),
            Some(AlertTransition::Resolved(_))
        ));
    }

    #[test]
    fn message_handles_unknown_speed() {
        let mut t = AlertTracker::default();
        let transition = t.on_window("cam_02", 0, 5_000, Severe, 0.9, None, 1, 2);
        assert_eq!(
            transition.map(|tr| tr.record().message.clone()),
            Some("Congestion SEVERE at cam_02 (score 0.90, avg n/a, 1 vehicle)".to_owned())
        );
    }

    #[test]
    fn checkpoint_roundtrip() -> Result<(), serde_json::Error> {
        let mut t = AlertTracker::default();
        feed(&mut t, 0, High, 2);
        feed(&mut t, 1, Low, 2);
        let restored: AlertTracker = serde_json::from_str(&serde_json::to_string(&t)?)?;
        assert_eq!(restored, t);
        Ok(())
    }

    fn level() -> impl Strategy<Value = CongestionLevel> {
        prop::sample::select(CongestionLevel::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn opens_and_resolves_alternate(
            windows in prop::collection::vec((level(), -2i64..4), 0..80),
            clear_after in 0u32..4,
        ) {
            let mut t = AlertTracker::default();
            let mut n = 0i64;
            let mut open = false;
            for (level, step) in windows {
                // Non-positive steps replay old windows, which must be ignored.
                n += step;
                let before = t.clone();
                match feed(&mut t, n, level, clear_after) {
                    Some(AlertTransition::Opened(record)) => {
                        prop_assert!(!open, "opened twice without a resolve");
                        prop_assert!(level.is_alerting());
                        prop_assert!(record.severity.is_alerting());
                        open = true;
                    }
                    Some(AlertTransition::Updated(record)) => {
                        prop_assert!(open);
                        prop_assert!(level.is_alerting());
                        prop_assert!(record.peak_severity >= record.severity);
                    }
                    Some(AlertTransition::Resolved(record)) => {
                        prop_assert!(open, "resolved without an open alert");
                        prop_assert!(!level.is_alerting());
                        prop_assert!(record.severity.is_alerting());
                        open = false;
                    }
                    None => {
                        if step <= 0 && before.last_window_start_ms.is_some() {
                            prop_assert_eq!(&t, &before);
                        }
                    }
                }
                prop_assert_eq!(t.open_alert().is_some(), open);
            }
        }
    }
}

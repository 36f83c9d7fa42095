//! Event-time tumbling windows and the per-camera watermark.
//!
//! Timely's timestamps are ingest epochs (progress), not event time: cameras' clocks drift apart,
//! so each camera carries its own watermark here, in operator state. A window closes when its
//! camera's watermark passes its end; a camera that goes quiet still closes its windows once it has
//! been idle for `idle_timeout_ms` of processing time.

use serde::{Deserialize, Serialize};

/// Window geometry and lateness rules, fixed for the life of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowConfig {
    pub size_ms: i64,
    pub allowed_lateness_ms: i64,
    pub idle_timeout_ms: i64,
}

impl Default for WindowConfig {
    fn default() -> Self {
        Self {
            size_ms: 5_000,
            allowed_lateness_ms: 2_000,
            idle_timeout_ms: 10_000,
        }
    }
}

impl WindowConfig {
    /// Start of the window holding `ts_ms` (floor division, so times before 1970 work too).
    pub fn window_start(&self, ts_ms: i64) -> i64 {
        ts_ms.div_euclid(self.size_ms) * self.size_ms
    }

    pub fn window_end(&self, window_start_ms: i64) -> i64 {
        window_start_ms + self.size_ms
    }
}

/// One camera's event-time progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// Greatest event time seen; `None` before the first event.
    max_event_ms: Option<i64>,
    /// Every window ending at or before this is closed. Never moves backwards.
    closed_before_ms: i64,
    /// Processing time of the latest event, for idle detection.
    last_activity_ms: i64,
}

impl Default for Watermark {
    fn default() -> Self {
        Self {
            max_event_ms: None,
            closed_before_ms: i64::MIN,
            last_activity_ms: 0,
        }
    }
}

impl Watermark {
    /// True when the window ending at `window_end_ms` is already closed: an event for it is late.
    pub fn is_closed(&self, window_end_ms: i64) -> bool {
        window_end_ms <= self.closed_before_ms
    }

    pub fn closed_before_ms(&self) -> i64 {
        self.closed_before_ms
    }

    pub fn max_event_ms(&self) -> Option<i64> {
        self.max_event_ms
    }

    /// Records an event's time; returns the new closing bound when it advanced.
    pub fn observe(
        &mut self,
        ts_ms: i64,
        processing_ms: i64,
        config: &WindowConfig,
    ) -> Option<i64> {
        self.last_activity_ms = self.last_activity_ms.max(processing_ms);
        let max = self.max_event_ms.map_or(ts_ms, |m| m.max(ts_ms));
        self.max_event_ms = Some(max);
        self.advance_to(max.saturating_sub(config.allowed_lateness_ms))
    }

    /// Once the camera has been quiet for the idle timeout, closes the window holding its latest
    /// event (and every earlier one). The bound stops there, so an idle camera's state changes
    /// once, not at every tick. Returns the new closing bound when it advanced.
    pub fn on_idle_check(&mut self, processing_ms: i64, config: &WindowConfig) -> Option<i64> {
        let max = self.max_event_ms?;
        let quiet_for = processing_ms.saturating_sub(self.last_activity_ms);
        if quiet_for < config.idle_timeout_ms {
            return None;
        }
        self.advance_to(config.window_end(config.window_start(max)))
    }

    /// After a restart the downtime is ours, not the camera's: do not count it as idleness.
    pub fn resume_at(&mut self, processing_ms: i64) {
        self.last_activity_ms = processing_ms;
    }

    fn advance_to(&mut self, bound: i64) -> Option<i64> {
        if bound > self.closed_before_ms {
            self.closed_before_ms = bound;
            Some(bound)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: WindowConfig = WindowConfig {
        size_ms: 5_000,
        allowed_lateness_ms: 2_000,
        idle_timeout_ms: 10_000,
    };

    #[test]
    fn assigns_tumbling_windows_with_floor_division() {
        assert_eq!(CFG.window_start(0), 0);
        assert_eq!(CFG.window_start(4_999), 0);
        assert_eq!(CFG.window_start(5_000), 5_000);
        assert_eq!(CFG.window_start(-1), -5_000);
        assert_eq!(CFG.window_end(5_000), 10_000);
    }

    #[test]
    fn window_closes_once_watermark_passes_its_end() {
        let mut wm = Watermark::default();
        wm.observe(4_000, 0, &CFG);
        assert!(!wm.is_closed(5_000));
        wm.observe(6_999, 0, &CFG);
        assert!(!wm.is_closed(5_000), "4_999 < end: still open");
        wm.observe(7_000, 0, &CFG);
        assert!(wm.is_closed(5_000));
        assert!(!wm.is_closed(10_000));
    }

    #[test]
    fn out_of_order_event_does_not_move_watermark_back() {
        let mut wm = Watermark::default();
        wm.observe(20_000, 0, &CFG);
        let bound = wm.closed_before_ms();
        assert_eq!(wm.observe(1_000, 0, &CFG), None);
        assert_eq!(wm.closed_before_ms(), bound);
    }

    #[test]
    fn idle_camera_closes_after_timeout_only() {
        let mut wm = Watermark::default();
        wm.observe(3_000, 100_000, &CFG);
        assert_eq!(wm.on_idle_check(109_999, &CFG), None);
        assert!(!wm.is_closed(5_000));
        assert_eq!(wm.on_idle_check(110_000, &CFG), Some(5_000));
        assert!(wm.is_closed(5_000));
        assert_eq!(wm.on_idle_check(500_000, &CFG), None, "advances once");
        assert!(!wm.is_closed(10_000), "the next window still takes events");
    }

    #[test]
    fn camera_without_events_never_idles() {
        let mut wm = Watermark::default();
        assert_eq!(wm.on_idle_check(i64::MAX, &CFG), None);
    }

    #[test]
    fn resume_resets_idle_clock() {
        let mut wm = Watermark::default();
        wm.observe(3_000, 0, &CFG);
        wm.resume_at(1_000_000);
        assert_eq!(wm.on_idle_check(1_005_000, &CFG), None);
    }
}

//! Speed estimation for detections that arrive without a measured speed.
//!
//! The speed is the displacement of a vehicle's bbox centroid between two
//! sightings, scaled by the camera's metres-per-pixel and divided by the
//! time between them. Single samples are noisy (detector jitter of a few
//! pixels is common), so the estimate is an exponential moving average.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SpeedTrackerConfig {
    /// A track unseen for longer than this is forgotten; a sighting after
    /// such a gap is treated as a new vehicle.
    pub track_ttl_ms: i64,
    /// EMA weight of the newest sample.
    pub smoothing_alpha: f64,
    /// Samples above this are discarded as tracker glitches (id swaps,
    /// boxes jumping to a neighbour).
    pub max_speed_kmh: f64,
    /// Samples over shorter intervals amplify centroid jitter too much;
    /// the older sighting stays the reference until enough time passed.
    pub min_dt_ms: i64,
}

impl Default for SpeedTrackerConfig {
    fn default() -> Self {
        SpeedTrackerConfig {
            track_ttl_ms: 10_000,
            smoothing_alpha: 0.4,
            max_speed_kmh: 250.0,
            min_dt_ms: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Track {
    last_ts_ms: i64,
    last_centroid: (f64, f64),
    smoothed_kmh: Option<f64>,
}

impl Track {
    fn new(ts_ms: i64, centroid: (f64, f64)) -> Self {
        Track {
            last_ts_ms: ts_ms,
            last_centroid: centroid,
            smoothed_kmh: None,
        }
    }
}

/// Tracks one camera keeps at most; tracks expire after `track_ttl_ms` without a sighting.
pub const MAX_TRACKS: usize = 10_000;

/// Per-camera speed tracker; the caller keeps one per camera because
/// vehicle ids and pixel scales are only meaningful within a camera.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeedTracker {
    config: SpeedTrackerConfig,
    /// Ordered so checkpoints of equal state serialize identically.
    tracks: BTreeMap<String, Track>,
}

impl SpeedTracker {
    pub fn new(config: SpeedTrackerConfig) -> Self {
        SpeedTracker {
            config,
            tracks: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &SpeedTrackerConfig {
        &self.config
    }

    /// Records an observation and returns the smoothed speed estimate in
    /// km/h, or `None` for the first sighting of a track (or while no valid
    /// sample exists yet). Observations not newer than the track's last one
    /// are ignored for the estimate: the current smoothed value is returned
    /// and the track does not move backwards.
    /// A new vehicle would exceed [`MAX_TRACKS`]: it gets no estimate (hostile or broken
    /// producers can send endless distinct ids; a real camera sees far fewer at once).
    pub fn is_full_for(&self, vehicle_id: &str) -> bool {
        self.tracks.len() >= MAX_TRACKS && !self.tracks.contains_key(vehicle_id)
    }

    pub fn observe(
        &mut self,
        vehicle_id: &str,
        ts_ms: i64,
        centroid: (f64, f64),
        metres_per_pixel: f64,
    ) -> Option<f64> {
        if !(centroid.0.is_finite() && centroid.1.is_finite()) {
            return self.tracks.get(vehicle_id).and_then(|t| t.smoothed_kmh);
        }
        let Some(track) = self.tracks.get_mut(vehicle_id) else {
            self.tracks
                .insert(vehicle_id.to_owned(), Track::new(ts_ms, centroid));
            return None;
        };
        if ts_ms <= track.last_ts_ms {
            return track.smoothed_kmh;
        }
        let dt_ms = ts_ms.saturating_sub(track.last_ts_ms);
        if dt_ms > self.config.track_ttl_ms {
            *track = Track::new(ts_ms, centroid);
            return None;
        }
        if dt_ms < self.config.min_dt_ms {
            return track.smoothed_kmh;
        }
        let (dx, dy) = (
            centroid.0 - track.last_centroid.0,
            centroid.1 - track.last_centroid.1,
        );
        let metres = dx.hypot(dy) * metres_per_pixel;
        let sample_kmh = metres / (dt_ms as f64 / 1000.0) * 3.6;
        // Re-anchor even on a rejected sample: after an id swap the new
        // position is the one future sightings will be measured against.
        track.last_ts_ms = ts_ms;
        track.last_centroid = centroid;
        let calibrated = metres_per_pixel.is_finite() && metres_per_pixel > 0.0;
        let plausible = calibrated
            && sample_kmh.is_finite()
            && sample_kmh >= 0.0
            && sample_kmh <= self.config.max_speed_kmh;
        if plausible {
            let alpha = self.config.smoothing_alpha.clamp(0.0, 1.0);
            track.smoothed_kmh = Some(match track.smoothed_kmh {
                Some(prev) => alpha * sample_kmh + (1.0 - alpha) * prev,
                None => sample_kmh,
            });
        }
        track.smoothed_kmh
    }

    /// Forgets tracks whose last observation is older than
    /// `now_ms - track_ttl_ms`, `now_ms` being event time.
    pub fn expire(&mut self, now_ms: i64) {
        let cutoff = now_ms.saturating_sub(self.config.track_ttl_ms);
        self.tracks.retain(|_, track| track.last_ts_ms >= cutoff);
    }

    pub fn len(&self) -> usize {
        self.tracks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }
}

impl Default for SpeedTracker {
    fn default() -> Self {
        SpeedTracker::new(SpeedTrackerConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MPP: f64 = 0.05;
    /// 50 km/h = 13.888 m/s = 1.3888 m per 100 ms = 27.777 px at 0.05 m/px.
    const PX_PER_100MS_AT_50: f64 = 50.0 / 3.6 / 10.0 / MPP;

    fn tracker() -> SpeedTracker {
        SpeedTracker::new(SpeedTrackerConfig::default())
    }

    fn assert_close(actual: f64, expected: f64, rel: f64) {
        assert!(
            ((actual - expected) / expected).abs() <= rel,
            "{actual} not within {rel} of {expected}"
        );
    }

    #[test]
    fn first_sighting_has_no_estimate() {
        let mut t = tracker();
        assert_eq!(t.observe("v1", 1_000, (10.0, 10.0), MPP), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn constant_speed_gives_exact_speed() {
        let mut t = tracker();
        let mut last = None;
        for i in 0..10 {
            let x = 100.0 + i as f64 * 27.78;
            last = t.observe("v1", 1_000 + i * 100, (x, 200.0), MPP);
        }
        assert_close(last.expect("estimate after 10 frames"), 50.0, 0.001);
    }

    #[test]
    fn diagonal_movement_uses_euclidean_distance() {
        let mut t = tracker();
        let step = PX_PER_100MS_AT_50 / 2f64.sqrt();
        t.observe("v1", 0, (0.0, 0.0), MPP);
        let speed = t.observe("v1", 100, (step, step), MPP);
        assert_close(speed.expect("estimate"), 50.0, 1e-9);
    }

    #[test]
    fn noisy_centroids_converge() {
        // Deterministic ±2 px jitter from a small LCG.
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut jitter = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) * 4.0 - 2.0
        };
        let mut t = tracker();
        let mut last = None;
        for i in 0..20 {
            let x = 50.0 + i as f64 * PX_PER_100MS_AT_50 + jitter();
            let y = 300.0 + jitter();
            last = t.observe("v1", i * 100, (x, y), MPP);
        }
        assert_close(last.expect("estimate after 20 frames"), 50.0, 0.05);
    }

    #[test]
    fn smoothing_weights_newest_sample_by_alpha() {
        let mut t = tracker();
        t.observe("v1", 0, (0.0, 0.0), MPP);
        let first = t.observe("v1", 100, (PX_PER_100MS_AT_50, 0.0), MPP);
        assert_close(first.expect("first sample"), 50.0, 1e-9);
        // Twice the displacement: a 100 km/h sample.
        let second = t.observe("v1", 200, (3.0 * PX_PER_100MS_AT_50, 0.0), MPP);
        assert_close(second.expect("smoothed"), 0.4 * 100.0 + 0.6 * 50.0, 1e-9);
    }

    #[test]
    fn out_of_order_frame_is_ignored() {
        let mut t = tracker();
        t.observe("v1", 1_000, (0.0, 0.0), MPP);
        let speed = t.observe("v1", 1_100, (PX_PER_100MS_AT_50, 0.0), MPP);
        // Late frame far away would be a huge sample; it must not count.
        assert_eq!(t.observe("v1", 1_050, (900.0, 0.0), MPP), speed);
        assert_eq!(t.observe("v1", 1_100, (900.0, 0.0), MPP), speed);
        // The track did not move backwards: next frame continues from 1_100.
        let next = t.observe("v1", 1_200, (2.0 * PX_PER_100MS_AT_50, 0.0), MPP);
        assert_close(next.expect("estimate"), 50.0, 1e-9);
    }

    #[test]
    fn glitch_sample_is_discarded() {
        let mut t = tracker();
        t.observe("v1", 0, (0.0, 0.0), MPP);
        let steady = t.observe("v1", 100, (PX_PER_100MS_AT_50, 0.0), MPP);
        // 1000 px in 100 ms at 0.05 m/px is 1800 km/h.
        assert_eq!(t.observe("v1", 200, (1_000.0, 0.0), MPP), steady);
        // The track re-anchors on the jump; normal motion from there counts.
        let after = t.observe("v1", 300, (1_000.0 + PX_PER_100MS_AT_50, 0.0), MPP);
        assert_close(after.expect("estimate"), 50.0, 1e-9);
    }

    #[test]
    fn too_short_interval_keeps_reference() {
        let mut t = tracker();
        t.observe("v1", 0, (0.0, 0.0), MPP);
        assert_eq!(t.observe("v1", 10, (5.0, 0.0), MPP), None);
        let speed = t.observe("v1", 100, (PX_PER_100MS_AT_50, 0.0), MPP);
        assert_close(speed.expect("estimate"), 50.0, 1e-9);
    }

    #[test]
    fn gap_longer_than_ttl_starts_new_track() {
        let mut t = tracker();
        t.observe("v1", 0, (0.0, 0.0), MPP);
        assert!(t.observe("v1", 100, (10.0, 0.0), MPP).is_some());
        assert_eq!(t.observe("v1", 10_101, (500.0, 0.0), MPP), None);
        let speed = t.observe("v1", 10_201, (500.0 + PX_PER_100MS_AT_50, 0.0), MPP);
        assert_close(speed.expect("estimate"), 50.0, 1e-9);
    }

    #[test]
    fn expire_forgets_stale_tracks() {
        let mut t = tracker();
        t.observe("old", 0, (0.0, 0.0), MPP);
        t.observe("fresh", 5_000, (0.0, 0.0), MPP);
        t.expire(10_000);
        assert_eq!(t.len(), 2, "exactly at the ttl is kept");
        t.expire(10_001);
        assert_eq!(t.len(), 1);
        assert_eq!(t.observe("old", 10_001, (1.0, 0.0), MPP), None);
        t.expire(100_000);
        assert!(t.is_empty());
    }

    #[test]
    fn vehicles_are_independent() {
        let mut t = tracker();
        t.observe("a", 0, (0.0, 0.0), MPP);
        t.observe("b", 0, (0.0, 100.0), MPP);
        let a = t.observe("a", 100, (PX_PER_100MS_AT_50, 0.0), MPP);
        let b = t.observe("b", 100, (2.0 * PX_PER_100MS_AT_50, 100.0), MPP);
        assert_close(a.expect("a"), 50.0, 1e-9);
        assert_close(b.expect("b"), 100.0, 1e-9);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn non_finite_centroid_is_ignored() {
        let mut t = tracker();
        assert_eq!(t.observe("v1", 0, (f64::NAN, 0.0), MPP), None);
        assert!(t.is_empty());
    }

    #[test]
    fn checkpoint_roundtrip() -> Result<(), serde_json::Error> {
        let mut t = tracker();
        t.observe("v1", 0, (0.0, 0.0), MPP);
        t.observe("v1", 100, (10.0, 0.0), MPP);
        let restored: SpeedTracker = serde_json::from_str(&serde_json::to_string(&t)?)?;
        assert_eq!(restored, t);
        Ok(())
    }
}

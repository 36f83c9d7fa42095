//! What one window of one camera (or one lane of it) adds up to.
//!
//! Sums are kept in fixed point (milli-km/h, micro-confidence) so a window's result is exactly the
//! same whatever order its events arrived in and however the work was split over workers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::congestion::{classify, congestion_score, CongestionLevel, Thresholds};
use crate::event::VehicleClass;

/// Where a window's average speed came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpeedSource {
    Reported,
    Estimated,
    Mixed,
    None,
}

impl SpeedSource {
    pub fn as_str(&self) -> &'static str {
        match self {
            SpeedSource::Reported => "reported",
            SpeedSource::Estimated => "estimated",
            SpeedSource::Mixed => "mixed",
            SpeedSource::None => "none",
        }
    }
}

/// The speed an event contributes: what B1 sent, or else the tracker's estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpeedSample {
    Reported(f64),
    Estimated(f64),
    Unknown,
}

/// Running totals of one (camera, lane, window).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accumulator {
    /// Distinct vehicles and the class each was first seen as (smallest label wins on ties of order).
    vehicles: BTreeMap<String, VehicleClass>,
    event_count: u64,
    speed_milli_sum: i64,
    reported_speeds: u64,
    estimated_speeds: u64,
    confidence_micro_sum: i64,
}

impl Accumulator {
    pub fn add(
        &mut self,
        vehicle_id: &str,
        class: VehicleClass,
        confidence: f64,
        speed: SpeedSample,
    ) {
        self.event_count += 1;
        match self.vehicles.get_mut(vehicle_id) {
            // Order-independent choice when a tracker relabels a vehicle within one window.
            Some(existing) => *existing = (*existing).min(class),
            None => {
                self.vehicles.insert(vehicle_id.to_owned(), class);
            }
        }
        self.confidence_micro_sum += to_fixed(confidence, 1e6);
        match speed {
            SpeedSample::Reported(kmh) => {
                self.reported_speeds += 1;
                self.speed_milli_sum += to_fixed(kmh, 1e3);
            }
            SpeedSample::Estimated(kmh) => {
                self.estimated_speeds += 1;
                self.speed_milli_sum += to_fixed(kmh, 1e3);
            }
            SpeedSample::Unknown => {}
        }
    }

    pub fn event_count(&self) -> u64 {
        self.event_count
    }

    pub fn vehicle_count(&self) -> u64 {
        self.vehicles.len() as u64
    }

    pub fn avg_speed_kmh(&self) -> Option<f64> {
        let n = self.reported_speeds + self.estimated_speeds;
        (n > 0).then(|| self.speed_milli_sum as f64 / n as f64 / 1e3)
    }

    pub fn speed_source(&self) -> SpeedSource {
        match (self.reported_speeds > 0, self.estimated_speeds > 0) {
            (true, true) => SpeedSource::Mixed,
            (true, false) => SpeedSource::Reported,
            (false, true) => SpeedSource::Estimated,
            (false, false) => SpeedSource::None,
        }
    }

    /// Distinct vehicles per class, indexed like `VehicleClass::ALL`.
    pub fn class_counts(&self) -> [u64; 6] {
        let mut counts = [0u64; 6];
        for class in self.vehicles.values() {
            if let Some(i) = VehicleClass::ALL.iter().position(|c| c == class) {
                counts[i] += 1;
            }
        }
        counts
    }

    pub fn avg_confidence(&self) -> Option<f64> {
        (self.event_count > 0)
            .then(|| self.confidence_micro_sum as f64 / self.event_count as f64 / 1e6)
    }
}

fn to_fixed(value: f64, scale: f64) -> i64 {
    if value.is_finite() {
        (value * scale).round() as i64
    } else {
        0
    }
}

/// One camera's open window: the camera-wide totals and one per lane.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowState {
    pub camera: Accumulator,
    pub lanes: BTreeMap<String, Accumulator>,
}

/// Per-camera facts the congestion model needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraProfile {
    pub metres_per_pixel: f64,
    pub free_flow_kmh: f64,
    /// Lanes the camera watches, when surveyed; otherwise the lanes seen in the window are used.
    pub lanes: Option<u32>,
}

/// A closed window, ready to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    pub camera_id: String,
    /// `None` for the camera-wide row.
    pub lane_id: Option<String>,
    pub window_start_ms: i64,
    pub window_end_ms: i64,
    pub vehicle_count: u64,
    pub event_count: u64,
    pub avg_speed_kmh: Option<f64>,
    pub speed_source: SpeedSource,
    /// Distinct vehicles per class, indexed like `VehicleClass::ALL`.
    pub class_counts: [u64; 6],
    pub avg_confidence: Option<f64>,
    pub congestion_score: f64,
    pub congestion_level: CongestionLevel,
}

impl WindowState {
    /// Turns the window into its rows: camera-wide first, then lanes in lane order.
    pub fn into_results(
        self,
        camera_id: &str,
        window_start_ms: i64,
        window_end_ms: i64,
        profile: &CameraProfile,
        thresholds: &Thresholds,
    ) -> Vec<WindowResult> {
        let seen_lanes = self.lanes.len().max(1) as u32;
        let camera_lanes = profile.lanes.unwrap_or(seen_lanes);
        let row = |lane_id: Option<String>, acc: &Accumulator, lanes: u32| {
            let avg_speed = acc.avg_speed_kmh();
            let score = congestion_score(
                acc.vehicle_count(),
                avg_speed,
                profile.free_flow_kmh,
                lanes,
                thresholds,
            );
            WindowResult {
                camera_id: camera_id.to_owned(),
                lane_id,
                window_start_ms,
                window_end_ms,
                vehicle_count: acc.vehicle_count(),
                event_count: acc.event_count(),
                avg_speed_kmh: avg_speed,
                speed_source: acc.speed_source(),
                class_counts: acc.class_counts(),
                avg_confidence: acc.avg_confidence(),
                congestion_score: score,
                congestion_level: classify(score, thresholds),
            }
        };
        let mut rows = Vec::with_capacity(1 + self.lanes.len());
        rows.push(row(None, &self.camera, camera_lanes));
        for (lane, acc) in &self.lanes {
            rows.push(row(Some(lane.clone()), acc, 1));
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::profile;

    #[test]
    fn counts_distinct_vehicles_and_events() {
        let mut acc = Accumulator::default();
        acc.add("a", VehicleClass::Car, 0.9, SpeedSample::Reported(40.0));
        acc.add("a", VehicleClass::Car, 0.8, SpeedSample::Reported(50.0));
        acc.add("b", VehicleClass::Truck, 0.7, SpeedSample::Unknown);
        assert_eq!(acc.vehicle_count(), 2);
        assert_eq!(acc.event_count(), 3);
        assert_eq!(acc.avg_speed_kmh(), Some(45.0));
        assert_eq!(acc.speed_source(), SpeedSource::Reported);
        assert_eq!(acc.class_counts(), [1, 1, 0, 0, 0, 0]);
        let conf = acc.avg_confidence().expect("events seen");
        assert!((conf - 0.8).abs() < 1e-9);
    }

    #[test]
    fn speed_source_reflects_mix() {
        let mut acc = Accumulator::default();
        assert_eq!(acc.speed_source(), SpeedSource::None);
        assert_eq!(acc.avg_speed_kmh(), None);
        acc.add("a", VehicleClass::Car, 0.9, SpeedSample::Estimated(30.0));
        assert_eq!(acc.speed_source(), SpeedSource::Estimated);
        acc.add("b", VehicleClass::Car, 0.9, SpeedSample::Reported(30.0));
        assert_eq!(acc.speed_source(), SpeedSource::Mixed);
    }

    #[test]
    fn order_of_additions_does_not_change_totals() {
        let events = [
            ("a", VehicleClass::Car, 0.91, SpeedSample::Reported(33.3333)),
            ("b", VehicleClass::Bus, 0.52, SpeedSample::Estimated(12.1)),
            ("a", VehicleClass::Truck, 0.77, SpeedSample::Reported(48.7)),
        ];
        let mut forward = Accumulator::default();
        let mut backward = Accumulator::default();
        for (v, c, conf, s) in events {
            forward.add(v, c, conf, s);
        }
        for (v, c, conf, s) in events.into_iter().rev() {
            backward.add(v, c, conf, s);
        }
        assert_eq!(forward, backward);
    }

    #[test]
    fn results_have_camera_row_then_lanes() {
        let mut w = WindowState::default();
        for (v, lane) in [("a", "1"), ("b", "2"), ("c", "2")] {
            w.camera
                .add(v, VehicleClass::Car, 0.9, SpeedSample::Reported(10.0));
            w.lanes.entry(lane.to_owned()).or_default().add(
                v,
                VehicleClass::Car,
                0.9,
                SpeedSample::Reported(10.0),
            );
        }
        let rows = w.into_results("cam", 0, 5_000, &profile(), &Thresholds::default());
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].lane_id, None);
        assert_eq!(rows[0].vehicle_count, 3);
        assert_eq!(rows[1].lane_id.as_deref(), Some("1"));
        assert_eq!(rows[2].vehicle_count, 2);
        assert!(rows
            .iter()
            .all(|r| (0.0..=1.0).contains(&r.congestion_score)));
    }
}

//! Congestion score and level of a window.
//!
//! Thresholds are run-time configuration rather than constants so operators
//! can tune them per deployment without a rebuild; the score mixes how slow
//! traffic is relative to free flow with how full the lanes are.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum CongestionLevel {
    #[default]
    Low,
    Moderate,
    High,
    Severe,
}

impl CongestionLevel {
    pub const ALL: [CongestionLevel; 4] = [
        CongestionLevel::Low,
        CongestionLevel::Moderate,
        CongestionLevel::High,
        CongestionLevel::Severe,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            CongestionLevel::Low => "LOW",
            CongestionLevel::Moderate => "MODERATE",
            CongestionLevel::High => "HIGH",
            CongestionLevel::Severe => "SEVERE",
        }
    }

    /// Levels that warrant an alert.
    pub fn is_alerting(&self) -> bool {
        matches!(self, CongestionLevel::High | CongestionLevel::Severe)
    }
}

impl fmt::Display for CongestionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown congestion level {0:?}, expected LOW, MODERATE, HIGH or SEVERE")]
pub struct ParseLevelError(pub String);

impl FromStr for CongestionLevel {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|level| s.eq_ignore_ascii_case(level.as_str()))
            .ok_or_else(|| ParseLevelError(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// Score at or above which the level is MODERATE.
    pub moderate: f64,
    /// Score at or above which the level is HIGH.
    pub high: f64,
    /// Score at or above which the level is SEVERE.
    pub severe: f64,
    pub speed_weight: f64,
    pub density_weight: f64,
    /// Distinct vehicles one lane holds in one window at saturation.
    pub lane_capacity_per_window: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            moderate: 0.35,
            high: 0.55,
            severe: 0.75,
            speed_weight: 0.6,
            density_weight: 0.4,
            lane_capacity_per_window: 8.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ThresholdError {
    #[error("moderate must be > 0, got {0}")]
    Moderate(f64),
    #[error("high must be greater than moderate ({moderate}), got {high}")]
    High { moderate: f64, high: f64 },
    #[error("severe must be greater than high ({high}) and at most 1, got {severe}")]
    Severe { high: f64, severe: f64 },
    #[error("speed_weight must be finite and >= 0, got {0}")]
    SpeedWeight(f64),
    #[error("density_weight must be finite and >= 0, got {0}")]
    DensityWeight(f64),
    #[error("speed_weight + density_weight must be positive")]
    WeightSum,
    #[error("lane_capacity_per_window must be finite and > 0, got {0}")]
    LaneCapacity(f64),
}

impl Thresholds {
    /// Rejects configurations that would make levels unreachable or the
    /// score meaningless; comparisons are written so NaN fails them.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        let moderate_ok = self.moderate > 0.0;
        if !moderate_ok {
            return Err(ThresholdError::Moderate(self.moderate));
        }
        let high_ok = self.high > self.moderate;
        if !high_ok {
            return Err(ThresholdError::High {
                moderate: self.moderate,
                high: self.high,
            });
        }
        let severe_ok = self.severe > self.high && self.severe <= 1.0;
        if !severe_ok {
            return Err(ThresholdError::Severe {
                high: self.high,
                severe: self.severe,
            });
        }
        if !is_non_negative(self.speed_weight) {
            return Err(ThresholdError::SpeedWeight(self.speed_weight));
        }
        if !is_non_negative(self.density_weight) {
            return Err(ThresholdError::DensityWeight(self.density_weight));
        }
        let weights_ok = self.speed_weight + self.density_weight > 0.0;
        if !weights_ok {
            return Err(ThresholdError::WeightSum);
        }
        let capacity_ok =
            self.lane_capacity_per_window.is_finite() && self.lane_capacity_per_window > 0.0;
        if !capacity_ok {
            return Err(ThresholdError::LaneCapacity(self.lane_capacity_per_window));
        }
        Ok(())
    }
}

/// Score in `[0, 1]`: a weighted mix of a speed term (`1 - avg/free_flow`)
/// and a density term (`vehicle_count / (lanes * lane_capacity_per_window)`),
/// each clamped to `[0, 1]`. With no usable speed (unknown, non-finite, or
/// `free_flow_kmh <= 0`) the density term alone decides. `lanes == 0` counts
/// as one lane. Never NaN, even for invalid thresholds.
pub fn congestion_score(
    vehicle_count: u64,
    avg_speed_kmh: Option<f64>,
    free_flow_kmh: f64,
    lanes: u32,
    t: &Thresholds,
) -> f64 {
    let capacity = f64::from(lanes.max(1)) * t.lane_capacity_per_window;
    let density = unit_interval(vehicle_count as f64 / capacity);
    let speed_term = match avg_speed_kmh {
        Some(avg) if avg.is_finite() && free_flow_kmh.is_finite() && free_flow_kmh > 0.0 => {
            unit_interval(1.0 - avg / free_flow_kmh)
        }
        _ => return density,
    };
    let weight_sum = t.speed_weight + t.density_weight;
    let weights_usable = weight_sum.is_finite() && weight_sum > 0.0;
    if !weights_usable {
        return density;
    }
    unit_interval((t.speed_weight * speed_term + t.density_weight * density) / weight_sum)
}

/// Maps a score to a level; a score exactly at a threshold takes the higher level.
pub fn classify(score: f64, t: &Thresholds) -> CongestionLevel {
    if score >= t.severe {
        CongestionLevel::Severe
    } else if score >= t.high {
        CongestionLevel::High
    } else if score >= t.moderate {
        CongestionLevel::Moderate
    } else {
        CongestionLevel::Low
    }
}

fn is_non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn unit_interval(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t() -> Thresholds {
        Thresholds::default()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(t().validate(), Ok(()));
    }

    #[test]
    fn exactly_at_threshold_gives_higher_level() {
        let t = t();
        assert_eq!(classify(0.0, &t), CongestionLevel::Low);
        assert_eq!(classify(0.349_999, &t), CongestionLevel::Low);
        assert_eq!(classify(0.35, &t), CongestionLevel::Moderate);
        assert_eq!(classify(0.549_999, &t), CongestionLevel::Moderate);
        assert_eq!(classify(0.55, &t), CongestionLevel::High);
        assert_eq!(classify(0.749_999, &t), CongestionLevel::High);
        assert_eq!(classify(0.75, &t), CongestionLevel::Severe);
        assert_eq!(classify(1.0, &t), CongestionLevel::Severe);
        assert_eq!(classify(f64::NAN, &t), CongestionLevel::Low);
    }

    #[test]
    fn empty_window_is_low() {
        let score = congestion_score(0, None, 50.0, 2, &t());
        assert_eq!(score, 0.0);
        assert_eq!(classify(score, &t()), CongestionLevel::Low);
    }

    #[test]
    fn stopped_dense_traffic_is_severe() {
        let score = congestion_score(20, Some(0.0), 50.0, 2, &t());
        assert_eq!(score, 1.0);
        assert_eq!(classify(score, &t()), CongestionLevel::Severe);
    }

    #[test]
    fn fast_sparse_traffic_is_low() {
        let score = congestion_score(2, Some(55.0), 50.0, 2, &t());
        assert!((score - 0.4 * 2.0 / 16.0).abs() < 1e-12);
        assert_eq!(classify(score, &t()), CongestionLevel::Low);
    }

    #[test]
    fn speed_and_density_are_weighted() {
        // Half free-flow speed, half capacity: 0.6 * 0.5 + 0.4 * 0.5.
        let score = congestion_score(8, Some(25.0), 50.0, 2, &t());
        assert!((score - 0.5).abs() < 1e-12);
        assert_eq!(classify(score, &t()), CongestionLevel::Moderate);
    }

    #[test]
    fn unknown_speed_uses_density_alone() {
        let half = 0.5;
        assert_eq!(congestion_score(8, None, 50.0, 2, &t()), half);
        assert_eq!(congestion_score(8, Some(f64::NAN), 50.0, 2, &t()), half);
        assert_eq!(congestion_score(8, Some(10.0), 0.0, 2, &t()), half);
        assert_eq!(congestion_score(8, Some(10.0), -5.0, 2, &t()), half);
    }

    #[test]
    fn zero_lanes_count_as_one() {
        assert_eq!(
            congestion_score(4, None, 50.0, 0, &t()),
            congestion_score(4, None, 50.0, 1, &t())
        );
    }

    #[test]
    fn validate_names_the_offending_field() {
        let bad = |f: fn(&mut Thresholds)| {
            let mut t = Thresholds::default();
            f(&mut t);
            t.validate()
        };
        assert!(matches!(
            bad(|t| t.moderate = 0.0),
            Err(ThresholdError::Moderate(_))
        ));
        assert!(matches!(
            bad(|t| t.moderate = f64::NAN),
            Err(ThresholdError::Moderate(_))
        ));
        assert!(matches!(
            bad(|t| t.high = 0.35),
            Err(ThresholdError::High { .. })
        ));
        assert!(matches!(
            bad(|t| t.severe = 0.5),
            Err(ThresholdError::Severe { .. })
        ));
        assert!(matches!(
            bad(|t| t.severe = 1.01),
            Err(ThresholdError::Severe { .. })
        ));
        assert_eq!(bad(|t| t.severe = 1.0), Ok(()));
        assert!(matches!(
            bad(|t| t.speed_weight = -0.1),
            Err(ThresholdError::SpeedWeight(_))
        ));
        assert!(matches!(
            bad(|t| t.density_weight = f64::INFINITY),
            Err(ThresholdError::DensityWeight(_))
        ));
        assert_eq!(
            bad(|t| {
                t.speed_weight = 0.0;
                t.density_weight = 0.0;
            }),
            Err(ThresholdError::WeightSum)
        );
        assert!(matches!(
            bad(|t| t.lane_capacity_per_window = 0.0),
            Err(ThresholdError::LaneCapacity(_))
        ));
        let message = bad(|t| t.lane_capacity_per_window = -1.0)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(message.contains("lane_capacity_per_window"), "{message}");
    }

    #[test]
    fn level_strings_roundtrip() {
        for level in CongestionLevel::ALL {
            assert_eq!(level.as_str().parse::<CongestionLevel>(), Ok(level));
            assert_eq!(
                level.as_str().to_lowercase().parse::<CongestionLevel>(),
                Ok(level)
            );
        }
        assert!("jammed".parse::<CongestionLevel>().is_err());
        assert!(CongestionLevel::Low < CongestionLevel::Severe);
        assert!(!CongestionLevel::Moderate.is_alerting());
        assert!(CongestionLevel::High.is_alerting());
        assert!(CongestionLevel::Severe.is_alerting());
    }

    #[test]
    fn serde_uses_upper_case_names() -> Result<(), serde_json::Error> {
        assert_eq!(
            serde_json::to_string(&CongestionLevel::Severe)?,
            "\"SEVERE\""
        );
        let partial: Thresholds = serde_json::from_str(r#"{"high":0.6}"#)?;
        assert_eq!(partial.high, 0.6);
        assert_eq!(partial.severe, Thresholds::default().severe);
        Ok(())
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e6f64..1e6,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            proptest::num::f64::ANY,
        ]
    }

    proptest! {
        #[test]
        fn score_is_finite_and_within_unit_interval(
            count in any::<u64>(),
            speed in proptest::option::of(any_f64()),
            free_flow in any_f64(),
            lanes in any::<u32>(),
        ) {
            let score = congestion_score(count, speed, free_flow, lanes, &Thresholds::default());
            prop_assert!(score.is_finite());
            prop_assert!((0.0..=1.0).contains(&score));
        }

        #[test]
        fn score_stays_in_range_with_any_thresholds(
            count in any::<u64>(),
            speed in proptest::option::of(any_f64()),
            free_flow in any_f64(),
            lanes in any::<u32>(),
            speed_weight in any_f64(),
            density_weight in any_f64(),
            capacity in any_f64(),
        ) {
            let t = Thresholds {
                speed_weight,
                density_weight,
                lane_capacity_per_window: capacity,
                ..Thresholds::default()
            };
            let score = congestion_score(count, speed, free_flow, lanes, &t);
            prop_assert!(score.is_finite());
            prop_assert!((0.0..=1.0).contains(&score));
        }

        #[test]
        fn classify_is_monotonic(a in any_f64(), b in any_f64()) {
            let t = Thresholds::default();
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            if !lo.is_nan() && !hi.is_nan() {
                prop_assert!(classify(lo, &t) <= classify(hi, &t));
            }
        }
    }
}

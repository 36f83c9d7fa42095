//! Congestion levels and the thresholds that map a score to them.
//!
//! Thresholds are run-time configuration rather than constants so operators can tune them per
//! deployment without a rebuild. [`Thresholds::validate`] is the one statement of what a valid
//! set is: the admin API answers its errors as 422s, the pipeline refuses a configuration that
//! fails it, and the `congestion_thresholds` table's CHECK constraints are tested against it.

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

    /// Levels an alert can have.
    pub const ALERTING: [CongestionLevel; 2] = [CongestionLevel::High, CongestionLevel::Severe];

    /// The level names as an SQL list, `'LOW', 'MODERATE', 'HIGH', 'SEVERE'` (the schema's
    /// CHECK on `traffic_metrics.congestion_level` is tested to be exactly this).
    pub fn sql_list(levels: &[CongestionLevel]) -> String {
        levels
            .iter()
            .map(|l| format!("'{}'", l.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
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
    #[error("moderate must be finite and > 0, got {0}")]
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

impl ThresholdError {
    /// The field a client should correct.
    pub fn field(&self) -> &'static str {
        match self {
            ThresholdError::Moderate(_) => "moderate",
            ThresholdError::High { .. } => "high",
            ThresholdError::Severe { .. } => "severe",
            ThresholdError::SpeedWeight(_) | ThresholdError::WeightSum => "speed_weight",
            ThresholdError::DensityWeight(_) => "density_weight",
            ThresholdError::LaneCapacity(_) => "lane_capacity_per_window",
        }
    }
}

impl Thresholds {
    /// Rejects configurations that would make levels unreachable or the
    /// score meaningless; comparisons are written so NaN fails them.
    pub fn validate(&self) -> Result<(), ThresholdError> {
        let moderate_ok = self.moderate > 0.0 && self.moderate.is_finite();
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

fn is_non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Thresholds::default().validate(), Ok(()));
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
        let error = bad(|t| t.lane_capacity_per_window = -1.0).err();
        let message = error.as_ref().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("lane_capacity_per_window"), "{message}");
        assert_eq!(error.map(|e| e.field()), Some("lane_capacity_per_window"));
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
        assert!(CongestionLevel::ALERTING.iter().all(|l| l.is_alerting()));
        assert_eq!(
            CongestionLevel::sql_list(&CongestionLevel::ALL),
            "'LOW', 'MODERATE', 'HIGH', 'SEVERE'"
        );
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
}

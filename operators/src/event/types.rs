//! What decoding yields: a validated [`Detection`] and, for whatever is refused, a
//! [`DecodeError`] naming the [`DropReason`] and the field.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Vehicle categories the metrics are broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleClass {
    Car,
    Truck,
    Bus,
    Motorcycle,
    Bicycle,
    Other,
}

impl VehicleClass {
    pub const ALL: [VehicleClass; 6] = [
        VehicleClass::Car,
        VehicleClass::Truck,
        VehicleClass::Bus,
        VehicleClass::Motorcycle,
        VehicleClass::Bicycle,
        VehicleClass::Other,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            VehicleClass::Car => "car",
            VehicleClass::Truck => "truck",
            VehicleClass::Bus => "bus",
            VehicleClass::Motorcycle => "motorcycle",
            VehicleClass::Bicycle => "bicycle",
            VehicleClass::Other => "other",
        }
    }

    /// Labels outside the known set are not an error: detectors evolve
    /// faster than dashboards, so unknown labels are counted as `Other`.
    pub fn from_label(label: &str) -> VehicleClass {
        let label = label.trim();
        Self::ALL
            .into_iter()
            .find(|class| {
                *class != VehicleClass::Other && label.eq_ignore_ascii_case(class.as_str())
            })
            .unwrap_or(VehicleClass::Other)
    }
}

impl fmt::Display for VehicleClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bounding box in image pixels, origin at the top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl BBox {
    /// Tracking by centroid is steadier than by corner when the box
    /// grows or shrinks as the vehicle approaches the camera.
    pub fn centroid(&self) -> (f64, f64) {
        (self.x + self.w / 2.0, self.y + self.h / 2.0)
    }
}

/// One validated vehicle detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub camera_id: String,
    /// Event time, epoch milliseconds UTC.
    pub ts_ms: i64,
    pub frame_id: i64,
    pub vehicle_id: String,
    /// Label as sent (trimmed), kept so unknown labels stay visible.
    pub class: String,
    pub kind: VehicleClass,
    pub confidence: f64,
    pub bbox: BBox,
    pub lane_id: Option<String>,
    pub speed_kmh: Option<f64>,
}

/// Why a detection did not make it into the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    MalformedJson,
    MissingField,
    InvalidValue,
    /// Arrived after its window was closed; assigned by the windowing stage.
    Late,
    /// Event time too far ahead of or behind ingest time; it never moves a watermark.
    TimeOutOfRange,
    /// Refused by PostgreSQL with a data error; kept in the `quarantine` table.
    Quarantined,
}

impl DropReason {
    pub const ALL: [DropReason; 6] = [
        DropReason::MalformedJson,
        DropReason::MissingField,
        DropReason::InvalidValue,
        DropReason::Late,
        DropReason::TimeOutOfRange,
        DropReason::Quarantined,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::MalformedJson => "malformed_json",
            DropReason::MissingField => "missing_field",
            DropReason::InvalidValue => "invalid_value",
            DropReason::Late => "late",
            DropReason::TimeOutOfRange => "time_out_of_range",
            DropReason::Quarantined => "quarantined",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct DecodeError {
    pub reason: DropReason,
    /// Names the offending field so producers can fix their output.
    pub detail: String,
}

impl DecodeError {
    pub(super) fn new(reason: DropReason, detail: impl Into<String>) -> Self {
        DecodeError {
            reason,
            detail: detail.into(),
        }
    }

    pub(super) fn missing(field: &str) -> Self {
        Self::new(DropReason::MissingField, format!("{field} is required"))
    }

    pub(super) fn invalid(detail: impl Into<String>) -> Self {
        Self::new(DropReason::InvalidValue, detail)
    }

    /// PostgreSQL `text` cannot hold U+0000 and `jsonb` refuses `\u0000`, so such a field
    /// could never be stored: it is refused here, not by the database at commit.
    pub(super) fn nul(field: &str) -> Self {
        Self::invalid(format!("{field} must not contain NUL characters"))
    }
}

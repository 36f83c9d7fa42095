//! The canonical single-detection form, for the sink's dead letters and quarantine rows and
//! for tests that build Kafka messages.

use chrono::{DateTime, SecondsFormat};
use serde::Serialize;

use super::decode::{MAX_TS_MS, MIN_TS_MS};
use super::types::{BBox, Detection};

/// Serializes a detection to the canonical single-detection JSON
/// (RFC 3339 timestamp with millis and `Z`, bbox object), so that
/// `decode(encode(d)) == d`.
pub fn encode_detection(d: &Detection) -> String {
    let timestamp = match DateTime::from_timestamp_millis(d.ts_ms) {
        Some(ts) if (MIN_TS_MS..=MAX_TS_MS).contains(&d.ts_ms) => {
            WireTimestamp::Text(ts.to_rfc3339_opts(SecondsFormat::Millis, true))
        }
        // Outside the years RFC 3339 can spell, epoch millis still carry the value.
        _ => WireTimestamp::Millis(d.ts_ms),
    };
    let wire = WireDetection {
        camera_id: &d.camera_id,
        timestamp,
        frame_id: d.frame_id,
        vehicle_id: &d.vehicle_id,
        class: &d.class,
        confidence: d.confidence,
        bbox: &d.bbox,
        lane_id: d.lane_id.as_deref(),
        speed_kmh: d.speed_kmh,
    };
    serde_json::to_string(&wire).expect("a struct of strings and numbers always serializes")
}

#[derive(Serialize)]
struct WireDetection<'a> {
    camera_id: &'a str,
    timestamp: WireTimestamp,
    frame_id: i64,
    vehicle_id: &'a str,
    class: &'a str,
    confidence: f64,
    bbox: &'a BBox,
    lane_id: Option<&'a str>,
    speed_kmh: Option<f64>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum WireTimestamp {
    Text(String),
    Millis(i64),
}

//! B1 wire format: turns simulated frames into the JSON the cameras send.
//!
//! The field order and the difference between an absent field and a null
//! one follow the B1 contract: without lane support the camera omits
//! `lane_id`, with it an unclassified vehicle has `"lane_id": null`; with
//! speed estimation off `speed_kmh` is omitted entirely.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::camera::{Detection, Frame};
use super::{camera_id, MessageKind, Truth};

/// What the camera's options let it report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WireOptions {
    pub(crate) with_lanes: bool,
    pub(crate) with_speed: bool,
}

#[derive(Serialize)]
struct WireBBox {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

#[derive(Serialize)]
struct WireDetection<'a> {
    vehicle_id: &'a str,
    class: &'static str,
    confidence: f64,
    bbox: WireBBox,
    /// Outer `None`: field absent; inner `None`: explicit null.
    #[serde(skip_serializing_if = "Option::is_none")]
    lane_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed_kmh: Option<f64>,
}

#[derive(Serialize)]
struct WireSingle<'a> {
    camera_id: &'a str,
    timestamp: &'a str,
    frame_id: u64,
    #[serde(flatten)]
    detection: WireDetection<'a>,
}

#[derive(Serialize)]
struct WireFrame<'a> {
    camera_id: &'a str,
    timestamp: &'a str,
    frame_id: u64,
    detections: Vec<WireDetection<'a>>,
}

/// An encoded message before any corruption.
pub(crate) struct Encoded {
    pub(crate) payload: Vec<u8>,
    pub(crate) kind: MessageKind,
    pub(crate) truths: Vec<Truth>,
}

/// RFC 3339 UTC with milliseconds, as B1 cameras stamp frames.
pub fn format_timestamp(ts_ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ts_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn wire(d: &Detection, opts: WireOptions) -> WireDetection<'_> {
    WireDetection {
        vehicle_id: &d.vehicle_id,
        class: d.class.as_str(),
        confidence: d.confidence,
        bbox: WireBBox {
            x: d.bbox[0],
            y: d.bbox[1],
            w: d.bbox[2],
            h: d.bbox[3],
        },
        lane_id: opts
            .with_lanes
            .then(|| d.seen_lane.map(|lane| lane.to_string())),
        speed_kmh: opts.with_speed.then_some(d.measured_speed_kmh),
    }
}

fn truth(d: &Detection, opts: WireOptions) -> Truth {
    Truth {
        vehicle_id: d.vehicle_id.clone(),
        lane_id: if opts.with_lanes {
            d.seen_lane.map(|lane| lane.to_string())
        } else {
            None
        },
        true_lane: d.true_lane,
        true_speed_kmh: d.true_speed_kmh,
    }
}

fn to_bytes<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs of strings and finite numbers cannot fail;
    // an empty payload would surface downstream as a parse error anyway.
    serde_json::to_vec(value).unwrap_or_default()
}

/// One message per detection.
pub(crate) fn encode_detections(frame: &Frame, opts: WireOptions) -> Vec<Encoded> {
    let cam = camera_id(frame.camera);
    let timestamp = format_timestamp(frame.ts_ms);
    frame
        .detections
        .iter()
        .map(|d| Encoded {
            payload: to_bytes(&WireSingle {
                camera_id: &cam,
                timestamp: &timestamp,
                frame_id: frame.frame_id,
                detection: wire(d, opts),
            }),
            kind: MessageKind::Detection,
            truths: vec![truth(d, opts)],
        })
        .collect()
}

/// One envelope per frame; frames with nothing in view are not sent.
pub(crate) fn encode_frame(frame: &Frame, opts: WireOptions) -> Option<Encoded> {
    if frame.detections.is_empty() {
        return None;
    }
    let cam = camera_id(frame.camera);
    let timestamp = format_timestamp(frame.ts_ms);
    Some(Encoded {
        payload: to_bytes(&WireFrame {
            camera_id: &cam,
            timestamp: &timestamp,
            frame_id: frame.frame_id,
            detections: frame.detections.iter().map(|d| wire(d, opts)).collect(),
        }),
        kind: MessageKind::Frame,
        truths: frame.detections.iter().map(|d| truth(d, opts)).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::road::VehicleClass;

    fn frame() -> Frame {
        Frame {
            camera: 0,
            ts_ms: 1_795_766_400_100,
            frame_id: 123,
            detections: vec![Detection {
                vehicle_id: "cam_01-v42".into(),
                class: VehicleClass::Car,
                confidence: 0.91,
                bbox: [100.0, 200.0, 80.0, 60.0],
                true_lane: 1,
                seen_lane: Some(1),
                true_speed_kmh: 48.0,
                measured_speed_kmh: 48.2,
            }],
        }
    }

    #[test]
    fn detection_matches_the_contract_example() {
        let opts = WireOptions {
            with_lanes: true,
            with_speed: true,
        };
        let out = encode_detections(&frame(), opts);
        let text = String::from_utf8(out[0].payload.clone()).expect("utf-8");
        assert_eq!(
            text,
            r#"{"camera_id":"cam_01","timestamp":"2026-11-27T08:00:00.100Z","frame_id":123,"vehicle_id":"cam_01-v42","class":"car","confidence":0.91,"bbox":{"x":100.0,"y":200.0,"w":80.0,"h":60.0},"lane_id":"1","speed_kmh":48.2}"#
        );
    }

    #[test]
    fn unseen_lane_is_null_and_disabled_lane_is_absent() {
        let mut f = frame();
        f.detections[0].seen_lane = None;
        let with = encode_detections(
            &f,
            WireOptions {
                with_lanes: true,
                with_speed: false,
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&with[0].payload).expect("json");
        assert!(v["lane_id"].is_null() && v.get("lane_id").is_some());
        assert!(v.get("speed_kmh").is_none());
        let without = encode_detections(
            &f,
            WireOptions {
                with_lanes: false,
                with_speed: true,
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&without[0].payload).expect("json");
        assert!(v.get("lane_id").is_none());
    }
}

//! Broken messages, as real edge devices produce them: cut off by a
//! network hiccup, overwritten with noise, sent by an old firmware missing
//! a field, or carrying values no detector could produce.
//!
//! Each broken message is derived from a real one, so it keeps the same
//! key, camera and time and only its content is wrong: the pipeline must
//! reject it on content alone. Every variant is invalid under the B1
//! contract whatever the consumer's parsing strategy (a consumer that
//! rejects single detections inside an envelope still loses all of them).

use rand::{Rng, RngExt};
use serde_json::Value;

const SINGLE_REQUIRED: [&str; 6] = [
    "camera_id",
    "timestamp",
    "vehicle_id",
    "class",
    "confidence",
    "bbox",
];
const FRAME_REQUIRED: [&str; 3] = ["camera_id", "timestamp", "detections"];
const BAD_TIMESTAMPS: [&str; 4] = [
    "2026-13-45T25:61:00Z",
    "not-a-timestamp",
    "",
    "27/11/2026 08:00:00",
];

/// Returns a malformed variant of a valid payload.
pub(crate) fn corrupt(payload: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let parsed: Option<Value> = serde_json::from_slice(payload).ok();
    match (rng.random_range(0..6u32), parsed) {
        (1, _) => garbage(rng),
        (2, Some(mut v)) => {
            drop_required_field(&mut v, rng);
            to_bytes(&v)
        }
        (3, Some(mut v)) => {
            for d in detections_mut(&mut v) {
                d["confidence"] = Value::from(3.0);
            }
            to_bytes(&v)
        }
        (4, Some(mut v)) => {
            for d in detections_mut(&mut v) {
                let w = d["bbox"]["w"].as_f64().unwrap_or(80.0);
                d["bbox"]["w"] = Value::from(-w);
            }
            to_bytes(&v)
        }
        (5, Some(mut v)) => {
            let ts = BAD_TIMESTAMPS[rng.random_range(0..BAD_TIMESTAMPS.len())];
            v["timestamp"] = Value::from(ts);
            to_bytes(&v)
        }
        _ => truncated(payload, rng),
    }
}

/// Any strict prefix of a JSON object is invalid JSON.
fn truncated(payload: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    if payload.len() < 2 {
        return b"{".to_vec();
    }
    payload[..rng.random_range(1..payload.len())].to_vec()
}

/// Random bytes starting with a byte that is never valid UTF-8; newlines
/// are avoided so the message still fits on one JSON Lines line.
fn garbage(rng: &mut impl Rng) -> Vec<u8> {
    let len = rng.random_range(8..64usize);
    let mut out = Vec::with_capacity(len);
    out.push(0xFF);
    while out.len() < len {
        let b: u8 = rng.random();
        if b != b'\n' && b != b'\r' {
            out.push(b);
        }
    }
    out
}

fn is_frame(v: &Value) -> bool {
    v.get("detections").is_some()
}

fn drop_required_field(v: &mut Value, rng: &mut impl Rng) {
    let fields: &[&str] = if is_frame(v) {
        &FRAME_REQUIRED
    } else {
        &SINGLE_REQUIRED
    };
    let field = fields[rng.random_range(0..fields.len())];
    if let Some(obj) = v.as_object_mut() {
        obj.remove(field);
    }
}

/// The detection objects of a message: the message itself for a single
/// detection, every element of `detections` for an envelope.
fn detections_mut(v: &mut Value) -> Vec<&mut Value> {
    if is_frame(v) {
        match v.get_mut("detections") {
            Some(Value::Array(items)) => items.iter_mut().collect(),
            _ => Vec::new(),
        }
    } else {
        vec![v]
    }
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const SINGLE: &str = r#"{"camera_id":"cam_01","timestamp":"2026-11-27T08:00:00.100Z","frame_id":1,"vehicle_id":"cam_01-v1","class":"car","confidence":0.9,"bbox":{"x":1.0,"y":2.0,"w":80.0,"h":30.0}}"#;

    const FRAME: &str = r#"{"camera_id":"cam_01","timestamp":"2026-11-27T08:00:00.100Z","frame_id":1,"detections":[{"vehicle_id":"cam_01-v1","class":"car","confidence":0.9,"bbox":{"x":1.0,"y":2.0,"w":80.0,"h":30.0}},{"vehicle_id":"cam_01-v2","class":"bus","confidence":0.8,"bbox":{"x":5.0,"y":2.0,"w":240.0,"h":50.0}}]}"#;

    /// A minimal strict B1 validator, enough to tell the variants apart
    /// from valid messages.
    fn valid_detection(d: &Value) -> bool {
        let conf = d["confidence"].as_f64().unwrap_or(-1.0);
        let w = d["bbox"]["w"].as_f64().unwrap_or(-1.0);
        d["vehicle_id"].is_string()
            && d["class"].is_string()
            && (0.0..=1.0).contains(&conf)
            && w > 0.0
    }

    fn valid(payload: &[u8]) -> bool {
        let Ok(v) = serde_json::from_slice::<Value>(payload) else {
            return false;
        };
        let ts_ok = v["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok());
        let cam_ok = v["camera_id"].is_string();
        let dets_ok = match v.get("detections") {
            Some(Value::Array(items)) => items.iter().all(valid_detection),
            Some(_) => false,
            None => valid_detection(&v),
        };
        ts_ok && cam_ok && dets_ok
    }

    #[test]
    fn every_variant_is_invalid() {
        assert!(valid(SINGLE.as_bytes()));
        assert!(valid(FRAME.as_bytes()));
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..500 {
            for payload in [SINGLE.as_bytes(), FRAME.as_bytes()] {
                let bad = corrupt(payload, &mut rng);
                assert!(!valid(&bad), "{}", String::from_utf8_lossy(&bad));
                assert!(!bad.contains(&b'\n'));
            }
        }
    }
}

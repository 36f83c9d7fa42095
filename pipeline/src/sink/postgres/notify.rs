//! NOTIFY payloads bounded by construction. PostgreSQL refuses a payload of 8000 bytes or more,
//! and refuses it at COMMIT time for the whole transaction: a window with many lanes, or an alert
//! on a camera with a long road-segment name, would otherwise halt every commit after it.
//! Listeners only need the keys that identify what changed (they read the rows back), so what
//! does not fit is dropped, and the payload says so.

use serde_json::{Map, Value};

/// Well under PostgreSQL's limit of 8000 bytes, whatever the payload holds.
pub const MAX_NOTIFY_BYTES: usize = 7_000;
/// Longest text value kept whole in a payload that was too large.
const MAX_TEXT_BYTES: usize = 256;
/// What a listener needs to find the rows again; always kept.
const IDENTITY_KEYS: [&str; 6] = [
    "event",
    "alert_id",
    "camera_id",
    "window_start",
    "window_end",
    "at",
];

/// The payload as text, at most [`MAX_NOTIFY_BYTES`] long.
pub fn bounded(value: Value) -> String {
    let text = value.to_string();
    if text.len() <= MAX_NOTIFY_BYTES {
        return text;
    }
    let Value::Object(mut fields) = value else {
        return "{\"truncated\":true}".to_owned();
    };
    fields.insert("truncated".into(), Value::Bool(true));
    if let Some(Value::Array(lanes)) = fields.remove("lanes") {
        fields.insert("lanes_total".into(), Value::from(lanes.len()));
        let mut kept = Vec::new();
        let mut size = Value::Object(fields.clone()).to_string().len() + ",\"lanes\":[]".len();
        for lane in lanes {
            let cost = lane.to_string().len() + 1;
            if size + cost > MAX_NOTIFY_BYTES {
                break;
            }
            size += cost;
            kept.push(lane);
        }
        fields.insert("lanes".into(), Value::Array(kept));
    }
    for value in fields.values_mut() {
        if let Value::String(s) = value {
            truncate_text(s, MAX_TEXT_BYTES);
        }
    }
    let text = Value::Object(fields.clone()).to_string();
    if text.len() <= MAX_NOTIFY_BYTES {
        return text;
    }
    let mut identity = Map::new();
    for key in IDENTITY_KEYS {
        if let Some(v) = fields.remove(key) {
            identity.insert(key.into(), v);
        }
    }
    identity.insert("truncated".into(), Value::Bool(true));
    Value::Object(identity).to_string()
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut.
fn truncate_text(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_payloads_pass_unchanged() {
        let value = json!({"camera_id": "cam_1", "lanes": ["1", "2"]});
        assert_eq!(bounded(value.clone()), value.to_string());
    }

    #[test]
    fn ten_thousand_long_lanes_stay_under_the_limit() {
        let lanes: Vec<String> = (0..10_000).map(|i| format!("{i:0>64}")).collect();
        let text = bounded(json!({
            "camera_id": "cam_1",
            "window_start": "2026-11-29T10:00:00.000Z",
            "vehicle_count": 3,
            "lanes": lanes,
        }));
        assert!(text.len() <= MAX_NOTIFY_BYTES, "{} bytes", text.len());
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back["camera_id"], "cam_1");
        assert_eq!(back["window_start"], "2026-11-29T10:00:00.000Z");
        assert_eq!(back["lanes_total"], 10_000);
        assert_eq!(back["truncated"], true);
        assert!(!back["lanes"].as_array().expect("lanes").is_empty());
    }

    #[test]
    fn long_multibyte_text_is_cut_on_a_char_boundary() {
        let segment = "é".repeat(20_000);
        let text = bounded(json!({"event": "opened", "alert_id": 7, "road_segment": segment}));
        assert!(text.len() <= MAX_NOTIFY_BYTES);
        let back: Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back["alert_id"], 7);
        assert!(back["road_segment"].as_str().expect("text").ends_with('…'));
    }

    #[test]
    fn many_large_fields_fall_back_to_identity() {
        let mut fields = Map::new();
        fields.insert("camera_id".into(), json!("cam_1"));
        for i in 0..100 {
            fields.insert(format!("extra_{i}"), json!("x".repeat(1_000)));
        }
        let text = bounded(Value::Object(fields));
        assert!(text.len() <= MAX_NOTIFY_BYTES);
        assert_eq!(text, r#"{"camera_id":"cam_1","truncated":true}"#);
    }

    #[test]
    fn exactly_at_the_limit_is_kept() {
        let filler = MAX_NOTIFY_BYTES - r#"{"camera_id":""}"#.len();
        let value = json!({"camera_id": "c".repeat(filler)});
        assert_eq!(bounded(value.clone()).len(), MAX_NOTIFY_BYTES);
        let over = json!({"camera_id": "c".repeat(filler + 1)});
        assert!(bounded(over).len() <= MAX_NOTIFY_BYTES);
    }
}

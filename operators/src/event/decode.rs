//! Validation: the raw fields of a message become [`Detection`]s, or [`DecodeError`]s naming
//! the field, against bounds chosen so that the sink can store whatever is accepted.

use chrono::DateTime;

use super::types::{DecodeError, Detection, DropReason, VehicleClass};
use super::wire::{parse_message, RawBBox, RawDetections, RawFields, Scalar};

/// Decodes one Kafka message value; valid detections are appended to `out`,
/// each problem to `errors`.
pub fn decode_message(payload: &[u8], out: &mut Vec<Detection>, errors: &mut Vec<DecodeError>) {
    // Checking UTF-8 once up front lets the parser skip it per string.
    let Ok(text) = std::str::from_utf8(payload) else {
        errors.push(DecodeError::new(
            DropReason::MalformedJson,
            "payload is not valid UTF-8",
        ));
        return;
    };
    let message = match parse_message(text) {
        Ok(message) => message,
        Err(err) => {
            errors.push(DecodeError::new(DropReason::MalformedJson, err.to_string()));
            return;
        }
    };
    match message.detections {
        None | Some(RawDetections::Null) => {
            match parse_header(&message.fields)
                .and_then(|header| build_detection(header, &message.fields))
            {
                Ok(detection) => out.push(detection),
                Err(err) => errors.push(err),
            }
        }
        Some(RawDetections::NotArray) => {
            errors.push(DecodeError::invalid("detections must be an array"));
        }
        Some(RawDetections::List(items)) => {
            let header = match parse_header(&message.fields) {
                Ok(header) => header,
                Err(err) => {
                    // A bad header spoils the whole frame: one error, not one per detection.
                    errors.push(err);
                    return;
                }
            };
            out.reserve(items.len());
            for (index, item) in items.iter().enumerate() {
                let result = match &item.0 {
                    Some(fields) => build_detection(header.clone(), fields),
                    None => Err(DecodeError::invalid(format!(
                        "detections[{index}] must be an object"
                    ))),
                };
                match result {
                    Ok(detection) => out.push(detection),
                    Err(err) => errors.push(err),
                }
            }
        }
    }
}

pub(super) const MAX_CAMERA_ID_LEN: usize = 64;
pub(super) const MAX_VEHICLE_ID_CHARS: usize = 128;
pub(super) const MAX_LANE_ID_CHARS: usize = 64;
pub(super) const MAX_CLASS_CHARS: usize = 64;
pub(super) const MAX_SPEED_KMH: f64 = 400.0;
/// 1970-01-01T00:00:00.000Z: traffic cannot predate the epoch.
pub(super) const MIN_TS_MS: i64 = 0;
/// 9999-12-31T23:59:59.999Z: the last instant RFC 3339 can express.
pub(super) const MAX_TS_MS: i64 = 253_402_300_799_999;

#[derive(Clone)]
struct Header {
    camera_id: String,
    ts_ms: i64,
    frame_id: i64,
}

fn parse_header(fields: &RawFields<'_>) -> Result<Header, DecodeError> {
    let camera_id = match required(&fields.camera_id, "camera_id")? {
        Scalar::Str(s) if is_valid_camera_id(s) => s.to_string(),
        Scalar::Str(_) => {
            return Err(DecodeError::invalid(
                "camera_id must be 1..64 chars of [A-Za-z0-9_.:-]",
            ))
        }
        _ => return Err(DecodeError::invalid("camera_id must be a string")),
    };
    let ts_ms = match required(&fields.timestamp, "timestamp")? {
        Scalar::Str(s) => DateTime::parse_from_rfc3339(s)
            .map_err(|_| DecodeError::invalid("timestamp must be an RFC 3339 date-time"))?
            .timestamp_millis(),
        Scalar::Int(ms) => *ms,
        _ => {
            return Err(DecodeError::invalid(
                "timestamp must be an RFC 3339 string or integer epoch milliseconds",
            ))
        }
    };
    if !(MIN_TS_MS..=MAX_TS_MS).contains(&ts_ms) {
        return Err(DecodeError::invalid(
            "timestamp must fall within years 1970..=9999",
        ));
    }
    let frame_id = match required(&fields.frame_id, "frame_id")? {
        Scalar::Int(id) if *id >= 0 => *id,
        _ => return Err(DecodeError::invalid("frame_id must be an integer >= 0")),
    };
    Ok(Header {
        camera_id,
        ts_ms,
        frame_id,
    })
}

fn build_detection(header: Header, fields: &RawFields<'_>) -> Result<Detection, DecodeError> {
    let vehicle_id = match required(&fields.vehicle_id, "vehicle_id")? {
        Scalar::Str(s) if s.is_empty() => {
            return Err(DecodeError::invalid("vehicle_id must not be empty"))
        }
        Scalar::Str(s) if has_nul(s) => return Err(DecodeError::nul("vehicle_id")),
        Scalar::Str(s) if exceeds_chars(s, MAX_VEHICLE_ID_CHARS) => {
            return Err(DecodeError::invalid("vehicle_id must be at most 128 chars"))
        }
        Scalar::Str(s) => s.to_string(),
        Scalar::Int(id) => id.to_string(),
        Scalar::BigUInt(id) => id.to_string(),
        _ => {
            return Err(DecodeError::invalid(
                "vehicle_id must be a string or an integer",
            ))
        }
    };
    let class = match required(&fields.class, "class")? {
        Scalar::Str(s) => match s.trim() {
            "" => return Err(DecodeError::invalid("class must be a non-empty string")),
            label if has_nul(label) => return Err(DecodeError::nul("class")),
            label if exceeds_chars(label, MAX_CLASS_CHARS) => {
                return Err(DecodeError::invalid("class must be at most 64 chars"))
            }
            label => label.to_string(),
        },
        _ => return Err(DecodeError::invalid("class must be a non-empty string")),
    };
    let confidence = match required(&fields.confidence, "confidence")?.as_f64() {
        Some(c) if (0.0..=1.0).contains(&c) => c,
        Some(_) => return Err(DecodeError::invalid("confidence must be within 0..=1")),
        None => return Err(DecodeError::invalid("confidence must be a number")),
    };
    let bbox = match &fields.bbox {
        None | Some(RawBBox::Null) => return Err(DecodeError::missing("bbox")),
        Some(RawBBox::Bad(reason, detail)) => return Err(DecodeError::new(*reason, *detail)),
        Some(RawBBox::Parsed(bbox)) => *bbox,
    };
    let lane_id = match &fields.lane_id {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Str(s)) if has_nul(s) => return Err(DecodeError::nul("lane_id")),
        Some(Scalar::Str(s)) if !s.is_empty() && !exceeds_chars(s, MAX_LANE_ID_CHARS) => {
            Some(s.to_string())
        }
        Some(Scalar::Int(id)) => Some(id.to_string()),
        Some(Scalar::BigUInt(id)) => Some(id.to_string()),
        Some(_) => {
            return Err(DecodeError::invalid(
                "lane_id must be an integer or a string of 1..64 chars",
            ))
        }
    };
    let speed_kmh = match &fields.speed_kmh {
        None | Some(Scalar::Null) => None,
        Some(value) => match value.as_f64() {
            Some(speed) if (0.0..=MAX_SPEED_KMH).contains(&speed) => Some(speed),
            _ => {
                return Err(DecodeError::invalid(
                    "speed_kmh must be a number within 0..=400",
                ))
            }
        },
    };
    Ok(Detection {
        camera_id: header.camera_id,
        ts_ms: header.ts_ms,
        frame_id: header.frame_id,
        vehicle_id,
        kind: VehicleClass::from_label(&class),
        class,
        confidence,
        bbox,
        lane_id,
        speed_kmh,
    })
}

fn required<'s, 'a>(
    value: &'s Option<Scalar<'a>>,
    field: &str,
) -> Result<&'s Scalar<'a>, DecodeError> {
    match value {
        None | Some(Scalar::Null) => Err(DecodeError::missing(field)),
        Some(value) => Ok(value),
    }
}

fn is_valid_camera_id(id: &str) -> bool {
    (1..=MAX_CAMERA_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

pub(super) fn has_nul(s: &str) -> bool {
    s.as_bytes().contains(&0)
}

/// Counts chars only when the byte length says the limit could be exceeded.
fn exceeds_chars(s: &str, max_chars: usize) -> bool {
    s.len() > max_chars && s.chars().count() > max_chars
}

//! Decoding and validation of the detection messages cameras publish to Kafka.
//!
//! A message is either one detection or a frame envelope carrying a list of
//! detections under a shared header. Bad input is never fatal: every problem
//! becomes a [`DecodeError`] so the pipeline can count drops by reason and
//! keep going.
//!
//! Whatever the decoder accepts, the sink can store as is: text fields hold no
//! U+0000 (PostgreSQL's `text` and `jsonb` refuse it) and are bounded in
//! length, numbers are finite and times fall within years 1970..=9999.
//!
//! The decoder runs once per Kafka message, so it walks the JSON with
//! borrowing visitors instead of building a `serde_json::Value` tree, and
//! only allocates the strings a [`Detection`] has to own.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, SecondsFormat};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
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
    fn new(reason: DropReason, detail: impl Into<String>) -> Self {
        DecodeError {
            reason,
            detail: detail.into(),
        }
    }

    fn missing(field: &str) -> Self {
        Self::new(DropReason::MissingField, format!("{field} is required"))
    }

    fn invalid(detail: impl Into<String>) -> Self {
        Self::new(DropReason::InvalidValue, detail)
    }

    /// PostgreSQL `text` cannot hold U+0000 and `jsonb` refuses `\u0000`, so such a field
    /// could never be stored: it is refused here, not by the database at commit.
    fn nul(field: &str) -> Self {
        Self::invalid(format!("{field} must not contain NUL characters"))
    }
}

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

const MAX_CAMERA_ID_LEN: usize = 64;
const MAX_VEHICLE_ID_CHARS: usize = 128;
const MAX_LANE_ID_CHARS: usize = 64;
const MAX_CLASS_CHARS: usize = 64;
const MAX_SPEED_KMH: f64 = 400.0;
/// 1970-01-01T00:00:00.000Z: traffic cannot predate the epoch.
const MIN_TS_MS: i64 = 0;
/// 9999-12-31T23:59:59.999Z: the last instant RFC 3339 can express.
const MAX_TS_MS: i64 = 253_402_300_799_999;

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

fn has_nul(s: &str) -> bool {
    s.as_bytes().contains(&0)
}

/// Counts chars only when the byte length says the limit could be exceeded.
fn exceeds_chars(s: &str, max_chars: usize) -> bool {
    s.len() > max_chars && s.chars().count() > max_chars
}

fn parse_message(text: &str) -> Result<RawMessage<'_>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let message = deserializer.deserialize_map(MessageVisitor)?;
    deserializer.end()?;
    Ok(message)
}

// ---------------------------------------------------------------------------
// Lenient raw layer: these types accept any JSON value so that a type mismatch
// becomes a per-field `invalid_value` instead of failing the whole parse.
// ---------------------------------------------------------------------------

/// A JSON value reduced to what the contract can use; strings stay borrowed
/// from the payload unless they contain escapes.
#[derive(Debug)]
enum Scalar<'a> {
    Null,
    Bool,
    Int(i64),
    /// Integers above `i64::MAX`; still valid as ids.
    BigUInt(u64),
    Float(f64),
    Str(Cow<'a, str>),
    Compound,
}

impl Scalar<'_> {
    fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(v) => Some(*v as f64),
            Scalar::BigUInt(v) => Some(*v as f64),
            Scalar::Float(v) => Some(*v),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(i64::try_from(v).map_or(Scalar::BigUInt(v), Scalar::Int))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Compound)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Compound)
    }
}

/// Fields of a detection or envelope header; `None` means absent.
#[derive(Debug, Default)]
struct RawFields<'a> {
    camera_id: Option<Scalar<'a>>,
    timestamp: Option<Scalar<'a>>,
    frame_id: Option<Scalar<'a>>,
    vehicle_id: Option<Scalar<'a>>,
    class: Option<Scalar<'a>>,
    confidence: Option<Scalar<'a>>,
    bbox: Option<RawBBox>,
    lane_id: Option<Scalar<'a>>,
    speed_kmh: Option<Scalar<'a>>,
}

#[derive(Debug)]
struct RawMessage<'a> {
    fields: RawFields<'a>,
    detections: Option<RawDetections<'a>>,
}

#[derive(Debug)]
enum RawDetections<'a> {
    Null,
    NotArray,
    List(Vec<RawItem<'a>>),
}

/// One element of `detections`; `None` when it is not an object.
#[derive(Debug)]
struct RawItem<'a>(Option<RawFields<'a>>);

/// The bbox is validated while parsing since its shape is self-contained.
#[derive(Debug)]
enum RawBBox {
    Null,
    Parsed(BBox),
    Bad(DropReason, &'static str),
}

enum Key {
    CameraId,
    Timestamp,
    FrameId,
    VehicleId,
    Class,
    Confidence,
    BBox,
    LaneId,
    SpeedKmh,
    Detections,
    Unknown,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(match v {
            "camera_id" => Key::CameraId,
            "timestamp" | "ts" => Key::Timestamp,
            "frame_id" => Key::FrameId,
            "vehicle_id" => Key::VehicleId,
            "class" => Key::Class,
            "confidence" => Key::Confidence,
            "bbox" => Key::BBox,
            "lane_id" => Key::LaneId,
            "speed_kmh" => Key::SpeedKmh,
            "detections" => Key::Detections,
            _ => Key::Unknown,
        })
    }
}

/// Reads a detection object's fields; `detections` is only collected at the
/// top level (inside an envelope it is just another unknown field).
fn read_fields<'de, A: MapAccess<'de>>(
    map: &mut A,
    fields: &mut RawFields<'de>,
    mut detections: Option<&mut Option<RawDetections<'de>>>,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::CameraId => fields.camera_id = Some(map.next_value()?),
            Key::Timestamp => fields.timestamp = Some(map.next_value()?),
            Key::FrameId => fields.frame_id = Some(map.next_value()?),
            Key::VehicleId => fields.vehicle_id = Some(map.next_value()?),
            Key::Class => fields.class = Some(map.next_value()?),
            Key::Confidence => fields.confidence = Some(map.next_value()?),
            Key::BBox => fields.bbox = Some(map.next_value()?),
            Key::LaneId => fields.lane_id = Some(map.next_value()?),
            Key::SpeedKmh => fields.speed_kmh = Some(map.next_value()?),
            Key::Detections => match detections.as_deref_mut() {
                Some(slot) => *slot = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            },
            Key::Unknown => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(())
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = RawMessage<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = RawFields::default();
        let mut detections = None;
        read_fields(&mut map, &mut fields, Some(&mut detections))?;
        Ok(RawMessage { fields, detections })
    }
}

impl<'de> Deserialize<'de> for RawDetections<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DetectionsVisitor)
    }
}

struct DetectionsVisitor;

impl<'de> Visitor<'de> for DetectionsVisitor {
    type Value = RawDetections<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of detections")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawDetections::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawDetections::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawDetections::NotArray)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawDetections::NotArray)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawDetections::NotArray)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawDetections::NotArray)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawDetections::NotArray)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(RawDetections::NotArray)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawDetections::List(items))
    }
}

impl<'de> Deserialize<'de> for RawItem<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ItemVisitor)
    }
}

struct ItemVisitor;

impl<'de> Visitor<'de> for ItemVisitor {
    type Value = RawItem<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a detection object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = RawFields::default();
        read_fields(&mut map, &mut fields, None)?;
        Ok(RawItem(Some(fields)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(RawItem(None))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawItem(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawItem(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawItem(None))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawItem(None))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawItem(None))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawItem(None))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawItem(None))
    }
}

impl<'de> Deserialize<'de> for RawBBox {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BBoxVisitor)
    }
}

const BBOX_SHAPE: &str = "bbox must be an object {x,y,w,h} or an array [x,y,w,h]";
const BBOX_KEYS: [&str; 4] = ["x", "y", "w", "h"];

struct BBoxVisitor;

fn bbox_shape_error() -> RawBBox {
    RawBBox::Bad(DropReason::InvalidValue, BBOX_SHAPE)
}

impl<'de> Visitor<'de> for BBoxVisitor {
    type Value = RawBBox;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(BBOX_SHAPE)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawBBox::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(RawBBox::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(bbox_shape_error())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(bbox_shape_error())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(bbox_shape_error())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(bbox_shape_error())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(bbox_shape_error())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values: [Option<Scalar<'de>>; 4] = [None, None, None, None];
        while let Some(key) = map.next_key::<BBoxKey>()? {
            match key.0 {
                Some(i) => values[i] = Some(map.next_value()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(check_bbox(values))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut values: [Option<Scalar<'de>>; 4] = [None, None, None, None];
        let mut len = 0usize;
        while let Some(value) = seq.next_element::<Scalar<'de>>()? {
            if let Some(slot) = values.get_mut(len) {
                *slot = Some(value);
            }
            len += 1;
        }
        if len != 4 {
            return Ok(RawBBox::Bad(
                DropReason::InvalidValue,
                "bbox array must hold exactly 4 numbers [x,y,w,h]",
            ));
        }
        Ok(check_bbox(values))
    }
}

fn check_bbox(values: [Option<Scalar<'_>>; 4]) -> RawBBox {
    let mut numbers = [0.0f64; 4];
    for (i, value) in values.iter().enumerate() {
        numbers[i] = match value {
            None | Some(Scalar::Null) => {
                return RawBBox::Bad(DropReason::MissingField, BBOX_REQUIRED[i]);
            }
            Some(value) => match value.as_f64() {
                Some(n) if n.is_finite() => n,
                _ => return RawBBox::Bad(DropReason::InvalidValue, BBOX_NOT_NUMBER[i]),
            },
        };
    }
    let [x, y, w, h] = numbers;
    if w <= 0.0 {
        return RawBBox::Bad(DropReason::InvalidValue, "bbox.w must be > 0");
    }
    if h <= 0.0 {
        return RawBBox::Bad(DropReason::InvalidValue, "bbox.h must be > 0");
    }
    RawBBox::Parsed(BBox { x, y, w, h })
}

const BBOX_REQUIRED: [&str; 4] = [
    "bbox.x is required",
    "bbox.y is required",
    "bbox.w is required",
    "bbox.h is required",
];
const BBOX_NOT_NUMBER: [&str; 4] = [
    "bbox.x must be a finite number",
    "bbox.y must be a finite number",
    "bbox.w must be a finite number",
    "bbox.h must be a finite number",
];

/// Position of the key in `[x, y, w, h]`, `None` for unknown keys.
struct BBoxKey(Option<usize>);

impl<'de> Deserialize<'de> for BBoxKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_identifier(BBoxKeyVisitor)
    }
}

struct BBoxKeyVisitor;

impl Visitor<'_> for BBoxKeyVisitor {
    type Value = BBoxKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bbox field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<BBoxKey, E> {
        Ok(BBoxKey(BBOX_KEYS.iter().position(|key| *key == v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SINGLE: &str = r#"{"camera_id":"cam_01","timestamp":"2024-05-01T12:00:00.250Z","frame_id":7,
        "vehicle_id":"v-1","class":"car","confidence":0.91,"bbox":{"x":10,"y":20,"w":30.5,"h":40},
        "lane_id":"L1","speed_kmh":48.5}"#;

    const TS_MS: i64 = 1_714_564_800_250;

    fn decode(payload: &str) -> (Vec<Detection>, Vec<DecodeError>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        decode_message(payload.as_bytes(), &mut out, &mut errors);
        (out, errors)
    }

    fn decode_one(payload: &str) -> Detection {
        let (mut out, errors) = decode(payload);
        assert_eq!(errors, vec![], "payload: {payload}");
        assert_eq!(out.len(), 1, "payload: {payload}");
        out.remove(0)
    }

    fn decode_err(payload: &str) -> DecodeError {
        let (out, mut errors) = decode(payload);
        assert_eq!(out, vec![], "payload: {payload}");
        assert_eq!(errors.len(), 1, "payload: {payload}");
        errors.remove(0)
    }

    /// The single-detection fixture with one field replaced (or removed with `None`).
    fn with_field(field: &str, value: Option<&str>) -> String {
        let mut object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(SINGLE).expect("fixture is valid JSON");
        match value {
            Some(v) => {
                object.insert(field.into(), serde_json::from_str(v).expect("valid JSON"));
            }
            None => {
                object.remove(field);
            }
        }
        serde_json::Value::Object(object).to_string()
    }

    fn sample() -> Detection {
        Detection {
            camera_id: "cam_01".into(),
            ts_ms: TS_MS,
            frame_id: 7,
            vehicle_id: "v-1".into(),
            class: "car".into(),
            kind: VehicleClass::Car,
            confidence: 0.91,
            bbox: BBox {
                x: 10.0,
                y: 20.0,
                w: 30.5,
                h: 40.0,
            },
            lane_id: Some("L1".into()),
            speed_kmh: Some(48.5),
        }
    }

    #[test]
    fn single_detection() {
        assert_eq!(decode_one(SINGLE), sample());
    }

    #[test]
    fn frame_envelope() {
        let payload = r#"{"camera_id":"cam_01","timestamp":1714564800250,"frame_id":7,"detections":[
            {"vehicle_id":"v-1","class":"car","confidence":0.91,"bbox":[10,20,30.5,40],"lane_id":"L1","speed_kmh":48.5},
            {"vehicle_id":42,"class":"Truck","confidence":1,"bbox":{"x":0,"y":0,"w":1,"h":1}}]}"#;
        let (out, errors) = decode(payload);
        assert_eq!(errors, vec![]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], sample());
        assert_eq!(out[1].vehicle_id, "42");
        assert_eq!(out[1].class, "Truck");
        assert_eq!(out[1].kind, VehicleClass::Truck);
        assert_eq!(out[1].camera_id, "cam_01");
        assert_eq!(out[1].ts_ms, TS_MS);
        assert_eq!((out[1].lane_id.clone(), out[1].speed_kmh), (None, None));
    }

    #[test]
    fn empty_frame_is_valid() {
        let (out, errors) = decode(
            r#"{"camera_id":"cam_01","timestamp":"2024-05-01T12:00:00Z","frame_id":1,"detections":[]}"#,
        );
        assert_eq!((out, errors), (vec![], vec![]));
    }

    #[test]
    fn envelope_header_wins_over_inner_fields() {
        let payload = r#"{"detections":[{"camera_id":"other","timestamp":5,"frame_id":99,
            "vehicle_id":"v","class":"bus","confidence":0.5,"bbox":[1,2,3,4]}],
            "camera_id":"cam_01","ts":"2024-05-01T12:00:00.250Z","frame_id":7}"#;
        let d = decode_one(payload);
        assert_eq!(
            (d.camera_id.as_str(), d.ts_ms, d.frame_id),
            ("cam_01", TS_MS, 7)
        );
    }

    #[test]
    fn envelope_keeps_valid_siblings_of_bad_detections() {
        let payload = r#"{"camera_id":"cam_01","timestamp":1714564800250,"frame_id":7,"detections":[
            {"vehicle_id":"a","class":"car","confidence":0.5,"bbox":[1,2,3,4]},
            {"vehicle_id":"b","class":"car","confidence":1.5,"bbox":[1,2,3,4]},
            {"vehicle_id":"c","class":"car","confidence":0.5,"bbox":[1,2,3,4]},
            "not an object",
            {"class":"car","confidence":0.5,"bbox":[1,2,3,4]}]}"#;
        let (out, errors) = decode(payload);
        let ids: Vec<_> = out.iter().map(|d| d.vehicle_id.as_str()).collect();
        assert_eq!(ids, ["a", "c"]);
        let reasons: Vec<_> = errors.iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            [
                DropReason::InvalidValue,
                DropReason::InvalidValue,
                DropReason::MissingField
            ]
        );
        assert_eq!(errors[0].detail, "confidence must be within 0..=1");
        assert_eq!(errors[1].detail, "detections[3] must be an object");
    }

    #[test]
    fn bad_envelope_header_counts_once() {
        let payload = r#"{"camera_id":"bad id!","timestamp":1714564800250,"frame_id":7,"detections":[
            {"vehicle_id":"a","class":"car","confidence":0.5,"bbox":[1,2,3,4]},
            {"vehicle_id":"b","class":"car","confidence":0.5,"bbox":[1,2,3,4]}]}"#;
        let err = decode_err(payload);
        assert_eq!(err.reason, DropReason::InvalidValue);
        assert!(err.detail.starts_with("camera_id"), "{err}");
        let err = decode_err(r#"{"camera_id":"cam","frame_id":1,"detections":[{}, {}]}"#);
        assert_eq!(err.reason, DropReason::MissingField);
        assert_eq!(err.to_string(), "missing_field: timestamp is required");
    }

    #[test]
    fn detections_must_be_an_array() {
        let err = decode_err(
            r#"{"camera_id":"cam","timestamp":0,"frame_id":1,"detections":{"vehicle_id":"a"}}"#,
        );
        assert_eq!(err.reason, DropReason::InvalidValue);
        assert_eq!(err.detail, "detections must be an array");
    }

    #[test]
    fn ts_alias_and_timestamp_forms() {
        let at = |ts: &str| decode_one(&with_field("timestamp", Some(ts))).ts_ms;
        assert_eq!(at("1714564800250"), TS_MS);
        assert_eq!(at(r#""2024-05-01T14:00:00.250+02:00""#), TS_MS);
        assert_eq!(at(r#""2024-05-01T12:00:00.250123Z""#), TS_MS);
        assert_eq!(at(r#""2024-05-01t12:00:00.25z""#), TS_MS);
        let mut object: serde_json::Value = serde_json::from_str(SINGLE).expect("fixture");
        if let Some(map) = object.as_object_mut() {
            let ts = map.remove("timestamp").expect("fixture has timestamp");
            map.insert("ts".into(), ts);
        }
        assert_eq!(decode_one(&object.to_string()).ts_ms, TS_MS);
    }

    #[test]
    fn bbox_object_and_array() {
        let from_array = decode_one(&with_field("bbox", Some("[10, 20, 30.5, 40]")));
        assert_eq!(from_array, sample());
        let with_extra = decode_one(&with_field(
            "bbox",
            Some(r#"{"h":40,"w":30.5,"y":20,"x":10,"unit":"px"}"#),
        ));
        assert_eq!(with_extra.bbox, sample().bbox);
        assert_eq!(sample().bbox.centroid(), (25.25, 40.0));
    }

    #[test]
    fn integer_and_string_ids() {
        let d = decode_one(&with_field("vehicle_id", Some("42")));
        assert_eq!(d.vehicle_id, "42");
        let d = decode_one(&with_field("lane_id", Some("2")));
        assert_eq!(d.lane_id.as_deref(), Some("2"));
        let d = decode_one(&with_field("vehicle_id", Some("18446744073709551615")));
        assert_eq!(d.vehicle_id, "18446744073709551615");
        let d = decode_one(&with_field("vehicle_id", Some(r#""veh\u00e9""#)));
        assert_eq!(d.vehicle_id, "vehé");
    }

    #[test]
    fn null_or_absent_optionals() {
        for value in [Some("null"), None] {
            let d = decode_one(&with_field("lane_id", value));
            assert_eq!(d.lane_id, None);
            let d = decode_one(&with_field("speed_kmh", value));
            assert_eq!(d.speed_kmh, None);
        }
    }

    #[test]
    fn class_labels() {
        let d = decode_one(&with_field("class", Some(r#"" tractor ""#)));
        assert_eq!((d.class.as_str(), d.kind), ("tractor", VehicleClass::Other));
        let d = decode_one(&with_field("class", Some(r#""MotorCycle""#)));
        assert_eq!(
            (d.class.as_str(), d.kind),
            ("MotorCycle", VehicleClass::Motorcycle)
        );
        for class in VehicleClass::ALL {
            assert_eq!(VehicleClass::from_label(class.as_str()), class);
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let payload = with_field(
            "model",
            Some(r#"{"name":"yolo","layers":[1,[2,{"x":null}]]}"#),
        );
        assert_eq!(decode_one(&payload), sample());
    }

    #[test]
    fn malformed_json() {
        for payload in [
            "",
            "{",
            "not json",
            r#"{"camera_id":"cam_01",}"#,
            "[1,2,3]",
            "\"a string\"",
            "42",
            "null",
            r#"{"camera_id":"a"} trailing"#,
        ] {
            let err = decode_err(payload);
            assert_eq!(err.reason, DropReason::MalformedJson, "payload: {payload}");
        }
        let mut out = Vec::new();
        let mut errors = Vec::new();
        decode_message(b"{\"camera_id\":\"\xff\"}", &mut out, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].reason, DropReason::MalformedJson);
    }

    #[test]
    fn missing_fields() {
        for field in [
            "camera_id",
            "timestamp",
            "frame_id",
            "vehicle_id",
            "class",
            "confidence",
            "bbox",
        ] {
            for value in [None, Some("null")] {
                let err = decode_err(&with_field(field, value));
                assert_eq!(err.reason, DropReason::MissingField, "{field}: {err}");
                assert_eq!(err.detail, format!("{field} is required"));
            }
        }
        let err = decode_err(&with_field("bbox", Some(r#"{"x":1,"y":2,"w":3}"#)));
        assert_eq!(err.reason, DropReason::MissingField);
        assert_eq!(err.detail, "bbox.h is required");
    }

    #[test]
    fn invalid_values() {
        let long_id = format!("\"{}\"", "v".repeat(129));
        let long_lane = format!("\"{}\"", "é".repeat(65));
        let long_class = format!("\"{}\"", "c".repeat(65));
        let cases: &[(&str, &str, &str)] = &[
            ("camera_id", "\"\"", "camera_id"),
            ("camera_id", "\"cam 01\"", "camera_id"),
            ("camera_id", &format!("\"{}\"", "c".repeat(65)), "camera_id"),
            ("camera_id", "7", "camera_id"),
            ("timestamp", "\"yesterday\"", "timestamp"),
            ("timestamp", "\"2024-05-01 12:00:00\"", "timestamp"),
            ("timestamp", "1.5e12", "timestamp"),
            ("timestamp", "-1", "timestamp"),
            ("timestamp", "\"10000-01-01T00:00:00Z\"", "timestamp"),
            ("timestamp", "true", "timestamp"),
            ("frame_id", "-1", "frame_id"),
            ("frame_id", "1.5", "frame_id"),
            ("frame_id", "\"7\"", "frame_id"),
            ("vehicle_id", "\"\"", "vehicle_id"),
            ("vehicle_id", &long_id, "vehicle_id"),
            ("vehicle_id", "1.5", "vehicle_id"),
            ("vehicle_id", "[1]", "vehicle_id"),
            ("class", "\"  \"", "class"),
            ("class", "3", "class"),
            ("class", &long_class, "class"),
            ("confidence", "1.0001", "confidence"),
            ("confidence", "-0.1", "confidence"),
            ("confidence", "\"0.5\"", "confidence"),
            ("bbox", "[1,2,3]", "bbox"),
            ("bbox", "[1,2,3,4,5]", "bbox"),
            ("bbox", "[1,2,0,4]", "bbox.w"),
            ("bbox", r#"{"x":1,"y":2,"w":3,"h":-4}"#, "bbox.h"),
            ("bbox", r#"{"x":"1","y":2,"w":3,"h":4}"#, "bbox.x"),
            ("bbox", "\"1,2,3,4\"", "bbox"),
            ("lane_id", "\"\"", "lane_id"),
            ("lane_id", &long_lane, "lane_id"),
            ("lane_id", "1.5", "lane_id"),
            ("speed_kmh", "-1", "speed_kmh"),
            ("speed_kmh", "400.5", "speed_kmh"),
            ("speed_kmh", "\"fast\"", "speed_kmh"),
        ];
        for (field, value, detail_prefix) in cases {
            let err = decode_err(&with_field(field, Some(value)));
            assert_eq!(
                err.reason,
                DropReason::InvalidValue,
                "{field}={value}: {err}"
            );
            assert!(
                err.detail.starts_with(detail_prefix),
                "{field}={value}: {err}"
            );
        }
        // Limits are inclusive.
        decode_one(&with_field("confidence", Some("0")));
        decode_one(&with_field("confidence", Some("1")));
        decode_one(&with_field("speed_kmh", Some("400")));
        decode_one(&with_field("speed_kmh", Some("0")));
        decode_one(&with_field(
            "vehicle_id",
            Some(&format!("\"{}\"", "é".repeat(128))),
        ));
        decode_one(&with_field(
            "camera_id",
            Some(&format!("\"{}\"", "c".repeat(64))),
        ));
        let d = decode_one(&with_field(
            "class",
            Some(&format!("\"  {}  \"", "é".repeat(64))),
        ));
        assert_eq!(d.class, "é".repeat(64), "surrounding blanks do not count");
    }

    #[test]
    fn nul_characters_are_refused_by_field_name() {
        for field in ["vehicle_id", "class", "lane_id"] {
            for value in [r#""\u0000""#, r#""a\u0000b""#, r#""car\u0000 ""#] {
                let err = decode_err(&with_field(field, Some(value)));
                assert_eq!(err.reason, DropReason::InvalidValue, "{field}={value}");
                assert_eq!(
                    err.detail,
                    format!("{field} must not contain NUL characters"),
                    "{field}={value}"
                );
            }
        }
        // camera_id was already limited to [A-Za-z0-9_.:-].
        let err = decode_err(&with_field("camera_id", Some(r#""cam\u0000""#)));
        assert_eq!(err.reason, DropReason::InvalidValue);
        assert!(err.detail.starts_with("camera_id"), "{err}");
        // An unescaped NUL byte is not JSON at all.
        let raw = with_field("vehicle_id", Some(r#""a_b""#)).replace("a_b", "a\0b");
        assert_eq!(decode_err(&raw).reason, DropReason::MalformedJson);
        // Other control characters are storable and kept verbatim.
        let d = decode_one(&with_field("vehicle_id", Some(r#""\u0001\t\u001f\u007f""#)));
        assert_eq!(d.vehicle_id, "\u{1}\t\u{1f}\u{7f}");
        // Unknown fields are never stored, so a NUL there costs nothing.
        decode_one(&with_field("note", Some(r#""\u0000""#)));
    }

    #[test]
    fn nul_in_one_detection_spares_its_siblings() {
        let payload = r#"{"camera_id":"cam_01","timestamp":1714564800250,"frame_id":7,"detections":[
            {"vehicle_id":"a","class":"car","confidence":0.5,"bbox":[1,2,3,4]},
            {"vehicle_id":"b","class":"car","confidence":0.5,"bbox":[1,2,3,4],"lane_id":"L\u0000"},
            {"vehicle_id":"c","class":"c\u0000r","confidence":0.5,"bbox":[1,2,3,4]},
            {"vehicle_id":"d","class":"car","confidence":0.5,"bbox":[1,2,3,4]}]}"#;
        let (out, errors) = decode(payload);
        let ids: Vec<_> = out.iter().map(|d| d.vehicle_id.as_str()).collect();
        assert_eq!(ids, ["a", "d"]);
        let details: Vec<_> = errors.iter().map(|e| e.detail.as_str()).collect();
        assert_eq!(
            details,
            [
                "lane_id must not contain NUL characters",
                "class must not contain NUL characters"
            ]
        );
    }

    #[test]
    fn decode_error_display_names_the_field() {
        let err = decode_err(&with_field("confidence", Some("2")));
        assert_eq!(
            err.to_string(),
            "invalid_value: confidence must be within 0..=1"
        );
    }

    #[test]
    fn drop_reason_names() {
        let names: Vec<_> = DropReason::ALL.iter().map(DropReason::as_str).collect();
        assert_eq!(
            names,
            [
                "malformed_json",
                "missing_field",
                "invalid_value",
                "late",
                "time_out_of_range",
                "quarantined"
            ]
        );
    }

    #[test]
    fn encode_is_canonical_and_roundtrips() {
        let json = encode_detection(&sample());
        assert_eq!(
            json,
            r#"{"camera_id":"cam_01","timestamp":"2024-05-01T12:00:00.250Z","frame_id":7,"vehicle_id":"v-1","class":"car","confidence":0.91,"bbox":{"x":10.0,"y":20.0,"w":30.5,"h":40.0},"lane_id":"L1","speed_kmh":48.5}"#
        );
        assert_eq!(decode_one(&json), sample());
        let bare = Detection {
            lane_id: None,
            speed_kmh: None,
            ..sample()
        };
        assert_eq!(decode_one(&encode_detection(&bare)), bare);
    }

    // -- properties ----------------------------------------------------------

    /// What the sink needs of every accepted detection.
    fn is_storable(d: &Detection) -> bool {
        let texts = [
            Some(d.camera_id.as_str()),
            Some(d.vehicle_id.as_str()),
            Some(d.class.as_str()),
            d.lane_id.as_deref(),
        ];
        texts.into_iter().flatten().all(|s| !has_nul(s))
            && (1..=MAX_CAMERA_ID_LEN).contains(&d.camera_id.len())
            && (1..=MAX_VEHICLE_ID_CHARS).contains(&d.vehicle_id.chars().count())
            && (1..=MAX_CLASS_CHARS).contains(&d.class.chars().count())
            && d.lane_id
                .as_ref()
                .is_none_or(|l| (1..=MAX_LANE_ID_CHARS).contains(&l.chars().count()))
            && (MIN_TS_MS..=MAX_TS_MS).contains(&d.ts_ms)
            && d.frame_id >= 0
            && d.confidence.is_finite()
            && [d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h]
                .iter()
                .all(|v| v.is_finite())
            && d.speed_kmh.is_none_or(f64::is_finite)
    }

    /// Decimal values with few significant digits, like detectors emit;
    /// these survive serde_json's default (fast, not correctly rounded) float parser.
    fn decimal(units: std::ops::RangeInclusive<i64>, scale: f64) -> impl Strategy<Value = f64> {
        units.prop_map(move |units| units as f64 / scale)
    }

    fn id_string(max_len: usize) -> impl Strategy<Value = String> {
        proptest::string::string_regex(&format!(r#"[a-zA-Z0-9_\-"\\/é ☃]{{1,{max_len}}}"#))
            .expect("valid regex")
    }

    fn valid_detection() -> impl Strategy<Value = Detection> {
        let class = prop_oneof![
            prop::sample::select(vec!["car", "Truck", "BUS", "motorcycle", "bicycle"])
                .prop_map(str::to_owned),
            "[a-z][a-z ]{0,10}[a-z]",
        ];
        (
            "[A-Za-z0-9_.:-]{1,64}",
            0i64..=MAX_TS_MS,
            0i64..=i64::MAX,
            id_string(128),
            class,
            decimal(0..=1000, 1000.0),
            (
                decimal(-100_000..=400_000, 100.0),
                decimal(-100_000..=400_000, 100.0),
                decimal(1..=100_000, 100.0),
                decimal(1..=100_000, 100.0),
            ),
            proptest::option::of(id_string(64)),
            proptest::option::of(decimal(0..=4000, 10.0)),
        )
            .prop_map(
                |(camera_id, ts_ms, frame_id, vehicle_id, class, confidence, bbox, lane, speed)| {
                    Detection {
                        camera_id,
                        ts_ms,
                        frame_id,
                        vehicle_id,
                        kind: VehicleClass::from_label(&class),
                        class,
                        confidence,
                        bbox: BBox {
                            x: bbox.0,
                            y: bbox.1,
                            w: bbox.2,
                            h: bbox.3,
                        },
                        lane_id: lane,
                        speed_kmh: speed,
                    }
                },
            )
    }

    /// Any chars (control and astral ones included), NUL and blanks more often than chance
    /// would pick them, and lengths around the limits.
    fn hostile_text() -> impl Strategy<Value = String> {
        let char = prop_oneof![
            30 => any::<char>(),
            1 => Just('\0'),
            3 => Just(' '),
            2 => Just('\u{10ffff}'),
        ];
        prop_oneof![
            3 => prop::collection::vec(char, 0..24).prop_map(String::from_iter),
            1 => (60usize..=140, any::<char>())
                .prop_map(|(n, c)| std::iter::repeat_n(c, n).collect()),
        ]
    }

    fn json_ish() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "camera_id",
            "timestamp",
            "ts",
            "frame_id",
            "vehicle_id",
            "class",
            "confidence",
            "bbox",
            "lane_id",
            "speed_kmh",
            "detections",
            "x",
            "y",
            "w",
            "h",
            "other",
        ]);
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            (-1e6f64..1e6).prop_map(serde_json::Value::from),
            "[ -~é]{0,12}".prop_map(serde_json::Value::from),
            Just(serde_json::Value::from("2024-05-01T12:00:00+02:00")),
        ];
        let value = leaf.prop_recursive(4, 48, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::vec((key.clone(), inner), 0..10).prop_map(|entries| {
                    serde_json::Value::Object(
                        entries
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect(),
                    )
                }),
            ]
        });
        value.prop_map(|v| v.to_string())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            decode_message(&bytes, &mut out, &mut errors);
        }

        #[test]
        fn json_ish_text_never_panics(text in r#"[{}\[\]":,0-9a-z_ .eE+-]{0,200}"#) {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            decode_message(text.as_bytes(), &mut out, &mut errors);
        }

        #[test]
        fn json_ish_values_never_panic(text in json_ish()) {
            let mut out = Vec::new();
            let mut errors = Vec::new();
            decode_message(text.as_bytes(), &mut out, &mut errors);
            for d in &out {
                prop_assert!((0.0..=1.0).contains(&d.confidence));
                prop_assert!(d.bbox.w > 0.0 && d.bbox.h > 0.0);
            }
        }

        #[test]
        fn accepted_text_is_storable(
            vehicle_id in hostile_text(),
            class in hostile_text(),
            lane_id in hostile_text(),
        ) {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(SINGLE).expect("fixture is valid JSON");
            object.insert("vehicle_id".into(), vehicle_id.clone().into());
            object.insert("class".into(), class.clone().into());
            object.insert("lane_id".into(), lane_id.clone().into());
            let (out, errors) = decode(&serde_json::Value::Object(object).to_string());
            prop_assert_eq!(out.len() + errors.len(), 1);
            for d in &out {
                prop_assert!(is_storable(d), "{:?}", d);
                prop_assert_eq!(&d.vehicle_id, &vehicle_id);
                prop_assert_eq!(d.class.as_str(), class.trim());
                prop_assert_eq!(d.lane_id.as_deref(), Some(lane_id.as_str()));
                prop_assert_eq!(decode(&encode_detection(d)), (vec![d.clone()], vec![]));
            }
            for e in &errors {
                prop_assert_eq!(e.reason, DropReason::InvalidValue);
                let field = ["vehicle_id", "class", "lane_id"]
                    .into_iter()
                    .find(|f| e.detail.starts_with(f));
                prop_assert!(field.is_some(), "{}", e);
            }
            let any_nul = [&vehicle_id, &class, &lane_id].iter().any(|s| s.contains('\0'));
            prop_assert!(!any_nul || out.is_empty());
        }

        #[test]
        fn encode_then_decode_roundtrips(d in valid_detection()) {
            let json = encode_detection(&d);
            let (out, errors) = decode(&json);
            prop_assert_eq!(errors, vec![]);
            prop_assert_eq!(out, vec![d]);
        }
    }
}

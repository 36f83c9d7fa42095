//! The B1 message as it is on the wire, read leniently: these types accept any JSON value so
//! that a type mismatch becomes a per-field `invalid_value` in `decode` instead of failing the
//! whole parse. Strings stay borrowed from the payload unless they contain escapes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::types::{BBox, DropReason};

pub(super) fn parse_message(text: &str) -> Result<RawMessage<'_>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let message = deserializer.deserialize_map(MessageVisitor)?;
    deserializer.end()?;
    Ok(message)
}

/// A JSON value reduced to what the contract can use; strings stay borrowed
/// from the payload unless they contain escapes.
#[derive(Debug)]
pub(super) enum Scalar<'a> {
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
    pub(super) fn as_f64(&self) -> Option<f64> {
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
pub(super) struct RawFields<'a> {
    pub(super) camera_id: Option<Scalar<'a>>,
    pub(super) timestamp: Option<Scalar<'a>>,
    pub(super) frame_id: Option<Scalar<'a>>,
    pub(super) vehicle_id: Option<Scalar<'a>>,
    pub(super) class: Option<Scalar<'a>>,
    pub(super) confidence: Option<Scalar<'a>>,
    pub(super) bbox: Option<RawBBox>,
    pub(super) lane_id: Option<Scalar<'a>>,
    pub(super) speed_kmh: Option<Scalar<'a>>,
}

#[derive(Debug)]
pub(super) struct RawMessage<'a> {
    pub(super) fields: RawFields<'a>,
    pub(super) detections: Option<RawDetections<'a>>,
}

#[derive(Debug)]
pub(super) enum RawDetections<'a> {
    Null,
    NotArray,
    List(Vec<RawItem<'a>>),
}

/// One element of `detections`; `None` when it is not an object.
#[derive(Debug)]
pub(super) struct RawItem<'a>(pub(super) Option<RawFields<'a>>);

/// The bbox is validated while parsing since its shape is self-contained.
#[derive(Debug)]
pub(super) enum RawBBox {
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

//! Component schemas: the vocabulary every schema is written in, and the bodies of the
//! requests, the admin routes, health and the forecast. The read routes' bodies are in
//! [`super::responses`].

use contract::notice::BroadcastLevel;
use contract::{Channel, CongestionLevel};
use serde_json::{json, Map, Value};

use crate::routes::admin::broadcast;

pub(super) fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// The names of `levels`, for an `enum`.
pub(super) fn level_names(levels: &[CongestionLevel]) -> Vec<&'static str> {
    levels.iter().map(|level| level.as_str()).collect()
}

pub(super) fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

/// An object whose properties are all always present (possibly `null`), as the handlers
/// build their bodies.
pub(super) fn object(properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({"type": "object", "required": required, "properties": properties})
}

/// The properties of every object in `parts`, in one object (later parts win).
pub(super) fn merged(parts: impl IntoIterator<Item = Value>) -> Map<String, Value> {
    let mut map = Map::new();
    for part in parts {
        if let Value::Object(part) = part {
            map.extend(part);
        }
    }
    map
}

/// A component schema or `null`.
pub(super) fn ref_or_null(name: &str) -> Value {
    json!({"anyOf": [schema_ref(name), {"type": "null"}]})
}

/// The list envelope `{items, count, limit, offset, next_offset}` of the read routes, plus the
/// echoed parameters in `extra`.
pub(super) fn list_page(item: &str, extra: Value) -> Value {
    let mut properties = json!({
        "items": {"type": "array", "items": schema_ref(item)},
        "count": {"type": "integer", "minimum": 0, "description": "Number of `items`."},
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "next_offset": {"type": ["integer", "null"], "description": "`offset` of the next page; null on the last page."},
    });
    if let (Some(props), Value::Object(extra)) = (properties.as_object_mut(), extra) {
        props.extend(extra);
    }
    object(properties)
}

/// Everything but the read routes' bodies.
pub(super) fn schemas() -> Map<String, Value> {
    let timestamp = json!({"type": "string", "format": "date-time"});
    let threshold_props = json!({
        "moderate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Score at which a window is MODERATE."},
        "high": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Score at which a window is HIGH; above `moderate`."},
        "severe": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Score at which a window is SEVERE; above `high`, at most 1."},
        "speed_weight": {"type": "number", "minimum": 0, "description": "Weight of the speed drop in the score."},
        "density_weight": {"type": "number", "minimum": 0, "description": "Weight of the density in the score."},
        "lane_capacity_per_window": {"type": "number", "exclusiveMinimum": 0, "description": "Vehicles per lane per window counted as full density."},
    });
    let mut thresholds = threshold_props.clone();
    thresholds["updated_at"] = timestamp.clone();
    thresholds["updated_by"] = nullable("string");
    let mut thresholds_update = threshold_props;
    thresholds_update["updated_by"] = json!({"type": "string", "maxLength": 200, "description": "Who made the change (recorded in the row)."});
    let polygon = json!({"type": ["object", "null"], "description": "GeoJSON geometry (e.g. `{\"type\":\"Polygon\",\"coordinates\":[...]}`), stored as given."});
    let camera_ids = json!({"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}, "maxItems": 1000});
    let camera_fields = json!({
        "name": {"type": ["string", "null"], "maxLength": 200},
        "location": {"type": ["string", "null"], "maxLength": 200},
        "latitude": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
        "longitude": {"type": ["number", "null"], "minimum": -180, "maximum": 180},
        "road_segment": {"type": ["string", "null"], "maxLength": 200},
        "lanes": {"type": ["integer", "null"], "minimum": 1, "maximum": 64},
        "metres_per_pixel": {"type": ["number", "null"], "exclusiveMinimum": 0},
        "free_flow_speed_kmh": {"type": ["number", "null"], "exclusiveMinimum": 0},
    });
    let mut admin_camera = camera_fields.clone();
    admin_camera["camera_id"] = json!({"type": "string"});
    admin_camera["first_seen_at"] = timestamp.clone();
    admin_camera["last_seen_at"] = json!({"type": ["string", "null"], "format": "date-time"});
    admin_camera["updated_at"] = timestamp.clone();
    let page = |item: &str| {
        json!({
            "type": "object",
            "required": ["items", "limit", "offset", "next_offset"],
            "properties": {
                "items": {"type": "array", "items": schema_ref(item)},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "next_offset": {"type": ["integer", "null"], "description": "`offset` of the next page; null on the last page."},
            },
        })
    };
    let all = json!({
        "Error": {
            "type": "object",
            "required": ["error", "status"],
            "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded"]},
                "kafka": {"type": "string", "enum": ["ok", "unreachable"]},
                "postgres": {"type": "string", "enum": ["ok", "unreachable"]},
                "uptime_seconds": {"type": "integer"},
            },
        },
        "AcknowledgeRequest": {
            "type": "object",
            "examples": [{"admin_id": "operator-1"}],
            "required": ["admin_id"],
            "properties": {"admin_id": {"type": "string", "description": "Who acknowledges."}},
        },
        "Thresholds": {
            "type": "object",
            "required": ["moderate", "high", "severe", "speed_weight", "density_weight", "lane_capacity_per_window", "updated_at", "updated_by"],
            "properties": thresholds,
        },
        "ThresholdsUpdate": {
            "type": "object",
            "examples": [{"moderate": 0.35, "high": 0.55, "severe": 0.75, "updated_by": "operator-1"}],
            "additionalProperties": false,
            "minProperties": 1,
            "properties": thresholds_update,
        },
        "Zone": {
            "type": "object",
            "required": ["zone_id", "name", "description", "camera_ids", "polygon", "created_at", "updated_at"],
            "properties": {
                "zone_id": {"type": "integer", "format": "int64"},
                "name": {"type": "string"},
                "description": nullable("string"),
                "camera_ids": {"type": "array", "items": {"type": "string"}},
                "polygon": polygon,
                "created_at": timestamp,
                "updated_at": timestamp,
            },
        },
        "ZoneCreate": {
            "type": "object",
            "examples": [{"name": "Downtown", "description": "Main street corridor", "camera_ids": ["cam_01", "cam_02"],
                          "polygon": {"type": "Polygon", "coordinates": [[[0.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]]}}],
            "additionalProperties": false,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": ["string", "null"], "maxLength": 2000},
                "camera_ids": camera_ids,
                "polygon": polygon,
            },
        },
        "ZoneUpdate": {
            "type": "object",
            "examples": [{"description": "Main street and the bridge", "camera_ids": ["cam_01", "cam_02", "cam_03"]}],
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": ["string", "null"], "maxLength": 2000},
                "camera_ids": camera_ids,
                "polygon": polygon,
            },
        },
        "ZonePage": page("Zone"),
        "AdminCamera": {"type": "object", "required": ["camera_id"], "properties": admin_camera},
        "AdminCameraPage": page("AdminCamera"),
        "CameraUpdate": {
            "type": "object",
            "additionalProperties": false,
            "examples": [{"name": "Main St / 5th Ave", "road_segment": "main-st", "lanes": 3, "metres_per_pixel": 0.05, "free_flow_speed_kmh": 50.0}],
            "properties": camera_fields,
        },
        "BroadcastRequest": {
            "type": "object",
            "examples": [{"message": "Lane 2 closed on Main St until 18:00", "level": "warning", "title": "Road works"}],
            "additionalProperties": false,
            "required": ["message"],
            "properties": {
                "message": {"type": "string", "minLength": 1, "maxLength": 2000},
                "level": {"type": "string", "enum": broadcast::level_names(), "default": BroadcastLevel::default().as_str()},
                "title": {"type": "string", "maxLength": 200},
            },
        },
        "BroadcastQueued": {
            "type": "object",
            "required": ["status", "channel", "notification"],
            "properties": {
                "status": {"type": "string", "const": "queued"},
                "channel": {"type": "string", "const": Channel::Broadcast.name()},
                "notification": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string"},
                        "level": {"type": "string", "enum": broadcast::level_names()},
                        "title": nullable("string"),
                        "ts": timestamp,
                    },
                },
            },
        },
        "ForecastPoint": {
            "type": "object",
            "required": ["step", "minute", "value", "lower", "upper"],
            "properties": {
                "step": {"type": "integer", "minimum": 1, "description": "Minutes after the last input minute."},
                "minute": {"type": "string", "format": "date-time", "description": "Start of the predicted minute."},
                "value": {"type": "number"},
                "lower": {"type": "number"},
                "upper": {"type": "number"},
            },
        },
        "LaneForecast": {
            "type": "object",
            "required": ["lane_id", "predictions"],
            "properties": {
                "lane_id": {"type": "string"},
                "predictions": {"type": "array", "items": schema_ref("ForecastPoint")},
            },
        },
        "CongestionForecast": {
            "type": "object",
            "required": ["camera_id", "method", "model_version", "generated_at", "target", "horizon_minutes",
                         "lookback_minutes", "model_lookback_minutes", "interval_coverage", "data_age_seconds",
                         "lookback_completeness", "graph_completeness", "camera", "lanes"],
            "properties": {
                "camera_id": {"type": "string"},
                "method": {"type": "string", "enum": ["stgcn", "historical_average"], "description": "historical_average when too little recent data is present for the model."},
                "model_version": {"type": "string", "description": "Hash of the model bundle's files."},
                "generated_at": timestamp,
                "target": {"type": "string", "description": "The forecast quantity, congestion_score."},
                "horizon_minutes": {"type": "integer"},
                "lookback_minutes": {"type": "integer"},
                "model_lookback_minutes": {"type": "integer", "description": "Minutes of input the model reads (the last of the lookback)."},
                "interval_coverage": {"type": "number", "description": "Nominal share of outcomes inside lower..upper."},
                "data_age_seconds": {"type": ["integer", "null"], "description": "From the end of the camera's newest lane minute to now."},
                "lookback_completeness": {"type": "number", "minimum": 0, "maximum": 1, "description": "Present share of the camera's lane minutes over the lookback."},
                "graph_completeness": {"type": "number", "minimum": 0, "maximum": 1, "description": "Present share of all lanes' minutes the model read."},
                "camera": {"type": "array", "items": schema_ref("ForecastPoint"), "description": "Mean of the lanes per minute."},
                "lanes": {"type": "array", "items": schema_ref("LaneForecast")},
            },
        },
        "ForecastUnavailable": {
            "type": "object",
            "required": ["error", "status"],
            "properties": {
                "error": {"type": "string"},
                "status": {"type": "integer", "const": 503},
                "model_loaded": {"type": "boolean"},
                "camera_id": {"type": "string"},
                "horizon_minutes": {"type": "integer"},
                "lookback_minutes": {"type": "integer"},
            },
        },
    });
    match all {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

//! Parameters of the operations: query parameters as the handlers accept them, and the path
//! parameters read from the route templates.

use contract::CongestionLevel;
use serde_json::{json, Value};

use super::schemas::level_names;
use crate::data::paging::Limits;

pub(super) fn query(name: &str, required: bool, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    })
}

pub(super) fn date_time(name: &str, description: &str) -> Value {
    query(
        name,
        false,
        description,
        json!({"type": "string", "format": "date-time"}),
    )
}

pub(super) fn camera_param(required: bool) -> Value {
    query(
        "camera_id",
        required,
        "Camera id, e.g. `cam_01`.",
        json!({"type": "string"}),
    )
}

pub(super) fn range_params(from: &str, to: &str) -> Vec<Value> {
    vec![
        date_time(
            from,
            "Start of the period (ISO 8601; without an offset read as UTC).",
        ),
        date_time(
            to,
            "End of the period (ISO 8601; without an offset read as UTC).",
        ),
    ]
}

pub(super) fn alert_filters() -> Vec<Value> {
    let mut params = range_params("from", "to");
    params.extend([
        query(
            "severity",
            false,
            "Only alerts of this severity.",
            json!({"type": "string", "enum": level_names(&CongestionLevel::ALERTING)}),
        ),
        query(
            "road_segment",
            false,
            "Only alerts on this road segment.",
            json!({"type": "string"}),
        ),
        query(
            "type",
            false,
            "Only alerts of this type, e.g. `congestion`.",
            json!({"type": "string"}),
        ),
    ]);
    params
}

/// `limit`/`offset` as the handlers accept them.
pub(super) fn page_params(limits: Limits) -> Vec<Value> {
    let Limits {
        default: default_limit,
        max: max_limit,
        max_offset,
    } = limits;
    vec![
        query(
            "limit",
            false,
            "Page size.",
            json!({"type": "integer", "minimum": 1, "maximum": max_limit, "default": default_limit}),
        ),
        query(
            "offset",
            false,
            "Rows to skip; use `next_offset` of the previous page.",
            json!({"type": "integer", "minimum": 0, "maximum": max_offset, "default": 0}),
        ),
    ]
}

pub(super) fn role_param() -> Value {
    query(
        "role",
        false,
        "`viewer` (default) or `operator` (also receives alert changes).",
        json!({"type": "string", "enum": ["viewer", "operator"], "default": "viewer"}),
    )
}

/// Names of the `{...}` segments of a template, in order.
pub(super) fn template_params(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

pub(super) fn path_param(name: &str) -> Value {
    let (schema, description) = match name {
        "zone_id" | "alert_id" => (json!({"type": "integer", "format": "int64"}), "Numeric id."),
        "camera_id" => (
            json!({"type": "string", "minLength": 1, "maxLength": 200}),
            "Camera id, e.g. `cam_01`.",
        ),
        _ => (json!({"type": "string"}), ""),
    };
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": schema})
}

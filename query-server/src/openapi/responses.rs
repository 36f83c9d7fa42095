//! What the operations answer: the response entries of each operation, and the component
//! schemas of the read routes' bodies (cameras, metrics, dashboard, map, alerts, analytics).

use contract::CongestionLevel;
use serde_json::{json, Map, Value};

use super::schemas::{level_names, list_page, merged, nullable, object, ref_or_null, schema_ref};
use crate::routes::analytics::compared_kpis;
use crate::routes::map::incident_levels;

/// Status, description, and the content (media type, schema) if the response has a body.
pub(super) type Response = (u16, &'static str, Option<(&'static str, Value)>);

pub(super) fn json_body(schema: &str) -> Option<(&'static str, Value)> {
    Some(("application/json", schema_ref(schema)))
}

pub(super) fn ok(description: &'static str, schema: &str) -> Response {
    (200, description, json_body(schema))
}

pub(super) fn err(status: u16, description: &'static str) -> Response {
    (status, description, json_body("Error"))
}

/// The names of `levels` and `null`, for the `enum` of a nullable level.
fn or_null(levels: &[CongestionLevel]) -> Vec<Value> {
    let mut names: Vec<Value> = level_names(levels).into_iter().map(Value::from).collect();
    names.push(Value::Null);
    names
}

/// Response bodies of the read routes (cameras, metrics, dashboard, map, alerts, analytics).
pub(super) fn read_route_schemas() -> Map<String, Value> {
    let ts = json!({"type": "string", "format": "date-time"});
    let ts_or_null = json!({"type": ["string", "null"], "format": "date-time"});
    let level = schema_ref("CongestionLevel");
    let count = json!({"type": "integer", "minimum": 0});
    let int64 = json!({"type": "integer", "format": "int64"});
    let number = json!({"type": "number"});
    let number_or_null = nullable("number");
    let string = json!({"type": "string"});
    let string_or_null = nullable("string");
    // A camera's latest camera-wide window, as `/congestion/current` and incidents show it.
    let latest_congestion = json!({
        "window_start": ts,
        "window_end": ts,
        "congestion_level": level,
        "congestion_score": number,
        "avg_speed_kmh": number_or_null,
        "vehicle_count": count,
    });
    let metric_row = object(json!({
        "camera_id": string,
        "lane_id": {"type": ["string", "null"], "description": "null on the camera-wide row of a window."},
        "window_start": ts,
        "window_end": ts,
        "vehicle_count": count,
        "event_count": count,
        "avg_speed_kmh": number_or_null,
        "speed_source": {"type": "string", "description": "Where `avg_speed_kmh` came from: reported, estimated, mixed or none."},
        "car_count": count,
        "truck_count": count,
        "bus_count": count,
        "motorcycle_count": count,
        "bicycle_count": count,
        "other_count": count,
        "avg_confidence": number_or_null,
        "congestion_score": number,
        "congestion_level": level,
    }));
    let mut metrics_current = object(json!({
        "lanes": {
            "type": "array",
            "items": schema_ref("MetricRow"),
            "description": "The lane rows of the same window, ordered by lane id.",
        },
    }));
    metrics_current = json!({"allOf": [schema_ref("MetricRow"), metrics_current]});
    let acknowledged = json!({"allOf": [schema_ref("Alert"), object(json!({
        "already_acknowledged": {"type": "boolean", "description": "true when an earlier acknowledgement was kept unchanged."},
    }))]});
    let kpi_delta = object(json!({
        "a": number_or_null,
        "b": number_or_null,
        "delta": {"type": ["number", "null"], "description": "b - a (an integer for integer KPIs); null when either is missing."},
        "percent_change": {"type": ["number", "null"], "description": "(b - a) / |a| * 100; null when a is 0 or missing."},
    }));
    let deltas = {
        let properties: Map<String, Value> = compared_kpis()
            .into_iter()
            .map(|name| (name, schema_ref("KpiDelta")))
            .collect();
        let mut deltas = object(Value::Object(properties));
        deltas["additionalProperties"] = schema_ref("KpiDelta");
        deltas["description"] = json!("Per numeric KPI, period B against period A.");
        deltas
    };
    let parts = [
        json!({
            "CongestionLevel": {"type": "string", "enum": level_names(&CongestionLevel::ALL)},
            "LevelCounts": object(CongestionLevel::ALL.iter().map(|l| (l.as_str().to_owned(), count.clone())).collect::<Map<_, _>>().into()),
            "MetricRow": metric_row,
            "MetricsCurrent": metrics_current,
            "MetricHistoryPage": list_page("MetricRow", json!({
                "camera_id": string,
                "lane_id": {"type": ["string", "null"], "description": "The lane asked for; null for camera-wide rows."},
                "from": ts,
                "to": ts,
            })),
            "CameraLatestWindow": object(json!({
                "window_start": ts,
                "vehicle_count": nullable("integer"),
                "avg_speed_kmh": number_or_null,
                "congestion_level": string_or_null,
                "congestion_score": number_or_null,
            })),
            "CameraSummary": object(json!({
                "camera_id": string,
                "name": string_or_null,
                "location": string_or_null,
                "latitude": number_or_null,
                "longitude": number_or_null,
                "road_segment": string_or_null,
                "lanes": nullable("integer"),
                "last_seen_at": ts_or_null,
                "active": {"type": "boolean", "description": "A window closed in the last five minutes."},
                "latest": ref_or_null("CameraLatestWindow"),
            })),
            "CameraPage": list_page("CameraSummary", json!({})),
            "CameraCongestion": object(Value::Object(merged([
                json!({"camera_id": string, "road_segment": string_or_null}),
                latest_congestion.clone(),
            ]))),
            "CameraCongestionPage": list_page("CameraCongestion", json!({})),
        }),
        json!({
            "WorstCamera": object(json!({
                "camera_id": string,
                "road_segment": string_or_null,
                "congestion_level": string_or_null,
                "congestion_score": number,
                "window_start": ts,
            })),
            "DashboardSummary": object(json!({
                "cameras_total": count,
                "cameras_active": count,
                "cameras_reporting": count,
                "total_vehicles": count,
                "avg_speed_kmh": number_or_null,
                "level_distribution": schema_ref("LevelCounts"),
                "active_alerts": count,
                "worst_camera": ref_or_null("WorstCamera"),
                "events_last_minute": count,
                "window_minutes": {"type": "integer", "description": "How recent a camera's latest window must be to count."},
                "generated_at": ts,
            })),
            "TrafficEvent": object(json!({
                "camera_id": string,
                "timestamp": ts,
                "frame_id": int64,
                "vehicle_id": string,
                "class": string,
                "confidence": number,
                "bbox": object(json!({"x": number, "y": number, "w": number, "h": number})),
                "lane_id": string_or_null,
                "speed_kmh": number_or_null,
                "estimated_speed_kmh": number_or_null,
            })),
            "TrafficEventPage": object(json!({
                "items": {"type": "array", "items": schema_ref("TrafficEvent")},
                "count": count,
                "camera_id": string_or_null,
                "limit": {"type": "integer"},
                "before": ts_or_null,
                "skip": nullable("integer"),
                "next_before": {"type": ["string", "null"], "format": "date-time", "description": "`before` of the next page (full precision); null on the last page."},
                "next_skip": {"type": ["integer", "null"], "description": "`skip` of the next page; null on the last page."},
            })),
            "HeatmapCell": object(json!({
                "camera_id": string,
                "latitude": number_or_null,
                "longitude": number_or_null,
                "road_segment": string_or_null,
                "intensity": {"type": "number", "minimum": 0, "maximum": 1},
                "avg_vehicle_count": number,
                "max_congestion_level": {"type": ["string", "null"], "enum": or_null(&CongestionLevel::ALL)},
                "windows": count,
                "latest_window_start": ts,
            })),
            "HeatmapPage": list_page("HeatmapCell", json!({
                "minutes": {"type": "integer"},
                "since": ts,
                "generated_at": ts,
            })),
        }),
        json!({
            "IncidentAlert": object(json!({
                "alert_id": int64,
                "alert_type": string,
                "severity": string,
                "peak_severity": string,
                "score": number,
                "message": string,
                "opened_at": ts,
                "updated_at": ts,
                "acknowledged_by": string_or_null,
                "acknowledged_at": ts_or_null,
            })),
            "Incident": object(Value::Object(merged([
                json!({
                    "camera_id": string,
                    "name": string_or_null,
                    "latitude": number_or_null,
                    "longitude": number_or_null,
                    "road_segment": string_or_null,
                    "alert": ref_or_null("IncidentAlert"),
                }),
                latest_congestion,
            ]))),
            "IncidentPage": list_page("Incident", json!({
                "severity": {"type": "string", "enum": level_names(incident_levels())},
            })),
            "Alert": object(json!({
                "alert_id": int64,
                "camera_id": string,
                "alert_type": string,
                "severity": string,
                "peak_severity": string,
                "road_segment": string_or_null,
                "score": number,
                "message": string,
                "status": {"type": "string", "enum": ["active", "resolved"]},
                "opened_window_start": ts,
                "opened_at": ts,
                "updated_at": ts,
                "resolved_at": ts_or_null,
                "acknowledged_by": string_or_null,
                "acknowledged_at": ts_or_null,
            })),
            "AlertPage": list_page("Alert", json!({})),
            "AlertHistoryPage": list_page("Alert", json!({
                "from": ts,
                "to": ts,
                "severity": {"type": ["string", "null"], "enum": or_null(&CongestionLevel::ALERTING)},
                "road_segment": string_or_null,
                "type": string_or_null,
            })),
            "AcknowledgedAlert": acknowledged,
        }),
        json!({
            "ClassTotals": object(json!({
                "car": count, "truck": count, "bus": count, "motorcycle": count, "bicycle": count, "other": count,
            })),
            "CameraPeriodMetrics": object(json!({
                "camera_id": string,
                "windows": count,
                "vehicles": count,
                "events": count,
                "avg_speed_kmh": number_or_null,
                "avg_congestion_score": number_or_null,
                "max_congestion_score": number_or_null,
                "high_or_severe_windows": count,
            })),
            "PeakWindow": object(json!({
                "window_start": ts,
                "window_end": ts,
                "vehicles": count,
                "cameras": count,
                "avg_congestion_score": number_or_null,
            })),
            "AlertCounts": object(json!({
                "opened": count,
                "peak_high": count,
                "peak_severe": count,
                "acknowledged": count,
            })),
            "AnalyticsMetrics": object(json!({
                "start": ts,
                "end": ts,
                "windows": count,
                "total_vehicles": count,
                "total_events": count,
                "avg_speed_kmh": {"type": ["number", "null"], "description": "Weighted by `event_count`; null without speeds."},
                "speed_weighting": {"type": "string", "const": "event_count"},
                "avg_congestion_score": number_or_null,
                "max_congestion_score": number_or_null,
                "level_distribution": schema_ref("LevelCounts"),
                "class_totals": schema_ref("ClassTotals"),
                "cameras": {"type": "array", "items": schema_ref("CameraPeriodMetrics")},
                "peak_window": ref_or_null("PeakWindow"),
                "alerts": schema_ref("AlertCounts"),
            })),
            "KpiDelta": kpi_delta,
            "AnalyticsComparison": object(json!({
                "a": schema_ref("AnalyticsMetrics"),
                "b": schema_ref("AnalyticsMetrics"),
                "deltas": deltas,
            })),
        }),
    ];
    merged(parts)
}

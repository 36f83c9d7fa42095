//! The OpenAPI 3.1 document served at `/openapi.json` (and rendered by `/docs`).
//!
//! Paths and methods come from [`Route::ALL`], so a route cannot exist without being documented:
//! [`operation`] matches every [`Route`] exhaustively and the compiler rejects a new route that
//! has no entry. Path parameters are read from the templates themselves. What cannot be derived
//! (summaries, query parameters, bodies, response schemas) is written here, next to each route.

use serde_json::{json, Map, Value};

use crate::router::Route;
use crate::routes::admin::{
    ADMIN_LIST_DEFAULT_LIMIT, ADMIN_LIST_MAX_LIMIT, BROADCAST_CHANNEL, BROADCAST_LEVELS,
    MAX_BROADCAST_PAYLOAD_BYTES,
};
use crate::routes::predict::{HORIZON_DEFAULT, HORIZON_MAX, LOOKBACK_DEFAULT, LOOKBACK_MAX};

/// Tags, in the order the docs page shows them.
const TAGS: &[(&str, &str)] = &[
    ("health", "Liveness and dependency reachability"),
    ("cameras", "Cameras and their latest congestion"),
    ("metrics", "Aggregated window metrics"),
    ("dashboard", "Dashboard KPIs and recent events"),
    ("map", "Map layers"),
    ("alerts", "Congestion alerts"),
    (
        "analytics",
        "Period analytics, comparisons and the PDF report",
    ),
    ("predict", "Congestion forecasts"),
    (
        "realtime",
        "WebSocket channels: a snapshot, then each change as it commits",
    ),
    ("admin", "Administration (token required)"),
    ("meta", "Monitoring and API description"),
];

/// Status, description, and the content (media type, schema) if the response has a body.
type Response = (u16, &'static str, Option<(&'static str, Value)>);

/// What a route's entry in `paths` says beyond its method and template.
struct Op {
    tag: &'static str,
    summary: &'static str,
    description: String,
    query: Vec<Value>,
    body: Option<Value>,
    responses: Vec<Response>,
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn query(name: &str, required: bool, description: &str, schema: Value) -> Value {
    json!({
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    })
}

fn date_time(name: &str, description: &str) -> Value {
    query(
        name,
        false,
        description,
        json!({"type": "string", "format": "date-time"}),
    )
}

fn camera_param(required: bool) -> Value {
    query(
        "camera_id",
        required,
        "Camera id, e.g. `cam_01`.",
        json!({"type": "string"}),
    )
}

fn json_body(schema: &str) -> Option<(&'static str, Value)> {
    Some(("application/json", schema_ref(schema)))
}

fn ok(description: &'static str, schema: &str) -> Response {
    (200, description, json_body(schema))
}

fn err(status: u16, description: &'static str) -> Response {
    (status, description, json_body("Error"))
}

fn op(tag: &'static str, summary: &'static str, description: &str) -> Op {
    Op {
        tag,
        summary,
        description: description.to_owned(),
        query: Vec::new(),
        body: None,
        responses: Vec::new(),
    }
}

impl Op {
    fn query(mut self, params: Vec<Value>) -> Self {
        self.query = params;
        self
    }

    fn body(mut self, schema: &str) -> Self {
        self.body = Some(json!({
            "required": true,
            "content": {"application/json": {"schema": schema_ref(schema)}},
        }));
        self
    }

    fn responds(mut self, responses: Vec<Response>) -> Self {
        self.responses.extend(responses);
        self
    }
}

fn range_params(from: &str, to: &str) -> Vec<Value> {
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

fn alert_filters() -> Vec<Value> {
    let mut params = range_params("from", "to");
    params.extend([
        query(
            "severity",
            false,
            "Only alerts of this severity.",
            json!({"type": "string", "enum": ["HIGH", "SEVERE"]}),
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

/// `limit`/`offset` as the handlers accept them (offsets up to 2^31 - 1).
fn page_params(default_limit: i64, max_limit: i64, max_offset: i64) -> Vec<Value> {
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

const INT32_MAX: i64 = 2_147_483_647;

fn admin_page_params() -> Vec<Value> {
    vec![
        query(
            "limit",
            false,
            "Page size.",
            json!({"type": "integer", "minimum": 1, "maximum": ADMIN_LIST_MAX_LIMIT, "default": ADMIN_LIST_DEFAULT_LIMIT}),
        ),
        query(
            "offset",
            false,
            "Rows to skip; use `next_offset` of the previous page.",
            json!({"type": "integer", "minimum": 0, "maximum": INT32_MAX, "default": 0}),
        ),
    ]
}

/// Everything about a route except its method, template and path parameters.
fn operation(route: Route) -> Op {
    use Route::*;
    let bad = || {
        err(
            400,
            "A parameter is missing or malformed; the message names it",
        )
    };
    let not_found = || err(404, "Unknown camera or resource");
    let invalid = || {
        err(
            422,
            "The body has the wrong shape or a value out of range; the message names the field",
        )
    };
    match route {
        Health => op("health", "Kafka and PostgreSQL reachability", "`degraded` is still HTTP 200.")
            .responds(vec![ok("Service status", "Health")]),
        Cameras => op("cameras", "Active cameras", "Cameras that have reported metrics, with their latest window.")
            .query(page_params(1000, 10_000, INT32_MAX))
            .responds(vec![ok("Cameras", "CameraPage"), bad()]),
        MetricsCurrent => op("metrics", "Latest metrics of one camera", "The most recent closed window, camera-wide and per lane.")
            .query(vec![camera_param(true)])
            .responds(vec![ok("Latest window", "MetricsCurrent"), bad(), not_found()]),
        MetricsHistory => op("metrics", "Metrics history of one camera", "Closed windows of one camera in a period.")
            .query({
                let mut p = vec![camera_param(true)];
                p.extend(range_params("from", "to"));
                p.push(query("lane_id", false, "One lane's rows instead of the camera-wide ones.", json!({"type": "string"})));
                p.extend(page_params(1000, 20_000, INT32_MAX));
                p
            })
            .responds(vec![ok("Windows", "MetricHistoryPage"), bad(), not_found()]),
        CongestionCurrent => op("cameras", "Current congestion of every camera", "The latest camera-wide congestion score and level per camera.")
            .query(page_params(1000, 10_000, INT32_MAX))
            .responds(vec![ok("Congestion per camera", "CameraCongestionPage"), bad()]),
        DashboardSummary => op("dashboard", "KPI summary", "Totals and averages across cameras.")
            .responds(vec![ok("Summary", "DashboardSummary")]),
        DashboardEvents => op("dashboard", "Recent raw traffic events", "Newest first.")
            .query(vec![
                query("limit", false, "Number of events.", json!({"type": "integer", "minimum": 1, "maximum": 500, "default": 10})),
                camera_param(false),
                query("before", false, "Only events strictly older (use `next_before` of the previous page).", json!({"type": "string", "format": "date-time"})),
                query("skip", false, "Events at exactly `before` already returned (use `next_skip`); needs `before`.", json!({"type": "integer", "minimum": 0, "maximum": INT32_MAX})),
            ])
            .responds(vec![ok("Events", "TrafficEventPage"), bad()]),
        MapHeatmap => op("map", "Heatmap intensity per camera", "Traffic intensity over the last `minutes`.")
            .query({
                let mut p = vec![query("minutes", false, "Window to aggregate, in minutes.", json!({"type": "integer", "minimum": 1, "maximum": 1440, "default": 5}))];
                p.extend(page_params(1000, 10_000, INT32_MAX));
                p
            })
            .responds(vec![ok("Intensity per camera", "HeatmapPage"), bad()]),
        MapIncidents => op("map", "Cameras with elevated congestion", "Cameras whose latest level is at least `severity`.")
            .query({
                let mut p = vec![query("severity", false, "Minimum level (default HIGH).", json!({"type": "string", "enum": ["MODERATE", "HIGH", "SEVERE"]}))];
                p.extend(page_params(1000, 10_000, INT32_MAX));
                p
            })
            .responds(vec![ok("Incidents", "IncidentPage"), bad()]),
        AlertsCurrent => op("alerts", "Active alerts", "Alerts whose status is `active`.")
            .query(page_params(100, 1000, 1_000_000_000))
            .responds(vec![ok("Alerts", "AlertPage"), bad()]),
        AlertsHistory => op("alerts", "Alert history", "Alerts overlapping a period, filtered.")
            .query({
                let mut p = alert_filters();
                p.extend(page_params(100, 1000, 1_000_000_000));
                p
            })
            .responds(vec![ok("Alerts", "AlertHistoryPage"), bad()]),
        AlertAcknowledge => op("alerts", "Acknowledge an alert", "Idempotent: acknowledging twice keeps the first acknowledgement.")
            .body("AcknowledgeRequest")
            .responds(vec![ok("The alert", "AcknowledgedAlert"), bad(), not_found(), invalid()]),
        AlertsExport => op("alerts", "Alert history as CSV", "Same filters as `/api/alerts/history`; streamed.")
            .query(alert_filters())
            .responds(vec![(200, "CSV file", Some(("text/csv", json!({"type": "string"})))), bad()]),
        AnalyticsMetrics => op("analytics", "Metrics over a period", "Defaults to the last 24 hours.")
            .query(range_params("start", "end"))
            .responds(vec![ok("Aggregates", "AnalyticsMetrics"), bad()]),
        AnalyticsCompare => op("analytics", "Compare two periods", "Deltas and percent changes of period B against period A.")
            .query(
                ["start_a", "end_a", "start_b", "end_b"]
                    .iter()
                    .map(|name| query(name, true, "Period bound (ISO 8601).", json!({"type": "string", "format": "date-time"})))
                    .collect(),
            )
            .responds(vec![ok("Comparison", "AnalyticsComparison"), bad()]),
        AnalyticsReportPdf => op("analytics", "PDF report of a period", "Returned as an attachment.")
            .query(range_params("start", "end"))
            .responds(vec![(200, "PDF document", Some(("application/pdf", json!({"type": "string", "contentMediaType": "application/pdf"})))), bad()]),
        PredictCongestion => op(
            "predict",
            "Congestion forecast of one camera",
            "Per-minute congestion_score forecasts for each lane of the camera and for the camera (mean of its \
             lanes), with prediction intervals (split conformal, nominal coverage in `interval_coverage`). An \
             STGCN over the lane graph reads the last minutes of every lane; when too little recent data is \
             present it answers with the time-of-day historical average (`method`). The model bundle is loaded \
             from FORECAST_MODEL_DIR (or STGCN_CHECKPOINT_PATH with STGCN_CONFIG_PATH). 404 when the camera is \
             unknown, outside the model's graph, or has no lane data in the lookback; 422 for a horizon longer \
             or a lookback shorter than the model serves; 503 when no bundle is loaded (the body says how to \
             train one) or the server was built without forecasting.",
        )
        .query(vec![
            camera_param(true),
            query("horizon_minutes", false, "How far ahead to forecast; at most the model's horizon (422 beyond).", json!({"type": "integer", "minimum": 1, "maximum": HORIZON_MAX, "default": HORIZON_DEFAULT})),
            query("lookback_minutes", false, "History considered; at least the model's input length (422 below).", json!({"type": "integer", "minimum": 1, "maximum": LOOKBACK_MAX, "default": LOOKBACK_DEFAULT})),
        ])
        .responds(vec![
            ok("The forecast", "CongestionForecast"),
            bad(),
            err(404, "Unknown camera, camera outside the model's graph, or no recent lane data"),
            err(422, "Horizon or lookback the model cannot serve"),
            (503, "No forecast model bundle is loaded", json_body("ForecastUnavailable")),
        ]),
        AdminThresholdsGet => op("admin", "Congestion thresholds", "The model's run-time parameters.")
            .responds(vec![ok("Thresholds", "Thresholds")]),
        AdminThresholdsPut => op(
            "admin",
            "Change congestion thresholds",
            "Any subset of the six parameters; the merged result must satisfy 0 < moderate < high < severe <= 1, \
             weights >= 0 with a positive sum, and lane_capacity_per_window > 0. The running pipeline applies the \
             change on its next window (NOTIFY `b2_thresholds`).",
        )
        .body("ThresholdsUpdate")
        .responds(vec![ok("The stored thresholds", "Thresholds"), err(400, "The body is not JSON"), invalid()]),
        AdminZonesList => op("admin", "Zones", "Ordered by `zone_id`.")
            .query(admin_page_params())
            .responds(vec![ok("A page of zones", "ZonePage"), bad()]),
        AdminZonesCreate => op("admin", "Create a zone", "")
            .body("ZoneCreate")
            .responds(vec![(201, "The created zone", json_body("Zone")), err(400, "The body is not JSON"), invalid()]),
        AdminZoneUpdate => op("admin", "Update a zone", "Only the fields present change; `null` clears `description` or `polygon`.")
            .body("ZoneUpdate")
            .responds(vec![ok("The updated zone", "Zone"), err(400, "Non-integer zone_id or a body that is not JSON"), err(404, "Unknown zone"), invalid()]),
        AdminZoneDelete => op("admin", "Delete a zone", "")
            .responds(vec![(204, "Deleted", None), err(400, "Non-integer zone_id"), err(404, "Unknown zone")]),
        AdminCamerasList => op("admin", "Cameras with metadata and calibration", "Every row of the camera table, ordered by `camera_id`.")
            .query(admin_page_params())
            .responds(vec![ok("A page of cameras", "AdminCameraPage"), bad()]),
        AdminCameraPut => op(
            "admin",
            "Create or update a camera",
            "Absent or `null` fields keep their stored value. Calibration changes (lanes, metres_per_pixel, \
             free_flow_speed_kmh, road_segment) reach the running pipeline through NOTIFY `b2_cameras`.",
        )
        .body("CameraUpdate")
        .responds(vec![
            ok("The updated camera", "AdminCamera"),
            (201, "The created camera", json_body("AdminCamera")),
            err(400, "Bad camera_id or a body that is not JSON"),
            invalid(),
        ]),
        AdminBroadcast => op(
            "admin",
            "Broadcast a notification to operators",
            &format!(
                "Publishes `{{\"message\",\"level\",\"title\",\"ts\"}}` with NOTIFY on the PostgreSQL channel \
                 `{BROADCAST_CHANNEL}`; anything LISTENing receives it. The encoded notification must fit in \
                 {MAX_BROADCAST_PAYLOAD_BYTES} bytes. Every query-server replica LISTENs on it and delivers the \
                 notification as an `admin_broadcast` envelope on `/ws/events` (and `/ws/metrics`, `/ws/metrics/lanes`)."
            ),
        )
        .body("BroadcastRequest")
        .responds(vec![(202, "Queued", json_body("BroadcastQueued")), err(400, "The body is not JSON"), invalid()]),
        Prometheus => op("meta", "Prometheus metrics", "OpenMetrics text exposition of the server's request metrics.")
            .responds(vec![(200, "Metrics", Some(("application/openmetrics-text", json!({"type": "string"}))))]),
        OpenApi => op("meta", "This OpenAPI document", "")
            .responds(vec![(200, "OpenAPI 3.1 document", Some(("application/json", json!({"type": "object"}))))]),
        Docs => op("meta", "Interactive API documentation", "A self-contained page that renders `/openapi.json`.")
            .responds(vec![(200, "HTML page", Some(("text/html", json!({"type": "string"}))))]),
        WsMetrics => websocket(
            "Camera-wide window metrics as they commit",
            "Text frames, each `{\"type\",\"ts\",\"data\"}`. First `snapshot` (`data.metrics`: the latest \
             camera-wide row per camera; operators also get `data.alerts`), then one `traffic_metrics_update` \
             per committed window (`data`: the row, as in `/metrics/current` without `lanes`). Operators also \
             receive `new_alert`, `alert_updated`, `alert_acknowledged`, `alert_resolved`; everyone receives \
             `admin_broadcast`.",
            vec![camera_param(false), role_param()],
        ),
        WsMetricsLanes => websocket(
            "Per-lane window metrics as they commit",
            "Like `/ws/metrics`, but the snapshot is `data.lanes` (per camera: `camera_id`, `window_start`, \
             `window_end`, `lanes`) and each committed window arrives as `lane_metrics_update` with the same shape.",
            vec![camera_param(false), role_param()],
        ),
        WsEvents => websocket(
            "Typed event channel",
            "First `snapshot` (`data.metrics` with lanes, `data.alerts` active, `data.heatmap`, each present \
             when `types` allows it), then envelopes of type `traffic_metrics_update` (each committed window, \
             with `lanes`), `heatmap_update` (periodically: items as in `/api/map/heatmap?minutes=5`), \
             `new_alert`, `alert_updated`, `alert_acknowledged`, `alert_resolved` (`data`: the alert as in \
             `/api/alerts/current`) and `admin_broadcast`.",
            vec![
                camera_param(false),
                query("types", false, "Comma-separated envelope types to receive (default: all). An unknown type closes the session with code 1008 and a reason naming it.", json!({"type": "string", "example": "new_alert,admin_broadcast"})),
            ],
        ),
    }
}

fn role_param() -> Value {
    query(
        "role",
        false,
        "`viewer` (default) or `operator` (also receives alert changes).",
        json!({"type": "string", "enum": ["viewer", "operator"], "default": "viewer"}),
    )
}

/// A WebSocket route: documented as the GET that upgrades.
fn websocket(summary: &'static str, description: &str, params: Vec<Value>) -> Op {
    op(
        "realtime",
        summary,
        &format!(
            "WebSocket (`ws://`). {description} Invalid parameters are accepted at the HTTP level and the \
             session is then closed with code 1008 and a reason naming the problem. The server pings \
             periodically; a client more than the backlog behind is closed with 1013, one whose writes \
             stall is dropped, and at shutdown sessions are closed with 1001."
        ),
    )
    .query(params)
    .responds(vec![
        (101, "Switching Protocols: the WebSocket session starts", None),
        err(400, "Sec-WebSocket-Key missing or malformed"),
        err(426, "Not a WebSocket upgrade request (or not version 13)"),
        err(503, "Too many WebSocket sessions (QUERY_SERVER_WS_MAX_CLIENTS)"),
    ])
}

/// Names of the `{...}` segments of a template, in order.
pub fn template_params(template: &str) -> Vec<&str> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

fn path_param(name: &str) -> Value {
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

fn operation_id(route: Route) -> String {
    // `AdminZoneUpdate` -> `adminZoneUpdate`: stable, unique, and readable in generated clients.
    let name = format!("{route:?}");
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// Builds the whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for &route in Route::ALL {
        let (method, template) = route.spec();
        let op = operation(route);
        let mut parameters: Vec<Value> = template_params(template)
            .into_iter()
            .map(path_param)
            .collect();
        parameters.extend(op.query);
        let mut responses = Map::new();
        let mut all = op.responses;
        if route.is_admin() {
            all.push(err(
                401,
                "No admin token (X-Admin-Token or Authorization: Bearer)",
            ));
            all.push(err(
                403,
                "Wrong admin token, or admin routes disabled (ADMIN_API_KEY unset)",
            ));
        }
        if !matches!(
            route,
            Route::Health | Route::Prometheus | Route::OpenApi | Route::Docs
        ) {
            all.push(err(503, "Database unavailable"));
        }
        for (status, description, content) in all {
            let mut response = json!({"description": description});
            if let Some((media, schema)) = content {
                response["content"] = json!({media: {"schema": schema}});
            }
            // The first entry for a status wins (a route's own 503 before the generic one).
            responses.entry(status.to_string()).or_insert(response);
        }
        let mut operation = json!({
            "tags": [op.tag],
            "summary": op.summary,
            "operationId": operation_id(route),
            "parameters": parameters,
            "responses": responses,
        });
        if !op.description.is_empty() {
            operation["description"] = json!(op.description);
        }
        if let Some(body) = op.body {
            operation["requestBody"] = body;
        }
        if route.is_admin() {
            operation["security"] = json!([{"adminToken": []}, {"bearerAuth": []}]);
        }
        let item = paths
            .entry(template.to_owned())
            .or_insert_with(|| json!({}));
        item[method.as_str().to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Traffic query API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "REST API over the traffic metrics, alerts and zones the pipeline stores. \
                Timestamps are UTC RFC 3339 with milliseconds. Every error is `{\"error\", \"status\"}` JSON; \
                a bad parameter is a 400 (or 422 for a body field) whose message names it.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": TAGS.iter().map(|(name, description)| json!({"name": name, "description": description})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "adminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token", "description": "The server's ADMIN_API_KEY."},
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <ADMIN_API_KEY>`."},
            },
            "schemas": schemas(),
        },
    })
}

fn nullable(kind: &str) -> Value {
    json!({"type": [kind, "null"]})
}

fn schemas() -> Value {
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
    let mut all = json!({
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
                "level": {"type": "string", "enum": BROADCAST_LEVELS, "default": "info"},
                "title": {"type": "string", "maxLength": 200},
            },
        },
        "BroadcastQueued": {
            "type": "object",
            "required": ["status", "channel", "notification"],
            "properties": {
                "status": {"type": "string", "const": "queued"},
                "channel": {"type": "string", "const": BROADCAST_CHANNEL},
                "notification": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string"},
                        "level": {"type": "string", "enum": BROADCAST_LEVELS},
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
    if let Some(map) = all.as_object_mut() {
        map.extend(response_schemas());
    }
    all
}

/// Congestion levels from lowest to highest, as `traffic_metrics.congestion_level` stores them.
const LEVELS: [&str; 4] = ["LOW", "MODERATE", "HIGH", "SEVERE"];

/// The KPIs `GET /api/analytics/compare` reports under `deltas` (see `routes::analytics::kpis`).
const COMPARED_KPIS: &[&str] = &[
    "windows",
    "total_vehicles",
    "total_events",
    "avg_speed_kmh",
    "avg_congestion_score",
    "max_congestion_score",
    "low_windows",
    "moderate_windows",
    "high_windows",
    "severe_windows",
    "cameras",
    "car",
    "truck",
    "bus",
    "motorcycle",
    "bicycle",
    "other",
    "alerts_opened",
    "alerts_acknowledged",
];

/// An object whose properties are all always present (possibly `null`), as the handlers
/// build their bodies.
fn object(properties: Value) -> Value {
    let required: Vec<String> = properties
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    json!({"type": "object", "required": required, "properties": properties})
}

/// A component schema or `null`.
fn ref_or_null(name: &str) -> Value {
    json!({"anyOf": [schema_ref(name), {"type": "null"}]})
}

/// The list envelope `{items, count, limit, offset, next_offset}` of the read routes, plus the
/// echoed parameters in `extra`.
fn list_page(item: &str, extra: Value) -> Value {
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

/// Response bodies of the read routes (cameras, metrics, dashboard, map, alerts, analytics).
fn response_schemas() -> Map<String, Value> {
    let ts = json!({"type": "string", "format": "date-time"});
    let ts_or_null = json!({"type": ["string", "null"], "format": "date-time"});
    let level = schema_ref("CongestionLevel");
    let count = json!({"type": "integer", "minimum": 0});
    let int64 = json!({"type": "integer", "format": "int64"});
    let number = json!({"type": "number"});
    let number_or_null = nullable("number");
    let string = json!({"type": "string"});
    let string_or_null = nullable("string");
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
        let properties: Map<String, Value> = COMPARED_KPIS
            .iter()
            .map(|name| ((*name).to_owned(), schema_ref("KpiDelta")))
            .collect();
        let mut deltas = object(Value::Object(properties));
        deltas["additionalProperties"] = schema_ref("KpiDelta");
        deltas["description"] = json!("Per numeric KPI, period B against period A.");
        deltas
    };
    let parts = [
        json!({
            "CongestionLevel": {"type": "string", "enum": LEVELS},
            "LevelCounts": object(LEVELS.iter().map(|l| ((*l).to_owned(), count.clone())).collect::<Map<_, _>>().into()),
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
            "CameraCongestion": object(json!({
                "camera_id": string,
                "road_segment": string_or_null,
                "window_start": ts,
                "window_end": ts,
                "congestion_level": level,
                "congestion_score": number,
                "avg_speed_kmh": number_or_null,
                "vehicle_count": count,
            })),
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
                "max_congestion_level": {"type": ["string", "null"], "enum": ["LOW", "MODERATE", "HIGH", "SEVERE", null]},
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
            "Incident": object(json!({
                "camera_id": string,
                "name": string_or_null,
                "latitude": number_or_null,
                "longitude": number_or_null,
                "road_segment": string_or_null,
                "window_start": ts,
                "window_end": ts,
                "congestion_level": level,
                "congestion_score": number,
                "avg_speed_kmh": number_or_null,
                "vehicle_count": count,
                "alert": ref_or_null("IncidentAlert"),
            })),
            "IncidentPage": list_page("Incident", json!({
                "severity": {"type": "string", "enum": ["MODERATE", "HIGH", "SEVERE"]},
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
                "severity": {"type": ["string", "null"], "enum": ["HIGH", "SEVERE", null]},
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
    let mut map = Map::new();
    for part in parts {
        if let Value::Object(part) = part {
            map.extend(part);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];

    #[test]
    fn paths_match_the_route_table_both_ways() {
        let doc = document();
        let paths = doc["paths"].as_object().expect("paths");
        let routes: BTreeSet<(String, String)> = Route::ALL
            .iter()
            .map(|r| {
                let (m, t) = r.spec();
                (m.as_str().to_ascii_lowercase(), t.to_owned())
            })
            .collect();
        let mut documented = BTreeSet::new();
        for (template, item) in paths {
            for (method, _) in item.as_object().expect("path item") {
                assert!(METHODS.contains(&method.as_str()), "{template}: {method}");
                documented.insert((method.clone(), template.clone()));
            }
        }
        assert_eq!(routes, documented);
    }

    #[test]
    fn document_is_structurally_sound() {
        let doc = document();
        assert!(doc["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.1."));
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let tags: BTreeSet<&str> = TAGS.iter().map(|(n, _)| *n).collect();
        let mut operation_ids = BTreeSet::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            assert!(template.starts_with('/'), "{template}");
            let declared_in_template: BTreeSet<&str> =
                template_params(template).into_iter().collect();
            for (method, operation) in item.as_object().expect("item") {
                let at = format!("{method} {template}");
                let responses = operation["responses"].as_object().expect("responses");
                assert!(!responses.is_empty(), "{at}: no responses");
                // A WebSocket's success is the 101 that starts the session.
                let success = if template.starts_with("/ws/") {
                    "101"
                } else {
                    "2"
                };
                assert!(
                    responses.keys().any(|s| s.starts_with(success)),
                    "{at}: no success response"
                );
                for (status, response) in responses {
                    assert!(status.parse::<u16>().is_ok(), "{at}: status {status}");
                    assert!(
                        response["description"].is_string(),
                        "{at} {status}: description"
                    );
                }
                assert!(operation_ids.insert(
                    operation["operationId"]
                        .as_str()
                        .expect("operationId")
                        .to_owned()
                ));
                let tag = operation["tags"][0].as_str().expect("tag");
                assert!(tags.contains(tag), "{at}: tag {tag} not declared");
                let params = operation["parameters"].as_array().expect("parameters");
                let mut seen = BTreeSet::new();
                let mut in_path = BTreeSet::new();
                for p in params {
                    let name = p["name"].as_str().expect("name");
                    let place = p["in"].as_str().expect("in");
                    assert!(seen.insert((name, place)), "{at}: {name} declared twice");
                    assert!(p["schema"].is_object(), "{at}: {name} without schema");
                    if place == "path" {
                        assert_eq!(
                            p["required"], true,
                            "{at}: path parameter {name} must be required"
                        );
                        in_path.insert(name);
                    }
                }
                assert_eq!(declared_in_template, in_path, "{at}: path parameters");
                let admin = template.starts_with("/api/admin/");
                assert_eq!(operation.get("security").is_some(), admin, "{at}: security");
                if admin {
                    assert!(
                        responses.contains_key("401") && responses.contains_key("403"),
                        "{at}"
                    );
                }
            }
        }
        // Every `$ref` points at a schema that exists.
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().expect("ref name");
            assert!(schemas.contains_key(name), "dangling $ref {name}");
        }
        let schemes = doc["components"]["securitySchemes"]
            .as_object()
            .expect("schemes");
        assert_eq!(schemes["adminToken"]["name"], "X-Admin-Token");
        assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    }

    /// Every `$ref` anywhere in `value`, with the JSON path where it occurs.
    fn refs<'a>(value: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    if key == "$ref" {
                        out.push((at.clone(), child.as_str().unwrap_or_default()));
                    } else {
                        refs(child, format!("{at}/{key}"), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    refs(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn every_ref_resolves_to_a_component_schema() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let mut found = Vec::new();
        refs(&doc, String::new(), &mut found);
        assert!(!found.is_empty());
        let mut used = BTreeSet::new();
        for (at, target) in found {
            let name = target
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("{at}: $ref {target:?} is not a component schema"));
            assert!(schemas.contains_key(name), "{at}: dangling $ref {name}");
            used.insert(name.to_owned());
        }
        for name in schemas.keys() {
            assert!(used.contains(name), "component schema {name} is never used");
        }
    }

    #[test]
    fn json_success_responses_have_real_schemas() {
        let doc = document();
        assert!(doc["components"]["schemas"].get("AnyJson").is_none());
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("item") {
                let at = format!("{method} {template}");
                let responses = operation["responses"].as_object().expect("responses");
                for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('2')) {
                    let Some(content) = response.get("content").and_then(Value::as_object) else {
                        assert_eq!(status, "204", "{at}: {status} without a body");
                        continue;
                    };
                    for (media, body) in content {
                        let schema = &body["schema"];
                        if media == "application/json" {
                            // The OpenAPI document describes itself only as an object.
                            if template == "/openapi.json" {
                                assert_eq!(schema["type"], "object", "{at}");
                                continue;
                            }
                            let target = schema["$ref"].as_str().unwrap_or_else(|| {
                                panic!("{at} {status}: JSON body without a component schema")
                            });
                            assert!(!target.ends_with("/AnyJson"), "{at} {status}: AnyJson");
                        } else {
                            assert_eq!(schema["type"], "string", "{at} {status} {media}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn list_pages_share_the_envelope() {
        let doc = document();
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        for name in [
            "CameraPage",
            "CameraCongestionPage",
            "MetricHistoryPage",
            "HeatmapPage",
            "IncidentPage",
            "AlertPage",
            "AlertHistoryPage",
        ] {
            let schema = &schemas[name];
            let required: BTreeSet<&str> = schema["required"]
                .as_array()
                .expect("required")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for field in ["items", "count", "limit", "offset", "next_offset"] {
                assert!(required.contains(field), "{name}: {field} not required");
            }
            for field in schema["properties"].as_object().expect("properties").keys() {
                assert!(
                    required.contains(field.as_str()),
                    "{name}: {field} optional"
                );
            }
        }
        let deltas = &schemas["AnalyticsComparison"]["properties"]["deltas"];
        assert_eq!(
            deltas["properties"].as_object().expect("kpis").len(),
            COMPARED_KPIS.len()
        );
        assert_eq!(deltas["additionalProperties"], schema_ref("KpiDelta"));
    }
}

//! What each route's entry in `paths` says beyond its method, template and path parameters:
//! tag, summary, description, query parameters, request body and responses. [`operation`]
//! matches every [`Route`] exhaustively, so the compiler rejects a new route without an entry.

use contract::notice::MAX_NOTIFY_BYTES;
use contract::Channel;
use serde_json::{json, Value};

use super::parameters::{
    alert_filters, camera_param, page_params, query, range_params, role_param,
};
use super::responses::{err, json_body, ok, Response};
use super::schemas::{level_names, schema_ref};
use crate::data::paging::Limits;
use crate::routes::dashboard::{EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT};
use crate::routes::map::{incident_levels, DEFAULT_INCIDENT_LEVEL};
use crate::routes::predict::{HORIZON_DEFAULT, HORIZON_MAX, LOOKBACK_DEFAULT, LOOKBACK_MAX};
use crate::routes::Route;

/// Tags, in the order the docs page shows them.
pub(super) const TAGS: &[(&str, &str)] = &[
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

/// What a route's entry in `paths` says beyond its method and template.
pub(super) struct Op {
    pub(super) tag: &'static str,
    pub(super) summary: &'static str,
    pub(super) description: String,
    pub(super) query: Vec<Value>,
    pub(super) body: Option<Value>,
    pub(super) responses: Vec<Response>,
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

/// Everything about a route except its method, template and path parameters.
pub(super) fn operation(route: Route) -> Op {
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
            .query(page_params(Limits::CAMERAS))
            .responds(vec![ok("Cameras", "CameraPage"), bad()]),
        MetricsCurrent => op("metrics", "Latest metrics of one camera", "The most recent closed window, camera-wide and per lane.")
            .query(vec![camera_param(true)])
            .responds(vec![ok("Latest window", "MetricsCurrent"), bad(), not_found()]),
        MetricsHistory => op("metrics", "Metrics history of one camera", "Closed windows of one camera in a period.")
            .query({
                let mut p = vec![camera_param(true)];
                p.extend(range_params("from", "to"));
                p.push(query("lane_id", false, "One lane's rows instead of the camera-wide ones.", json!({"type": "string"})));
                p.extend(page_params(Limits::HISTORY));
                p
            })
            .responds(vec![ok("Windows", "MetricHistoryPage"), bad(), not_found()]),
        CongestionCurrent => op("cameras", "Current congestion of every camera", "The latest camera-wide congestion score and level per camera.")
            .query(page_params(Limits::CAMERAS))
            .responds(vec![ok("Congestion per camera", "CameraCongestionPage"), bad()]),
        DashboardSummary => op("dashboard", "KPI summary", "Totals and averages across cameras.")
            .responds(vec![ok("Summary", "DashboardSummary")]),
        DashboardEvents => op("dashboard", "Recent raw traffic events", "Newest first.")
            .query(vec![
                query("limit", false, "Number of events.", json!({"type": "integer", "minimum": 1, "maximum": EVENTS_MAX_LIMIT, "default": EVENTS_DEFAULT_LIMIT})),
                camera_param(false),
                query("before", false, "Only events strictly older (use `next_before` of the previous page).", json!({"type": "string", "format": "date-time"})),
                query("skip", false, "Events at exactly `before` already returned (use `next_skip`); needs `before`.", json!({"type": "integer", "minimum": 0, "maximum": i32::MAX})),
            ])
            .responds(vec![ok("Events", "TrafficEventPage"), bad()]),
        MapHeatmap => op("map", "Heatmap intensity per camera", "Traffic intensity over the last `minutes`.")
            .query({
                let mut p = vec![query("minutes", false, "Window to aggregate, in minutes.", json!({"type": "integer", "minimum": 1, "maximum": 1440, "default": 5}))];
                p.extend(page_params(Limits::CAMERAS));
                p
            })
            .responds(vec![ok("Intensity per camera", "HeatmapPage"), bad()]),
        MapIncidents => op("map", "Cameras with elevated congestion", "Cameras whose latest level is at least `severity`.")
            .query({
                let mut p = vec![query(
                    "severity",
                    false,
                    &format!("Minimum level (default {DEFAULT_INCIDENT_LEVEL})."),
                    json!({"type": "string", "enum": level_names(incident_levels())}),
                )];
                p.extend(page_params(Limits::CAMERAS));
                p
            })
            .responds(vec![ok("Incidents", "IncidentPage"), bad()]),
        AlertsCurrent => op("alerts", "Active alerts", "Alerts whose status is `active`.")
            .query(page_params(Limits::ALERTS))
            .responds(vec![ok("Alerts", "AlertPage"), bad()]),
        AlertsHistory => op("alerts", "Alert history", "Alerts overlapping a period, filtered.")
            .query({
                let mut p = alert_filters();
                p.extend(page_params(Limits::ALERTS));
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
            &format!(
                "Any subset of the six parameters; the merged result must satisfy 0 < moderate < high < severe <= 1, \
             weights >= 0 with a positive sum, and lane_capacity_per_window > 0. The running pipeline applies the \
             change on its next window (NOTIFY `{}`).",
                Channel::Thresholds
            ),
        )
        .body("ThresholdsUpdate")
        .responds(vec![ok("The stored thresholds", "Thresholds"), err(400, "The body is not JSON"), invalid()]),
        AdminZonesList => op("admin", "Zones", "Ordered by `zone_id`.")
            .query(page_params(Limits::ADMIN))
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
            .query(page_params(Limits::ADMIN))
            .responds(vec![ok("A page of cameras", "AdminCameraPage"), bad()]),
        AdminCameraPut => op(
            "admin",
            "Create or update a camera",
            &format!(
                "Absent or `null` fields keep their stored value. Calibration changes (lanes, metres_per_pixel, \
             free_flow_speed_kmh, road_segment) reach the running pipeline through NOTIFY `{}`.",
                Channel::Cameras
            ),
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
                 `{broadcast_channel}`; anything LISTENing receives it. The encoded notification must fit in \
                 {MAX_NOTIFY_BYTES} bytes. Every query-server replica LISTENs on it and delivers the \
                 notification as an `admin_broadcast` envelope on `/ws/events` (and `/ws/metrics`, `/ws/metrics/lanes`).",
                broadcast_channel = Channel::Broadcast,
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

pub(super) fn operation_id(route: Route) -> String {
    // `AdminZoneUpdate` -> `adminZoneUpdate`: stable, unique, and readable in generated clients.
    let name = format!("{route:?}");
    let mut chars = name.chars();
    chars
        .next()
        .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

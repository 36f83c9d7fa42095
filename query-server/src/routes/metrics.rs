//! `GET /metrics/current` and `GET /metrics/history`: one camera's window metrics.
//!
//! A `traffic_metrics` row with `lane_id` NULL is the camera-wide aggregate of a window; the
//! rows with a lane id break the same window down per lane.

use chrono::{DateTime, Duration, Utc};
use postgres::Row;
use serde_json::Value;

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{json, ApiResult};
use crate::params::{range, rfc3339, Rfc3339};

/// Default and maximum page size of `/metrics/history`: the maximum holds one day of 5-second
/// windows (17 280) in a single page.
const HISTORY_DEFAULT_LIMIT: i64 = 1000;
const HISTORY_MAX_LIMIT: i64 = 20_000;

/// The `traffic_metrics` columns [`metric_json`] reads, in a form to paste into a SELECT.
pub(crate) const METRIC_COLUMNS: &str = "camera_id, lane_id, window_start, window_end, vehicle_count, \
     event_count, avg_speed_kmh, speed_source, car_count, truck_count, bus_count, motorcycle_count, \
     bicycle_count, other_count, avg_confidence, congestion_score, congestion_level";

/// One `traffic_metrics` row (selected with [`METRIC_COLUMNS`], in that order) as the API shows
/// it. A struct, read by column index, serializes several times faster than a `Value` map per
/// row, which matters for a day of history (17,280 rows).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MetricRow {
    pub(crate) camera_id: String,
    pub(crate) lane_id: Option<String>,
    pub(crate) window_start: Rfc3339,
    pub(crate) window_end: Rfc3339,
    pub(crate) vehicle_count: i32,
    pub(crate) event_count: i32,
    pub(crate) avg_speed_kmh: Option<f64>,
    pub(crate) speed_source: String,
    pub(crate) car_count: i32,
    pub(crate) truck_count: i32,
    pub(crate) bus_count: i32,
    pub(crate) motorcycle_count: i32,
    pub(crate) bicycle_count: i32,
    pub(crate) other_count: i32,
    pub(crate) avg_confidence: Option<f64>,
    pub(crate) congestion_score: f64,
    pub(crate) congestion_level: String,
}

impl MetricRow {
    pub(crate) fn from_row(row: &Row) -> Self {
        Self {
            camera_id: row.get(0),
            lane_id: row.get(1),
            window_start: Rfc3339(row.get(2)),
            window_end: Rfc3339(row.get(3)),
            vehicle_count: row.get(4),
            event_count: row.get(5),
            avg_speed_kmh: row.get(6),
            speed_source: row.get(7),
            car_count: row.get(8),
            truck_count: row.get(9),
            bus_count: row.get(10),
            motorcycle_count: row.get(11),
            bicycle_count: row.get(12),
            other_count: row.get(13),
            avg_confidence: row.get(14),
            congestion_score: row.get(15),
            congestion_level: row.get(16),
        }
    }
}

/// One `traffic_metrics` row (selected with [`METRIC_COLUMNS`]) as a JSON value.
pub(crate) fn metric_json(row: &Row) -> Value {
    serde_json::to_value(MetricRow::from_row(row)).unwrap_or(Value::Null)
}

/// 404 unless `camera_id` is a known camera, so a typo is told apart from a quiet camera.
pub(crate) fn ensure_camera(
    client: &mut postgres::Client,
    camera_id: &str,
) -> Result<(), ApiError> {
    let found = client.query_opt("SELECT 1 FROM cameras WHERE camera_id = $1", &[&camera_id])?;
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!(
            "camera '{camera_id}' not found"
        ))),
    }
}

/// `GET /metrics/current?camera_id=X`: the camera's latest camera-wide window, with the lane
/// rows of that same window under `lanes` (ordered by lane id, numeric ids numerically).
pub async fn current(ctx: &Ctx, req: &Req) -> ApiResult {
    let camera_id = req.params.required("camera_id")?.to_owned();
    let from_memory = ctx.feed.read_current(|state| {
        if state.camera(&camera_id).is_none() {
            return Err(ApiError::not_found(format!(
                "camera '{camera_id}' not found"
            )));
        }
        let window = state.windows(Some(&camera_id)).next().ok_or_else(|| {
            ApiError::not_found(format!("camera '{camera_id}' has no metrics yet"))
        })?;
        Ok(window.with_lanes_json())
    });
    if let Some(body) = from_memory {
        return json(&body?);
    }
    let body = ctx
        .db
        .run(move |client| {
            ensure_camera(client, &camera_id)?;
            let latest = client.query_opt(
                &format!(
                    "SELECT {METRIC_COLUMNS} FROM traffic_metrics
                     WHERE camera_id = $1 AND lane_id IS NULL
                     ORDER BY window_start DESC LIMIT 1"
                ),
                &[&camera_id],
            )?;
            let Some(latest) = latest else {
                return Err(ApiError::not_found(format!(
                    "camera '{camera_id}' has no metrics yet"
                )));
            };
            let window_start: DateTime<Utc> = latest.get("window_start");
            let lanes = client.query(
                &format!(
                    "SELECT {METRIC_COLUMNS} FROM traffic_metrics
                     WHERE camera_id = $1 AND lane_id IS NOT NULL AND window_start = $2
                     ORDER BY length(lane_id), lane_id"
                ),
                &[&camera_id, &window_start],
            )?;
            let mut body = metric_json(&latest);
            body["lanes"] = Value::Array(lanes.iter().map(metric_json).collect());
            Ok(body)
        })
        .await?;
    json(&body)
}

/// `GET /metrics/history?camera_id=X[&from&to][&lane_id][&limit&offset]`: windows with
/// `from <= window_start < to` (default: the last hour), oldest first, camera-wide unless
/// `lane_id` is given. Pages by `offset`; `next_offset` is null on the last page.
pub async fn history(ctx: &Ctx, req: &Req) -> ApiResult {
    let camera_id = req.params.required("camera_id")?.to_owned();
    let lane_id = req.params.text("lane_id").map(str::to_owned);
    let now = Utc::now();
    let (from, to) = range(&req.params, "from", "to", now - Duration::hours(1), now)?;
    let limit = req
        .params
        .int("limit", HISTORY_DEFAULT_LIMIT, 1, HISTORY_MAX_LIMIT)?;
    let offset = req.params.int("offset", 0, 0, i64::from(i32::MAX))?;
    let body = ctx
        .db
        .run(move |client| {
            let fetch = limit + 1;
            // Typed parameters: one round trip, no separate prepare, on the route that moves the
            // most rows.
            use postgres::types::Type;
            let rows = match &lane_id {
                None => client.query_typed(
                    &format!(
                        "SELECT {METRIC_COLUMNS} FROM traffic_metrics
                         WHERE camera_id = $1 AND lane_id IS NULL
                           AND window_start >= $2 AND window_start < $3
                         ORDER BY window_start LIMIT $4 OFFSET $5"
                    ),
                    &[
                        (&camera_id, Type::TEXT),
                        (&from, Type::TIMESTAMPTZ),
                        (&to, Type::TIMESTAMPTZ),
                        (&fetch, Type::INT8),
                        (&offset, Type::INT8),
                    ],
                )?,
                Some(lane) => client.query_typed(
                    &format!(
                        "SELECT {METRIC_COLUMNS} FROM traffic_metrics
                         WHERE camera_id = $1 AND lane_id = $6
                           AND window_start >= $2 AND window_start < $3
                         ORDER BY window_start LIMIT $4 OFFSET $5"
                    ),
                    &[
                        (&camera_id, Type::TEXT),
                        (&from, Type::TIMESTAMPTZ),
                        (&to, Type::TIMESTAMPTZ),
                        (&fetch, Type::INT8),
                        (&offset, Type::INT8),
                        (lane, Type::TEXT),
                    ],
                )?,
            };
            // Only an empty answer needs telling an unknown camera from a quiet one.
            if rows.is_empty() {
                ensure_camera(client, &camera_id)?;
            }
            let more = rows.len() as i64 > limit;
            let items: Vec<MetricRow> = rows
                .iter()
                .take(limit as usize)
                .map(MetricRow::from_row)
                .collect();
            Ok(HistoryPage {
                count: items.len(),
                camera_id,
                lane_id,
                from: rfc3339(from),
                to: rfc3339(to),
                limit,
                offset,
                next_offset: more.then_some(offset + limit),
                items,
            })
        })
        .await?;
    json(&body)
}

#[derive(serde::Serialize)]
struct HistoryPage {
    camera_id: String,
    lane_id: Option<String>,
    from: String,
    to: String,
    limit: i64,
    offset: i64,
    count: usize,
    next_offset: Option<i64>,
    items: Vec<MetricRow>,
}

//! `GET /metrics/current` and `GET /metrics/history`: one camera's window metrics.
//!
//! A `traffic_metrics` row with `lane_id` NULL is the camera-wide aggregate of a window; the
//! rows with a lane id break the same window down per lane.

use chrono::{DateTime, Duration, Utc};
use postgres::Row;
use serde_json::{json, Value};

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{json, ApiResult};
use crate::params::{range, rfc3339};

/// Default and maximum page size of `/metrics/history`: the maximum holds one day of 5-second
/// windows (17 280) in a single page.
const HISTORY_DEFAULT_LIMIT: i64 = 1000;
const HISTORY_MAX_LIMIT: i64 = 20_000;

/// The `traffic_metrics` columns [`metric_json`] reads, in a form to paste into a SELECT.
pub(crate) const METRIC_COLUMNS: &str = "camera_id, lane_id, window_start, window_end, vehicle_count, \
     event_count, avg_speed_kmh, speed_source, car_count, truck_count, bus_count, motorcycle_count, \
     bicycle_count, other_count, avg_confidence, congestion_score, congestion_level";

/// One `traffic_metrics` row (selected with [`METRIC_COLUMNS`]) as the API shows it.
pub(crate) fn metric_json(row: &Row) -> Value {
    json!({
        "camera_id": row.get::<_, String>("camera_id"),
        "lane_id": row.get::<_, Option<String>>("lane_id"),
        "window_start": rfc3339(row.get("window_start")),
        "window_end": rfc3339(row.get("window_end")),
        "vehicle_count": row.get::<_, i32>("vehicle_count"),
        "event_count": row.get::<_, i32>("event_count"),
        "avg_speed_kmh": row.get::<_, Option<f64>>("avg_speed_kmh"),
        "speed_source": row.get::<_, String>("speed_source"),
        "car_count": row.get::<_, i32>("car_count"),
        "truck_count": row.get::<_, i32>("truck_count"),
        "bus_count": row.get::<_, i32>("bus_count"),
        "motorcycle_count": row.get::<_, i32>("motorcycle_count"),
        "bicycle_count": row.get::<_, i32>("bicycle_count"),
        "other_count": row.get::<_, i32>("other_count"),
        "avg_confidence": row.get::<_, Option<f64>>("avg_confidence"),
        "congestion_score": row.get::<_, f64>("congestion_score"),
        "congestion_level": row.get::<_, String>("congestion_level"),
    })
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
            ensure_camera(client, &camera_id)?;
            let fetch = limit + 1;
            let rows = match &lane_id {
                None => client.query(
                    &format!(
                        "SELECT {METRIC_COLUMNS} FROM traffic_metrics
                         WHERE camera_id = $1 AND lane_id IS NULL
                           AND window_start >= $2 AND window_start < $3
                         ORDER BY window_start LIMIT $4 OFFSET $5"
                    ),
                    &[&camera_id, &from, &to, &fetch, &offset],
                )?,
                Some(lane) => client.query(
                    &format!(
                        "SELECT {METRIC_COLUMNS} FROM traffic_metrics
                         WHERE camera_id = $1 AND lane_id = $6
                           AND window_start >= $2 AND window_start < $3
                         ORDER BY window_start LIMIT $4 OFFSET $5"
                    ),
                    &[&camera_id, &from, &to, &fetch, &offset, lane],
                )?,
            };
            let more = rows.len() as i64 > limit;
            let items: Vec<Value> = rows.iter().take(limit as usize).map(metric_json).collect();
            Ok(json!({
                "camera_id": camera_id,
                "lane_id": lane_id,
                "from": rfc3339(from),
                "to": rfc3339(to),
                "limit": limit,
                "offset": offset,
                "count": items.len(),
                "next_offset": more.then_some(offset + limit),
                "items": items,
            }))
        })
        .await?;
    json(&body)
}

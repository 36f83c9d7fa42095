//! `GET /metrics/current` and `GET /metrics/history`: one camera's window metrics.

use chrono::{Duration, Utc};

use crate::context::{Ctx, Req};
use crate::data::cameras;
use crate::data::paging::{Limits, Page};
use crate::data::windows::{self, MetricRow, METRIC_COLUMNS};
use crate::error::ApiError;
use crate::http::{json, ApiResult};
use crate::params::{range, rfc3339};

/// `GET /metrics/current?camera_id=X`: the camera's latest camera-wide window, with the lane
/// rows of that same window under `lanes` (ordered by lane id, numeric ids numerically).
pub(crate) async fn current(ctx: &Ctx, req: &Req) -> ApiResult {
    let camera_id = req.params.required("camera_id")?.to_owned();
    let from_memory = ctx.feed.read_current(|state| {
        if state.camera(&camera_id).is_none() {
            return Err(ApiError::not_found(format!(
                "camera '{camera_id}' not found"
            )));
        }
        let window = state
            .windows(Some(&camera_id))
            .next()
            .ok_or_else(|| no_metrics_yet(&camera_id))?;
        Ok(window.with_lanes_json())
    });
    if let Some(body) = from_memory {
        return json(&body?);
    }
    let body = ctx
        .db
        .run(move |client| {
            cameras::ensure(client, &camera_id)?;
            let latest = windows::latest(client, std::slice::from_ref(&camera_id))?;
            latest
                .first()
                .map(windows::CameraWindow::with_lanes_json)
                .ok_or_else(|| no_metrics_yet(&camera_id))
        })
        .await?;
    json(&body)
}

fn no_metrics_yet(camera_id: &str) -> ApiError {
    ApiError::not_found(format!("camera '{camera_id}' has no metrics yet"))
}

/// `GET /metrics/history?camera_id=X[&from&to][&lane_id][&limit&offset]`: windows with
/// `from <= window_start < to` (default: the last hour), oldest first, camera-wide unless
/// `lane_id` is given. Pages by `offset`; `next_offset` is null on the last page.
pub(crate) async fn history(ctx: &Ctx, req: &Req) -> ApiResult {
    let camera_id = req.params.required("camera_id")?.to_owned();
    let lane_id = req.params.text("lane_id").map(str::to_owned);
    let now = Utc::now();
    let (from, to) = range(&req.params, "from", "to", now - Duration::hours(1), now)?;
    let page = Page::parse(&req.params, Limits::HISTORY)?;
    let body = ctx
        .db
        .run(move |client| {
            let fetch = page.fetch();
            let offset = page.offset;
            // Typed parameters: one round trip, no separate prepare, on the route that moves the
            // most rows.
            use postgres::types::Type;
            let lane_filter = match lane_id {
                Some(_) => "lane_id = $6",
                None => "lane_id IS NULL",
            };
            let mut params: Vec<(&(dyn postgres::types::ToSql + Sync), Type)> = vec![
                (&camera_id, Type::TEXT),
                (&from, Type::TIMESTAMPTZ),
                (&to, Type::TIMESTAMPTZ),
                (&fetch, Type::INT8),
                (&offset, Type::INT8),
            ];
            if let Some(lane) = &lane_id {
                params.push((lane, Type::TEXT));
            }
            let rows = client.query_typed(
                &format!(
                    "SELECT {METRIC_COLUMNS} FROM traffic_metrics
                     WHERE camera_id = $1 AND {lane_filter}
                       AND window_start >= $2 AND window_start < $3
                     ORDER BY window_start LIMIT $4 OFFSET $5"
                ),
                &params,
            )?;
            // Only an empty answer needs telling an unknown camera from a quiet one.
            if rows.is_empty() {
                cameras::ensure(client, &camera_id)?;
            }
            let mut items: Vec<MetricRow> = rows.iter().map(MetricRow::from_row).collect();
            let next_offset = page.cut(&mut items);
            Ok(HistoryPage {
                count: items.len(),
                camera_id,
                lane_id,
                from: rfc3339(from),
                to: rfc3339(to),
                limit: page.limit,
                offset,
                next_offset,
                items,
            })
        })
        .await?;
    json(&body)
}

/// A struct rather than a `Value`: a day of rows serializes without a map per row.
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

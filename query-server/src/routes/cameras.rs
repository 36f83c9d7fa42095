//! `GET /cameras` and `GET /congestion/current`: every camera with its latest camera-wide
//! window ([`latest_window_sql`]).

use chrono::{DateTime, Utc};
use postgres::Row;
use serde_json::{json, Value};

use crate::context::{Ctx, Req};
use crate::data::cameras::{registry_json, with_fields};
use crate::data::paging::{Limits, Page};
use crate::data::row_json::row_json;
use crate::data::windows::latest_window_sql;
use crate::http::{json, ApiResult};
use crate::params::rfc3339;

/// A camera counts as active when a window of it closed within this many minutes.
const ACTIVE_MINUTES: i32 = 5;

fn time(row: &Row, column: &str) -> Option<String> {
    row.get::<_, Option<DateTime<Utc>>>(column).map(rfc3339)
}

/// `GET /cameras`: every registered camera ordered by id, `active` when seen in the last five
/// minutes, `latest` = its latest camera-wide window or null.
pub(crate) async fn list(ctx: &Ctx, req: &Req) -> ApiResult {
    let page = Page::parse(&req.params, Limits::CAMERAS)?;
    let sql = format!(
        "SELECT c.camera_id, c.name, c.location, c.latitude, c.longitude, c.road_segment,
                c.lanes, c.last_seen_at,
                coalesce(c.last_seen_at > now() - make_interval(mins => $3::int), false) AS active,
                m.window_start, m.vehicle_count, m.avg_speed_kmh, m.congestion_level,
                m.congestion_score
         FROM cameras c
         LEFT JOIN LATERAL {latest} m ON true
         ORDER BY c.camera_id
         LIMIT $1 OFFSET $2",
        latest = latest_window_sql(
            "window_start, vehicle_count, avg_speed_kmh, congestion_level, congestion_score",
            "c.camera_id",
            None
        ),
    );
    let rows = ctx
        .db
        .run(move |client| Ok(page.query(client, &sql, &[&ACTIVE_MINUTES])?))
        .await?;
    let items = rows
        .iter()
        .map(|row| {
            let latest = time(row, "window_start").map(|window_start| {
                json!({
                    "window_start": window_start,
                    "vehicle_count": row.get::<_, Option<i32>>("vehicle_count"),
                    "avg_speed_kmh": row.get::<_, Option<f64>>("avg_speed_kmh"),
                    "congestion_level": row.get::<_, Option<String>>("congestion_level"),
                    "congestion_score": row.get::<_, Option<f64>>("congestion_score"),
                })
            });
            with_fields(
                registry_json(row),
                json!({
                    "last_seen_at": time(row, "last_seen_at"),
                    "active": row.get::<_, bool>("active"),
                    "latest": latest,
                }),
            )
        })
        .collect();
    json(&page.body(items))
}

/// `GET /congestion/current`: the latest camera-wide congestion of every camera that has
/// metrics, ordered by camera id.
pub(crate) async fn congestion_current(ctx: &Ctx, req: &Req) -> ApiResult {
    let page = Page::parse(&req.params, Limits::CAMERAS)?;
    let (skip, take) = page.window();
    let from_memory = ctx.feed.read_current(|state| {
        state
            .registered_windows()
            .skip(skip)
            .take(take)
            .map(|(info, w)| {
                let m = &w.camera;
                json!({
                    "camera_id": m.camera_id,
                    "road_segment": info.road_segment,
                    "window_start": m.window_start,
                    "window_end": m.window_end,
                    "congestion_level": m.congestion_level,
                    "congestion_score": m.congestion_score,
                    "avg_speed_kmh": m.avg_speed_kmh,
                    "vehicle_count": m.vehicle_count,
                })
            })
            .collect::<Vec<_>>()
    });
    if let Some(items) = from_memory {
        return json(&page.body(items));
    }
    let sql = format!(
        "SELECT c.camera_id, c.road_segment, m.window_start, m.window_end,
                m.congestion_level, m.congestion_score, m.avg_speed_kmh, m.vehicle_count
         FROM cameras c
         JOIN LATERAL {latest} m ON true
         ORDER BY c.camera_id
         LIMIT $1 OFFSET $2",
        latest = latest_window_sql(
            "window_start, window_end, congestion_level, congestion_score, \
                         avg_speed_kmh, vehicle_count",
            "c.camera_id",
            None
        ),
    );
    let items = ctx
        .db
        .run(move |client| {
            let rows = page.query(client, &sql, &[])?;
            Ok(rows
                .iter()
                .map(|row| Value::Object(row_json(row)))
                .collect())
        })
        .await?;
    json(&page.body(items))
}

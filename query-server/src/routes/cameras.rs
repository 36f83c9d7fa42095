//! `GET /cameras` and `GET /congestion/current`: every camera with its latest camera-wide
//! window ([`latest_window_sql`]).

use chrono::{DateTime, Utc};
use postgres::Row;
use serde_json::json;

use crate::context::{Ctx, Req};
use crate::data::paging::{Limits, Page};
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
    let fetch = page.fetch();
    let offset = page.offset;
    let rows = ctx
        .db
        .run(move |client| {
            Ok(client.query(
                &format!(
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
                ),
                &[&fetch, &offset, &ACTIVE_MINUTES],
            )?)
        })
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
            json!({
                "camera_id": row.get::<_, String>("camera_id"),
                "name": row.get::<_, Option<String>>("name"),
                "location": row.get::<_, Option<String>>("location"),
                "latitude": row.get::<_, Option<f64>>("latitude"),
                "longitude": row.get::<_, Option<f64>>("longitude"),
                "road_segment": row.get::<_, Option<String>>("road_segment"),
                "lanes": row.get::<_, Option<i32>>("lanes"),
                "last_seen_at": time(row, "last_seen_at"),
                "active": row.get::<_, bool>("active"),
                "latest": latest,
            })
        })
        .collect();
    json(&page.body(items))
}

/// `GET /congestion/current`: the latest camera-wide congestion of every camera that has
/// metrics, ordered by camera id.
pub(crate) async fn congestion_current(ctx: &Ctx, req: &Req) -> ApiResult {
    let page = Page::parse(&req.params, Limits::CAMERAS)?;
    let fetch = page.fetch();
    let offset = page.offset;
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
    let rows = ctx
        .db
        .run(move |client| {
            Ok(client.query(
                &format!(
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
                ),
                &[&fetch, &offset],
            )?)
        })
        .await?;
    let items = rows
        .iter()
        .map(|row| {
            json!({
                "camera_id": row.get::<_, String>("camera_id"),
                "road_segment": row.get::<_, Option<String>>("road_segment"),
                "window_start": rfc3339(row.get("window_start")),
                "window_end": rfc3339(row.get("window_end")),
                "congestion_level": row.get::<_, String>("congestion_level"),
                "congestion_score": row.get::<_, f64>("congestion_score"),
                "avg_speed_kmh": row.get::<_, Option<f64>>("avg_speed_kmh"),
                "vehicle_count": row.get::<_, i32>("vehicle_count"),
            })
        })
        .collect();
    json(&page.body(items))
}

//! `GET /api/map/heatmap` (per-camera congestion intensity over recent minutes) and
//! `GET /api/map/incidents` (cameras currently at or above a congestion level).

use chrono::{DateTime, Utc};
use contract::CongestionLevel;
use postgres::Row;
use serde_json::{json, Value};

use crate::context::{Ctx, Req};
use crate::data::cameras::{place_json, with_fields};
use crate::data::levels;
use crate::data::paging::{Limits, Page};
use crate::data::row_json::row_json;
use crate::data::windows::latest_window_sql;
use crate::http::{json, ApiResult};
use crate::params::rfc3339;

static LEVELS: [CongestionLevel; CongestionLevel::ALL.len()] = CongestionLevel::ALL;

/// The levels `/api/map/incidents?severity=` accepts: every level but the lowest, since
/// "cameras at or above LOW" would be every camera.
pub(crate) fn incident_levels() -> &'static [CongestionLevel] {
    &LEVELS[1..]
}

/// The default minimum level of incidents: the lowest level that raises alerts.
pub(crate) const DEFAULT_INCIDENT_LEVEL: CongestionLevel = CongestionLevel::ALERTING[0];

/// `GET /api/map/heatmap?minutes=N` (default 5, 1..=1440): for every camera with camera-wide
/// windows starting in the last N minutes, `intensity` = mean congestion score clamped to
/// [0, 1], mean vehicle count, highest level and the number of windows; ordered by camera id.
pub(crate) async fn heatmap(ctx: &Ctx, req: &Req) -> ApiResult {
    let minutes = req.params.int("minutes", 5, 1, 1440)?;
    let minutes_i32 = i32::try_from(minutes).unwrap_or(1440);
    let page = Page::parse(&req.params, Limits::CAMERAS)?;
    let (now, rows) = ctx
        .db
        .run(move |client| {
            let now: DateTime<Utc> = client.query_one("SELECT now()", &[])?.get(0);
            let rows = page.query(
                client,
                &format!(
                    "SELECT c.camera_id, c.latitude, c.longitude, c.road_segment,
                            least(greatest(avg(m.congestion_score), 0), 1) AS intensity,
                            avg(m.vehicle_count)::float8 AS avg_vehicle_count,
                            max({rank}) AS max_rank,
                            count(*) AS windows,
                            max(m.window_start) AS latest_window_start
                     FROM traffic_metrics m
                     JOIN cameras c ON c.camera_id = m.camera_id
                     WHERE m.lane_id IS NULL AND m.window_start >= $3::timestamptz - make_interval(mins => $4::int)
                     GROUP BY c.camera_id
                     ORDER BY c.camera_id
                     LIMIT $1 OFFSET $2",
                    rank = levels::rank_sql("m.congestion_level"),
                ),
                &[&now, &minutes_i32],
            )?;
            Ok((now, rows))
        })
        .await?;
    let items = rows
        .iter()
        .map(|row| {
            let max_level = row
                .get::<_, Option<i32>>("max_rank")
                .and_then(levels::from_rank);
            let mut body = row_json(row);
            body.remove("max_rank");
            body.insert(
                "max_congestion_level".into(),
                max_level.map(|l| l.as_str()).into(),
            );
            Value::Object(body)
        })
        .collect();
    let mut body = page.body(items);
    body["minutes"] = json!(minutes);
    body["since"] = json!(rfc3339(now - chrono::Duration::minutes(minutes)));
    body["generated_at"] = json!(rfc3339(now));
    json(&body)
}

/// `GET /api/map/incidents?severity=MODERATE|HIGH|SEVERE` (minimum level, default HIGH,
/// case-insensitive): cameras whose latest camera-wide window is at or above it, most severe
/// first, each with its most recent active alert (or null).
pub(crate) async fn incidents(ctx: &Ctx, req: &Req) -> ApiResult {
    let severity = req
        .params
        .level("severity", incident_levels())?
        .unwrap_or(DEFAULT_INCIDENT_LEVEL);
    let min_rank = levels::rank(severity);
    let page = Page::parse(&req.params, Limits::CAMERAS)?;
    let sql = format!(
        "SELECT c.camera_id, c.name, c.latitude, c.longitude, c.road_segment,
                m.window_start, m.window_end, m.congestion_level, m.congestion_score,
                m.avg_speed_kmh, m.vehicle_count, m.rank,
                a.alert_id, a.alert_type, a.severity, a.peak_severity, a.score,
                a.message, a.opened_at, a.updated_at, a.acknowledged_by,
                a.acknowledged_at
         FROM cameras c
         JOIN LATERAL {latest} m ON true
         LEFT JOIN LATERAL (
             SELECT alert_id, alert_type, severity, peak_severity, score, message,
                    opened_at, updated_at, acknowledged_by, acknowledged_at
             FROM alerts al
             WHERE al.camera_id = c.camera_id AND al.status = 'active'
             ORDER BY al.opened_at DESC LIMIT 1
         ) a ON true
         WHERE m.rank >= $3
         ORDER BY m.rank DESC, m.congestion_score DESC, c.camera_id
         LIMIT $1 OFFSET $2",
        latest = latest_window_sql(
            &format!(
                "window_start, window_end, congestion_level, congestion_score, \
                             avg_speed_kmh, vehicle_count, {} AS rank",
                levels::rank_sql("congestion_level")
            ),
            "c.camera_id",
            None
        ),
    );
    let items = ctx
        .db
        .run(move |client| {
            let rows = page.query(client, &sql, &[&min_rank])?;
            Ok(rows.iter().map(incident_json).collect())
        })
        .await?;
    let mut body = page.body(items);
    body["severity"] = json!(severity.as_str());
    json(&body)
}

fn incident_json(row: &Row) -> Value {
    let alert = row.get::<_, Option<i64>>("alert_id").map(|alert_id| {
        json!({
            "alert_id": alert_id,
            "alert_type": row.get::<_, String>("alert_type"),
            "severity": row.get::<_, String>("severity"),
            "peak_severity": row.get::<_, String>("peak_severity"),
            "score": row.get::<_, f64>("score"),
            "message": row.get::<_, String>("message"),
            "opened_at": rfc3339(row.get("opened_at")),
            "updated_at": rfc3339(row.get("updated_at")),
            "acknowledged_by": row.get::<_, Option<String>>("acknowledged_by"),
            "acknowledged_at": row.get::<_, Option<DateTime<Utc>>>("acknowledged_at").map(rfc3339),
        })
    });
    with_fields(
        place_json(row),
        json!({
        "window_start": rfc3339(row.get("window_start")),
        "window_end": rfc3339(row.get("window_end")),
        "congestion_level": row.get::<_, String>("congestion_level"),
        "congestion_score": row.get::<_, f64>("congestion_score"),
        "avg_speed_kmh": row.get::<_, Option<f64>>("avg_speed_kmh"),
        "vehicle_count": row.get::<_, i32>("vehicle_count"),
        "alert": alert,
        }),
    )
}

//! `GET /api/dashboard/summary` (KPIs across cameras) and `GET /api/dashboard/events` (recent
//! raw detections).

use chrono::{DateTime, Duration, Utc};
use contract::CongestionLevel;
use postgres::types::ToSql;
use postgres::Row;
use serde_json::{json, Map, Value};

use crate::context::{Ctx, Req};
use crate::data::cameras;
use crate::data::windows::latest_window_sql;
use crate::error::ApiError;
use crate::http::{json, ApiResult};
use crate::params::rfc3339;

/// A camera's latest window feeds the KPIs only if it started this recently, so a camera that
/// went quiet an hour ago does not pin stale numbers on the dashboard.
const FRESH_MINUTES: i32 = 15;
/// Same meaning as the `active` flag of `GET /cameras`.
const ACTIVE_MINUTES: i32 = 5;

pub(crate) const EVENTS_DEFAULT_LIMIT: i64 = 10;
pub(crate) const EVENTS_MAX_LIMIT: i64 = 500;

/// `GET /api/dashboard/summary`. Per-camera figures come from each camera's latest camera-wide
/// window when it started in the last 15 minutes: `total_vehicles` sums their vehicle counts,
/// `avg_speed_kmh` is the mean of their average speeds, `level_distribution` counts their
/// levels and `worst_camera` has the highest congestion score. All figures use the database's
/// clock, the same instant as `generated_at`.
pub(crate) async fn summary(ctx: &Ctx, _req: &Req) -> ApiResult {
    let body = ctx
        .db
        .run(move |client| {
            let now: DateTime<Utc> = client.query_one("SELECT now()", &[])?.get(0);
            let cameras = client.query(
                &format!(
                    "SELECT c.camera_id, c.road_segment,
                            coalesce(c.last_seen_at > $1::timestamptz - make_interval(mins => $2::int), false) AS active,
                            m.window_start, m.vehicle_count, m.avg_speed_kmh, m.congestion_level,
                            m.congestion_score
                     FROM cameras c
                     LEFT JOIN LATERAL {latest} m ON true
                     ORDER BY c.camera_id",
                    latest = latest_window_sql(
                        "window_start, vehicle_count, avg_speed_kmh, congestion_level, congestion_score",
                        "c.camera_id",
                        Some("$1::timestamptz - make_interval(mins => $3::int)"),
                    ),
                ),
                &[&now, &ACTIVE_MINUTES, &FRESH_MINUTES],
            )?;
            let active_alerts: i64 = client
                .query_one("SELECT count(*) FROM alerts WHERE status = 'active'", &[])?
                .get(0);
            let events_last_minute: i64 = client
                .query_one(
                    "SELECT count(*) FROM traffic_events
                     WHERE ts > $1::timestamptz - interval '1 minute' AND ts <= $1::timestamptz",
                    &[&now],
                )?
                .get(0);
            Ok(summarize(&cameras, active_alerts, events_last_minute, now))
        })
        .await?;
    json(&body)
}

fn summarize(
    cameras: &[Row],
    active_alerts: i64,
    events_last_minute: i64,
    now: DateTime<Utc>,
) -> Value {
    let mut distribution = [0i64; CongestionLevel::ALL.len()];
    let mut total_vehicles = 0i64;
    let mut speeds = Vec::new();
    let mut reporting = 0usize;
    let mut worst: Option<(&Row, f64)> = None;
    let active = cameras
        .iter()
        .filter(|r| r.get::<_, bool>("active"))
        .count();
    for row in cameras {
        if row
            .get::<_, Option<DateTime<Utc>>>("window_start")
            .is_none()
        {
            continue;
        }
        reporting += 1;
        total_vehicles += i64::from(row.get::<_, Option<i32>>("vehicle_count").unwrap_or(0));
        if let Some(speed) = row.get::<_, Option<f64>>("avg_speed_kmh") {
            speeds.push(speed);
        }
        let level = row
            .get::<_, Option<String>>("congestion_level")
            .and_then(|l| l.parse::<CongestionLevel>().ok());
        if let Some(i) = level.and_then(|l| CongestionLevel::ALL.iter().position(|x| *x == l)) {
            distribution[i] += 1;
        }
        let score = row.get::<_, Option<f64>>("congestion_score").unwrap_or(0.0);
        if worst.is_none_or(|(_, s)| score > s) {
            worst = Some((row, score));
        }
    }
    let avg_speed = (!speeds.is_empty()).then(|| speeds.iter().sum::<f64>() / speeds.len() as f64);
    let worst_camera = worst.map(|(row, score)| {
        json!({
            "camera_id": row.get::<_, String>("camera_id"),
            "road_segment": row.get::<_, Option<String>>("road_segment"),
            "congestion_level": row.get::<_, Option<String>>("congestion_level"),
            "congestion_score": score,
            "window_start": row.get::<_, Option<DateTime<Utc>>>("window_start").map(rfc3339),
        })
    });
    json!({
        "cameras_total": cameras.len(),
        "cameras_active": active,
        "cameras_reporting": reporting,
        "total_vehicles": total_vehicles,
        "avg_speed_kmh": avg_speed,
        "level_distribution": CongestionLevel::ALL
            .iter()
            .zip(distribution)
            .map(|(level, n)| (level.as_str().to_owned(), json!(n)))
            .collect::<Map<String, Value>>(),
        "active_alerts": active_alerts,
        "worst_camera": worst_camera,
        "events_last_minute": events_last_minute,
        "window_minutes": FRESH_MINUTES,
        "generated_at": rfc3339(now),
    })
}

/// The `traffic_events` columns [`event_json`] reads.
const EVENT_COLUMNS: &str =
    "camera_id, ts, frame_id, vehicle_id, class, confidence, bbox_x, bbox_y, \
     bbox_w, bbox_h, lane_id, speed_kmh, estimated_speed_kmh";
/// Newest first; ties (detections of one frame share a timestamp) in a fixed order.
const EVENT_ORDER: &str =
    "ORDER BY ts DESC, camera_id, kafka_partition DESC, kafka_offset DESC, detection_index DESC";

fn event_json(row: &Row) -> Value {
    json!({
        "camera_id": row.get::<_, String>("camera_id"),
        "timestamp": rfc3339(row.get("ts")),
        "frame_id": row.get::<_, i64>("frame_id"),
        "vehicle_id": row.get::<_, String>("vehicle_id"),
        "class": row.get::<_, String>("class"),
        "confidence": row.get::<_, f64>("confidence"),
        "bbox": {
            "x": row.get::<_, f64>("bbox_x"),
            "y": row.get::<_, f64>("bbox_y"),
            "w": row.get::<_, f64>("bbox_w"),
            "h": row.get::<_, f64>("bbox_h"),
        },
        "lane_id": row.get::<_, Option<String>>("lane_id"),
        "speed_kmh": row.get::<_, Option<f64>>("speed_kmh"),
        "estimated_speed_kmh": row.get::<_, Option<f64>>("estimated_speed_kmh"),
    })
}

/// `GET /api/dashboard/events?limit=N[&camera_id][&before[&skip]]`: the newest raw detections
/// (default 10, at most 500), optionally of one camera.
///
/// Paging: `before` alone returns events strictly older than it. Detections of one frame
/// share a timestamp, so a page can end inside such a group; the response's `next_before`
/// (the timestamp of its oldest event, full precision) and `next_skip` (how many events at
/// exactly that timestamp were already returned) continue exactly where it stopped: with
/// `skip=N` the events at exactly `before` are included except the first N.
///
/// Without a camera the `ts` index is a BRIN index, so the scan is bounded: the last hour
/// before the anchor first, widening to a day, a week, then everything only while too few
/// rows are found. With a camera the `(camera_id, ts DESC)` index serves it directly.
pub(crate) async fn events(ctx: &Ctx, req: &Req) -> ApiResult {
    let limit = req
        .params
        .int("limit", EVENTS_DEFAULT_LIMIT, 1, EVENTS_MAX_LIMIT)?;
    let camera_id = req.params.text("camera_id").map(str::to_owned);
    let before = req.params.datetime("before")?;
    let skip = match req.params.text("skip") {
        None => None,
        Some(_) if before.is_none() => {
            return Err(ApiError::bad_param("skip", "needs 'before'"));
        }
        Some(_) => Some(req.params.int("skip", 0, 0, i64::from(i32::MAX))?),
    };
    let body = ctx
        .db
        .run(move |client| {
            if let Some(camera) = &camera_id {
                cameras::ensure(client, camera)?;
            }
            let now: DateTime<Utc> = client.query_one("SELECT now()", &[])?.get(0);
            let anchor = before.unwrap_or(now);
            let query = EventQuery {
                camera_id: camera_id.as_deref(),
                before,
                skip,
                fetch: limit + 1,
            };
            let rows = if camera_id.is_some() {
                query.run(client, None)?
            } else {
                let mut rows = Vec::new();
                let spans = [
                    Some(Duration::hours(1)),
                    Some(Duration::days(1)),
                    Some(Duration::days(7)),
                    None,
                ];
                for span in spans {
                    rows = query.run(client, span.map(|s| anchor - s))?;
                    if rows.len() as i64 >= query.fetch {
                        break;
                    }
                }
                rows
            };
            let more = rows.len() as i64 > limit;
            let page = &rows[..rows.len().min(limit as usize)];
            let next = page.last().filter(|_| more).map(|last| {
                let last_ts: DateTime<Utc> = last.get("ts");
                let at_last = page
                    .iter()
                    .filter(|r| r.get::<_, DateTime<Utc>>("ts") == last_ts)
                    .count() as i64;
                let earlier = match (before, skip) {
                    (Some(b), Some(s)) if b == last_ts => s,
                    _ => 0,
                };
                (rfc3339_exact(last_ts), earlier + at_last)
            });
            let items: Vec<Value> = page.iter().map(event_json).collect();
            Ok(json!({
                "camera_id": camera_id,
                "limit": limit,
                "before": before.map(rfc3339_exact),
                "skip": skip,
                "count": items.len(),
                "next_before": next.as_ref().map(|n| n.0.clone()),
                "next_skip": next.as_ref().map(|n| n.1),
                "items": items,
            }))
        })
        .await?;
    json(&body)
}

/// Cursors keep the database's full (microsecond) precision so paging never skips a row.
fn rfc3339_exact(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

struct EventQuery<'a> {
    camera_id: Option<&'a str>,
    before: Option<DateTime<Utc>>,
    skip: Option<i64>,
    fetch: i64,
}

impl EventQuery<'_> {
    /// The page's rows (plus one to tell whether more exist), only those newer than `after`
    /// when given.
    fn run(
        &self,
        client: &mut postgres::Client,
        after: Option<DateTime<Utc>>,
    ) -> Result<Vec<Row>, postgres::Error> {
        let mut conditions = Vec::new();
        let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        if let Some(camera) = self.camera_id {
            args.push(Box::new(camera.to_owned()));
            conditions.push(format!("camera_id = ${}", args.len()));
        }
        if let Some(before) = self.before {
            args.push(Box::new(before));
            let op = if self.skip.is_some() { "<=" } else { "<" };
            conditions.push(format!("ts {op} ${}", args.len()));
        }
        if let Some(after) = after {
            args.push(Box::new(after));
            conditions.push(format!("ts > ${}", args.len()));
        }
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        args.push(Box::new(self.fetch));
        let limit = args.len();
        args.push(Box::new(self.skip.unwrap_or(0)));
        let offset = args.len();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM traffic_events {filter} {EVENT_ORDER} LIMIT ${limit} OFFSET ${offset}"
        );
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        client.query(&sql, &refs)
    }
}

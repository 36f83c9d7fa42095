//! `traffic_metrics` rows as the API shows them, a camera window with its lanes, and the
//! queries that find windows: by key (what a notification announced), the latest per camera,
//! and what was committed since a point in time.
//!
//! A row with `lane_id` NULL is the camera-wide aggregate of a window; the rows with a lane id
//! break the same window down per lane.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use postgres::{GenericClient, Row};
use serde_json::{json, Value};

use crate::params::Rfc3339;

/// The `traffic_metrics` columns [`MetricRow::from_row`] reads, in its order.
pub(crate) const METRIC_COLUMNS: &str = "camera_id, lane_id, window_start, window_end, vehicle_count, \
     event_count, avg_speed_kmh, speed_source, car_count, truck_count, bus_count, motorcycle_count, \
     bicycle_count, other_count, avg_confidence, congestion_score, congestion_level";

/// One `traffic_metrics` row (selected with [`METRIC_COLUMNS`], in that order) as the API shows
/// it. A struct, read by column index, serializes several times faster than a `Value` map per
/// row, which matters for a day of history (17,280 rows).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct MetricRow {
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

/// A committed camera window: the camera-wide row and the lane rows of the same window.
#[derive(Debug, Clone)]
pub(crate) struct CameraWindow {
    pub(crate) camera: MetricRow,
    pub(crate) lanes: Vec<MetricRow>,
}

impl CameraWindow {
    pub(crate) fn camera_id(&self) -> &str {
        &self.camera.camera_id
    }

    pub(crate) fn window_start(&self) -> DateTime<Utc> {
        self.camera.window_start.0
    }

    /// The camera-wide row with its lane rows under `lanes`, as `/metrics/current` shows it.
    pub(crate) fn with_lanes_json(&self) -> Value {
        let mut row = serde_json::to_value(&self.camera).unwrap_or(Value::Null);
        row["lanes"] = serde_json::to_value(&self.lanes).unwrap_or(Value::Null);
        row
    }

    /// The `/ws/metrics/lanes` form: the window and its lane rows.
    pub(crate) fn lanes_json(&self) -> Value {
        json!({
            "camera_id": self.camera.camera_id,
            "window_start": self.camera.window_start,
            "window_end": self.camera.window_end,
            "lanes": self.lanes,
        })
    }
}

/// The latest camera-wide window of the camera `camera` names (an SQL expression), as a
/// subquery for `JOIN LATERAL` that selects `columns` of `traffic_metrics t`; with `since`, only
/// among windows starting at or after that SQL expression. It is a backward scan of the
/// `(camera_id, lane_id, window_start)` unique index, one short probe per camera, which is why
/// every "latest window" of the API is written this way.
pub(crate) fn latest_window_sql(columns: &str, camera: &str, since: Option<&str>) -> String {
    let since = since
        .map(|s| format!(" AND t.window_start >= {s}"))
        .unwrap_or_default();
    format!(
        "(SELECT {columns} FROM traffic_metrics t
          WHERE t.camera_id = {camera} AND t.lane_id IS NULL{since}
          ORDER BY t.window_start DESC LIMIT 1)"
    )
}

/// Windows read back, with the latest commit time (`updated_at`) among their rows.
pub(crate) struct Read {
    pub(crate) windows: Vec<CameraWindow>,
    pub(crate) newest: Option<DateTime<Utc>>,
}

impl Read {
    fn from_rows(rows: &[Row]) -> Self {
        Self {
            windows: group_windows(rows),
            newest: rows
                .iter()
                .map(|r| r.get::<_, DateTime<Utc>>("updated_at"))
                .max(),
        }
    }
}

/// The windows `keys` (camera, window start) name, with their lanes.
pub(crate) fn at(
    client: &mut impl GenericClient,
    keys: &[(String, DateTime<Utc>)],
) -> Result<Read, postgres::Error> {
    let cameras: Vec<&str> = keys.iter().map(|(c, _)| c.as_str()).collect();
    let starts: Vec<DateTime<Utc>> = keys.iter().map(|(_, s)| *s).collect();
    let rows = client.query(
        &format!(
            "SELECT {METRIC_COLUMNS}, updated_at FROM traffic_metrics
             WHERE window_start = ANY($2) AND camera_id = ANY($1)"
        ),
        &[&cameras, &starts],
    )?;
    Ok(Read::from_rows(&rows))
}

/// The latest window (with its lanes) of each of `cameras` that has one.
pub(crate) fn latest(
    client: &mut impl GenericClient,
    cameras: &[String],
) -> Result<Vec<CameraWindow>, postgres::Error> {
    let rows = client.query(
        &format!(
            "SELECT {cols}, m.updated_at FROM UNNEST($1::text[]) AS k(camera_id)
             CROSS JOIN LATERAL {latest} l
             JOIN traffic_metrics m
               ON m.camera_id = k.camera_id AND m.window_start = l.window_start",
            cols = prefixed(METRIC_COLUMNS, "m."),
            latest = latest_window_sql("t.window_start", "k.camera_id", None),
        ),
        &[&cameras],
    )?;
    Ok(group_windows(&rows))
}

/// Rows committed at or after `since` (their transaction's start), lanes included.
pub(crate) fn committed_since(
    client: &mut impl GenericClient,
    since: DateTime<Utc>,
) -> Result<Read, postgres::Error> {
    let rows = client.query(
        &format!(
            "SELECT {METRIC_COLUMNS}, updated_at FROM traffic_metrics
             WHERE updated_at >= $1"
        ),
        &[&since],
    )?;
    Ok(Read::from_rows(&rows))
}

/// The camera-wide windows that started in the `minutes` before `now`, and each registered
/// camera's latest window with its lanes.
pub(crate) fn recent_and_latest(
    client: &mut impl GenericClient,
    now: DateTime<Utc>,
    minutes: i32,
) -> Result<Read, postgres::Error> {
    let rows = client.query(
        &format!(
            "WITH latest AS (
                 SELECT l.camera_id, l.window_start FROM cameras c
                 CROSS JOIN LATERAL {latest} l)
             SELECT {METRIC_COLUMNS}, updated_at FROM traffic_metrics
             WHERE window_start >= $1::timestamptz - make_interval(mins => $2::int)
               AND lane_id IS NULL
             UNION
             SELECT {cols}, m.updated_at FROM traffic_metrics m
             JOIN latest USING (camera_id, window_start)",
            latest = latest_window_sql("t.camera_id, t.window_start", "c.camera_id", None),
            cols = prefixed(METRIC_COLUMNS, "m.")
        ),
        &[&now, &minutes],
    )?;
    Ok(Read::from_rows(&rows))
}

/// Rows (selected with `METRIC_COLUMNS`) grouped into camera windows, oldest first; lane rows
/// without their camera-wide row are left out.
fn group_windows(rows: &[Row]) -> Vec<CameraWindow> {
    type Parts = (Option<MetricRow>, Vec<MetricRow>);
    let mut grouped: BTreeMap<(DateTime<Utc>, String), Parts> = BTreeMap::new();
    for row in rows {
        let metric = MetricRow::from_row(row);
        let entry = grouped
            .entry((metric.window_start.0, metric.camera_id.clone()))
            .or_default();
        if metric.lane_id.is_none() {
            entry.0 = Some(metric);
        } else {
            entry.1.push(metric);
        }
    }
    grouped
        .into_values()
        .filter_map(|(camera, mut lanes)| {
            lanes.sort_by(|a, b| lane_order(&a.lane_id).cmp(&lane_order(&b.lane_id)));
            Some(CameraWindow {
                camera: camera?,
                lanes,
            })
        })
        .collect()
}

/// Lane ids in the REST order: numeric ids numerically (by length, then text).
fn lane_order(lane: &Option<String>) -> (usize, &str) {
    let lane = lane.as_deref().unwrap_or_default();
    (lane.len(), lane)
}

fn prefixed(columns: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{prefix}{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_prefixes_and_lane_order() {
        assert_eq!(prefixed("a, b,c", "m."), "m.a, m.b, m.c");
        assert!(lane_order(&Some("2".into())) < lane_order(&Some("10".into())));
    }

    #[test]
    fn latest_window_is_one_indexed_probe() {
        let sql = latest_window_sql("t.window_start", "c.camera_id", Some("$1"));
        assert!(sql.contains("t.camera_id = c.camera_id AND t.lane_id IS NULL"));
        assert!(sql.contains("AND t.window_start >= $1"));
        assert!(sql.contains("ORDER BY t.window_start DESC LIMIT 1"));
        assert!(!latest_window_sql("x", "y", None).contains(">="));
    }
}

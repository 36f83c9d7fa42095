//! Period analytics over the camera-wide window rows (`lane_id IS NULL`): KPIs for one period,
//! a comparison of two periods, and the same figures as a PDF report.
//!
//! A window belongs to a period `[start, end)` when its `window_start` does; alerts count when
//! they were opened in the period. The average speed is weighted by `event_count`: a window's
//! `avg_speed_kmh` is a mean over its detections, so weighting by detections reproduces the mean
//! over all detections (vehicle counts would over-weight windows with few, slow vehicles).

use chrono::{DateTime, Duration, Utc};
use contract::CongestionLevel;
use hyper::StatusCode;
use postgres::{IsolationLevel, Row, Transaction};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::context::{Ctx, Req};
use crate::data::levels;
use crate::error::ApiError;
use crate::http::{self, ApiResult};
use crate::params::{self, rfc3339, Params};
use crate::report::pdf::{self, CameraLine, ReportData, Series, SeriesPoint};

/// Chart bucket sizes (seconds) the PDF picks from: the smallest giving at most
/// [`MAX_BUCKETS`] bars.
const BUCKETS: [i64; 16] = [
    5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];
const MAX_BUCKETS: i64 = 60;

#[derive(Debug, Clone, Default, Serialize)]
struct Metrics {
    start: String,
    end: String,
    windows: i64,
    total_vehicles: i64,
    total_events: i64,
    avg_speed_kmh: Option<f64>,
    /// What `avg_speed_kmh` is weighted by, so clients need not guess.
    speed_weighting: &'static str,
    avg_congestion_score: Option<f64>,
    max_congestion_score: Option<f64>,
    /// Windows per congestion level, all four levels always present.
    level_distribution: Map<String, Value>,
    class_totals: ClassTotals,
    cameras: Vec<CameraMetrics>,
    /// The window start with the most vehicles over all cameras (earliest on ties).
    peak_window: Option<PeakWindow>,
    alerts: AlertCounts,
}

#[derive(Debug, Clone, Default, Serialize)]
struct ClassTotals {
    car: i64,
    truck: i64,
    bus: i64,
    motorcycle: i64,
    bicycle: i64,
    other: i64,
}

#[derive(Debug, Clone, Serialize)]
struct CameraMetrics {
    camera_id: String,
    windows: i64,
    vehicles: i64,
    events: i64,
    avg_speed_kmh: Option<f64>,
    avg_congestion_score: Option<f64>,
    max_congestion_score: Option<f64>,
    high_or_severe_windows: i64,
}

#[derive(Debug, Clone, Serialize)]
struct PeakWindow {
    window_start: String,
    window_end: String,
    vehicles: i64,
    cameras: i64,
    avg_congestion_score: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
struct AlertCounts {
    opened: i64,
    /// By the highest severity the alert reached.
    peak_high: i64,
    peak_severe: i64,
    acknowledged: i64,
}

/// `GET /api/analytics/metrics?start&end` (default: the last 24 h).
pub(crate) async fn metrics(ctx: &Ctx, req: &Req) -> ApiResult {
    let (start, end) = default_range(&req.params)?;
    let metrics = ctx
        .db
        .run(move |client| {
            let mut tx = snapshot(client)?;
            Ok(load_metrics(&mut tx, start, end)?)
        })
        .await?;
    http::json(&metrics)
}

/// `GET /api/analytics/compare?start_a&end_a&start_b&end_b`: both periods' metrics and, per
/// numeric KPI, `{a, b, delta: b - a, percent_change}` (`null` when `a` is 0 or missing).
pub(crate) async fn compare(ctx: &Ctx, req: &Req) -> ApiResult {
    let p = &req.params;
    let start_a = p.required_datetime("start_a")?;
    let end_a = p.required_datetime("end_a")?;
    let start_b = p.required_datetime("start_b")?;
    let end_b = p.required_datetime("end_b")?;
    for (start, end, start_name, end_name) in [
        (start_a, end_a, "start_a", "end_a"),
        (start_b, end_b, "start_b", "end_b"),
    ] {
        if start > end {
            return Err(ApiError::bad_param(
                start_name,
                format!("must not be after '{end_name}'"),
            ));
        }
    }
    let (a, b) = ctx
        .db
        .run(move |client| {
            let mut tx = snapshot(client)?;
            let a = load_metrics(&mut tx, start_a, end_a)?;
            let b = load_metrics(&mut tx, start_b, end_b)?;
            Ok((a, b))
        })
        .await?;
    let kpis_a = kpis(&a);
    let kpis_b = kpis(&b);
    let mut deltas = Map::new();
    for ((name, va), (_, vb)) in kpis_a.iter().zip(kpis_b.iter()) {
        deltas.insert(name.clone(), delta(va, vb));
    }
    http::json(&json!({"a": a, "b": b, "deltas": deltas}))
}

/// `GET /api/analytics/report/pdf?start&end` (default: the last 24 h): the metrics as a PDF
/// attachment with a KPI table, the level distribution, a time-series chart and a per-camera
/// table.
pub(crate) async fn report_pdf(ctx: &Ctx, req: &Req) -> ApiResult {
    let (start, end) = default_range(&req.params)?;
    let bucket_seconds = bucket_for(end - start);
    let (metrics, points) = ctx
        .db
        .run(move |client| {
            let mut tx = snapshot(client)?;
            let metrics = load_metrics(&mut tx, start, end)?;
            let points = load_series(&mut tx, start, end, bucket_seconds)?;
            Ok((metrics, points))
        })
        .await?;
    let data = report_data(&metrics, start, end, bucket_seconds, points);
    let bytes = tokio::task::spawn_blocking(move || pdf::render(&data))
        .await
        .map_err(|e| ApiError::internal(format!("report task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("cannot render the report: {e}")))?;
    let response = http::with_type(StatusCode::OK, "application/pdf", bytes);
    let filename = format!(
        "traffic-report-{}-{}.pdf",
        start.format("%Y%m%dT%H%M%SZ"),
        end.format("%Y%m%dT%H%M%SZ")
    );
    http::attachment(response, &filename)
}

fn default_range(p: &Params) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let now = Utc::now();
    params::range(p, "start", "end", now - Duration::hours(24), now)
}

/// All queries of one response see the same data, even while the pipeline keeps writing.
fn snapshot(client: &mut postgres::Client) -> Result<Transaction<'_>, ApiError> {
    Ok(client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?)
}

const WINDOW_AGGREGATES: &str = "count(*)::bigint AS windows, \
     COALESCE(sum(vehicle_count), 0)::bigint AS vehicles, \
     COALESCE(sum(event_count), 0)::bigint AS events, \
     sum(avg_speed_kmh * event_count) FILTER (WHERE avg_speed_kmh IS NOT NULL) \
       / NULLIF(sum(event_count) FILTER (WHERE avg_speed_kmh IS NOT NULL), 0) AS avg_speed, \
     avg(congestion_score) AS avg_score, \
     max(congestion_score) AS max_score";

const IN_PERIOD: &str = "lane_id IS NULL AND window_start >= $1 AND window_start < $2";

fn load_metrics(
    tx: &mut Transaction<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Metrics, postgres::Error> {
    let totals = tx.query_one(
        &format!(
            "SELECT {WINDOW_AGGREGATES}, {level_counts}, \
               COALESCE(sum(car_count), 0)::bigint AS car, \
               COALESCE(sum(truck_count), 0)::bigint AS truck, \
               COALESCE(sum(bus_count), 0)::bigint AS bus, \
               COALESCE(sum(motorcycle_count), 0)::bigint AS motorcycle, \
               COALESCE(sum(bicycle_count), 0)::bigint AS bicycle, \
               COALESCE(sum(other_count), 0)::bigint AS other \
             FROM traffic_metrics WHERE {IN_PERIOD}",
            level_counts = levels::counts_sql(),
        ),
        &[&start, &end],
    )?;
    let cameras = tx
        .query(
            &format!(
                "SELECT camera_id, {WINDOW_AGGREGATES}, \
                   count(*) FILTER (WHERE congestion_level IN ({alerting})) AS hot \
                 FROM traffic_metrics WHERE {IN_PERIOD} GROUP BY camera_id ORDER BY camera_id",
                alerting = CongestionLevel::sql_list(&CongestionLevel::ALERTING),
            ),
            &[&start, &end],
        )?
        .iter()
        .map(|row| CameraMetrics {
            camera_id: row.get("camera_id"),
            windows: row.get("windows"),
            vehicles: row.get("vehicles"),
            events: row.get("events"),
            avg_speed_kmh: row.get("avg_speed"),
            avg_congestion_score: row.get("avg_score"),
            max_congestion_score: row.get("max_score"),
            high_or_severe_windows: row.get("hot"),
        })
        .collect();
    let peak_window = tx
        .query_opt(
            &format!(
                "SELECT window_start, max(window_end) AS window_end, \
                   sum(vehicle_count)::bigint AS vehicles, count(*)::bigint AS cameras, \
                   avg(congestion_score) AS avg_score \
                 FROM traffic_metrics WHERE {IN_PERIOD} \
                 GROUP BY window_start ORDER BY vehicles DESC, window_start LIMIT 1"
            ),
            &[&start, &end],
        )?
        .map(|row| PeakWindow {
            window_start: rfc3339(row.get("window_start")),
            window_end: rfc3339(row.get("window_end")),
            vehicles: row.get("vehicles"),
            cameras: row.get("cameras"),
            avg_congestion_score: row.get("avg_score"),
        });
    let alerts = tx.query_one(
        &format!(
            "SELECT count(*) AS opened, \
               count(*) FILTER (WHERE peak_severity = '{high}') AS high, \
               count(*) FILTER (WHERE peak_severity = '{severe}') AS severe, \
               count(*) FILTER (WHERE acknowledged_by IS NOT NULL) AS acknowledged \
             FROM alerts WHERE opened_at >= $1 AND opened_at < $2",
            high = CongestionLevel::High,
            severe = CongestionLevel::Severe,
        ),
        &[&start, &end],
    )?;
    Ok(Metrics {
        start: rfc3339(start),
        end: rfc3339(end),
        windows: totals.get("windows"),
        total_vehicles: totals.get("vehicles"),
        total_events: totals.get("events"),
        avg_speed_kmh: totals.get("avg_speed"),
        speed_weighting: "event_count",
        avg_congestion_score: totals.get("avg_score"),
        max_congestion_score: totals.get("max_score"),
        level_distribution: level_map(&totals),
        class_totals: ClassTotals {
            car: totals.get("car"),
            truck: totals.get("truck"),
            bus: totals.get("bus"),
            motorcycle: totals.get("motorcycle"),
            bicycle: totals.get("bicycle"),
            other: totals.get("other"),
        },
        cameras,
        peak_window,
        alerts: AlertCounts {
            opened: alerts.get("opened"),
            peak_high: alerts.get("high"),
            peak_severe: alerts.get("severe"),
            acknowledged: alerts.get("acknowledged"),
        },
    })
}

fn level_map(totals: &Row) -> Map<String, Value> {
    CongestionLevel::ALL
        .iter()
        .map(|level| {
            let n: i64 = totals.get(levels::alias(*level).as_str());
            (level.as_str().to_owned(), json!(n))
        })
        .collect()
}

fn level_count(m: &Metrics, level: CongestionLevel) -> i64 {
    m.level_distribution
        .get(level.as_str())
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The numeric KPIs compared between periods, in a stable order.
fn kpis(m: &Metrics) -> Vec<(String, Value)> {
    let c = &m.class_totals;
    let mut kpis = vec![
        ("windows", json!(m.windows)),
        ("total_vehicles", json!(m.total_vehicles)),
        ("total_events", json!(m.total_events)),
        ("avg_speed_kmh", json!(m.avg_speed_kmh)),
        ("avg_congestion_score", json!(m.avg_congestion_score)),
        ("max_congestion_score", json!(m.max_congestion_score)),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect::<Vec<_>>();
    kpis.extend(CongestionLevel::ALL.iter().map(|level| {
        (
            format!("{}_windows", levels::alias(*level)),
            json!(level_count(m, *level)),
        )
    }));
    kpis.extend(
        [
            ("cameras", json!(m.cameras.len())),
            ("car", json!(c.car)),
            ("truck", json!(c.truck)),
            ("bus", json!(c.bus)),
            ("motorcycle", json!(c.motorcycle)),
            ("bicycle", json!(c.bicycle)),
            ("other", json!(c.other)),
            ("alerts_opened", json!(m.alerts.opened)),
            ("alerts_acknowledged", json!(m.alerts.acknowledged)),
        ]
        .map(|(name, value)| (name.to_owned(), value)),
    );
    kpis
}

/// The names `GET /api/analytics/compare` reports under `deltas`, in order.
pub(crate) fn compared_kpis() -> Vec<String> {
    kpis(&Metrics::default())
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// `{a, b, delta, percent_change}`: integer KPIs keep an integer delta; anything missing
/// (an average over no data) makes delta and percent change `null`.
fn delta(a: &Value, b: &Value) -> Value {
    let (delta, percent) = match (a.as_f64(), b.as_f64()) {
        (Some(fa), Some(fb)) => {
            let delta = match (a.as_i64(), b.as_i64()) {
                (Some(ia), Some(ib)) => json!(ib - ia),
                _ => json!(fb - fa),
            };
            let percent = (fa != 0.0).then(|| (fb - fa) / fa.abs() * 100.0);
            (delta, json!(percent))
        }
        _ => (Value::Null, Value::Null),
    };
    json!({"a": a, "b": b, "delta": delta, "percent_change": percent})
}

/// The smallest bucket from [`BUCKETS`] giving at most [`MAX_BUCKETS`] bars, whole days beyond.
fn bucket_for(span: Duration) -> i64 {
    let seconds = span.num_seconds().max(1);
    let ceil_div = |n: i64, d: i64| (n + d - 1) / d;
    BUCKETS
        .iter()
        .copied()
        .find(|b| ceil_div(seconds, *b) <= MAX_BUCKETS)
        .unwrap_or_else(|| ceil_div(ceil_div(seconds, MAX_BUCKETS), 86_400) * 86_400)
}

fn load_series(
    tx: &mut Transaction<'_>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    bucket_seconds: i64,
) -> Result<Vec<SeriesPoint>, postgres::Error> {
    let bucket = bucket_seconds as f64;
    Ok(tx
        .query(
            &format!(
                "SELECT floor(extract(epoch FROM window_start - $1)::float8 / $3::float8)::bigint \
                   AS bucket, \
                   sum(vehicle_count)::bigint AS vehicles, avg(congestion_score) AS avg_score \
                 FROM traffic_metrics WHERE {IN_PERIOD} GROUP BY 1 ORDER BY 1"
            ),
            &[&start, &end, &bucket],
        )?
        .iter()
        .map(|row| SeriesPoint {
            bucket: row.get("bucket"),
            vehicles: row.get("vehicles"),
            avg_congestion_score: row.get("avg_score"),
        })
        .collect())
}

fn report_data(
    m: &Metrics,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    bucket_seconds: i64,
    points: Vec<SeriesPoint>,
) -> ReportData {
    let fixed = |v: Option<f64>, decimals: usize| {
        v.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
    };
    let c = &m.class_totals;
    let peak = m.peak_window.as_ref().map_or_else(
        || "-".to_owned(),
        |p| {
            format!(
                "{} ({} vehicles)",
                p.window_start.replace('T', " ").trim_end_matches('Z'),
                p.vehicles
            )
        },
    );
    let kpis: Vec<(String, String)> = vec![
        ("Total vehicles", m.total_vehicles.to_string()),
        ("Detections", m.total_events.to_string()),
        ("Camera-wide windows", m.windows.to_string()),
        ("Cameras", m.cameras.len().to_string()),
        (
            "Average speed (km/h, per detection)",
            fixed(m.avg_speed_kmh, 1),
        ),
        ("Average congestion score", fixed(m.avg_congestion_score, 3)),
        ("Peak congestion score", fixed(m.max_congestion_score, 3)),
        ("Busiest window", peak),
        (
            "Alerts opened (peak HIGH / SEVERE)",
            format!(
                "{} ({} / {})",
                m.alerts.opened, m.alerts.peak_high, m.alerts.peak_severe
            ),
        ),
        ("Alerts acknowledged", m.alerts.acknowledged.to_string()),
        ("Cars", c.car.to_string()),
        ("Trucks", c.truck.to_string()),
        ("Buses", c.bus.to_string()),
        ("Motorcycles", c.motorcycle.to_string()),
        ("Bicycles", c.bicycle.to_string()),
        ("Other vehicles", c.other.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    ReportData {
        title: "Traffic analytics report".to_owned(),
        period_start: start,
        period_end: end,
        generated_at: Utc::now(),
        kpis,
        levels: CongestionLevel::ALL
            .iter()
            .map(|level| (*level, level_count(m, *level)))
            .collect(),
        cameras: m
            .cameras
            .iter()
            .map(|cam| CameraLine {
                camera_id: cam.camera_id.clone(),
                windows: cam.windows,
                vehicles: cam.vehicles,
                avg_speed_kmh: cam.avg_speed_kmh,
                avg_congestion_score: cam.avg_congestion_score,
                max_congestion_score: cam.max_congestion_score,
                high_or_severe_windows: cam.high_or_severe_windows,
            })
            .collect(),
        series: Series {
            bucket_seconds,
            points,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_and_percent_changes() {
        let d = delta(&json!(10), &json!(15));
        assert_eq!(d["delta"], json!(5));
        assert_eq!(d["percent_change"], json!(50.0));
        let zero = delta(&json!(0), &json!(4));
        assert_eq!(zero["delta"], json!(4));
        assert!(zero["percent_change"].is_null());
        let missing = delta(&Value::Null, &json!(0.5));
        assert!(missing["delta"].is_null() && missing["percent_change"].is_null());
        let float = delta(&json!(0.5), &json!(0.25));
        assert_eq!(float["delta"], json!(-0.25));
        assert_eq!(float["percent_change"], json!(-50.0));
    }

    #[test]
    fn every_level_is_a_compared_kpi() {
        let names = compared_kpis();
        for level in CongestionLevel::ALL {
            let name = format!("{}_windows", level.as_str().to_ascii_lowercase());
            assert!(names.contains(&name), "{name}");
        }
        assert_eq!(names.first().map(String::as_str), Some("windows"));
        assert_eq!(names.len(), 19);
    }

    #[test]
    fn buckets_give_at_most_sixty_bars() {
        assert_eq!(bucket_for(Duration::minutes(4)), 5);
        assert_eq!(bucket_for(Duration::hours(1)), 60);
        assert_eq!(bucket_for(Duration::hours(24)), 1800);
        assert_eq!(bucket_for(Duration::days(7)), 10800);
        assert_eq!(bucket_for(Duration::days(365)), 7 * 86_400);
        assert_eq!(bucket_for(Duration::zero()), 5);
    }
}

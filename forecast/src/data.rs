//! Input data: per-lane metrics on a regular 1-minute grid, from PostgreSQL (the pipeline's 5-second
//! lane rows, resampled) or from CSV files prepared elsewhere.
//!
//! A [`Series`] is `[steps, nodes, features]` with NaN for a missing value, so gaps in the data
//! (a camera offline, a lane with no traffic row) stay visible to masking and completeness checks
//! instead of being silently filled.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::{DateTime, NaiveDateTime, TimeZone, Timelike, Utc};

use crate::error::{ForecastError, Result};
use crate::graph::{CameraSite, Node};

/// Feature names of series read from PostgreSQL, in channel order.
pub const LANE_FEATURES: [&str; 3] = ["vehicle_count", "avg_speed_kmh", "congestion_score"];
/// The channel forecast for lanes from PostgreSQL (`congestion_score`).
pub const LANE_TARGET: usize = 2;
/// Length of the pipeline's windows; a minute holds this many.
pub const WINDOWS_PER_MINUTE: f64 = 12.0;

/// Values on a regular time grid: `values[(t * nodes + n) * features + f]`, NaN = missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Start of step 0.
    pub start: DateTime<Utc>,
    pub step_seconds: i64,
    pub nodes: Vec<String>,
    pub features: Vec<String>,
    pub steps: usize,
    pub values: Vec<f32>,
}

impl Series {
    pub fn new_missing(
        start: DateTime<Utc>,
        step_seconds: i64,
        nodes: Vec<String>,
        features: Vec<String>,
        steps: usize,
    ) -> Self {
        let len = steps * nodes.len() * features.len();
        Self {
            start,
            step_seconds,
            nodes,
            features,
            steps,
            values: vec![f32::NAN; len],
        }
    }

    pub fn index(&self, t: usize, n: usize, f: usize) -> usize {
        (t * self.nodes.len() + n) * self.features.len() + f
    }

    pub fn get(&self, t: usize, n: usize, f: usize) -> f32 {
        self.values[self.index(t, n, f)]
    }

    /// Start time of step `t`.
    pub fn time_of(&self, t: usize) -> DateTime<Utc> {
        self.start + chrono::Duration::seconds(self.step_seconds * t as i64)
    }

    /// Share of present values of one feature.
    pub fn completeness(&self, f: usize) -> f64 {
        let total = self.steps * self.nodes.len();
        if total == 0 {
            return 0.0;
        }
        let present = (0..self.steps)
            .flat_map(|t| (0..self.nodes.len()).map(move |n| (t, n)))
            .filter(|&(t, n)| !self.get(t, n, f).is_nan())
            .count();
        present as f64 / total as f64
    }
}

/// Minute of the day (UTC) of a time, for the time-of-day profile.
pub fn minute_of_day(t: DateTime<Utc>) -> u32 {
    t.hour() * 60 + t.minute()
}

/// Accumulates a lane's 5-second windows into one 1-minute bin.
///
/// `vehicle_count` becomes vehicles per minute: the mean count per window times 12, so a minute
/// with a few missing windows is comparable to a full one. Speed is the count-weighted mean of
/// windows that have one; the congestion score is the plain mean.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MinuteBin {
    pub windows: u32,
    pub vehicles: f64,
    pub speed_weighted: f64,
    pub speed_weight: f64,
    pub score_sum: f64,
}

impl MinuteBin {
    pub fn add_window(
        &mut self,
        vehicle_count: i64,
        avg_speed_kmh: Option<f64>,
        congestion_score: f64,
    ) {
        self.windows += 1;
        self.vehicles += vehicle_count as f64;
        if let Some(speed) = avg_speed_kmh {
            // A window with a speed but no counted vehicle still says something about speed.
            let w = (vehicle_count as f64).max(1.0);
            self.speed_weighted += speed * w;
            self.speed_weight += w;
        }
        self.score_sum += congestion_score;
    }

    /// `[vehicle_count, avg_speed_kmh, congestion_score]`, NaN where nothing was seen.
    pub fn features(&self) -> [f32; 3] {
        if self.windows == 0 {
            return [f32::NAN; 3];
        }
        let n = self.windows as f64;
        let speed = if self.speed_weight > 0.0 {
            (self.speed_weighted / self.speed_weight) as f32
        } else {
            f32::NAN
        };
        [
            (self.vehicles / n * WINDOWS_PER_MINUTE) as f32,
            speed,
            (self.score_sum / n) as f32,
        ]
    }
}

/// One pipeline lane row (a 5-second window).
#[derive(Debug, Clone, PartialEq)]
pub struct LaneWindow {
    pub camera_id: String,
    pub lane_id: String,
    pub window_start: DateTime<Utc>,
    pub vehicle_count: i64,
    pub avg_speed_kmh: Option<f64>,
    pub congestion_score: f64,
}

/// Floors a time to its minute.
pub fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(60) * 60;
    Utc.timestamp_opt(secs, 0).single().unwrap_or(t)
}

/// Resamples lane windows into a 1-minute series over `[start, start + steps minutes)`, nodes
/// named `camera/lane` in the given order; windows of other lanes or outside the range are ignored.
pub fn resample(
    windows: &[LaneWindow],
    nodes: &[Node],
    start: DateTime<Utc>,
    steps: usize,
) -> Series {
    let grid = MinuteGrid::new(nodes, start, steps);
    let mut bins = vec![MinuteBin::default(); steps * nodes.len()];
    for w in windows {
        let Some((minute, n)) = grid.place(&w.camera_id, &w.lane_id, w.window_start) else {
            continue;
        };
        bins[minute * nodes.len() + n].add_window(
            w.vehicle_count,
            w.avg_speed_kmh,
            w.congestion_score,
        );
    }
    let mut series = grid.empty_series(nodes);
    for (k, bin) in bins.iter().enumerate() {
        let values = bin.features();
        series.values[k * 3..k * 3 + 3].copy_from_slice(&values);
    }
    series
}

/// Per-lane minute aggregates computed in SQL with the same rules as [`MinuteBin`], so a month of
/// 5-second rows does not cross the wire.
const MINUTE_BINS_SQL: &str = "
    SELECT camera_id, lane_id, date_trunc('minute', window_start) AS minute,
           count(*)::bigint AS windows,
           sum(vehicle_count)::float8 AS vehicles,
           coalesce(sum(avg_speed_kmh * greatest(vehicle_count, 1)), 0)::float8 AS speed_weighted,
           coalesce(sum(greatest(vehicle_count, 1)) FILTER (WHERE avg_speed_kmh IS NOT NULL), 0)::float8 AS speed_weight,
           sum(congestion_score)::float8 AS score_sum
      FROM traffic_metrics
     WHERE lane_id IS NOT NULL AND window_start >= $1 AND window_start < $2
       AND ($3::text[] IS NULL OR camera_id = ANY($3))
     GROUP BY 1, 2, 3";

/// A lane's minute bin as read from PostgreSQL.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneMinute {
    pub camera_id: String,
    pub lane_id: String,
    pub minute: DateTime<Utc>,
    pub bin: MinuteBin,
}

/// Reads lane minute bins in `[from, to)`, for the given cameras or all of them.
pub fn query_lane_minutes(
    client: &mut postgres::Client,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cameras: Option<&[String]>,
) -> Result<Vec<LaneMinute>> {
    let cameras: Option<Vec<String>> = cameras.map(|c| c.to_vec());
    let rows = client.query(MINUTE_BINS_SQL, &[&from, &to, &cameras])?;
    rows.iter()
        .map(|r| {
            Ok(LaneMinute {
                camera_id: r.try_get(0)?,
                lane_id: r.try_get(1)?,
                minute: r.try_get(2)?,
                bin: MinuteBin {
                    windows: u32::try_from(r.try_get::<_, i64>(3)?).unwrap_or(u32::MAX),
                    vehicles: r.try_get(4)?,
                    speed_weighted: r.try_get(5)?,
                    speed_weight: r.try_get(6)?,
                    score_sum: r.try_get(7)?,
                },
            })
        })
        .collect()
}

/// Places minute bins on the grid `[start, start + steps)` for the given nodes.
pub fn series_from_minutes(
    minutes: &[LaneMinute],
    nodes: &[Node],
    start: DateTime<Utc>,
    steps: usize,
) -> Series {
    let grid = MinuteGrid::new(nodes, start, steps);
    let mut series = grid.empty_series(nodes);
    for m in minutes {
        let Some((t, n)) = grid.place(&m.camera_id, &m.lane_id, m.minute) else {
            continue;
        };
        let i = series.index(t, n, 0);
        series.values[i..i + 3].copy_from_slice(&m.bin.features());
    }
    series
}

/// The 1-minute grid `[start, start + steps)` of a lane series: which node and step a lane's
/// value at some time lands on.
struct MinuteGrid<'a> {
    index: HashMap<(&'a str, &'a str), usize>,
    start: DateTime<Utc>,
    steps: usize,
}

impl<'a> MinuteGrid<'a> {
    fn new(nodes: &'a [Node], start: DateTime<Utc>, steps: usize) -> Self {
        let index = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.camera_id.as_str(), n.lane_id.as_str()), i))
            .collect();
        Self {
            index,
            start: floor_minute(start),
            steps,
        }
    }

    /// `(step, node)` of a lane's value at `at`; `None` for another lane or outside the grid.
    fn place(&self, camera_id: &str, lane_id: &str, at: DateTime<Utc>) -> Option<(usize, usize)> {
        let node = *self.index.get(&(camera_id, lane_id))?;
        let minute = (at - self.start).num_seconds().div_euclid(60);
        let step = usize::try_from(minute).ok().filter(|&m| m < self.steps)?;
        Some((step, node))
    }

    /// A series on this grid with every value missing.
    fn empty_series(&self, nodes: &[Node]) -> Series {
        Series::new_missing(
            self.start,
            60,
            nodes.iter().map(|n| n.id.clone()).collect(),
            LANE_FEATURES.iter().map(|s| s.to_string()).collect(),
            self.steps,
        )
    }
}

/// `road_segment, latitude, longitude` of a `cameras` row.
type SiteColumns = (Option<String>, Option<f64>, Option<f64>);

/// Training data from PostgreSQL: the lane series over `[from, to)` (default: all stored lane
/// history) and the cameras that have lanes in it.
pub fn load_postgres(
    client: &mut postgres::Client,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(Series, Vec<CameraSite>)> {
    let range = client.query_one(
        "SELECT min(window_start), max(window_start) FROM traffic_metrics
          WHERE lane_id IS NOT NULL AND ($1::timestamptz IS NULL OR window_start >= $1)
            AND ($2::timestamptz IS NULL OR window_start < $2)",
        &[&from, &to],
    )?;
    let (Some(first), Some(last)) = (
        range.try_get::<_, Option<DateTime<Utc>>>(0)?,
        range.try_get::<_, Option<DateTime<Utc>>>(1)?,
    ) else {
        return Err(ForecastError::InvalidData(
            "traffic_metrics has no lane rows in the range".into(),
        ));
    };
    let start = floor_minute(first);
    let end = floor_minute(last) + chrono::Duration::minutes(1);
    let steps = ((end - start).num_seconds() / 60) as usize;
    let minutes = query_lane_minutes(client, start, end, None)?;

    let mut lanes: HashMap<String, BTreeSet<String>> = HashMap::new();
    for m in &minutes {
        lanes
            .entry(m.camera_id.clone())
            .or_default()
            .insert(m.lane_id.clone());
    }
    let camera_rows = client.query(
        "SELECT camera_id, road_segment, latitude, longitude FROM cameras WHERE camera_id = ANY($1)",
        &[&lanes.keys().cloned().collect::<Vec<_>>()],
    )?;
    let mut described: HashMap<String, SiteColumns> = HashMap::new();
    for r in camera_rows {
        described.insert(r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?, r.try_get(3)?));
    }
    let mut sites: Vec<CameraSite> = lanes
        .into_iter()
        .map(|(camera_id, lanes)| {
            let (road_segment, latitude, longitude) = described
                .get(&camera_id)
                .cloned()
                .unwrap_or((None, None, None));
            CameraSite {
                camera_id,
                road_segment,
                latitude,
                longitude,
                lanes: lanes.into_iter().collect(),
            }
        })
        .collect();
    sites.sort_by(|a, b| a.camera_id.cmp(&b.camera_id));
    let nodes: Vec<Node> = sites
        .iter()
        .flat_map(|s| s.lanes.iter().map(move |l| Node::new(&s.camera_id, l)))
        .collect();
    Ok((series_from_minutes(&minutes, &nodes, start, steps), sites))
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc())
}

/// Reads a series CSV: a header naming the nodes, one column per node, one row per step, empty
/// cells for missing values. An optional first column named `timestamp` or `time` gives each
/// row's time (RFC 3339 or `YYYY-MM-DD HH:MM:SS`, UTC); rows must then be evenly spaced. Without
/// it, rows are `step_seconds` apart from the Unix epoch (time-of-day profiles then assume the
/// first row is at midnight). The one feature is called `value`.
pub fn load_series_csv(path: &Path, step_seconds: i64) -> Result<Series> {
    let csv_err = |source| csv_error(path, source);
    let (mut reader, header) = open_csv(path)?;
    let has_time = header
        .first()
        .is_some_and(|h| h.eq_ignore_ascii_case("timestamp") || h.eq_ignore_ascii_case("time"));
    let nodes: Vec<String> = header.iter().skip(usize::from(has_time)).cloned().collect();
    if nodes.is_empty() {
        return Err(ForecastError::InvalidData(format!(
            "{}: the header names no nodes",
            path.display()
        )));
    }
    let mut values = Vec::new();
    let mut times = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(csv_err)?;
        let line = row + 2;
        if record.len() != header.len() {
            return Err(ForecastError::InvalidData(format!(
                "{}:{line}: {} cells, the header has {}",
                path.display(),
                record.len(),
                header.len()
            )));
        }
        let mut cells = record.iter();
        if has_time {
            let cell = cells.next().unwrap_or_default();
            let t = parse_time(cell).ok_or_else(|| {
                ForecastError::InvalidData(format!(
                    "{}:{line}: cannot read time {cell:?}",
                    path.display()
                ))
            })?;
            times.push(t);
        }
        for cell in cells {
            let v = if cell.is_empty() {
                f32::NAN
            } else {
                cell.parse::<f32>().map_err(|_| {
                    ForecastError::InvalidData(format!(
                        "{}:{line}: {cell:?} is not a number",
                        path.display()
                    ))
                })?
            };
            values.push(if v.is_finite() { v } else { f32::NAN });
        }
    }
    let steps = values.len() / nodes.len();
    if steps == 0 {
        return Err(ForecastError::InvalidData(format!(
            "{}: no rows",
            path.display()
        )));
    }
    let (start, step_seconds) = if has_time {
        let step = if times.len() > 1 {
            (times[1] - times[0]).num_seconds()
        } else {
            step_seconds
        };
        if step <= 0
            || times
                .windows(2)
                .any(|w| (w[1] - w[0]).num_seconds() != step)
        {
            return Err(ForecastError::InvalidData(format!(
                "{}: timestamps must increase by a constant step",
                path.display()
            )));
        }
        (times[0], step)
    } else {
        (DateTime::<Utc>::UNIX_EPOCH, step_seconds)
    };
    Ok(Series {
        start,
        step_seconds,
        nodes,
        features: vec!["value".into()],
        steps,
        values,
    })
}

/// Reads an adjacency CSV edge list with header `from,to,weight`.
pub fn load_adjacency_csv(path: &Path) -> Result<Vec<(String, String, f64)>> {
    let csv_err = |source| csv_error(path, source);
    let (mut reader, header) = open_csv(path)?;
    let header: Vec<String> = header.iter().map(|h| h.to_ascii_lowercase()).collect();
    if header != ["from", "to", "weight"] {
        return Err(ForecastError::InvalidData(format!(
            "{}: expected the header from,to,weight, got {}",
            path.display(),
            header.join(",")
        )));
    }
    let mut edges = Vec::new();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(csv_err)?;
        let weight: f64 = record[2].parse().map_err(|_| {
            ForecastError::InvalidData(format!(
                "{}:{}: weight {:?} is not a number",
                path.display(),
                row + 2,
                &record[2]
            ))
        })?;
        edges.push((record[0].to_owned(), record[1].to_owned(), weight));
    }
    Ok(edges)
}

/// A CSV file with its cells trimmed, and its header.
fn open_csv(path: &Path) -> Result<(csv::Reader<std::fs::File>, Vec<String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|source| csv_error(path, source))?;
    let header = reader
        .headers()
        .map_err(|source| csv_error(path, source))?
        .iter()
        .map(str::to_owned)
        .collect();
    Ok((reader, header))
}

fn csv_error(path: &Path, source: csv::Error) -> ForecastError {
    ForecastError::Csv {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn window(lane: &str, t: &str, count: i64, speed: Option<f64>, score: f64) -> LaneWindow {
        LaneWindow {
            camera_id: "cam".into(),
            lane_id: lane.into(),
            window_start: at(t),
            vehicle_count: count,
            avg_speed_kmh: speed,
            congestion_score: score,
        }
    }

    #[test]
    fn five_second_windows_become_minute_bins() {
        let nodes = vec![Node::new("cam", "1"), Node::new("cam", "2")];
        let windows = vec![
            window("1", "2026-01-01T08:00:00Z", 2, Some(50.0), 0.2),
            window("1", "2026-01-01T08:00:05Z", 4, Some(20.0), 0.6),
            window("1", "2026-01-01T08:01:55Z", 1, None, 0.1),
            window("2", "2026-01-01T08:00:30Z", 0, Some(60.0), 0.0),
            window("1", "2026-01-01T08:03:00Z", 9, Some(9.0), 0.9), // outside the 3 minutes
            window("9", "2026-01-01T08:00:00Z", 9, Some(9.0), 0.9), // unknown lane
        ];
        let s = resample(&windows, &nodes, at("2026-01-01T08:00:20Z"), 3);
        assert_eq!(s.start, at("2026-01-01T08:00:00Z"));
        assert_eq!((s.steps, s.nodes.len(), s.features.len()), (3, 2, 3));
        // Lane 1, minute 0: mean count 3 per window -> 36 per minute; speed weighted by count.
        assert_eq!(s.get(0, 0, 0), 36.0);
        assert!((s.get(0, 0, 1) - 30.0).abs() < 1e-5);
        assert!((s.get(0, 0, 2) - 0.4).abs() < 1e-6);
        // Lane 1, minute 1: no speed.
        assert_eq!(s.get(1, 0, 0), 12.0);
        assert!(s.get(1, 0, 1).is_nan());
        // Lane 2, minute 0: speed counts with weight 1 when no vehicle was counted.
        assert_eq!(s.get(0, 1, 1), 60.0);
        // Minute 2 has nothing.
        assert!((0..3).all(|f| s.get(2, 0, f).is_nan() && s.get(2, 1, f).is_nan()));
        assert!((s.completeness(LANE_TARGET) - 3.0 / 6.0).abs() < 1e-9);
    }

    #[test]
    fn series_csv_with_gaps_and_timestamps() {
        let dir = std::env::temp_dir().join(format!("forecast-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("series.csv");
        std::fs::write(
            &path,
            "timestamp,a/1,b\n2026-01-01T00:00:00Z,1.5,\n2026-01-01T00:05:00Z,,2\n2026-01-01T00:10:00Z,3,4\n",
        )
        .expect("write");
        let s = load_series_csv(&path, 60).expect("csv");
        assert_eq!(s.nodes, ["a/1", "b"]);
        assert_eq!((s.steps, s.step_seconds), (3, 300));
        assert_eq!(s.get(0, 0, 0), 1.5);
        assert!(s.get(0, 1, 0).is_nan());
        assert!(s.get(1, 0, 0).is_nan());
        assert_eq!(s.get(2, 1, 0), 4.0);

        let adj = dir.join("adj.csv");
        std::fs::write(&adj, "from,to,weight\na/1,b,0.5\n").expect("write");
        assert_eq!(
            load_adjacency_csv(&adj).expect("adj"),
            vec![("a/1".into(), "b".into(), 0.5)]
        );
        std::fs::write(&adj, "src,dst\n").expect("write");
        assert!(load_adjacency_csv(&adj).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}

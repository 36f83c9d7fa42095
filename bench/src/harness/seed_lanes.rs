//! Days of per-lane 5-second history written straight into PostgreSQL (no Kafka, no pipeline),
//! as training data for the congestion forecast.
//!
//! The road network is a set of corridors (road segments), each a chain of cameras about 800 m
//! apart, ending downstream at a bottleneck. Demand follows a daily profile (morning and evening
//! peaks, quieter weekends) with per-corridor scale and occasional incidents that cut the
//! bottleneck's capacity. A point queue at the bottleneck grows when demand exceeds capacity;
//! a camera `k` positions upstream is congested once the queue reaches back past it. So
//! congestion builds at the bottleneck and spreads upstream minute by minute, then clears from
//! the back: something a spatio-temporal model can learn and a single-lane baseline cannot see.

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use operators::congestion::{classify, Thresholds};

/// Shape of the simulated network and history.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneSimConfig {
    pub days: u32,
    pub cameras: u32,
    /// Cameras per corridor (the last corridor may be shorter).
    pub cameras_per_corridor: u32,
    pub lanes: u32,
    /// History ends at this minute (exclusive) and starts `days` earlier.
    pub end: DateTime<Utc>,
    pub seed: u64,
}

/// splitmix64: a deterministic stream, so a seed always gives the same history.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly normal (sum of uniforms), mean 0, sd 1.
    fn normal(&mut self) -> f64 {
        (0..4)
            .map(|_| self.unit())
            .sum::<f64>()
            .mul_add(3f64.sqrt(), -2.0 * 3f64.sqrt())
    }
}

/// A camera of the simulated network.
#[derive(Debug, Clone, PartialEq)]
pub struct SimCamera {
    pub camera_id: String,
    pub road_segment: String,
    pub latitude: f64,
    pub longitude: f64,
    /// Position upstream of the corridor's bottleneck (0 = at it).
    pub upstream: u32,
    pub corridor: u32,
}

/// The cameras of the network.
pub fn network(cfg: &LaneSimConfig) -> Vec<SimCamera> {
    let per = cfg.cameras_per_corridor.max(1);
    (0..cfg.cameras)
        .map(|i| {
            let corridor = i / per;
            let upstream = i % per;
            SimCamera {
                camera_id: format!("lc_{corridor:02}_{upstream:02}"),
                road_segment: format!("corridor_{corridor:02}"),
                // Corridors 2 km apart east-west; cameras ~800 m apart going north (upstream).
                latitude: 52.30 + 0.0072 * upstream as f64,
                longitude: 4.80 + 0.03 * corridor as f64,
                upstream,
                corridor,
            }
        })
        .collect()
}

/// Congestion (0..1) of every camera for every minute, `[minute][camera]`.
pub fn congestion_minutes(cfg: &LaneSimConfig, cameras: &[SimCamera]) -> Vec<Vec<f64>> {
    let minutes = cfg.days as usize * 1440;
    let start = cfg.end - Duration::days(i64::from(cfg.days));
    let corridors = cameras
        .iter()
        .map(|c| c.corridor)
        .max()
        .map_or(0, |m| m as usize + 1);
    let mut rng = Rng(cfg.seed ^ 0x5eed_1a7e);
    // Per corridor: demand scale, queue (vehicle-minutes), remaining incident minutes.
    let scale: Vec<f64> = (0..corridors).map(|_| 0.85 + 0.3 * rng.unit()).collect();
    let mut queue = vec![0.0f64; corridors];
    let mut incident = vec![0u32; corridors];
    let mut local = vec![0.0f64; cameras.len()];
    const CAPACITY: f64 = 1.0;
    /// Queue length (vehicle-minutes) that fills the stretch between two cameras.
    const STORAGE: f64 = 4.0;
    let mut out = Vec::with_capacity(minutes);
    for m in 0..minutes {
        let t = start + Duration::minutes(m as i64);
        let hour = f64::from(t.hour()) + f64::from(t.minute()) / 60.0;
        let weekend = t.weekday().number_from_monday() >= 6;
        let peak = |center: f64, width: f64| (-((hour - center) / width).powi(2)).exp();
        let profile = if weekend {
            0.35 + 0.35 * peak(13.0, 3.0)
        } else {
            0.35 + 1.0 * peak(8.0, 1.2) + 0.95 * peak(17.5, 1.4) + 0.2 * peak(12.5, 2.0)
        };
        let mut row = Vec::with_capacity(cameras.len());
        for (c, q) in queue.iter_mut().enumerate() {
            if incident[c] == 0 && rng.unit() < 1.0 / 1440.0 {
                incident[c] = 20 + (rng.unit() * 40.0) as u32;
            }
            let capacity = if incident[c] > 0 {
                incident[c] -= 1;
                CAPACITY * 0.55
            } else {
                CAPACITY
            };
            let demand = (profile * scale[c] + 0.05 * rng.normal()).max(0.0);
            *q = (*q + demand - capacity).max(0.0);
        }
        for (i, cam) in cameras.iter().enumerate() {
            let q = queue[cam.corridor as usize];
            let reach = q - STORAGE * f64::from(cam.upstream);
            // Inside the queue: congested; its tail: partly; beyond: free flow with a demand term.
            let queued = 1.0 / (1.0 + (-(reach - 3.0) / 1.2).exp());
            local[i] = 0.9 * local[i] + 0.1 * 0.08 * rng.normal();
            let free = 0.15 * profile * scale[cam.corridor as usize];
            row.push((free + 0.75 * queued + local[i]).clamp(0.0, 1.0));
        }
        out.push(row);
    }
    out
}

/// The level the pipeline gives `score` under the default thresholds.
fn level(score: f64) -> &'static str {
    classify(score, &Thresholds::default()).as_str()
}

/// What [`seed_lanes`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedLanesResult {
    pub lane_rows: u64,
    pub camera_rows: u64,
    pub cameras: u32,
}

/// Writes the cameras and `days` of lane and camera-wide 5-second rows ending at `cfg.end`,
/// replacing rows of these cameras already in that range. One transaction, COPY text format.
pub fn seed_lanes(database_url: &str, cfg: &LaneSimConfig) -> anyhow::Result<SeedLanesResult> {
    let cameras = network(cfg);
    let minutes = congestion_minutes(cfg, &cameras);
    let start = cfg.end - Duration::days(i64::from(cfg.days));
    let mut client = postgres::Client::connect(database_url, postgres::NoTls).context("connect")?;
    migrations::apply(&mut client).context("migrations")?;
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT b2_ensure_day_partition('traffic_metrics', d::date)
           FROM generate_series($1::timestamptz, $2::timestamptz + interval '1 day', interval '1 day') d",
        &[&start, &cfg.end],
    )?;
    for cam in &cameras {
        tx.execute(
            "INSERT INTO cameras (camera_id, name, location, latitude, longitude, road_segment, lanes, free_flow_speed_kmh)
             VALUES ($1, $1, $2, $3, $4, $2, $5, 60)
             ON CONFLICT (camera_id) DO UPDATE SET latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                 road_segment = EXCLUDED.road_segment, lanes = EXCLUDED.lanes",
            &[&cam.camera_id, &cam.road_segment, &cam.latitude, &cam.longitude, &(cfg.lanes as i32)],
        )?;
    }
    let ids: Vec<String> = cameras.iter().map(|c| c.camera_id.clone()).collect();
    tx.execute(
        "DELETE FROM traffic_metrics WHERE camera_id = ANY($1) AND window_start >= $2 AND window_start < $3",
        &[&ids, &start, &cfg.end],
    )?;

    let mut writer = tx.copy_in(
        "COPY traffic_metrics (camera_id, lane_id, window_start, window_end, vehicle_count, event_count,
             avg_speed_kmh, speed_source, car_count, avg_confidence, congestion_score, congestion_level)
         FROM STDIN",
    )?;
    let mut rng = Rng(cfg.seed);
    let mut buf = String::with_capacity(1 << 20);
    let (mut lane_rows, mut camera_rows) = (0u64, 0u64);
    let lanes = cfg.lanes.max(1);
    for (m, row) in minutes.iter().enumerate() {
        let next = minutes.get(m + 1).unwrap_or(row);
        let minute_start = start + Duration::minutes(m as i64);
        for w in 0..12u32 {
            let ws = minute_start + Duration::seconds(i64::from(w) * 5);
            let ts = ws.format("%Y-%m-%d %H:%M:%S+00").to_string();
            let te = (ws + Duration::seconds(5))
                .format("%Y-%m-%d %H:%M:%S+00")
                .to_string();
            let frac = f64::from(w) / 12.0;
            for (i, cam) in cameras.iter().enumerate() {
                let base = row[i] + (next[i] - row[i]) * frac;
                let (mut sum_count, mut sum_speed, mut sum_score) = (0i64, 0.0f64, 0.0f64);
                for lane in 1..=lanes {
                    // The inner lane carries a little more of the queue.
                    let lane_bias = 0.04 * (f64::from(lanes - lane) / f64::from(lanes));
                    let score = (base + lane_bias + 0.04 * rng.normal()).clamp(0.0, 1.0);
                    let speed = (60.0 * (1.0 - 0.85 * score) + 2.5 * rng.normal()).max(2.0);
                    let mean_count = 0.8 + 5.0 * score;
                    let count = (mean_count + mean_count.sqrt() * rng.normal())
                        .round()
                        .max(0.0) as i64;
                    sum_count += count;
                    sum_speed += speed;
                    sum_score += score;
                    let _ = writeln!(
                        buf,
                        "{}\t{lane}\t{ts}\t{te}\t{count}\t{}\t{speed:.2}\treported\t{count}\t0.9\t{score:.4}\t{}",
                        cam.camera_id,
                        count * 8,
                        level(score)
                    );
                    lane_rows += 1;
                }
                let score = sum_score / f64::from(lanes);
                let _ = writeln!(
                    buf,
                    "{}\t\\N\t{ts}\t{te}\t{sum_count}\t{}\t{:.2}\treported\t{sum_count}\t0.9\t{score:.4}\t{}",
                    cam.camera_id,
                    sum_count * 8,
                    sum_speed / f64::from(lanes),
                    level(score)
                );
                camera_rows += 1;
            }
            if buf.len() > (1 << 20) - 4096 {
                writer.write_all(buf.as_bytes())?;
                buf.clear();
            }
        }
    }
    writer.write_all(buf.as_bytes())?;
    writer.finish()?;
    tx.commit()?;
    client.batch_execute("ANALYZE traffic_metrics; ANALYZE cameras;")?;
    Ok(SeedLanesResult {
        lane_rows,
        camera_rows,
        cameras: cfg.cameras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LaneSimConfig {
        LaneSimConfig {
            days: 3,
            cameras: 5,
            cameras_per_corridor: 5,
            lanes: 2,
            end: "2026-11-26T00:00:00Z".parse().expect("time"),
            seed: 1,
        }
    }

    #[test]
    fn congestion_builds_at_the_bottleneck_and_spreads_upstream() {
        let cfg = cfg();
        let cams = network(&cfg);
        let minutes = congestion_minutes(&cfg, &cams);
        assert_eq!(minutes.len(), 3 * 1440);
        // Over the history, the bottleneck is congested most, and the first minute a camera is
        // congested in each episode comes later the further upstream it is.
        let congested = |c: usize| minutes.iter().filter(|r| r[c] > 0.6).count();
        assert!(
            congested(0) > congested(2),
            "{} vs {}",
            congested(0),
            congested(2)
        );
        let onset = |c: usize| minutes.iter().position(|r| r[c] > 0.6);
        let (Some(a), Some(b)) = (onset(0), onset(1)) else {
            panic!("no congestion at all");
        };
        assert!(a < b, "the bottleneck congests first ({a} vs {b})");
    }

    #[test]
    fn same_seed_same_history() {
        let cfg = cfg();
        let cams = network(&cfg);
        assert_eq!(
            congestion_minutes(&cfg, &cams),
            congestion_minutes(&cfg, &cams)
        );
        assert_eq!(cams[4].camera_id, "lc_00_04");
        assert!(cams[1].latitude > cams[0].latitude);
    }
}

//! History for HTTP benchmarks, written straight into PostgreSQL with SQL (no Kafka, no
//! pipeline): `cameras` cameras with 3 lanes each and a camera-wide plus three lane rows per
//! 5-second window over the last `hours` hours, with a daily congestion profile.

use anyhow::Context;
use operators::congestion::Thresholds;

pub fn seed_history(database_url: &str, cameras: u32, hours: u32) -> anyhow::Result<u64> {
    // Levels as the pipeline assigns them under the default thresholds.
    let Thresholds {
        moderate,
        high,
        severe,
        ..
    } = Thresholds::default();
    let mut client = postgres::Client::connect(database_url, postgres::NoTls).context("connect")?;
    migrations::apply(&mut client).context("migrations")?;
    client.batch_execute(&format!(
        "SELECT b2_ensure_day_partition('traffic_metrics', d::date)
           FROM generate_series(now() - interval '{hours} hours' - interval '1 day', now() + interval '1 day', interval '1 day') d;
         INSERT INTO cameras (camera_id, name, location, latitude, longitude, road_segment, lanes)
         SELECT format('cam_%s', lpad(i::text, 3, '0')), format('Camera %s', i), format('Junction %s', i),
                52.0 + (i % 10) * 0.01, 4.0 + (i / 10) * 0.01, format('segment_%s', i % 20), 3
           FROM generate_series(1, {cameras}) i
         ON CONFLICT (camera_id) DO NOTHING;"
    ))?;
    let inserted = client.execute(
        &format!(
            "INSERT INTO traffic_metrics (camera_id, lane_id, window_start, window_end, vehicle_count,
                 event_count, avg_speed_kmh, speed_source, car_count, truck_count, bus_count,
                 motorcycle_count, bicycle_count, other_count, avg_confidence, congestion_score,
                 congestion_level)
             SELECT c.camera_id, l.lane, w.ts, w.ts + interval '5 seconds',
                    v.vehicles, v.vehicles * 40, v.speed, 'reported',
                    v.vehicles, 0, 0, 0, 0, 0, 0.9, v.score,
                    CASE WHEN v.score >= {severe} THEN 'SEVERE' WHEN v.score >= {high} THEN 'HIGH'
                         WHEN v.score >= {moderate} THEN 'MODERATE' ELSE 'LOW' END
               FROM (SELECT camera_id, row_number() OVER (ORDER BY camera_id) AS n FROM cameras) c
              CROSS JOIN generate_series(date_trunc('minute', now()) - interval '{hours} hours',
                                         date_trunc('minute', now()), interval '5 seconds') AS w(ts)
              CROSS JOIN (VALUES (NULL::text), ('1'), ('2'), ('3')) AS l(lane)
              CROSS JOIN LATERAL (
                  SELECT greatest(0.0, least(1.0, 0.3 + 0.3 * sin(extract(epoch FROM w.ts) / 3600.0 + c.n))) AS score
              ) s
              CROSS JOIN LATERAL (
                  SELECT (2 + round(8 * s.score))::int AS vehicles, 55.0 * (1.0 - s.score) + 5.0 AS speed, s.score AS score
              ) v
             ON CONFLICT ON CONSTRAINT traffic_metrics_window DO NOTHING"
        ),
        &[],
    )?;
    client.batch_execute("ANALYZE traffic_metrics; ANALYZE cameras;")?;
    Ok(inserted)
}

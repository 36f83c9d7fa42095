//! The SQL resampling of lane rows (what training and serving read) gives the same minute bins as
//! the Rust resampler, on a real PostgreSQL with the project's schema. Skipped, with a message,
//! when no PostgreSQL answers at `DATABASE_URL` (default: the local development server).

use chrono::{DateTime, Duration, Utc};
use forecast::data::{self, LaneWindow, LANE_TARGET};
use forecast::graph::Node;
use forecast::serve::{recent_observations, Observation};

fn admin_url() -> String {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    match url.rsplit_once('/') {
        Some((base, _)) if base.contains("://") && base.matches('/').count() >= 2 => {
            format!("{base}/postgres")
        }
        _ => url,
    }
}

#[test]
fn sql_minute_bins_match_the_rust_resampler() {
    let admin = admin_url();
    let Ok(mut client) = postgres::Client::connect(&admin, postgres::NoTls) else {
        eprintln!("skipped: no PostgreSQL at {admin}");
        return;
    };
    let name = format!("forecast_test_{}", std::process::id());
    // Separate statements: CREATE DATABASE cannot run in the implicit transaction of a batch.
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .expect("drop stale database");
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    let url = match admin.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("unexpected URL {admin}"),
    };
    let result = std::panic::catch_unwind(|| check(&url));
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .expect("drop database");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

fn check(url: &str) {
    let mut db = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    migrations::apply(&mut db).expect("migrations");
    let start: DateTime<Utc> = "2026-05-04T07:58:00Z".parse().expect("time");
    db.execute(
        "SELECT b2_ensure_day_partition('traffic_metrics', $1::timestamptz::date)",
        &[&start],
    )
    .expect("partition");
    db.execute(
        "INSERT INTO cameras (camera_id, latitude, longitude, road_segment, lanes) VALUES
             ('a', 52.0, 4.0, 'r', 2), ('b', 52.01, 4.0, 'r', 1)",
        &[],
    )
    .expect("cameras");
    // Three minutes of windows with gaps, missing speeds and a camera-wide row to be ignored.
    let mut windows = Vec::new();
    for k in 0..36 {
        if k % 7 == 3 {
            continue;
        }
        for (camera, lane) in [("a", "1"), ("a", "2"), ("b", "1")] {
            if camera == "b" && k >= 24 {
                continue; // b goes quiet in the third minute
            }
            windows.push(LaneWindow {
                camera_id: camera.into(),
                lane_id: lane.into(),
                window_start: start + Duration::seconds(5 * k),
                vehicle_count: k % 4,
                avg_speed_kmh: (k % 5 != 0).then_some(30.0 + k as f64),
                congestion_score: (k as f64) / 40.0,
            });
        }
    }
    for w in &windows {
        db.execute(
            "INSERT INTO traffic_metrics (camera_id, lane_id, window_start, window_end, vehicle_count, event_count,
                 avg_speed_kmh, speed_source, congestion_score, congestion_level)
             VALUES ($1, $2, $3::timestamptz, $3::timestamptz + interval '5 seconds', $4, $4, $5, 'reported', $6, 'LOW')",
            &[&w.camera_id, &w.lane_id, &w.window_start, &(w.vehicle_count as i32), &w.avg_speed_kmh, &w.congestion_score],
        )
        .expect("lane row");
    }
    db.execute(
        "INSERT INTO traffic_metrics (camera_id, lane_id, window_start, window_end, vehicle_count, event_count,
             speed_source, congestion_score, congestion_level)
         VALUES ('a', NULL, $1::timestamptz, $1::timestamptz + interval '5 seconds', 99, 99, 'none', 0.99, 'SEVERE')",
        &[&start],
    )
    .expect("camera row");

    let nodes = vec![
        Node::new("a", "1"),
        Node::new("a", "2"),
        Node::new("b", "1"),
    ];
    let expected = data::resample(&windows, &nodes, start, 3);
    let (series, sites) = data::load_postgres(&mut db, None, None).expect("load");
    assert_eq!(series.nodes, expected.nodes);
    assert_eq!(
        (series.start, series.steps),
        (expected.start, expected.steps)
    );
    for (i, (got, want)) in series.values.iter().zip(&expected.values).enumerate() {
        assert!(
            (got.is_nan() && want.is_nan()) || (got - want).abs() < 1e-4,
            "value {i}: SQL {got} vs Rust {want}"
        );
    }
    assert!(
        series.get(2, 2, LANE_TARGET).is_nan(),
        "b's quiet minute is missing, not zero"
    );
    assert_eq!(sites.len(), 2);
    assert_eq!(sites[0].lanes, ["1", "2"]);
    assert_eq!(sites[0].road_segment.as_deref(), Some("r"));

    // What the server reads: the complete minutes before `now`.
    let now = start + Duration::seconds(150);
    let recent: Vec<Observation> = recent_observations(&mut db, now, 2).expect("recent");
    assert_eq!(recent.len(), 6, "two minutes of three lanes");
    assert!(recent
        .iter()
        .all(|o| o.minute < start + Duration::minutes(2)));
}

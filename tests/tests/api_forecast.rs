//! The forecast route with a real model bundle: lane history written by `bench seed-lanes`'s
//! simulator, a small model trained by the real `forecast` binary, served by the real
//! `query-server` (loaded at start).

use std::process::Command;
use std::time::Duration;

use bench::harness::seed_lanes::{seed_lanes, LaneSimConfig};
use e2e_tests::api::QueryServer;
use e2e_tests::db::{column, TestDb};
use e2e_tests::workspace_binary;
use serde_json::Value;

#[test]
fn the_route_serves_a_trained_bundle_and_refuses_what_it_cannot_serve() {
    let db = TestDb::migrated("b2_forecast");
    let now = chrono::Utc::now();
    let end =
        chrono::DateTime::from_timestamp(now.timestamp().div_euclid(60) * 60, 0).expect("minute");
    let seeded = seed_lanes(
        &db.url,
        &LaneSimConfig {
            days: 1,
            cameras: 4,
            cameras_per_corridor: 2,
            lanes: 2,
            end,
            seed: 7,
        },
    )
    .expect("seed lanes");
    assert!(seeded.lane_rows > 0);

    let bundle = std::env::temp_dir().join(e2e_tests::unique_name("bundle"));
    let trained = Command::new(workspace_binary("forecast"))
        .args(["train", "--database-url", &db.url, "--out"])
        .arg(&bundle)
        .args([
            "--size",
            "small",
            "--epochs",
            "2",
            "--max-batches",
            "8",
            "--no-progress",
        ])
        .output()
        .expect("run forecast train");
    assert!(
        trained.status.success(),
        "forecast train failed:\n{}\n{}",
        String::from_utf8_lossy(&trained.stdout),
        String::from_utf8_lossy(&trained.stderr)
    );

    let mut client = db.client();
    let cameras: Vec<String> = column(
        &mut client,
        "SELECT DISTINCT camera_id FROM traffic_metrics WHERE lane_id IS NOT NULL ORDER BY 1",
        &[],
    );
    assert_eq!(cameras.len(), 4);
    client
        .execute(
            "INSERT INTO cameras (camera_id, name) VALUES ('cam_outside', 'not in the graph')",
            &[],
        )
        .expect("outside camera");

    let bundle_dir = bundle.to_string_lossy().into_owned();
    let mut server = QueryServer::start(
        &db.url,
        None,
        &[("FORECAST_MODEL_DIR", bundle_dir.as_str())],
    );
    e2e_tests::wait_for("the bundle to load", Duration::from_secs(30), || {
        server.log().contains("forecast_model_loaded").then_some(())
    });

    let camera = &cameras[0];
    let ok = server
        .get(&format!(
            "/api/predict/congestion?camera_id={camera}&horizon_minutes=10&lookback_minutes=15"
        ))
        .expect("forecast");
    assert_eq!(ok.status, 200, "{}", ok.text());
    let body = ok.json();
    assert_eq!(body["camera_id"], camera.as_str());
    assert_eq!(body["method"], "stgcn", "{body}");
    assert!(body["model_version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));
    assert!(body["generated_at"].is_string());
    let camera_points = body["camera"].as_array().expect("camera predictions");
    assert_eq!(camera_points.len(), 10);
    let lanes = body["lanes"].as_array().expect("lanes");
    assert_eq!(lanes.len(), 2);
    for (i, point) in camera_points.iter().enumerate() {
        let value = |v: &Value, f: &str| v[f].as_f64().expect(f);
        assert!(value(point, "lower") <= value(point, "value"));
        assert!(value(point, "value") <= value(point, "upper"));
        // The camera is the mean of its lanes.
        let mean = lanes
            .iter()
            .map(|l| value(&l["predictions"][i], "value"))
            .sum::<f64>()
            / lanes.len() as f64;
        assert!((value(point, "value") - mean).abs() < 1e-4, "step {i}");
    }
    let completeness = body["lookback_completeness"]
        .as_f64()
        .expect("completeness");
    assert!(completeness > 0.9, "{completeness}");

    let status = |path: &str| server.get(path).expect("request").status;
    assert_eq!(status("/api/predict/congestion?camera_id=cam_outside"), 404);
    assert_eq!(
        status("/api/predict/congestion?camera_id=no_such_camera"),
        404
    );
    assert_eq!(
        status(&format!(
            "/api/predict/congestion?camera_id={camera}&horizon_minutes=30"
        )),
        422,
        "beyond the model's horizon"
    );
    assert_eq!(
        status(&format!(
            "/api/predict/congestion?camera_id={camera}&lookback_minutes=5"
        )),
        422,
        "shorter than the model's input"
    );
    assert_eq!(
        status(&format!(
            "/api/predict/congestion?camera_id={camera}&horizon_minutes=61"
        )),
        400
    );
    assert_eq!(status("/api/predict/congestion"), 400);
    assert!(server.terminate().is_some_and(|s| s.success()));
    let _ = std::fs::remove_dir_all(&bundle);
}

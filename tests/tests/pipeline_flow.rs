//! The original system's integration tests, against the real broker, PostgreSQL and `pipeline` binary:
//! `test_kafka_schema_compat`, `test_end_to_end_flow`, `test_retention`; plus run-time thresholds.

use std::process::Command;
use std::time::Duration;

use e2e_tests::db::{count, TestDb};
use e2e_tests::process::PipelineSpec;
use e2e_tests::runs::wait_stored_exactly;
use e2e_tests::services::Broker;
use e2e_tests::traffic::{
    expected_camera_windows, produce, recent_start_ms, sim_config, simulate, valid_detections,
};
use e2e_tests::unique_name;
use e2e_tests::workspace_binary;
use operators::event::decode_message;

#[test]
fn test_kafka_schema_compat() {
    let messages = simulate(sim_config(4, 20.0, 11), recent_start_ms(5), 10_000);
    assert!(messages.len() >= 100);
    for m in &messages[..100] {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        decode_message(&m.payload, &mut out, &mut errors);
        assert!(
            errors.is_empty(),
            "{errors:?} for {}",
            String::from_utf8_lossy(&m.payload)
        );
        assert_eq!(out.len(), 1);
        let d = &out[0];
        let json: serde_json::Value =
            serde_json::from_slice(&m.payload).expect("producer emits JSON");
        assert_eq!(json["camera_id"], d.camera_id.as_str());
        assert_eq!(json["vehicle_id"].as_str(), Some(d.vehicle_id.as_str()));
        assert_eq!(json["class"], d.class.as_str());
        assert_eq!(json["frame_id"].as_i64(), Some(d.frame_id));
        assert_eq!(json["confidence"].as_f64(), Some(d.confidence));
        assert_eq!(json["bbox"]["w"].as_f64(), Some(d.bbox.w));
        assert_eq!(json["lane_id"].as_str(), d.lane_id.as_deref());
        assert_eq!(json["speed_kmh"].as_f64(), d.speed_kmh);
        assert_eq!(d.ts_ms, m.ts_ms);
    }
    // The frame-envelope shape carries the same detections.
    let mut frames_config = sim_config(4, 20.0, 11);
    frames_config.frames = true;
    let frames = simulate(frames_config, recent_start_ms(5), 10_000);
    let truths: usize = frames.iter().map(|m| m.truths.len()).sum();
    assert_eq!(valid_detections(&frames).len(), truths);
}

#[test]
fn test_end_to_end_flow() {
    let broker = Broker::get();
    let db = TestDb::migrated("b2_e2e");
    let topic = unique_name("e2e");
    let messages = simulate(sim_config(2, 20.0, 7), recent_start_ms(10), 30_000);
    produce(&broker.brokers, &topic, 2, &messages);
    let detections = valid_detections(&messages);
    let windows = expected_camera_windows(&detections, 5_000);

    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic)
        .workers(2)
        .start();
    let mut client = db.client();
    wait_stored_exactly(&mut client, detections.len(), windows.len());

    // A camera-wide row and per-lane rows for the same window.
    let with_lanes = count(
        &mut client,
        "SELECT count(*) FROM traffic_metrics c WHERE c.lane_id IS NULL AND EXISTS (
             SELECT 1 FROM traffic_metrics l WHERE l.camera_id = c.camera_id
             AND l.window_start = c.window_start AND l.lane_id IS NOT NULL)",
    );
    assert!(
        with_lanes > 0,
        "no window has both a camera-wide and a per-lane row"
    );

    // Every B1 field is in the row.
    let d = &detections[detections.len() / 2];
    let row = client
        .query_one(
            "SELECT camera_id, (extract(epoch FROM ts) * 1000)::bigint, frame_id, vehicle_id, class, confidence,
                    bbox_x, bbox_y, bbox_w, bbox_h, lane_id, speed_kmh, estimated_speed_kmh, kafka_partition, kafka_offset
             FROM traffic_events WHERE camera_id = $1 AND vehicle_id = $2 AND frame_id = $3",
            &[&d.camera_id, &d.vehicle_id, &d.frame_id],
        )
        .expect("the detection's row");
    assert_eq!(row.get::<_, String>(0), d.camera_id);
    assert_eq!(row.get::<_, i64>(1), d.ts_ms);
    assert_eq!(row.get::<_, String>(4), d.class);
    assert_eq!(row.get::<_, f64>(5), d.confidence);
    assert_eq!(
        [row.get::<_, f64>(6), row.get(7), row.get(8), row.get(9)],
        [d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h]
    );
    assert_eq!(row.get::<_, Option<String>>(10), d.lane_id);
    assert_eq!(row.get::<_, Option<f64>>(11), d.speed_kmh);
    assert!(row.get::<_, i32>(13) >= 0 && row.get::<_, i64>(14) >= 0);

    // Resume positions cover the whole topic.
    let stored = count(
        &mut client,
        "SELECT coalesce(sum(next_offset), 0)::bigint FROM pipeline_offsets",
    );
    assert_eq!(stored, messages.len() as i64);

    // A threshold change reaches the running pipeline without a restart.
    client
        .execute(
            "UPDATE congestion_thresholds SET high = 0.5, updated_at = now() WHERE id = 1",
            &[],
        )
        .expect("update thresholds");
    pipeline.wait_for_log(
        "settings_applied moderate=0.35 high=0.5 ",
        Duration::from_secs(20),
    );

    let log = pipeline.log();
    assert!(
        log.lines().any(|l| l.contains("window_flushed camera_id=")),
        "no window_flushed line"
    );
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every log line is a JSON object"
    );
    let status = pipeline.terminate(Duration::from_secs(30));
    assert!(status.success(), "pipeline exit status {status:?}");
}

#[test]
fn test_retention() {
    let db = TestDb::migrated("b2_retention");
    let mut client = db.client();
    client
        .batch_execute(
            "SELECT b2_ensure_day_partition('traffic_events', (now() - h * interval '1 hour')::date)
               FROM unnest(ARRAY[48, 30, 1, 0]) AS h;
             SELECT b2_ensure_day_partition('traffic_metrics', (now() - d * interval '1 day')::date)
               FROM unnest(ARRAY[40, 31, 1, 0]) AS d;
             INSERT INTO traffic_events (camera_id, ts, frame_id, vehicle_id, class, confidence,
                 bbox_x, bbox_y, bbox_w, bbox_h, kafka_partition, kafka_offset)
             SELECT 'cam_01', now() - h * interval '1 hour', 1, 'v', 'car', 0.9, 1, 1, 1, 1, 0, h
               FROM unnest(ARRAY[48, 30, 1]) AS h;
             INSERT INTO traffic_metrics (camera_id, window_start, window_end, vehicle_count, event_count,
                 speed_source, congestion_score, congestion_level)
             SELECT 'cam_01', now() - d * interval '1 day', now() - d * interval '1 day' + interval '5 seconds',
                    1, 1, 'none', 0, 'LOW'
               FROM unnest(ARRAY[40, 31, 1]) AS d;",
        )
        .expect("seed old and fresh rows");

    let sweep = |expected: &str| {
        let output = e2e_tests::run_ok(
            Command::new(workspace_binary("pipeline"))
                .arg("sweep")
                .env("DATABASE_URL", &db.url),
            "pipeline sweep",
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), expected);
    };
    sweep("events_deleted=2 metrics_deleted=2");
    assert_eq!(count(&mut client, "SELECT count(*) FROM traffic_events"), 1);
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM traffic_metrics"),
        1
    );
    sweep("events_deleted=0 metrics_deleted=0");
}

#[test]
fn congestion_opens_alerts_and_every_commit_is_announced() {
    use fallible_iterator::FallibleIterator;

    let broker = Broker::get();
    let db = TestDb::migrated("b2_alerts");
    let topic = unique_name("alerts");
    let messages = simulate(sim_config(3, 40.0, 3), recent_start_ms(10), 240_000);
    produce(&broker.brokers, &topic, 3, &messages);
    let detections = valid_detections(&messages);

    let mut listener = db.client();
    listener
        .batch_execute("LISTEN b2_metrics; LISTEN b2_alerts;")
        .expect("listen");
    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic).start();
    let mut client = db.client();
    let windows = expected_camera_windows(&detections, 5_000).len();
    wait_stored_exactly(&mut client, detections.len(), windows);
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    // The simulated congestion episodes reach HIGH or SEVERE, and each such episode opened an alert.
    let alerting = count(
        &mut client,
        "SELECT count(*) FROM traffic_metrics WHERE lane_id IS NULL AND congestion_level IN ('HIGH', 'SEVERE')",
    );
    assert!(
        alerting > 0,
        "no HIGH/SEVERE window in four minutes of traffic"
    );
    let alerts = count(&mut client, "SELECT count(*) FROM alerts");
    assert!(alerts > 0);
    // Every alert opened on an alerting window of its camera, and no camera has two open at once.
    let orphans = count(
        &mut client,
        "SELECT count(*) FROM alerts a WHERE NOT EXISTS (
             SELECT 1 FROM traffic_metrics m WHERE m.camera_id = a.camera_id AND m.lane_id IS NULL
             AND m.window_start = a.opened_window_start AND m.congestion_level IN ('HIGH', 'SEVERE'))",
    );
    assert_eq!(orphans, 0);
    let doubles = count(
        &mut client,
        "SELECT count(*) FROM (SELECT camera_id FROM alerts WHERE status = 'active'
                               GROUP BY camera_id HAVING count(*) > 1) d",
    );
    assert_eq!(doubles, 0);
    let bad_resolutions = count(
        &mut client,
        "SELECT count(*) FROM alerts WHERE (status = 'resolved') <> (resolved_at IS NOT NULL)
             OR resolved_at < opened_at OR peak_severity NOT IN ('HIGH', 'SEVERE')",
    );
    assert_eq!(bad_resolutions, 0);

    // NOTIFY after commit: one b2_metrics per camera window, one b2_alerts 'opened' per alert.
    let mut metrics_notes = 0i64;
    let mut opened_notes = 0i64;
    let mut notifications = listener.notifications();
    let mut iter = notifications.timeout_iter(Duration::from_secs(2));
    while let Some(n) = iter.next().expect("notifications") {
        let payload: serde_json::Value = serde_json::from_str(n.payload()).expect("JSON payload");
        match n.channel() {
            "b2_metrics" => {
                assert!(
                    payload["camera_id"].is_string() && payload["congestion_level"].is_string()
                );
                metrics_notes += 1;
            }
            "b2_alerts" if payload["event"] == "opened" => {
                assert!(payload["alert_id"].as_i64().is_some_and(|id| id > 0));
                opened_notes += 1;
            }
            _ => {}
        }
    }
    assert_eq!(metrics_notes, windows as i64);
    assert_eq!(opened_notes, alerts);
}

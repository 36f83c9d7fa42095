//! What the pipeline promises beyond the happy path: estimated speeds match the truth, bad and late
//! input is counted without stopping anything, the worker count does not change results, and a
//! `kill -9` in mid-stream followed by a restart loses and duplicates nothing.

use std::time::Duration;

use e2e_tests::db::{count, events_snapshot, metrics_snapshot, TestDb};
use e2e_tests::process::PipelineSpec;
use e2e_tests::runs::{
    assert_matches_uninterrupted_run, deterministic, run_to_completion, wait_complete,
    wait_first_commit,
};
use e2e_tests::services::Broker;
use e2e_tests::traffic::{
    closing_traffic, expected_camera_windows, produce, read_topic, recent_start_ms, sim_config,
    simulate, true_window_speeds, valid_detections,
};
use e2e_tests::{unique_name, wait_for};
use operators::event::{decode_message, encode_detection, DropReason};

#[test]
fn no_speed_traffic_gets_estimates_within_15_percent_of_truth() {
    let broker = Broker::get();
    let db = TestDb::migrated("b2_nospeed");
    let topic = unique_name("nospeed");
    let mut config = sim_config(3, 30.0, 21);
    config.no_speed = true;
    let messages = simulate(config, recent_start_ms(15), 120_000);
    produce(&broker.brokers, &topic, 3, &messages);
    let detections = valid_detections(&messages);
    assert!(detections.iter().all(|d| d.speed_kmh.is_none()));
    let windows = expected_camera_windows(&detections, 5_000);

    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic).start();
    wait_complete(&db.url, detections.len(), windows.len(), &mut pipeline);

    let truth = true_window_speeds(&messages, 5_000);
    let mut client = db.client();
    let rows = client
        .query(
            "SELECT camera_id, (extract(epoch FROM window_start) * 1000)::bigint, avg_speed_kmh, speed_source
             FROM traffic_metrics WHERE lane_id IS NULL AND event_count >= 20",
            &[],
        )
        .expect("windows");
    let mut errors = Vec::new();
    for row in &rows {
        let key = (row.get::<_, String>(0), row.get::<_, i64>(1));
        let estimated: Option<f64> = row.get(2);
        assert_eq!(row.get::<_, String>(3), "estimated");
        let estimated = estimated.expect("estimated windows have a speed");
        let actual = truth[&key];
        errors.push((estimated - actual).abs() / actual);
    }
    assert!(
        errors.len() >= 30,
        "too few windows to judge: {}",
        errors.len()
    );
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let within = errors.iter().filter(|e| **e <= 0.15).count() as f64 / errors.len() as f64;
    println!(
        "windows={} mean_relative_error={mean:.4} within_15pct={within:.3}",
        errors.len()
    );
    assert!(mean <= 0.15, "mean relative error {mean:.3}");
    assert!(within >= 0.9, "only {within:.3} of windows within 15%");
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM traffic_events WHERE speed_kmh IS NOT NULL"
        ),
        0,
        "B1's speed column stays empty when B1 sent none"
    );
}

#[test]
fn malformed_and_late_events_are_counted_and_never_stop_the_pipeline() {
    let broker = Broker::get();
    let db = TestDb::migrated("b2_bad");
    let topic = unique_name("bad");
    let mut config = sim_config(2, 20.0, 5);
    config.bad_ratio = 0.1;
    let start = recent_start_ms(10);
    let mut messages = simulate(config.clone(), start, 30_000);
    // A valid detection for a window that closed long ago, and a frame with one bad detection.
    let mut detections = valid_detections(&messages);
    let mut late = detections[0].clone();
    late.vehicle_id = "late-vehicle".into();
    let late_payload = encode_detection(&late).into_bytes();
    let mixed_frame = format!(
        r#"{{"camera_id":"cam_01","timestamp":{},"frame_id":999999,"detections":[
            {{"vehicle_id":"ok-1","class":"car","confidence":0.9,"bbox":[10,10,20,20]}},
            {{"vehicle_id":"bad-1","class":"car","confidence":7,"bbox":[10,10,20,20]}}]}}"#,
        start + 29_000
    );
    let mut extra = simulate(config, start + 30_000, 0);
    extra.clear();
    let mut push = |payload: Vec<u8>, ts_ms: i64| {
        let mut m = messages[0].clone();
        m.payload = payload;
        m.ts_ms = ts_ms;
        m.key = "cam_01".into();
        m.camera_id = "cam_01".into();
        extra.push(m);
    };
    push(mixed_frame.into_bytes(), start + 29_000);
    push(b"\xff\xfe not json".to_vec(), start + 29_000);
    push(late_payload, late.ts_ms);
    messages.extend(extra);
    detections = valid_detections(&messages);

    let mut expected = std::collections::BTreeMap::new();
    for m in &messages {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        decode_message(&m.payload, &mut out, &mut errors);
        for e in errors {
            *expected.entry(e.reason).or_insert(0u64) += 1;
        }
    }
    for reason in [
        DropReason::MalformedJson,
        DropReason::MissingField,
        DropReason::InvalidValue,
    ] {
        assert!(
            expected.get(&reason).copied().unwrap_or(0) > 0,
            "the input has no {reason:?}"
        );
    }

    // Produce everything but the late event first, so its window has closed when it arrives.
    let (head, tail) = messages.split_at(messages.len() - 1);
    produce(&broker.brokers, &topic, 1, head);
    let dead_letters = format!("{topic}-dead");
    bench::kafka::ensure_topic(&broker.brokers, &dead_letters, 1).expect("dead-letter topic");
    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic)
        .env("DEAD_LETTER_TOPIC", &dead_letters)
        .start();
    let mut client = db.client();
    wait_for("the first windows", Duration::from_secs(60), || {
        (count(
            &mut client,
            "SELECT count(*) FROM traffic_metrics WHERE lane_id IS NULL",
        ) > 0)
            .then_some(())
    });
    produce(&broker.brokers, &topic, 1, tail);
    let windows = expected_camera_windows(&detections, 5_000);
    wait_complete(&db.url, detections.len(), windows.len(), &mut pipeline);

    let metric = |reason: &str| {
        pipeline
            .metric(&format!("b2_events_dropped_total{{reason=\"{reason}\"}}"))
            .unwrap_or(-1.0) as u64
    };
    for reason in [
        DropReason::MalformedJson,
        DropReason::MissingField,
        DropReason::InvalidValue,
    ] {
        assert_eq!(metric(reason.as_str()), expected[&reason], "{reason:?}");
    }
    assert_eq!(metric("late"), 1, "the late detection");
    let processed = pipeline.metric("b2_events_processed_total").unwrap_or(-1.0) as usize;
    assert_eq!(processed, detections.len());
    // The late detection is kept raw, but not counted in its (closed) window.
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM traffic_events WHERE vehicle_id = 'late-vehicle'"
        ),
        1
    );
    let counted: i64 = count(
        &mut client,
        "SELECT coalesce(sum(event_count), 0)::bigint FROM traffic_metrics WHERE lane_id IS NULL",
    );
    assert_eq!(counted as usize, detections.len() - 1);
    // Every rejection was copied to the dead-letter topic, with its reason.
    let rejected: u64 = expected.values().sum();
    let copies = read_topic(
        &broker.brokers,
        &dead_letters,
        rejected as usize,
        Duration::from_secs(60),
    );
    assert_eq!(copies.len() as u64, rejected);
    let invalid = copies
        .iter()
        .filter(|(key, _, _)| key == "invalid_value")
        .count() as u64;
    assert_eq!(invalid, expected[&DropReason::InvalidValue]);
    assert!(copies.iter().all(|(key, _, headers)| headers
        .iter()
        .any(|(k, v)| k == "b2-drop-reason" && v == key)));
    assert!(pipeline.is_running());
    assert!(pipeline.terminate(Duration::from_secs(30)).success());
}

#[test]
fn one_and_four_workers_give_identical_results() {
    let broker = Broker::get();
    let topic = unique_name("workers");
    let mut config = sim_config(6, 30.0, 99);
    config.no_speed = true;
    let traffic = closing_traffic(config, recent_start_ms(10), 40_000);
    produce(&broker.brokers, &topic, 4, &traffic.messages);

    let one = TestDb::migrated("b2_w1");
    run_to_completion(
        &one,
        &broker.brokers,
        &topic,
        1,
        traffic.events,
        traffic.windows,
    );
    let four = TestDb::migrated("b2_w4");
    run_to_completion(
        &four,
        &broker.brokers,
        &topic,
        4,
        traffic.events,
        traffic.windows,
    );

    let (m1, m4) = (
        metrics_snapshot(&mut one.client()),
        metrics_snapshot(&mut four.client()),
    );
    assert!(!m1.is_empty());
    assert_eq!(m1, m4, "traffic_metrics differ between -w 1 and -w 4");
    assert_eq!(
        events_snapshot(&mut one.client()),
        events_snapshot(&mut four.client())
    );
}

#[test]
fn kill_9_mid_stream_then_restart_matches_an_uninterrupted_run() {
    let broker = Broker::get();
    let topic = unique_name("kill9");
    let config = sim_config(6, 40.0, 1234);
    let traffic = closing_traffic(config, recent_start_ms(10), 90_000);
    bench::kafka::ensure_topic(&broker.brokers, &topic, 3).expect("topic");

    // The crashed run reads while the traffic is still being produced.
    let crashed = TestDb::migrated("b2_crash");
    let mut pipeline = deterministic(&crashed.url, &broker.brokers, &topic, 2).start();
    let chunks = traffic.parts(8);
    produce(&broker.brokers, &topic, 3, chunks[0]);
    let mut client = crashed.client();
    wait_for("a first commit", Duration::from_secs(60), || {
        (count(&mut client, "SELECT count(*) FROM traffic_metrics") > 0).then_some(())
    });
    produce(&broker.brokers, &topic, 3, chunks[1]);
    std::thread::sleep(Duration::from_millis(700));
    let before = count(&mut client, "SELECT count(*) FROM traffic_events");
    assert!(
        before > 0 && (before as usize) < traffic.events,
        "not mid-stream: {before} rows"
    );
    pipeline.kill9();
    let mut pipeline = deterministic(&crashed.url, &broker.brokers, &topic, 2).start();
    for chunk in &chunks[2..] {
        produce(&broker.brokers, &topic, 3, chunk);
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_complete(&crashed.url, traffic.events, traffic.windows, &mut pipeline);
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    // The reference run reads the same topic without interruption.
    assert_matches_uninterrupted_run(&crashed.url, (&broker.brokers, &topic), 2, &traffic);
}

#[test]
fn a_database_outage_delays_commits_but_loses_and_duplicates_nothing() {
    let broker = Broker::get();
    let topic = unique_name("dbdown");
    let traffic = closing_traffic(sim_config(4, 30.0, 77), recent_start_ms(10), 60_000);
    let (first, rest) = traffic.messages.split_at(traffic.messages.len() / 3);
    produce(&broker.brokers, &topic, 2, first);

    let db = TestDb::migrated("b2_dbdown");
    let mut pipeline = deterministic(&db.url, &broker.brokers, &topic, 2).start();
    let mut admin =
        postgres::Client::connect(&e2e_tests::services::postgres_admin_url(), postgres::NoTls)
            .expect("admin connection");
    let mut client = db.client();
    wait_first_commit(&mut client);
    drop(client);

    // Refuse new connections and cut the existing ones for a few seconds, while traffic arrives.
    let lock_out = format!(
        "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS false",
        db.name
    );
    admin.batch_execute(&lock_out).expect("lock the database");
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name],
        )
        .expect("cut connections");
    produce(&broker.brokers, &topic, 2, rest);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        pipeline.is_running(),
        "the pipeline must ride out the outage"
    );
    let let_in = format!("ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS true", db.name);
    admin.batch_execute(&let_in).expect("unlock the database");

    wait_complete(&db.url, traffic.events, traffic.windows, &mut pipeline);
    let failures = pipeline.metric("b2_commit_failures_total").unwrap_or(0.0);
    assert!(failures >= 1.0, "the outage was not noticed");
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    assert_matches_uninterrupted_run(&db.url, (&broker.brokers, &topic), 1, &traffic);
}

//! Hostile input and operational faults. Every run here is compared row for row with an
//! uninterrupted run of the same topic: nothing lost, nothing counted twice.
//! - a row PostgreSQL refuses is quarantined and the rest of its batch commits;
//! - hostile clocks are dropped before they move a watermark or create a partition;
//! - a second pipeline on the same group waits as a standby and takes over from a `kill -9`;
//! - a pipeline whose lease was taken over stops with a non-zero exit;
//! - a connection cut right after COMMIT is forwarded does not duplicate the batch;
//! - a cut network path to PostgreSQL stalls commits (`/health` says so) and loses nothing;
//! - the database server crashes (immediate stop) and restarts in mid-stream;
//! - `kill -9` at ten seeded random points in mid-stream.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bench::sim::SimMessage;
use e2e_tests::db::{count, metrics_snapshot, TestDb};
use e2e_tests::owned_postgres::OwnedPostgres;
use e2e_tests::pgproxy::PgProxy;
use e2e_tests::runs::{
    assert_matches_uninterrupted_run, deterministic, duplicate_events, run_to_completion,
    wait_complete, wait_first_commit,
};
use e2e_tests::services::Broker;
use e2e_tests::traffic::{
    closable_camera_windows, closing_traffic, produce, read_topic, recent_start_ms, sim_config,
    simulate, valid_detections, with_closing_sentinels, ClosingTraffic,
};
use e2e_tests::{unique_name, wait_for};
use operators::event::{decode_message, encode_detection};

/// The messages as single detections re-encoded, with `change` applied to every `every`-th one.
/// The closing sentinels (see `with_closing_sentinels`) are added first and never altered.
fn altered(
    messages: Vec<SimMessage>,
    every: usize,
    mut change: impl FnMut(&mut operators::event::Detection),
) -> (Vec<SimMessage>, Vec<Vec<u8>>) {
    let simulated = messages.len();
    let messages = with_closing_sentinels(messages);
    let mut out = Vec::with_capacity(messages.len());
    let mut changed = Vec::new();
    for (i, m) in messages.iter().enumerate().take(simulated) {
        let mut detections = Vec::new();
        decode_message(&m.payload, &mut detections, &mut Vec::new());
        let mut m = m.clone();
        if i % every == every / 2 && detections.len() == 1 {
            change(&mut detections[0]);
            m.payload = encode_detection(&detections[0]).into_bytes();
            changed.push(m.payload.clone());
        }
        out.push(m);
    }
    out.extend(messages.into_iter().skip(simulated));
    (out, changed)
}

/// Host and port of a `postgres://user@host:port/db` URL.
fn host_port(url: &str) -> String {
    let rest = url.rsplit_once('@').map_or(url, |(_, r)| r);
    let rest = rest.trim_start_matches("postgres://");
    rest.split('/').next().unwrap_or(rest).to_owned()
}

#[test]
fn rows_postgres_refuses_are_quarantined_and_the_rest_commits() {
    let broker = Broker::get();
    let topic = unique_name("poison");
    let dead_letters = format!("{topic}-dlq");
    let base = simulate(sim_config(3, 20.0, 4242), recent_start_ms(10), 30_000);
    let mut n = 0;
    let (messages, poison) = altered(base, 40, |d| {
        n += 1;
        if n % 3 == 0 {
            // Its lane's window row is refused; the raw row is not.
            d.lane_id = Some("poison-lane".into());
        } else {
            d.vehicle_id = format!("poison-{n}");
        }
    });
    let poison_events: Vec<&Vec<u8>> = poison
        .iter()
        .filter(|p| String::from_utf8_lossy(p).contains("\"vehicle_id\":\"poison-"))
        .collect();
    assert!(poison_events.len() >= 5 && poison.len() > poison_events.len());
    let detections = valid_detections(&messages);
    let stored = detections.len() - poison_events.len();
    let windows = closable_camera_windows(&detections, 5_000);

    let db = TestDb::migrated("b2_poison");
    db.client()
        .batch_execute(
            "ALTER TABLE traffic_events ADD CONSTRAINT refuse_poison CHECK (vehicle_id NOT LIKE 'poison%');
             ALTER TABLE traffic_metrics ADD CONSTRAINT refuse_poison_lane
                 CHECK (lane_id IS DISTINCT FROM 'poison-lane');",
        )
        .expect("constraints");
    produce(&broker.brokers, &topic, 2, &messages);
    bench::kafka::ensure_topic(&broker.brokers, &dead_letters, 1).expect("dead-letter topic");
    let mut pipeline = deterministic(&db.url, &broker.brokers, &topic, 2)
        .env("DEAD_LETTER_TOPIC", &dead_letters)
        .start();
    wait_complete(&db.url, stored, windows, &mut pipeline);

    let mut client = db.client();
    let rows = client
        .query(
            "SELECT sqlstate, payload_source, payload, kafka_partition, kafka_offset, reason
             FROM quarantine WHERE kind = 'event' ORDER BY kafka_partition, kafka_offset",
            &[],
        )
        .expect("quarantine rows");
    assert_eq!(
        rows.len(),
        poison_events.len(),
        "one quarantine row per refused detection"
    );
    let expected: BTreeSet<&[u8]> = poison_events.iter().map(|p| p.as_slice()).collect();
    let mut got = BTreeSet::new();
    for row in &rows {
        assert_eq!(row.get::<_, String>(0), "23514", "check_violation");
        // `kafka` where the broker serves the position again, else the detection as decoded,
        // which for these messages (encoded canonically) are the same bytes.
        assert!(["kafka", "row"].contains(&row.get::<_, String>(1).as_str()));
        assert!(row.get::<_, String>(5).contains("refuse_poison"));
        got.insert(row.get::<_, Vec<u8>>(2));
    }
    let got: BTreeSet<&[u8]> = got.iter().map(Vec::as_slice).collect();
    assert_eq!(
        got, expected,
        "quarantined payloads are the messages as produced"
    );
    let refused_windows = count(
        &mut client,
        "SELECT count(*) FROM quarantine WHERE kind = 'window'",
    );
    assert!(
        refused_windows >= 1,
        "the poison lane's window rows are quarantined"
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM traffic_metrics WHERE lane_id = 'poison-lane'"
        ),
        0
    );
    assert_eq!(duplicate_events(&db.url), 0);
    assert_eq!(
        pipeline.metric("b2_events_dropped_total{reason=\"quarantined\"}"),
        Some(poison_events.len() as f64)
    );
    let copies = read_topic(
        &broker.brokers,
        &dead_letters,
        poison_events.len(),
        Duration::from_secs(30),
    );
    assert_eq!(copies.len(), poison_events.len());
    assert!(copies.iter().all(|(_, _, headers)| headers
        .iter()
        .any(|(k, v)| k == "b2-drop-reason" && v == "quarantined")));
    assert!(
        pipeline.log().contains("sqlstate=23514"),
        "errors are logged with their SQLSTATE"
    );
    assert!(pipeline.is_running());
    assert!(pipeline.terminate(Duration::from_secs(30)).success());
}

#[test]
fn hostile_clocks_are_dropped_before_they_move_a_watermark() {
    let broker = Broker::get();
    let topic = unique_name("clocks");
    let base = simulate(sim_config(3, 20.0, 777), recent_start_ms(10), 30_000);
    let mut n = 0;
    let (hostile, bad) = altered(base, 25, |d| {
        n += 1;
        d.ts_ms += if n % 2 == 0 {
            3 * 365 * 86_400_000
        } else {
            -40 * 86_400_000
        };
    });
    let bad: BTreeSet<Vec<u8>> = bad.into_iter().collect();
    let clean: Vec<SimMessage> = hostile
        .iter()
        .filter(|m| !bad.contains(&m.payload))
        .cloned()
        .collect();
    assert!(bad.len() >= 4);
    let detections = valid_detections(&clean);
    let windows = closable_camera_windows(&detections, 5_000);

    produce(&broker.brokers, &topic, 2, &hostile);
    let db = TestDb::migrated("b2_clocks");
    let mut pipeline = deterministic(&db.url, &broker.brokers, &topic, 1).start();
    wait_complete(&db.url, detections.len(), windows, &mut pipeline);
    assert_eq!(
        pipeline.metric("b2_events_dropped_total{reason=\"time_out_of_range\"}"),
        Some(bad.len() as f64)
    );
    assert_eq!(
        pipeline.metric("b2_events_dropped_total{reason=\"late\"}"),
        Some(0.0)
    );
    let mut client = db.client();
    let far_partitions = count(
        &mut client,
        "SELECT count(*) FROM pg_class WHERE relname ~ '^traffic_(events|metrics)_p'
           AND to_date(substring(relname from '_p(\\d{8})$'), 'YYYYMMDD')
               NOT BETWEEN current_date - 2 AND current_date + 1",
    );
    assert_eq!(
        far_partitions, 0,
        "a partition was created for a hostile day"
    );
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    let topic_clean = unique_name("clocks_ref");
    produce(&broker.brokers, &topic_clean, 2, &clean);
    let reference = TestDb::migrated("b2_clocks_ref");
    run_to_completion(
        &reference,
        &broker.brokers,
        &topic_clean,
        1,
        detections.len(),
        windows,
    );
    // Positions differ between the two topics; the windows must not.
    assert_eq!(
        metrics_snapshot(&mut db.client()),
        metrics_snapshot(&mut reference.client())
    );
}

/// Six cameras over three partitions, produced in parts around the faults.
fn stream(seed: u64, seconds: i64) -> ClosingTraffic {
    closing_traffic(
        sim_config(6, 40.0, seed),
        recent_start_ms(10),
        seconds * 1_000,
    )
}

#[test]
fn a_standby_takes_over_from_a_killed_pipeline_and_rows_match() {
    let broker = Broker::get();
    let topic = unique_name("standby");
    let traffic = stream(31, 60);
    bench::kafka::ensure_topic(&broker.brokers, &topic, 3).expect("topic");
    let chunks = traffic.parts(6);

    let db = TestDb::migrated("b2_standby");
    let mut active = deterministic(&db.url, &broker.brokers, &topic, 2).start();
    produce(&broker.brokers, &topic, 3, chunks[0]);
    let mut client = db.client();
    wait_first_commit(&mut client);
    let mut standby = deterministic(&db.url, &broker.brokers, &topic, 2).start();
    standby.wait_for_log("pipeline_standby", Duration::from_secs(30));
    let (status, body) = wait_for("the standby's /health", Duration::from_secs(10), || {
        standby.get("/health")
    });
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("standby"), "{body}");
    produce(&broker.brokers, &topic, 3, chunks[1]);
    std::thread::sleep(Duration::from_millis(700));
    produce(&broker.brokers, &topic, 3, chunks[2]);
    active.kill9();
    let killed = Instant::now();
    standby.wait_for_log("pipeline_lease_acquired", Duration::from_secs(20));
    let takeover = killed.elapsed();
    assert!(
        takeover < Duration::from_secs(10),
        "takeover took {takeover:?}"
    );
    eprintln!("takeover after kill -9: {:.2} s", takeover.as_secs_f64());
    for chunk in &chunks[3..] {
        produce(&broker.brokers, &topic, 3, chunk);
    }
    wait_complete(&db.url, traffic.events, traffic.windows, &mut standby);
    assert!(standby.terminate(Duration::from_secs(30)).success());

    assert_matches_uninterrupted_run(&db.url, (&broker.brokers, &topic), 2, &traffic);
}

#[test]
fn a_pipeline_whose_lease_was_taken_stops_with_a_non_zero_exit() {
    let broker = Broker::get();
    let topic = unique_name("fenced");
    let messages = stream(5, 20).messages;
    let (first, rest) = messages.split_at(messages.len() / 2);
    let db = TestDb::migrated("b2_fenced");
    produce(&broker.brokers, &topic, 2, first);
    let mut pipeline = deterministic(&db.url, &broker.brokers, &topic, 1).start();
    let mut client = db.client();
    wait_first_commit(&mut client);
    // What a second pipeline does when it takes the group over.
    client
        .execute(
            "UPDATE pipeline_leases SET generation = generation + 1",
            &[],
        )
        .expect("take the lease over");
    let events_before = count(&mut client, "SELECT count(*) FROM traffic_events");
    produce(&broker.brokers, &topic, 2, rest);
    let status = pipeline.wait(Duration::from_secs(60));
    assert!(!status.success(), "a fenced pipeline must exit non-zero");
    let log = pipeline.log();
    assert!(
        log.contains("pipeline_fatal") && log.contains("fenced"),
        "{log}"
    );
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM traffic_events"),
        events_before,
        "a fenced pipeline committed"
    );
}

#[test]
fn a_connection_cut_after_commit_does_not_duplicate_the_batch() {
    let broker = Broker::get();
    let topic = unique_name("ambiguous");
    let traffic = stream(8, 40);
    bench::kafka::ensure_topic(&broker.brokers, &topic, 3).expect("topic");
    let chunks = traffic.parts(8);

    let db = TestDb::migrated("b2_ambiguous");
    let proxy = PgProxy::start(&host_port(&db.url));
    let mut pipeline = deterministic(&proxy.url_for(&db.url), &broker.brokers, &topic, 2).start();
    produce(&broker.brokers, &topic, 3, chunks[0]);
    let mut client = db.client();
    wait_first_commit(&mut client);
    proxy.cut_next_commits(3);
    for chunk in &chunks[1..] {
        produce(&broker.brokers, &topic, 3, chunk);
        std::thread::sleep(Duration::from_millis(400));
    }
    wait_for("three commits cut", Duration::from_secs(60), || {
        (proxy.commits_cut() == 3).then_some(())
    });
    wait_complete(&db.url, traffic.events, traffic.windows, &mut pipeline);
    let log = pipeline.log();
    assert!(
        log.contains("sink_commit_ambiguous") && log.contains("landed=true"),
        "the sink must ask whether the cut commit landed:\n{log}"
    );
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    assert_matches_uninterrupted_run(&db.url, (&broker.brokers, &topic), 2, &traffic);
}

#[test]
fn a_cut_network_path_stalls_commits_and_loses_nothing() {
    let broker = Broker::get();
    let topic = unique_name("netcut");
    let traffic = stream(12, 40);
    let (first, rest) = traffic.messages.split_at(traffic.messages.len() / 3);
    produce(&broker.brokers, &topic, 2, first);

    let db = TestDb::migrated("b2_netcut");
    let proxy = PgProxy::start(&host_port(&db.url));
    let mut pipeline = deterministic(&proxy.url_for(&db.url), &broker.brokers, &topic, 2)
        .env("HEALTH_COMMIT_STALL_SECONDS", "2")
        .start();
    let mut client = db.client();
    wait_first_commit(&mut client);
    proxy.partition();
    produce(&broker.brokers, &topic, 2, rest);
    let (status, body) = wait_for(
        "/health to report the stall",
        Duration::from_secs(20),
        || pipeline.get("/health").filter(|(s, _)| *s == 503),
    );
    assert_eq!(status, 503);
    assert!(body.contains("stalled"), "{body}");
    assert!(pipeline.is_running(), "the pipeline must ride out the cut");
    proxy.heal();
    wait_complete(&db.url, traffic.events, traffic.windows, &mut pipeline);
    let (status, body) = pipeline.get("/health").expect("health");
    assert_eq!(status, 200, "{body}");
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    assert_matches_uninterrupted_run(&db.url, (&broker.brokers, &topic), 1, &traffic);
}

#[test]
fn a_database_server_crash_and_restart_loses_and_duplicates_nothing() {
    let broker = Broker::get();
    let topic = unique_name("dbcrash");
    let traffic = stream(21, 40);
    let (first, rest) = traffic.messages.split_at(traffic.messages.len() / 3);
    produce(&broker.brokers, &topic, 2, first);

    let server = OwnedPostgres::start();
    let url = server.create_database("traffic");
    migrations::apply(&mut postgres::Client::connect(&url, postgres::NoTls).expect("connect"))
        .expect("migrate");
    let mut pipeline = deterministic(&url, &broker.brokers, &topic, 2).start();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    wait_first_commit(&mut client);
    drop(client);
    produce(&broker.brokers, &topic, 2, &rest[..rest.len() / 2]);
    server.crash_and_restart(Duration::from_secs(3));
    produce(&broker.brokers, &topic, 2, &rest[rest.len() / 2..]);
    assert!(
        pipeline.is_running(),
        "the pipeline must ride out the crash"
    );
    wait_complete(&url, traffic.events, traffic.windows, &mut pipeline);
    assert!(pipeline.metric("b2_commit_failures_total").unwrap_or(0.0) >= 1.0);
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    assert_matches_uninterrupted_run(&url, (&broker.brokers, &topic), 1, &traffic);
}

/// xorshift64*: a seeded schedule that a failure report can reproduce.
struct Schedule(u64);

impl Schedule {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % (high - low)
    }
}

#[test]
fn kill_9_at_ten_seeded_points_matches_an_uninterrupted_run() {
    let seed = std::env::var("B2_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026_u64);
    eprintln!("fault schedule seed: {seed} (B2_FAULT_SEED reproduces it)");
    let mut schedule = Schedule(seed | 1);
    let broker = Broker::get();
    let topic = unique_name("kill9x10");
    let traffic = stream(seed, 90);
    bench::kafka::ensure_topic(&broker.brokers, &topic, 3).expect("topic");
    let chunks = traffic.parts(12);

    let db = TestDb::migrated("b2_kill9x10");
    let mut produced = 0;
    for kill in 0..10 {
        let mut pipeline = deterministic(&db.url, &broker.brokers, &topic, 2).start();
        produce(&broker.brokers, &topic, 3, chunks[produced]);
        produced += 1;
        let delay = schedule.next_ms(300, 2_500);
        std::thread::sleep(Duration::from_millis(delay));
        assert!(
            pipeline.is_running(),
            "pipeline exited early:\n{}",
            pipeline.log()
        );
        pipeline.kill9();
        eprintln!("kill {kill}: after {delay} ms");
    }
    let mut pipeline = deterministic(&db.url, &broker.brokers, &topic, 2).start();
    for chunk in &chunks[produced..] {
        produce(&broker.brokers, &topic, 3, chunk);
    }
    wait_complete(&db.url, traffic.events, traffic.windows, &mut pipeline);
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    assert_matches_uninterrupted_run(&db.url, (&broker.brokers, &topic), 2, &traffic);
}

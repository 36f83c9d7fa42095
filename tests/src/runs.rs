//! Runs of the real pipeline that tests compare row for row: start deterministically, wait until
//! everything expected is stored, and check that nothing more arrives.

use std::time::{Duration, Instant};

use crate::db::{count, events_snapshot, metrics_snapshot, TestDb};
use crate::process::{PipelineProcess, PipelineSpec};
use crate::traffic::ClosingTraffic;
use crate::wait_for;

/// Idle closing is processing-time driven; runs compared row for row close windows by event time
/// only.
pub fn deterministic(
    database_url: &str,
    brokers: &str,
    topic: &str,
    workers: usize,
) -> PipelineSpec {
    PipelineSpec::new(database_url, brokers, topic)
        .workers(workers)
        .env("CAMERA_IDLE_TIMEOUT_SECONDS", "600")
}

/// Waits until the pipeline's first commit has stored raw rows.
pub fn wait_first_commit(client: &mut postgres::Client) {
    wait_for("a first commit", Duration::from_secs(60), || {
        (count(client, "SELECT count(*) FROM traffic_events") > 0).then_some(())
    });
}

/// Waits until at least `events` raw rows are stored, failing at once when the pipeline exits;
/// returns how long it took.
pub fn wait_events(database_url: &str, events: usize, pipeline: &mut PipelineProcess) -> Duration {
    let started = Instant::now();
    let mut client =
        postgres::Client::connect(database_url, postgres::NoTls).expect("connect to the database");
    wait_for(
        &format!("{events} detections stored"),
        Duration::from_secs(120),
        || {
            assert!(
                pipeline.is_running(),
                "pipeline exited:\n{}",
                pipeline.log()
            );
            (count(&mut client, "SELECT count(*) FROM traffic_events") as usize >= events)
                .then_some(())
        },
    );
    started.elapsed()
}

/// Waits until the pipeline has stored `events` raw rows and `windows` camera-wide rows, then
/// checks that no extra raw row arrives.
pub fn wait_complete(
    database_url: &str,
    events: usize,
    windows: usize,
    pipeline: &mut PipelineProcess,
) {
    wait_events(database_url, events, pipeline);
    let mut client =
        postgres::Client::connect(database_url, postgres::NoTls).expect("connect to the database");
    wait_for(
        "every camera window stored",
        Duration::from_secs(60),
        || {
            (count(
                &mut client,
                "SELECT count(*) FROM traffic_metrics WHERE lane_id IS NULL",
            ) as usize
                >= windows)
                .then_some(())
        },
    );
    // One more commit interval for anything still in flight, then check nothing extra arrived.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM traffic_events") as usize,
        events
    );
}

/// Waits until exactly `events` raw rows and then exactly `windows` camera-wide rows are stored:
/// for runs that close every window (short idle timeout), where more would be an error too.
pub fn wait_stored_exactly(client: &mut postgres::Client, events: usize, windows: usize) {
    wait_for("every detection stored", Duration::from_secs(120), || {
        (count(client, "SELECT count(*) FROM traffic_events") == events as i64).then_some(())
    });
    wait_for(
        "every camera window stored",
        Duration::from_secs(60),
        || {
            (count(
                client,
                "SELECT count(*) FROM traffic_metrics WHERE lane_id IS NULL",
            ) == windows as i64)
                .then_some(())
        },
    );
}

/// An uninterrupted run from the start of `topic` into `db`, stopped by SIGTERM.
pub fn run_to_completion(
    db: &TestDb,
    brokers: &str,
    topic: &str,
    workers: usize,
    events: usize,
    windows: usize,
) {
    let mut pipeline = deterministic(&db.url, brokers, topic, workers).start();
    wait_complete(&db.url, events, windows, &mut pipeline);
    assert!(pipeline.terminate(Duration::from_secs(30)).success());
}

/// Raw rows stored twice for one Kafka position and detection.
pub fn duplicate_events(database_url: &str) -> i64 {
    let mut client =
        postgres::Client::connect(database_url, postgres::NoTls).expect("connect to the database");
    count(
        &mut client,
        "SELECT count(*) - count(DISTINCT (kafka_partition, kafka_offset, detection_index)) FROM traffic_events",
    )
}

/// How every faulted run ends: `topic` read again without interruption (by `workers` workers)
/// into a fresh database, and compared row for row with what the faulted run stored at
/// `run_url`.
pub fn assert_matches_uninterrupted_run(
    run_url: &str,
    (brokers, topic): (&str, &str),
    workers: usize,
    traffic: &ClosingTraffic,
) {
    let reference = TestDb::migrated("b2_reference");
    let (events, windows) = (traffic.events, traffic.windows);
    run_to_completion(&reference, brokers, topic, workers, events, windows);
    assert_same_rows(run_url, &reference);
}

/// A faulted run equals the uninterrupted `reference`: every raw and window row, none twice.
pub fn assert_same_rows(run_url: &str, reference: &TestDb) {
    assert_eq!(
        duplicate_events(run_url),
        0,
        "duplicated traffic_events rows"
    );
    let mut run = postgres::Client::connect(run_url, postgres::NoTls).expect("connect");
    assert_eq!(
        events_snapshot(&mut run),
        events_snapshot(&mut reference.client()),
        "traffic_events differ from the uninterrupted run"
    );
    assert_eq!(
        metrics_snapshot(&mut run),
        metrics_snapshot(&mut reference.client()),
        "traffic_metrics differ from the uninterrupted run"
    );
}

//! The Kafka side under faults: partitions added to a live topic are read without a restart; a
//! stored position the broker no longer holds stops the pipeline with the facts (or, when
//! `KAFKA_OFFSET_RESET_POLICY` says so, is reset with a warning); and a broker outage in mid-stream
//! delays the pipeline but loses and duplicates nothing.
//!
//! The partition and outage tests run a broker of their own (tansu with its dynostore engine on a
//! local S3 server, so topics and messages survive a broker restart), never the shared one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bench::sim::SimMessage;
use e2e_tests::db::{count, TestDb};
use e2e_tests::process::PipelineSpec;
use e2e_tests::runs::{
    assert_matches_uninterrupted_run, deterministic, wait_complete, wait_events, wait_first_commit,
};
use e2e_tests::services::{Broker, BrokerStorage, OwnedBroker};
use e2e_tests::traffic::{
    closing_traffic, produce, recent_start_ms, sim_config, simulate, valid_detections,
};
use e2e_tests::{unique_name, wait_for};
use rdkafka::producer::{BaseRecord, Producer as _};

const GROUP_ID: &str = "b2-stream-processor";

fn stored_events(client: &mut postgres::Client) -> usize {
    count(client, "SELECT count(*) FROM traffic_events") as usize
}

fn stored_positions(db: &TestDb, topic: &str) -> BTreeMap<i32, i64> {
    db.client()
        .query(
            "SELECT kafka_partition, next_offset FROM pipeline_offsets WHERE group_id = $1 AND topic = $2",
            &[&GROUP_ID, &topic],
        )
        .expect("read pipeline_offsets")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// Waits until the stored positions of `topic` are exactly `expected` (partition to next offset).
fn wait_positions(db: &TestDb, topic: &str, what: &str, expected: &BTreeMap<i32, i64>) {
    wait_for(what, Duration::from_secs(30), || {
        (stored_positions(db, topic) == *expected).then_some(())
    });
}

/// Produces each message to the partition `partition_of` picks for its camera; returns how many
/// went to each partition.
fn produce_to_partitions(
    brokers: &str,
    topic: &str,
    messages: &[SimMessage],
    partition_of: impl Fn(&str) -> i32,
) -> BTreeMap<i32, i64> {
    let producer = bench::kafka::producer(brokers, &[]).expect("producer");
    let mut sent = BTreeMap::new();
    for m in messages {
        let partition = partition_of(&m.camera_id);
        let mut record = BaseRecord::to(topic)
            .partition(partition)
            .key(m.key.as_str())
            .payload(m.payload.as_slice())
            .timestamp(m.ts_ms);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(100));
                }
            }
        }
        *sent.entry(partition).or_insert(0) += 1;
    }
    bench::kafka::flush(&producer, Duration::from_secs(60)).expect("flush");
    assert_eq!(
        producer.context().delivered(),
        messages.len() as u64,
        "every message delivered"
    );
    sent
}

#[test]
fn partitions_added_to_a_live_topic_are_read_without_a_restart() {
    let broker = OwnedBroker::start(BrokerStorage::LocalS3);
    let topic = unique_name("grow");
    let messages = simulate(sim_config(4, 20.0, 31), recent_start_ms(10), 30_000);
    let (first, second) = messages.split_at(messages.len() / 2);
    produce(&broker.brokers, &topic, 2, first);
    let (first_events, second_events) = (
        valid_detections(first).len(),
        valid_detections(second).len(),
    );

    let db = TestDb::migrated("b2_grow");
    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic)
        .workers(2)
        .start();
    wait_events(&db.url, first_events, &mut pipeline);

    // Two more partitions, one for each worker; the second half of the traffic goes only there,
    // each camera to one of them.
    let grown = Instant::now();
    broker.add_partitions(&topic, 4);
    let listed = grown.elapsed();
    let added = Instant::now();
    let cameras: Vec<String> = {
        let mut c: Vec<String> = second.iter().map(|m| m.camera_id.clone()).collect();
        c.sort();
        c.dedup();
        c
    };
    let sent = produce_to_partitions(&broker.brokers, &topic, second, |camera| {
        2 + (cameras.iter().position(|c| c == camera).unwrap_or(0) % 2) as i32
    });
    assert_eq!(sent.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
    let produced = added.elapsed();
    wait_events(&db.url, first_events + second_events, &mut pipeline);
    println!(
        "partitions 2 and 3: listed by the broker {:.1} s after the change, produced within {:.1} s, \
         all their rows stored {:.1} s after they were listed",
        listed.as_secs_f64(),
        produced.as_secs_f64(),
        added.elapsed().as_secs_f64()
    );

    let mut client = db.client();
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM traffic_events WHERE kafka_partition IN (2, 3)"
        ) as usize,
        second_events
    );
    let log = pipeline.log();
    assert!(log.contains("kafka_partitions_added"), "log:\n{log}");
    // Their positions are committed like any other partition's.
    wait_for(
        "positions of the new partitions",
        Duration::from_secs(30),
        || {
            let stored = stored_positions(&db, &topic);
            sent.iter()
                .all(|(p, n)| stored.get(p) == Some(n))
                .then_some(())
        },
    );
    assert!(pipeline.terminate(Duration::from_secs(30)).success());
}

#[test]
fn a_stored_position_beyond_the_topic_end_stops_the_pipeline_with_the_facts() {
    let broker = Broker::get();
    let topic = unique_name("beyond");
    let messages = simulate(sim_config(2, 10.0, 41), recent_start_ms(5), 10_000);
    produce(&broker.brokers, &topic, 1, &messages);
    let end = messages.len() as i64;
    let stored = end + 1_000;
    let db = TestDb::migrated("b2_beyond");
    db.client()
        .execute(
            "INSERT INTO pipeline_offsets (group_id, topic, kafka_partition, next_offset) VALUES ($1, $2, 0, $3)",
            &[&GROUP_ID, &topic, &stored],
        )
        .expect("store a position");

    let started = Instant::now();
    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic).start();
    let status = pipeline.wait(Duration::from_secs(60));
    let took = started.elapsed();
    let log = pipeline.log();
    println!(
        "the pipeline exited after {:.1} s with {status}",
        took.as_secs_f64()
    );
    for needle in [
        "pipeline_fatal".to_owned(),
        "kafka_offset_out_of_range".to_owned(),
        format!("topic {topic} partition 0"),
        format!("stored position {stored}"),
        format!("offsets 0..{end}"),
        "KAFKA_OFFSET_RESET_POLICY=earliest".to_owned(),
        "KAFKA_OFFSET_RESET_POLICY=latest".to_owned(),
    ] {
        assert!(
            log.contains(&needle),
            "{needle:?} missing from the log:\n{log}"
        );
    }
    assert!(!status.success(), "exit status {status}; log:\n{log}");
    // Nothing was read, and the stored position is untouched.
    assert_eq!(stored_events(&mut db.client()), 0);
    assert_eq!(stored_positions(&db, &topic), BTreeMap::from([(0, stored)]));
}

#[test]
fn with_policy_earliest_a_topic_recreated_shorter_is_read_again_from_its_start() {
    let broker = Broker::get();
    let topic = unique_name("recreated");
    let long = simulate(sim_config(2, 20.0, 43), recent_start_ms(12), 20_000);
    produce(&broker.brokers, &topic, 1, &long);
    let db = TestDb::migrated("b2_recreated");
    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic).start();
    let long_events = valid_detections(&long).len();
    wait_events(&db.url, long_events, &mut pipeline);
    wait_positions(
        &db,
        &topic,
        "the position of the whole topic",
        &BTreeMap::from([(0, long.len() as i64)]),
    );
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    // The topic comes back with fewer messages than the stored position.
    bench::kafka::delete_topic(&broker.brokers, &topic).expect("topic deleted");
    let short = simulate(sim_config(2, 20.0, 44), recent_start_ms(6), 4_000);
    assert!(short.len() < long.len());
    produce(&broker.brokers, &topic, 1, &short);

    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic)
        .env("KAFKA_OFFSET_RESET_POLICY", "earliest")
        .start();
    wait_events(
        &db.url,
        long_events + valid_detections(&short).len(),
        &mut pipeline,
    );
    let log = pipeline.log();
    for needle in [
        "kafka_offset_reset".to_owned(),
        format!("topic={topic} partition=0 stored_offset={}", long.len()),
        "policy=earliest".to_owned(),
    ] {
        assert!(
            log.contains(&needle),
            "{needle:?} missing from the log:\n{log}"
        );
    }
    wait_positions(
        &db,
        &topic,
        "the position in the new topic",
        &BTreeMap::from([(0, short.len() as i64)]),
    );
    assert!(pipeline.terminate(Duration::from_secs(30)).success());
}

#[test]
fn a_broker_outage_mid_stream_delays_the_pipeline_but_loses_and_duplicates_nothing() {
    let mut broker = OwnedBroker::start(BrokerStorage::LocalS3);
    let topic = unique_name("brokerdown");
    let traffic = closing_traffic(sim_config(4, 30.0, 2024), recent_start_ms(10), 60_000);
    let chunks = traffic.parts(3);
    assert_eq!(chunks.len(), 3);
    produce(&broker.brokers, &topic, 3, chunks[0]);

    let db = TestDb::migrated("b2_brokerdown");
    let mut pipeline = deterministic(&db.url, &broker.brokers, &topic, 2).start();
    let mut client = db.client();
    wait_first_commit(&mut client);
    produce(&broker.brokers, &topic, 3, chunks[1]);

    // kill -9 in mid-stream, a few seconds down, then the same port and storage again.
    let before = stored_events(&mut client);
    assert!(
        before > 0 && before < traffic.events,
        "not mid-stream: {before} rows"
    );
    broker.kill9();
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(5));
    assert!(
        pipeline.is_running(),
        "the pipeline must ride out the outage"
    );
    let during = stored_events(&mut client);
    broker.restart();
    let down_for = down.elapsed();
    let up = Instant::now();
    produce(&broker.brokers, &topic, 3, chunks[2]);
    let resumed = wait_for("rows after the restart", Duration::from_secs(120), || {
        assert!(
            pipeline.is_running(),
            "pipeline exited:\n{}",
            pipeline.log()
        );
        (stored_events(&mut client) > during).then(|| up.elapsed())
    });
    wait_complete(&db.url, traffic.events, traffic.windows, &mut pipeline);
    let complete = up.elapsed();
    println!(
        "broker down {:.1} s; rows committed before the kill {before}, by the restart {during}; \
         first new rows {:.1} s after the restart, all {} rows {:.1} s after it",
        down_for.as_secs_f64(),
        resumed.as_secs_f64(),
        traffic.events,
        complete.as_secs_f64()
    );
    assert!(pipeline.terminate(Duration::from_secs(30)).success());

    // The reference run reads the same topic from the same broker without interruption.
    assert_matches_uninterrupted_run(&db.url, (&broker.brokers, &topic), 2, &traffic);
}

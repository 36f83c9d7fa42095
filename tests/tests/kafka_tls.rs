//! Kafka over TLS: a broker the pipeline can reach only through a TLS-terminating proxy (the
//! broker advertises the proxy's address, so every connection a client makes is TLS). The
//! topic is loaded over TLS, and the pipeline, given the CA in a `KAFKA_PROPERTIES_FILE`, stores
//! every detection; with another CA it cannot even read the topic's metadata.

use std::time::Duration;

use e2e_tests::certs::TestCertificates;
use e2e_tests::db::{count, TestDb};
use e2e_tests::process::PipelineSpec;
use e2e_tests::runs::wait_events;
use e2e_tests::services::{BrokerStorage, OwnedBroker};
use e2e_tests::tls_proxy::TlsProxy;
use e2e_tests::traffic::{recent_start_ms, sim_config, simulate, valid_detections};
use e2e_tests::unique_name;

#[test]
fn the_pipeline_reads_a_broker_it_reaches_only_over_tls() {
    let dir = std::env::temp_dir().join(unique_name("b2_kafka_tls"));
    std::fs::create_dir_all(&dir).expect("certificate folder");
    let certs = TestCertificates::create(&dir);
    let proxy_port = testbed::net::free_port().expect("a free port");
    let tls_brokers = format!("localhost:{proxy_port}");
    let broker = OwnedBroker::start_advertising(BrokerStorage::Memory, Some(&tls_brokers));
    let _proxy = TlsProxy::start(
        proxy_port,
        &certs.server_cert,
        &certs.server_key,
        broker.brokers.clone(),
    );
    let tls = |ca: &std::path::Path| {
        vec![
            ("security.protocol".to_owned(), "ssl".to_owned()),
            (
                "ssl.ca.location".to_owned(),
                ca.to_string_lossy().into_owned(),
            ),
            ("broker.address.family".to_owned(), "v4".to_owned()),
        ]
    };

    let topic = unique_name("tls");
    let messages = simulate(sim_config(2, 20.0, 61), recent_start_ms(5), 10_000);
    bench::kafka::ensure_topic_with(&tls_brokers, &topic, 2, &tls(&certs.ca))
        .expect("topic over TLS");
    let producer = bench::kafka::producer(&tls_brokers, &tls(&certs.ca)).expect("producer");
    let report = bench::kafka::send_all(&producer, &topic, &messages, Duration::from_secs(60))
        .expect("produce over TLS");
    assert_eq!(report.rejected, 0);

    // The pipeline, with `ca` in its properties file.
    let pipeline = |db: &TestDb, ca: &std::path::Path, name: &str| {
        let path = dir.join(name);
        let lines: Vec<String> = tls(ca).iter().map(|(k, v)| format!("{k}={v}")).collect();
        std::fs::write(&path, format!("# Kafka over TLS\n{}\n", lines.join("\n")))
            .expect("properties file");
        PipelineSpec::new(&db.url, &tls_brokers, &topic)
            .env("KAFKA_PROPERTIES_FILE", path.to_str().unwrap_or_default())
            .start()
    };

    // With another CA the handshake fails: nothing is read.
    let refused = TestDb::migrated("b2_kafka_tls_refused");
    let mut blind = pipeline(&refused, &certs.wrong_ca, "wrong.properties");
    blind.wait_for_log("kafka_metadata_failed", Duration::from_secs(30));
    assert_eq!(
        count(&mut refused.client(), "SELECT count(*) FROM traffic_events"),
        0
    );
    blind.kill9();

    let db = TestDb::migrated("b2_kafka_tls");
    let mut pipeline = pipeline(&db, &certs.ca, "kafka.properties");
    wait_events(&db.url, valid_detections(&messages).len(), &mut pipeline);
    assert!(pipeline.terminate(Duration::from_secs(30)).success());
    let _ = std::fs::remove_dir_all(&dir);
}

//! Kafka plumbing for the mock producer, the bench runs and the tests: a
//! producer tuned for bulk throughput, topic administration (create, grow,
//! delete), and sending that rides out a full local queue instead of
//! dropping messages.
//!
//! A `BaseProducer` is used rather than a `FutureProducer`: we never need
//! a per-message future, only totals, and polling from the sending thread
//! keeps the producer free of any async runtime.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use log::warn;
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer as _, ProducerContext};
use rdkafka::ClientContext;

use crate::sim::SimMessage;

/// Producer defaults, each overridable by a `--kafka-prop`: batch hard
/// and skip compression (the benchmark measures the pipeline, not the
/// producer's CPU), but wait for full acknowledgement so a "sent" count
/// means the broker really has the messages.
pub const PRODUCER_DEFAULTS: [(&str, &str); 4] = [
    ("linger.ms", "5"),
    ("batch.num.messages", "10000"),
    ("compression.type", "none"),
    ("acks", "all"),
];

/// How long one wait for queue space lasts before retrying a send.
const QUEUE_FULL_POLL: Duration = Duration::from_millis(100);
/// Delivery failures logged individually before going quiet.
const LOGGED_FAILURES: u64 = 10;

/// Counts delivery reports, which librdkafka hands back on `poll`.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl DeliveryStats {
    /// Messages the broker acknowledged.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Messages that could not be delivered (after librdkafka's retries).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl ClientContext for DeliveryStats {}

impl ProducerContext for DeliveryStats {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, _)) => {
                let n = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
                if n <= LOGGED_FAILURES {
                    warn!("delivery failed: {err}");
                }
                if n == LOGGED_FAILURES {
                    warn!("further delivery failures are only counted");
                }
            }
        }
    }
}

/// The producer type used by the mock producer.
pub type Producer = BaseProducer<DeliveryStats>;

/// The configuration [`producer`] uses: defaults first, then `extra`
/// (so `extra` wins), then the brokers.
pub fn producer_config(brokers: &str, extra: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in PRODUCER_DEFAULTS {
        config.set(key, value);
    }
    config.set("bootstrap.servers", brokers);
    for (key, value) in extra {
        config.set(key, value);
    }
    config
}

/// Creates a producer for `brokers`. Creation does not contact the
/// brokers; connection problems surface as delivery failures.
pub fn producer(brokers: &str, extra: &[(String, String)]) -> anyhow::Result<Producer> {
    producer_config(brokers, extra)
        .create_with_context(DeliveryStats::default())
        .with_context(|| format!("creating Kafka producer for {brokers}"))
}

/// Creates `topic` with `partitions` partitions (replication factor 1, as
/// for a development broker) unless it already exists.
pub fn ensure_topic(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    ensure_topic_with(brokers, topic, partitions, &[])
}

/// [`ensure_topic`] with extra client properties (security settings, etc.).
pub fn ensure_topic_with(
    brokers: &str,
    topic: &str,
    partitions: i32,
    extra: &[(String, String)],
) -> anyhow::Result<()> {
    let admin = admin_client(brokers, extra)?;
    let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(15)));
    let results = block_on(admin.create_topics([&new_topic], &options))
        .with_context(|| format!("creating topic {topic}"))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(anyhow!("creating topic {name}: {code}")),
        }
    }
    Ok(())
}

/// Grows `topic` to `partitions` partitions in all (CreatePartitions).
pub fn create_partitions(brokers: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin = admin_client(brokers, &[])?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(5)));
    let grow = NewPartitions::new(topic, usize::try_from(partitions)?);
    for result in block_on(admin.create_partitions([&grow], &options))
        .with_context(|| format!("growing topic {topic}"))?
    {
        if let Err((name, code)) = result {
            return Err(anyhow!("growing topic {name}: {code}"));
        }
    }
    Ok(())
}

/// Deletes `topic` and its messages.
pub fn delete_topic(brokers: &str, topic: &str) -> anyhow::Result<()> {
    let admin = admin_client(brokers, &[])?;
    let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(15)));
    for result in block_on(admin.delete_topics(&[topic], &options))
        .with_context(|| format!("deleting topic {topic}"))?
    {
        if let Err((name, code)) = result {
            return Err(anyhow!("deleting topic {name}: {code}"));
        }
    }
    Ok(())
}

fn admin_client(
    brokers: &str,
    extra: &[(String, String)],
) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (key, value) in extra {
        config.set(key, value);
    }
    config
        .create()
        .with_context(|| format!("creating Kafka admin client for {brokers}"))
}

/// Enqueues one record. While librdkafka's local queue is full it polls for
/// up to `wait` (which frees space as deliveries complete) and retries; any
/// other refusal is returned.
pub fn send_waiting<K, P>(
    producer: &Producer,
    mut record: BaseRecord<'_, K, P>,
    wait: Duration,
) -> Result<(), KafkaError>
where
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(wait);
            }
            Err((err, _)) => return Err(err),
        }
    }
}

/// What [`send_batch`] did with a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Handed to librdkafka for delivery.
    pub enqueued: u64,
    /// Refused outright (e.g. larger than `message.max.bytes`).
    pub rejected: u64,
}

impl SendReport {
    pub fn add(&mut self, other: SendReport) {
        self.enqueued += other.enqueued;
        self.rejected += other.rejected;
    }
}

/// Enqueues every message, keyed by camera and stamped with its frame time.
/// When librdkafka's local queue is full it polls (which frees space as
/// deliveries complete) and retries, so nothing is dropped under load.
/// Does not flush; see [`send_all`].
pub fn send_batch(producer: &Producer, topic: &str, messages: &[SimMessage]) -> SendReport {
    let mut report = SendReport::default();
    for message in messages {
        let record = BaseRecord::to(topic)
            .key(message.key.as_str())
            .payload(message.payload.as_slice())
            .timestamp(message.ts_ms);
        match send_waiting(producer, record, QUEUE_FULL_POLL) {
            Ok(()) => report.enqueued += 1,
            Err(err) => {
                report.rejected += 1;
                if report.rejected <= LOGGED_FAILURES {
                    warn!("message for {} rejected: {err}", message.key);
                }
            }
        }
    }
    producer.poll(Duration::ZERO);
    report
}

/// [`send_batch`] followed by [`flush`].
pub fn send_all(
    producer: &Producer,
    topic: &str,
    messages: &[SimMessage],
    flush_timeout: Duration,
) -> anyhow::Result<SendReport> {
    let report = send_batch(producer, topic, messages);
    flush(producer, flush_timeout)?;
    Ok(report)
}

/// Waits until every enqueued message is delivered or has failed.
pub fn flush(producer: &Producer, timeout: Duration) -> anyhow::Result<()> {
    producer.flush(timeout).with_context(|| {
        format!(
            "flushing Kafka producer ({} in flight)",
            producer.in_flight_count()
        )
    })
}

/// Parses a `key=value` librdkafka property.
pub fn parse_kafka_prop(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected key=value, got `{arg}`")),
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs one future to completion on this thread. The admin API is
/// future-based, and this one call does not justify an async runtime.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{SimConfig, Simulator};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::DefaultProducerContext;

    #[test]
    fn props_parse_and_override_defaults() {
        assert_eq!(
            parse_kafka_prop("linger.ms=50"),
            Ok(("linger.ms".to_owned(), "50".to_owned()))
        );
        assert_eq!(
            parse_kafka_prop("sasl.password=a=b"),
            Ok(("sasl.password".to_owned(), "a=b".to_owned()))
        );
        assert!(parse_kafka_prop("nokey").is_err());
        assert!(parse_kafka_prop("=x").is_err());

        let config = producer_config("b:9092", &[("linger.ms".to_owned(), "50".to_owned())]);
        assert_eq!(config.get("linger.ms"), Some("50"));
        assert_eq!(config.get("acks"), Some("all"));
        assert_eq!(config.get("bootstrap.servers"), Some("b:9092"));
    }

    #[test]
    fn producer_is_created_without_a_broker() {
        // librdkafka connects lazily, so this needs no running Kafka.
        let p = producer("127.0.0.1:1", &[]).expect("producer");
        assert_eq!(p.context().delivered(), 0);
    }

    /// librdkafka's in-process mock cluster stands in for a broker here.
    fn mock_cluster() -> MockCluster<'static, DefaultProducerContext> {
        MockCluster::new(1).expect("mock cluster")
    }

    #[test]
    fn a_full_queue_delays_but_loses_nothing() {
        let cluster = mock_cluster();
        let brokers = cluster.bootstrap_servers();
        // The mock cluster has no CreateTopics support, so `ensure_topic`
        // cannot be exercised here.
        cluster.create_topic("t", 2, 1).expect("create");
        let small_queue = [("queue.buffering.max.messages".to_owned(), "200".to_owned())];
        let p = producer(&brokers, &small_queue).expect("producer");
        let config = SimConfig {
            rate: 500.0,
            bad_ratio: 0.1,
            ..SimConfig::default()
        };
        let messages = Simulator::new(config, 1_795_766_400_000).advance(5_000);
        assert!(messages.len() > 1_000);
        let report = send_all(&p, "t", &messages, Duration::from_secs(30)).expect("flush");
        assert_eq!(report.enqueued, messages.len() as u64);
        assert_eq!(report.rejected, 0);
        assert_eq!(p.context().delivered(), messages.len() as u64);
        assert_eq!(p.context().failed(), 0);
    }

    #[test]
    fn block_on_runs_a_ready_future() {
        assert_eq!(block_on(async { 7 }), 7);
    }
}

//! The Kafka source: every worker of every process reads the partitions `p` with
//! `p % peers == index`, by manual assignment (no group rebalances: the positions live in
//! PostgreSQL, committed with the rows they produced).
//!
//! What one worker read during one checkpoint interval is stamped with one epoch. When the epoch
//! ends, the source emits an [`OffsetMark`] per partition it owns: the position after the last
//! message it handed over. The sink stores those marks in the same transaction as that epoch's rows.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientContext;
use serde::{Deserialize, Serialize};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::generic::OutputBuilder;
use timely::dataflow::{Scope, StreamVec};

use operators::dataflow::{Epoch, KafkaRecord, Tick};

use crate::shutdown::Shutdown;
use crate::telemetry::metrics::PartitionLabel;
use crate::telemetry::PipelineMetrics;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot create the Kafka consumer: {0}")]
    Client(#[source] KafkaError),
    #[error("topic {topic:?} not found on {brokers} (create it, or start the producer first)")]
    TopicMissing { topic: String, brokers: String },
    #[error("cannot assign partitions: {0}")]
    Assign(#[source] KafkaError),
    #[error("stopped before the topic was available")]
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    pub brokers: String,
    pub topic: String,
    pub group_id: String,
    pub properties: Vec<(String, String)>,
    pub epoch: Duration,
    pub max_poll_records: usize,
    pub max_pending_epochs: u64,
    /// How long to wait for the topic to appear before giving up.
    pub topic_wait: Duration,
}

/// The position after the last message of `partition` handed over so far (-1: nothing yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetMark {
    pub partition: i32,
    pub next_offset: i64,
    /// The source ended the epoch with messages still waiting (catching up or held back).
    pub behind: bool,
}

impl Tick for OffsetMark {
    fn source_behind(&self) -> bool {
        self.behind
    }
}

/// Feeds librdkafka's statistics into the lag gauge.
struct SourceContext {
    metrics: Arc<PipelineMetrics>,
    topic: String,
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        for (partition, stats) in &topic.partitions {
            // librdkafka reports -1 for unknown and for its internal UA partition.
            if *partition < 0 || stats.hi_offset < 0 || stats.app_offset < 0 {
                continue;
            }
            let lag = (stats.hi_offset - stats.app_offset).max(0);
            self.metrics
                .consumer_lag
                .get_or_create(&PartitionLabel {
                    topic: self.topic.clone(),
                    partition: partition.to_string(),
                })
                .set(lag);
        }
    }
}

impl ConsumerContext for SourceContext {}

/// The epoch that wall-clock time `now` falls in.
pub fn epoch_at(now: SystemTime, epoch: Duration) -> Epoch {
    let ms = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    ms / (epoch.as_millis().max(1) as u64)
}

/// Partitions of `topic` owned by worker `index` of `peers`.
pub fn owned_partitions(partitions: &[i32], index: usize, peers: usize) -> Vec<i32> {
    partitions
        .iter()
        .copied()
        .filter(|p| (*p as usize) % peers.max(1) == index)
        .collect()
}

fn consumer(
    config: &KafkaSourceConfig,
    metrics: Arc<PipelineMetrics>,
) -> Result<BaseConsumer<SourceContext>, SourceError> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", "5000")
        .set("queued.min.messages", "200000")
        .set("fetch.wait.max.ms", "10");
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    client
        .create_with_context(SourceContext {
            metrics,
            topic: config.topic.clone(),
        })
        .map_err(SourceError::Client)
}

fn topic_partitions(
    consumer: &BaseConsumer<SourceContext>,
    config: &KafkaSourceConfig,
    shutdown: &Shutdown,
) -> Result<Vec<i32>, SourceError> {
    let started = Instant::now();
    let mut last_log = Instant::now() - Duration::from_secs(60);
    loop {
        if shutdown.is_triggered() {
            return Err(SourceError::Interrupted);
        }
        match consumer.fetch_metadata(Some(&config.topic), Duration::from_secs(5)) {
            Ok(metadata) => {
                let partitions: Vec<i32> = metadata
                    .topics()
                    .iter()
                    .filter(|t| t.name() == config.topic && t.error().is_none())
                    .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                    .collect();
                if !partitions.is_empty() {
                    return Ok(partitions);
                }
            }
            Err(e) if last_log.elapsed() > Duration::from_secs(5) => {
                log::warn!("kafka_metadata_failed brokers={} error={e}", config.brokers);
                last_log = Instant::now();
            }
            Err(_) => {}
        }
        if started.elapsed() > config.topic_wait {
            return Err(SourceError::TopicMissing {
                topic: config.topic.clone(),
                brokers: config.brokers.clone(),
            });
        }
        if last_log.elapsed() > Duration::from_secs(5) {
            log::info!(
                "waiting_for_topic topic={} brokers={}",
                config.topic,
                config.brokers
            );
            last_log = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// This worker's records and its per-epoch offset marks.
pub type SourceStreams<'scope> = (
    StreamVec<'scope, Epoch, KafkaRecord>,
    StreamVec<'scope, Epoch, OffsetMark>,
);

/// Builds this worker's source; returns the records and the per-epoch offset marks.
pub fn kafka_source<'scope>(
    scope: Scope<'scope, Epoch>,
    config: &KafkaSourceConfig,
    resume: &HashMap<i32, i64>,
    metrics: Arc<PipelineMetrics>,
    shutdown: Shutdown,
    committed_epoch: Arc<AtomicU64>,
) -> Result<SourceStreams<'scope>, SourceError> {
    let consumer = consumer(config, metrics.clone())?;
    let all = topic_partitions(&consumer, config, &shutdown)?;
    let owned = owned_partitions(&all, scope.index(), scope.peers());
    let mut assignment = TopicPartitionList::new();
    let mut positions: HashMap<i32, i64> = HashMap::new();
    for &p in &owned {
        let offset = match resume.get(&p) {
            Some(&next) => {
                positions.insert(p, next);
                Offset::Offset(next)
            }
            None => Offset::Beginning,
        };
        assignment
            .add_partition_offset(&config.topic, p, offset)
            .map_err(SourceError::Assign)?;
    }
    consumer.assign(&assignment).map_err(SourceError::Assign)?;
    log::info!(
        "kafka_source_assigned worker={} peers={} topic={} partitions={:?} resume={:?}",
        scope.index(),
        scope.peers(),
        config.topic,
        owned,
        positions
    );

    let epoch_len = config.epoch;
    let max_poll = config.max_poll_records;
    let max_pending = config.max_pending_epochs;
    let mut builder = OperatorBuilder::new("KafkaSource".to_owned(), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(info.address);
    let first_activation = activator.clone();
    let (records_out, records) = builder.new_output();
    let (marks_out, marks) = builder.new_output();
    let mut records_out = OutputBuilder::<
        _,
        timely::container::CapacityContainerBuilder<Vec<KafkaRecord>>,
    >::from(records_out);
    let mut marks_out = OutputBuilder::<
        _,
        timely::container::CapacityContainerBuilder<Vec<OffsetMark>>,
    >::from(marks_out);

    builder.build(move |mut capabilities| {
        let mut marks_cap = capabilities.pop();
        let mut records_cap = capabilities.pop();
        let start = epoch_at(SystemTime::now(), epoch_len);
        for cap in records_cap.iter_mut().chain(marks_cap.iter_mut()) {
            cap.downgrade(&start);
        }
        let mut current = start;
        // Whether the latest activation left messages unread (hit the batch limit or was throttled).
        let mut behind = false;
        let mut last_error_log = Instant::now() - Duration::from_secs(60);
        move |_frontiers| {
            if records_cap.is_none() {
                return;
            }
            let now_epoch = epoch_at(SystemTime::now(), epoch_len).max(current);
            let stopping = shutdown.is_triggered();
            if now_epoch > current || stopping {
                if let Some(cap) = marks_cap.as_ref() {
                    let mut marks = marks_out.activate();
                    let mut session = marks.session(cap);
                    // One mark per partition every epoch, even unchanged or unknown (-1): the
                    // marks double as the tick that lets quiet cameras close their windows.
                    for &partition in &owned {
                        let next_offset = positions.get(&partition).copied().unwrap_or(-1);
                        session.give(OffsetMark {
                            partition,
                            next_offset,
                            behind,
                        });
                    }
                }
                if stopping {
                    log::info!("kafka_source_stopped worker_positions={positions:?}");
                    // Releasing the capabilities lets the dataflow drain and complete.
                    records_cap = None;
                    marks_cap = None;
                    return;
                }
                current = now_epoch;
                for cap in records_cap.iter_mut().chain(marks_cap.iter_mut()) {
                    cap.downgrade(&current);
                }
            }
            let throttled = committed_epoch.load(Ordering::Relaxed).saturating_add(max_pending) < current;
            let mut read = 0usize;
            if let (false, Some(cap)) = (throttled, records_cap.as_ref()) {
                let mut out = records_out.activate();
                let mut session = out.session(cap);
                while read < max_poll {
                    match consumer.poll(Duration::ZERO) {
                        None => break,
                        Some(Ok(message)) => {
                            read += 1;
                            let partition = message.partition();
                            if let Some(&expected) = positions.get(&partition) {
                                if message.offset() != expected {
                                    log::warn!(
                                        "kafka_offset_jump partition={partition} expected={expected} got={}",
                                        message.offset()
                                    );
                                }
                            }
                            positions.insert(partition, message.offset() + 1);
                            session.give(KafkaRecord {
                                partition,
                                offset: message.offset(),
                                payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                            });
                        }
                        Some(Err(e)) => {
                            if last_error_log.elapsed() > Duration::from_secs(5) {
                                log::warn!("kafka_poll_error error={e}");
                                last_error_log = Instant::now();
                            }
                            break;
                        }
                    }
                }
            }
            behind = throttled || read >= max_poll;
            if read >= max_poll {
                activator.activate();
            } else {
                activator.activate_after(Duration::from_millis(2));
            }
        }
    });
    // Not every timely version schedules a fresh operator by itself.
    first_activation.activate();
    Ok((records, marks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    #[test]
    fn partitions_are_spread_over_all_workers() {
        let all: Vec<i32> = (0..8).collect();
        let mut seen: Vec<i32> = (0..3).flat_map(|w| owned_partitions(&all, w, 3)).collect();
        seen.sort_unstable();
        assert_eq!(seen, all);
        assert_eq!(owned_partitions(&all, 1, 3), vec![1, 4, 7]);
    }

    /// The broker used in development misreports high watermarks, so the lag logic is checked
    /// against librdkafka's mock cluster, which reports them correctly.
    #[test]
    fn lag_gauge_is_high_watermark_minus_position() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster.create_topic("lag", 1, 1).expect("topic");
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .expect("producer");
        for _ in 0..100 {
            producer
                .send(BaseRecord::<(), str>::to("lag").payload("x"))
                .expect("enqueue");
        }
        producer.flush(Duration::from_secs(10)).expect("flush");

        let metrics = Arc::new(PipelineMetrics::new());
        let config = KafkaSourceConfig {
            brokers: cluster.bootstrap_servers(),
            topic: "lag".into(),
            group_id: "lag-test".into(),
            properties: vec![("statistics.interval.ms".into(), "100".into())],
            epoch: Duration::from_millis(100),
            max_poll_records: 100,
            max_pending_epochs: 10,
            topic_wait: Duration::from_secs(10),
        };
        let consumer = consumer(&config, metrics.clone()).expect("consumer");
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset("lag", 0, Offset::Beginning)
            .expect("partition");
        consumer.assign(&assignment).expect("assign");
        let mut read = 0;
        let started = Instant::now();
        while read < 40 && started.elapsed() < Duration::from_secs(20) {
            if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                read += 1;
            }
        }
        assert_eq!(read, 40);
        consumer.pause(&assignment).expect("pause");
        let label = PartitionLabel {
            topic: "lag".into(),
            partition: "0".into(),
        };
        let started = Instant::now();
        while metrics.consumer_lag.get_or_create(&label).get() != 60 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "lag gauge stuck at {}",
                metrics.consumer_lag.get_or_create(&label).get()
            );
            assert!(
                consumer.poll(Duration::from_millis(100)).is_none(),
                "partition is paused"
            );
        }
    }
}

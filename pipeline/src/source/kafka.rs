//! The Kafka source: every worker of every process reads the partitions `p` with
//! `p % peers == index`, by manual assignment (no group rebalances: the positions live in
//! PostgreSQL, committed with the rows they produced).
//!
//! What one worker read during one checkpoint interval is stamped with one epoch. When the epoch
//! ends, the source emits an [`OffsetMark`] per partition it owns: the position after the last
//! message it handed over. The sink stores those marks in the same transaction as that epoch's rows.
//!
//! Two things change under a running source, and a helper thread per worker watches for them so
//! the operator never waits on the network:
//! - Partitions added to the topic: the helper re-reads the topic's metadata every
//!   [`METADATA_REFRESH`] and hands the partition list over; the operator adds the ones it owns to
//!   its assignment (`kafka_partitions_added`), from their stored position if any.
//! - A stored position the broker no longer holds (topic recreated or truncated): a resumed
//!   position counts as unverified until a message from it arrives or a fetch response shows the
//!   broker's range (librdkafka's statistics, `lo_offset`..`hi_offset`). A position outside that
//!   range, or one a broker refuses outright (`OFFSET_OUT_OF_RANGE`, librdkafka then reports
//!   `AutoOffsetReset` and the helper asks for the range with ListOffsets), is handled by
//!   [`OffsetResetPolicy`]: stop the pipeline with the facts (default), or re-read from the
//!   earliest / latest offset with a `kafka_offset_reset` warning. librdkafka's own
//!   `auto.offset.reset` is always `error`, so nothing is ever skipped silently.
//!
//! Marks of a partition carry -1 (nothing to store) until its position is known to be good, so a
//! commit never writes back a position the broker does not hold.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
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

/// How often the helper thread re-reads the topic's partition list.
pub const METADATA_REFRESH: Duration = Duration::from_secs(3);
/// The longest one metadata or ListOffsets request of the helper thread may take.
const HELPER_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot create the Kafka consumer: {0}")]
    Client(#[source] KafkaError),
    #[error("topic {topic:?} not found on {brokers} (create it, or start the producer first)")]
    TopicMissing { topic: String, brokers: String },
    #[error("cannot assign partitions: {0}")]
    Assign(#[source] KafkaError),
    #[error("cannot start the Kafka metadata thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("stopped before the topic was available")]
    Interrupted,
}

/// What the source does when the broker no longer holds a stored position
/// (`KAFKA_OFFSET_RESET_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetResetPolicy {
    /// Stop the pipeline with an error that names the partition and the way out.
    #[default]
    Error,
    /// Read the partition again from the first offset the broker holds.
    Earliest,
    /// Skip to the partition's end.
    Latest,
}

impl OffsetResetPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Earliest => "earliest",
            Self::Latest => "latest",
        }
    }
}

impl std::fmt::Display for OffsetResetPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OffsetResetPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(Self::Error),
            "earliest" => Ok(Self::Earliest),
            "latest" => Ok(Self::Latest),
            _ => Err("expected error, earliest or latest".into()),
        }
    }
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
    /// What to do when the broker no longer holds a stored position.
    pub offset_reset: OffsetResetPolicy,
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

/// Per partition, the range of positions the broker reported in its latest fetch response:
/// (log start offset, high watermark); -1 when unknown.
type FetchedRanges = Arc<Mutex<HashMap<i32, (i64, i64)>>>;

/// Feeds librdkafka's statistics into the lag gauge, and keeps the range of offsets each fetch
/// response reported (the source checks resumed positions against it).
struct SourceContext {
    metrics: Arc<PipelineMetrics>,
    topic: String,
    ranges: FetchedRanges,
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        for (partition, stats) in &topic.partitions {
            // librdkafka reports -1 for unknown and for its internal UA partition, and -1001
            // (invalid) for offsets no fetch response has given yet.
            if *partition < 0 {
                continue;
            }
            if stats.hi_offset >= 0 {
                if let Ok(mut ranges) = self.ranges.lock() {
                    ranges.insert(*partition, (stats.lo_offset.max(-1), stats.hi_offset));
                }
            }
            if stats.hi_offset < 0 || stats.app_offset < 0 {
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

type SourceConsumer = BaseConsumer<SourceContext>;

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

/// Whether the broker holds `position` as a place to read from: between the log start (-1:
/// unknown, not checked) and the high watermark, both included.
pub fn position_in_range(position: i64, low: i64, high: i64) -> bool {
    (low < 0 || position >= low) && position <= high
}

/// A stored position the broker does not hold, with what the broker said it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayPosition<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub stored: i64,
    /// The log start (-1: unknown) and the high watermark.
    pub range: (i64, i64),
}

impl StrayPosition<'_> {
    /// The facts, for the log and the failure.
    pub fn facts(&self) -> String {
        let StrayPosition {
            topic,
            partition,
            stored,
            ..
        } = self;
        let (range, _) = self.held();
        format!("topic={topic} partition={partition} stored_offset={stored} {range}")
    }

    /// The reason the pipeline stops with under [`OffsetResetPolicy::Error`].
    pub fn reason(&self) -> String {
        let (_, held) = self.held();
        format!(
            "kafka_offset_out_of_range {}: the stored position {} of topic {} partition {} is \
             not held by the broker ({held}): the topic was recreated or truncated, or the brokers \
             are another cluster's. \
             Choose how to go on with KAFKA_OFFSET_RESET_POLICY=earliest (read the partition again \
             from its first offset) or KAFKA_OFFSET_RESET_POLICY=latest (skip to its end)",
            self.facts(),
            self.stored,
            self.topic,
            self.partition,
        )
    }

    /// What the broker holds, as a log field and in words.
    fn held(&self) -> (String, String) {
        match self.range {
            (low, high) if low >= 0 => (
                format!("broker_range={low}..{high}"),
                format!("it holds offsets {low}..{high}"),
            ),
            (_, high) => (
                format!("broker_range=?..{high}"),
                format!("its high watermark is {high}"),
            ),
        }
    }
}

fn consumer(
    config: &KafkaSourceConfig,
    metrics: Arc<PipelineMetrics>,
    ranges: FetchedRanges,
) -> Result<SourceConsumer, SourceError> {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.brokers)
        .set("group.id", &config.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", "5000")
        .set("queued.min.messages", "200000")
        .set("fetch.wait.max.ms", "10");
    for (key, value) in &config.properties {
        client.set(key, value);
    }
    // The source decides what happens to a position the broker does not hold
    // (KAFKA_OFFSET_RESET_POLICY): librdkafka only reports it.
    client.set("auto.offset.reset", "error");
    client
        .create_with_context(SourceContext {
            metrics,
            topic: config.topic.clone(),
            ranges,
        })
        .map_err(SourceError::Client)
}

/// The topic's partitions, sorted (empty if the metadata does not list the topic yet).
fn partitions_of(
    consumer: &SourceConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    let mut partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    partitions.sort_unstable();
    Ok(partitions)
}

fn topic_partitions(
    consumer: &SourceConsumer,
    config: &KafkaSourceConfig,
    shutdown: &Shutdown,
) -> Result<Vec<i32>, SourceError> {
    let started = Instant::now();
    let mut last_log = Instant::now() - Duration::from_secs(60);
    loop {
        if shutdown.is_triggered() {
            return Err(SourceError::Interrupted);
        }
        match partitions_of(consumer, &config.topic, Duration::from_secs(5)) {
            Ok(partitions) if !partitions.is_empty() => return Ok(partitions),
            Ok(_) => {}
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

/// A partition's range as ListOffsets reported it, asked for with the position it was checked for.
#[derive(Debug)]
struct ProbedRange {
    partition: i32,
    position: i64,
    range: Result<(i64, i64), String>,
}

/// What the helper thread hands the operator.
#[derive(Debug)]
enum HelperUpdate {
    /// The topic's partition list, from a fresh metadata request.
    Partitions(Vec<i32>),
    /// Answers to a [`HelperRequest::Ranges`].
    Ranges(Vec<ProbedRange>),
}

/// What the operator asks of the helper thread.
#[derive(Debug)]
enum HelperRequest {
    /// ListOffsets for these (partition, position) pairs.
    Ranges(Vec<(i32, i64)>),
}

/// The helper thread of one worker's source: metadata refreshes and ListOffsets requests, so
/// the operator never waits on the network. Stopped and joined on drop.
struct Helper {
    requests: Option<Sender<HelperRequest>>,
    updates: Receiver<HelperUpdate>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Helper {
    fn spawn(
        consumer: Arc<SourceConsumer>,
        topic: String,
        worker: usize,
        shutdown: Shutdown,
    ) -> std::io::Result<Helper> {
        let (requests, requests_rx) = mpsc::channel::<HelperRequest>();
        let (updates_tx, updates) = mpsc::channel::<HelperUpdate>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::Builder::new()
            .name(format!("kafka-meta-{worker}"))
            .spawn(move || {
                let done = || stopped.load(Ordering::SeqCst) || shutdown.is_triggered();
                let mut next_refresh = Instant::now() + METADATA_REFRESH;
                while !done() {
                    let wait = next_refresh
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(250));
                    let update = match requests_rx.recv_timeout(wait) {
                        Ok(HelperRequest::Ranges(positions)) => {
                            let mut probed = Vec::with_capacity(positions.len());
                            for (partition, position) in positions {
                                if done() {
                                    return;
                                }
                                let range = consumer
                                    .fetch_watermarks(&topic, partition, HELPER_REQUEST_TIMEOUT)
                                    .map_err(|e| e.to_string());
                                probed.push(ProbedRange {
                                    partition,
                                    position,
                                    range,
                                });
                            }
                            Some(HelperUpdate::Ranges(probed))
                        }
                        Err(RecvTimeoutError::Disconnected) => return,
                        Err(RecvTimeoutError::Timeout) if Instant::now() >= next_refresh => {
                            next_refresh = Instant::now() + METADATA_REFRESH;
                            match partitions_of(&consumer, &topic, HELPER_REQUEST_TIMEOUT) {
                                Ok(partitions) if !partitions.is_empty() => {
                                    Some(HelperUpdate::Partitions(partitions))
                                }
                                Ok(_) => None,
                                Err(e) => {
                                    log::debug!(
                                        "kafka_metadata_refresh_failed topic={topic} error={e}"
                                    );
                                    None
                                }
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => None,
                    };
                    if let Some(update) = update {
                        if updates_tx.send(update).is_err() {
                            return;
                        }
                    }
                }
            })?;
        Ok(Helper {
            requests: Some(requests),
            updates,
            stop,
            handle: Some(handle),
        })
    }

    fn request(&self, request: HelperRequest) {
        if let Some(requests) = &self.requests {
            let _ = requests.send(request);
        }
    }

    fn try_update(&self) -> Option<HelperUpdate> {
        self.updates.try_recv().ok()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.requests = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Per partition this worker owns: the position reached, and the resumed positions not yet
/// known to be held by the broker.
#[derive(Debug, Default)]
struct Partitions {
    owned: Vec<i32>,
    /// Position after the last message handed over, or a verified resumed position.
    positions: HashMap<i32, i64>,
    /// Resumed (stored) positions awaiting a message or the broker's range.
    unverified: BTreeMap<i32, i64>,
}

impl Partitions {
    /// Adds `partitions` to the owned set; returns the assignment that reads them, each from its
    /// stored position if `resume` has one, else from the beginning.
    fn add(
        &mut self,
        topic: &str,
        partitions: &[i32],
        resume: &HashMap<i32, i64>,
    ) -> Result<TopicPartitionList, KafkaError> {
        let mut assignment = TopicPartitionList::new();
        for &p in partitions {
            let offset = match resume.get(&p) {
                Some(&next) => Offset::Offset(next),
                None => Offset::Beginning,
            };
            assignment.add_partition_offset(topic, p, offset)?;
        }
        for &p in partitions {
            if let Some(&next) = resume.get(&p) {
                self.unverified.insert(p, next);
            }
            self.owned.push(p);
        }
        self.owned.sort_unstable();
        Ok(assignment)
    }

    /// The position a mark carries: -1 while nothing is known to be good.
    fn mark(&self, partition: i32) -> i64 {
        self.positions.get(&partition).copied().unwrap_or(-1)
    }

    /// Every position known for an owned partition, verified or not.
    fn known(&self) -> Vec<(i32, i64)> {
        self.owned
            .iter()
            .filter_map(|p| {
                self.positions
                    .get(p)
                    .or_else(|| self.unverified.get(p))
                    .map(|&pos| (*p, pos))
            })
            .collect()
    }
}

/// This worker's records and its per-epoch offset marks.
pub type SourceStreams<'scope> = (
    StreamVec<'scope, Epoch, KafkaRecord>,
    StreamVec<'scope, Epoch, OffsetMark>,
);

/// Everything the operator needs to act on a position the broker does not hold.
struct Resetter {
    topic: String,
    policy: OffsetResetPolicy,
    shutdown: Shutdown,
}

impl Resetter {
    /// Applies the policy to `partition`, whose `stored` position lies outside the broker's
    /// `range` (log start, high watermark).
    fn out_of_range(
        &self,
        consumer: &SourceConsumer,
        partitions: &mut Partitions,
        (partition, stored, range): (i32, i64, (i64, i64)),
    ) {
        partitions.unverified.remove(&partition);
        partitions.positions.remove(&partition);
        let topic = &self.topic;
        let stray = StrayPosition {
            topic,
            partition,
            stored,
            range,
        };
        let (to, offset) = match self.policy {
            OffsetResetPolicy::Error => {
                self.shutdown.fail(stray.reason());
                return;
            }
            OffsetResetPolicy::Earliest => ("earliest", Offset::Beginning),
            OffsetResetPolicy::Latest => ("latest", Offset::End),
        };
        log::warn!(
            "kafka_offset_reset {} policy={to}: the broker does not hold the stored position; \
             reading the partition from its {to} offset",
            stray.facts()
        );
        let reassign = || -> Result<(), KafkaError> {
            let mut old = TopicPartitionList::new();
            old.add_partition(topic, partition);
            consumer.incremental_unassign(&old)?;
            let mut new = TopicPartitionList::new();
            new.add_partition_offset(topic, partition, offset)?;
            consumer.incremental_assign(&new)
        };
        if let Err(e) = reassign() {
            self.shutdown.fail(format!(
                "kafka_offset_reset_failed {}: cannot move to the {to} offset: {e}",
                stray.facts()
            ));
        }
    }
}

/// Builds this worker's source; returns the records and the per-epoch offset marks.
pub fn kafka_source<'scope>(
    scope: Scope<'scope, Epoch>,
    config: &KafkaSourceConfig,
    resume: &HashMap<i32, i64>,
    metrics: Arc<PipelineMetrics>,
    shutdown: Shutdown,
    committed_epoch: Arc<AtomicU64>,
) -> Result<SourceStreams<'scope>, SourceError> {
    let fetched_ranges: FetchedRanges = Arc::default();
    let consumer = Arc::new(consumer(config, metrics.clone(), fetched_ranges.clone())?);
    let all = topic_partitions(&consumer, config, &shutdown)?;
    let (index, peers) = (scope.index(), scope.peers());
    let mut partitions = Partitions::default();
    let assignment = partitions
        .add(&config.topic, &owned_partitions(&all, index, peers), resume)
        .map_err(SourceError::Assign)?;
    consumer.assign(&assignment).map_err(SourceError::Assign)?;
    log::info!(
        "kafka_source_assigned worker={index} peers={peers} topic={} partitions={:?} resume={:?} offset_reset={}",
        config.topic,
        partitions.owned,
        partitions.unverified,
        config.offset_reset
    );
    let helper = Helper::spawn(
        consumer.clone(),
        config.topic.clone(),
        index,
        shutdown.clone(),
    )
    .map_err(SourceError::Thread)?;
    let resume = resume.clone();
    let resetter = Resetter {
        topic: config.topic.clone(),
        policy: config.offset_reset,
        shutdown: shutdown.clone(),
    };

    let topic = config.topic.clone();
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
        let mut helper = Some(helper);
        // A ListOffsets check requested after the broker refused a position, not answered yet.
        let mut probing = false;
        move |_frontiers| {
            if records_cap.is_none() {
                return;
            }
            // Housekeeping first: what the helper found, then resumed positions against the
            // ranges the fetch responses reported.
            while let Some(update) = helper.as_ref().and_then(Helper::try_update) {
                match update {
                    HelperUpdate::Partitions(all) => {
                        let added: Vec<i32> = owned_partitions(&all, index, peers)
                            .into_iter()
                            .filter(|p| !partitions.owned.contains(p))
                            .collect();
                        if added.is_empty() {
                            continue;
                        }
                        let mut grown = Partitions::default();
                        let assigned = grown
                            .add(&topic, &added, &resume)
                            .and_then(|assignment| consumer.incremental_assign(&assignment));
                        match assigned {
                            Ok(()) => {
                                partitions.owned.extend(&added);
                                partitions.owned.sort_unstable();
                                partitions.unverified.extend(grown.unverified.iter());
                                log::info!(
                                    "kafka_partitions_added worker={index} topic={topic} added={added:?} resume={:?} partitions={:?} topic_partitions={}",
                                    grown.unverified,
                                    partitions.owned,
                                    all.len()
                                );
                            }
                            // Tried again at the next refresh.
                            Err(e) => log::warn!(
                                "kafka_partitions_add_failed worker={index} topic={topic} partitions={added:?} error={e}"
                            ),
                        }
                    }
                    HelperUpdate::Ranges(probed) => {
                        probing = false;
                        let mut found = false;
                        for ProbedRange { partition, position, range } in probed {
                            let (low, high) = match range {
                                Ok(range) => range,
                                Err(e) => {
                                    log::warn!(
                                        "kafka_offsets_unavailable topic={topic} partition={partition} error={e}"
                                    );
                                    continue;
                                }
                            };
                            let still = partitions
                                .positions
                                .get(&partition)
                                .or_else(|| partitions.unverified.get(&partition))
                                .copied();
                            if still == Some(position) && !position_in_range(position, low, high) {
                                found = true;
                                resetter.out_of_range(&consumer, &mut partitions, (partition, position, (low, high)));
                            }
                        }
                        if !found {
                            log::warn!(
                                "kafka_offset_out_of_range_unattributed topic={topic} positions={:?}: the broker refused a position but every position checked is in range",
                                partitions.known()
                            );
                        }
                    }
                }
            }
            if !partitions.unverified.is_empty() {
                let reported: Vec<(i32, i64, (i64, i64))> = match fetched_ranges.lock() {
                    Ok(ranges) => partitions
                        .unverified
                        .iter()
                        .filter_map(|(p, pos)| ranges.get(p).map(|r| (*p, *pos, *r)))
                        .collect(),
                    Err(_) => Vec::new(),
                };
                for (partition, position, (low, high)) in reported {
                    if position_in_range(position, low, high) {
                        partitions.unverified.remove(&partition);
                        partitions.positions.insert(partition, position);
                    } else {
                        resetter.out_of_range(&consumer, &mut partitions, (partition, position, (low, high)));
                    }
                }
            }

            let now_epoch = epoch_at(SystemTime::now(), epoch_len).max(current);
            let stopping = shutdown.is_triggered();
            if now_epoch > current || stopping {
                if let Some(cap) = marks_cap.as_ref() {
                    let mut marks = marks_out.activate();
                    let mut session = marks.session(cap);
                    // One mark per partition every epoch, even unchanged or unknown (-1): the
                    // marks double as the tick that lets quiet cameras close their windows.
                    for &partition in &partitions.owned {
                        session.give(OffsetMark {
                            partition,
                            next_offset: partitions.mark(partition),
                            behind,
                        });
                    }
                }
                if stopping {
                    log::info!(
                        "kafka_source_stopped worker={index} positions={:?} unverified={:?}",
                        partitions.positions,
                        partitions.unverified
                    );
                    // Releasing the capabilities lets the dataflow drain and complete.
                    records_cap = None;
                    marks_cap = None;
                    helper = None;
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
                            let expected = partitions
                                .positions
                                .get(&partition)
                                .copied()
                                .or_else(|| partitions.unverified.remove(&partition));
                            if let Some(expected) = expected {
                                if message.offset() != expected {
                                    log::warn!(
                                        "kafka_offset_jump partition={partition} expected={expected} got={}",
                                        message.offset()
                                    );
                                }
                            }
                            partitions.positions.insert(partition, message.offset() + 1);
                            session.give(KafkaRecord {
                                partition,
                                offset: message.offset(),
                                payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                            });
                        }
                        Some(Err(KafkaError::MessageConsumption(
                            RDKafkaErrorCode::AutoOffsetReset | RDKafkaErrorCode::OffsetOutOfRange,
                        ))) => {
                            // librdkafka does not say which partition; ListOffsets (on the
                            // helper thread) tells which positions the broker no longer holds.
                            if !probing {
                                probing = true;
                                let known = partitions.known();
                                log::warn!(
                                    "kafka_offset_out_of_range_reported topic={topic} checking={known:?}"
                                );
                                if let Some(helper) = &helper {
                                    helper.request(HelperRequest::Ranges(known));
                                }
                            }
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
    use crate::source::mock::mock_topic;
    use rdkafka::mocking::MockCluster;
    use timely::dataflow::operators::Inspect;

    #[test]
    fn partitions_are_spread_over_all_workers() {
        let all: Vec<i32> = (0..8).collect();
        let mut seen: Vec<i32> = (0..3).flat_map(|w| owned_partitions(&all, w, 3)).collect();
        seen.sort_unstable();
        assert_eq!(seen, all);
        assert_eq!(owned_partitions(&all, 1, 3), vec![1, 4, 7]);
    }

    #[test]
    fn offset_reset_policy_parses() {
        assert_eq!("error".parse(), Ok(OffsetResetPolicy::Error));
        assert_eq!(" Earliest ".parse(), Ok(OffsetResetPolicy::Earliest));
        assert_eq!("LATEST".parse(), Ok(OffsetResetPolicy::Latest));
        assert!("smallest".parse::<OffsetResetPolicy>().is_err());
        assert_eq!(OffsetResetPolicy::default(), OffsetResetPolicy::Error);
    }

    #[test]
    fn a_position_is_held_from_the_log_start_through_the_high_watermark() {
        assert!(
            position_in_range(0, 0, 0),
            "an empty partition, read from its start"
        );
        assert!(
            position_in_range(10, 0, 10),
            "at the end: nothing to read yet"
        );
        assert!(!position_in_range(11, 0, 10), "beyond the end");
        assert!(!position_in_range(4, 5, 10), "before the log start");
        assert!(position_in_range(4, -1, 10), "log start unknown");
    }

    #[test]
    fn the_failure_names_topic_partition_position_range_and_the_way_out() {
        let stray = |topic, partition, stored, range| StrayPosition {
            topic,
            partition,
            stored,
            range,
        };
        let reason = stray("traffic", 3, 5000, (0, 120)).reason();
        for needle in [
            "topic traffic",
            "partition 3",
            "5000",
            "0..120",
            "KAFKA_OFFSET_RESET_POLICY=earliest",
            "KAFKA_OFFSET_RESET_POLICY=latest",
        ] {
            assert!(reason.contains(needle), "{needle:?} missing from {reason}");
        }
        assert!(stray("t", 0, 7, (-1, 3))
            .reason()
            .contains("high watermark is 3"));
    }

    fn source_config(brokers: String, topic: &str, policy: OffsetResetPolicy) -> KafkaSourceConfig {
        KafkaSourceConfig {
            brokers,
            topic: topic.into(),
            group_id: "source-test".into(),
            // Statistics rarely: the broker's refusal (OFFSET_OUT_OF_RANGE) must be what finds it.
            properties: vec![("statistics.interval.ms".into(), "600000".into())],
            epoch: Duration::from_millis(50),
            max_poll_records: 100,
            max_pending_epochs: 1_000,
            topic_wait: Duration::from_secs(10),
            offset_reset: policy,
        }
    }

    /// Runs one worker's source until `enough` offsets were read or the shutdown fired (or 30 s);
    /// returns the offsets read and the failure, if any.
    fn run_source(
        config: KafkaSourceConfig,
        resume: HashMap<i32, i64>,
        enough: usize,
    ) -> (Vec<i64>, Option<String>) {
        let shutdown = Shutdown::new();
        let read = Arc::new(Mutex::new(Vec::new()));
        let (worker_shutdown, seen) = (shutdown.clone(), read.clone());
        timely::execute_directly(move |worker| {
            let inspected = seen.clone();
            worker.dataflow::<Epoch, _, _>(|scope| {
                let (records, _marks) = kafka_source(
                    scope,
                    &config,
                    &resume,
                    Arc::new(PipelineMetrics::new()),
                    worker_shutdown.clone(),
                    Arc::new(AtomicU64::new(u64::MAX / 2)),
                )
                .expect("source");
                records.inspect(move |r| inspected.lock().expect("lock").push(r.offset));
            });
            let started = Instant::now();
            while !worker_shutdown.is_triggered()
                && seen.lock().expect("lock").len() < enough
                && started.elapsed() < Duration::from_secs(30)
            {
                worker.step_or_park(Some(Duration::from_millis(10)));
            }
            worker_shutdown.trigger();
            while worker.step_or_park(Some(Duration::from_millis(10))) {}
        });
        let offsets = read.lock().expect("lock").clone();
        (offsets, shutdown.failure())
    }

    #[test]
    fn a_position_the_broker_refuses_stops_the_pipeline_with_the_facts() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        mock_topic(&cluster, "gone", 1, 20, |i| i.to_string());
        let config = source_config(
            cluster.bootstrap_servers(),
            "gone",
            OffsetResetPolicy::Error,
        );
        let started = Instant::now();
        let (read, failure) = run_source(config, HashMap::from([(0, 500)]), usize::MAX);
        let failure = failure.expect("the source fails");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "took {:?}",
            started.elapsed()
        );
        assert!(read.is_empty(), "nothing may be read: {read:?}");
        for needle in [
            "topic gone",
            "partition 0",
            "500",
            "0..20",
            "KAFKA_OFFSET_RESET_POLICY",
        ] {
            assert!(
                failure.contains(needle),
                "{needle:?} missing from {failure}"
            );
        }
    }

    /// Where a source resumes, by policy: from a refused position (500 of 20) and a held one.
    #[test]
    fn resumed_positions_are_read_from_where_the_policy_says() {
        let cases = [
            ("again", OffsetResetPolicy::Earliest, 500, 0..20),
            ("held", OffsetResetPolicy::Error, 15, 15..20),
        ];
        for (topic, policy, stored, expected) in cases {
            let expected: Vec<i64> = expected.collect();
            let cluster = MockCluster::new(1).expect("mock cluster");
            mock_topic(&cluster, topic, 1, 20, |i| i.to_string());
            let config = source_config(cluster.bootstrap_servers(), topic, policy);
            let (read, failure) = run_source(config, HashMap::from([(0, stored)]), expected.len());
            assert_eq!(failure, None, "{topic}");
            assert_eq!(read, expected, "{topic}");
        }
    }

    /// A production cluster wants TLS, SASL (PLAIN or SCRAM) and zstd: librdkafka refuses to
    /// create a client with a protocol or codec it was built without.
    #[test]
    fn librdkafka_is_built_with_tls_sasl_and_zstd() {
        for (protocol, mechanism) in [
            ("ssl", None),
            ("sasl_ssl", Some("SCRAM-SHA-512")),
            ("sasl_ssl", Some("SCRAM-SHA-256")),
            ("sasl_plaintext", Some("PLAIN")),
        ] {
            let mut config = ClientConfig::new();
            config
                .set("bootstrap.servers", "127.0.0.1:1")
                .set("security.protocol", protocol)
                .set("compression.type", "zstd");
            if let Some(mechanism) = mechanism {
                config
                    .set("sasl.mechanism", mechanism)
                    .set("sasl.username", "u")
                    .set("sasl.password", "p");
            }
            let created: Result<rdkafka::producer::BaseProducer, _> = config.create();
            assert!(
                created.is_ok(),
                "{protocol} {mechanism:?}: {:?}",
                created.err()
            );
        }
    }

    /// The broker used in development misreports high watermarks, so the lag logic is checked
    /// against librdkafka's mock cluster, which reports them correctly.
    #[test]
    fn lag_gauge_is_high_watermark_minus_position() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        mock_topic(&cluster, "lag", 1, 100, |_| "x".into());

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
            offset_reset: OffsetResetPolicy::Error,
        };
        let consumer =
            consumer(&config, metrics.clone(), FetchedRanges::default()).expect("consumer");
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

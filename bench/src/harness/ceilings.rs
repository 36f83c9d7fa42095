//! What the pipeline's two ends can do alone, on the same data: a bare consumer draining the
//! topic, and a bare binary COPY of the same rows into `traffic_events` in transactions of the
//! pipeline's size. Neither decodes, windows or gathers anything in the timed part.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use pipeline::sink::postgres::{copy_events, ensure_day_partitions, event_days};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use serde_json::json;

use operators::event::decode_message;
use operators::record::Located;
use operators::shard::StoredEvent;

use super::{for_each_line, report};

/// The valid detections of a JSONL file, as the pipeline would store them.
#[derive(Debug, Default)]
pub struct Decoded {
    pub messages: u64,
    pub rows: Vec<StoredEvent>,
    pub errors: u64,
}

impl Decoded {
    /// Camera-wide windows of `size_ms` the rows fall in (what a run with no late data closes).
    pub fn camera_windows(&self, size_ms: i64) -> usize {
        let mut windows: HashMap<&str, BTreeSet<i64>> = HashMap::new();
        for row in &self.rows {
            windows
                .entry(row.located.detection.camera_id.as_str())
                .or_default()
                .insert(row.located.detection.ts_ms.div_euclid(size_ms));
        }
        windows.values().map(BTreeSet::len).sum()
    }
}

/// Decodes every line with the pipeline's decoder.
pub fn decode_file(path: &Path) -> anyhow::Result<Decoded> {
    let mut decoded = Decoded::default();
    let mut detections = Vec::new();
    let mut errors = Vec::new();
    decoded.messages = for_each_line(path, |number, line| {
        decode_message(line, &mut detections, &mut errors);
        decoded.errors += errors.len() as u64;
        errors.clear();
        for (index, detection) in detections.drain(..).enumerate() {
            decoded.rows.push(StoredEvent {
                located: Located {
                    detection,
                    partition: 0,
                    offset: number as i64,
                    index: index as u32,
                },
                estimated_speed_kmh: None,
                late: false,
            });
        }
        Ok(())
    })?;
    Ok(decoded)
}

#[derive(Debug, Clone, Default)]
pub struct ConsumeReport {
    pub messages: u64,
    pub bytes: u64,
    /// From assignment to the last message counted.
    pub elapsed: Duration,
}

impl ConsumeReport {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "messages": self.messages,
            "bytes": self.bytes,
            "elapsed_s": report::secs(self.elapsed),
            "messages_per_s": report::round(report::per_second(self.messages, self.elapsed), 0),
        })
    }
}

/// Drains `topic` from the beginning of every partition with one `BaseConsumer` (manual
/// assignment, `fetch.wait.max.ms=10`, the pipeline's queue size) until `total` messages arrived.
pub fn consume_all(
    brokers: &str,
    topic: &str,
    group_id: &str,
    total: u64,
    properties: &[(String, String)],
    timeout: Duration,
) -> anyhow::Result<ConsumeReport> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("queued.min.messages", "200000")
        .set("fetch.wait.max.ms", "10");
    for (key, value) in properties {
        config.set(key, value);
    }
    let consumer: BaseConsumer = config.create().context("creating the Kafka consumer")?;
    let partitions = partitions_of(&consumer, topic)?;
    let mut assignment = TopicPartitionList::new();
    for partition in &partitions {
        assignment.add_partition_offset(topic, *partition, Offset::Beginning)?;
    }
    let started = Instant::now();
    consumer.assign(&assignment)?;
    let mut result = ConsumeReport::default();
    let mut last_error: Option<String> = None;
    while result.messages < total {
        if started.elapsed() > timeout {
            return Err(anyhow!(
                "drained {} of {total} messages in {timeout:?} (last error: {})",
                result.messages,
                last_error.as_deref().unwrap_or("none")
            ));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                result.messages += 1;
                result.bytes += message.payload_len() as u64;
            }
            Some(Err(e)) => last_error = Some(e.to_string()),
            None => {}
        }
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

/// The partitions of `topic` as the broker reports them.
pub fn partitions_of<C: Consumer>(consumer: &C, topic: &str) -> anyhow::Result<Vec<i32>> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .with_context(|| format!("reading the metadata of {topic}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(anyhow!("topic {topic} has no partitions"));
    }
    Ok(partitions)
}

/// Sum over the partitions of `topic` of the high watermark: the next offset a fully caught-up
/// reader stores, summed as the pipeline's `pipeline_offsets` rows are.
pub fn high_watermarks(brokers: &str, topic: &str) -> anyhow::Result<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("creating the Kafka consumer")?;
    let mut sum = 0;
    for partition in partitions_of(&consumer, topic)? {
        let (_low, high) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .with_context(|| format!("reading the offsets of {topic}/{partition}"))?;
        sum += high;
    }
    Ok(sum)
}

#[derive(Debug, Clone, Default)]
pub struct CopyReport {
    pub rows: u64,
    pub transactions: u64,
    /// From the first transaction's start to the last commit.
    pub elapsed: Duration,
}

impl CopyReport {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "rows": self.rows,
            "transactions": self.transactions,
            "elapsed_s": report::secs(self.elapsed),
            "rows_per_s": report::round(report::per_second(self.rows, self.elapsed), 0),
        })
    }
}

/// COPYs `rows` into `traffic_events` with the pipeline's own COPY, `batch_rows` rows per
/// transaction, each after ensuring the day partitions it needs (database migrated beforehand).
pub fn copy_rows(
    client: &mut postgres::Client,
    rows: &[StoredEvent],
    batch_rows: usize,
) -> anyhow::Result<CopyReport> {
    let mut result = CopyReport::default();
    let started = Instant::now();
    for batch in rows.chunks(batch_rows.max(1)) {
        let mut tx = client.transaction()?;
        ensure_day_partitions(&mut tx, "traffic_events", event_days(batch))?;
        result.rows += copy_events(&mut tx, batch)?;
        tx.commit()?;
        result.transactions += 1;
    }
    result.elapsed = started.elapsed();
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_counts_windows() {
        let path = std::env::temp_dir().join(format!("bench-ceil-{}.jsonl", std::process::id()));
        let line = |cam: &str, ts: &str| {
            format!(
                r#"{{"camera_id":"{cam}","timestamp":"{ts}","frame_id":1,"vehicle_id":"v","class":"car","confidence":0.9,"bbox":{{"x":1,"y":1,"w":2,"h":2}}}}"#
            )
        };
        let text = [
            line("a", "2026-11-27T08:00:01.000Z"),
            line("a", "2026-11-27T08:00:04.999Z"),
            line("a", "2026-11-27T08:00:05.000Z"),
            line("b", "2026-11-27T08:00:01.000Z"),
            "{not json".to_owned(),
        ]
        .join("\n");
        std::fs::write(&path, text).expect("write");
        let decoded = decode_file(&path).expect("decode");
        let _ = std::fs::remove_file(&path);
        assert_eq!(decoded.messages, 5);
        assert_eq!(decoded.rows.len(), 4);
        assert_eq!(decoded.errors, 1);
        assert_eq!(decoded.rows[3].located.offset, 3);
        assert_eq!(decoded.camera_windows(5_000), 3);
    }
}

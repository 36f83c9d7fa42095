//! `bench load`: a JSONL file onto a Kafka topic as fast as the broker takes it, one message per
//! line, keyed by camera (found by a byte search) so a camera keeps to one partition.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use rdkafka::producer::{BaseRecord, Producer as _};
use serde_json::json;

use super::{camera_key, for_each_line, report};
use crate::kafka;

/// How long to wait for librdkafka's queue to drain when it is full.
const QUEUE_FULL_POLL: Duration = Duration::from_millis(5);
/// Rejected messages logged individually.
const LOGGED_REJECTIONS: u64 = 10;

#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub input: PathBuf,
    pub brokers: String,
    pub topic: String,
    /// Partitions of the topic when it has to be created.
    pub partitions: i32,
    /// librdkafka properties, applied over the producer defaults.
    pub kafka_props: Vec<(String, String)>,
    pub flush_timeout: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    pub messages: u64,
    pub bytes: u64,
    /// Refused by librdkafka before sending.
    pub rejected: u64,
    /// Acknowledged by the broker.
    pub delivered: u64,
    pub failed: u64,
    /// From the first line read to the last acknowledgement.
    pub elapsed: Duration,
}

impl LoadReport {
    pub fn messages_per_second(&self) -> f64 {
        report::per_second(self.delivered, self.elapsed)
    }

    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "messages": self.messages,
            "delivered": self.delivered,
            "failed": self.failed,
            "rejected": self.rejected,
            "bytes": self.bytes,
            "elapsed_s": report::secs(self.elapsed),
            "messages_per_s": report::round(self.messages_per_second(), 0),
            "mb_per_s": report::round(report::per_second(self.bytes, self.elapsed) / 1e6, 1),
        })
    }

    pub fn summary_line(&self, topic: &str) -> String {
        format!(
            "load: {} messages ({:.1} MB) onto {topic} in {:.3} s: {} ({} failed, {} rejected)",
            self.delivered,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            report::human_rate(self.messages_per_second()),
            self.failed,
            self.rejected
        )
    }
}

/// Creates the topic unless it exists, sends every line, and waits for every acknowledgement.
pub fn run(options: &LoadOptions) -> anyhow::Result<LoadReport> {
    kafka::ensure_topic_with(
        &options.brokers,
        &options.topic,
        options.partitions,
        &options.kafka_props,
    )?;
    let producer = kafka::producer(&options.brokers, &options.kafka_props)?;
    let mut result = LoadReport::default();
    let started = Instant::now();
    for_each_line(&options.input, |_number, line| {
        let mut record = BaseRecord::<str, [u8]>::to(&options.topic).payload(line);
        if let Some(camera) = camera_key(line) {
            record = record.key(camera);
        }
        if let Err(err) = kafka::send_waiting(&producer, record, QUEUE_FULL_POLL) {
            result.rejected += 1;
            if result.rejected <= LOGGED_REJECTIONS {
                log::warn!("message rejected: {err}");
            }
        }
        result.messages += 1;
        result.bytes += line.len() as u64;
        if result.messages % 4096 == 0 {
            producer.poll(Duration::ZERO);
        }
        Ok(())
    })?;
    kafka::flush(&producer, options.flush_timeout)?;
    result.elapsed = started.elapsed();
    result.delivered = producer.context().delivered();
    result.failed = producer.context().failed();
    if result.delivered + result.failed + result.rejected != result.messages {
        return Err(anyhow!(
            "{} messages read but {} delivered, {} failed, {} rejected",
            result.messages,
            result.delivered,
            result.failed,
            result.rejected
        ));
    }
    Ok(result)
}

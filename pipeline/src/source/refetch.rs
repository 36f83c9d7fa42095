//! Reads single messages again by position. The dataflow carries decoded detections, not message
//! bytes (carrying both would double what crosses every exchange), so when the sink quarantines a
//! row it fetches that message's original bytes from Kafka once more. Rare, and bounded in time:
//! a broker that cannot answer leaves the quarantined row with its decoded form instead.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

#[derive(Debug, Clone)]
pub struct Refetch {
    pub brokers: String,
    pub topic: String,
    pub group_id: String,
    pub properties: Vec<(String, String)>,
}

impl Refetch {
    /// The bytes of each message found at `positions` within `timeout` overall.
    pub fn fetch(&self, positions: &[(i32, i64)], timeout: Duration) -> HashMap<(i32, i64), Vec<u8>> {
        let mut found = HashMap::new();
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("{}-refetch", self.group_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        let consumer: BaseConsumer = match config.create() {
            Ok(c) => c,
            Err(e) => {
                log::warn!("refetch_failed error={e}");
                return found;
            }
        };
        let deadline = Instant::now() + timeout;
        for &(partition, offset) in positions {
            if found.contains_key(&(partition, offset)) {
                continue;
            }
            let mut assignment = TopicPartitionList::new();
            if assignment
                .add_partition_offset(&self.topic, partition, Offset::Offset(offset))
                .and_then(|()| consumer.assign(&assignment))
                .is_err()
            {
                continue;
            }
            while Instant::now() < deadline {
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) if m.partition() == partition && m.offset() == offset => {
                        found.insert(
                            (partition, offset),
                            m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                        );
                        break;
                    }
                    Some(Ok(m)) if m.offset() > offset => break,
                    _ => {}
                }
            }
        }
        found
    }
}

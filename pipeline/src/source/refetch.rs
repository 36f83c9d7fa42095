//! Reads single messages again by position. The dataflow carries decoded detections, not message
//! bytes (carrying both would double what crosses every exchange), so when the sink quarantines a
//! row it fetches that message's original bytes from Kafka once more. Rare, and bounded in time
//! (2 s per batch, 100 positions): a broker that cannot answer leaves the quarantined row with its
//! decoded form instead. The development broker (tansu) serves a new consumer only fetches that
//! start at a batch boundary, so there most quarantined rows keep their decoded form; Kafka
//! serves any offset (the unit test checks this against librdkafka's mock cluster).

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

/// Positions fetched again per batch at most; the rest keep their decoded form.
const MAX_POSITIONS: usize = 100;

impl Refetch {
    /// The bytes of each message found at `positions` within `timeout` overall.
    pub fn fetch(
        &self,
        positions: &[(i32, i64)],
        timeout: Duration,
    ) -> HashMap<(i32, i64), Vec<u8>> {
        let mut found = HashMap::new();
        let deadline = Instant::now() + timeout;
        for &(partition, offset) in positions.iter().take(MAX_POSITIONS) {
            if found.contains_key(&(partition, offset)) || Instant::now() >= deadline {
                continue;
            }
            match self.fetch_one(partition, offset, deadline) {
                Ok(Some(bytes)) => {
                    found.insert((partition, offset), bytes);
                }
                Ok(None) => {}
                Err(e) => {
                    log::warn!("refetch_failed partition={partition} offset={offset} error={e}")
                }
            }
        }
        found
    }

    /// One consumer, one assignment: librdkafka does not like a partition reassigned while it
    /// is still starting, and these fetches are rare.
    fn fetch_one(
        &self,
        partition: i32,
        offset: i64,
        deadline: Instant,
    ) -> Result<Option<Vec<u8>>, rdkafka::error::KafkaError> {
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
        let consumer: BaseConsumer = config.create()?;
        // Without the topic's metadata first, some brokers leave a fresh assignment idle.
        consumer.fetch_metadata(
            Some(&self.topic),
            deadline.saturating_duration_since(Instant::now()),
        )?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(&self.topic, partition, Offset::Offset(offset))?;
        consumer.assign(&assignment)?;
        while Instant::now() < deadline {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) if m.partition() == partition && m.offset() == offset => {
                    return Ok(Some(m.payload().map(<[u8]>::to_vec).unwrap_or_default()));
                }
                Some(Ok(m)) if m.offset() > offset => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::mock::mock_topic;
    use rdkafka::mocking::MockCluster;

    #[test]
    fn fetches_the_bytes_at_each_position() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        mock_topic(&cluster, "refetch", 2, 50, |i| format!("message-{i}"));
        let refetch = Refetch {
            brokers: cluster.bootstrap_servers(),
            topic: "refetch".into(),
            group_id: "g".into(),
            properties: vec![],
        };
        let found = refetch.fetch(&[(0, 3), (1, 20), (1, 99)], Duration::from_secs(20));
        assert_eq!(
            found.get(&(0, 3)).map(Vec::as_slice),
            Some(&b"message-6"[..])
        );
        assert_eq!(
            found.get(&(1, 20)).map(Vec::as_slice),
            Some(&b"message-41"[..])
        );
        assert!(!found.contains_key(&(1, 99)), "beyond the end");
    }
}

//! Optional dead-letter topic (`DEAD_LETTER_TOPIC`): every rejected message is copied there
//! verbatim, with the reason and the detail in headers, so operators can inspect or replay it.
//! Delivery is at least once (a replay after a crash may copy a message twice).

use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};

use operators::dataflow::KafkaRecord;
use operators::event::DecodeError;

pub struct DeadLetter {
    producer: ThreadedProducer<DefaultProducerContext>,
    topic: String,
}

impl DeadLetter {
    pub fn new(
        brokers: &str,
        topic: &str,
        properties: &[(String, String)],
    ) -> Result<Self, KafkaError> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("linger.ms", "20");
        for (key, value) in properties {
            // Consumer-only properties would make the producer refuse to start.
            if !key.starts_with("fetch.") && !key.starts_with("queued.") {
                config.set(key, value);
            }
        }
        Ok(Self {
            producer: config.create()?,
            topic: topic.to_owned(),
        })
    }

    /// Queues a copy; a full queue or a broker error is logged by the caller's rate limiter.
    pub fn send(&self, record: &KafkaRecord, error: &DecodeError) -> Result<(), KafkaError> {
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "b2-drop-reason",
                value: Some(error.reason.as_str()),
            })
            .insert(Header {
                key: "b2-drop-detail",
                value: Some(error.detail.as_str()),
            })
            .insert(Header {
                key: "b2-source-partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "b2-source-offset",
                value: Some(offset.as_str()),
            });
        let copy = BaseRecord::<str, [u8]>::to(&self.topic)
            .key(error.reason.as_str())
            .payload(record.payload.as_slice())
            .headers(headers);
        self.producer.send(copy).map_err(|(e, _)| e)
    }
}

impl Drop for DeadLetter {
    fn drop(&mut self) {
        use rdkafka::producer::Producer;
        // Give queued copies a fair chance at shutdown; what cannot be delivered is logged.
        if let Err(e) = self.producer.flush(std::time::Duration::from_secs(30)) {
            log::warn!("dead_letter_flush_failed topic={} error={e}", self.topic);
        }
    }
}

//! A topic on librdkafka's mock cluster, for the unit tests of the source's parts.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};

/// Creates `topic` with `partitions` and writes `messages` messages, message `i` being
/// `payload(i)` in partition `i % partitions`.
pub(crate) fn mock_topic(
    cluster: &MockCluster<'_, DefaultProducerContext>,
    topic: &str,
    partitions: i32,
    messages: usize,
    payload: impl Fn(usize) -> String,
) {
    cluster.create_topic(topic, partitions, 1).expect("topic");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", cluster.bootstrap_servers())
        .create()
        .expect("producer");
    for i in 0..messages {
        let partition = (i % partitions as usize) as i32;
        producer
            .send(
                BaseRecord::<(), str>::to(topic)
                    .partition(partition)
                    .payload(&payload(i)),
            )
            .expect("enqueue");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");
}

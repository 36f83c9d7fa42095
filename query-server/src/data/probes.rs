//! Reachability of the server's dependencies, for `/health`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// A long-lived Kafka client for reachability checks, with the last answer cached for a second:
/// creating a client per request would cost a connection each time a load balancer polls.
#[derive(Clone)]
pub(crate) struct KafkaProbe {
    brokers: String,
    properties: Vec<(String, String)>,
    state: Arc<Mutex<ProbeState>>,
}

#[derive(Default)]
struct ProbeState {
    client: Option<BaseConsumer>,
    last: Option<(Instant, bool)>,
}

impl KafkaProbe {
    pub(crate) fn new(brokers: &str, properties: &[(String, String)]) -> Self {
        Self {
            brokers: brokers.to_owned(),
            properties: properties.to_vec(),
            state: Arc::new(Mutex::new(ProbeState::default())),
        }
    }

    /// True when a broker answered a metadata request within a second.
    pub(crate) async fn reachable(&self) -> bool {
        let probe = self.clone();
        tokio::task::spawn_blocking(move || probe.check_blocking())
            .await
            .unwrap_or(false)
    }

    fn check_blocking(&self) -> bool {
        let mut state = match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((at, ok)) = state.last {
            if at.elapsed() < Duration::from_secs(1) {
                return ok;
            }
        }
        if state.client.is_none() {
            let mut config = ClientConfig::new();
            config
                .set("bootstrap.servers", &self.brokers)
                .set("group.id", "b2-query-server-health")
                .set("socket.timeout.ms", "1000")
                .set("fetch.wait.max.ms", "10");
            for (key, value) in &self.properties {
                config.set(key, value);
            }
            state.client = config
                .create()
                .map_err(|e| log::warn!("kafka_probe_client_failed error={e}"))
                .ok();
        }
        let ok = state
            .client
            .as_ref()
            .is_some_and(|c| c.fetch_metadata(None, Duration::from_secs(1)).is_ok());
        state.last = Some((Instant::now(), ok));
        ok
    }
}

/// True when PostgreSQL answers a trivial query on `client`.
pub(crate) fn postgres(client: &mut postgres::Client) -> bool {
    client.simple_query("SELECT 1").is_ok()
}

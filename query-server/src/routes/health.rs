//! `GET /health`: Kafka and PostgreSQL reachability. `degraded` is still HTTP 200, so a load
//! balancer keeps the server in rotation while a dependency recovers.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;

use crate::context::{Ctx, Req};
use crate::http::{json, ApiResult};

/// A long-lived Kafka client for reachability checks, with the last answer cached for a second.
#[derive(Clone)]
pub struct KafkaProbe {
    brokers: String,
    state: Arc<Mutex<ProbeState>>,
}

#[derive(Default)]
struct ProbeState {
    client: Option<BaseConsumer>,
    last: Option<(Instant, bool)>,
}

impl KafkaProbe {
    pub fn new(brokers: &str) -> Self {
        Self {
            brokers: brokers.to_owned(),
            state: Arc::new(Mutex::new(ProbeState::default())),
        }
    }

    /// True when a broker answered a metadata request within a second.
    pub async fn reachable(&self) -> bool {
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
            state.client = ClientConfig::new()
                .set("bootstrap.servers", &self.brokers)
                .set("group.id", "b2-query-server-health")
                .set("socket.timeout.ms", "1000")
                .set("fetch.wait.max.ms", "10")
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

pub async fn get(ctx: &Ctx, _req: &Req) -> ApiResult {
    let (kafka, postgres) = tokio::join!(
        ctx.kafka.reachable(),
        ctx.db.run(|c| Ok(c.simple_query("SELECT 1").is_ok()))
    );
    let postgres = postgres.unwrap_or(false);
    let word = |ok: bool| if ok { "ok" } else { "unreachable" };
    json(&json!({
        "status": if kafka && postgres { "ok" } else { "degraded" },
        "kafka": word(kafka),
        "postgres": word(postgres),
        "uptime_seconds": ctx.started.elapsed().as_secs(),
    }))
}

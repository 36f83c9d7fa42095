//! The pipeline's Prometheus metrics. Counters are atomics shared by every worker thread.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use operators::event::DropReason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabel {
    pub topic: String,
    pub partition: String,
}

pub struct PipelineMetrics {
    pub registry: Registry,
    pub events_processed: Counter,
    pub events_dropped: Family<ReasonLabel, Counter>,
    pub window_flushes: Counter,
    pub consumer_lag: Family<PartitionLabel, Gauge>,
    pub commits: Counter,
    pub commit_failures: Counter,
    pub commit_seconds: Histogram,
    pub close_to_commit_seconds: Histogram,
    pub events_stored: Counter,
    pub rows_quarantined: Family<KindLabel, Counter>,
    pub partitions_added: Counter,
    pub state_capped: Family<KindLabel, Counter>,
    pub cameras_evicted: Counter,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl PipelineMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let events_processed = Counter::default();
        let events_dropped = Family::<ReasonLabel, Counter>::default();
        let window_flushes = Counter::default();
        let consumer_lag = Family::<PartitionLabel, Gauge>::default();
        let commits = Counter::default();
        let commit_failures = Counter::default();
        let events_stored = Counter::default();
        let rows_quarantined = Family::<KindLabel, Counter>::default();
        let partitions_added = Counter::default();
        let state_capped = Family::<KindLabel, Counter>::default();
        let cameras_evicted = Counter::default();
        let buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
        let commit_seconds = Histogram::new(buckets);
        let close_to_commit_seconds = Histogram::new(buckets);
        registry.register(
            "b2_events_processed",
            "Valid detections read from Kafka and fed to the windows",
            events_processed.clone(),
        );
        registry.register(
            "b2_events_dropped",
            "Messages or detections not counted, by reason",
            events_dropped.clone(),
        );
        registry.register(
            "b2_window_flushes",
            "Camera windows closed and committed",
            window_flushes.clone(),
        );
        registry.register(
            "b2_kafka_consumer_lag",
            "High watermark minus the pipeline's position, per partition",
            consumer_lag.clone(),
        );
        registry.register(
            "b2_commits",
            "Database transactions committed",
            commits.clone(),
        );
        registry.register(
            "b2_commit_failures",
            "Database transactions that failed and were retried",
            commit_failures.clone(),
        );
        registry.register(
            "b2_events_stored",
            "Rows written to traffic_events",
            events_stored.clone(),
        );
        registry.register(
            "b2_commit_duration_seconds",
            "Time of one sink transaction",
            commit_seconds.clone(),
        );
        registry.register(
            "b2_window_close_to_commit_seconds",
            "From a window's close in the dataflow to its committed row",
            close_to_commit_seconds.clone(),
        );
        registry.register(
            "b2_rows_quarantined",
            "Rows PostgreSQL refused with a data error, kept in the quarantine table, by kind",
            rows_quarantined.clone(),
        );
        registry.register(
            "b2_kafka_partitions_added",
            "Partitions of the topic picked up while running",
            partitions_added.clone(),
        );
        registry.register(
            "b2_state_capped",
            "Events beyond a state cap (lanes_per_window: counted camera-wide only; tracks_per_camera: no speed estimate)",
            state_capped.clone(),
        );
        registry.register(
            "b2_cameras_evicted",
            "Cameras silent past the raw-event retention whose state and checkpoint were dropped",
            cameras_evicted.clone(),
        );
        for kind in ["lanes_per_window", "tracks_per_camera"] {
            let _ = state_capped.get_or_create(&KindLabel { kind: kind.into() });
        }
        for kind in ["event", "window", "alert", "checkpoint"] {
            let _ = rows_quarantined.get_or_create(&KindLabel { kind: kind.into() });
        }
        for reason in DropReason::ALL {
            let _ = events_dropped.get_or_create(&label(reason));
        }
        Self {
            registry,
            events_processed,
            events_dropped,
            window_flushes,
            consumer_lag,
            commits,
            commit_failures,
            commit_seconds,
            close_to_commit_seconds,
            events_stored,
            rows_quarantined,
            partitions_added,
            state_capped,
            cameras_evicted,
        }
    }

    pub fn capped(&self, kind: &str) {
        self.state_capped
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    pub fn quarantined(&self, kind: &str) {
        self.rows_quarantined
            .get_or_create(&KindLabel { kind: kind.into() })
            .inc();
    }

    pub fn dropped(&self, reason: DropReason) {
        self.events_dropped.get_or_create(&label(reason)).inc();
    }

    pub fn dropped_count(&self, reason: DropReason) -> u64 {
        self.events_dropped.get_or_create(&label(reason)).get()
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            log::error!("metrics_encode_failed error={e}");
        }
        out
    }
}

fn label(reason: DropReason) -> ReasonLabel {
    ReasonLabel {
        reason: reason.as_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_the_design_names() {
        let m = PipelineMetrics::new();
        m.dropped(DropReason::MalformedJson);
        m.events_processed.inc();
        m.consumer_lag
            .get_or_create(&PartitionLabel {
                topic: "t".into(),
                partition: "0".into(),
            })
            .set(5);
        let text = m.encode();
        for name in [
            "b2_events_processed_total",
            "b2_events_dropped_total{reason=\"malformed_json\"} 1",
            "b2_window_flushes_total",
            "b2_kafka_consumer_lag{topic=\"t\",partition=\"0\"} 5",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}

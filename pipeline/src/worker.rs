//! What each timely worker of `pipeline run` does: worker 0 starts the sink thread, every
//! worker builds the dataflow (Kafka source, the graph of `operators::dataflow::build_dataflow`,
//! then the gather into the sink) and steps it until the sources end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crossbeam_channel::Sender;
use operators::dataflow::{
    build_dataflow, DataflowConfig, DataflowHooks, Epoch, GatherCompleted, KafkaRecord, StateNote,
};
use operators::event::{DecodeError, DropReason};
use operators::settings::SharedSettings;
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::Concat;
use timely::dataflow::Scope;
use timely::worker::Worker;

use crate::lease::Fence;
use crate::resume::ResumePoint;
use crate::sink::postgres::{PostgresSink, QuarantineOutlets, SinkConfig};
use crate::sink::{CommitBatch, SinkItem};
use crate::source::dead_letter::DeadLetter;
use crate::source::refetch::Refetch;
use crate::source::{self, kafka_source, KafkaSourceConfig, SourceError};
use crate::telemetry::logging::RateLimited;
use crate::telemetry::{Health, PipelineMetrics};
use crate::{Config, Shutdown};

/// Everything a worker needs, shared by the workers of one process.
pub(crate) struct WorkerPlan {
    source: KafkaSourceConfig,
    refetch: Refetch,
    dead_letter_topic: Option<String>,
    graph: DataflowConfig,
    offsets: Arc<HashMap<i32, i64>>,
    /// The epoch of the last commit, which the sources read at most `max_pending_epochs` ahead of.
    committed_epoch: Arc<AtomicU64>,
    database: bootstrap::database::Database,
    /// Held by the committing process only, whose worker 0 runs the sink.
    fence: Option<Fence>,
    metrics: Arc<PipelineMetrics>,
    health: Arc<Health>,
    shutdown: Shutdown,
}

impl WorkerPlan {
    pub(crate) fn new(
        config: &Config,
        settings: SharedSettings,
        resume: ResumePoint,
        fence: Option<Fence>,
        metrics: Arc<PipelineMetrics>,
        health: Arc<Health>,
        shutdown: Shutdown,
    ) -> Self {
        Self {
            source: KafkaSourceConfig {
                brokers: config.kafka_brokers.clone(),
                topic: config.kafka_topic.clone(),
                group_id: config.kafka_group_id.clone(),
                properties: config.kafka_properties.clone(),
                epoch: config.checkpoint_interval,
                max_poll_records: config.max_poll_records,
                max_pending_epochs: config.max_pending_epochs,
                topic_wait: Duration::from_secs(120),
                offset_reset: config.kafka_offset_reset_policy,
            },
            refetch: Refetch {
                brokers: config.kafka_brokers.clone(),
                topic: config.kafka_topic.clone(),
                group_id: config.kafka_group_id.clone(),
                properties: config.kafka_properties.clone(),
            },
            dead_letter_topic: config.dead_letter_topic.clone(),
            graph: DataflowConfig {
                time_bounds: config.event_time_bounds,
                windows: config.camera_windows(),
                settings,
                restored: Arc::new(resume.cameras),
            },
            offsets: Arc::new(resume.offsets),
            committed_epoch: Arc::new(AtomicU64::new(u64::MAX / 2)),
            database: config.database.clone(),
            fence,
            metrics,
            health,
            shutdown,
        }
    }

    /// One worker, from building its dataflow to the sink's last commit.
    pub(crate) fn run(&self, worker: &mut Worker) -> Result<(), String> {
        let sink = if worker.index() == 0 {
            Some(self.spawn_sink()?)
        } else {
            None
        };
        let sender = sink.as_ref().map(PostgresSink::sender);
        let built = worker.dataflow::<Epoch, _, _>(|scope| self.build(scope, sender));
        if let Err(e) = built {
            self.shutdown.trigger();
            return Err(e.to_string());
        }
        while worker.step_or_park(Some(Duration::from_millis(20))) {}
        match sink {
            Some(sink) => sink.finish().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// Worker 0's sink thread, which commits every completed epoch.
    fn spawn_sink(&self) -> Result<PostgresSink, String> {
        let fence = self
            .fence
            .ok_or("worker 0 runs in a process without the lease")?;
        // Reading may run `max_pending_epochs` ahead of the last commit, counted from now.
        let now = source::kafka::epoch_at(SystemTime::now(), self.source.epoch);
        self.committed_epoch.store(now, Ordering::Relaxed);
        let dead_letter = self.dead_letter().map_err(|e| e.to_string())?;
        let sink_config = SinkConfig {
            database: self.database.clone(),
            group_id: self.source.group_id.clone(),
            topic: self.source.topic.clone(),
            shutdown_grace: Duration::from_secs(30),
            max_rows_per_commit: 200_000,
            fence,
        };
        let outlets = QuarantineOutlets {
            refetch: Some(self.refetch.clone()),
            dead_letter,
        };
        PostgresSink::spawn(
            sink_config,
            self.metrics.clone(),
            self.health.clone(),
            self.committed_epoch.clone(),
            outlets,
            self.shutdown.clone(),
        )
        .map_err(|e| e.to_string())
    }

    fn dead_letter(&self) -> Result<Option<DeadLetter>, SourceError> {
        self.dead_letter_topic
            .as_deref()
            .map(|topic| {
                DeadLetter::new(&self.source.brokers, topic, &self.source.properties)
                    .map_err(SourceError::Client)
            })
            .transpose()
    }

    /// Kafka source → the shared graph → gathered with the offset marks into the sink.
    fn build(
        &self,
        scope: Scope<'_, Epoch>,
        sender: Option<Sender<CommitBatch>>,
    ) -> Result<(), SourceError> {
        let (records, marks) = kafka_source(
            scope,
            &self.source,
            &self.offsets,
            self.metrics.clone(),
            self.shutdown.clone(),
            self.committed_epoch.clone(),
        )?;
        let hooks = DataflowHooks {
            on_drop: self.on_drop(self.dead_letter()?),
            on_decoded: self.on_decoded(),
            on_note: self.on_note(),
        };
        build_dataflow(records, marks.clone(), self.graph.clone(), hooks)
            .map(SinkItem::Output)
            .concat(marks.map(SinkItem::Mark))
            .gather_completed("PostgresSink", move |epoch, items| {
                if let Some(sender) = &sender {
                    if sender.send(CommitBatch::from_items(epoch, items)).is_err() {
                        log::error!("sink_channel_closed epoch={epoch}");
                    }
                }
            });
        Ok(())
    }

    /// A refused message is counted, logged (rate-limited) and copied to the dead letters.
    fn on_drop(
        &self,
        dead_letter: Option<DeadLetter>,
    ) -> impl FnMut(&DecodeError, &KafkaRecord) + 'static {
        let metrics = self.metrics.clone();
        let mut drop_log = RateLimited::new("pipeline::decode", Duration::from_secs(5));
        let mut dead_letter_log = RateLimited::new("pipeline::dead_letter", Duration::from_secs(5));
        move |error, record| {
            metrics.dropped(error.reason);
            drop_log.warn(|suppressed| {
                format!(
                    "event_dropped reason={} partition={} offset={} detail={} suppressed={suppressed}",
                    error.reason.as_str(),
                    record.partition,
                    record.offset,
                    error.detail
                )
            });
            if let Some(dead_letter) = &dead_letter {
                if let Err(e) = dead_letter.send(record, error) {
                    dead_letter_log
                        .warn(|n| format!("dead_letter_failed error={e} suppressed={n}"));
                }
            }
        }
    }

    fn on_decoded(&self) -> impl FnMut(usize) + 'static {
        let metrics = self.metrics.clone();
        move |count| {
            metrics.events_processed.inc_by(count as u64);
        }
    }

    fn on_note(&self) -> impl FnMut(StateNote<'_>) + 'static {
        let metrics = self.metrics.clone();
        move |note| match note {
            StateNote::Late(_) => metrics.dropped(DropReason::Late),
            StateNote::LaneCapped => metrics.capped("lanes_per_window"),
            StateNote::TrackCapped => metrics.capped("tracks_per_camera"),
            StateNote::Evicted(camera_id) => {
                metrics.cameras_evicted.inc();
                log::info!("camera_evicted camera_id={camera_id}");
            }
        }
    }
}

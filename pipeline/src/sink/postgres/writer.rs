//! The sink thread. Worker 0 hands it completed batches through a bounded channel (so a slow
//! database slows reading instead of filling memory); it merges what queued up, commits, and
//! retries the same batch until it lands, reconnecting as needed. Nothing is acknowledged to
//! Kafka: the positions are in the committed transaction itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::statements::{write_batch, WriteStats};
use crate::shutdown::Shutdown;
use crate::sink::CommitBatch;
use crate::telemetry::PipelineMetrics;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("gave up committing after shutdown: {0}")]
    GaveUp(String),
    #[error("the sink thread panicked")]
    Panicked,
    #[error("cannot start the sink thread: {0}")]
    Spawn(#[from] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub database_url: String,
    pub group_id: String,
    pub topic: String,
    /// How long to keep retrying a failed commit once shutdown was requested.
    pub shutdown_grace: Duration,
    /// Merge queued batches up to this many rows into one transaction.
    pub max_rows_per_commit: usize,
}

pub struct PostgresSink {
    sender: Sender<CommitBatch>,
    handle: JoinHandle<Result<(), SinkError>>,
}

impl PostgresSink {
    pub fn spawn(
        config: SinkConfig,
        metrics: Arc<PipelineMetrics>,
        committed_epoch: Arc<AtomicU64>,
        shutdown: Shutdown,
    ) -> Result<Self, SinkError> {
        let (sender, receiver) = crossbeam_channel::bounded(8);
        let handle = std::thread::Builder::new()
            .name("postgres-sink".into())
            .spawn(move || run(config, receiver, metrics, committed_epoch, shutdown))?;
        Ok(Self { sender, handle })
    }

    pub fn sender(&self) -> Sender<CommitBatch> {
        self.sender.clone()
    }

    /// Waits until every batch sent so far is committed (all senders must be dropped).
    pub fn finish(self) -> Result<(), SinkError> {
        drop(self.sender);
        self.handle.join().map_err(|_| SinkError::Panicked)?
    }
}

fn run(
    config: SinkConfig,
    receiver: Receiver<CommitBatch>,
    metrics: Arc<PipelineMetrics>,
    committed_epoch: Arc<AtomicU64>,
    shutdown: Shutdown,
) -> Result<(), SinkError> {
    let mut client: Option<postgres::Client> = None;
    let mut stored_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    while let Ok(mut batch) = receiver.recv() {
        while batch.row_count() < config.max_rows_per_commit {
            match receiver.try_recv() {
                Ok(later) => batch.merge(later),
                Err(_) => break,
            }
        }
        let moved = batch
            .offsets
            .iter()
            .any(|(p, o)| stored_offsets.get(p) != Some(o));
        if batch.row_count() == 0 && !moved {
            committed_epoch.fetch_max(batch.through_epoch, Ordering::Relaxed);
            continue;
        }
        let stats = commit_with_retry(&config, &mut client, &batch, &metrics, &shutdown)?;
        committed_epoch.fetch_max(batch.through_epoch, Ordering::Relaxed);
        stored_offsets.extend(batch.offsets.iter().map(|(p, o)| (*p, *o)));
        report(&batch, stats, &metrics);
    }
    Ok(())
}

fn commit_with_retry(
    config: &SinkConfig,
    client: &mut Option<postgres::Client>,
    batch: &CommitBatch,
    metrics: &PipelineMetrics,
    shutdown: &Shutdown,
) -> Result<WriteStats, SinkError> {
    let mut backoff = Duration::from_millis(100);
    let mut failing_since: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let attempt = connect(config, client).and_then(|c| {
            let mut tx = c.transaction()?;
            let stats = write_batch(&mut tx, batch, &config.group_id, &config.topic)?;
            tx.commit()?;
            Ok(stats)
        });
        match attempt {
            Ok(stats) => {
                metrics.commits.inc();
                metrics
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
                if failing_since.is_some() {
                    log::info!("sink_recovered epoch={}", batch.through_epoch);
                }
                return Ok(stats);
            }
            Err(e) => {
                metrics.commit_failures.inc();
                let since = *failing_since.get_or_insert_with(Instant::now);
                log::warn!(
                    "sink_commit_failed epoch={} rows={} retry_in_ms={} error={e}",
                    batch.through_epoch,
                    batch.row_count(),
                    backoff.as_millis()
                );
                if client.as_ref().is_none_or(|c| c.is_closed()) {
                    *client = None;
                }
                if shutdown.is_triggered() && since.elapsed() > config.shutdown_grace {
                    return Err(SinkError::GaveUp(e.to_string()));
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

fn connect<'a>(
    config: &SinkConfig,
    client: &'a mut Option<postgres::Client>,
) -> Result<&'a mut postgres::Client, postgres::Error> {
    let connected = match client.take() {
        Some(c) => c,
        None => postgres::Client::connect(&config.database_url, postgres::NoTls)?,
    };
    Ok(client.insert(connected))
}

fn report(batch: &CommitBatch, stats: WriteStats, metrics: &PipelineMetrics) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    metrics.events_stored.inc_by(stats.events);
    for (w, closed_at_ms) in &batch.windows {
        metrics
            .close_to_commit_seconds
            .observe(((now_ms - closed_at_ms).max(0) as f64) / 1000.0);
        if w.lane_id.is_none() {
            metrics.window_flushes.inc();
            log::info!(
                "window_flushed camera_id={} window_start={} vehicle_count={} event_count={} avg_speed_kmh={} level={} score={:.3}",
                w.camera_id,
                chrono::DateTime::<chrono::Utc>::from_timestamp_millis(w.window_start_ms)
                    .unwrap_or_default()
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                w.vehicle_count,
                w.event_count,
                w.avg_speed_kmh.map_or("null".to_owned(), |s| format!("{s:.1}")),
                w.congestion_level.as_str(),
                w.congestion_score,
            );
        }
    }
}

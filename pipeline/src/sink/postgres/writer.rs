//! The sink thread. Worker 0 hands it completed batches through a bounded channel (so a slow
//! database slows reading instead of filling memory); it merges what queued up and commits.
//!
//! A failed commit is retried according to its cause:
//! - transient (connection, serialization, locks, a restarting server): the same batch again, with
//!   backoff, reconnecting as needed, until it lands; an outage slows reading, nothing is lost;
//! - a data error (the rows themselves are refused): the batch once more on the isolating path,
//!   which quarantines the refused rows and commits the rest;
//! - a connection lost while COMMIT was in flight: the lease's commit counter says whether that
//!   transaction landed, before anything is written again;
//! - fenced (another pipeline took the group over): the sink stops, and with it the process.
//!
//! Nothing is acknowledged to Kafka: the positions are in the committed transaction itself.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use operators::dataflow::KafkaRecord;
use operators::event::{DecodeError, DropReason};

use super::errors::{classify, describe, ErrorClass};
use super::isolate::{save_quarantine, write_batch_isolating, Refused};
use super::statements::{write_batch, WriteStats};
use crate::lease::{commit_landed, fence, Fence, Fenced};
use crate::shutdown::Shutdown;
use crate::sink::CommitBatch;
use crate::source::dead_letter::DeadLetter;
use crate::source::refetch::Refetch;
use crate::telemetry::{Health, PipelineMetrics};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("gave up committing after shutdown: {0}")]
    GaveUp(String),
    #[error("the sink thread panicked")]
    Panicked,
    #[error("cannot start the sink thread: {0}")]
    Spawn(#[from] std::io::Error),
    #[error(transparent)]
    Fenced(#[from] Fenced),
}

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub database: bootstrap::database::Database,
    pub group_id: String,
    pub topic: String,
    /// How long to keep retrying a failed commit once shutdown was requested.
    pub shutdown_grace: Duration,
    /// Merge queued batches up to this many rows into one transaction.
    pub max_rows_per_commit: usize,
    /// The lease this process holds; every commit is checked against it.
    pub fence: Fence,
}

/// Where quarantined events are also sent: their original bytes are fetched from Kafka again,
/// and copied to the dead-letter topic when one is configured.
#[derive(Default)]
pub struct QuarantineOutlets {
    pub refetch: Option<Refetch>,
    pub dead_letter: Option<DeadLetter>,
}

pub struct PostgresSink {
    sender: Sender<CommitBatch>,
    handle: JoinHandle<Result<(), SinkError>>,
}

impl PostgresSink {
    pub fn spawn(
        config: SinkConfig,
        metrics: Arc<PipelineMetrics>,
        health: Arc<Health>,
        committed_epoch: Arc<AtomicU64>,
        outlets: QuarantineOutlets,
        shutdown: Shutdown,
    ) -> Result<Self, SinkError> {
        let (sender, receiver) = crossbeam_channel::bounded(8);
        let handle = std::thread::Builder::new()
            .name("postgres-sink".into())
            .spawn(move || {
                let mut committer = Committer {
                    config,
                    client: None,
                    metrics,
                    health,
                    outlets,
                    shutdown: shutdown.clone(),
                };
                let result = committer.run(receiver, &committed_epoch);
                if let Err(e) = &result {
                    shutdown.fail(format!("the sink stopped: {e}"));
                }
                result
            })?;
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

/// How one attempt ended without committing.
enum AttemptError {
    Fenced(Fenced),
    Db {
        error: postgres::Error,
        /// The error came from COMMIT itself.
        at_commit: bool,
    },
}

impl From<postgres::Error> for AttemptError {
    fn from(error: postgres::Error) -> Self {
        AttemptError::Db {
            error,
            at_commit: false,
        }
    }
}

/// A commit whose outcome the sink could not see: its number, and what it would have written.
struct Unsure {
    commit_number: i64,
    stats: WriteStats,
    refused: Vec<Refused>,
}

struct Committer {
    config: SinkConfig,
    client: Option<postgres::Client>,
    metrics: Arc<PipelineMetrics>,
    health: Arc<Health>,
    outlets: QuarantineOutlets,
    shutdown: Shutdown,
}

impl Committer {
    fn run(
        &mut self,
        receiver: Receiver<CommitBatch>,
        committed_epoch: &AtomicU64,
    ) -> Result<(), SinkError> {
        let mut stored_offsets: BTreeMap<i32, i64> = BTreeMap::new();
        while let Ok(mut batch) = receiver.recv() {
            while batch.row_count() < self.config.max_rows_per_commit {
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
            self.health.batch_waiting();
            let (stats, refused) = self.commit_with_retry(&batch)?;
            self.health.committed();
            committed_epoch.fetch_max(batch.through_epoch, Ordering::Relaxed);
            stored_offsets.extend(batch.offsets.iter().map(|(p, o)| (*p, *o)));
            self.after_quarantine(&refused);
            report(&batch, stats, &self.metrics);
        }
        Ok(())
    }

    fn commit_with_retry(
        &mut self,
        batch: &CommitBatch,
    ) -> Result<(WriteStats, Vec<Refused>), SinkError> {
        let mut backoff = Duration::from_millis(100);
        let mut failing_since: Option<Instant> = None;
        let mut isolating = false;
        let mut unsure: Option<Unsure> = None;
        loop {
            let started = Instant::now();
            match self.attempt(batch, isolating, &mut unsure) {
                Ok((stats, refused)) => {
                    self.metrics.commits.inc();
                    self.metrics
                        .commit_seconds
                        .observe(started.elapsed().as_secs_f64());
                    if failing_since.is_some() {
                        log::info!("sink_recovered epoch={}", batch.through_epoch);
                    }
                    return Ok((stats, refused));
                }
                Err(AttemptError::Fenced(fenced)) => return Err(fenced.into()),
                Err(AttemptError::Db { error, at_commit }) => {
                    self.metrics.commit_failures.inc();
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    let closed = self.client.as_ref().is_none_or(|c| c.is_closed());
                    let class = classify(&error);
                    if class == ErrorClass::Data && !isolating {
                        log::warn!(
                            "sink_data_error epoch={} rows={} {}; isolating the refused rows",
                            batch.through_epoch,
                            batch.row_count(),
                            describe(&error)
                        );
                        isolating = true;
                        continue;
                    }
                    log::warn!(
                        "sink_commit_failed epoch={} rows={} class={class:?} at_commit={at_commit} retry_in_ms={} {}",
                        batch.through_epoch,
                        batch.row_count(),
                        backoff.as_millis(),
                        describe(&error)
                    );
                    if closed {
                        self.client = None;
                    }
                    if self.shutdown.is_triggered() && since.elapsed() > self.config.shutdown_grace
                    {
                        return Err(SinkError::GaveUp(describe(&error)));
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// One transaction: fence, rows, quarantine, positions, COMMIT.
    fn attempt(
        &mut self,
        batch: &CommitBatch,
        isolating: bool,
        unsure: &mut Option<Unsure>,
    ) -> Result<(WriteStats, Vec<Refused>), AttemptError> {
        let config = &self.config;
        let client = match self.client.take() {
            Some(c) if !c.is_closed() => c,
            _ => config.database.connect()?,
        };
        let client = self.client.insert(client);
        if let Some(pending) = unsure.take() {
            let number = pending.commit_number;
            let landed =
                match commit_landed(client, &config.group_id, config.fence.generation, number) {
                    Ok(landed) => landed,
                    Err(e) => {
                        *unsure = Some(pending);
                        return Err(e.into());
                    }
                };
            log::warn!(
                "sink_commit_ambiguous epoch={} commit={number} landed={landed}",
                batch.through_epoch
            );
            if landed {
                return Ok((pending.stats, pending.refused));
            }
        }
        let mut tx = client.transaction()?;
        let number = match fence(&mut tx, &config.group_id, config.fence.generation)? {
            Ok(number) => number,
            Err(fenced) => return Err(AttemptError::Fenced(fenced)),
        };
        let (stats, mut refused) = if isolating {
            write_batch_isolating(&mut tx, batch, &config.group_id, &config.topic)?
        } else {
            (
                write_batch(&mut tx, batch, &config.group_id, &config.topic)?,
                Vec::new(),
            )
        };
        if !refused.is_empty() {
            attach_original_bytes(&mut refused, self.outlets.refetch.as_ref());
            save_quarantine(&mut tx, &config.group_id, &refused)?;
        }
        *unsure = Some(Unsure {
            commit_number: number,
            stats,
            refused,
        });
        if let Err(error) = tx.commit() {
            if error.as_db_error().is_some() {
                // The server answered: that transaction did not commit.
                *unsure = None;
            }
            return Err(AttemptError::Db {
                error,
                at_commit: true,
            });
        }
        let done = unsure.take().map(|u| (u.stats, u.refused));
        Ok(done.unwrap_or_default())
    }

    /// After the quarantine committed: count, log, and copy events to the dead-letter topic.
    fn after_quarantine(&self, refused: &[Refused]) {
        for r in refused {
            self.metrics.quarantined(r.kind);
            if r.kind == "event" {
                self.metrics.dropped(DropReason::Quarantined);
            }
            log::warn!(
                "row_quarantined kind={} camera_id={} partition={} offset={} index={} sqlstate={} reason={}",
                r.kind,
                r.camera_id.as_deref().unwrap_or("-"),
                r.partition.map_or("-".into(), |p| p.to_string()),
                r.offset.map_or("-".into(), |o| o.to_string()),
                r.detection_index.map_or("-".into(), |i| i.to_string()),
                r.sqlstate,
                r.reason
            );
            if let (Some(dead_letter), Some(partition), Some(offset)) =
                (&self.outlets.dead_letter, r.partition, r.offset)
            {
                let record = KafkaRecord {
                    partition,
                    offset,
                    payload: r.payload.clone(),
                };
                let error = DecodeError {
                    reason: DropReason::Quarantined,
                    detail: r.reason.clone(),
                };
                if let Err(e) = dead_letter.send(&record, &error) {
                    log::warn!("dead_letter_failed error={e}");
                }
            }
        }
    }
}

/// Replaces the decoded form of quarantined events with the message's bytes where Kafka still
/// has them.
fn attach_original_bytes(refused: &mut [Refused], refetch: Option<&Refetch>) {
    let Some(refetch) = refetch else {
        return;
    };
    let positions: Vec<(i32, i64)> = refused
        .iter()
        .filter_map(|r| Some((r.partition?, r.offset?)))
        .collect();
    if positions.is_empty() {
        return;
    }
    let found = refetch.fetch(&positions, Duration::from_secs(2));
    for r in refused.iter_mut() {
        if let (Some(p), Some(o)) = (r.partition, r.offset) {
            if let Some(bytes) = found.get(&(p, o)) {
                r.payload = bytes.clone();
                r.payload_source = "kafka";
            }
        }
    }
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

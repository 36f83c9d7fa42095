//! Drives the simulator against the wall clock and publishes to Kafka, as
//! a fleet of live cameras would: frames are stamped with the current time
//! and sent in small ticks, so downstream event-time windows close at the
//! same pace as in production.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use log::{info, warn};
use rdkafka::producer::Producer as _;
use serde::Serialize;
use serde_json::json;

use crate::kafka::{self, Producer, SendReport};
use crate::sim::{MessageKind, SimMessage, Simulator};

/// How the real-time loop paces and reports.
#[derive(Clone, Debug)]
pub struct RealtimeOptions {
    pub topic: String,
    /// Simulated (and wall-clock) time to run; `None` runs until stopped.
    pub duration: Option<Duration>,
    /// Send interval; ~100 ms keeps latency low while batching well.
    pub tick: Duration,
    /// Interval between progress lines.
    pub report_every: Duration,
    /// Upper bound on the final flush.
    pub flush_timeout: Duration,
}

impl RealtimeOptions {
    pub fn new(topic: impl Into<String>) -> Self {
        RealtimeOptions {
            topic: topic.into(),
            duration: None,
            tick: Duration::from_millis(100),
            report_every: Duration::from_secs(10),
            flush_timeout: Duration::from_secs(30),
        }
    }
}

/// Totals of a run, also logged as the closing line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// Messages produced by the simulator.
    pub messages: u64,
    /// Valid detections inside those messages.
    pub detections: u64,
    /// Messages deliberately malformed.
    pub malformed: u64,
    /// Messages handed to librdkafka.
    pub enqueued: u64,
    /// Messages librdkafka refused outright.
    pub rejected: u64,
    /// Messages acknowledged by the broker.
    pub delivered: u64,
    /// Messages that failed delivery.
    pub failed: u64,
    pub elapsed_s: f64,
}

impl RunSummary {
    fn count(&mut self, batch: &[SimMessage], report: SendReport) {
        self.messages += batch.len() as u64;
        for m in batch {
            self.detections += m.truths.len() as u64;
            if m.kind == MessageKind::Malformed {
                self.malformed += 1;
            }
        }
        self.enqueued += report.enqueued;
        self.rejected += report.rejected;
    }
}

/// Publishes simulated traffic in real time until `stop` is set or the
/// duration is over, then flushes. The simulator's clock should start at
/// the current wall-clock time.
pub fn run_realtime(
    sim: &mut Simulator,
    producer: &Producer,
    opts: &RealtimeOptions,
    stop: &AtomicBool,
) -> anyhow::Result<RunSummary> {
    let started = Instant::now();
    let sim_start = sim.now_ms();
    let mut summary = RunSummary::default();
    let mut next_tick = started;
    let mut last_report = (started, 0u64, 0u64);

    loop {
        let elapsed = started.elapsed();
        let finished = opts.duration.is_some_and(|d| elapsed >= d);
        let until = opts.duration.map_or(elapsed, |d| elapsed.min(d));
        let target_ms = sim_start + i64::try_from(until.as_millis()).unwrap_or(i64::MAX);
        let batch = sim.advance(target_ms - sim.now_ms());
        let report = kafka::send_batch(producer, &opts.topic, &batch);
        summary.count(&batch, report);

        let now = Instant::now();
        if now.duration_since(last_report.0) >= opts.report_every {
            let secs = now.duration_since(last_report.0).as_secs_f64();
            info!(
                "{}",
                json!({
                    "message": "progress",
                    "messages": summary.messages,
                    "detections": summary.detections,
                    "malformed": summary.malformed,
                    "delivered": producer.context().delivered(),
                    "failed": producer.context().failed(),
                    "rate_msgs_per_s": round1((summary.messages - last_report.1) as f64 / secs),
                    "rate_detections_per_s": round1((summary.detections - last_report.2) as f64 / secs),
                    "elapsed_s": round1(started.elapsed().as_secs_f64()),
                })
            );
            last_report = (now, summary.messages, summary.detections);
        }

        if finished || stop.load(Ordering::Relaxed) {
            break;
        }
        next_tick += opts.tick;
        let now = Instant::now();
        if next_tick > now {
            thread::sleep(next_tick - now);
        } else {
            // Behind schedule (slow broker): catch up on the next tick
            // instead of bursting through every missed one.
            next_tick = now;
        }
    }

    let flushed = kafka::flush(producer, opts.flush_timeout);
    summary.delivered = producer.context().delivered();
    summary.failed = producer.context().failed();
    summary.elapsed_s = round1(started.elapsed().as_secs_f64());
    let mut line = serde_json::to_value(&summary)?;
    line["message"] = "finished".into();
    info!("{line}");
    if let Err(err) = &flushed {
        warn!("{err:#}");
    }
    flushed.map(|()| summary)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

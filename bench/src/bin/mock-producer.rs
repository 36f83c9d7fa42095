//! Mock fleet of B1 cameras.
//!
//! Default mode publishes simulated detections to Kafka in real time.
//! With `--output FILE --events N` it instead writes N messages of
//! simulated traffic to a JSON Lines file as fast as possible, for replay
//! benchmarks; the traffic options (`--rate`, `--cameras`, `--frames`,
//! `--bad-ratio`, ...) shape that file exactly as they shape live traffic.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bench::kafka;
use bench::realtime::{run_realtime, RealtimeOptions};
use bench::sim::{generate_jsonl, SimConfig, Simulator};
use bench::traffic_args::TrafficArgs;
use chrono::{DateTime, Utc};
use clap::Parser;
use log::{info, warn};
use serde_json::json;

/// Simulated B1 traffic cameras.
#[derive(Debug, Parser)]
#[command(name = "mock-producer", version)]
struct Args {
    #[command(flatten)]
    traffic: TrafficArgs,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092")]
    brokers: String,
    /// Topic to publish to.
    #[arg(long, env = "KAFKA_TOPIC", default_value = "traffic-events")]
    topic: String,
    /// Partitions of the topic when it has to be created.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// librdkafka property override, repeatable (e.g. --kafka-prop linger.ms=20).
    #[arg(long = "kafka-prop", value_name = "KEY=VALUE", value_parser = kafka::parse_kafka_prop)]
    kafka_props: Vec<(String, String)>,
    /// Seconds to run; runs until Ctrl-C/SIGTERM when absent.
    #[arg(long, conflicts_with = "output")]
    duration: Option<f64>,
    /// Write a JSON Lines file instead of publishing to Kafka.
    #[arg(long, value_name = "FILE.jsonl", requires = "events")]
    output: Option<PathBuf>,
    /// Number of messages to write with --output.
    #[arg(long, requires = "output")]
    events: Option<u64>,
    /// Simulated start time for --output (RFC 3339).
    #[arg(long, requires = "output", default_value = "2026-11-27T08:00:00Z")]
    start: DateTime<Utc>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    bootstrap::logging::init(bootstrap::Layout::Tool, log::LevelFilter::Info);
    let config = args.traffic.sim_config();
    config.validate()?;
    match (&args.output, args.events) {
        (Some(path), Some(events)) => generate(config, &args, path, events),
        _ => publish(config, &args),
    }
}

fn generate(config: SimConfig, args: &Args, path: &Path, events: u64) -> anyhow::Result<()> {
    let summary = generate_jsonl(config, args.start.timestamp_millis(), events, path)
        .with_context(|| format!("writing {}", path.display()))?;
    info!(
        "{}",
        json!({
            "message": "generated",
            "file": path.display().to_string(),
            "messages": summary.messages,
            "detections": summary.detections,
            "malformed": summary.malformed,
            "first_ts_ms": summary.first_ts_ms,
            "last_ts_ms": summary.last_ts_ms,
        })
    );
    if summary.messages < events {
        warn!(
            "traffic dried up after {} of {events} messages",
            summary.messages
        );
    }
    Ok(())
}

fn publish(config: SimConfig, args: &Args) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("installing signal handler")?;
    }
    if let Err(err) = kafka::ensure_topic_with(
        &args.brokers,
        &args.topic,
        args.partitions,
        &args.kafka_props,
    ) {
        // Brokers with auto-creation or restricted admin rights still work.
        warn!("could not ensure topic {}: {err:#}", args.topic);
    }
    let producer = kafka::producer(&args.brokers, &args.kafka_props)?;
    info!(
        "{}",
        json!({
            "message": "publishing",
            "brokers": args.brokers,
            "topic": args.topic,
            "cameras": config.cameras,
            "rate": config.rate,
            "frames": config.frames,
            "bad_ratio": config.bad_ratio,
            "seed": config.seed,
        })
    );
    let mut sim = Simulator::new(config, Utc::now().timestamp_millis());
    let mut opts = RealtimeOptions::new(args.topic.clone());
    opts.duration = args
        .duration
        .map(Duration::try_from_secs_f64)
        .transpose()
        .context("--duration must be a non-negative number of seconds")?;
    run_realtime(&mut sim, &producer, &opts, &stop)?;
    Ok(())
}

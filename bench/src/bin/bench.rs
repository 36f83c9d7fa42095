//! `bench`: throughput and latency runs of the traffic pipeline.
//!
//! `generate` writes a JSONL workload, `replay` runs it through the dataflow alone, `load` puts
//! it on a Kafka topic, and `e2e` runs the real pipeline binary from Kafka to PostgreSQL beside
//! the bare Kafka and COPY ceilings. Each run prints one JSON object on stdout and one readable
//! line on stderr; logs go to stderr as JSON lines.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use bench::harness::e2e::{self, E2eOptions};
use bench::harness::generate::{self, GenerateOptions};
use bench::harness::load::{self, LoadOptions};
use bench::harness::replay::{self, ReplayOptions};
use bench::harness::report;
use bench::kafka::parse_kafka_prop;
use bench::traffic_args::TrafficArgs;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use operators::window::WindowConfig;

/// Throughput and latency runs of the traffic pipeline.
#[derive(Debug, Parser)]
#[command(name = "bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write simulated B1 traffic as JSON Lines (one message per line).
    Generate(GenerateArgs),
    /// Run a JSONL file through the decode and window operators on timely (no Kafka, no database).
    Replay(ReplayArgs),
    /// Load a JSONL file onto a Kafka topic as fast as possible.
    Load(LoadArgs),
    /// Kafka -> pipeline -> PostgreSQL on a fresh topic and database, with the bare ceilings.
    E2e(E2eArgs),
    /// Closed-loop HTTP load on loopback URLs: requests/s and p50/p99 latency per URL.
    Http(HttpArgs),
    /// A bare hyper server answering one fixed JSON body: the ceiling for `http` runs.
    HelloServer(HelloArgs),
    /// Write camera history straight into PostgreSQL (for the HTTP runs).
    SeedHistory(SeedArgs),
    /// WebSocket clients held open on the real query server while windows commit.
    Ws(WsArgs),
    /// Write days of simulated per-lane history straight into PostgreSQL (forecast training data).
    SeedLanes(SeedLanesArgs),
}

#[derive(Debug, clap::Args)]
struct WsArgs {
    /// Admin connection; the run creates and drops its own database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Concurrent WebSocket clients.
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    /// Cameras, each committing one window every 5 s.
    #[arg(long, default_value_t = 100)]
    cameras: usize,
    #[arg(long, default_value_t = 3)]
    lanes: usize,
    #[arg(long, default_value_t = 30)]
    duration_s: u64,
    /// Channel the clients subscribe to.
    #[arg(long, default_value = "/ws/metrics")]
    path: String,
    /// The query-server binary (default: beside this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Worker threads of the clients' runtime.
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

#[derive(Debug, clap::Args)]
struct SeedLanesArgs {
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/traffic_bench"
    )]
    database_url: String,
    #[arg(long, default_value_t = 14)]
    days: u32,
    #[arg(long, default_value_t = 24)]
    cameras: u32,
    /// Cameras per corridor (one road segment ending at a bottleneck).
    #[arg(long, default_value_t = 6)]
    cameras_per_corridor: u32,
    #[arg(long, default_value_t = 3)]
    lanes: u32,
    /// End of the history (default: the current minute).
    #[arg(long)]
    end: Option<DateTime<Utc>>,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    #[arg(
        long,
        default_value = "postgres://postgres@127.0.0.1:5432/traffic_bench"
    )]
    database_url: String,
    #[arg(long, default_value_t = 100)]
    cameras: u32,
    #[arg(long, default_value_t = 24)]
    hours: u32,
}

#[derive(Debug, clap::Args)]
struct HttpArgs {
    /// Loopback URL to load, repeatable (each is run in turn).
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    #[arg(long, default_value_t = 64)]
    connections: usize,
    #[arg(long, default_value_t = 10)]
    duration_s: u64,
}

#[derive(Debug, clap::Args)]
struct HelloArgs {
    #[arg(long, default_value = "127.0.0.1:18099")]
    addr: std::net::SocketAddr,
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    #[arg(long, value_name = "FILE.jsonl")]
    output: PathBuf,
    /// Number of messages.
    #[arg(long)]
    events: u64,
    #[command(flatten)]
    traffic: TrafficArgs,
    /// Simulated start (RFC 3339); default ten minutes ago, inside the pipeline's retention.
    #[arg(long)]
    start: Option<DateTime<Utc>>,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    #[arg(long, value_name = "FILE.jsonl")]
    input: PathBuf,
    /// Timely worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// CSV of the camera-wide windows.
    #[arg(long, value_name = "FILE.csv")]
    out: PathBuf,
    #[arg(long, default_value_t = 2_000)]
    lateness_ms: i64,
    #[arg(long, default_value_t = 5_000)]
    window_ms: i64,
    /// Lines of the file per input epoch.
    #[arg(long, default_value_t = 50_000)]
    epoch_lines: u64,
    /// Processing time one epoch stands for.
    #[arg(long, default_value_t = 100)]
    epoch_ms: i64,
    /// Processing time after which a quiet camera closes its windows.
    #[arg(long, default_value_t = 10_000)]
    idle_timeout_ms: i64,
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    #[arg(long, value_name = "FILE.jsonl")]
    input: PathBuf,
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092")]
    brokers: String,
    #[arg(long)]
    topic: String,
    /// Partitions of the topic when it has to be created.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// librdkafka producer property, repeatable.
    #[arg(long = "kafka-prop", value_name = "KEY=VALUE", value_parser = parse_kafka_prop)]
    kafka_props: Vec<(String, String)>,
}

#[derive(Debug, clap::Args)]
struct E2eArgs {
    #[arg(long, value_name = "FILE.jsonl")]
    input: PathBuf,
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092")]
    brokers: String,
    /// A database to create and drop the run's databases from.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Pipeline worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Keep the databases and the topic.
    #[arg(long)]
    keep: bool,
    /// The pipeline binary (default: beside this one).
    #[arg(long)]
    pipeline_bin: Option<PathBuf>,
    /// The pipeline's log file (default: in the temporary directory).
    #[arg(long)]
    pipeline_log: Option<PathBuf>,
    /// CAMERA_IDLE_TIMEOUT_SECONDS of the pipeline.
    #[arg(long, default_value_t = 2.0)]
    idle_timeout_s: f64,
    /// Longest wait for the pipeline to commit everything.
    #[arg(long, default_value_t = 900)]
    timeout_s: u64,
    /// Rows per transaction in the COPY ceiling.
    #[arg(long, default_value_t = 50_000)]
    copy_batch_rows: usize,
    /// librdkafka producer property for loading, repeatable.
    #[arg(long = "kafka-prop", value_name = "KEY=VALUE", value_parser = parse_kafka_prop)]
    kafka_props: Vec<(String, String)>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    bootstrap::logging::init(bootstrap::Layout::Tool, log::LevelFilter::Info);
    match cli.command {
        Command::Generate(args) => generate::run(&GenerateOptions {
            output: args.output,
            events: args.events,
            start_ms: args
                .start
                .unwrap_or_else(|| Utc::now() - chrono::Duration::minutes(10))
                .timestamp_millis(),
            config: args.traffic.sim_config(),
        }),
        Command::Replay(args) => {
            let options = ReplayOptions {
                input: args.input,
                workers: args.workers,
                out: args.out,
                window: WindowConfig {
                    size_ms: args.window_ms,
                    allowed_lateness_ms: args.lateness_ms,
                    idle_timeout_ms: args.idle_timeout_ms,
                },
                epoch_lines: args.epoch_lines,
                epoch_ms: args.epoch_ms,
            };
            anyhow::ensure!(args.window_ms > 0, "--window-ms must be positive");
            anyhow::ensure!(args.lateness_ms >= 0, "--lateness-ms must not be negative");
            let result = replay::run(&options)?;
            report::emit(&result.to_json(&options), &result.summary_line())
        }
        Command::Load(args) => {
            let result = load::run(&LoadOptions {
                input: args.input,
                brokers: args.brokers,
                topic: args.topic.clone(),
                partitions: args.partitions,
                kafka_props: args.kafka_props,
                flush_timeout: Duration::from_secs(300),
            })?;
            let mut json = result.to_json();
            json["mode"] = "load".into();
            json["topic"] = args.topic.as_str().into();
            report::emit(&json, &result.summary_line(&args.topic))
        }
        Command::E2e(args) => {
            let result = e2e::run(&E2eOptions {
                input: args.input,
                brokers: args.brokers,
                database_url: args.database_url,
                workers: args.workers,
                partitions: args.partitions,
                keep: args.keep,
                pipeline_bin: args.pipeline_bin,
                pipeline_log: args.pipeline_log,
                idle_timeout_s: args.idle_timeout_s,
                timeout: Duration::from_secs(args.timeout_s),
                kafka_props: args.kafka_props,
                copy_batch_rows: args.copy_batch_rows,
            })
            .context("e2e run failed")?;
            report::emit(&result.json, &result.summary)
        }
        Command::Http(args) => {
            for url in args.urls {
                let load = bench::harness::http::HttpLoad {
                    url,
                    connections: args.connections,
                    duration: Duration::from_secs(args.duration_s),
                };
                let result = bench::harness::http::run(&load).context("http run failed")?;
                let mut json = result.to_json(&load);
                json["mode"] = "http".into();
                let line = format!(
                    "http: {} | {} conns | {:.0} req/s | p50 {:.2} ms p99 {:.2} ms | errors {} non-2xx {}",
                    load.url,
                    load.connections,
                    result.requests as f64 / result.elapsed_s,
                    result.p50_ms,
                    result.p99_ms,
                    result.errors,
                    result.non_2xx
                );
                report::emit(&json, &line)?;
            }
            Ok(())
        }
        Command::Ws(args) => {
            let (json, line) = bench::harness::ws::run(&bench::harness::ws::WsLoad {
                database_url: args.database_url,
                clients: args.clients,
                cameras: args.cameras,
                lanes: args.lanes,
                duration: Duration::from_secs(args.duration_s),
                path: args.path,
                server_bin: args.server_bin,
                client_threads: args.client_threads,
            })
            .context("ws run failed")?;
            report::emit(&json, &line)
        }
        Command::HelloServer(args) => bench::harness::hello::serve(args.addr),
        Command::SeedLanes(args) => {
            let started = std::time::Instant::now();
            let now = Utc::now();
            let end = args.end.unwrap_or(now);
            let cfg = bench::harness::seed_lanes::LaneSimConfig {
                days: args.days,
                cameras: args.cameras,
                cameras_per_corridor: args.cameras_per_corridor,
                lanes: args.lanes,
                end: DateTime::from_timestamp(end.timestamp().div_euclid(60) * 60, 0)
                    .unwrap_or(end),
                seed: args.seed,
            };
            let result = bench::harness::seed_lanes::seed_lanes(&args.database_url, &cfg)?;
            let elapsed = started.elapsed().as_secs_f64();
            let json = serde_json::json!({"mode": "seed-lanes", "lane_rows": result.lane_rows,
                "camera_rows": result.camera_rows, "cameras": result.cameras, "days": args.days,
                "elapsed_s": elapsed});
            report::emit(
                &json,
                &format!(
                    "seed-lanes: {} lane rows and {} camera rows for {} cameras over {} days in {elapsed:.1} s",
                    result.lane_rows, result.camera_rows, result.cameras, args.days
                ),
            )
        }
        Command::SeedHistory(args) => {
            let started = std::time::Instant::now();
            let rows =
                bench::harness::seed::seed_history(&args.database_url, args.cameras, args.hours)?;
            let json = serde_json::json!({"mode": "seed-history", "rows": rows, "cameras": args.cameras, "hours": args.hours,
                "elapsed_s": started.elapsed().as_secs_f64()});
            report::emit(
                &json,
                &format!(
                    "seed-history: {rows} traffic_metrics rows for {} cameras over {} h",
                    args.cameras, args.hours
                ),
            )
        }
    }
}

//! `forecast`: trains a congestion model into a bundle, prints a bundle's report, and measures
//! serving latency. The work is in the library; this only parses arguments.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Parser, Subcommand};
use forecast::bundle::{self, Bundle};
use forecast::data::{self, LANE_TARGET};
use forecast::graph::{KernelConfig, Topology};
use forecast::serve::{ForecastRequest, Forecaster, ForecasterConfig, Observation};
use forecast::train::{self, TrainConfig};

#[derive(Parser)]
#[command(
    version,
    about = "STGCN lane congestion forecast: train, report, latency"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train from PostgreSQL lane history or from CSV files, write a model bundle.
    Train(Box<TrainArgs>),
    /// Print the report stored in a bundle.
    Evaluate {
        #[arg(long, env = "FORECAST_MODEL_DIR")]
        model_dir: PathBuf,
    },
    /// Time Forecaster::predict on synthetic recent data for every camera of a bundle.
    Latency {
        #[arg(long, env = "FORECAST_MODEL_DIR")]
        model_dir: PathBuf,
        #[arg(long, default_value_t = 1000)]
        requests: usize,
        #[arg(long, default_value_t = 1)]
        threads: i32,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// PostgreSQL with the pipeline's traffic_metrics lane rows.
    #[arg(long, env = "DATABASE_URL", conflicts_with_all = ["series_csv", "adjacency_csv"])]
    database_url: Option<String>,
    /// Only history at or after this time (RFC 3339).
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// Only history before this time (RFC 3339).
    #[arg(long)]
    to: Option<DateTime<Utc>>,
    /// Series CSV: header of node names, one column per node, one row per step.
    #[arg(long, requires = "adjacency_csv")]
    series_csv: Option<PathBuf>,
    /// Adjacency CSV: from,to,weight.
    #[arg(long, requires = "series_csv")]
    adjacency_csv: Option<PathBuf>,
    /// Step of a series CSV without a timestamp column.
    #[arg(long, default_value_t = 60)]
    step_seconds: i64,
    /// Bundle directory to write.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 15)]
    lookback: usize,
    #[arg(long, default_value_t = 10)]
    horizon: usize,
    /// `paper` (64/16/64 blocks, 128 output channels) or `small` (32/8/32, 64).
    #[arg(long, default_value = "paper")]
    size: String,
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    #[arg(long, default_value_t = 4)]
    patience: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-3)]
    learning_rate: f64,
    /// At most this many batches per epoch (a random subset of the training windows).
    #[arg(long)]
    max_batches: Option<usize>,
    #[arg(long, default_value_t = 0.9)]
    coverage: f64,
    /// Gaussian kernel σ in metres (default: mean neighbour distance).
    #[arg(long)]
    sigma_m: Option<f64>,
    /// Edges lighter than this are dropped.
    #[arg(long, default_value_t = 0.1)]
    epsilon: f64,
    /// libtorch intra-op threads (more only helps on otherwise idle cores).
    #[arg(long, default_value_t = 1)]
    threads: i32,
    #[arg(long, default_value_t = 42)]
    seed: i64,
    #[arg(long)]
    no_progress: bool,
}

fn main() -> anyhow::Result<()> {
    bootstrap::logging::init(bootstrap::Layout::Service, log::LevelFilter::Warn);
    match Cli::parse().command {
        Command::Train(args) => train_cmd(*args),
        Command::Evaluate { model_dir } => {
            let bundle = Bundle::load(&model_dir)
                .with_context(|| format!("loading {}", model_dir.display()))?;
            println!(
                "model {} (created {})",
                bundle.meta.model_version, bundle.meta.created_at
            );
            match bundle.report {
                Some(report) => print!("{}", report.table()),
                None => println!("the bundle has no training report"),
            }
            Ok(())
        }
        Command::Latency {
            model_dir,
            requests,
            threads,
        } => latency_cmd(model_dir, requests, threads),
    }
}

fn train_cmd(args: TrainArgs) -> anyhow::Result<()> {
    let (blocks, output_channels) = match args.size.as_str() {
        "paper" => (vec![[64, 16, 64], [64, 16, 64]], 128),
        "small" => (vec![[32, 8, 32], [32, 8, 32]], 64),
        other => bail!("--size must be paper or small, got {other:?}"),
    };
    let kernel = KernelConfig {
        sigma_m: args.sigma_m,
        epsilon: args.epsilon,
    };
    let loaded = Instant::now();
    let (series, topology, target_feature, clamp) =
        match (&args.database_url, &args.series_csv, &args.adjacency_csv) {
            (_, Some(series_path), Some(adjacency_path)) => {
                let series = data::load_series_csv(series_path, args.step_seconds)?;
                let edges = data::load_adjacency_csv(adjacency_path)?;
                let topology = Topology::from_edge_list(&series.nodes, &edges)?;
                (series, topology, 0, None)
            }
            (Some(url), None, None) => {
                let mut client = bootstrap::database::Database::parse(url)?
                    .connect()
                    .context("connecting to PostgreSQL")?;
                let (series, sites) = data::load_postgres(&mut client, args.from, args.to)?;
                let topology = Topology::from_cameras(&sites, kernel)?;
                // Congestion scores live in [0, 1].
                (series, topology, LANE_TARGET, Some([0.0, 1.0]))
            }
            _ => bail!(
                "give --database-url (or DATABASE_URL), or both --series-csv and --adjacency-csv"
            ),
        };
    eprintln!(
        "loaded {} nodes x {} steps ({} edges) in {:.1} s",
        series.nodes.len(),
        series.steps,
        topology.edges.len(),
        loaded.elapsed().as_secs_f64()
    );
    let cfg = TrainConfig {
        lookback: args.lookback,
        horizon: args.horizon,
        blocks,
        output_channels,
        max_epochs: args.epochs,
        patience: args.patience,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        max_batches_per_epoch: args.max_batches,
        coverage: args.coverage,
        target_feature,
        clamp,
        seed: args.seed,
        threads: args.threads,
        progress: !args.no_progress,
        ..TrainConfig::default()
    };
    let trained = train::train(&series, topology, &cfg)?;
    print!("{}", trained.report.table());
    let version = bundle::save(&trained, &args.out)?;
    println!("bundle {version} written to {}", args.out.display());
    Ok(())
}

fn latency_cmd(model_dir: PathBuf, requests: usize, threads: i32) -> anyhow::Result<()> {
    let bundle =
        Bundle::load(&model_dir).with_context(|| format!("loading {}", model_dir.display()))?;
    let nodes = bundle.topology.nodes.clone();
    let cameras: Vec<String> = bundle
        .topology
        .cameras()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    let (lookback, horizon, nf) = (
        bundle.meta.model.lookback as usize,
        bundle.meta.model.horizon as usize,
        bundle.meta.features.len(),
    );
    let mean = bundle.meta.scaler.mean.clone();
    let forecaster = Forecaster::start(
        bundle,
        ForecasterConfig {
            threads,
            ..ForecasterConfig::default()
        },
    )?;
    let now = Utc::now();
    let end = data::floor_minute(now);
    let observations: Vec<Observation> = nodes
        .iter()
        .flat_map(|n| {
            (1..=lookback).map(|m| Observation {
                camera_id: n.camera_id.clone(),
                lane_id: n.lane_id.clone(),
                minute: end - Duration::minutes(m as i64),
                values: mean[..nf].to_vec(),
            })
        })
        .collect();
    let mut times = Vec::with_capacity(requests);
    for i in 0..requests {
        let req = ForecastRequest {
            camera_id: cameras[i % cameras.len()].clone(),
            horizon_minutes: horizon,
            lookback_minutes: lookback,
            now,
            observations: observations.clone(),
        };
        let t = Instant::now();
        let resp = forecaster.predict(&req)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if i == 0 {
            println!(
                "first answer: method {:?}, {} lanes",
                resp.method,
                resp.lanes.len()
            );
        }
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
    println!(
        "{} requests over {} nodes ({} threads): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        requests,
        nodes.len(),
        threads,
        q(0.5),
        q(0.99),
        times[times.len() - 1]
    );
    Ok(())
}

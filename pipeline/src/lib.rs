//! The stream processor: B1 detections from Kafka to window metrics, congestion and alerts in
//! PostgreSQL, on a timely dataflow.
//!
//! The data's path, module by module:
//! - [`source::kafka`]: each worker reads its share of the topic's partitions and stamps what it
//!   read with the current ingest epoch, then marks the positions reached.
//! - `operators::dataflow` (the `operators` crate): decode/validate, then route by camera to speed
//!   estimation, event-time windows, congestion and alerts.
//! - [`sink`]: worker 0 gathers each completed epoch and a dedicated thread commits raw events
//!   (binary COPY), window upserts, alerts, camera checkpoints and the Kafka positions in one
//!   transaction, then NOTIFY fires.
//! - [`resume`]: on start, positions and camera states come back from that same transaction.
//! - [`settings_listener`]: thresholds and calibration follow the database without a restart.
//! - [`retention`]: day partitions dropped or trimmed on a timer, or by `pipeline sweep`.
//! - [`telemetry`]: JSON logs and the Prometheus endpoint. [`config`]: the environment.
//! - [`shutdown`]: SIGTERM stops reading, drains the dataflow, commits, exits.

pub mod config;
pub mod error;
pub mod lease;
pub mod resume;
pub mod retention;
pub mod settings_listener;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod supervision;
pub mod telemetry;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use operators::dataflow::{CameraWindows, DecodeDetections, Epoch, GatherCompleted, StateNote};
use operators::event::DropReason;
use operators::settings::{Settings, SharedSettings};
use timely::dataflow::operators::vec::Map;
use timely::dataflow::operators::{Concat, Inspect};

pub use config::Config;
pub use error::PipelineError;
pub use shutdown::Shutdown;

use sink::postgres::{PostgresSink, QuarantineOutlets, SinkConfig};
use sink::{CommitBatch, SinkItem};
use source::refetch::Refetch;
use source::{kafka_source, KafkaSourceConfig};
use supervision::Supervisor;
use telemetry::{Health, PipelineMetrics};

/// Connects, retrying for up to `patience` so the pipeline can start before its database.
pub fn connect_database(
    url: &str,
    patience: Duration,
    shutdown: &Shutdown,
) -> Result<postgres::Client, PipelineError> {
    let started = Instant::now();
    loop {
        match postgres::Client::connect(url, postgres::NoTls) {
            Ok(client) => return Ok(client),
            Err(source) if started.elapsed() >= patience || shutdown.is_triggered() => {
                return Err(PipelineError::Connect {
                    url: config::redact_url(url),
                    source,
                })
            }
            Err(e) => {
                log::warn!(
                    "database_unavailable url={} error={e}; retrying",
                    config::redact_url(url)
                );
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// `pipeline migrate`: applies the migrations and reports what changed.
pub fn migrate(config: &Config) -> Result<Vec<i32>, PipelineError> {
    let mut client = connect_database(
        &config.database_url,
        Duration::from_secs(30),
        &Shutdown::new(),
    )?;
    Ok(migrations::apply(&mut client)?)
}

/// `pipeline sweep`: one retention pass.
pub fn sweep_once(config: &Config) -> Result<retention::SweepReport, PipelineError> {
    let mut client = connect_database(
        &config.database_url,
        Duration::from_secs(30),
        &Shutdown::new(),
    )?;
    migrations::apply(&mut client)?;
    let policy = retention::RetentionPolicy::new(
        config.retention_events_hours,
        config.retention_metrics_days,
    );
    Ok(retention::sweep(&mut client, policy)?)
}

/// Whether this process commits: the single process, or process 0 of a timely cluster.
fn is_committer_process(config: &timely::Config) -> bool {
    match &config.communication {
        timely::CommunicationConfig::Cluster { process, .. } => *process == 0,
        _ => true,
    }
}

/// Runs the pipeline until `shutdown` fires, then drains and commits. `timely_args` are timely's
/// own flags (`-w`, `-n`, `-p`, `-h`).
pub fn run(
    config: Config,
    shutdown: Shutdown,
    timely_args: Vec<String>,
) -> Result<(), PipelineError> {
    let timely_config =
        timely::Config::from_args(timely_args.into_iter()).map_err(PipelineError::TimelyArgs)?;
    let committer = is_committer_process(&timely_config);
    supervision::exit_on_panic();
    let metrics = Arc::new(PipelineMetrics::new());
    let health = Arc::new(Health::new(config.health_stall_after));
    let io = |what| move |source| PipelineError::Io { what, source };
    // The endpoint outlives the drain, so /health can say why the process is stopping.
    let http_stop = Shutdown::new();
    let (metrics_addr, metrics_http) = telemetry::http::serve(
        config.metrics_addr,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
        http_stop.clone(),
    )
    .map_err(io("the metrics endpoint"))?;
    log::info!("metrics_listening url=http://{metrics_addr}/metrics");

    let result = run_dataflow(
        config,
        shutdown.clone(),
        timely_config,
        committer,
        metrics,
        health,
    );
    http_stop.trigger();
    let _ = metrics_http.join();
    match (shutdown.failure(), result) {
        (Some(reason), _) => Err(PipelineError::Failed(reason)),
        (None, result) => result,
    }
}

fn run_dataflow(
    config: Config,
    shutdown: Shutdown,
    timely_config: timely::Config,
    committer: bool,
    metrics: Arc<PipelineMetrics>,
    health: Arc<Health>,
) -> Result<(), PipelineError> {
    let mut client = connect_database(&config.database_url, Duration::from_secs(60), &shutdown)?;
    let applied = migrations::apply(&mut client)?;
    if !applied.is_empty() {
        log::info!("migrations_applied versions={applied:?}");
    }
    let base = Settings {
        default_metres_per_pixel: config.pixel_to_meter,
        default_free_flow_kmh: config.free_flow_speed_kmh,
        ..Settings::default()
    };
    let settings = SharedSettings::new(settings_listener::load(&mut client, &base)?);
    drop(client);
    // Only one pipeline per group commits: a second one waits here as a standby.
    let lease_release = Shutdown::new();
    let lease = if committer {
        health.standby();
        match lease::acquire(
            &config.database_url,
            &config.kafka_group_id,
            &shutdown,
            &lease_release,
        ) {
            Ok(lease) => Some(lease),
            Err(lease::LeaseError::Interrupted) => {
                log::info!("pipeline_stopped role=standby");
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    health.active();
    // Read after taking the lease: whatever the previous holder committed is in it.
    let mut client = connect_database(&config.database_url, Duration::from_secs(60), &shutdown)?;
    let resume = resume::load(&mut client, &config.kafka_group_id, &config.kafka_topic)?;
    drop(client);
    log::info!(
        "pipeline_starting topic={} group={} brokers={} database={} resume_partitions={} resume_cameras={} generation={}",
        config.kafka_topic,
        config.kafka_group_id,
        config.kafka_brokers,
        config.database_url_redacted(),
        resume.offsets.len(),
        resume.cameras.len(),
        lease.as_ref().map_or("-".to_owned(), |l| l.fence.generation.to_string())
    );

    let io = |what| move |source| PipelineError::Io { what, source };
    let supervisor = Supervisor::start(shutdown.clone(), Duration::from_secs(45))
        .map_err(io("the supervisor"))?;
    supervisor.watch(
        "settings listener",
        settings_listener::spawn(
            config.database_url.clone(),
            base,
            settings.clone(),
            shutdown.clone(),
        )
        .map_err(io("the settings listener"))?,
    );
    supervisor.watch(
        "retention",
        retention::spawn(
            config.database_url.clone(),
            retention::RetentionPolicy::new(
                config.retention_events_hours,
                config.retention_metrics_days,
            ),
            config.retention_interval,
            shutdown.clone(),
        )
        .map_err(io("the retention thread"))?,
    );
    let fence = lease.as_ref().map(|l| l.fence);
    if let Some(lease) = lease {
        supervisor.watch("lease keeper", lease.into_thread());
    }

    let source_config = KafkaSourceConfig {
        brokers: config.kafka_brokers.clone(),
        topic: config.kafka_topic.clone(),
        group_id: config.kafka_group_id.clone(),
        properties: config.kafka_properties.clone(),
        epoch: config.checkpoint_interval,
        max_poll_records: config.max_poll_records,
        max_pending_epochs: config.max_pending_epochs,
        topic_wait: Duration::from_secs(120),
        offset_reset: config.kafka_offset_reset_policy,
    };
    let refetch = Refetch {
        brokers: config.kafka_brokers.clone(),
        topic: config.kafka_topic.clone(),
        group_id: config.kafka_group_id.clone(),
        properties: config.kafka_properties.clone(),
    };
    let windows_config = config.camera_windows();
    let offsets = Arc::new(resume.offsets);
    let cameras = Arc::new(resume.cameras);
    let committed_epoch = Arc::new(AtomicU64::new(u64::MAX / 2));
    let worker_shutdown = shutdown.clone();
    let worker_metrics = metrics.clone();
    let dead_letter_topic = config.dead_letter_topic.clone();
    let time_bounds = config.event_time_bounds;
    let database_url = config.database_url.clone();
    let group_id = config.kafka_group_id.clone();
    let topic = config.kafka_topic.clone();

    let guards = timely::execute(timely_config, move |worker| {
        let index = worker.index();
        let sink = if index == 0 {
            let fence = fence.ok_or("worker 0 runs in a process without the lease")?;
            // Reading may run `max_pending_epochs` ahead of the last commit, counted from now.
            let now = source::kafka::epoch_at(std::time::SystemTime::now(), source_config.epoch);
            committed_epoch.store(now, std::sync::atomic::Ordering::Relaxed);
            let dead_letter = match &dead_letter_topic {
                Some(topic) => Some(
                    source::dead_letter::DeadLetter::new(&source_config.brokers, topic, &source_config.properties)
                        .map_err(|e| e.to_string())?,
                ),
                None => None,
            };
            let sink_config = SinkConfig {
                database_url: database_url.clone(),
                group_id: group_id.clone(),
                topic: topic.clone(),
                shutdown_grace: Duration::from_secs(30),
                max_rows_per_commit: 200_000,
                fence,
            };
            let outlets = QuarantineOutlets {
                refetch: Some(refetch.clone()),
                dead_letter,
            };
            Some(
                PostgresSink::spawn(sink_config, worker_metrics.clone(), health.clone(), committed_epoch.clone(), outlets, worker_shutdown.clone())
                    .map_err(|e| e.to_string())?,
            )
        } else {
            None
        };
        let sender = sink.as_ref().map(PostgresSink::sender);
        let built = worker.dataflow::<Epoch, _, _>(|scope| {
            let (records, marks) = kafka_source(
                scope,
                &source_config,
                &offsets,
                worker_metrics.clone(),
                worker_shutdown.clone(),
                committed_epoch.clone(),
            )?;
            let drop_metrics = worker_metrics.clone();
            let mut drop_log = telemetry::logging::RateLimited::new("pipeline::decode", Duration::from_secs(5));
            let mut dead_letter_log =
                telemetry::logging::RateLimited::new("pipeline::dead_letter", Duration::from_secs(5));
            let dead_letter = match &dead_letter_topic {
                Some(topic) => Some(
                    source::dead_letter::DeadLetter::new(&source_config.brokers, topic, &source_config.properties)
                        .map_err(source::SourceError::Client)?,
                ),
                None => None,
            };
            let processed = worker_metrics.clone();
            let detections = records
                .decode_detections(time_bounds, move |error, record| {
                    drop_metrics.dropped(error.reason);
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
                            dead_letter_log.warn(|n| format!("dead_letter_failed error={e} suppressed={n}"));
                        }
                    }
                })
                .inspect_core(move |event| {
                    if let Ok((_, batch)) = event {
                        processed.events_processed.inc_by(batch.len() as u64);
                    }
                });
            let late_metrics = worker_metrics.clone();
            let outputs = detections.camera_windows(
                marks.clone(),
                windows_config.clone(),
                settings.clone(),
                cameras.clone(),
                move |note| match note {
                    StateNote::Late(_) => late_metrics.dropped(DropReason::Late),
                    StateNote::LaneCapped => late_metrics.capped("lanes_per_window"),
                    StateNote::TrackCapped => late_metrics.capped("tracks_per_camera"),
                    StateNote::Evicted(camera_id) => {
                        late_metrics.cameras_evicted.inc();
                        log::info!("camera_evicted camera_id={camera_id}");
                    }
                },
            );
            let sender = sender.clone();
            outputs
                .map(SinkItem::Output)
                .concat(marks.map(SinkItem::Mark))
                .gather_completed("PostgresSink", move |epoch, items| {
                    if let Some(sender) = &sender {
                        if sender.send(CommitBatch::from_items(epoch, items)).is_err() {
                            log::error!("sink_channel_closed epoch={epoch}");
                        }
                    }
                });
            Ok::<_, source::SourceError>(())
        });
        drop(sender);
        if let Err(e) = built {
            worker_shutdown.trigger();
            return Err(e.to_string());
        }
        while worker.step_or_park(Some(Duration::from_millis(20))) {}
        match sink {
            Some(sink) => sink.finish().map_err(|e| e.to_string()),
            None => Ok(()),
        }
    })
    .map_err(PipelineError::Worker)?;

    let mut failure = None;
    for result in guards.join() {
        if let Err(e) = result {
            log::error!("worker_failed error={e}");
            failure.get_or_insert(e);
        }
    }
    shutdown.trigger();
    // Everything is committed: a standby may take over now.
    lease_release.trigger();
    supervisor.stop();
    match failure {
        Some(e) => Err(PipelineError::Worker(e)),
        None => {
            log::info!("pipeline_stopped");
            Ok(())
        }
    }
}

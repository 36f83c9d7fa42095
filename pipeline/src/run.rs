//! `pipeline run`, step by step: serve the metrics endpoint, prepare the database, take the
//! lease (or wait as a standby), read the resume point, start the background threads, run the
//! timely workers, and release the lease once everything is committed.

use std::sync::Arc;
use std::time::Duration;

use operators::settings::{Settings, SharedSettings};

use crate::commands::connect_database;
use crate::lease::{self, Fence, Lease};
use crate::resume::{self, ResumePoint};
use crate::supervision::Supervisor;
use crate::telemetry::{self, Health, PipelineMetrics};
use crate::worker::WorkerPlan;
use crate::{retention, settings_listener, Config, PipelineError, Shutdown};

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
    crate::supervision::exit_on_panic();
    let metrics = Arc::new(PipelineMetrics::new());
    let health = Arc::new(Health::new(config.health_stall_after));
    // The endpoint outlives the drain, so /health can say why the process is stopping.
    let http_stop = Shutdown::new();
    let (metrics_addr, metrics_http) = telemetry::http::serve(
        config.metrics_addr,
        metrics.clone(),
        health.clone(),
        shutdown.clone(),
        http_stop.clone(),
    )
    .map_err(io_error("the metrics endpoint"))?;
    log::info!("metrics_listening url=http://{metrics_addr}/metrics");

    let process = Process {
        config,
        shutdown: shutdown.clone(),
        committer,
        metrics,
        health,
    };
    let result = process.run(timely_config);
    http_stop.trigger();
    let _ = metrics_http.join();
    match (shutdown.failure(), result) {
        (Some(reason), _) => Err(PipelineError::Failed(reason)),
        (None, result) => result,
    }
}

fn io_error(what: &'static str) -> impl Fn(std::io::Error) -> PipelineError {
    move |source| PipelineError::Io { what, source }
}

/// Whether this process commits: the single process, or process 0 of a timely cluster.
fn is_committer_process(config: &timely::Config) -> bool {
    match &config.communication {
        timely::CommunicationConfig::Cluster { process, .. } => *process == 0,
        _ => true,
    }
}

/// What every step of a run shares.
struct Process {
    config: Config,
    shutdown: Shutdown,
    committer: bool,
    metrics: Arc<PipelineMetrics>,
    health: Arc<Health>,
}

impl Process {
    fn run(self, timely_config: timely::Config) -> Result<(), PipelineError> {
        let (base, settings) = self.prepare_database()?;
        // Released only once everything is committed: a standby may take over then.
        let lease_release = Shutdown::new();
        let Some(lease) = self.take_lease(&lease_release)? else {
            log::info!("pipeline_stopped role=standby");
            return Ok(());
        };
        let resume = self.read_resume_point(lease.as_ref())?;
        let fence = lease.as_ref().map(|l| l.fence);
        let supervisor = self.start_background_threads(base, &settings, lease)?;
        let plan = self.worker_plan(settings, resume, fence);
        let result = run_workers(timely_config, plan);
        self.shutdown.trigger();
        lease_release.trigger();
        supervisor.stop();
        if result.is_ok() {
            log::info!("pipeline_stopped");
        }
        result
    }

    /// Applies the migrations and reads the run-time settings.
    fn prepare_database(&self) -> Result<(Settings, SharedSettings), PipelineError> {
        let mut client = connect_database(
            &self.config.database,
            Duration::from_secs(60),
            &self.shutdown,
        )?;
        let applied = migrations::apply(&mut client)?;
        if !applied.is_empty() {
            log::info!("migrations_applied versions={applied:?}");
        }
        let base = Settings {
            default_metres_per_pixel: self.config.pixel_to_meter,
            default_free_flow_kmh: self.config.free_flow_speed_kmh,
            ..Settings::default()
        };
        let settings = SharedSettings::new(settings_listener::load(&mut client, &base)?);
        Ok((base, settings))
    }

    /// Only one pipeline per group commits: a second one waits here as a standby. `None`: the
    /// process stopped while waiting; `Some(None)`: this process does not commit, no lease.
    fn take_lease(&self, release: &Shutdown) -> Result<Option<Option<Lease>>, PipelineError> {
        if !self.committer {
            self.health.active();
            return Ok(Some(None));
        }
        self.health.standby();
        match lease::acquire(
            &self.config.database,
            &self.config.kafka_group_id,
            &self.shutdown,
            release,
        ) {
            Ok(lease) => {
                self.health.active();
                Ok(Some(Some(lease)))
            }
            Err(lease::LeaseError::Interrupted) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Read after taking the lease: whatever the previous holder committed is in it.
    fn read_resume_point(&self, lease: Option<&Lease>) -> Result<ResumePoint, PipelineError> {
        let config = &self.config;
        let mut client =
            connect_database(&config.database, Duration::from_secs(60), &self.shutdown)?;
        let resume = resume::load(&mut client, &config.kafka_group_id, &config.kafka_topic)?;
        log::info!(
            "pipeline_starting topic={} group={} brokers={} database={} resume_partitions={} resume_cameras={} generation={}",
            config.kafka_topic,
            config.kafka_group_id,
            config.kafka_brokers,
            config.database,
            resume.offsets.len(),
            resume.cameras.len(),
            lease.map_or("-".to_owned(), |l| l.fence.generation.to_string())
        );
        Ok(resume)
    }

    /// The settings listener, retention and the lease keeper, each watched: one that ends
    /// before shutdown fails the process.
    fn start_background_threads(
        &self,
        base: Settings,
        settings: &SharedSettings,
        lease: Option<Lease>,
    ) -> Result<Supervisor, PipelineError> {
        let config = &self.config;
        let supervisor = Supervisor::start(self.shutdown.clone(), Duration::from_secs(45))
            .map_err(io_error("the supervisor"))?;
        supervisor.watch(
            "settings listener",
            settings_listener::spawn(
                config.database.clone(),
                base,
                settings.clone(),
                self.shutdown.clone(),
            )
            .map_err(io_error("the settings listener"))?,
        );
        supervisor.watch(
            "retention",
            retention::spawn(
                config.database.clone(),
                retention::RetentionPolicy::new(
                    config.retention_events_hours,
                    config.retention_metrics_days,
                ),
                config.retention_interval,
                self.shutdown.clone(),
            )
            .map_err(io_error("the retention thread"))?,
        );
        if let Some(lease) = lease {
            supervisor.watch("lease keeper", lease.into_thread());
        }
        Ok(supervisor)
    }

    fn worker_plan(
        &self,
        settings: SharedSettings,
        resume: ResumePoint,
        fence: Option<Fence>,
    ) -> WorkerPlan {
        WorkerPlan::new(
            &self.config,
            settings,
            resume,
            fence,
            self.metrics.clone(),
            self.health.clone(),
            self.shutdown.clone(),
        )
    }
}

/// Runs every worker of this process to the end; the first failure is the run's.
fn run_workers(timely_config: timely::Config, plan: WorkerPlan) -> Result<(), PipelineError> {
    let guards = timely::execute(timely_config, move |worker| plan.run(worker))
        .map_err(PipelineError::Worker)?;
    let mut failure = None;
    for result in guards.join() {
        if let Err(e) = result {
            log::error!("worker_failed error={e}");
            failure.get_or_insert(e);
        }
    }
    match failure {
        Some(e) => Err(PipelineError::Worker(e)),
        None => Ok(()),
    }
}

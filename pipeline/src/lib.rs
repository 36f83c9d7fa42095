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
//!
//! Around them: `run` is `pipeline run` step by step (database, lease, resume point,
//! background threads, workers), `worker` what each timely worker builds and runs, and
//! `commands` the one-shot `migrate` and `sweep`. [`lease`] makes one pipeline per group the
//! committer, [`supervision`] ends the process when a thread dies.

mod commands;
pub mod config;
pub mod error;
pub mod lease;
pub mod resume;
pub mod retention;
mod run;
pub mod settings_listener;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod supervision;
pub mod telemetry;
mod worker;

pub use commands::{connect_database, migrate, sweep_once};
pub use config::Config;
pub use error::PipelineError;
pub use run::run;
pub use shutdown::Shutdown;

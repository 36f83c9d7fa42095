//! The one-shot commands (`pipeline migrate`, `pipeline sweep`) and the patient connection
//! every part of the pipeline opens its database with.

use std::time::{Duration, Instant};

use bootstrap::database::Database;

use crate::{retention, Config, PipelineError, Shutdown};

/// Connects, retrying for up to `patience` so the pipeline can start before its database.
pub fn connect_database(
    database: &Database,
    patience: Duration,
    shutdown: &Shutdown,
) -> Result<postgres::Client, PipelineError> {
    let started = Instant::now();
    loop {
        match database.connect() {
            Ok(client) => return Ok(client),
            Err(source)
                if started.elapsed() >= patience
                    || shutdown.is_triggered()
                    || bootstrap::database::is_tls_refusal(&source) =>
            {
                return Err(PipelineError::Connect {
                    url: database.to_string(),
                    source,
                })
            }
            Err(e) => {
                log::warn!("database_unavailable url={database} error={e}; retrying");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// `pipeline migrate`: applies the migrations and reports what changed.
pub fn migrate(config: &Config) -> Result<Vec<i32>, PipelineError> {
    let mut client = connect_database(&config.database, Duration::from_secs(30), &Shutdown::new())?;
    Ok(migrations::apply(&mut client)?)
}

/// `pipeline sweep`: one retention pass.
pub fn sweep_once(config: &Config) -> Result<retention::SweepReport, PipelineError> {
    let mut client = connect_database(&config.database, Duration::from_secs(30), &Shutdown::new())?;
    migrations::apply(&mut client)?;
    let policy = retention::RetentionPolicy::new(
        config.retention_events_hours,
        config.retention_metrics_days,
    );
    Ok(retention::sweep(&mut client, policy)?)
}

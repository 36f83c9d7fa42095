//! Retention (SRS 7): raw events for `RETENTION_EVENTS_HOURS`, metrics for `RETENTION_METRICS_DAYS`.
//! Tables are partitioned by day, so a sweep drops whole partitions and trims only the one that
//! straddles the cutoff (see `b2_retention_trim` in the migrations).

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::shutdown::Shutdown;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub events_deleted: i64,
    pub metrics_deleted: i64,
}

impl std::fmt::Display for SweepReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "events_deleted={} metrics_deleted={}",
            self.events_deleted, self.metrics_deleted
        )
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub events: Duration,
    pub metrics: Duration,
}

impl RetentionPolicy {
    pub fn new(events_hours: i64, metrics_days: i64) -> Self {
        Self {
            events: Duration::from_secs(events_hours.max(0) as u64 * 3600),
            metrics: Duration::from_secs(metrics_days.max(0) as u64 * 86_400),
        }
    }
}

/// Removes everything older than the policy allows, relative to the database clock.
pub fn sweep(
    client: &mut postgres::Client,
    policy: RetentionPolicy,
) -> Result<SweepReport, postgres::Error> {
    let events_secs = policy.events.as_secs_f64();
    let metrics_secs = policy.metrics.as_secs_f64();
    let mut tx = client.transaction()?;
    let row = tx.query_one(
        "SELECT b2_retention_trim('traffic_events', 'ts', now() - make_interval(secs => $1)),
                b2_retention_trim('traffic_metrics', 'window_start', now() - make_interval(secs => $2))",
        &[&events_secs, &metrics_secs],
    )?;
    tx.commit()?;
    Ok(SweepReport {
        events_deleted: row.get(0),
        metrics_deleted: row.get(1),
    })
}

/// Sweeps every `interval` until shutdown.
pub fn spawn(
    database: bootstrap::database::Database,
    policy: RetentionPolicy,
    interval: Duration,
    shutdown: Shutdown,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("retention".into())
        .spawn(move || {
            let mut next = Instant::now() + Duration::from_secs(5).min(interval);
            while !shutdown.is_triggered() {
                if Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                next = Instant::now() + interval;
                let result = database
                    .connect()
                    .and_then(|mut client| sweep(&mut client, policy));
                match result {
                    Ok(report) => log::info!("retention_sweep {report}"),
                    Err(e) => log::warn!("retention_sweep_failed error={e}"),
                }
            }
        })
}

//! Keeps the shared run-time settings current: reads thresholds and camera calibration at start,
//! then LISTENs for changes (the tables' triggers NOTIFY) on a connection of its own, reconnecting
//! with backoff and re-reading everything after a gap so no change is missed.

use bootstrap::database::Database;
use std::collections::HashMap;
use std::thread::JoinHandle;
use std::time::Duration;

use contract::Channel;
use fallible_iterator::FallibleIterator;
use operators::congestion::Thresholds;
use operators::settings::{CameraCalibration, Settings, SharedSettings};

use crate::shutdown::Shutdown;

/// Reads thresholds and calibration into `base` (defaults for what the tables leave unset).
pub fn load(client: &mut postgres::Client, base: &Settings) -> Result<Settings, postgres::Error> {
    let mut settings = base.clone();
    if let Some(row) = client.query_opt(
        "SELECT moderate, high, severe, speed_weight, density_weight, lane_capacity_per_window
         FROM congestion_thresholds WHERE id = 1",
        &[],
    )? {
        let thresholds = Thresholds {
            moderate: row.get(0),
            high: row.get(1),
            severe: row.get(2),
            speed_weight: row.get(3),
            density_weight: row.get(4),
            lane_capacity_per_window: row.get(5),
        };
        match thresholds.validate() {
            Ok(()) => settings.thresholds = thresholds,
            Err(e) => log::error!("thresholds_rejected error={e}; keeping the previous ones"),
        }
    }
    let mut cameras = HashMap::new();
    for row in client.query(
        "SELECT camera_id, metres_per_pixel, free_flow_speed_kmh, lanes FROM cameras",
        &[],
    )? {
        let lanes: Option<i32> = row.get(3);
        cameras.insert(
            row.get::<_, String>(0),
            CameraCalibration {
                metres_per_pixel: row.get(1),
                free_flow_kmh: row.get(2),
                lanes: lanes.and_then(|l| u32::try_from(l).ok()),
            },
        );
    }
    settings.cameras = cameras;
    Ok(settings)
}

pub fn spawn(
    database: Database,
    base: Settings,
    shared: SharedSettings,
    shutdown: Shutdown,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("settings-listener".into())
        .spawn(move || {
            let mut backoff = Duration::from_millis(200);
            while !shutdown.is_triggered() {
                match listen(&database, &base, &shared, &shutdown) {
                    Ok(()) => return,
                    Err(e) => {
                        log::warn!(
                            "settings_listener_disconnected retry_in_ms={} error={e}",
                            backoff.as_millis()
                        );
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                    }
                }
            }
        })
}

fn listen(
    database: &Database,
    base: &Settings,
    shared: &SharedSettings,
    shutdown: &Shutdown,
) -> Result<(), postgres::Error> {
    let mut client = database.connect()?;
    client.batch_execute(&Channel::listen_statement(&[
        Channel::Thresholds,
        Channel::Cameras,
    ]))?;
    // Anything changed while we were not listening is picked up here.
    apply(shared, load(&mut client, base)?);
    while !shutdown.is_triggered() {
        let mut changed = false;
        {
            let mut notifications = client.notifications();
            let mut iter = notifications.timeout_iter(Duration::from_millis(500));
            while let Some(n) = iter.next()? {
                log::debug!(
                    "settings_notification channel={} payload={}",
                    n.channel(),
                    n.payload()
                );
                changed = true;
            }
        }
        if changed {
            apply(shared, load(&mut client, base)?);
        } else if client.is_closed() {
            return client.batch_execute("SELECT 1");
        }
    }
    Ok(())
}

fn apply(shared: &SharedSettings, next: Settings) {
    if *shared.snapshot() != next {
        log::info!(
            "settings_applied moderate={} high={} severe={} cameras={}",
            next.thresholds.moderate,
            next.thresholds.high,
            next.thresholds.severe,
            next.cameras.len()
        );
        shared.replace(next);
    }
}

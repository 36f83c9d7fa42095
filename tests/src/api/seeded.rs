//! A database the read routes can answer from, filled the way production fills it.

use std::time::Duration;

use crate::db::TestDb;
use crate::process::PipelineSpec;
use crate::runs::wait_stored_exactly;
use crate::services::Broker;
use crate::traffic::{
    expected_camera_windows, produce, recent_start_ms, sim_config, simulate, valid_detections,
};

/// A database filled by the real pipeline from four minutes of simulated traffic on three
/// cameras with lanes and congestion episodes (so HIGH/SEVERE windows and alerts exist).
pub fn seeded_database(prefix: &str) -> TestDb {
    let broker = Broker::get();
    let db = TestDb::migrated(prefix);
    let topic = crate::unique_name("api");
    let messages = simulate(sim_config(3, 40.0, 3), recent_start_ms(10), 240_000);
    produce(&broker.brokers, &topic, 3, &messages);
    let detections = valid_detections(&messages);
    let windows = expected_camera_windows(&detections, 5_000).len();
    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic).start();
    wait_stored_exactly(&mut db.client(), detections.len(), windows);
    pipeline.terminate(Duration::from_secs(30));
    db
}

//! `/api/admin/*`: run-time congestion thresholds, zones, camera calibration and operator
//! broadcasts. The admin token has been checked (`middleware::auth`) before any handler
//! here runs.
//!
//! Changes reach the running pipeline through PostgreSQL: the `congestion_thresholds` and
//! `cameras` triggers NOTIFY `b2_thresholds` / `b2_cameras`, and broadcasts are a NOTIFY on
//! `b2_broadcast`, so this server never needs a connection to the pipeline itself.
//!
//! Bodies are validated here, before SQL, so that a bad value is a 422 naming the field rather
//! than a CHECK-constraint failure.
//!
//! - [`thresholds`], [`zones`], [`cameras`], [`broadcast`]: one resource each.
//! - [`fields`]: the checks bodies share (texts, the 422 naming a field).

pub(crate) mod broadcast;
pub(crate) mod cameras;
mod fields;
pub(crate) mod thresholds;
pub(crate) mod zones;

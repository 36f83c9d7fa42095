//! Values the unit tests of several modules build alike.

use crate::event::{BBox, Detection, VehicleClass};
use crate::metrics::CameraProfile;

/// A car of `camera` at `ts_ms` in a 20 px box, frame ids 100 ms apart.
pub(crate) fn car(
    camera: &str,
    ts_ms: i64,
    vehicle: &str,
    lane: Option<&str>,
    speed_kmh: Option<f64>,
) -> Detection {
    Detection {
        camera_id: camera.into(),
        ts_ms,
        frame_id: ts_ms / 100,
        vehicle_id: vehicle.into(),
        class: "car".into(),
        kind: VehicleClass::Car,
        confidence: 0.9,
        bbox: BBox {
            x: 10.0,
            y: 10.0,
            w: 20.0,
            h: 20.0,
        },
        lane_id: lane.map(str::to_owned),
        speed_kmh,
    }
}

/// 5 cm per pixel, 50 km/h free flow, lanes unknown.
pub(crate) fn profile() -> CameraProfile {
    CameraProfile {
        metres_per_pixel: 0.05,
        free_flow_kmh: 50.0,
        lanes: None,
    }
}

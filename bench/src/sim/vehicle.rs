//! One tracked vehicle and its kinematics.
//!
//! Positions are integrated from the speed in force at each frame, so the
//! pixel displacement between two consecutive detections, divided by the
//! time between their timestamps, gives back exactly the ground-truth
//! speed reported for the later one. That is the property the pipeline's
//! speed estimation is tested against, so positions carry no jitter.

use super::road::{VehicleClass, FRAME_WIDTH};

/// Floor on simulated speeds: stop-and-go traffic still creeps, and a
/// vehicle that never leaves the frame would pin the detection rate.
const MIN_SPEED_KMH: f64 = 4.0;

/// Pixels travelled per millisecond at `speed_kmh` under a calibration.
pub(crate) fn px_per_ms(speed_kmh: f64, metres_per_pixel: f64) -> f64 {
    speed_kmh / 3.6 / metres_per_pixel / 1000.0
}

/// Speed of a vehicle whose free-flow speed is `free_kmh` under a
/// congestion speed factor.
pub(crate) fn speed_under(free_kmh: f64, speed_factor: f64) -> f64 {
    (free_kmh * speed_factor).max(MIN_SPEED_KMH)
}

#[derive(Clone, Debug)]
pub(crate) struct Vehicle {
    pub(crate) id: String,
    pub(crate) class: VehicleClass,
    /// 1-based lane the vehicle drives in.
    pub(crate) lane: u32,
    pub(crate) free_speed_kmh: f64,
    /// Speed over the last frame interval (the ground truth).
    pub(crate) speed_kmh: f64,
    /// Bbox centroid; x grows in the direction of travel. Vehicles enter
    /// with their bbox touching the left border.
    pub(crate) cx: f64,
    pub(crate) cy: f64,
    pub(crate) w: f64,
    pub(crate) h: f64,
    pub(crate) confidence_base: f64,
}

impl Vehicle {
    /// Moves the vehicle over `dt_ms` at the speed the current conditions
    /// allow.
    pub(crate) fn step(&mut self, dt_ms: i64, speed_factor: f64, metres_per_pixel: f64) {
        self.speed_kmh = speed_under(self.free_speed_kmh, speed_factor);
        self.cx += px_per_ms(self.speed_kmh, metres_per_pixel) * dt_ms as f64;
    }

    /// Still detectable: the whole bbox is inside the frame. The detector
    /// does not report vehicles cut by the frame border, which also keeps
    /// every bbox within the frame without clipping it (clipping would
    /// shift the centroid and corrupt speed estimates at the edges).
    pub(crate) fn in_view(&self) -> bool {
        self.cx + self.w / 2.0 <= FRAME_WIDTH
    }

    /// Frames left in view (this one included) at the vehicle's free-flow
    /// speed. Deliberately not the current speed: see the camera module.
    pub(crate) fn free_flow_frames_left(&self, frame_ms: f64, metres_per_pixel: f64) -> f64 {
        let per_frame = px_per_ms(self.free_speed_kmh, metres_per_pixel) * frame_ms;
        let room = FRAME_WIDTH - self.w / 2.0 - self.cx;
        if room < 0.0 {
            0.0
        } else {
            (room / per_frame).floor() + 1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifty_kmh_at_default_calibration() {
        // 50 km/h = 13.89 m/s = 277.8 px/s at 0.05 m/px.
        let px_per_s = px_per_ms(50.0, 0.05) * 1000.0;
        assert!((px_per_s - 277.777).abs() < 0.01);
    }

    #[test]
    fn step_displacement_is_speed_times_time() {
        let mut v = Vehicle {
            id: "cam_01-v1".into(),
            class: VehicleClass::Car,
            lane: 1,
            free_speed_kmh: 36.0,
            speed_kmh: 36.0,
            cx: 0.0,
            cy: 0.0,
            w: 90.0,
            h: 36.0,
            confidence_base: 0.9,
        };
        v.step(100, 0.5, 0.05);
        // 18 km/h = 5 m/s = 100 px/s -> 10 px per 100 ms.
        assert!((v.cx - 10.0).abs() < 1e-9);
        assert_eq!(v.speed_kmh, 18.0);
    }
}

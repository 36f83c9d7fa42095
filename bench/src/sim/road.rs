//! What a B1 camera sees: a straight, top-down calibrated road segment
//! and the vehicle classes that drive along it.
//!
//! Sizes are physical (metres) and converted with the same metres-per-pixel
//! calibration the pipeline uses, so a bbox is as long as the vehicle it
//! boxes and a lane is as wide as a real lane. Without that, speeds derived
//! downstream from pixel displacement would not match the speeds we claim.

pub use operators::event::VehicleClass;
use rand::{Rng, RngExt};

/// Width of a B1 frame in pixels; traffic crosses it left to right.
pub const FRAME_WIDTH: f64 = 1920.0;
/// Height of a B1 frame in pixels; lanes are stacked vertically.
pub const FRAME_HEIGHT: f64 = 1080.0;

/// Width of one traffic lane in metres (a typical urban lane).
const LANE_WIDTH_M: f64 = 3.5;
/// Part of the frame height the road may use, so many lanes still fit.
const ROAD_MAX_HEIGHT_PX: f64 = 1000.0;
/// Fraction of the frame width, at each edge, where the lane classifier
/// gives up: partially visible vehicles near the borders get a null lane,
/// which is what makes roughly 80% of detections carry a lane id.
const LANE_UNCERTAIN_EDGE: f64 = 0.11;

/// The classes the simulated B1 detector emits (the decoder's `Other` stands for labels it does
/// not know), in the order of [`SimulatedClass::share_percent`].
pub const EMITTED_CLASSES: [VehicleClass; 5] = [
    VehicleClass::Car,
    VehicleClass::Truck,
    VehicleClass::Bus,
    VehicleClass::Motorcycle,
    VehicleClass::Bicycle,
];

/// A class drawn by its share of vehicles.
pub(crate) fn sample_class(rng: &mut impl Rng) -> VehicleClass {
    let mut pick = rng.random_range(0..100u32);
    for class in EMITTED_CLASSES {
        let share = class.share_percent();
        if pick < share {
            return class;
        }
        pick -= share;
    }
    VehicleClass::Car
}

/// How the simulator draws and sizes vehicles of each class.
pub trait SimulatedClass {
    /// Share of vehicles (not detections) of this class, in percent: an urban mix dominated
    /// by cars.
    fn share_percent(self) -> u32;
    /// Nominal (length, width) in metres; the bbox spans length along the direction of
    /// travel and width across it.
    fn footprint_m(self) -> (f64, f64);
    /// Free-flow desired speed range in km/h, all within the 40-60 km/h band (heavy vehicles
    /// in its lower half). Bicycles are kept in the band too, as fast riders: at realistic
    /// cycling speeds a lone bicycle makes a free-flowing lane look congested to a
    /// speed-ratio model.
    fn free_speed_kmh(self) -> (f64, f64);
    /// Typical detector confidence range: small, thin objects are harder.
    fn confidence_range(self) -> (f64, f64);
}

/// Per class: share (percent), footprint (m), free-flow speed range (km/h), confidence range.
/// `Other` is never emitted and behaves as a car.
type ClassFigures = (u32, (f64, f64), (f64, f64), (f64, f64));

fn figures(class: VehicleClass) -> ClassFigures {
    match class {
        VehicleClass::Car => (75, (4.5, 1.8), (44.0, 60.0), (0.80, 0.97)),
        VehicleClass::Truck => (10, (10.0, 2.5), (40.0, 52.0), (0.75, 0.95)),
        VehicleClass::Bus => (4, (12.0, 2.55), (40.0, 50.0), (0.78, 0.96)),
        VehicleClass::Motorcycle => (8, (2.2, 0.8), (45.0, 60.0), (0.60, 0.90)),
        VehicleClass::Bicycle => (3, (1.8, 0.6), (40.0, 44.0), (0.55, 0.88)),
        VehicleClass::Other => (0, (4.5, 1.8), (44.0, 60.0), (0.80, 0.97)),
    }
}

impl SimulatedClass for VehicleClass {
    fn share_percent(self) -> u32 {
        figures(self).0
    }

    fn footprint_m(self) -> (f64, f64) {
        figures(self).1
    }

    fn free_speed_kmh(self) -> (f64, f64) {
        figures(self).2
    }

    fn confidence_range(self) -> (f64, f64) {
        figures(self).3
    }
}

/// Geometry of one camera's road segment in pixel space.
#[derive(Clone, Debug)]
pub(crate) struct Road {
    lanes: u32,
    lane_height_px: f64,
    top_px: f64,
    metres_per_pixel: f64,
}

impl Road {
    pub(crate) fn new(lanes: u32, metres_per_pixel: f64) -> Self {
        let lanes = lanes.max(1);
        let lane_height_px =
            (LANE_WIDTH_M / metres_per_pixel).min(ROAD_MAX_HEIGHT_PX / f64::from(lanes));
        let top_px = (FRAME_HEIGHT - lane_height_px * f64::from(lanes)) / 2.0;
        Road {
            lanes,
            lane_height_px,
            top_px,
            metres_per_pixel,
        }
    }

    pub(crate) fn lanes(&self) -> u32 {
        self.lanes
    }

    /// Vertical centre of a 1-based lane.
    pub(crate) fn lane_centre_y(&self, lane: u32) -> f64 {
        self.top_px + (f64::from(lane) - 0.5) * self.lane_height_px
    }

    /// Bbox (w, h) in pixels for a vehicle of `class`, scaled by a
    /// per-vehicle factor so two cars are not pixel-identical. Height is
    /// capped to the lane so wide vehicles do not swallow neighbours.
    pub(crate) fn bbox_size(&self, class: VehicleClass, scale: f64) -> (f64, f64) {
        let (length, width) = class.footprint_m();
        let w = length * scale / self.metres_per_pixel;
        let h = (width * scale / self.metres_per_pixel).min(self.lane_height_px * 0.95);
        (w, h)
    }

    /// Whether the lane classifier reports a lane for a centroid at `x`.
    pub(crate) fn lane_visible(&self, x: f64) -> bool {
        let margin = FRAME_WIDTH * LANE_UNCERTAIN_EDGE;
        x >= margin && x < FRAME_WIDTH - margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn class_shares_add_up_to_one_hundred() {
        let total: u32 = EMITTED_CLASSES.iter().map(|c| c.share_percent()).sum();
        assert_eq!(total, 100);
    }

    #[test]
    fn class_sampling_follows_the_mix() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 20_000;
        let cars = (0..n)
            .filter(|_| sample_class(&mut rng) == VehicleClass::Car)
            .count();
        let share = cars as f64 / f64::from(n);
        assert!((share - 0.75).abs() < 0.02, "car share {share}");
    }

    #[test]
    fn lanes_fit_in_the_frame() {
        for lanes in [1, 3, 6, 20] {
            let road = Road::new(lanes, 0.05);
            assert!(road.lane_centre_y(1) > 0.0);
            assert!(road.lane_centre_y(lanes) < FRAME_HEIGHT);
        }
    }
}

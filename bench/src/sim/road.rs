//! What a B1 camera sees: a straight, top-down calibrated road segment
//! and the vehicle classes that drive along it.
//!
//! Sizes are physical (metres) and converted with the same metres-per-pixel
//! calibration the pipeline uses, so a bbox is as long as the vehicle it
//! boxes and a lane is as wide as a real lane. Without that, speeds derived
//! downstream from pixel displacement would not match the speeds we claim.

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

/// Vehicle classes the B1 detector emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VehicleClass {
    Car,
    Truck,
    Bus,
    Motorcycle,
    Bicycle,
}

impl VehicleClass {
    /// All classes, in the order of [`VehicleClass::share_percent`].
    pub const ALL: [VehicleClass; 5] = [
        VehicleClass::Car,
        VehicleClass::Truck,
        VehicleClass::Bus,
        VehicleClass::Motorcycle,
        VehicleClass::Bicycle,
    ];

    /// The wire name used in the `class` field.
    pub fn as_str(self) -> &'static str {
        match self {
            VehicleClass::Car => "car",
            VehicleClass::Truck => "truck",
            VehicleClass::Bus => "bus",
            VehicleClass::Motorcycle => "motorcycle",
            VehicleClass::Bicycle => "bicycle",
        }
    }

    /// Share of vehicles (not detections) of this class, in percent: an
    /// urban mix dominated by cars.
    pub fn share_percent(self) -> u32 {
        match self {
            VehicleClass::Car => 75,
            VehicleClass::Truck => 10,
            VehicleClass::Bus => 4,
            VehicleClass::Motorcycle => 8,
            VehicleClass::Bicycle => 3,
        }
    }

    pub(crate) fn sample(rng: &mut impl Rng) -> Self {
        let mut pick = rng.random_range(0..100u32);
        for class in Self::ALL {
            let share = class.share_percent();
            if pick < share {
                return class;
            }
            pick -= share;
        }
        VehicleClass::Car
    }

    /// Nominal (length, width) in metres; the bbox spans length along the
    /// direction of travel and width across it.
    fn footprint_m(self) -> (f64, f64) {
        match self {
            VehicleClass::Car => (4.5, 1.8),
            VehicleClass::Truck => (10.0, 2.5),
            VehicleClass::Bus => (12.0, 2.55),
            VehicleClass::Motorcycle => (2.2, 0.8),
            VehicleClass::Bicycle => (1.8, 0.6),
        }
    }

    /// Free-flow desired speed range in km/h, all within the 40-60 km/h
    /// band (heavy vehicles in its lower half). Bicycles are kept in the
    /// band too, as fast riders: at realistic cycling speeds a lone bicycle
    /// makes a free-flowing lane look congested to a speed-ratio model.
    pub(crate) fn free_speed_kmh(self) -> (f64, f64) {
        match self {
            VehicleClass::Car => (44.0, 60.0),
            VehicleClass::Truck => (40.0, 52.0),
            VehicleClass::Bus => (40.0, 50.0),
            VehicleClass::Motorcycle => (45.0, 60.0),
            VehicleClass::Bicycle => (40.0, 44.0),
        }
    }

    /// Typical detector confidence range: small, thin objects are harder.
    pub(crate) fn confidence_range(self) -> (f64, f64) {
        match self {
            VehicleClass::Car => (0.80, 0.97),
            VehicleClass::Truck => (0.75, 0.95),
            VehicleClass::Bus => (0.78, 0.96),
            VehicleClass::Motorcycle => (0.60, 0.90),
            VehicleClass::Bicycle => (0.55, 0.88),
        }
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
        let total: u32 = VehicleClass::ALL.iter().map(|c| c.share_percent()).sum();
        assert_eq!(total, 100);
    }

    #[test]
    fn class_sampling_follows_the_mix() {
        let mut rng = StdRng::seed_from_u64(3);
        let n = 20_000;
        let cars = (0..n)
            .filter(|_| VehicleClass::sample(&mut rng) == VehicleClass::Car)
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

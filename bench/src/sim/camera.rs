//! One camera's road segment: which vehicles are in view, when new ones
//! enter, and what the detector reports for each frame.
//!
//! Arrivals are driven by a detection budget rather than a fixed arrival
//! rate. The camera accumulates the detections it should have produced so
//! far and lets a vehicle in whenever that target exceeds what was already
//! emitted plus what the vehicles in view would still produce at free-flow
//! speed. Dwell times vary with class and congestion by a factor of ten, so
//! a fixed arrival rate would miss the configured detections-per-second by
//! a wide margin; the budget keeps the long-run rate exact.
//!
//! Projecting at free-flow rather than current speed is what lets a jam
//! build up: when traffic slows, vehicles already in view do not suddenly
//! look like a large debt that blocks all arrivals; instead the slower
//! vehicles' extra detections are paid back gradually, and the number in
//! view settles near the episode's density target.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::episodes::{mean_density_factor, EpisodeSchedule};
use super::road::{sample_class, Road, SimulatedClass, VehicleClass};
use super::vehicle::{px_per_ms, speed_under, Vehicle};
use super::{camera_id, stream_seed, SimConfig};

/// Relative spread of the reported speed around the true speed.
const SPEED_NOISE: f64 = 0.02;
/// Frame-to-frame wobble of the detector's confidence for one vehicle.
const CONFIDENCE_WOBBLE: f64 = 0.04;
/// Nominal free-flow speed used to size arrival jitter.
const NOMINAL_SPEED_KMH: f64 = 50.0;

/// What the detector reports for one vehicle in one frame.
#[derive(Clone, Debug)]
pub(crate) struct Detection {
    pub(crate) vehicle_id: String,
    pub(crate) class: VehicleClass,
    pub(crate) confidence: f64,
    /// Top-left corner and size, in pixels.
    pub(crate) bbox: [f64; 4],
    pub(crate) true_lane: u32,
    /// Lane the classifier reports, `None` near the frame edges.
    pub(crate) seen_lane: Option<u32>,
    pub(crate) true_speed_kmh: f64,
    pub(crate) measured_speed_kmh: f64,
}

/// All detections of one camera frame.
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    pub(crate) camera: usize,
    pub(crate) ts_ms: i64,
    pub(crate) frame_id: u64,
    pub(crate) detections: Vec<Detection>,
}

#[derive(Debug)]
pub(crate) struct Camera {
    index: usize,
    id: String,
    rng: StdRng,
    road: Road,
    schedule: EpisodeSchedule,
    vehicles: Vec<Vehicle>,
    vehicles_created: u64,
    frame_base: u64,
    last_ts_ms: Option<i64>,
    /// Detections per second in free flow, before the density factor.
    free_rate: f64,
    target_detections: f64,
    emitted_detections: u64,
    spawn_threshold: f64,
    nominal_cost: f64,
    frame_ms: f64,
    metres_per_pixel: f64,
}

impl Camera {
    pub(crate) fn new(index: usize, config: &SimConfig, start_ms: i64) -> Self {
        let mut rng = StdRng::seed_from_u64(stream_seed(config.seed, index as u64, 0));
        let frame_ms = 1000.0 / config.fps;
        let road = Road::new(config.lanes_per_camera, config.metres_per_pixel);
        let nominal_cost = super::road::FRAME_WIDTH
            / (px_per_ms(NOMINAL_SPEED_KMH, config.metres_per_pixel) * frame_ms);
        let frame_base = rng.random_range(1_000..1_000_000u64);
        let mut camera = Camera {
            index,
            id: camera_id(index),
            schedule: EpisodeSchedule::new(
                config.congestion,
                config.seed,
                index,
                config.cameras,
                start_ms,
            ),
            road,
            vehicles: Vec::new(),
            vehicles_created: 0,
            frame_base,
            last_ts_ms: None,
            free_rate: config.rate / mean_density_factor(config.congestion),
            target_detections: 0.0,
            emitted_detections: 0,
            spawn_threshold: 0.0,
            nominal_cost,
            frame_ms,
            metres_per_pixel: config.metres_per_pixel,
            rng,
        };
        camera.spawn_threshold = camera.draw_threshold();
        camera
    }

    /// Headway jitter: without it arrivals would be perfectly periodic.
    fn draw_threshold(&mut self) -> f64 {
        self.rng.random_range(-0.5..0.5) * self.nominal_cost
    }

    /// Simulates the frame at `ts_ms` (`frame_no` frames after the start).
    pub(crate) fn tick(&mut self, ts_ms: i64, frame_no: u64) -> Frame {
        let conditions = self.schedule.conditions(ts_ms);
        let dt_ms = self
            .last_ts_ms
            .map_or(self.frame_ms.round() as i64, |last| ts_ms - last);
        self.last_ts_ms = Some(ts_ms);

        for vehicle in &mut self.vehicles {
            vehicle.step(dt_ms, conditions.speed_factor, self.metres_per_pixel);
        }
        self.vehicles.retain(Vehicle::in_view);

        self.target_detections +=
            self.free_rate * conditions.density_factor * dt_ms as f64 / 1000.0;
        let mut committed: f64 = self
            .vehicles
            .iter()
            .map(|v| v.free_flow_frames_left(self.frame_ms, self.metres_per_pixel))
            .sum();
        while self.free_rate > 0.0
            && self.target_detections - self.emitted_detections as f64 - committed
                >= self.spawn_threshold
        {
            let vehicle = self.spawn(conditions.speed_factor);
            committed += vehicle
                .free_flow_frames_left(self.frame_ms, self.metres_per_pixel)
                .max(1.0);
            self.vehicles.push(vehicle);
            self.spawn_threshold = self.draw_threshold();
        }

        let mut detections = Vec::with_capacity(self.vehicles.len());
        for i in 0..self.vehicles.len() {
            let detection = self.detect(i);
            detections.push(detection);
        }
        self.emitted_detections += detections.len() as u64;
        Frame {
            camera: self.index,
            ts_ms,
            frame_id: self.frame_base + frame_no,
            detections,
        }
    }

    fn spawn(&mut self, speed_factor: f64) -> Vehicle {
        self.vehicles_created += 1;
        let class = sample_class(&mut self.rng);
        let (lo, hi) = class.free_speed_kmh();
        let free_speed_kmh = self.rng.random_range(lo..hi);
        let speed_kmh = speed_under(free_speed_kmh, speed_factor);
        let (w, h) = self
            .road
            .bbox_size(class, self.rng.random_range(0.92..1.08));
        let lane = self.pick_lane();
        let (clo, chi) = class.confidence_range();
        // Became fully visible at some point between the previous frame and
        // this one.
        let step_px = px_per_ms(speed_kmh, self.metres_per_pixel) * self.frame_ms;
        let cx = round2(w) / 2.0 + self.rng.random_range(0.0..1.0) * step_px;
        Vehicle {
            id: format!("{}-v{}", self.id, self.vehicles_created),
            class,
            lane,
            free_speed_kmh,
            speed_kmh,
            cx,
            cy: self.road.lane_centre_y(lane),
            w: round2(w),
            h: round2(h),
            confidence_base: self.rng.random_range(clo..chi),
        }
    }

    /// The lane with the most room at the entry edge, ties broken at random,
    /// so vehicles rarely enter on top of each other.
    fn pick_lane(&mut self) -> u32 {
        let lanes = self.road.lanes();
        let mut room = vec![super::road::FRAME_WIDTH; lanes as usize];
        for v in &self.vehicles {
            let slot = &mut room[(v.lane - 1) as usize];
            *slot = slot.min(v.cx);
        }
        let best = room.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let candidates: Vec<u32> = (1..=lanes)
            .filter(|lane| room[(*lane - 1) as usize] >= best - 1e-9)
            .collect();
        candidates[self.rng.random_range(0..candidates.len())]
    }

    fn detect(&mut self, i: usize) -> Detection {
        // Draw every random number whatever the output options are, so
        // toggling lanes or speeds does not change the traffic itself.
        let wobble = self.rng.random_range(-CONFIDENCE_WOBBLE..CONFIDENCE_WOBBLE);
        let noise = self.rng.random_range(-SPEED_NOISE..SPEED_NOISE);
        let v = &self.vehicles[i];
        Detection {
            vehicle_id: v.id.clone(),
            class: v.class,
            confidence: round2((v.confidence_base + wobble).clamp(0.3, 0.99)),
            bbox: [round2(v.cx - v.w / 2.0), round2(v.cy - v.h / 2.0), v.w, v.h],
            true_lane: v.lane,
            seen_lane: self.road.lane_visible(v.cx).then_some(v.lane),
            true_speed_kmh: v.speed_kmh,
            measured_speed_kmh: (v.speed_kmh * (1.0 + noise) * 10.0).round() / 10.0,
        }
    }
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

//! Deterministic simulator of B1 traffic cameras.
//!
//! It produces the exact byte payloads a fleet of cameras would publish,
//! together with the ground truth behind every detection, so the pipeline
//! can be load-tested through Kafka and checked in-process against known
//! answers. Everything is a pure function of the configuration, the seed
//! and the start time: two simulators built alike emit identical messages
//! whatever step sizes they are advanced by.
//!
//! Physical model, in brief: each camera looks down on a straight road
//! segment (see [`road`]); vehicles enter at the left edge, keep to a lane
//! and cross the frame at their own speed, scaled down during recurring
//! congestion episodes (see the episodes module); each vehicle in view is
//! detected in every frame under the same id. Arrivals are paced so the configured
//! detections per second hold on average (see the camera module).

mod camera;
mod encode;
mod episodes;
mod jsonl;
mod malformed;
pub mod road;
mod vehicle;

#[cfg(test)]
mod tests;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use camera::Camera;
use encode::{encode_detections, encode_frame, WireOptions};

pub use encode::format_timestamp;
pub use jsonl::{generate_jsonl, write_jsonl, GenerateSummary};

/// What to simulate. Field defaults are those of [`SimConfig::default`].
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Number of cameras, named by [`camera_id`]. Default 4.
    pub cameras: usize,
    /// Average detections per second per camera over the long run.
    /// Default 10.
    pub rate: f64,
    /// Emit `lane_id` ("1".."N", null near the frame edges); absent when
    /// false. Default false.
    pub with_lanes: bool,
    /// Lanes on each camera's road. Default 3.
    pub lanes_per_camera: u32,
    /// Omit `speed_kmh` (the pipeline must estimate speed from bboxes).
    /// Default false.
    pub no_speed: bool,
    /// One envelope per camera frame instead of one message per detection.
    /// Default false.
    pub frames: bool,
    /// Fraction of messages replaced by malformed ones, 0..=1. Default 0.
    pub bad_ratio: f64,
    /// Seed of every random choice. Default 1.
    pub seed: u64,
    /// Camera frame rate. Default 10.
    pub fps: f64,
    /// Ground calibration; must equal the pipeline's so that pixel
    /// displacement converts back to the simulated speeds. Default 0.05.
    pub metres_per_pixel: f64,
    /// Recurring congestion episodes. Default true.
    pub congestion: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            cameras: 4,
            rate: 10.0,
            with_lanes: false,
            lanes_per_camera: 3,
            no_speed: false,
            frames: false,
            bad_ratio: 0.0,
            seed: 1,
            fps: 10.0,
            metres_per_pixel: 0.05,
            congestion: true,
        }
    }
}

/// A configuration value the simulator cannot honour.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid simulator setting `{field}`: {reason}")]
pub struct ConfigError {
    pub field: &'static str,
    pub reason: &'static str,
}

impl SimConfig {
    /// Checks the ranges [`Simulator::new`] would otherwise clamp.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field, reason| Err(ConfigError { field, reason });
        if self.cameras == 0 {
            return fail("cameras", "must be at least 1");
        }
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return fail("rate", "must be a finite number >= 0");
        }
        if self.lanes_per_camera == 0 {
            return fail("lanes_per_camera", "must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.bad_ratio) {
            return fail("bad_ratio", "must be between 0 and 1");
        }
        if !(self.fps.is_finite() && self.fps > 0.0 && self.fps <= 1000.0) {
            return fail("fps", "must be in (0, 1000]");
        }
        if !(self.metres_per_pixel.is_finite() && self.metres_per_pixel > 0.0) {
            return fail("metres_per_pixel", "must be a positive number");
        }
        Ok(())
    }

    fn clamped(mut self) -> Self {
        let d = SimConfig::default();
        self.cameras = self.cameras.max(1);
        self.lanes_per_camera = self.lanes_per_camera.max(1);
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            self.rate = 0.0;
        }
        self.bad_ratio = if self.bad_ratio.is_nan() {
            0.0
        } else {
            self.bad_ratio.clamp(0.0, 1.0)
        };
        if !(self.fps.is_finite() && self.fps > 0.0) {
            self.fps = d.fps;
        }
        self.fps = self.fps.min(1000.0);
        if !(self.metres_per_pixel.is_finite() && self.metres_per_pixel > 0.0) {
            self.metres_per_pixel = d.metres_per_pixel;
        }
        self
    }
}

/// How a message is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A single detection.
    Detection,
    /// A frame envelope with a `detections` array.
    Frame,
    /// Invalid under the B1 contract; the pipeline must reject it.
    Malformed,
}

/// Ground truth of one detection in a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Truth {
    pub vehicle_id: String,
    /// The lane as sent in the payload: `None` when lanes are off or the
    /// lane was reported as null. This is what a per-lane aggregate sees.
    pub lane_id: Option<String>,
    /// The lane the vehicle actually drives in (1-based), always known.
    pub true_lane: u32,
    /// Simulated speed over the interval ending at this detection, before
    /// measurement noise.
    pub true_speed_kmh: f64,
}

/// One Kafka message, ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct SimMessage {
    /// Kafka message key: the camera id, so a camera stays on one partition.
    pub key: String,
    pub payload: Vec<u8>,
    pub camera_id: String,
    /// Frame time the payload is stamped with (Unix ms).
    pub ts_ms: i64,
    pub kind: MessageKind,
    /// One entry per detection in the payload; empty for malformed ones.
    pub truths: Vec<Truth>,
}

/// Camera id of a 0-based camera index: `camera_id(0) == "cam_01"`.
pub fn camera_id(index: usize) -> String {
    format!("cam_{:02}", index + 1)
}

/// Derives an independent seed per stream (camera, purpose), so adding a
/// camera or enabling corruption leaves the other streams untouched.
pub(crate) fn stream_seed(seed: u64, a: u64, b: u64) -> u64 {
    fn splitmix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    splitmix(splitmix(splitmix(seed) ^ a) ^ b.rotate_left(32))
}

/// A fleet of simulated cameras sharing one clock.
#[derive(Debug)]
pub struct Simulator {
    config: SimConfig,
    cameras: Vec<Camera>,
    corruption: Vec<StdRng>,
    now_ms: i64,
    frame_ms: f64,
    first_frame: i64,
    next_frame: i64,
}

impl Simulator {
    /// Starts a simulation at `start_ms` (Unix ms) with an empty road.
    /// Out-of-range settings are clamped; use [`SimConfig::validate`] to
    /// reject them instead.
    pub fn new(config: SimConfig, start_ms: i64) -> Self {
        let config = config.clamped();
        let frame_ms = 1000.0 / config.fps;
        let cameras = (0..config.cameras)
            .map(|i| Camera::new(i, &config, start_ms))
            .collect();
        let corruption = (0..config.cameras)
            .map(|i| StdRng::seed_from_u64(stream_seed(config.seed, i as u64, 1)))
            .collect();
        let mut first_frame = (start_ms as f64 / frame_ms).floor() as i64;
        while frame_ts(first_frame, frame_ms) < start_ms {
            first_frame += 1;
        }
        Simulator {
            config,
            cameras,
            corruption,
            now_ms: start_ms,
            frame_ms,
            first_frame,
            next_frame: first_frame,
        }
    }

    /// The (clamped) configuration in use.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Advances simulated time by dt_ms and returns the messages produced
    /// in that interval (frames at `now <= ts < now + dt_ms`), ordered by
    /// (ts_ms, camera index). A negative `dt_ms` is treated as zero.
    pub fn advance(&mut self, dt_ms: i64) -> Vec<SimMessage> {
        let end = self.now_ms.saturating_add(dt_ms.max(0));
        let mut out = Vec::new();
        let opts = WireOptions {
            with_lanes: self.config.with_lanes,
            with_speed: !self.config.no_speed,
        };
        loop {
            let ts = frame_ts(self.next_frame, self.frame_ms);
            if ts >= end {
                break;
            }
            let frame_no = (self.next_frame - self.first_frame) as u64;
            for (camera, corruption) in self.cameras.iter_mut().zip(&mut self.corruption) {
                let frame = camera.tick(ts, frame_no);
                let encoded = if self.config.frames {
                    encode_frame(&frame, opts).into_iter().collect()
                } else {
                    encode_detections(&frame, opts)
                };
                let cam = camera_id(frame.camera);
                for message in encoded {
                    let bad = corruption.random_bool(self.config.bad_ratio);
                    let (payload, kind, truths) = if bad {
                        let payload = malformed::corrupt(&message.payload, corruption);
                        (payload, MessageKind::Malformed, Vec::new())
                    } else {
                        (message.payload, message.kind, message.truths)
                    };
                    out.push(SimMessage {
                        key: cam.clone(),
                        payload,
                        camera_id: cam.clone(),
                        ts_ms: ts,
                        kind,
                        truths,
                    });
                }
            }
            self.next_frame += 1;
        }
        self.now_ms = end;
        out
    }

    /// Current simulated time (Unix ms): the end of the last advance.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }
}

/// Timestamp of global frame `k`: frames sit on multiples of the frame
/// period since the Unix epoch, rounded to the millisecond.
fn frame_ts(k: i64, frame_ms: f64) -> i64 {
    (k as f64 * frame_ms).round() as i64
}

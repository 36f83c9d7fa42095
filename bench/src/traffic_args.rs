//! The command-line options that shape simulated traffic, shared by `mock-producer` and
//! `bench generate` so that a file and a live stream are described the same way.

use crate::sim::SimConfig;

#[derive(Debug, Clone, clap::Args)]
pub struct TrafficArgs {
    /// Number of cameras (cam_01, cam_02, ...).
    #[arg(long, default_value_t = 4)]
    pub cameras: usize,
    /// Average detections per second per camera.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Send lane_id ("1".."N", null for about 20% of detections).
    #[arg(long)]
    pub with_lanes: bool,
    /// Lanes on each camera's road.
    #[arg(long, default_value_t = 3)]
    pub lanes_per_camera: u32,
    /// Omit speed_kmh so the pipeline has to estimate speed from bboxes.
    #[arg(long)]
    pub no_speed: bool,
    /// Send one envelope per camera frame instead of one message per detection.
    #[arg(long)]
    pub frames: bool,
    /// Fraction of messages replaced by malformed ones (0..1).
    #[arg(long, default_value_t = 0.0)]
    pub bad_ratio: f64,
    /// Random seed; the same seed and start time give the same traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Camera frame rate.
    #[arg(long, default_value_t = 10.0)]
    pub fps: f64,
    /// Ground calibration; must match the pipeline's.
    #[arg(long, default_value_t = 0.05)]
    pub metres_per_pixel: f64,
    /// Disable the recurring congestion episodes.
    #[arg(long)]
    pub no_congestion: bool,
}

impl TrafficArgs {
    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            cameras: self.cameras,
            rate: self.rate,
            with_lanes: self.with_lanes,
            lanes_per_camera: self.lanes_per_camera,
            no_speed: self.no_speed,
            frames: self.frames,
            bad_ratio: self.bad_ratio,
            seed: self.seed,
            fps: self.fps,
            metres_per_pixel: self.metres_per_pixel,
            congestion: !self.no_congestion,
        }
    }
}

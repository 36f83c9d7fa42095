//! Recurring congestion episodes, so a demo or an end-to-end test sees the
//! congestion levels climb to HIGH and SEVERE and come back down without
//! anyone having to script it.
//!
//! Each camera runs the same cycle: free flow, then an episode in which
//! speeds collapse and the road fills up, then recovery. Cameras are
//! staggered across the cycle so that at any time some camera is usually
//! congested and the others are not, which is what exercises per-camera
//! state downstream. Episode parameters are drawn from a hash of
//! (seed, camera, cycle) rather than from a running random stream, so the
//! schedule does not depend on how the simulator was stepped.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::stream_seed;

/// Length of one free-flow + episode cycle.
pub(crate) const PERIOD_MS: i64 = 180_000;
/// Free flow at the start of a run, so consumers see the baseline first.
const LEAD_MS: i64 = 20_000;
/// Episodes start up to this long after their cycle starts.
const MAX_START_JITTER_MS: i64 = 20_000;
const MIN_DURATION_MS: i64 = 50_000;
const MAX_DURATION_MS: i64 = 70_000;
/// Speed factor on the way in; about 14 km/h for a 50 km/h vehicle, the
/// HIGH band of a model whose free flow is 50 km/h.
const HIGH_SPEED_FACTOR: f64 = 0.28;
/// Speed factor range at the core of an episode; 5.5-8.5 km/h for a
/// 50 km/h vehicle, deep in SEVERE.
const CORE_SPEED_FACTOR: (f64, f64) = (0.10, 0.16);
/// How many times more vehicles are in view at the core than in free flow.
const CORE_DENSITY_FACTOR: f64 = 5.0;
const HIGH_DENSITY_FACTOR: f64 = 2.5;

/// Traffic conditions at one instant, relative to free flow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Conditions {
    /// Multiplies each vehicle's free-flow speed.
    pub(crate) speed_factor: f64,
    /// Multiplies the free-flow number of vehicles in view.
    pub(crate) density_factor: f64,
}

impl Conditions {
    pub(crate) const FREE: Conditions = Conditions {
        speed_factor: 1.0,
        density_factor: 1.0,
    };
}

#[derive(Clone, Copy, Debug)]
struct Episode {
    start_ms: i64,
    duration_ms: i64,
    core_speed_factor: f64,
}

/// The episode timetable of one camera.
#[derive(Clone, Debug)]
pub(crate) struct EpisodeSchedule {
    enabled: bool,
    origin_ms: i64,
    seed: u64,
    camera: usize,
    cached: Option<(i64, Episode)>,
}

impl EpisodeSchedule {
    pub(crate) fn new(
        enabled: bool,
        seed: u64,
        camera: usize,
        cameras: usize,
        start_ms: i64,
    ) -> Self {
        let stagger = PERIOD_MS * camera as i64 / cameras.max(1) as i64;
        EpisodeSchedule {
            enabled,
            origin_ms: start_ms + LEAD_MS + stagger,
            seed,
            camera,
            cached: None,
        }
    }

    pub(crate) fn conditions(&mut self, t_ms: i64) -> Conditions {
        if !self.enabled || t_ms < self.origin_ms {
            return Conditions::FREE;
        }
        let cycle = (t_ms - self.origin_ms).div_euclid(PERIOD_MS);
        let episode = self.episode(cycle);
        let into = t_ms - episode.start_ms;
        if into < 0 || into >= episode.duration_ms {
            return Conditions::FREE;
        }
        shape(
            into as f64 / episode.duration_ms as f64,
            episode.core_speed_factor,
        )
    }

    fn episode(&mut self, cycle: i64) -> Episode {
        if let Some((cached_cycle, episode)) = self.cached {
            if cached_cycle == cycle {
                return episode;
            }
        }
        let mut rng = StdRng::seed_from_u64(stream_seed(
            self.seed ^ 0xE915_0DE5,
            self.camera as u64,
            cycle as u64,
        ));
        let episode = Episode {
            start_ms: self.origin_ms
                + cycle * PERIOD_MS
                + rng.random_range(0..=MAX_START_JITTER_MS),
            duration_ms: rng.random_range(MIN_DURATION_MS..=MAX_DURATION_MS),
            core_speed_factor: rng.random_range(CORE_SPEED_FACTOR.0..=CORE_SPEED_FACTOR.1),
        };
        self.cached = Some((cycle, episode));
        episode
    }
}

/// Keyframes (fraction of the episode, speed factor, density factor);
/// `None` speed stands for the episode's drawn core speed.
const KEYFRAMES: [(f64, Option<f64>, f64); 5] = [
    (0.0, Some(1.0), 1.0),
    (0.15, Some(HIGH_SPEED_FACTOR), HIGH_DENSITY_FACTOR),
    (0.35, None, CORE_DENSITY_FACTOR),
    (0.80, None, CORE_DENSITY_FACTOR),
    (1.0, Some(1.0), 1.0),
];

/// Piecewise-linear conditions at fraction `u` of an episode. Linear ramps
/// keep speed changes gradual, as in a real queue building up.
fn shape(u: f64, core_speed: f64) -> Conditions {
    let speed_at = |k: usize| KEYFRAMES[k].1.unwrap_or(core_speed);
    for k in 1..KEYFRAMES.len() {
        let (u1, _, d1) = KEYFRAMES[k];
        if u <= u1 {
            let (u0, _, d0) = KEYFRAMES[k - 1];
            let a = (u - u0) / (u1 - u0);
            return Conditions {
                speed_factor: speed_at(k - 1) + a * (speed_at(k) - speed_at(k - 1)),
                density_factor: d0 + a * (d1 - d0),
            };
        }
    }
    Conditions::FREE
}

/// Long-run mean of the density factor over a cycle. The simulator divides
/// its target rate by this, so the configured average rate holds even
/// though episodes put more vehicles on the road.
pub(crate) fn mean_density_factor(enabled: bool) -> f64 {
    if !enabled {
        return 1.0;
    }
    let shape_integral: f64 = KEYFRAMES
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].2 + w[1].2) / 2.0)
        .sum();
    let mean_duration = (MIN_DURATION_MS + MAX_DURATION_MS) as f64 / 2.0;
    1.0 + (shape_integral - 1.0) * mean_duration / PERIOD_MS as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_flow_before_first_episode_and_when_disabled() {
        let mut s = EpisodeSchedule::new(true, 1, 0, 4, 0);
        assert_eq!(s.conditions(0), Conditions::FREE);
        let mut off = EpisodeSchedule::new(false, 1, 0, 4, 0);
        for t in (0..PERIOD_MS * 3).step_by(1000) {
            assert_eq!(off.conditions(t), Conditions::FREE);
        }
    }

    #[test]
    fn every_cycle_has_a_severe_core() {
        let mut s = EpisodeSchedule::new(true, 9, 1, 4, 0);
        for cycle in 0..5 {
            let from = LEAD_MS + PERIOD_MS / 4 + cycle * PERIOD_MS;
            let slowest = (from..from + PERIOD_MS)
                .step_by(500)
                .map(|t| s.conditions(t).speed_factor)
                .fold(f64::INFINITY, f64::min);
            assert!(
                slowest <= CORE_SPEED_FACTOR.1 + 1e-9,
                "cycle {cycle}: {slowest}"
            );
        }
    }

    #[test]
    fn shape_is_continuous_at_both_ends() {
        assert_eq!(shape(0.0, 0.12), Conditions::FREE);
        let end = shape(1.0, 0.12);
        assert!((end.speed_factor - 1.0).abs() < 1e-12);
        assert!((end.density_factor - 1.0).abs() < 1e-12);
    }

    #[test]
    fn mean_density_matches_a_sampled_mean() {
        let mut s = EpisodeSchedule::new(true, 5, 0, 1, 0);
        let cycles = 200;
        let from = LEAD_MS;
        let to = from + cycles * PERIOD_MS;
        let samples: Vec<f64> = (from..to)
            .step_by(250)
            .map(|t| s.conditions(t).density_factor)
            .collect();
        let sampled = samples.iter().sum::<f64>() / samples.len() as f64;
        let expected = mean_density_factor(true);
        assert!(
            (sampled - expected).abs() / expected < 0.02,
            "{sampled} vs {expected}"
        );
    }
}

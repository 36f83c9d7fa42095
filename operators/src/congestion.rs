//! Congestion score and level of a window.
//!
//! The score mixes how slow traffic is relative to free flow with how full the lanes are; the
//! levels and thresholds themselves belong to the contract between the processes
//! (`contract::congestion`) and are re-exported here.

pub use contract::congestion::{CongestionLevel, ParseLevelError, ThresholdError, Thresholds};

/// Score in `[0, 1]`: a weighted mix of a speed term (`1 - avg/free_flow`)
/// and a density term (`vehicle_count / (lanes * lane_capacity_per_window)`),
/// each clamped to `[0, 1]`. With no usable speed (unknown, non-finite, or
/// `free_flow_kmh <= 0`) the density term alone decides. `lanes == 0` counts
/// as one lane. Never NaN, even for invalid thresholds.
pub fn congestion_score(
    vehicle_count: u64,
    avg_speed_kmh: Option<f64>,
    free_flow_kmh: f64,
    lanes: u32,
    t: &Thresholds,
) -> f64 {
    let capacity = f64::from(lanes.max(1)) * t.lane_capacity_per_window;
    let density = unit_interval(vehicle_count as f64 / capacity);
    let speed_term = match avg_speed_kmh {
        Some(avg) if avg.is_finite() && free_flow_kmh.is_finite() && free_flow_kmh > 0.0 => {
            unit_interval(1.0 - avg / free_flow_kmh)
        }
        _ => return density,
    };
    let weight_sum = t.speed_weight + t.density_weight;
    let weights_usable = weight_sum.is_finite() && weight_sum > 0.0;
    if !weights_usable {
        return density;
    }
    unit_interval((t.speed_weight * speed_term + t.density_weight * density) / weight_sum)
}

/// Maps a score to a level; a score exactly at a threshold takes the higher level.
pub fn classify(score: f64, t: &Thresholds) -> CongestionLevel {
    if score >= t.severe {
        CongestionLevel::Severe
    } else if score >= t.high {
        CongestionLevel::High
    } else if score >= t.moderate {
        CongestionLevel::Moderate
    } else {
        CongestionLevel::Low
    }
}

fn unit_interval(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t() -> Thresholds {
        Thresholds::default()
    }

    #[test]
    fn exactly_at_threshold_gives_higher_level() {
        let t = t();
        assert_eq!(classify(0.0, &t), CongestionLevel::Low);
        assert_eq!(classify(0.349_999, &t), CongestionLevel::Low);
        assert_eq!(classify(0.35, &t), CongestionLevel::Moderate);
        assert_eq!(classify(0.549_999, &t), CongestionLevel::Moderate);
        assert_eq!(classify(0.55, &t), CongestionLevel::High);
        assert_eq!(classify(0.749_999, &t), CongestionLevel::High);
        assert_eq!(classify(0.75, &t), CongestionLevel::Severe);
        assert_eq!(classify(1.0, &t), CongestionLevel::Severe);
        assert_eq!(classify(f64::NAN, &t), CongestionLevel::Low);
    }

    #[test]
    fn empty_window_is_low() {
        let score = congestion_score(0, None, 50.0, 2, &t());
        assert_eq!(score, 0.0);
        assert_eq!(classify(score, &t()), CongestionLevel::Low);
    }

    #[test]
    fn stopped_dense_traffic_is_severe() {
        let score = congestion_score(20, Some(0.0), 50.0, 2, &t());
        assert_eq!(score, 1.0);
        assert_eq!(classify(score, &t()), CongestionLevel::Severe);
    }

    #[test]
    fn fast_sparse_traffic_is_low() {
        let score = congestion_score(2, Some(55.0), 50.0, 2, &t());
        assert!((score - 0.4 * 2.0 / 16.0).abs() < 1e-12);
        assert_eq!(classify(score, &t()), CongestionLevel::Low);
    }

    #[test]
    fn speed_and_density_are_weighted() {
        // Half free-flow speed, half capacity: 0.6 * 0.5 + 0.4 * 0.5.
        let score = congestion_score(8, Some(25.0), 50.0, 2, &t());
        assert!((score - 0.5).abs() < 1e-12);
        assert_eq!(classify(score, &t()), CongestionLevel::Moderate);
    }

    #[test]
    fn unknown_speed_uses_density_alone() {
        let half = 0.5;
        assert_eq!(congestion_score(8, None, 50.0, 2, &t()), half);
        assert_eq!(congestion_score(8, Some(f64::NAN), 50.0, 2, &t()), half);
        assert_eq!(congestion_score(8, Some(10.0), 0.0, 2, &t()), half);
        assert_eq!(congestion_score(8, Some(10.0), -5.0, 2, &t()), half);
    }

    #[test]
    fn zero_lanes_count_as_one() {
        assert_eq!(
            congestion_score(4, None, 50.0, 0, &t()),
            congestion_score(4, None, 50.0, 1, &t())
        );
    }

    fn any_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            -1e6f64..1e6,
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            proptest::num::f64::ANY,
        ]
    }

    proptest! {
        #[test]
        fn score_is_finite_and_within_unit_interval(
            count in any::<u64>(),
            speed in proptest::option::of(any_f64()),
            free_flow in any_f64(),
            lanes in any::<u32>(),
        ) {
            let score = congestion_score(count, speed, free_flow, lanes, &Thresholds::default());
            prop_assert!(score.is_finite());
            prop_assert!((0.0..=1.0).contains(&score));
        }

        #[test]
        fn score_stays_in_range_with_any_thresholds(
            count in any::<u64>(),
            speed in proptest::option::of(any_f64()),
            free_flow in any_f64(),
            lanes in any::<u32>(),
            speed_weight in any_f64(),
            density_weight in any_f64(),
            capacity in any_f64(),
        ) {
            let t = Thresholds {
                speed_weight,
                density_weight,
                lane_capacity_per_window: capacity,
                ..Thresholds::default()
            };
            let score = congestion_score(count, speed, free_flow, lanes, &t);
            prop_assert!(score.is_finite());
            prop_assert!((0.0..=1.0).contains(&score));
        }

        #[test]
        fn classify_is_monotonic(a in any_f64(), b in any_f64()) {
            let t = Thresholds::default();
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            if !lo.is_nan() && !hi.is_nan() {
                prop_assert!(classify(lo, &t) <= classify(hi, &t));
            }
        }
    }
}

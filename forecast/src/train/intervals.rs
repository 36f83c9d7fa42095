//! Prediction intervals by split conformal prediction: half-widths per horizon step from the
//! absolute residuals on the validation part, which the network never trained on, and the share
//! of test targets they cover.

use serde::{Deserialize, Serialize};

/// Half-widths of the prediction intervals per horizon step (split conformal: the
/// `coverage` quantile of absolute validation residuals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intervals {
    pub coverage: f64,
    /// STGCN, per horizon step.
    pub model: Vec<f32>,
    /// Historical average, per horizon step (used when the model cannot serve).
    pub historical_average: Vec<f32>,
}

/// Split-conformal half-widths per horizon step: the `ceil((n+1) c) / n` empirical quantile of
/// absolute residuals, which gives at least `c` coverage for exchangeable data.
pub(super) fn conformal(
    pred: &[f32],
    target: &[f32],
    horizon: usize,
    nodes: usize,
    coverage: f64,
) -> Vec<f32> {
    (0..horizon)
        .map(|h| {
            let windows = target.len() / (horizon * nodes);
            let mut res: Vec<f32> = (0..windows)
                .flat_map(|w| (0..nodes).map(move |n| (w * horizon + h) * nodes + n))
                .filter(|&i| !target[i].is_nan())
                .map(|i| (pred[i] - target[i]).abs())
                .collect();
            if res.is_empty() {
                // No validation target at this step: no evidence for a width.
                return 0.0;
            }
            res.sort_by(f32::total_cmp);
            let n = res.len();
            let k = (((n + 1) as f64 * coverage).ceil() as usize).clamp(1, n);
            res[k - 1]
        })
        .collect()
}

/// Share of present targets within `pred ± half_width[h]`, at the given steps.
pub(super) fn interval_coverage(
    pred: &[f32],
    target: &[f32],
    horizon: usize,
    nodes: usize,
    half: &[f32],
    steps: &[usize],
) -> Vec<(usize, f64)> {
    steps
        .iter()
        .filter(|&&s| s >= 1 && s <= horizon)
        .map(|&step| {
            let windows = target.len() / (horizon * nodes);
            let (mut inside, mut count) = (0u64, 0u64);
            for w in 0..windows {
                for n in 0..nodes {
                    let i = (w * horizon + step - 1) * nodes + n;
                    if target[i].is_nan() {
                        continue;
                    }
                    count += 1;
                    if (pred[i] - target[i]).abs() <= half[step - 1] {
                        inside += 1;
                    }
                }
            }
            (step, inside as f64 / count.max(1) as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformal_quantile_covers_the_requested_share() {
        // 1 horizon step, 1 node, residuals 1..=9: ceil(10 * 0.9) = 9th smallest.
        let target: Vec<f32> = vec![0.0; 9];
        let pred: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        assert_eq!(conformal(&pred, &target, 1, 1, 0.9), vec![9.0]);
        assert_eq!(conformal(&pred, &target, 1, 1, 0.5), vec![5.0]);
    }
}

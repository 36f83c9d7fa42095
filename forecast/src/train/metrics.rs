//! Error measures of a forecast against the raw targets, over present targets only (a missing
//! minute is no evidence either way).

use serde::{Deserialize, Serialize};

/// Error measures at one horizon step, on the original scale, over present targets only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub mae: f64,
    pub rmse: f64,
    /// Sum of absolute errors over sum of absolute targets (none when every target is 0).
    pub wape: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodMetrics {
    pub method: String,
    pub steps: Vec<StepMetrics>,
}

/// MAE, RMSE, WAPE at the given (1-based) steps over present targets.
pub(super) fn metrics(
    pred: &[f32],
    target: &[f32],
    horizon: usize,
    nodes: usize,
    steps: &[usize],
) -> Vec<StepMetrics> {
    steps
        .iter()
        .filter(|&&s| s >= 1 && s <= horizon)
        .map(|&step| {
            let (mut abs, mut sq, mut tot, mut count) = (0.0f64, 0.0f64, 0.0f64, 0u64);
            let windows = target.len() / (horizon * nodes);
            for w in 0..windows {
                let base = (w * horizon + step - 1) * nodes;
                for n in 0..nodes {
                    let y = target[base + n];
                    if y.is_nan() {
                        continue;
                    }
                    let e = (pred[base + n] - y) as f64;
                    abs += e.abs();
                    sq += e * e;
                    tot += (y as f64).abs();
                    count += 1;
                }
            }
            let c = count.max(1) as f64;
            StepMetrics {
                step,
                mae: abs / c,
                rmse: (sq / c).sqrt(),
                wape: (tot > 0.0).then(|| abs / tot),
                count,
            }
        })
        .collect()
}

/// Mean MAE over all horizon steps (the early-stopping criterion).
pub(super) fn mean_mae(pred: &[f32], target: &[f32]) -> f64 {
    let (sum, count) = pred
        .iter()
        .zip(target)
        .filter(|(_, y)| !y.is_nan())
        .fold((0.0f64, 0u64), |(s, c), (p, y)| {
            (s + (p - y).abs() as f64, c + 1)
        });
    sum / count.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_skip_missing_targets() {
        // 1 window, horizon 1, 2 nodes; node 1's target missing.
        let m = metrics(&[1.0, 5.0], &[2.0, f32::NAN], 1, 2, &[1, 5]);
        assert_eq!(m.len(), 1, "step 5 is beyond the horizon");
        assert_eq!(
            (m[0].mae, m[0].rmse, m[0].wape, m[0].count),
            (1.0, 1.0, Some(0.5), 1)
        );
    }
}

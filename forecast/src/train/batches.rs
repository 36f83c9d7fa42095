//! The series prepared for batching: every input z-scored once into one tensor (missing values at
//! the training mean, 0), sliced per window; targets stay raw, with NaN where missing, for the
//! masked loss and the metrics.

use tch::Tensor;

use super::{Scaler, TrainConfig};
use crate::data::Series;

/// The series prepared for batching: z-scored inputs as one tensor, raw targets for metrics.
pub(super) struct Prepared<'a> {
    pub(super) series: &'a Series,
    /// `[features, steps, nodes]`, missing values as 0 (the training mean).
    inputs: Tensor,
    pub(super) target_feature: usize,
    pub(super) lookback: usize,
    pub(super) horizon: usize,
}

impl<'a> Prepared<'a> {
    pub(super) fn new(series: &'a Series, scaler: &Scaler, cfg: &TrainConfig) -> Self {
        let (nt, nn_, nf) = (series.steps, series.nodes.len(), series.features.len());
        let mut buf = vec![0.0f32; nf * nt * nn_];
        for t in 0..nt {
            for n in 0..nn_ {
                for f in 0..nf {
                    let v = series.get(t, n, f);
                    buf[(f * nt + t) * nn_ + n] = if v.is_nan() {
                        0.0
                    } else {
                        (v - scaler.mean[f]) / scaler.std[f]
                    };
                }
            }
        }
        Self {
            series,
            inputs: Tensor::from_slice(&buf).view([nf as i64, nt as i64, nn_ as i64]),
            target_feature: cfg.target_feature,
            lookback: cfg.lookback,
            horizon: cfg.horizon,
        }
    }

    /// `[B, F, L, N]`
    pub(super) fn batch_inputs(&self, starts: &[usize]) -> Tensor {
        let parts: Vec<Tensor> = starts
            .iter()
            .map(|&t| self.inputs.narrow(1, t as i64, self.lookback as i64))
            .collect();
        Tensor::stack(&parts, 0)
    }

    /// Raw targets `[B, H, N]` (NaN = missing), row-major.
    pub(super) fn batch_targets(&self, starts: &[usize]) -> Vec<f32> {
        let nn_ = self.series.nodes.len();
        let mut out = Vec::with_capacity(starts.len() * self.horizon * nn_);
        for &t in starts {
            for h in 0..self.horizon {
                for n in 0..nn_ {
                    out.push(
                        self.series
                            .get(t + self.lookback + h, n, self.target_feature),
                    );
                }
            }
        }
        out
    }
}

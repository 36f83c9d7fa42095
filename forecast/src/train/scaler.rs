//! Per-feature z-scores, fitted on the training steps only so nothing of the validation and test
//! periods leaks into the inputs.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::Series;
use crate::error::{ForecastError, Result};

/// Per-feature z-score parameters fitted on the training steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Scaler {
    pub(super) fn fit(series: &Series, steps: Range<usize>) -> Result<Self> {
        let nf = series.features.len();
        let mut sum = vec![0.0f64; nf];
        let mut sq = vec![0.0f64; nf];
        let mut count = vec![0usize; nf];
        for t in steps {
            for n in 0..series.nodes.len() {
                for f in 0..nf {
                    let v = series.get(t, n, f);
                    if !v.is_nan() {
                        sum[f] += v as f64;
                        sq[f] += (v as f64) * (v as f64);
                        count[f] += 1;
                    }
                }
            }
        }
        let mut mean = Vec::with_capacity(nf);
        let mut std = Vec::with_capacity(nf);
        for f in 0..nf {
            if count[f] == 0 {
                return Err(ForecastError::InvalidData(format!(
                    "feature {} has no value in the training period",
                    series.features[f]
                )));
            }
            let m = sum[f] / count[f] as f64;
            let var = (sq[f] / count[f] as f64 - m * m).max(0.0);
            mean.push(m as f32);
            // A constant feature still gets a usable scale.
            std.push((var.sqrt() as f32).max(1e-6));
        }
        Ok(Self { mean, std })
    }
}

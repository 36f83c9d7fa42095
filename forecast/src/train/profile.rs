//! The time-of-day profile: mean target per node and slot of the day over the training steps.
//! It is the historical-average baseline of the report and the forecast served when the recent
//! data is too incomplete for the model.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::data::{minute_of_day, Series};

/// Mean target per node and time-of-day slot over the training steps: the historical-average
/// baseline, and the fallback forecast when the recent data is too incomplete for the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub slot_minutes: u32,
    /// `[node][slot]`
    pub values: Vec<Vec<f32>>,
}

impl Profile {
    pub(super) fn fit(
        series: &Series,
        target: usize,
        steps: Range<usize>,
        slot_minutes: u32,
    ) -> Self {
        let slots = (1440 / slot_minutes.max(1)).max(1) as usize;
        let n_nodes = series.nodes.len();
        let mut sum = vec![vec![0.0f64; slots]; n_nodes];
        let mut count = vec![vec![0u32; slots]; n_nodes];
        for t in steps {
            let slot = Self::slot_of(minute_of_day(series.time_of(t)), slot_minutes, slots);
            for n in 0..n_nodes {
                let v = series.get(t, n, target);
                if !v.is_nan() {
                    sum[n][slot] += v as f64;
                    count[n][slot] += 1;
                }
            }
        }
        let values = (0..n_nodes)
            .map(|n| {
                let total: f64 = sum[n].iter().sum();
                let seen: u32 = count[n].iter().sum();
                let node_mean = if seen > 0 {
                    (total / seen as f64) as f32
                } else {
                    0.0
                };
                (0..slots)
                    .map(|s| {
                        if count[n][s] > 0 {
                            (sum[n][s] / count[n][s] as f64) as f32
                        } else {
                            node_mean
                        }
                    })
                    .collect()
            })
            .collect();
        Self {
            slot_minutes,
            values,
        }
    }

    fn slot_of(minute_of_day: u32, slot_minutes: u32, slots: usize) -> usize {
        ((minute_of_day / slot_minutes.max(1)) as usize).min(slots - 1)
    }

    /// The profile's value for a node at a minute of the day.
    pub fn at(&self, node: usize, minute_of_day: u32) -> f32 {
        let row = &self.values[node];
        row[Self::slot_of(minute_of_day, self.slot_minutes, row.len())]
    }

    /// Each node's mean over the day: what persistence falls back on for a node with no recent
    /// value.
    pub(super) fn node_means(&self) -> Vec<f32> {
        self.values
            .iter()
            .map(|row| row.iter().sum::<f32>() / row.len().max(1) as f32)
            .collect()
    }
}

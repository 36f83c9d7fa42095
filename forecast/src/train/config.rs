//! Everything that shapes a training run, with the defaults the `forecast train` command starts
//! from.

use serde::{Deserialize, Serialize};

/// Everything that shapes a training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub lookback: usize,
    pub horizon: usize,
    pub blocks: Vec<[i64; 3]>,
    pub output_channels: i64,
    pub kt: i64,
    pub ks: i64,
    pub dropout: f64,
    pub max_epochs: usize,
    /// Epochs without a better validation MAE before stopping.
    pub patience: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Caps the batches per epoch (a random subset of windows each epoch); `None` = all.
    pub max_batches_per_epoch: Option<usize>,
    pub train_fraction: f64,
    pub val_fraction: f64,
    /// Target coverage of the prediction intervals.
    pub coverage: f64,
    /// Width of the time-of-day profile's slots, in minutes.
    pub profile_slot_minutes: u32,
    /// Feature channel to forecast.
    pub target_feature: usize,
    /// Valid range of the target; predictions and bounds are clamped into it.
    pub clamp: Option<[f32; 2]>,
    pub seed: i64,
    /// libtorch intra-op threads. More than one only pays on idle cores: OpenMP workers spin,
    /// and on a shared machine two threads ran 16 times slower than one.
    pub threads: i32,
    pub progress: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lookback: 15,
            horizon: 10,
            blocks: vec![[64, 16, 64], [64, 16, 64]],
            output_channels: 128,
            kt: 3,
            ks: 3,
            dropout: 0.1,
            max_epochs: 30,
            patience: 4,
            batch_size: 32,
            learning_rate: 1e-3,
            max_batches_per_epoch: None,
            train_fraction: 0.7,
            val_fraction: 0.1,
            coverage: 0.9,
            profile_slot_minutes: 5,
            target_feature: 0,
            clamp: None,
            seed: 42,
            threads: 1,
            progress: true,
        }
    }
}

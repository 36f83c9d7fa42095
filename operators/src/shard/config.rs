use serde::{Deserialize, Serialize};

use crate::camera::AlertConfig;
use crate::speed::SpeedTrackerConfig;
use crate::window::WindowConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraWindowsConfig {
    pub window: WindowConfig,
    pub tracker: SpeedTrackerConfig,
    pub alerts: AlertConfig,
    /// Length of one ingest epoch: epoch `e` stands for processing time `e * epoch_ms`.
    pub epoch_ms: i64,
    /// Cameras silent this long are evicted with their checkpoint (`None`: kept forever).
    #[serde(default)]
    pub evict_after_ms: Option<i64>,
}

impl CameraWindowsConfig {
    /// The processing time an epoch stands for, which idleness and eviction are judged by.
    pub fn processing_ms(&self, epoch: u64) -> i64 {
        (epoch as i64).saturating_mul(self.epoch_ms)
    }
}

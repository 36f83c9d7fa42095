//! Run-time settings the operators read at each window close: congestion thresholds and
//! per-camera calibration. An admin change lands in the shared value without a restart.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::congestion::Thresholds;
use crate::metrics::CameraProfile;

/// Surveyed facts about one camera; `None` falls back to the pipeline defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraCalibration {
    pub metres_per_pixel: Option<f64>,
    pub free_flow_kmh: Option<f64>,
    pub lanes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub thresholds: Thresholds,
    pub cameras: HashMap<String, CameraCalibration>,
    pub default_metres_per_pixel: f64,
    pub default_free_flow_kmh: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            thresholds: Thresholds::default(),
            cameras: HashMap::new(),
            default_metres_per_pixel: 0.05,
            default_free_flow_kmh: 50.0,
        }
    }
}

impl Settings {
    pub fn profile(&self, camera_id: &str) -> CameraProfile {
        let cal = self.cameras.get(camera_id);
        CameraProfile {
            metres_per_pixel: cal
                .and_then(|c| c.metres_per_pixel)
                .unwrap_or(self.default_metres_per_pixel),
            free_flow_kmh: cal
                .and_then(|c| c.free_flow_kmh)
                .unwrap_or(self.default_free_flow_kmh),
            lanes: cal.and_then(|c| c.lanes),
        }
    }
}

/// Settings shared by every worker of a process and replaced whole by the change listener.
#[derive(Debug, Clone, Default)]
pub struct SharedSettings(Arc<RwLock<Arc<Settings>>>);

impl SharedSettings {
    pub fn new(settings: Settings) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(settings))))
    }

    /// A consistent snapshot; cheap (one `Arc` clone).
    pub fn snapshot(&self) -> Arc<Settings> {
        match self.0.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, settings: Settings) {
        let mut guard = match self.0.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(settings);
    }

    pub fn update(&self, change: impl FnOnce(&mut Settings)) {
        let mut next = (*self.snapshot()).clone();
        change(&mut next);
        self.replace(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_profile_falls_back_to_defaults() {
        let mut s = Settings::default();
        s.cameras.insert(
            "cam_01".into(),
            CameraCalibration {
                metres_per_pixel: Some(0.1),
                free_flow_kmh: None,
                lanes: Some(2),
            },
        );
        let p = s.profile("cam_01");
        assert_eq!(
            (p.metres_per_pixel, p.free_flow_kmh, p.lanes),
            (0.1, 50.0, Some(2))
        );
        let d = s.profile("cam_99");
        assert_eq!((d.metres_per_pixel, d.lanes), (0.05, None));
    }

    #[test]
    fn update_is_seen_by_clones() {
        let shared = SharedSettings::default();
        let other = shared.clone();
        shared.update(|s| s.thresholds.high = 0.6);
        assert_eq!(other.snapshot().thresholds.high, 0.6);
    }
}

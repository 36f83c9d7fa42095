use serde::{Deserialize, Serialize};

use crate::alerts::AlertTransition;
use crate::metrics::WindowResult;
use crate::record::Located;

/// What the camera operator reports besides its outputs, for the caller to count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StateNote<'a> {
    /// An event arrived after its window closed: stored raw, not counted.
    Late(&'a StoredEvent),
    /// An event's lane was beyond the lanes one window keeps.
    LaneCapped,
    /// An event's vehicle was beyond the tracks one camera keeps.
    TrackCapped,
    /// A silent camera's state was dropped.
    Evicted(&'a str),
}

/// A detection on its way to `traffic_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub located: Located,
    pub estimated_speed_kmh: Option<f64>,
    pub late: bool,
}

/// Everything the camera operator hands to the sink for one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CameraOutput {
    Event(StoredEvent),
    /// A closed window and the wall-clock time it closed (for close-to-commit latency).
    Window {
        result: WindowResult,
        closed_at_ms: i64,
    },
    Alert(AlertTransition),
    /// The camera's state after this epoch, to store beside the Kafka positions: the
    /// checkpoint envelope of `contract::checkpoint` around a
    /// [`CameraState`](crate::camera::CameraState).
    Checkpoint {
        camera_id: String,
        state: String,
    },
    /// The camera was silent past the eviction limit: its checkpoint goes too.
    Evicted {
        camera_id: String,
    },
}

use std::collections::HashMap;
use std::sync::Arc;

use timely::dataflow::StreamVec;

use super::{CameraWindows, CountRecords, DecodeDetections, Epoch, Tick};
use crate::camera::CameraState;
use crate::event::DecodeError;
use crate::event_time::TimeBounds;
use crate::record::KafkaRecord;
use crate::settings::SharedSettings;
use crate::shard::{CameraOutput, CameraWindowsConfig, StateNote};

/// What the graph between source and sink is built from.
#[derive(Debug, Clone)]
pub struct DataflowConfig {
    /// How far event time may stray from ingest time (`TimeBounds::OFF` for a replay).
    pub time_bounds: TimeBounds,
    pub windows: CameraWindowsConfig,
    pub settings: SharedSettings,
    /// Camera states read at start; each worker takes the cameras it owns.
    pub restored: Arc<HashMap<String, CameraState>>,
}

/// What the graph reports on the way, for the caller to count and log. Each runs on the worker
/// where it happens.
pub struct DataflowHooks<Drop, Decoded, Note> {
    /// A message or detection the decoder refused, with the record it came in.
    pub on_drop: Drop,
    /// Valid detections decoded, batch by batch.
    pub on_decoded: Decoded,
    /// What the camera operator notes (late events, caps, evictions).
    pub on_note: Note,
}

/// The pipeline's graph between its source and its sink: decode where read, then route by
/// camera to the windows. The pipeline feeds it from Kafka and commits what it yields; `bench
/// replay` feeds it a file and collects the windows, so the benchmark measures this very graph.
pub fn build_dataflow<'scope, T, Drop, Decoded, Note>(
    records: StreamVec<'scope, Epoch, KafkaRecord>,
    ticks: StreamVec<'scope, Epoch, T>,
    config: DataflowConfig,
    hooks: DataflowHooks<Drop, Decoded, Note>,
) -> StreamVec<'scope, Epoch, CameraOutput>
where
    T: Tick,
    Drop: FnMut(&DecodeError, &KafkaRecord) + 'static,
    Decoded: FnMut(usize) + 'static,
    Note: FnMut(StateNote<'_>) + 'static,
{
    records
        .decode_detections(config.time_bounds, hooks.on_drop)
        .count_records(hooks.on_decoded)
        .camera_windows(
            ticks,
            config.windows,
            config.settings,
            config.restored,
            hooks.on_note,
        )
}

//! The timely operators of the pipeline, one extension trait per file.
//!
//! Timestamps are ingest epochs (`u64`): the Kafka source stamps what it read in one checkpoint
//! interval with one epoch, and everything downstream stashes by capability and acts once the
//! frontier has passed an epoch, as in timely's `wordcount` and `hashjoin` examples.

mod camera_windows;
mod decode;
mod gather;

pub use camera_windows::{
    camera_route, CameraOutput, CameraWindows, CameraWindowsConfig, StateNote, StoredEvent, Tick,
};
pub use decode::{DecodeDetections, KafkaRecord, Located};
pub use gather::GatherCompleted;

/// Timely's timestamp for the pipeline: the ingest epoch.
pub type Epoch = u64;

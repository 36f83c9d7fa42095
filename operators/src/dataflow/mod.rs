//! The timely operators of the pipeline, one extension trait per file, and the graph they
//! form.
//!
//! Timestamps are ingest epochs (`u64`): the Kafka source stamps what it read in one checkpoint
//! interval with one epoch, and everything downstream stashes by capability and acts once the
//! frontier has passed an epoch, as in timely's `wordcount` and `hashjoin` examples.

mod camera_windows;
mod count;
mod decode;
mod gather;
mod graph;

pub use camera_windows::{CameraWindows, Tick};
pub use count::CountRecords;
pub use decode::DecodeDetections;
pub use gather::GatherCompleted;
pub use graph::{build_dataflow, DataflowConfig, DataflowHooks};

pub use crate::record::{KafkaRecord, Located};
pub use crate::shard::{camera_route, CameraOutput, CameraWindowsConfig, StateNote, StoredEvent};

/// Timely's timestamp for the pipeline: the ingest epoch.
pub type Epoch = u64;

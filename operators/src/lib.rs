//! Domain logic of the traffic pipeline and its timely operators.
//!
//! The data's path, module by module:
//! - [`record`]: a Kafka message as the source hands it over, and a detection located by it.
//! - [`event`]: B1 message decoding and validation (single detections and frame envelopes), drop reasons.
//! - [`event_time`]: how far event time may lead or trail ingest time.
//! - [`speed`]: speed estimation from bbox centroid displacement, one tracker per camera.
//! - [`window`]: tumbling event-time windows and the per-camera watermark (lateness, idle close).
//! - [`metrics`]: what a window adds up to (distinct vehicles, classes, speeds), order-independent.
//! - [`congestion`]: congestion score and level from run-time thresholds.
//! - [`alerts`]: the per-camera alert state machine (open on HIGH/SEVERE, update, resolve).
//! - [`camera`]: one camera's whole state and the step that feeds it an event; checkpointable.
//! - [`shard`]: the cameras one worker owns and what each completed epoch does to them
//!   (restore, idle close, eviction, checkpoints).
//! - [`settings`]: thresholds and calibration shared by workers, replaced at run time.
//! - [`dataflow`]: the timely extension traits that wire the above into a dataflow, and
//!   `build_dataflow`, the graph the pipeline and the replay benchmark share.
//!
//! Everything but `dataflow` is plain functions and values, tested without timely.

pub mod alerts;
pub mod camera;
pub mod congestion;
pub mod dataflow;
pub mod event;
pub mod event_time;
#[cfg(test)]
mod fixtures;
pub mod metrics;
pub mod record;
pub mod settings;
pub mod shard;
pub mod speed;
pub mod window;

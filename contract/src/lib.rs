//! The contract between the processes: what the pipeline writes and the query server, the
//! dashboard and the tests read. Changing anything here is changing the interface, so each part
//! has one definition and tests that pin its encoding.
//!
//! - [`channels`]: the PostgreSQL NOTIFY channel names.
//! - [`notice`]: typed NOTIFY payloads, one encoder (bounded below PostgreSQL's limit) and one
//!   decoder, for every channel.
//! - [`congestion`]: congestion levels, the run-time thresholds and their validation (the same
//!   rules as the `congestion_thresholds` table's CHECK constraints, tested against them).
//! - [`checkpoint`]: the versioned envelope of the per-camera checkpoints the pipeline stores.
//! - [`timestamp`]: the one textual form of instants in payloads (RFC 3339, milliseconds, `Z`).

pub mod channels;
pub mod checkpoint;
pub mod congestion;
pub mod notice;
pub mod timestamp;

pub use channels::Channel;
pub use congestion::{CongestionLevel, ParseLevelError, ThresholdError, Thresholds};
pub use notice::{
    AlertEvent, AlertNotice, BroadcastNotice, CameraNotice, Notice, NoticeError, ThresholdsNotice,
    WindowNotice,
};

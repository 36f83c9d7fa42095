//! What the source hands the dataflow, and a detection located by it: the Kafka position
//! travels with every detection so the sink can quarantine it or fetch its original bytes.

use serde::{Deserialize, Serialize};

use crate::event::Detection;

/// A Kafka message as the source hands it over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaRecord {
    pub partition: i32,
    pub offset: i64,
    pub payload: Vec<u8>,
}

/// A valid detection and where it came from (a frame envelope yields several, by `index`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Located {
    pub detection: Detection,
    pub partition: i32,
    pub offset: i64,
    pub index: u32,
}

//! Where events come from.

pub mod dead_letter;
pub mod kafka;

pub use kafka::{kafka_source, KafkaSourceConfig, OffsetMark, SourceError};

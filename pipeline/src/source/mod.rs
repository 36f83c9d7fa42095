//! Where events come from.

pub mod dead_letter;
pub mod kafka;
pub mod refetch;

pub use kafka::{kafka_source, KafkaSourceConfig, OffsetMark, SourceError};

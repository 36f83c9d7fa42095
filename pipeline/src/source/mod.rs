//! Where events come from.

pub mod dead_letter;
pub mod kafka;
#[cfg(test)]
mod mock;
pub mod refetch;

pub use kafka::{kafka_source, KafkaSourceConfig, OffsetMark, SourceError};

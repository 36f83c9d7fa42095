//! Where results go: everything of a set of completed epochs becomes one PostgreSQL transaction.

pub mod batch;
pub mod postgres;

pub use batch::{CommitBatch, SinkItem};

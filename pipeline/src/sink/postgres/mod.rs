//! The PostgreSQL sink, as a folder: the statements of one commit, and the thread that runs them.

mod statements;
mod writer;

pub use statements::{write_batch, COPY_EVENTS, COPY_EVENTS_TYPES};
pub use writer::{PostgresSink, SinkConfig, SinkError};

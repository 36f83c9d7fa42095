//! The PostgreSQL sink, as a folder: the statements of one commit (`statements`), the isolation
//! of rows PostgreSQL refuses (`isolate`, `errors`), and the thread that runs them (`writer`).
//! NOTIFY payloads are `contract::notice` types, bounded by their one encoder.

mod errors;
mod isolate;
mod statements;
mod writer;

pub use errors::{classify, describe, ErrorClass};
pub use isolate::{write_batch_isolating, Refused};
pub use statements::{
    copy_events, ensure_day_partitions, event_days, write_batch, COPY_EVENTS, COPY_EVENTS_TYPES,
};
pub use writer::{PostgresSink, QuarantineOutlets, SinkConfig, SinkError};

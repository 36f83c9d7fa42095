//! The PostgreSQL sink, as a folder: the statements of one commit (`statements`), the isolation
//! of rows PostgreSQL refuses (`isolate`, `errors`), bounded NOTIFY payloads (`notify`), and the
//! thread that runs them (`writer`).

mod errors;
mod isolate;
mod notify;
mod statements;
mod writer;

pub use errors::{classify, describe, ErrorClass};
pub use isolate::{write_batch_isolating, Refused};
pub use notify::MAX_NOTIFY_BYTES;
pub use statements::{write_batch, COPY_EVENTS, COPY_EVENTS_TYPES};
pub use writer::{PostgresSink, QuarantineOutlets, SinkConfig, SinkError};

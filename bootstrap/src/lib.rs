//! What every binary of the system does first: answer `--help` and `--version`, install the JSON
//! logger and read its settings from the environment. Each binary did this on its own before;
//! the copies drifted, and operators and tests parse the log lines, so the format now has one
//! definition.
//!
//! - [`cli`]: the help (usage and every environment setting, documented from `.env.example`)
//!   and `--version`.
//! - [`database`]: PostgreSQL connections as `DATABASE_URL` asks for them, libpq's TLS modes
//!   included.
//! - [`logging`]: one JSON object per log line on stderr, in the services' layout or the bench
//!   tools' layout.
//! - [`settings`]: settings read from the process environment through a lookup function, and the
//!   check that `.env.example` lists every setting a binary reads.

pub mod cli;
pub mod database;
pub mod logging;
pub mod settings;

pub use logging::Layout;

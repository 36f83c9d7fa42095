//! The system's binaries as child processes, for the end-to-end tests and the benchmarks alike:
//! both start the real `pipeline` and `query-server` configured by environment, wait until they
//! answer, stop them the way an orchestrator does, and read their Prometheus text. Kept small
//! (std, ureq, serde_json) so `bench` can depend on it without the tests' dependencies.
//!
//! - [`binaries`]: where the workspace's built binaries are, seen from a test or a bench tool.
//! - [`child`]: [`Launch`] a program with its environment and log file, then [`Running`]:
//!   SIGTERM and wait, stop with a grace period, `kill -9`, the log on failure.
//! - [`health`]: wait until a started service answers its health URL.
//! - [`http`]: one HTTP request function and its [`HttpResponse`].
//! - [`prom`]: the one parser of the Prometheus text format: samples, counters, histograms.
//! - [`net`]: free loopback ports, reachable addresses, database URLs.
//! - [`error`]: [`Error`], what can go wrong with a child process or a request.

pub mod binaries;
pub mod child;
pub mod error;
pub mod health;
pub mod http;
pub mod net;
pub mod prom;

pub use binaries::workspace_binary;
pub use child::{Launch, Running};
pub use error::Error;
pub use health::wait_healthy;
pub use http::HttpResponse;

//! What can go wrong with a child process or a request. Messages carry the child's log where
//! there is one: a failed run is diagnosed from it.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{name} is missing beside {} and in its parent folder: build the workspace binaries \
         first (`cargo build --workspace`; `cargo nextest run --workspace` does it)",
        folder.display()
    )]
    MissingBinary { name: String, folder: PathBuf },
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("cannot open the log file {}: {source}", path.display())]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot signal or reap {name}: {source}")]
    Process {
        name: String,
        source: std::io::Error,
    },
    #[error("{name} did not exit within {timeout:?}; log:\n{log}")]
    StillRunning {
        name: String,
        timeout: Duration,
        log: String,
    },
    #[error("{name} exited ({status}) before it answered {url}; log:\n{log}")]
    ExitedEarly {
        name: String,
        status: ExitStatus,
        url: String,
        log: String,
    },
    #[error("{name} did not answer {url} with 200 within {timeout:?}; log:\n{log}")]
    NotHealthy {
        name: String,
        url: String,
        timeout: Duration,
        log: String,
    },
    #[error("{method} {url}: {reason}")]
    Http {
        method: String,
        url: String,
        reason: String,
    },
}

//! The crate's one error type, so callers (the `forecast` binary, the query server) can tell a
//! bad input from a broken bundle from a libtorch failure.

use std::path::PathBuf;

/// Everything that can go wrong while loading data, training, saving or serving a model.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CSV {path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("JSON {what}: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("database: {0}")]
    Postgres(#[from] postgres::Error),
    /// The input data cannot be used (empty, inconsistent, unknown node names ...).
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// A model or training setting that cannot work (e.g. a lookback too short for the kernels).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A bundle directory that is incomplete or does not match its own metadata.
    #[error("model bundle {path}: {reason}")]
    Bundle { path: PathBuf, reason: String },
}

impl ForecastError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Self::Json {
            what: what.into(),
            source,
        }
    }
}

pub type Result<T, E = ForecastError> = std::result::Result<T, E>;

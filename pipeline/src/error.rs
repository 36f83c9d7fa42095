use crate::config::ConfigError;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot reach PostgreSQL at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: postgres::Error,
    },
    #[error(transparent)]
    Migration(#[from] migrations::MigrationError),
    #[error(transparent)]
    Resume(#[from] crate::resume::ResumeError),
    #[error("database error: {0}")]
    Database(#[from] postgres::Error),
    #[error("cannot start {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("bad timely arguments: {0}")]
    TimelyArgs(String),
    #[error("worker failed: {0}")]
    Worker(String),
    #[error(transparent)]
    Lease(#[from] crate::lease::LeaseError),
    #[error("stopped on a failure: {0}")]
    Failed(String),
}

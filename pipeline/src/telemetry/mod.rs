//! Logs as JSON lines and the Prometheus endpoint.

pub mod health;
pub mod http;
pub mod logging;
pub mod metrics;

pub use health::Health;
pub use metrics::PipelineMetrics;

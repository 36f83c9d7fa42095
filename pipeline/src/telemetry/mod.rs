//! Logs as JSON lines and the Prometheus endpoint.

pub mod http;
pub mod logging;
pub mod metrics;

pub use metrics::PipelineMetrics;

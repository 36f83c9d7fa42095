//! `bench generate`: a JSONL workload from the simulator, through [`crate::sim::generate_jsonl`].

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use super::report;
use crate::sim::{format_timestamp, generate_jsonl, SimConfig};

pub struct GenerateOptions {
    pub output: PathBuf,
    pub events: u64,
    pub config: SimConfig,
    /// Simulated start, Unix ms.
    pub start_ms: i64,
}

/// Writes the file and reports what it holds.
pub fn run(options: &GenerateOptions) -> anyhow::Result<()> {
    options.config.validate()?;
    let started = Instant::now();
    let summary = generate_jsonl(
        options.config.clone(),
        options.start_ms,
        options.events,
        &options.output,
    )
    .with_context(|| format!("writing {}", options.output.display()))?;
    let elapsed = started.elapsed();
    let span = |ts: Option<i64>| ts.map(format_timestamp);
    let result = json!({
        "mode": "generate",
        "file": options.output.display().to_string(),
        "messages": summary.messages,
        "detections": summary.detections,
        "malformed": summary.malformed,
        "cameras": options.config.cameras,
        "first_ts": span(summary.first_ts_ms),
        "last_ts": span(summary.last_ts_ms),
        "elapsed_s": report::secs(elapsed),
    });
    let line = format!(
        "generate: {} messages ({} detections, {} malformed) from {} cameras into {} in {:.1} s",
        summary.messages,
        summary.detections,
        summary.malformed,
        options.config.cameras,
        options.output.display(),
        elapsed.as_secs_f64()
    );
    report::emit(&result, &line)?;
    if summary.messages < options.events {
        log::warn!(
            "traffic dried up after {} of {} messages",
            summary.messages,
            options.events
        );
    }
    Ok(())
}

//! JSON Lines dumps of simulated traffic, for replaying a fixed workload
//! into the pipeline without paying for simulation during a benchmark.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::{MessageKind, SimConfig, SimMessage, Simulator};

/// How much simulated time is generated per step.
const STEP_MS: i64 = 1_000;
/// Give up when this much simulated time passes without a message (e.g. a
/// zero rate), instead of spinning forever.
const MAX_IDLE_MS: i64 = 3_600_000;

/// Writes one payload per line. Payloads never contain newlines (compact
/// JSON, and the malformed ones are built to avoid them), so line
/// boundaries are message boundaries.
pub fn write_jsonl<W: Write>(out: &mut W, messages: &[SimMessage]) -> io::Result<()> {
    for message in messages {
        out.write_all(&message.payload)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// What [`generate_jsonl`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenerateSummary {
    pub messages: u64,
    pub detections: u64,
    pub malformed: u64,
    pub first_ts_ms: Option<i64>,
    pub last_ts_ms: Option<i64>,
}

/// Simulates from `start_ms` until `events` messages exist and writes them
/// to `path` as JSON Lines. Streams to disk, so large workloads do not need
/// to fit in memory.
pub fn generate_jsonl(
    config: SimConfig,
    start_ms: i64,
    events: u64,
    path: &Path,
) -> io::Result<GenerateSummary> {
    let mut out = BufWriter::new(File::create(path)?);
    let summary = generate_into(config, start_ms, events, &mut out)?;
    out.flush()?;
    Ok(summary)
}

pub(crate) fn generate_into<W: Write>(
    config: SimConfig,
    start_ms: i64,
    events: u64,
    out: &mut W,
) -> io::Result<GenerateSummary> {
    let mut sim = Simulator::new(config, start_ms);
    let mut summary = GenerateSummary::default();
    let mut idle_ms = 0;
    while summary.messages < events && idle_ms < MAX_IDLE_MS {
        let mut batch = sim.advance(STEP_MS);
        if batch.is_empty() {
            idle_ms += STEP_MS;
            continue;
        }
        idle_ms = 0;
        let room = usize::try_from(events - summary.messages).unwrap_or(usize::MAX);
        batch.truncate(room);
        write_jsonl(out, &batch)?;
        for m in &batch {
            summary.messages += 1;
            summary.detections += m.truths.len() as u64;
            if m.kind == MessageKind::Malformed {
                summary.malformed += 1;
            }
            summary.first_ts_ms.get_or_insert(m.ts_ms);
            summary.last_ts_ms = Some(m.ts_ms);
        }
    }
    Ok(summary)
}

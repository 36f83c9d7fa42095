//! `bench replay`: a JSONL file through the pipeline's own graph on timely
//! (`operators::dataflow::build_dataflow`, which `pipeline run` builds too: decode, then the
//! camera windows), with no Kafka and no PostgreSQL, to measure what the dataflow alone sustains.
//!
//! Every worker reads the whole file but feeds only the lines of the cameras it owns (the
//! camera is found by a byte search, and owned as `camera_route(id) % workers`, which is also
//! where `camera_windows` routes it), so each camera's lines enter one worker in file order and
//! the exchange moves nothing. Lines without a readable camera are dealt round-robin; the decoder
//! drops them. The input epoch advances every `epoch_lines` lines of the file; a tick stream
//! advances with it. After the last line the epoch jumps far enough in processing time for every
//! camera's idle timeout to pass, so every open window closes and is written.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde_json::json;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::vec::Input;
use timely::dataflow::operators::{Operator, Probe};
use timely::dataflow::ProbeHandle;

use operators::camera::AlertConfig;
use operators::dataflow::{
    build_dataflow, camera_route, CameraOutput, CameraWindowsConfig, DataflowConfig, DataflowHooks,
    Epoch, KafkaRecord, StateNote,
};
use operators::event::DecodeError;
use operators::event_time::TimeBounds;
use operators::metrics::WindowResult;
use operators::settings::{Settings, SharedSettings};
use operators::speed::SpeedTrackerConfig;
use operators::window::WindowConfig;

use super::{camera_key, for_each_line, report};
use crate::sim::format_timestamp;

/// Longest park while waiting for another worker (they unpark each other on progress anyway).
const PARK: Duration = Duration::from_millis(1);

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub input: PathBuf,
    pub workers: usize,
    pub out: PathBuf,
    pub window: WindowConfig,
    /// Lines of the file per input epoch.
    pub epoch_lines: u64,
    /// Processing time one epoch stands for (drives the idle close only).
    pub epoch_ms: i64,
}

/// What one worker did.
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    pub index: usize,
    /// Lines this worker fed into the dataflow.
    pub messages: u64,
    /// Valid detections that reached this worker's windows.
    pub detections: u64,
    /// Messages or detections the decoder rejected.
    pub dropped: u64,
    /// Detections that arrived after their window had closed.
    pub late: u64,
    /// Camera-wide windows this worker closed.
    pub windows: u64,
}

#[derive(Debug, Clone)]
pub struct ReplayReport {
    pub workers: usize,
    /// Non-empty lines of the file.
    pub lines: u64,
    pub detections: u64,
    pub dropped: u64,
    pub late: u64,
    pub windows: u64,
    /// From the start of reading to the last window out of the dataflow.
    pub elapsed: Duration,
    pub per_worker: Vec<WorkerStats>,
}

impl ReplayReport {
    pub fn events_per_second(&self) -> f64 {
        report::per_second(self.detections, self.elapsed)
    }

    pub fn to_json(&self, options: &ReplayOptions) -> serde_json::Value {
        let total = self.events_per_second();
        json!({
            "mode": "replay",
            "input": options.input.display().to_string(),
            "out": options.out.display().to_string(),
            "workers": self.workers,
            "window_ms": options.window.size_ms,
            "lateness_ms": options.window.allowed_lateness_ms,
            "epoch_lines": options.epoch_lines,
            "lines": self.lines,
            "events": self.detections,
            "dropped": self.dropped,
            "late": self.late,
            "windows": self.windows,
            "elapsed_s": report::secs(self.elapsed),
            "events_per_s": report::round(total, 0),
            "events_per_s_per_worker": report::round(total / self.workers.max(1) as f64, 0),
            "per_worker": self.per_worker.iter().map(|w| json!({
                "worker": w.index,
                "messages": w.messages,
                "events": w.detections,
                "dropped": w.dropped,
                "windows": w.windows,
            })).collect::<Vec<_>>(),
        })
    }

    pub fn summary_line(&self) -> String {
        let total = self.events_per_second();
        format!(
            "replay: {} events ({} lines, {} dropped, {} late) -> {} windows with {} worker(s) in {:.3} s: {} total, {} per worker",
            self.detections,
            self.lines,
            self.dropped,
            self.late,
            self.windows,
            self.workers,
            self.elapsed.as_secs_f64(),
            report::human_rate(total),
            report::human_rate(total / self.workers.max(1) as f64)
        )
    }
}

/// Everything a worker hands back.
struct WorkerOutcome {
    stats: WorkerStats,
    rows: Vec<WindowResult>,
    last_window: Option<Instant>,
    lines: u64,
}

/// What the collecting sink saw.
#[derive(Default)]
struct Collected {
    rows: Vec<WindowResult>,
    detections: u64,
    late: u64,
    last_window: Option<Instant>,
    done: bool,
}

/// Runs the replay, writes the CSV and returns the counts.
pub fn run(options: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    if options.workers == 0 {
        return Err(anyhow!("--workers must be at least 1"));
    }
    if options.epoch_lines == 0 || options.epoch_ms <= 0 {
        return Err(anyhow!(
            "epochs must be at least one line and one millisecond"
        ));
    }
    File::open(&options.input).with_context(|| format!("opening {}", options.input.display()))?;
    let config = DataflowConfig {
        time_bounds: TimeBounds::OFF,
        windows: CameraWindowsConfig {
            window: options.window,
            tracker: SpeedTrackerConfig::default(),
            alerts: AlertConfig::default(),
            epoch_ms: options.epoch_ms,
            evict_after_ms: None,
        },
        settings: SharedSettings::new(Settings::default()),
        restored: Arc::new(HashMap::new()),
    };
    let input = options.input.clone();
    let epoch_lines = options.epoch_lines;
    // Epochs to skip at the end so that every camera has been idle long enough to close all.
    let window = options.window;
    let quiet_ms = window.idle_timeout_ms.max(0) + window.size_ms + window.allowed_lateness_ms;
    let final_jump = (quiet_ms / options.epoch_ms + 2) as u64;

    let started = Instant::now();
    let guards = timely::execute(timely::Config::process(options.workers), move |worker| {
        let index = worker.index();
        let peers = worker.peers() as u64;
        let probe = ProbeHandle::new();
        let collected = Rc::new(RefCell::new(Collected::default()));
        let dropped = Rc::new(RefCell::new(0u64));
        let (mut records_in, mut ticks_in) = worker.dataflow::<Epoch, _, _>(|scope| {
            let (records_in, records) = scope.new_input::<KafkaRecord>();
            let (ticks_in, ticks) = scope.new_input::<()>();
            let drops = dropped.clone();
            let sink = collected.clone();
            let hooks = DataflowHooks {
                on_drop: move |_: &DecodeError, _: &KafkaRecord| *drops.borrow_mut() += 1,
                on_decoded: |_| {},
                on_note: |_: StateNote<'_>| {},
            };
            build_dataflow(records, ticks, config.clone(), hooks)
                .probe_with(&probe)
                .sink(Pipeline, "CollectWindows", move |(input, frontier)| {
                    let mut sink = sink.borrow_mut();
                    input.for_each(|_cap, batch| {
                        for output in batch.drain(..) {
                            match output {
                                CameraOutput::Event(event) => {
                                    sink.detections += 1;
                                    sink.late += u64::from(event.late);
                                }
                                CameraOutput::Window { result, .. } if result.lane_id.is_none() => {
                                    sink.rows.push(result);
                                    sink.last_window = Some(Instant::now());
                                }
                                _ => {}
                            }
                        }
                    });
                    if frontier.is_empty() {
                        sink.done = true;
                    }
                });
            (records_in, ticks_in)
        });

        let mut epoch: Epoch = 0;
        let mut fed = 0u64;
        if index == 0 {
            ticks_in.send(());
        }
        let lines = for_each_line(&input, |number, line| {
            let line_epoch = number / epoch_lines;
            if line_epoch > epoch {
                epoch = line_epoch;
                records_in.advance_to(epoch);
                ticks_in.advance_to(epoch);
                if index == 0 {
                    ticks_in.send(());
                }
                // Keep at most one completed epoch in flight.
                let settled = epoch.saturating_sub(1);
                while probe.less_than(&settled) {
                    worker.step_or_park(Some(PARK));
                }
            }
            let owner = match camera_key(line) {
                Some(camera) => camera_route(camera) % peers,
                None => number % peers,
            };
            if owner == index as u64 {
                records_in.send(KafkaRecord {
                    partition: 0,
                    offset: number as i64,
                    payload: line.to_vec(),
                });
                fed += 1;
            }
            Ok(())
        })
        .map_err(|e| format!("{e:#}"))?;

        let last = epoch + final_jump;
        records_in.advance_to(last);
        ticks_in.advance_to(last);
        if index == 0 {
            ticks_in.send(());
        }
        drop(records_in);
        drop(ticks_in);
        worker.step_or_park_while(Some(PARK), || !collected.borrow().done);

        let collected = std::mem::take(&mut *collected.borrow_mut());
        let dropped = *dropped.borrow();
        Ok::<_, String>(WorkerOutcome {
            stats: WorkerStats {
                index,
                messages: fed,
                detections: collected.detections,
                dropped,
                late: collected.late,
                windows: collected.rows.len() as u64,
            },
            rows: collected.rows,
            last_window: collected.last_window,
            lines,
        })
    })
    .map_err(|e| anyhow!("cannot start timely: {e}"))?;

    let mut outcomes = Vec::new();
    for result in guards.join() {
        let outcome = result
            .map_err(|e| anyhow!("worker failed: {e}"))?
            .map_err(|e| anyhow!("worker failed: {e}"))?;
        outcomes.push(outcome);
    }
    let finished = Instant::now();
    let last_window = outcomes.iter().filter_map(|o| o.last_window).max();
    let elapsed = last_window
        .unwrap_or(finished)
        .saturating_duration_since(started);

    let mut rows = Vec::new();
    let mut per_worker = Vec::new();
    let mut lines = 0;
    for outcome in outcomes {
        lines = lines.max(outcome.lines);
        per_worker.push(outcome.stats);
        rows.extend(outcome.rows);
    }
    per_worker.sort_by_key(|w| w.index);
    rows.sort_by(|a, b| {
        (a.camera_id.as_str(), a.window_start_ms).cmp(&(b.camera_id.as_str(), b.window_start_ms))
    });
    write_csv(&options.out, &rows)?;

    Ok(ReplayReport {
        workers: options.workers,
        lines,
        detections: per_worker.iter().map(|w| w.detections).sum(),
        dropped: per_worker.iter().map(|w| w.dropped).sum(),
        late: per_worker.iter().map(|w| w.late).sum(),
        windows: rows.len() as u64,
        elapsed,
        per_worker,
    })
}

/// `camera_id,window_start,event_count,distinct_vehicles,avg_speed_kmh`, one row per window.
pub fn write_csv(path: &Path, rows: &[WindowResult]) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = BufWriter::new(file);
    write_rows(&mut out, rows).with_context(|| format!("writing {}", path.display()))?;
    out.flush()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_rows<W: Write>(out: &mut W, rows: &[WindowResult]) -> std::io::Result<()> {
    writeln!(
        out,
        "camera_id,window_start,event_count,distinct_vehicles,avg_speed_kmh"
    )?;
    for row in rows {
        let speed = row
            .avg_speed_kmh
            .map(|s| format!("{s:.3}"))
            .unwrap_or_default();
        writeln!(
            out,
            "{},{},{},{},{}",
            csv_field(&row.camera_id),
            format_timestamp(row.window_start_ms),
            row.event_count,
            row.vehicle_count,
            speed
        )?;
    }
    Ok(())
}

fn csv_field(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\"")).into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{generate_jsonl, SimConfig};

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("bench-replay-{}-{name}", std::process::id()))
    }

    fn read_csv(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .expect("csv")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn same_windows_whatever_the_workers_and_epochs() {
        let input = temp("in.jsonl");
        let config = SimConfig {
            cameras: 5,
            rate: 40.0,
            with_lanes: true,
            bad_ratio: 0.01,
            ..SimConfig::default()
        };
        let summary = generate_jsonl(config, 1_795_766_400_000, 6_000, &input).expect("generate");
        let run_with = |workers: usize, epoch_lines: u64, name: &str| {
            let options = ReplayOptions {
                input: input.clone(),
                workers,
                out: temp(name),
                window: WindowConfig::default(),
                epoch_lines,
                epoch_ms: 100,
            };
            let report = run(&options).expect("replay");
            let rows = read_csv(&options.out);
            let _ = std::fs::remove_file(&options.out);
            (report, rows)
        };
        let (one, rows_one) = run_with(1, 50_000, "one.csv");
        let (two, rows_two) = run_with(2, 700, "two.csv");
        let _ = std::fs::remove_file(&input);

        assert_eq!(one.lines, 6_000);
        assert_eq!(one.detections, summary.detections);
        assert_eq!(one.dropped, summary.malformed);
        assert_eq!(two.detections, one.detections);
        assert_eq!(two.per_worker.len(), 2);
        assert_eq!(
            two.per_worker.iter().map(|w| w.messages).sum::<u64>(),
            6_000
        );
        assert_eq!(rows_one, rows_two);
        assert_eq!(
            rows_one[0],
            "camera_id,window_start,event_count,distinct_vehicles,avg_speed_kmh"
        );
        assert_eq!(rows_one.len() as u64, one.windows + 1);
        // Every event lands in exactly one closed window.
        let counted: u64 = rows_one[1..]
            .iter()
            .map(|r| {
                r.split(',')
                    .nth(2)
                    .expect("count")
                    .parse::<u64>()
                    .expect("number")
            })
            .sum();
        assert_eq!(counted, one.detections - one.late);
        let first: Vec<&str> = rows_one[1].split(',').collect();
        assert_eq!(first[0], "cam_01");
        assert!(first[1].ends_with(".000Z"), "{}", first[1]);
        assert!(rows_one[1..].windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn csv_rows_are_formatted_and_quoted() {
        let row = |camera: &str, speed| WindowResult {
            camera_id: camera.into(),
            lane_id: None,
            window_start_ms: 1_795_766_405_000,
            window_end_ms: 1_795_766_410_000,
            vehicle_count: 3,
            event_count: 7,
            avg_speed_kmh: speed,
            speed_source: operators::metrics::SpeedSource::Reported,
            class_counts: [3, 0, 0, 0, 0, 0],
            avg_confidence: Some(0.9),
            congestion_score: 0.1,
            congestion_level: operators::congestion::CongestionLevel::Low,
        };
        let mut out = Vec::new();
        write_rows(&mut out, &[row("cam_01", Some(42.12345)), row("a,b", None)]).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "cam_01,2026-11-27T08:00:05.000Z,7,3,42.123");
        assert_eq!(lines[2], "\"a,b\",2026-11-27T08:00:05.000Z,7,3,");
    }
}

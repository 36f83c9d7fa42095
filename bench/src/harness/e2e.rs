//! `bench e2e`: the real `pipeline` binary from Kafka to PostgreSQL on a fresh topic and a fresh
//! database, then the two [`ceilings`] on the same data.
//!
//! Order of a run: decode the file once (untimed: expected windows, rows for the COPY ceiling);
//! create the topic and the databases; load the file onto the topic (timed on its own); start
//! the pipeline and poll `pipeline_offsets` until the committed positions reach the topic's high
//! watermarks, which times the sustained rate; wait for the last windows (closed by the idle
//! timeout) and read the latency histograms from `/metrics`; stop the pipeline with SIGTERM;
//! drain the topic with a bare consumer; COPY the rows into a second migrated database. Both
//! databases and the topic are dropped at the end unless `keep` is set.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use postgres::types::ToSql;
use serde_json::{json, Value};
use testbed::net::with_database;
use testbed::prom::{self, Histogram};
use testbed::{http, Launch};

use super::ceilings::{self, ConsumeReport, CopyReport, Decoded};
use super::load::{self, LoadOptions, LoadReport};
use super::report;
use crate::kafka;

/// How often the committed positions are polled.
const POLL_EVERY: Duration = Duration::from_millis(20);
/// Window size the pipeline is started with (and expected windows are counted in).
const WINDOW_SECONDS: i64 = 5;
/// How long the pipeline may take to drain and exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct E2eOptions {
    pub input: PathBuf,
    pub brokers: String,
    /// A database the run can create and drop databases from.
    pub database_url: String,
    pub workers: usize,
    pub partitions: i32,
    /// Keep the databases and the topic afterwards.
    pub keep: bool,
    /// The `pipeline` binary; by default the one beside this executable.
    pub pipeline_bin: Option<PathBuf>,
    /// Where the pipeline's log goes; by default a file in the temporary directory.
    pub pipeline_log: Option<PathBuf>,
    pub idle_timeout_s: f64,
    /// Longest wait for the pipeline to commit everything.
    pub timeout: Duration,
    /// librdkafka properties for loading the topic.
    pub kafka_props: Vec<(String, String)>,
    /// Rows per transaction in the COPY ceiling.
    pub copy_batch_rows: usize,
}

/// What the pipeline did, as seen from the database and its metrics endpoint.
#[derive(Debug, Clone, Default)]
pub struct PipelineReport {
    pub log: PathBuf,
    /// Spawn to the first committed position.
    pub first_commit: Option<Duration>,
    /// Spawn to every position committed.
    pub elapsed: Duration,
    /// Messages per second between 10% and 90% of the positions committed.
    pub steady_messages_per_s: Option<f64>,
    pub traffic_events: i64,
    pub windows_committed: i64,
    /// Spawn to the last expected window committed (when all arrived).
    pub windows_done: Option<Duration>,
    pub close_to_commit: Option<Histogram>,
    pub commit_duration: Option<Histogram>,
    pub counters: BTreeMap<&'static str, Option<f64>>,
    /// `b2_events_dropped_total` by reason.
    pub dropped: BTreeMap<String, f64>,
    /// Sum of `event_count` over the committed camera-wide windows (events minus late ones).
    pub events_in_windows: i64,
    /// SIGTERM to exit.
    pub shutdown: Duration,
    pub exit: Option<ExitStatus>,
    /// Warning and error lines of the log, by their first word.
    pub warnings: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
}

/// The whole run, ready to print.
pub struct E2eResult {
    pub json: Value,
    pub summary: String,
}

/// Runs everything and cleans up (unless `keep`), even when a step failed.
pub fn run(options: &E2eOptions) -> anyhow::Result<E2eResult> {
    if options.workers == 0 || options.partitions <= 0 {
        return Err(anyhow!("--workers and --partitions must be at least 1"));
    }
    let name = format!(
        "bench_e2e_{}_{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        std::process::id()
    );
    let mut resources = Resources {
        admin_url: options.database_url.clone(),
        brokers: options.brokers.clone(),
        databases: Vec::new(),
        topic: None,
    };
    let outcome = run_steps(options, &name, &mut resources);
    if options.keep {
        log::info!(
            "kept topic={} databases={:?}",
            resources.topic.as_deref().unwrap_or("-"),
            resources.databases
        );
    } else {
        resources.clean_up();
    }
    outcome
}

fn run_steps(
    options: &E2eOptions,
    name: &str,
    resources: &mut Resources,
) -> anyhow::Result<E2eResult> {
    let pipeline_bin = match &options.pipeline_bin {
        Some(path) => path.clone(),
        None => testbed::workspace_binary("pipeline").context("or pass --pipeline-bin")?,
    };

    log::info!("decoding {}", options.input.display());
    let decoded = ceilings::decode_file(&options.input)?;
    let expected_windows = decoded.camera_windows(WINDOW_SECONDS * 1000) as i64;

    let pipeline_db = name.to_owned();
    let copy_db = format!("{name}_copy");
    let mut admin = postgres::Client::connect(&options.database_url, postgres::NoTls)
        .context("connecting to --database-url")?;
    for db in [&pipeline_db, &copy_db] {
        admin
            .batch_execute(&format!("CREATE DATABASE \"{db}\""))
            .with_context(|| format!("creating database {db}"))?;
        resources.databases.push(db.clone());
    }
    drop(admin);

    log::info!("loading {} onto topic {name}", options.input.display());
    resources.topic = Some(name.to_owned());
    let loaded = load::run(&LoadOptions {
        input: options.input.clone(),
        brokers: options.brokers.clone(),
        topic: name.to_owned(),
        partitions: options.partitions,
        kafka_props: options.kafka_props.clone(),
        flush_timeout: Duration::from_secs(300),
    })?;
    // On a fresh topic without transactions, a reader that has everything stores positions
    // summing to the messages delivered. The high watermarks should agree; some brokers
    // under-report them right after a load, so they only ever raise the target.
    let watermarks = ceilings::high_watermarks(&options.brokers, name)?;
    if watermarks != loaded.delivered as i64 {
        log::warn!(
            "topic high watermarks sum to {watermarks}, but {} messages were delivered; waiting for the larger",
            loaded.delivered
        );
    }
    let target = watermarks.max(loaded.delivered as i64);

    log::info!(
        "running the pipeline with {} worker(s) until {target} positions are committed",
        options.workers
    );
    let pipeline_url = with_database(&options.database_url, &pipeline_db);
    let pipeline = run_pipeline(
        options,
        &pipeline_bin,
        &pipeline_url,
        name,
        target,
        expected_windows,
    )?;

    log::info!("ceiling: draining the topic with a bare consumer");
    let consumed = ceilings::consume_all(
        &options.brokers,
        name,
        &format!("{name}_drain"),
        target.max(0) as u64,
        &[],
        options.timeout,
    )?;

    log::info!(
        "ceiling: binary COPY of {} rows into a fresh traffic_events",
        decoded.rows.len()
    );
    let mut copy_client = postgres::Client::connect(
        &with_database(&options.database_url, &copy_db),
        postgres::NoTls,
    )
    .context("connecting to the COPY database")?;
    migrations::apply(&mut copy_client)?;
    let copied = ceilings::copy_rows(&mut copy_client, &decoded.rows, options.copy_batch_rows)?;
    drop(copy_client);

    Ok(build_result(
        options,
        name,
        &decoded,
        expected_windows,
        &loaded,
        &pipeline,
        &consumed,
        &copied,
    ))
}

#[allow(clippy::too_many_arguments)]
fn build_result(
    options: &E2eOptions,
    name: &str,
    decoded: &Decoded,
    expected_windows: i64,
    loaded: &LoadReport,
    pipeline: &PipelineReport,
    consumed: &ConsumeReport,
    copied: &CopyReport,
) -> E2eResult {
    let events = decoded.rows.len() as u64;
    let pipeline_rate = report::per_second(events, pipeline.elapsed);
    let after_first = pipeline
        .first_commit
        .map(|first| pipeline.elapsed.saturating_sub(first));
    let histogram = |h: &Option<Histogram>| h.as_ref().map_or(Value::Null, histogram_summary);
    let json = json!({
        "mode": "e2e",
        "input": options.input.display().to_string(),
        "topic": name,
        "database": name,
        "workers": options.workers,
        "partitions": options.partitions,
        "messages": decoded.messages,
        "events": events,
        "decode_errors": decoded.errors,
        "load": loaded.to_json(),
        "pipeline": {
            "elapsed_s": report::secs(pipeline.elapsed),
            "first_commit_s": pipeline.first_commit.map(report::secs),
            "events_per_s": report::round(pipeline_rate, 0),
            "events_per_s_after_first_commit": after_first
                .map(|d| report::round(report::per_second(events, d), 0)),
            "steady_messages_per_s": pipeline.steady_messages_per_s.map(|r| report::round(r, 0)),
            "traffic_events": pipeline.traffic_events,
            "windows_committed": pipeline.windows_committed,
            "windows_expected": expected_windows,
            "windows_done_s": pipeline.windows_done.map(report::secs),
            "window_close_to_commit": histogram(&pipeline.close_to_commit),
            "commit_duration": histogram(&pipeline.commit_duration),
            "events_in_windows": pipeline.events_in_windows,
            "dropped": pipeline.dropped,
            "counters": pipeline.counters,
            "shutdown_s": report::secs(pipeline.shutdown),
            "exit": pipeline.exit.map(|s| s.to_string()),
            "log": pipeline.log.display().to_string(),
            "log_warnings": pipeline.warnings,
            "log_errors": pipeline.errors,
        },
        "ceilings": {
            "kafka_consume": consumed.to_json(),
            "postgres_copy": copied.to_json(),
        },
    });
    let bound = |h: &Option<Histogram>, q: f64| match h.as_ref().and_then(|h| h.quantile_bound(q)) {
        Some(b) if b.is_infinite() => ">last bucket".to_owned(),
        Some(b) => format!("<={b}s"),
        None => "n/a".to_owned(),
    };
    let summary = format!(
        "e2e: {events} events, {} worker(s), {} partitions | load {} | pipeline {} ({:.2} s, {} rows, {}/{} windows, {} dropped) \
         | close->commit p50 {} p99 {} | commit p50 {} p99 {} | ceilings: consume {}, COPY {} rows | log: {} warn, {} error",
        options.workers,
        options.partitions,
        report::human_rate(loaded.messages_per_second()),
        report::human_rate(pipeline_rate),
        pipeline.elapsed.as_secs_f64(),
        pipeline.traffic_events,
        pipeline.windows_committed,
        expected_windows,
        pipeline.dropped.values().sum::<f64>() as u64,
        bound(&pipeline.close_to_commit, 0.5),
        bound(&pipeline.close_to_commit, 0.99),
        bound(&pipeline.commit_duration, 0.5),
        bound(&pipeline.commit_duration, 0.99),
        report::human_rate(report::per_second(consumed.messages, consumed.elapsed)),
        report::human_rate(report::per_second(copied.rows, copied.elapsed)),
        pipeline.warnings.values().sum::<u64>(),
        pipeline.errors.values().sum::<u64>(),
    );
    E2eResult { json, summary }
}

/// `{count, mean_s, p50_le_s, p99_le_s}`; an unbounded quantile shows as `"+Inf"`.
fn histogram_summary(histogram: &Histogram) -> Value {
    let bound = |q: f64| match histogram.quantile_bound(q) {
        Some(b) if b.is_infinite() => json!("+Inf"),
        Some(b) => json!(b),
        None => Value::Null,
    };
    json!({
        "count": histogram.count,
        "mean_s": histogram.mean().map(|m| (m * 1e6).round() / 1e6),
        "p50_le_s": bound(0.5),
        "p99_le_s": bound(0.99),
    })
}

fn run_pipeline(
    options: &E2eOptions,
    binary: &Path,
    database_url: &str,
    topic: &str,
    target: i64,
    expected_windows: i64,
) -> anyhow::Result<PipelineReport> {
    let metrics_addr = testbed::net::free_loopback_addr().context("finding a free port")?;
    let log_path = options
        .pipeline_log
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("{topic}-pipeline.log")));
    let started = Instant::now();
    let mut child = Launch::new(binary)
        .args(["run", "-w", &options.workers.to_string()])
        .env("DATABASE_URL", database_url)
        .env("KAFKA_BROKERS", &options.brokers)
        .env("KAFKA_TOPIC", topic)
        .env("PIPELINE_METRICS_ADDR", metrics_addr.to_string())
        .env(
            "CAMERA_IDLE_TIMEOUT_SECONDS",
            options.idle_timeout_s.to_string(),
        )
        .env("WINDOW_SIZE_SECONDS", WINDOW_SECONDS.to_string())
        // A recorded file replays whatever its clock said; none of it may be dropped as out of
        // range, or the run would measure less than the file.
        .env("EVENT_TIME_MAX_FUTURE_SECONDS", "off")
        .env("EVENT_TIME_MAX_PAST_HOURS", "off")
        .log_to(&log_path)
        .spawn()?;
    let mut result = PipelineReport {
        log: log_path.clone(),
        ..PipelineReport::default()
    };
    let exited_early = |status: ExitStatus| {
        anyhow!(
            "the pipeline exited early ({status}); see {}",
            log_path.display()
        )
    };

    // Committed positions until they reach the high watermarks.
    let mut client: Option<postgres::Client> = None;
    let mut samples: Vec<(Duration, i64)> = Vec::new();
    let mut committed = 0i64;
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(exited_early(status));
        }
        let now = started.elapsed();
        if now > options.timeout {
            return Err(anyhow!(
                "only {committed} of {target} positions committed after {:?}; see {}",
                options.timeout,
                log_path.display()
            ));
        }
        if let Some(value) = query_i64(
            &mut client,
            database_url,
            "SELECT coalesce(sum(next_offset), 0)::int8 FROM pipeline_offsets WHERE topic = $1",
            &[&topic],
        ) {
            committed = value;
            if committed > 0 && result.first_commit.is_none() {
                result.first_commit = Some(now);
            }
            samples.push((now, committed));
            if committed >= target {
                result.elapsed = now;
                break;
            }
        }
        thread::sleep(POLL_EVERY);
    }
    result.steady_messages_per_s = steady_rate(&samples, target);

    // The last windows close by the idle timeout after the last events.
    let windows_deadline = started.elapsed()
        + Duration::from_secs_f64(options.idle_timeout_s.max(0.0))
        + Duration::from_secs(15);
    let count_windows = "SELECT count(*)::int8 FROM traffic_metrics WHERE lane_id IS NULL";
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(exited_early(status));
        }
        if let Some(n) = query_i64(&mut client, database_url, count_windows, &[]) {
            result.windows_committed = n;
            if n >= expected_windows {
                result.windows_done = Some(started.elapsed());
                break;
            }
        }
        if started.elapsed() > windows_deadline {
            log::warn!(
                "{} of {expected_windows} camera windows committed; not waiting longer",
                result.windows_committed
            );
            break;
        }
        thread::sleep(POLL_EVERY);
    }
    result.traffic_events = query_i64(
        &mut client,
        database_url,
        "SELECT count(*)::int8 FROM traffic_events",
        &[],
    )
    .unwrap_or(-1);
    result.events_in_windows = query_i64(
        &mut client,
        database_url,
        "SELECT coalesce(sum(event_count), 0)::int8 FROM traffic_metrics WHERE lane_id IS NULL",
        &[],
    )
    .unwrap_or(-1);
    drop(client);

    // Metrics are recorded right after each commit: give the last one a moment.
    thread::sleep(Duration::from_millis(300));
    match http::get_ok(&format!("http://{metrics_addr}/metrics")) {
        Ok(text) => {
            result.close_to_commit = prom::histogram(&text, "b2_window_close_to_commit_seconds");
            result.commit_duration = prom::histogram(&text, "b2_commit_duration_seconds");
            result.dropped = prom::by_label(&text, "b2_events_dropped_total", "reason");
            result.dropped.retain(|_, n| *n > 0.0);
            for name in [
                "b2_events_processed_total",
                "b2_events_stored_total",
                "b2_events_dropped_total",
                "b2_window_flushes_total",
                "b2_commits_total",
                "b2_commit_failures_total",
            ] {
                result.counters.insert(name, prom::total(&text, name));
            }
        }
        Err(e) => log::warn!("cannot read the pipeline's metrics: {e:#}"),
    }

    let stopping = Instant::now();
    result.exit = Some(child.stop(STOP_GRACE)?);
    result.shutdown = stopping.elapsed();
    let (warnings, errors) = scan_log(&log_path)?;
    result.warnings = warnings;
    result.errors = errors;
    Ok(result)
}

/// One `int8` from `sql`, connecting on demand; `None` while the
/// database or the table is not there yet.
fn query_i64(
    client: &mut Option<postgres::Client>,
    url: &str,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Option<i64> {
    if client.as_ref().is_none_or(|c| c.is_closed()) {
        *client = postgres::Client::connect(url, postgres::NoTls).ok();
    }
    let row = client.as_mut()?.query_one(sql, params).ok()?;
    row.try_get(0).ok()
}

/// Messages per second between the samples at 10% and 90% of `target`.
fn steady_rate(samples: &[(Duration, i64)], target: i64) -> Option<f64> {
    let at = |fraction: f64| {
        let level = (target as f64 * fraction) as i64;
        samples.iter().find(|(_, committed)| *committed >= level)
    };
    let (t10, c10) = at(0.1)?;
    let (t90, c90) = at(0.9)?;
    let span = t90.saturating_sub(*t10).as_secs_f64();
    (span > 0.0).then(|| (c90 - c10) as f64 / span)
}

/// Counts the log's WARN and ERROR lines by the first word of their message.
fn scan_log(path: &Path) -> anyhow::Result<(BTreeMap<String, u64>, BTreeMap<String, u64>)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut warnings = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        let target = if line.contains("\"level\":\"WARN\"") {
            &mut warnings
        } else if line.contains("\"level\":\"ERROR\"") {
            &mut errors
        } else {
            continue;
        };
        let message = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or(line);
        let key = message
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        *target.entry(key).or_insert(0) += 1;
    }
    Ok((warnings, errors))
}

/// What a run created, to drop at the end.
struct Resources {
    admin_url: String,
    brokers: String,
    databases: Vec<String>,
    topic: Option<String>,
}

impl Resources {
    fn clean_up(&mut self) {
        if !self.databases.is_empty() {
            match postgres::Client::connect(&self.admin_url, postgres::NoTls) {
                Ok(mut admin) => {
                    for db in self.databases.drain(..) {
                        let sql = format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)");
                        if let Err(e) = admin.batch_execute(&sql) {
                            log::warn!("cannot drop database {db}: {e}");
                        }
                    }
                }
                Err(e) => log::warn!("cannot connect to drop {:?}: {e}", self.databases),
            }
        }
        if let Some(topic) = self.topic.take() {
            if let Err(e) = kafka::delete_topic(&self.brokers, &topic) {
                log::warn!("cannot delete topic {topic}: {e:#}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_rate_spans_ten_to_ninety_percent() {
        let s = |ms: u64, c: i64| (Duration::from_millis(ms), c);
        let samples = [
            s(0, 0),
            s(1_000, 10),
            s(2_000, 50),
            s(3_000, 90),
            s(4_000, 100),
        ];
        assert_eq!(steady_rate(&samples, 100), Some(40.0));
        assert_eq!(steady_rate(&samples[..2], 100), None);
    }

    #[test]
    fn counts_log_problems_by_first_word() {
        let path = std::env::temp_dir().join(format!("bench-e2e-log-{}.log", std::process::id()));
        let lines = [
            r#"{"level":"INFO","message":"pipeline_starting topic=t"}"#,
            r#"{"level":"WARN","message":"kafka_poll_error error=x"}"#,
            r#"{"level":"WARN","message":"kafka_poll_error error=y"}"#,
            r#"{"level":"ERROR","message":"worker_failed error=z"}"#,
        ];
        std::fs::write(&path, lines.join("\n")).expect("write");
        let (warnings, errors) = scan_log(&path).expect("scan");
        let _ = std::fs::remove_file(&path);
        assert_eq!(warnings["kafka_poll_error"], 2);
        assert_eq!(errors["worker_failed"], 1);
    }
}

//! WebSocket fan-out: `clients` sessions held open on the real `query-server` while a writer
//! commits camera windows the way the pipeline does (rows, then one NOTIFY per camera window,
//! in one transaction), every camera once per 5 s. Measured:
//! - delivery latency from just before COMMIT to the moment a client has read the frame (the
//!   writer and the clients are in this process, so both ends use one monotonic clock; the
//!   window's `event_count` carries its sequence number);
//! - frames delivered against frames expected (every client gets every window);
//! - the server's resident memory before and after the clients connect, with no traffic (memory
//!   per idle client), and its CPU time while the writer runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use contract::{Channel, Notice, WindowNotice};
use futures_util::StreamExt;
use operators::congestion::{classify, Thresholds};
use serde_json::{json, Value};
use testbed::net::with_database;
use testbed::{http, prom, Launch, Running};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone)]
pub struct WsLoad {
    /// Admin connection; the run creates and drops a database of its own.
    pub database_url: String,
    pub clients: usize,
    pub cameras: usize,
    pub lanes: usize,
    pub duration: Duration,
    /// Channel path and query, e.g. `/ws/metrics`.
    pub path: String,
    pub server_bin: Option<PathBuf>,
    /// Worker threads of the clients' runtime.
    pub client_threads: usize,
}

const WINDOW: Duration = Duration::from_secs(5);
/// Commits per second of the writer (the pipeline commits about every 250 ms under load).
const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// Latency buckets: 50 µs wide, up to 10 s.
const BUCKET_NS: u64 = 50_000;
const BUCKETS: usize = 200_000;

/// Lock-free latency histogram shared by every client task.
struct Latencies {
    buckets: Vec<AtomicU64>,
}

impl Latencies {
    fn new() -> Self {
        Self {
            buckets: (0..=BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn record(&self, ns: u64) {
        let i = ((ns / BUCKET_NS) as usize).min(BUCKETS);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
    }

    fn total(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Upper edge of the bucket holding quantile `q`, in ms.
    fn quantile_ms(&self, q: f64) -> f64 {
        let total = self.total();
        if total == 0 {
            return f64::NAN;
        }
        let target = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= target {
                return ((i as u64 + 1) * BUCKET_NS) as f64 / 1e6;
            }
        }
        f64::INFINITY
    }
}

/// What the clients share with the rest of the run.
struct Shared {
    started: Instant,
    /// Per window sequence number: ns since `started` just before its COMMIT (0 = not yet).
    committed_ns: Vec<AtomicU64>,
    latencies: Latencies,
    connected: AtomicUsize,
    failed: AtomicUsize,
    ended_early: AtomicUsize,
    frames: AtomicU64,
    stop: AtomicBool,
}

pub fn run(load: &WsLoad) -> anyhow::Result<(Value, String)> {
    let server_bin = match &load.server_bin {
        Some(p) => p.clone(),
        None => testbed::workspace_binary("query-server").context("or pass --server-bin")?,
    };
    let db_name = format!("b2_bench_ws_{}", std::process::id());
    let db_url = with_database(&load.database_url, &db_name);
    let mut admin = postgres::Client::connect(&load.database_url, postgres::NoTls)
        .context("connecting to --database-url")?;
    admin.batch_execute(&format!("CREATE DATABASE \"{db_name}\""))?;
    let outcome = run_on(load, &server_bin, &db_url);
    if let Err(e) = admin.batch_execute(&format!(
        "DROP DATABASE IF EXISTS \"{db_name}\" WITH (FORCE)"
    )) {
        log::warn!("cannot drop {db_name}: {e}");
    }
    outcome
}

fn run_on(load: &WsLoad, server_bin: &Path, db_url: &str) -> anyhow::Result<(Value, String)> {
    let mut sql = postgres::Client::connect(db_url, postgres::NoTls)?;
    migrations::apply(&mut sql).context("migrations")?;
    sql.batch_execute(&format!(
        "SELECT b2_ensure_day_partition('traffic_metrics', d::date)
           FROM generate_series(now() - interval '1 day', now() + interval '1 day', interval '1 day') d;
         INSERT INTO cameras (camera_id, name, latitude, longitude, road_segment, lanes)
         SELECT format('ws_%s', lpad(i::text, 3, '0')), format('Camera %s', i), 52.0 + i * 0.001,
                4.0, format('segment_%s', i % 20), {lanes}
           FROM generate_series(1, {cameras}) i;",
        lanes = load.lanes,
        cameras = load.cameras
    ))?;

    let port = testbed::net::free_port()?;
    let mut server = Server::start(server_bin, db_url, port, load.clients)?;
    let rss_before = server.rss_kib()?;

    let windows_total = (load.duration.as_secs_f64() / WINDOW.as_secs_f64()).ceil() as usize
        * load.cameras
        + load.cameras;
    let shared = Arc::new(Shared {
        started: Instant::now(),
        committed_ns: (0..windows_total).map(|_| AtomicU64::new(0)).collect(),
        latencies: Latencies::new(),
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        ended_early: AtomicUsize::new(0),
        frames: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(load.client_threads.max(1))
        .enable_all()
        .build()?;
    let url = format!("ws://127.0.0.1:{port}{}", load.path);
    let connecting = Instant::now();
    let handshakes = Arc::new(tokio::sync::Semaphore::new(256));
    for _ in 0..load.clients {
        runtime.spawn(client(url.clone(), shared.clone(), handshakes.clone()));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed)
        < load.clients
    {
        if Instant::now() > deadline {
            bail!(
                "only {} of {} clients connected in 120 s",
                shared.connected.load(Ordering::Relaxed),
                load.clients
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let connect_s = connecting.elapsed().as_secs_f64();
    let failed = shared.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} clients could not connect");
    }
    std::thread::sleep(Duration::from_secs(3));
    let rss_idle = server.rss_kib()?;

    let cpu_before = server.cpu_seconds()?;
    let written = write_windows(&mut sql, load, &shared)?;
    // Let the last commits arrive.
    let expected = written as u64 * load.clients as u64;
    let drain_deadline = Instant::now() + Duration::from_secs(10);
    while shared.frames.load(Ordering::Relaxed) < expected && Instant::now() < drain_deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let cpu_used = server.cpu_seconds()? - cpu_before;
    let exposed = http::get_ok(&format!("http://127.0.0.1:{port}/metrics"))?;
    let delivery = prom::histogram(&exposed, "b2_ws_delivery_latency_seconds");
    let bound_ms = |q: f64| {
        delivery
            .as_ref()
            .and_then(|h| h.quantile_bound(q))
            .map_or(f64::NAN, |s| s * 1000.0)
    };
    let (server_p50, server_p99) = (bound_ms(0.5), bound_ms(0.99));
    let rss_busy = server.rss_kib()?;
    shared.stop.store(true, Ordering::Relaxed);
    runtime.shutdown_timeout(Duration::from_secs(5));
    let exit = server.stop()?;

    let frames = shared.frames.load(Ordering::Relaxed);
    let per_client_kib = (rss_idle.saturating_sub(rss_before)) as f64 / load.clients as f64;
    let p50 = shared.latencies.quantile_ms(0.50);
    let p99 = shared.latencies.quantile_ms(0.99);
    let p999 = shared.latencies.quantile_ms(0.999);
    let max = shared.latencies.quantile_ms(1.0);
    let json = json!({
        "mode": "ws",
        "path": load.path,
        "clients": load.clients,
        "cameras": load.cameras,
        "duration_s": load.duration.as_secs_f64(),
        "connect_s": super::report::round(connect_s, 2),
        "windows_committed": written,
        "frames_expected": expected,
        "frames_delivered": frames,
        "frames_per_s": super::report::round(frames as f64 / load.duration.as_secs_f64(), 0),
        "sessions_ended_early": shared.ended_early.load(Ordering::Relaxed),
        "latency_ms": {"p50": p50, "p99": p99, "p999": p999, "max": max},
        "server_publish_to_socket_ms": {"p50_le": server_p50, "p99_le": server_p99},
        "server_rss_kib": {"before": rss_before, "idle_with_clients": rss_idle, "under_traffic": rss_busy},
        "server_kib_per_idle_client": super::report::round(per_client_kib, 2),
        "server_cpu_s": super::report::round(cpu_used, 2),
        "server_cpu_share": super::report::round(cpu_used / load.duration.as_secs_f64(), 2),
        "server_exit_ok": exit,
    });
    let summary = format!(
        "ws: {} clients on {} | {} windows -> {}/{} frames | commit->client p50 {:.1} ms p99 {:.1} ms max {:.1} ms | server publish->socket p50 <= {} ms p99 <= {} ms | {:.1} KiB/idle client | server CPU {:.0}%",
        load.clients,
        load.path,
        written,
        frames,
        expected,
        p50,
        p99,
        max,
        server_p50,
        server_p99,
        per_client_kib,
        cpu_used / load.duration.as_secs_f64() * 100.0
    );
    Ok((json, summary))
}

/// Commits every camera's window once per 5 s (cameras spread over the period) for the run's
/// duration; returns how many windows were committed.
fn write_windows(
    sql: &mut postgres::Client,
    load: &WsLoad,
    shared: &Shared,
) -> anyhow::Result<usize> {
    let cameras: Vec<String> = (1..=load.cameras).map(|i| format!("ws_{i:03}")).collect();
    let thresholds = Thresholds::default();
    let base: chrono::DateTime<chrono::Utc> = sql
        .query_one("SELECT date_trunc('minute', now())", &[])?
        .get(0);
    let begun = Instant::now();
    let mut seq = 0usize;
    let mut due = 0usize; // windows scheduled so far
    let ticks = (load.duration.as_nanos() / COMMIT_EVERY.as_nanos()) as u64;
    for tick in 1..=ticks {
        let at = COMMIT_EVERY * tick as u32;
        if let Some(wait) = at.checked_sub(begun.elapsed()) {
            std::thread::sleep(wait);
        }
        // Camera i's window k is due at k * 5 s + i * (5 s / cameras).
        let should = (at.as_secs_f64() / WINDOW.as_secs_f64() * load.cameras as f64) as usize;
        if should <= due {
            continue;
        }
        let mut tx = sql.transaction()?;
        let mut payloads = Vec::new();
        for n in due..should.min(shared.committed_ns.len()) {
            let camera = &cameras[n % load.cameras];
            let start = base + chrono::Duration::seconds(5 * (n / load.cameras) as i64);
            let end = start + chrono::Duration::seconds(5);
            let score = ((n * 7919) % 100) as f64 / 100.0;
            let level = classify(score, &thresholds);
            let lanes: Vec<Option<String>> = std::iter::once(None)
                .chain((1..=load.lanes).map(|l| Some(l.to_string())))
                .collect();
            tx.execute(
                "INSERT INTO traffic_metrics (camera_id, lane_id, window_start, window_end, vehicle_count,
                     event_count, avg_speed_kmh, speed_source, car_count, congestion_score, congestion_level)
                 SELECT $1, lane, $2, $3, 6, $4, 42.5, 'reported', 6, $5, $6 FROM UNNEST($7::text[]) AS lane",
                &[camera, &start, &end, &(n as i32), &score, &level.as_str(), &lanes],
            )?;
            let notice = Notice::Window(WindowNotice {
                camera_id: camera.clone(),
                window_start: Some(start),
                window_end: Some(end),
                vehicle_count: Some(6),
                avg_speed_kmh: Some(42.5),
                congestion_level: Some(level),
                congestion_score: Some(score),
                lanes: (1..=load.lanes).map(|l| l.to_string()).collect(),
                lanes_total: None,
                truncated: false,
            });
            payloads.push(notice.encode().text);
        }
        tx.execute(
            &format!(
                "SELECT pg_notify('{}', p) FROM UNNEST($1::text[]) AS p",
                Channel::Metrics.name()
            ),
            &[&payloads],
        )?;
        let stamp = shared.started.elapsed().as_nanos() as u64;
        for n in due..should.min(shared.committed_ns.len()) {
            shared.committed_ns[n].store(stamp.max(1), Ordering::Relaxed);
            seq = n + 1;
        }
        tx.commit()?;
        due = should;
    }
    Ok(seq)
}

async fn client(url: String, shared: Arc<Shared>, handshakes: Arc<tokio::sync::Semaphore>) {
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let socket = {
        let _permit = handshakes.acquire().await;
        match tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true).await {
            Ok((mut socket, _)) => match socket.next().await {
                Some(Ok(Message::Text(_))) => socket,
                _ => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            Err(e) => {
                log::warn!("ws connect failed: {e}");
                shared.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    };
    shared.connected.fetch_add(1, Ordering::Relaxed);
    let mut socket = socket;
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Text(text)) => {
                let now = shared.started.elapsed().as_nanos() as u64;
                if let Some(seq) = sequence(text.as_str()) {
                    if let Some(at) = shared.committed_ns.get(seq) {
                        let committed = at.load(Ordering::Relaxed);
                        // A frame can be read before the writer's COMMIT call returns; the stamp is
                        // taken just before COMMIT, so it is always set by then.
                        shared.latencies.record(now.saturating_sub(committed));
                        shared.frames.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
    }
    if !shared.stop.load(Ordering::Relaxed) {
        shared.ended_early.fetch_add(1, Ordering::Relaxed);
    }
}

/// The window's sequence number, carried in `event_count`, without parsing the JSON.
fn sequence(text: &str) -> Option<usize> {
    const FIELD: &str = "\"event_count\":";
    let at = text.find(FIELD)? + FIELD.len();
    let digits: &str = &text[at..];
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// The real query server, sized for the run's clients.
struct Server {
    process: Running,
}

impl Server {
    fn start(binary: &Path, db_url: &str, port: u16, clients: usize) -> anyhow::Result<Server> {
        let mut process = Launch::new(binary)
            .env("QUERY_SERVER_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", db_url)
            .env("QUERY_SERVER_WS_MAX_CLIENTS", (clients + 100).to_string())
            .env("RUST_LOG", "warn")
            .stderr_only()
            .spawn()?;
        testbed::wait_healthy(
            &mut process,
            &format!("http://127.0.0.1:{port}/health"),
            Duration::from_secs(30),
        )?;
        Ok(Server { process })
    }

    fn pid(&self) -> anyhow::Result<u32> {
        self.process
            .pid()
            .ok_or_else(|| anyhow!("the query server has exited"))
    }

    fn rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS for the server"))
    }

    /// User plus system CPU time of the server so far.
    fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?))?;
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .ok_or_else(|| anyhow!("bad /proc stat"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok(ticks as f64 / 100.0)
    }

    /// SIGTERM, up to 20 s to close the sessions and exit, then `kill -9`; whether it exited
    /// cleanly.
    fn stop(&mut self) -> anyhow::Result<bool> {
        Ok(self.process.stop(Duration::from_secs(20))?.success())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_sequence_and_quantiles() {
        assert_eq!(sequence(r#"{"a":1,"event_count":1234,"b":2}"#), Some(1234));
        assert_eq!(sequence(r#"{"event_count":7}"#), Some(7));
        assert_eq!(sequence(r#"{"type":"snapshot"}"#), None);
        let l = Latencies::new();
        for ms in 1..=100u64 {
            l.record(ms * 1_000_000 - 1);
        }
        assert!((l.quantile_ms(0.5) - 50.0).abs() < 0.1);
        assert!((l.quantile_ms(0.99) - 99.0).abs() < 0.1);
    }
}

//! Harness for end-to-end tests against a real Kafka-protocol broker and a real PostgreSQL. The
//! child processes themselves (spawn, health, SIGTERM, Prometheus, HTTP) are `testbed`'s, which
//! `bench` shares; this crate adds what only the tests need.
//!
//! - [`services`]: the broker and database, from `KAFKA_BROKERS` / `DATABASE_URL` when set and
//!   reachable, else a broker started here (tansu, if installed) and the local PostgreSQL.
//! - [`api`]: the real `query-server` binary, requests to it, and refusals checked from tables.
//! - [`certs`]: a CA and a server certificate of the test's own.
//! - [`db`]: a fresh database per test, dropped afterwards, and row snapshots for comparisons.
//! - [`owned_postgres`]: a PostgreSQL server of the test's own, to crash and restart.
//! - [`pgproxy`]: a PostgreSQL wire proxy that cuts a connection after COMMIT, or every connection.
//! - [`process`]: the real `pipeline` binary as a child process (SIGTERM, `kill -9`, metrics).
//! - [`runs`]: deterministic runs of the pipeline, waited for and compared row for row.
//! - [`tls_proxy`]: a TLS-terminating proxy, to put TLS in front of the broker.
//! - [`traffic`]: simulated B1 traffic, produced to a per-test topic, and what it should yield.
//! - [`ws`]: WebSocket clients (tokio-tungstenite, a stalled one, and Python's `websockets`).
//!
//! Nothing is skipped: a missing service fails the test with the command that provides it.

pub mod api;
pub mod certs;
pub mod db;
pub mod owned_postgres;
pub mod pgproxy;
pub mod process;
pub mod runs;
pub mod services;
pub mod tls_proxy;
pub mod traffic;
pub mod ws;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, failing with `what` after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `command` to its end and fails the test, with its stderr, unless it succeeded.
pub fn run_ok(command: &mut std::process::Command, what: &str) -> std::process::Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A name unique to this test process and call, safe for databases and topics.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!("{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

/// Path of a workspace binary built beside the test executables.
pub fn workspace_binary(name: &str) -> PathBuf {
    testbed::workspace_binary(name).unwrap_or_else(|e| panic!("{e}"))
}

//! The `bench` binary's subcommands, as library code.
//!
//! - [`generate`]: a JSON Lines workload from the simulator (recent timestamps by default).
//! - [`replay`]: a JSONL file through the real decode and window operators on timely, without
//!   Kafka or PostgreSQL; writes the camera-wide windows as CSV.
//! - [`load`]: a JSONL file onto a Kafka topic as fast as the broker takes it.
//! - [`e2e`]: load, then the real `pipeline` binary from Kafka to PostgreSQL, timed by the
//!   committed Kafka positions, with latency read from its Prometheus histograms; then the
//!   [`ceilings`] on the same data: a bare consumer drain and a bare binary COPY.
//! - [`http`]: a closed-loop HTTP/1.1 load (keep-alive connections, HDR latency histogram) and
//!   [`hello`], the bare hyper server that is its ceiling.
//! - [`seed`]: camera history written straight into PostgreSQL, for the HTTP runs.
//! - [`ws`]: WebSocket sessions held open on the real query server while windows commit:
//!   commit-to-client latency, delivery, memory per idle session.
//! - [`seed_lanes`]: days of per-lane history from a simulated road network (queues at
//!   bottlenecks spreading upstream), for training the congestion forecast.
//! - [`report`]: each run's result as one JSON object on stdout and one readable line on stderr.
//!
//! Starting and stopping the binaries, waiting for their health, HTTP and Prometheus scraping
//! are `testbed`'s, shared with the end-to-end tests.
//!
//! Shared here: reading JSONL files line by line and finding a line's camera without parsing it.

pub mod ceilings;
pub mod e2e;
pub mod generate;
pub mod hello;
pub mod http;
pub mod load;
pub mod replay;
pub mod report;
pub mod seed;
pub mod seed_lanes;
pub mod ws;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;

/// Read buffer for JSONL input files.
const READ_BUFFER: usize = 1 << 20;

/// Calls `each` with every non-empty line of a JSONL file (without its line ending) and its
/// 0-based number among the non-empty lines. Returns the number of lines seen.
pub fn for_each_line(
    path: &Path,
    mut each: impl FnMut(u64, &[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, file);
    let mut buf = Vec::with_capacity(4096);
    let mut number = 0u64;
    loop {
        buf.clear();
        let read = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            return Ok(number);
        }
        let line = trim_line_end(&buf);
        if line.is_empty() {
            continue;
        }
        each(number, line)?;
        number += 1;
    }
}

fn trim_line_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    line
}

/// The value of the first `"camera_id"` string field of a B1 message, found by a byte search
/// rather than a JSON parse. `None` when absent, not a plain string, or not UTF-8; escaped
/// characters are not decoded (such an id is returned as written).
pub fn camera_key(line: &[u8]) -> Option<&str> {
    const FIELD: &[u8] = b"\"camera_id\"";
    let at = find(line, FIELD)?;
    let mut rest = &line[at + FIELD.len()..];
    rest = skip_whitespace(rest);
    rest = rest.strip_prefix(b":")?;
    rest = skip_whitespace(rest);
    rest = rest.strip_prefix(b"\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

fn skip_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, tail) = needle.split_first()?;
    let mut from = 0;
    while let Some(offset) = haystack[from..].iter().position(|&b| b == first) {
        let at = from + offset;
        if haystack[at + 1..].starts_with(tail) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_camera_without_parsing() {
        let line = br#"{"camera_id":"cam_07","timestamp":"2026-11-27T08:00:00.000Z"}"#;
        assert_eq!(camera_key(line), Some("cam_07"));
        let spaced = br#"{ "frame_id": 3, "camera_id" : "cam 2" }"#;
        assert_eq!(camera_key(spaced), Some("cam 2"));
        assert_eq!(camera_key(br#"{"camera_id":7}"#), None);
        assert_eq!(camera_key(br#"{"camera":"x"}"#), None);
        assert_eq!(camera_key(br#"{"camera_id":"unterminated"#), None);
        assert_eq!(camera_key(b""), None);
    }

    #[test]
    fn reads_lines_without_endings_and_skips_blank_ones() {
        let path = std::env::temp_dir().join(format!("bench-lines-{}.jsonl", std::process::id()));
        std::fs::write(&path, b"a\r\n\nbc\nd").expect("write");
        let mut seen = Vec::new();
        let n = for_each_line(&path, |i, line| {
            seen.push((i, line.to_vec()));
            Ok(())
        })
        .expect("read");
        let _ = std::fs::remove_file(&path);
        assert_eq!(n, 3);
        assert_eq!(
            seen,
            vec![(0, b"a".to_vec()), (1, b"bc".to_vec()), (2, b"d".to_vec())]
        );
    }
}

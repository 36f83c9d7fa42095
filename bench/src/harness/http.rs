//! A closed-loop HTTP/1.1 load generator: `connections` keep-alive connections, each sending
//! the next request as soon as the previous response is read, for a fixed time. Latency is
//! recorded per request in an HDR histogram. Plain blocking sockets, one thread per connection:
//! the load side stays simple and its cost is known.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use hdrhistogram::Histogram;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct HttpLoad {
    /// `http://host:port/path?query`
    pub url: String,
    pub connections: usize,
    pub duration: Duration,
}

#[derive(Debug, Clone)]
pub struct HttpResult {
    pub requests: u64,
    pub errors: u64,
    pub non_2xx: u64,
    pub elapsed_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl HttpResult {
    pub fn to_json(&self, load: &HttpLoad) -> serde_json::Value {
        json!({
            "url": load.url,
            "connections": load.connections,
            "requests": self.requests,
            "errors": self.errors,
            "non_2xx": self.non_2xx,
            "elapsed_s": self.elapsed_s,
            "requests_per_s": self.requests as f64 / self.elapsed_s,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        })
    }
}

fn split_url(url: &str) -> anyhow::Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("only http:// URLs: {url}"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok((host.to_owned(), path.to_owned()))
}

pub fn run(load: &HttpLoad) -> anyhow::Result<HttpResult> {
    let (host, path) = split_url(&load.url)?;
    if !host.starts_with("127.") && !host.starts_with("localhost") && !host.starts_with("[::1]") {
        bail!("load is only sent to loopback addresses, not {host}");
    }
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n");
    let stop = Arc::new(AtomicBool::new(false));
    let merged = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let counts = Arc::new(Mutex::new((0u64, 0u64)));
    let started = Instant::now();
    let mut threads = Vec::new();
    for _ in 0..load.connections {
        let (host, request, stop, merged, counts) = (
            host.clone(),
            request.clone(),
            stop.clone(),
            merged.clone(),
            counts.clone(),
        );
        threads.push(std::thread::spawn(move || -> anyhow::Result<()> {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut errors, mut non_2xx) = (0u64, 0u64);
            let mut connection: Option<(TcpStream, BufReader<TcpStream>)> = None;
            while !stop.load(Ordering::Relaxed) {
                if connection.is_none() {
                    let stream = TcpStream::connect(&host).context("connect")?;
                    stream.set_nodelay(true)?;
                    let reader = BufReader::new(stream.try_clone()?);
                    connection = Some((stream, reader));
                }
                let Some((stream, reader)) = connection.as_mut() else {
                    continue;
                };
                let sent = Instant::now();
                match exchange(stream, reader, request.as_bytes()) {
                    Ok(status) => {
                        histogram.record(sent.elapsed().as_micros().max(1) as u64)?;
                        if !(200..300).contains(&status) {
                            non_2xx += 1;
                        }
                    }
                    Err(_) => {
                        errors += 1;
                        connection = None;
                    }
                }
            }
            if let Ok(mut m) = merged.lock() {
                m.add(&histogram)?;
            }
            if let Ok(mut c) = counts.lock() {
                c.0 += errors;
                c.1 += non_2xx;
            }
            Ok(())
        }));
    }
    std::thread::sleep(load.duration);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| anyhow!("load thread panicked"))??;
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    let h = merged.lock().map_err(|_| anyhow!("poisoned"))?;
    let (errors, non_2xx) = *counts.lock().map_err(|_| anyhow!("poisoned"))?;
    Ok(HttpResult {
        requests: h.len(),
        errors,
        non_2xx,
        elapsed_s,
        p50_ms: h.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: h.value_at_quantile(0.99) as f64 / 1000.0,
        max_ms: h.max() as f64 / 1000.0,
    })
}

/// Sends one request and reads one response (Content-Length or chunked); returns the status.
fn exchange(
    stream: &mut TcpStream,
    reader: &mut BufReader<TcpStream>,
    request: &[u8],
) -> anyhow::Result<u16> {
    stream.write_all(request)?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let lower = header.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().ok();
        } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
    }
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16)?;
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        let mut body = vec![0u8; n];
        reader.read_exact(&mut body)?;
    }
    Ok(status)
}

//! Reading the pipeline's Prometheus endpoint: a plain HTTP GET and just enough of the text
//! exposition format for counters and cumulative histograms.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{anyhow, Context};
use serde_json::{json, Value};

/// `GET path` over HTTP/1.0; returns the body of a 200 response.
pub fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .with_context(|| format!("reading http://{addr}{path}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("malformed HTTP response from {addr}"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(anyhow!("http://{addr}{path} answered {status:?}"));
    }
    Ok(body.to_owned())
}

/// A cumulative histogram as exposed: `(upper bound, count <= bound)` in bound order.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// The upper bound of the bucket holding the `q`-quantile (`+inf` when beyond the last
    /// finite bound); `None` without observations.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .map(|(bound, _)| *bound)
            .or(Some(f64::INFINITY))
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum / self.count as f64)
    }

    /// `{count, mean_s, p50_le_s, p99_le_s}`; an unbounded quantile shows as `"+Inf"`.
    pub fn summary(&self) -> Value {
        json!({
            "count": self.count,
            "mean_s": self.mean().map(|m| (m * 1e6).round() / 1e6),
            "p50_le_s": bound_json(self.quantile_bound(0.5)),
            "p99_le_s": bound_json(self.quantile_bound(0.99)),
        })
    }
}

fn bound_json(bound: Option<f64>) -> Value {
    match bound {
        Some(b) if b.is_infinite() => json!("+Inf"),
        Some(b) => json!(b),
        None => Value::Null,
    }
}

/// The sample lines of metric `name` (exactly, or with labels): `(labels, value)`.
fn samples<'a>(text: &'a str, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.strip_prefix(name)?;
        let (labels, rest) = match rest.strip_prefix('{') {
            Some(inner) => inner.split_once('}')?,
            None if rest.starts_with(' ') => ("", rest),
            None => return None,
        };
        let value = rest.split_whitespace().next()?;
        Some((labels, parse_value(value)?))
    })
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// The histogram `name` (without the `_bucket`/`_sum`/`_count` suffixes), if exposed.
pub fn histogram(text: &str, name: &str) -> Option<Histogram> {
    let bucket_name = format!("{name}_bucket");
    let mut buckets: Vec<(f64, u64)> = samples(text, &bucket_name)
        .filter_map(|(labels, value)| Some((parse_value(label(labels, "le")?)?, value as u64)))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let sum_name = format!("{name}_sum");
    let count_name = format!("{name}_count");
    let sum = samples(text, &sum_name).next()?.1;
    let count = samples(text, &count_name).next()?.1 as u64;
    Some(Histogram {
        buckets,
        sum,
        count,
    })
}

/// The sum of every sample of `name` over its label sets (e.g. a counter family), if exposed.
pub fn total(text: &str, name: &str) -> Option<f64> {
    samples(text, name)
        .map(|(_, v)| v)
        .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
}

/// The samples of `name` by the value of their label `key` (e.g. drops by `reason`).
pub fn by_label(text: &str, name: &str, key: &str) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    for (labels, value) in samples(text, name) {
        if let Some(label) = label(labels, key) {
            *values.entry(label.to_owned()).or_insert(0.0) += value;
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP b2_commit_duration_seconds Time of one sink transaction.
# TYPE b2_commit_duration_seconds histogram
b2_commit_duration_seconds_sum 1.5
b2_commit_duration_seconds_count 10
b2_commit_duration_seconds_bucket{le=\"0.01\"} 2
b2_commit_duration_seconds_bucket{le=\"0.1\"} 6
b2_commit_duration_seconds_bucket{le=\"1.0\"} 9
b2_commit_duration_seconds_bucket{le=\"+Inf\"} 10
# TYPE b2_events_dropped counter
b2_events_dropped_total{reason=\"late\"} 3
b2_events_dropped_total{reason=\"malformed_json\"} 4
b2_commits_total 12
# EOF
";

    #[test]
    fn reads_histograms_and_bucket_bound_quantiles() {
        let h = histogram(TEXT, "b2_commit_duration_seconds").expect("histogram");
        assert_eq!(h.count, 10);
        assert_eq!(h.buckets.len(), 4);
        assert_eq!(h.quantile_bound(0.5), Some(0.1));
        assert_eq!(h.quantile_bound(0.2), Some(0.01));
        assert_eq!(h.quantile_bound(0.9), Some(1.0));
        assert_eq!(h.quantile_bound(0.99), Some(f64::INFINITY));
        assert_eq!(h.mean(), Some(0.15));
        assert_eq!(h.summary()["p99_le_s"], "+Inf");
        assert!(histogram(TEXT, "b2_missing").is_none());
    }

    #[test]
    fn sums_counter_families() {
        assert_eq!(total(TEXT, "b2_events_dropped_total"), Some(7.0));
        assert_eq!(total(TEXT, "b2_commits_total"), Some(12.0));
        assert_eq!(total(TEXT, "b2_commits"), None);
        let reasons = by_label(TEXT, "b2_events_dropped_total", "reason");
        assert_eq!(reasons["late"], 3.0);
        assert_eq!(reasons.len(), 2);
    }

    #[test]
    fn empty_histogram_has_no_quantiles() {
        let h = Histogram {
            buckets: vec![(1.0, 0)],
            sum: 0.0,
            count: 0,
        };
        assert_eq!(h.quantile_bound(0.5), None);
        assert!(h.summary()["p50_le_s"].is_null());
    }
}

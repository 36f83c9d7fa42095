//! The Prometheus text exposition format, read just far enough for tests and benchmarks: samples
//! with their labels, counter families, cumulative histograms. Label values are read as written
//! (quoted, escapes kept), so a selector is matched against the text a scrape shows.

use std::collections::BTreeMap;

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    /// What stands between the braces, empty without labels.
    pub labels: &'a str,
    pub value: f64,
}

impl Sample<'_> {
    /// The value of label `key`, without its quotes.
    pub fn label(&self, key: &str) -> Option<&str> {
        split_labels(self.labels).find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"'))
        })
    }
}

/// Every sample of the text, in order; comments and malformed lines are skipped.
pub fn samples(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines().filter_map(parse_line)
}

fn parse_line(line: &str) -> Option<Sample<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let rest = &line[name_end..];
    let (labels, rest) = match rest.strip_prefix('{') {
        Some(inner) => {
            let close = closing_brace(inner)?;
            (&inner[..close], &inner[close + 1..])
        }
        None => ("", rest),
    };
    let value = parse_value(rest.split_whitespace().next()?)?;
    (!name.is_empty()).then_some(Sample {
        name,
        labels,
        value,
    })
}

/// Where the label set ends: the first `}` outside a quoted value.
fn closing_brace(labels: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '}' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// `key="value"` pairs, split at commas outside quoted values.
fn split_labels(labels: &str) -> impl Iterator<Item = &str> {
    let mut pieces = Vec::new();
    let (mut quoted, mut escaped, mut start) = (false, false, 0);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                pieces.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&labels[start..]);
    pieces.into_iter().filter(|p| !p.trim().is_empty())
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// The value of one sample, selected as it is written: `name` or `name{labels}`.
pub fn value(text: &str, selector: &str) -> Option<f64> {
    samples(text).find_map(|s| {
        let matches = match selector.strip_prefix(s.name) {
            Some("") => s.labels.is_empty(),
            Some(rest) => {
                rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')) == Some(s.labels)
            }
            None => false,
        };
        matches.then_some(s.value)
    })
}

/// The sum of every sample of `name` over its label sets (a counter family), if exposed.
pub fn total(text: &str, name: &str) -> Option<f64> {
    samples(text)
        .filter(|s| s.name == name)
        .map(|s| s.value)
        .reduce(|a, b| a + b)
}

/// The samples of `name` summed by the value of their label `key` (e.g. drops by `reason`).
pub fn by_label(text: &str, name: &str, key: &str) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    for sample in samples(text).filter(|s| s.name == name) {
        if let Some(label) = sample.label(key) {
            *values.entry(label.to_owned()).or_insert(0.0) += sample.value;
        }
    }
    values
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
}

/// The histogram `name` (without the `_bucket`/`_sum`/`_count` suffixes), if exposed.
pub fn histogram(text: &str, name: &str) -> Option<Histogram> {
    let bucket_name = format!("{name}_bucket");
    let mut buckets: Vec<(f64, u64)> = samples(text)
        .filter(|s| s.name == bucket_name)
        .filter_map(|s| Some((parse_value(s.label("le")?)?, s.value as u64)))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let sum = value(text, &format!("{name}_sum"))?;
    let count = value(text, &format!("{name}_count"))? as u64;
    Some(Histogram {
        buckets,
        sum,
        count,
    })
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
b2_api_requests_total{method=\"GET\",route=\"/api/admin/zones/{zone_id}\",status=\"200\"} 2
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
        assert!(histogram(TEXT, "b2_missing").is_none());
        let empty = Histogram {
            buckets: vec![(1.0, 0)],
            sum: 0.0,
            count: 0,
        };
        assert_eq!(empty.quantile_bound(0.5), None);
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
    fn selects_one_sample_as_written() {
        assert_eq!(value(TEXT, "b2_commits_total"), Some(12.0));
        assert_eq!(
            value(TEXT, "b2_events_dropped_total{reason=\"late\"}"),
            Some(3.0)
        );
        assert_eq!(value(TEXT, "b2_events_dropped_total"), None);
        assert_eq!(value(TEXT, "b2_commits"), None);
        let route = "b2_api_requests_total{method=\"GET\",route=\"/api/admin/zones/{zone_id}\",status=\"200\"}";
        assert_eq!(value(TEXT, route), Some(2.0));
        let routes = by_label(TEXT, "b2_api_requests_total", "route");
        assert_eq!(routes["/api/admin/zones/{zone_id}"], 2.0);
    }
}

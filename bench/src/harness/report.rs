//! How a run reports: one JSON object on stdout (for scripts) and one readable line on stderr.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

/// Prints `result` as one compact JSON line on stdout and `summary` on stderr.
pub fn emit(result: &Value, summary: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{result}")?;
    out.flush()?;
    eprintln!("{summary}");
    Ok(())
}

/// `count` per second over `elapsed`, 0 when no time passed.
pub fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// Rounds for display in JSON (throughputs to whole units, seconds to milliseconds).
pub fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// Seconds, rounded to the millisecond.
pub fn secs(elapsed: Duration) -> f64 {
    round(elapsed.as_secs_f64(), 3)
}

/// A rate for the readable line: `1.23M/s`, `45.6k/s`, `789/s`.
pub fn human_rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2}M/s", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1}k/s", per_second / 1e3)
    } else {
        format!("{per_second:.0}/s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_rounding() {
        assert_eq!(per_second(10, Duration::from_millis(500)), 20.0);
        assert_eq!(per_second(10, Duration::ZERO), 0.0);
        assert_eq!(round(1.23456, 3), 1.235);
        assert_eq!(human_rate(1_234_567.0), "1.23M/s");
        assert_eq!(human_rate(45_600.0), "45.6k/s");
        assert_eq!(human_rate(789.0), "789/s");
    }
}

//! One JSON object per line (time, level, logger, message), for our code and for libraries that
//! log through `log` (rdkafka, postgres) alike. Level from `RUST_LOG`, default `info`.

use std::io::Write;

/// Installs the JSON logger; a second call is a no-op (tests start several components).
pub fn init() {
    let mut builder = env_logger::Builder::new();
    builder.filter_level(log::LevelFilter::Info);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        builder.parse_filters(&spec);
    }
    builder.format(|buf, record| {
        let line = serde_json::json!({
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "level": record.level().as_str(),
            "logger": record.target(),
            "message": record.args().to_string(),
        });
        writeln!(buf, "{line}")
    });
    let _ = builder.try_init();
}

/// Logs at most once per `every`, counting what it held back (for per-event warnings).
pub struct RateLimited {
    target: &'static str,
    every: std::time::Duration,
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl RateLimited {
    /// `target` is the logger name the lines carry (the component that drops, not this module).
    pub fn new(target: &'static str, every: std::time::Duration) -> Self {
        Self {
            target,
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `message` gets the number of lines suppressed since the last one logged.
    pub fn warn(&mut self, message: impl FnOnce(u64) -> String) {
        if self.last.is_some_and(|t| t.elapsed() < self.every) {
            self.suppressed += 1;
            return;
        }
        log::warn!(target: self.target, "{}", message(self.suppressed));
        self.suppressed = 0;
        self.last = Some(std::time::Instant::now());
    }
}

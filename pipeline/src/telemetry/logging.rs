//! Rate-limited warnings for per-event problems. The JSON log format itself is
//! `bootstrap::logging`, shared by every binary.

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

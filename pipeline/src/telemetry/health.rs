//! What `/health` on the metrics port says. An orchestrator restarts a pipeline whose commits
//! stopped while data waits (a wedged sink, a database refusing everything), so that state answers
//! 503, and so does a process that is stopping because a part of it failed. A standby waiting for
//! the group's lease is healthy: it is doing what it should.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::Duration;

use serde_json::json;

const STARTING: u8 = 0;
const STANDBY: u8 = 1;
const ACTIVE: u8 = 2;

#[derive(Debug)]
pub struct Health {
    role: AtomicU8,
    /// Wall-clock ms since the oldest batch still waiting for its commit arrived (0: none waits).
    waiting_since_ms: AtomicI64,
    last_commit_ms: AtomicI64,
    stall_after: Duration,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Health {
    pub fn new(stall_after: Duration) -> Self {
        Self {
            role: AtomicU8::new(STARTING),
            waiting_since_ms: AtomicI64::new(0),
            last_commit_ms: AtomicI64::new(0),
            stall_after,
        }
    }

    pub fn standby(&self) {
        self.role.store(STANDBY, Ordering::Relaxed);
    }

    pub fn active(&self) {
        self.role.store(ACTIVE, Ordering::Relaxed);
    }

    /// A batch with rows or new positions reached the sink.
    pub fn batch_waiting(&self) {
        let _ = self.waiting_since_ms.compare_exchange(
            0,
            now_ms(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Everything received so far is committed.
    pub fn committed(&self) {
        self.last_commit_ms.store(now_ms(), Ordering::Relaxed);
        self.waiting_since_ms.store(0, Ordering::Relaxed);
    }

    /// HTTP status and JSON body, given the process's failure reason if it has one.
    pub fn report(&self, failure: Option<String>) -> (u16, String) {
        self.report_at(now_ms(), failure)
    }

    fn report_at(&self, now: i64, failure: Option<String>) -> (u16, String) {
        if let Some(reason) = failure {
            return (
                503,
                json!({"status": "failed", "reason": reason}).to_string(),
            );
        }
        let last = self.last_commit_ms.load(Ordering::Relaxed);
        let last_commit_age = (last > 0).then(|| (now - last) as f64 / 1000.0);
        let role = match self.role.load(Ordering::Relaxed) {
            STANDBY => "standby",
            ACTIVE => "active",
            _ => "starting",
        };
        let since = self.waiting_since_ms.load(Ordering::Relaxed);
        let waiting = (since > 0).then(|| (now - since).max(0) as f64 / 1000.0);
        let limit = self.stall_after.as_secs_f64();
        match waiting {
            Some(w) if w > limit => (
                503,
                json!({
                    "status": "stalled",
                    "role": role,
                    "waiting_seconds": w,
                    "limit_seconds": limit,
                    "last_commit_age_seconds": last_commit_age,
                })
                .to_string(),
            ),
            _ => (
                200,
                json!({
                    "status": "ok",
                    "role": role,
                    "last_commit_age_seconds": last_commit_age,
                })
                .to_string(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_past_the_limit_is_a_stall_until_a_commit() {
        let health = Health::new(Duration::from_secs(30));
        health.active();
        assert_eq!(health.report(None).0, 200);
        health.batch_waiting();
        let since = health.waiting_since_ms.load(Ordering::Relaxed);
        assert_eq!(health.report_at(since + 29_000, None).0, 200);
        let (status, body) = health.report_at(since + 31_000, None);
        assert_eq!(status, 503);
        assert!(body.contains("\"stalled\""), "{body}");
        health.committed();
        assert_eq!(health.report_at(since + 31_000, None).0, 200);
    }

    #[test]
    fn a_later_batch_does_not_reset_the_wait() {
        let health = Health::new(Duration::from_secs(1));
        health.batch_waiting();
        let since = health.waiting_since_ms.load(Ordering::Relaxed);
        health.batch_waiting();
        assert_eq!(health.waiting_since_ms.load(Ordering::Relaxed), since);
    }

    #[test]
    fn a_failure_is_503_with_its_reason_and_standby_is_healthy() {
        let health = Health::new(Duration::from_secs(30));
        health.standby();
        let (status, body) = health.report(None);
        assert_eq!(status, 200);
        assert!(body.contains("standby"));
        let (status, body) = health.report(Some("sink thread died".into()));
        assert_eq!(status, 503);
        assert!(body.contains("sink thread died"));
    }
}

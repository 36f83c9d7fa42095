//! Event-time bounds relative to ingest time. One detection stamped years ahead would move its
//! camera's watermark there: every later event of that camera would be "late", its windows would
//! never close and a partition would be created for that future day. So a detection whose time is
//! too far ahead of, or behind, the time it is read is dropped at decode, before any state sees it.
//! A deliberate backfill of history switches the bounds off.

use crate::event::{DecodeError, DropReason};

/// How far event time may lead or trail ingest time; `None` switches that side off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    pub max_future_ms: Option<i64>,
    pub max_past_ms: Option<i64>,
}

impl TimeBounds {
    /// No bounds: replays of historical files, and backfills.
    pub const OFF: TimeBounds = TimeBounds {
        max_future_ms: None,
        max_past_ms: None,
    };

    pub fn is_off(&self) -> bool {
        self.max_future_ms.is_none() && self.max_past_ms.is_none()
    }

    /// Checks a detection's time against the time it was read (`ingest_ms`).
    pub fn check(&self, ts_ms: i64, ingest_ms: i64) -> Result<(), DecodeError> {
        if let Some(future) = self.max_future_ms {
            if ts_ms > ingest_ms.saturating_add(future) {
                return Err(DecodeError {
                    reason: DropReason::TimeOutOfRange,
                    detail: format!(
                        "timestamp is {} s ahead of ingest time (at most {} s allowed)",
                        (ts_ms - ingest_ms) / 1000,
                        future / 1000
                    ),
                });
            }
        }
        if let Some(past) = self.max_past_ms {
            if ts_ms < ingest_ms.saturating_sub(past) {
                return Err(DecodeError {
                    reason: DropReason::TimeOutOfRange,
                    detail: format!(
                        "timestamp is {} s behind ingest time (at most {} s allowed)",
                        ingest_ms.saturating_sub(ts_ms) / 1000,
                        past / 1000
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn bounds() -> TimeBounds {
        TimeBounds {
            max_future_ms: Some(300_000),
            max_past_ms: Some(24 * 3_600_000),
        }
    }

    #[test]
    fn inside_the_bounds_passes_and_the_edges_are_inclusive() {
        for ts in [NOW, NOW + 300_000, NOW - 24 * 3_600_000, NOW - 1] {
            assert!(bounds().check(ts, NOW).is_ok(), "{ts}");
        }
    }

    #[test]
    fn years_ahead_or_behind_are_dropped_by_name() {
        let ahead = bounds()
            .check(NOW + 3 * 365 * 86_400_000, NOW)
            .expect_err("future");
        assert_eq!(ahead.reason, DropReason::TimeOutOfRange);
        assert!(ahead.detail.contains("ahead"), "{}", ahead.detail);
        let behind = bounds().check(0, NOW).expect_err("past");
        assert_eq!(behind.reason, DropReason::TimeOutOfRange);
        assert!(behind.detail.contains("behind"), "{}", behind.detail);
    }

    #[test]
    fn switched_off_sides_accept_anything() {
        for ts in [0, i64::MAX / 2, NOW + 10 * 365 * 86_400_000] {
            assert!(TimeBounds::OFF.check(ts, NOW).is_ok());
        }
        let future_only = TimeBounds {
            max_past_ms: None,
            ..bounds()
        };
        assert!(future_only.check(0, NOW).is_ok());
        assert!(future_only.check(NOW + 300_001, NOW).is_err());
    }

    #[test]
    fn extreme_clocks_do_not_overflow() {
        assert!(bounds().check(i64::MAX, i64::MAX).is_ok());
        assert!(bounds().check(i64::MIN, i64::MIN).is_ok());
        assert!(bounds().check(i64::MIN, i64::MAX).is_err());
    }
}

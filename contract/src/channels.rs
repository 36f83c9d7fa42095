//! NOTIFY channel names. The pipeline and the query server NOTIFY on them, the schema's triggers
//! on `congestion_thresholds` and `cameras` too (the migrations spell `b2_thresholds` and
//! `b2_cameras`; a test in the `tests` crate checks their payloads decode here).

use std::fmt;

/// Every channel a process may LISTEN on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// One notification per committed camera window (pipeline).
    Metrics,
    /// Alert transitions (pipeline) and acknowledgements (query server).
    Alerts,
    /// A camera's registration changed (trigger on `cameras`).
    Cameras,
    /// The congestion thresholds changed (trigger on `congestion_thresholds`).
    Thresholds,
    /// An operator's broadcast (query server).
    Broadcast,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Metrics,
        Channel::Alerts,
        Channel::Cameras,
        Channel::Thresholds,
        Channel::Broadcast,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Channel::Metrics => "b2_metrics",
            Channel::Alerts => "b2_alerts",
            Channel::Cameras => "b2_cameras",
            Channel::Thresholds => "b2_thresholds",
            Channel::Broadcast => "b2_broadcast",
        }
    }

    pub fn from_name(name: &str) -> Option<Channel> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// `LISTEN a; LISTEN b; ...` for the given channels.
    pub fn listen_statement(channels: &[Channel]) -> String {
        channels
            .iter()
            .map(|c| format!("LISTEN {};", c.name()))
            .collect()
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_distinct() {
        for channel in Channel::ALL {
            assert_eq!(Channel::from_name(channel.name()), Some(channel));
        }
        let mut names: Vec<_> = Channel::ALL.iter().map(|c| c.name()).collect();
        names.dedup();
        assert_eq!(names.len(), Channel::ALL.len());
        assert_eq!(Channel::from_name("b2_other"), None);
        assert_eq!(
            Channel::listen_statement(&[Channel::Thresholds, Channel::Cameras]),
            "LISTEN b2_thresholds;LISTEN b2_cameras;"
        );
    }
}

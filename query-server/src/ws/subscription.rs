//! What a WebSocket client asked for: the channel, its filters, and so which frames it gets.
//! Parsing refuses bad values with a reason the session sends as its close reason.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::live::feed::{
    envelope, Outgoing, EVENT_TYPES, HEATMAP_UPDATE, METRICS_UPDATE, SNAPSHOT,
};
use crate::live::state::LiveState;
use crate::params::Params;

/// Longest accepted `camera_id`; it is an identifier.
const MAX_CAMERA_ID_LEN: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    /// `/ws/metrics`: camera-wide window rows.
    Metrics,
    /// `/ws/metrics/lanes`: the lane rows of each window.
    Lanes,
    /// `/ws/events`: typed envelopes of every kind.
    Events,
}

impl Channel {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Channel::Metrics => "/ws/metrics",
            Channel::Lanes => "/ws/metrics/lanes",
            Channel::Events => "/ws/events",
        }
    }
}

/// Viewers get metrics and broadcasts; operators also get alert changes on the metrics channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Viewer,
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subscription {
    pub(crate) channel: Channel,
    pub(crate) camera_id: Option<String>,
    pub(crate) role: Role,
    /// `/ws/events` only: the envelope types wanted (all when absent).
    pub(crate) types: Option<Vec<&'static str>>,
}

impl Subscription {
    /// Reads `camera_id`, `role` (metrics channels) and `types` (events); other parameters are
    /// ignored as on every route. The error is the close reason.
    pub(crate) fn parse(channel: Channel, params: &Params) -> Result<Self, String> {
        let camera_id = match params.text("camera_id") {
            None => None,
            Some(id) if id.chars().count() > MAX_CAMERA_ID_LEN => {
                return Err(format!(
                    "camera_id is longer than {MAX_CAMERA_ID_LEN} characters"
                ))
            }
            Some(id) if id.chars().any(char::is_control) => {
                return Err("camera_id must not contain control characters".into())
            }
            Some(id) => Some(id.to_owned()),
        };
        let role = match params.text("role") {
            None | Some("viewer") => Role::Viewer,
            Some("operator") => Role::Operator,
            Some(other) => {
                return Err(format!(
                    "role {:?} is not one of viewer, operator",
                    shorten(other)
                ))
            }
        };
        if channel == Channel::Events && params.text("role").is_some() {
            return Err("role applies to /ws/metrics and /ws/metrics/lanes only".into());
        }
        let types = match params.text("types") {
            None => None,
            Some(_) if channel != Channel::Events => {
                return Err("types applies to /ws/events only".into())
            }
            Some(list) => {
                let mut wanted = Vec::new();
                for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    let Some(known) = EVENT_TYPES.iter().find(|t| **t == name) else {
                        return Err(format!(
                            "unknown type {:?}; known: {}",
                            shorten(name),
                            EVENT_TYPES.join(",")
                        ));
                    };
                    if !wanted.contains(known) {
                        wanted.push(*known);
                    }
                }
                if wanted.is_empty() {
                    return Err("types is empty".into());
                }
                Some(wanted)
            }
        };
        Ok(Self {
            channel,
            camera_id,
            role,
            types,
        })
    }

    fn wants_camera(&self, camera_id: Option<&str>) -> bool {
        match (&self.camera_id, camera_id) {
            (Some(wanted), Some(camera)) => wanted == camera,
            _ => true,
        }
    }

    fn wants_type(&self, event_type: &str) -> bool {
        self.types
            .as_ref()
            .is_none_or(|types| types.contains(&event_type))
    }

    /// The frame of `item` this client gets, if any.
    pub(crate) fn frame<'a>(&self, item: &'a Outgoing) -> Option<&'a Utf8Bytes> {
        if !self.wants_camera(item.camera_id.as_deref()) {
            return None;
        }
        let is_metrics = item.event_type == METRICS_UPDATE;
        match self.channel {
            Channel::Events => self.wants_type(item.event_type).then_some(&item.event),
            Channel::Metrics if is_metrics => item.camera_row.as_ref(),
            Channel::Lanes if is_metrics => item.lane_rows.as_ref(),
            Channel::Metrics | Channel::Lanes => {
                let alert = item.event_type.starts_with("alert_") || item.event_type == "new_alert";
                let wanted = match item.event_type {
                    crate::live::feed::ADMIN_BROADCAST => true,
                    _ => alert && self.role == Role::Operator,
                };
                wanted.then_some(&item.event)
            }
        }
    }

    /// The first frame of a session: the current state, filtered like the updates that follow.
    pub(crate) fn snapshot(&self, state: &LiveState, now: DateTime<Utc>) -> Utf8Bytes {
        let camera = self.camera_id.as_deref();
        let mut data = json!({ "channel": self.channel.path() });
        let alerts = || -> Value {
            state
                .active_alerts()
                .filter(|a| self.wants_camera(a.get("camera_id").and_then(Value::as_str)))
                .cloned()
                .collect()
        };
        match self.channel {
            Channel::Metrics => {
                data["metrics"] = state
                    .windows(camera)
                    .map(|w| serde_json::to_value(&w.camera).unwrap_or(Value::Null))
                    .collect();
                if self.role == Role::Operator {
                    data["alerts"] = alerts();
                }
            }
            Channel::Lanes => {
                data["lanes"] = state.windows(camera).map(|w| w.lanes_json()).collect();
                if self.role == Role::Operator {
                    data["alerts"] = alerts();
                }
            }
            Channel::Events => {
                if self.wants_type(METRICS_UPDATE) {
                    data["metrics"] = state.windows(camera).map(|w| w.with_lanes_json()).collect();
                }
                if EVENT_TYPES
                    .iter()
                    .filter(|t| t.contains("alert"))
                    .any(|t| self.wants_type(t))
                {
                    data["alerts"] = alerts();
                }
                if self.wants_type(HEATMAP_UPDATE) {
                    data["heatmap"] = Value::Array(state.heatmap(now));
                }
            }
        }
        envelope(SNAPSHOT, &data)
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(channel: Channel, query: &str) -> Result<Subscription, String> {
        Subscription::parse(channel, &Params::parse(Some(query)))
    }

    #[test]
    fn parameters_are_checked() {
        let s = parse(Channel::Metrics, "camera_id=cam_01&role=operator&cb=1").expect("ok");
        assert_eq!(s.camera_id.as_deref(), Some("cam_01"));
        assert_eq!(s.role, Role::Operator);
        assert!(parse(Channel::Metrics, "role=admin")
            .expect_err("role")
            .contains("viewer, operator"));
        assert!(parse(Channel::Metrics, "types=new_alert").is_err());
        assert!(parse(Channel::Events, "role=viewer").is_err());
        let e = parse(
            Channel::Events,
            "types=new_alert,traffic_metrics_update,new_alert",
        )
        .expect("types");
        assert_eq!(e.types, Some(vec!["new_alert", "traffic_metrics_update"]));
        assert!(parse(Channel::Events, "types=bogus")
            .expect_err("unknown")
            .contains("bogus"));
        assert!(parse(Channel::Events, "types=,").is_err());
        assert!(parse(Channel::Lanes, "camera_id=a%0Ab").is_err());
        assert!(parse(Channel::Lanes, &format!("camera_id={}", "x".repeat(201))).is_err());
    }

    fn item(event_type: &'static str, camera: Option<&str>) -> Outgoing {
        let is_metrics = event_type == METRICS_UPDATE;
        Outgoing {
            event_type,
            camera_id: camera.map(Into::into),
            event: Utf8Bytes::from_static("event"),
            camera_row: is_metrics.then(|| Utf8Bytes::from_static("row")),
            lane_rows: is_metrics.then(|| Utf8Bytes::from_static("lanes")),
            published: std::time::Instant::now(),
        }
    }

    #[test]
    fn frames_follow_channel_role_camera_and_types() {
        let metrics = parse(Channel::Metrics, "camera_id=a").expect("ok");
        assert_eq!(
            metrics
                .frame(&item(METRICS_UPDATE, Some("a")))
                .map(Utf8Bytes::as_str),
            Some("row")
        );
        assert!(metrics.frame(&item(METRICS_UPDATE, Some("b"))).is_none());
        assert!(
            metrics.frame(&item("new_alert", Some("a"))).is_none(),
            "viewer"
        );
        assert!(metrics.frame(&item(HEATMAP_UPDATE, None)).is_none());
        assert!(metrics.frame(&item("admin_broadcast", None)).is_some());
        let operator = parse(Channel::Lanes, "role=operator").expect("ok");
        assert_eq!(
            operator
                .frame(&item(METRICS_UPDATE, Some("b")))
                .map(Utf8Bytes::as_str),
            Some("lanes")
        );
        assert!(operator.frame(&item("alert_resolved", Some("b"))).is_some());
        let events = parse(Channel::Events, "types=new_alert,heatmap_update").expect("ok");
        assert!(events.frame(&item(METRICS_UPDATE, Some("a"))).is_none());
        assert!(events.frame(&item("new_alert", Some("a"))).is_some());
        assert!(events.frame(&item(HEATMAP_UPDATE, None)).is_some());
        assert!(events.frame(&item("admin_broadcast", None)).is_none());
    }

    #[test]
    fn snapshots_hold_what_the_filters_allow() {
        let mut state = LiveState::default();
        state.apply_alert(json!({"alert_id": 1, "camera_id": "a", "status": "active"}));
        let events = parse(Channel::Events, "types=admin_broadcast").expect("ok");
        let snap: Value =
            serde_json::from_str(events.snapshot(&state, Utc::now()).as_str()).expect("json");
        assert_eq!(snap["type"], "snapshot");
        assert!(snap["data"].get("alerts").is_none());
        assert!(snap["data"].get("metrics").is_none());
        let all = parse(Channel::Events, "").expect("ok");
        let snap: Value =
            serde_json::from_str(all.snapshot(&state, Utc::now()).as_str()).expect("json");
        assert_eq!(snap["data"]["alerts"][0]["alert_id"], 1);
        assert_eq!(snap["data"]["heatmap"], json!([]));
        let viewer = parse(Channel::Metrics, "camera_id=a").expect("ok");
        let snap: Value =
            serde_json::from_str(viewer.snapshot(&state, Utc::now()).as_str()).expect("json");
        assert_eq!(snap["data"]["metrics"], json!([]));
        assert!(snap["data"].get("alerts").is_none());
    }
}

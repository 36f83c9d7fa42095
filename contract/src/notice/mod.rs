//! NOTIFY payloads: one type per channel, one encoder, one decoder.
//!
//! Payloads say what changed; listeners read the rows back, so a payload needs only the keys
//! that find them. PostgreSQL refuses a payload of 8000 bytes or more, and refuses it at COMMIT
//! for the whole transaction, so [`Notice::encode`] bounds every payload by construction: what
//! does not fit is dropped (lanes first, then long texts, then all but the identity) and the
//! payload says `"truncated": true`. The decoder accepts such payloads; only identity keys are
//! required.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::channels::Channel;
use crate::congestion::CongestionLevel;
use crate::timestamp;

/// Well under PostgreSQL's limit of 8000 bytes, whatever the payload holds.
pub const MAX_NOTIFY_BYTES: usize = 7_000;
/// Longest text value kept whole in a payload that was too large.
const MAX_TEXT_BYTES: usize = 256;
/// What a listener needs to find the rows again; always kept.
const IDENTITY_KEYS: [&str; 6] = [
    "event",
    "alert_id",
    "camera_id",
    "window_start",
    "window_end",
    "at",
];

/// A notification on any channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Window(WindowNotice),
    Alert(AlertNotice),
    Camera(CameraNotice),
    Thresholds(ThresholdsNotice),
    Broadcast(BroadcastNotice),
}

/// `b2_metrics`: a camera window was committed (camera-wide row plus its lanes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowNotice {
    pub camera_id: String,
    /// Absent when a writer announces only the camera: its latest window is read instead.
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub window_start: Option<DateTime<Utc>>,
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub window_end: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_count: Option<u64>,
    #[serde(default)]
    pub avg_speed_kmh: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub congestion_level: Option<CongestionLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub congestion_score: Option<f64>,
    #[serde(default)]
    pub lanes: Vec<String>,
    /// How many lanes the window had, when not all of them fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lanes_total: Option<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertEvent {
    Opened,
    Updated,
    Resolved,
    Acknowledged,
}

/// `b2_alerts`: an alert opened, changed, ended (pipeline) or was acknowledged (query server).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertNotice {
    pub event: AlertEvent,
    pub alert_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<CongestionLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub road_segment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// End of the window that caused the change.
    #[serde(
        default,
        with = "timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl AlertNotice {
    /// A notice that names the alert and nothing else.
    pub fn bare(event: AlertEvent, alert_id: i64) -> Self {
        Self {
            event,
            alert_id,
            camera_id: None,
            alert_type: None,
            severity: None,
            road_segment: None,
            score: None,
            message: None,
            at: None,
            truncated: false,
        }
    }
}

/// `b2_cameras`: a camera's registration changed (trigger on `cameras`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraNotice {
    pub camera_id: String,
}

/// `b2_thresholds`: the thresholds changed (trigger on `congestion_thresholds`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdsNotice {
    #[serde(default, with = "timestamp::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Severity of an operator's broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastLevel {
    #[default]
    Info,
    Warning,
    Critical,
}

impl BroadcastLevel {
    pub const ALL: [BroadcastLevel; 3] = [
        BroadcastLevel::Info,
        BroadcastLevel::Warning,
        BroadcastLevel::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BroadcastLevel::Info => "info",
            BroadcastLevel::Warning => "warning",
            BroadcastLevel::Critical => "critical",
        }
    }

    /// Case-insensitive.
    pub fn parse(text: &str) -> Option<BroadcastLevel> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(text))
    }
}

/// `b2_broadcast`: an operator's message to every listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastNotice {
    pub message: String,
    #[serde(default)]
    pub level: BroadcastLevel,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, with = "timestamp::option")]
    pub ts: Option<DateTime<Utc>>,
}

/// An encoded payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub text: String,
    /// Something was dropped to stay within [`MAX_NOTIFY_BYTES`].
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("no contract for channel {0:?}")]
    UnknownChannel(String),
    #[error("unreadable {channel} payload: {source}")]
    Payload {
        channel: Channel,
        #[source]
        source: serde_json::Error,
    },
}

impl Notice {
    pub fn channel(&self) -> Channel {
        match self {
            Notice::Window(_) => Channel::Metrics,
            Notice::Alert(_) => Channel::Alerts,
            Notice::Camera(_) => Channel::Cameras,
            Notice::Thresholds(_) => Channel::Thresholds,
            Notice::Broadcast(_) => Channel::Broadcast,
        }
    }

    /// The payload as JSON text, at most [`MAX_NOTIFY_BYTES`] long.
    pub fn encode(&self) -> Encoded {
        let value = match self {
            Notice::Window(n) => serde_json::to_value(n),
            Notice::Alert(n) => serde_json::to_value(n),
            Notice::Camera(n) => serde_json::to_value(n),
            Notice::Thresholds(n) => serde_json::to_value(n),
            Notice::Broadcast(n) => serde_json::to_value(n),
        };
        // Plain structs of strings, numbers and instants always serialize.
        bounded(value.unwrap_or_default())
    }

    /// A payload received on `channel`.
    pub fn decode(channel: &str, payload: &str) -> Result<Notice, NoticeError> {
        let channel = Channel::from_name(channel)
            .ok_or_else(|| NoticeError::UnknownChannel(channel.into()))?;
        let error = |source| NoticeError::Payload { channel, source };
        Ok(match channel {
            Channel::Metrics => Notice::Window(serde_json::from_str(payload).map_err(error)?),
            Channel::Alerts => Notice::Alert(serde_json::from_str(payload).map_err(error)?),
            Channel::Cameras => Notice::Camera(serde_json::from_str(payload).map_err(error)?),
            Channel::Thresholds => {
                Notice::Thresholds(serde_json::from_str(payload).map_err(error)?)
            }
            Channel::Broadcast => Notice::Broadcast(serde_json::from_str(payload).map_err(error)?),
        })
    }
}

fn bounded(value: Value) -> Encoded {
    let text = value.to_string();
    if text.len() <= MAX_NOTIFY_BYTES {
        return Encoded {
            text,
            truncated: false,
        };
    }
    let truncated = |text: String| Encoded {
        text,
        truncated: true,
    };
    let Value::Object(mut fields) = value else {
        return truncated("{\"truncated\":true}".to_owned());
    };
    fields.insert("truncated".into(), Value::Bool(true));
    if let Some(Value::Array(lanes)) = fields.remove("lanes") {
        fields.insert("lanes_total".into(), Value::from(lanes.len()));
        let mut kept = Vec::new();
        let mut size = Value::Object(fields.clone()).to_string().len() + ",\"lanes\":[]".len();
        for lane in lanes {
            let cost = lane.to_string().len() + 1;
            if size + cost > MAX_NOTIFY_BYTES {
                break;
            }
            size += cost;
            kept.push(lane);
        }
        fields.insert("lanes".into(), Value::Array(kept));
    }
    // Identity keys stay whole: a cut camera id would name no rows.
    for (key, value) in fields.iter_mut() {
        if let Value::String(s) = value {
            if !IDENTITY_KEYS.contains(&key.as_str()) {
                truncate_text(s, MAX_TEXT_BYTES);
            }
        }
    }
    let text = Value::Object(fields.clone()).to_string();
    if text.len() <= MAX_NOTIFY_BYTES {
        return truncated(text);
    }
    let mut identity = Map::new();
    for key in IDENTITY_KEYS {
        if let Some(v) = fields.remove(key) {
            identity.insert(key.into(), v);
        }
    }
    identity.insert("truncated".into(), Value::Bool(true));
    let text = Value::Object(identity.clone()).to_string();
    if text.len() <= MAX_NOTIFY_BYTES {
        return truncated(text);
    }
    // Identity longer than any the decoder of B1 messages lets through: bounded all the same.
    for value in identity.values_mut() {
        if let Value::String(s) = value {
            truncate_text(s, MAX_TEXT_BYTES);
        }
    }
    truncated(Value::Object(identity).to_string())
}

/// Cuts `s` to at most `max` bytes on a char boundary, marking the cut.
fn truncate_text(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

#[cfg(test)]
mod tests;

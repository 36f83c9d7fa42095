//! The fan-out point between the LISTEN thread and the WebSocket sessions.
//!
//! Every update is rendered once into the text frames of the channels that carry it and sent on
//! a bounded broadcast ring: the feed never waits for a client, and a client that falls more
//! than the ring's length behind learns it (and is dropped) instead of slowing anyone down.
//! Updates are published under the same lock that snapshots are taken under, so a session's
//! snapshot plus the updates it receives afterwards miss nothing and repeat nothing.

use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;
use contract::notice::BroadcastNotice;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::state::{AlertChange, LiveState, HEATMAP_MINUTES};
use crate::data::windows::CameraWindow;
use crate::params::{rfc3339, Rfc3339};

/// Envelope types of `/ws/events`, the values `?types=` accepts.
pub(crate) const EVENT_TYPES: &[&str] = &[
    METRICS_UPDATE,
    HEATMAP_UPDATE,
    "new_alert",
    "alert_updated",
    "alert_acknowledged",
    "alert_resolved",
    ADMIN_BROADCAST,
];
pub(crate) const METRICS_UPDATE: &str = "traffic_metrics_update";
pub(crate) const LANE_METRICS_UPDATE: &str = "lane_metrics_update";
pub(crate) const HEATMAP_UPDATE: &str = "heatmap_update";
pub(crate) const ADMIN_BROADCAST: &str = "admin_broadcast";
pub(crate) const SNAPSHOT: &str = "snapshot";

/// One update, rendered for every channel that carries it.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// One of [`EVENT_TYPES`].
    pub(crate) event_type: &'static str,
    pub(crate) camera_id: Option<String>,
    /// The `/ws/events` envelope.
    pub(crate) event: Utf8Bytes,
    /// Metrics updates only: the `/ws/metrics` (camera-wide row) and `/ws/metrics/lanes` forms.
    pub(crate) camera_row: Option<Utf8Bytes>,
    pub(crate) lane_rows: Option<Utf8Bytes>,
    /// When it was handed to the ring (set by [`Feed::publish`]): the start of delivery latency.
    pub(crate) published: std::time::Instant,
}

impl Outgoing {
    pub(crate) fn window(window: &CameraWindow) -> Self {
        Self {
            event_type: METRICS_UPDATE,
            camera_id: Some(window.camera_id().to_owned()),
            event: envelope(METRICS_UPDATE, &window.with_lanes_json()),
            camera_row: Some(envelope(METRICS_UPDATE, &window.camera)),
            lane_rows: Some(envelope(LANE_METRICS_UPDATE, &window.lanes_json())),
            published: std::time::Instant::now(),
        }
    }

    pub(crate) fn alert(change: AlertChange, row: &Value) -> Self {
        Self::event(
            change.event_type(),
            row.get("camera_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            row,
        )
    }

    pub(crate) fn heatmap(items: Vec<Value>) -> Self {
        let now = Utc::now();
        let data = json!({
            "minutes": HEATMAP_MINUTES,
            "generated_at": rfc3339(now),
            "items": items,
        });
        Self::event(HEATMAP_UPDATE, None, &data)
    }

    /// The notice as a JSON map, so its keys come in the same (sorted) order as every other
    /// frame's data.
    pub(crate) fn broadcast(notice: &BroadcastNotice) -> Self {
        let data = serde_json::to_value(notice).unwrap_or(Value::Null);
        Self::event(ADMIN_BROADCAST, None, &data)
    }

    fn event(event_type: &'static str, camera_id: Option<String>, data: &impl Serialize) -> Self {
        Self {
            event_type,
            camera_id,
            event: envelope(event_type, data),
            camera_row: None,
            lane_rows: None,
            published: std::time::Instant::now(),
        }
    }
}

/// `{"type","ts","data"}`, the one message shape of every channel.
pub(crate) fn envelope(event_type: &str, data: &impl Serialize) -> Utf8Bytes {
    #[derive(Serialize)]
    struct Envelope<'a, T> {
        #[serde(rename = "type")]
        event_type: &'a str,
        ts: Rfc3339,
        data: &'a T,
    }
    let text = serde_json::to_string(&Envelope {
        event_type,
        ts: Rfc3339(Utc::now()),
        data,
    })
    .unwrap_or_default();
    Utf8Bytes::from(text)
}

pub(crate) struct Feed {
    state: Mutex<LiveState>,
    sender: broadcast::Sender<Arc<Outgoing>>,
    /// True while the LISTEN connection is up and the state was re-read since it connected:
    /// only then do REST routes answer from the state.
    current: std::sync::atomic::AtomicBool,
}

impl Feed {
    /// `backlog`: how many updates a client may fall behind before it is dropped.
    pub(crate) fn new(backlog: usize) -> Self {
        let (sender, _) = broadcast::channel(backlog.max(1));
        Self {
            state: Mutex::new(LiveState::default()),
            sender,
            current: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub(crate) fn set_current(&self, current: bool) {
        self.current
            .store(current, std::sync::atomic::Ordering::SeqCst);
    }

    /// Reads the state if it is current (see [`Feed::set_current`]); `None` means "ask the
    /// database".
    pub(crate) fn read_current<T>(&self, read: impl FnOnce(&LiveState) -> T) -> Option<T> {
        let state = self.lock();
        self.current
            .load(std::sync::atomic::Ordering::SeqCst)
            .then(|| read(&state))
    }

    fn lock(&self) -> MutexGuard<'_, LiveState> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Changes the state and sends what `change` returns, atomically with respect to
    /// [`Feed::subscribe`].
    pub(crate) fn publish<F>(&self, change: F) -> usize
    where
        F: FnOnce(&mut LiveState) -> Vec<Outgoing>,
    {
        let mut state = self.lock();
        let updates = change(&mut state);
        let n = updates.len();
        let now = std::time::Instant::now();
        for mut update in updates {
            update.published = now;
            // No subscriber is not an error: the state is still kept for the next one.
            let _ = self.sender.send(Arc::new(update));
        }
        n
    }

    /// A snapshot taken by `snapshot` and a receiver of every update published after it.
    pub(crate) fn subscribe<T>(
        &self,
        snapshot: impl FnOnce(&LiveState) -> T,
    ) -> (T, broadcast::Receiver<Arc<Outgoing>>) {
        let state = self.lock();
        let taken = snapshot(&state);
        (taken, self.sender.subscribe())
    }

    /// Reads the state without subscribing.
    pub(crate) fn read<T>(&self, read: impl FnOnce(&LiveState) -> T) -> T {
        read(&self.lock())
    }

    pub(crate) fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_have_type_ts_and_data() {
        let text = envelope("admin_broadcast", &json!({"message": "hi"}));
        let value: Value = serde_json::from_str(text.as_str()).expect("json");
        assert_eq!(value["type"], "admin_broadcast");
        assert_eq!(value["data"]["message"], "hi");
        assert!(value["ts"].as_str().is_some_and(|t| t.ends_with('Z')));
    }

    fn broadcast(message: &str) -> Outgoing {
        Outgoing::broadcast(&BroadcastNotice {
            message: message.into(),
            level: Default::default(),
            title: None,
            ts: None,
        })
    }

    #[test]
    fn broadcast_frames_carry_the_notice_with_sorted_keys() {
        let frame = broadcast("hi");
        let text = frame.event.as_str();
        assert!(
            text.contains(r#""data":{"level":"info","message":"hi","title":null,"ts":null}"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_subscriber_gets_what_follows_its_snapshot() {
        let feed = Feed::new(4);
        feed.publish(|_| vec![broadcast("1")]);
        let (count, mut rx) = feed.subscribe(|state| state.active_alerts().count());
        assert_eq!(count, 0);
        feed.publish(|_| vec![broadcast("2")]);
        let got = rx.recv().await.expect("update");
        assert!(got.event.as_str().contains(r#""message":"2""#));
        for n in 0..10 {
            feed.publish(|_| vec![broadcast(&n.to_string())]);
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }
}

//! `heatmap_update` on a fixed period (the original pushed one every 10 s), computed from the
//! live state, while anyone is subscribed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::feed::{Feed, Outgoing};

pub(crate) async fn publish_periodically(
    feed: Arc<Feed>,
    period: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if feed.subscribers() > 0 {
                    feed.publish(|state| vec![Outgoing::heatmap(state.heatmap(chrono::Utc::now()))]);
                }
            }
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    return;
                }
            }
        }
    }
}

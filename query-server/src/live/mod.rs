//! What changes while the server runs, kept in memory and pushed to clients.
//!
//! The pipeline NOTIFYs after every commit (`b2_metrics`, `b2_alerts`), the tables' triggers do
//! the same for admin changes (`b2_cameras`, `b2_thresholds`), and admin broadcasts travel as
//! `b2_broadcast`, so every replica hears every change. Channel names and payloads are the
//! contract's ([`contract::Channel`], [`contract::Notice`]).
//! - [`listen`]: the LISTEN thread; reads the changed rows back, re-reads after a reconnection.
//! - [`state`]: latest window per camera (with lanes), recent scores, active alerts.
//! - [`feed`]: applies changes to the state and fans them out to WebSocket sessions.
//! - [`heatmap`]: the periodic `heatmap_update`.
//! - [`cache`]: rendered answers of the hot REST routes, reused until a notification (or a
//!   write through this server) moves the data version, or for at most their age limit; only
//!   one request per key rebuilds at a time, so a burst costs one query.

pub(crate) mod cache;
pub(crate) mod feed;
pub(crate) mod heatmap;
pub(crate) mod listen;
pub(crate) mod state;

pub(crate) use cache::{CachedResponse, HotCache};
pub(crate) use feed::Feed;

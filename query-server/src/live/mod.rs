//! Hot routes served from memory, kept current by LISTEN/NOTIFY.
//!
//! The pipeline NOTIFYs after every commit (`b2_metrics`, `b2_alerts`), and the tables' triggers
//! do the same for admin changes (`b2_cameras`, `b2_thresholds`). [`listen`] turns each
//! notification into a new data version. [`HotCache`] keeps the rendered response of each hot
//! request and reuses it until the version moves or it reaches its age limit: the age limit
//! exists for wall-clock-relative answers such as "active in the last 5 minutes". Only one
//! request per key rebuilds at a time; concurrent ones wait for it, so a burst costs one query.

pub mod cache;
pub mod listen;

pub use cache::{CachedResponse, HotCache};

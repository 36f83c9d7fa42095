//! WebSocket channels on the API's port: `/ws/metrics`, `/ws/metrics/lanes` and `/ws/events`.
//!
//! - [`handshake`]: the upgrade (hyper's 101 and `Sec-WebSocket-Accept`), a cap on sessions.
//! - [`subscription`]: channel, `camera_id`, `role` and `types`; which frames a client gets.
//! - [`session`]: snapshot first, then updates; ping keep-alive; slow clients are dropped.
//!
//! Frames come from [`crate::live::feed`], rendered once per update for all clients.

pub(crate) mod handshake;
pub(crate) mod session;
pub(crate) mod subscription;

pub(crate) use subscription::Channel;

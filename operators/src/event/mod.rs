//! Decoding and validation of the detection messages cameras publish to Kafka.
//!
//! A message is either one detection or a frame envelope carrying a list of
//! detections under a shared header. Bad input is never fatal: every problem
//! becomes a [`DecodeError`] so the pipeline can count drops by reason and
//! keep going.
//!
//! Whatever the decoder accepts, the sink can store as is: text fields hold no
//! U+0000 (PostgreSQL's `text` and `jsonb` refuse it) and are bounded in
//! length, numbers are finite and times fall within years 1970..=9999.
//!
//! The decoder runs once per Kafka message, so it walks the JSON with
//! borrowing visitors instead of building a `serde_json::Value` tree, and
//! only allocates the strings a [`Detection`] has to own.
//!
//! - `types`: [`Detection`], [`BBox`], [`VehicleClass`], [`DropReason`], [`DecodeError`].
//! - `wire`: the message as JSON, read leniently into raw fields.
//! - `decode`: [`decode_message`], the validation of those fields.
//! - `encode`: [`encode_detection`], the canonical form, which decodes back to the same value.

mod decode;
mod encode;
#[cfg(test)]
mod tests;
mod types;
mod wire;

pub use decode::decode_message;
pub use encode::encode_detection;
pub use types::{BBox, DecodeError, Detection, DropReason, VehicleClass};

//! One worker's cameras as a plain value: what the camera operator does at each completed
//! epoch (restore, feed events, idle closes, eviction, checkpoints), tested without timely.
//!
//! - `config`: [`CameraWindowsConfig`], fixed for the life of a pipeline.
//! - `route`: [`camera_route`] and [`Ownership`], which worker owns a camera.
//! - `output`: what an epoch yields ([`CameraOutput`]) and reports ([`StateNote`]).
//! - `cameras`: [`CameraShard`] itself.

mod cameras;
mod config;
mod output;
mod route;
#[cfg(test)]
mod tests;

pub use cameras::CameraShard;
pub use config::CameraWindowsConfig;
pub use output::{CameraOutput, StateNote, StoredEvent};
pub use route::{camera_route, Ownership};

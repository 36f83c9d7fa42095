//! Short-term lane congestion forecasting with an STGCN (Yu, Yin and Zhu, IJCAI 2018) on libtorch.
//!
//! Modules, in the order the data goes through them:
//! - [`data`]: per-lane 1-minute series (from the pipeline's 5-second rows in PostgreSQL, or CSV).
//! - [`graph`]: the lane graph (same-camera and neighbouring-camera edges) and its scaled Laplacian.
//! - [`model`]: the network (ST-Conv blocks, output block), parameter names shared with
//!   `reference/stgcn.py`.
//! - [`train`]: chronological split, scaling, early stopping, the report against baselines,
//!   conformal interval widths.
//! - [`bundle`]: the model bundle directory (weights, topology, scaling, intervals, report, version).
//! - [`serve`]: [`serve::Forecaster`], inference on its own thread for the query server.
//! - [`error`]: the crate's error type, [`ForecastError`].

pub mod bundle;
pub mod data;
pub mod error;
pub mod graph;
pub mod model;
pub mod serve;
pub mod train;

pub use error::{ForecastError, Result};

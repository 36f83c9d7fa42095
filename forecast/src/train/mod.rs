//! Training: chronological train/validation/test split, z-scores fitted on the training part only,
//! Adam with early stopping on validation MAE, then a held-out report of the model against two
//! baselines (persistence and the time-of-day historical average), and split-conformal interval
//! widths from validation residuals.
//!
//! The split is by time, never shuffled across parts: neighbouring minutes are strongly
//! correlated, so a random split would leak the test period into training.
//!
//! The steps of a run ([`train`]), one file each, in the order they happen:
//! - [`split`]: the three chronological parts and the windows that fit in each.
//! - [`scaler`] and [`profile`]: what is fitted on the training part before the network: per-feature
//!   z-scores, and the time-of-day profile (the historical-average baseline and fallback).
//! - [`batches`]: the series z-scored once into a tensor, cut into input and target batches.
//! - [`fit`]: the epochs (shuffled with [`shuffle`]), early stopping, the best weights kept.
//! - [`predict`]: forecasts for a set of windows on the original scale.
//! - [`intervals`]: split-conformal interval widths from validation residuals, and their coverage.
//! - [`baselines`] and [`metrics`]: the held-out comparison, summed up in a [`Report`].
//!
//! [`config`] holds what shapes a run; [`run`] chains the steps.

mod baselines;
mod batches;
mod config;
mod fit;
mod intervals;
mod metrics;
mod predict;
mod profile;
mod report;
mod run;
mod scaler;
mod shuffle;
mod split;

pub use config::TrainConfig;
pub use intervals::Intervals;
pub use metrics::{MethodMetrics, StepMetrics};
pub use profile::Profile;
pub use report::{Report, REPORT_STEPS};
pub use run::{train, Trained};
pub use scaler::Scaler;

//! What a training run measured, printed at the end of `forecast train` and stored in the
//! bundle as `report.json`.

use serde::{Deserialize, Serialize};

use super::MethodMetrics;

/// Horizon steps reported (1, 5 and 10 minutes for 1-minute bins).
pub const REPORT_STEPS: [usize; 3] = [1, 5, 10];

/// What a training run measured; printed and stored in the bundle as `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub nodes: usize,
    pub steps: usize,
    pub step_seconds: i64,
    pub features: Vec<String>,
    pub target: String,
    pub data_start: chrono::DateTime<chrono::Utc>,
    pub target_completeness: f64,
    pub train_windows: usize,
    pub val_windows: usize,
    pub test_windows: usize,
    pub parameters: i64,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_mae: f64,
    pub seconds_per_epoch: f64,
    pub train_seconds: f64,
    /// Held-out test period, model and baselines.
    pub test: Vec<MethodMetrics>,
    /// Share of test targets inside the model's intervals (per reported step).
    pub test_interval_coverage: Vec<(usize, f64)>,
}

impl Report {
    /// MAE of a method at a horizon step, if reported.
    pub fn mae(&self, method: &str, step: usize) -> Option<f64> {
        self.test
            .iter()
            .find(|m| m.method == method)?
            .steps
            .iter()
            .find(|s| s.step == step)
            .map(|s| s.mae)
    }

    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} nodes, {} steps of {} s ({:.1}% of targets present); windows train/val/test {}/{}/{}\n\
             {} parameters; {} epochs (best {}), {:.1} s per epoch\n\
             held-out test period:\n{:<20} {:>5} {:>10} {:>10} {:>8}\n",
            self.nodes,
            self.steps,
            self.step_seconds,
            self.target_completeness * 100.0,
            self.train_windows,
            self.val_windows,
            self.test_windows,
            self.parameters,
            self.epochs_run,
            self.best_epoch,
            self.seconds_per_epoch,
            "method",
            "step",
            "MAE",
            "RMSE",
            "WAPE"
        );
        for m in &self.test {
            for s in &m.steps {
                out.push_str(&format!(
                    "{:<20} {:>5} {:>10.4} {:>10.4} {:>8}\n",
                    m.method,
                    s.step,
                    s.mae,
                    s.rmse,
                    s.wape
                        .map_or("-".to_owned(), |w| format!("{:.2}%", w * 100.0))
                ));
            }
        }
        for (step, c) in &self.test_interval_coverage {
            out.push_str(&format!(
                "interval coverage at step {step}: {:.1}%\n",
                c * 100.0
            ));
        }
        out
    }
}

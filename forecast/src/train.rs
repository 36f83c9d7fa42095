//! Training: chronological train/validation/test split, z-scores fitted on the training part only,
//! Adam with early stopping on validation MAE, then a held-out report of the model against two
//! baselines (persistence and the time-of-day historical average), and split-conformal interval
//! widths from validation residuals.
//!
//! The split is by time, never shuffled across parts: neighbouring minutes are strongly
//! correlated, so a random split would leak the test period into training.

use std::ops::Range;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

use crate::data::{minute_of_day, Series};
use crate::error::{ForecastError, Result};
use crate::graph::Topology;
use crate::model::{ModelConfig, Stgcn};

/// Horizon steps reported (1, 5 and 10 minutes for 1-minute bins).
pub const REPORT_STEPS: [usize; 3] = [1, 5, 10];

/// Everything that shapes a training run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub lookback: usize,
    pub horizon: usize,
    pub blocks: Vec<[i64; 3]>,
    pub output_channels: i64,
    pub kt: i64,
    pub ks: i64,
    pub dropout: f64,
    pub max_epochs: usize,
    /// Epochs without a better validation MAE before stopping.
    pub patience: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Caps the batches per epoch (a random subset of windows each epoch); `None` = all.
    pub max_batches_per_epoch: Option<usize>,
    pub train_fraction: f64,
    pub val_fraction: f64,
    /// Target coverage of the prediction intervals.
    pub coverage: f64,
    /// Width of the time-of-day profile's slots, in minutes.
    pub profile_slot_minutes: u32,
    /// Feature channel to forecast.
    pub target_feature: usize,
    /// Valid range of the target; predictions and bounds are clamped into it.
    pub clamp: Option<[f32; 2]>,
    pub seed: i64,
    /// libtorch intra-op threads. More than one only pays on idle cores: OpenMP workers spin,
    /// and on a shared machine two threads ran 16 times slower than one.
    pub threads: i32,
    pub progress: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            lookback: 15,
            horizon: 10,
            blocks: vec![[64, 16, 64], [64, 16, 64]],
            output_channels: 128,
            kt: 3,
            ks: 3,
            dropout: 0.1,
            max_epochs: 30,
            patience: 4,
            batch_size: 32,
            learning_rate: 1e-3,
            max_batches_per_epoch: None,
            train_fraction: 0.7,
            val_fraction: 0.1,
            coverage: 0.9,
            profile_slot_minutes: 5,
            target_feature: 0,
            clamp: None,
            seed: 42,
            threads: 1,
            progress: true,
        }
    }
}

/// Per-feature z-score parameters fitted on the training steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Scaler {
    fn fit(series: &Series, steps: Range<usize>) -> Result<Self> {
        let nf = series.features.len();
        let mut sum = vec![0.0f64; nf];
        let mut sq = vec![0.0f64; nf];
        let mut count = vec![0usize; nf];
        for t in steps {
            for n in 0..series.nodes.len() {
                for f in 0..nf {
                    let v = series.get(t, n, f);
                    if !v.is_nan() {
                        sum[f] += v as f64;
                        sq[f] += (v as f64) * (v as f64);
                        count[f] += 1;
                    }
                }
            }
        }
        let mut mean = Vec::with_capacity(nf);
        let mut std = Vec::with_capacity(nf);
        for f in 0..nf {
            if count[f] == 0 {
                return Err(ForecastError::InvalidData(format!(
                    "feature {} has no value in the training period",
                    series.features[f]
                )));
            }
            let m = sum[f] / count[f] as f64;
            let var = (sq[f] / count[f] as f64 - m * m).max(0.0);
            mean.push(m as f32);
            // A constant feature still gets a usable scale.
            std.push((var.sqrt() as f32).max(1e-6));
        }
        Ok(Self { mean, std })
    }
}

/// Mean target per node and time-of-day slot over the training steps: the historical-average
/// baseline, and the fallback forecast when the recent data is too incomplete for the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub slot_minutes: u32,
    /// `[node][slot]`
    pub values: Vec<Vec<f32>>,
}

impl Profile {
    fn fit(series: &Series, target: usize, steps: Range<usize>, slot_minutes: u32) -> Self {
        let slots = (1440 / slot_minutes.max(1)).max(1) as usize;
        let n_nodes = series.nodes.len();
        let mut sum = vec![vec![0.0f64; slots]; n_nodes];
        let mut count = vec![vec![0u32; slots]; n_nodes];
        for t in steps {
            let slot = Self::slot_of(minute_of_day(series.time_of(t)), slot_minutes, slots);
            for n in 0..n_nodes {
                let v = series.get(t, n, target);
                if !v.is_nan() {
                    sum[n][slot] += v as f64;
                    count[n][slot] += 1;
                }
            }
        }
        let values = (0..n_nodes)
            .map(|n| {
                let total: f64 = sum[n].iter().sum();
                let seen: u32 = count[n].iter().sum();
                let node_mean = if seen > 0 {
                    (total / seen as f64) as f32
                } else {
                    0.0
                };
                (0..slots)
                    .map(|s| {
                        if count[n][s] > 0 {
                            (sum[n][s] / count[n][s] as f64) as f32
                        } else {
                            node_mean
                        }
                    })
                    .collect()
            })
            .collect();
        Self {
            slot_minutes,
            values,
        }
    }

    fn slot_of(minute_of_day: u32, slot_minutes: u32, slots: usize) -> usize {
        ((minute_of_day / slot_minutes.max(1)) as usize).min(slots - 1)
    }

    /// The profile's value for a node at a minute of the day.
    pub fn at(&self, node: usize, minute_of_day: u32) -> f32 {
        let row = &self.values[node];
        row[Self::slot_of(minute_of_day, self.slot_minutes, row.len())]
    }
}

/// Half-widths of the prediction intervals per horizon step (split conformal: the
/// `coverage` quantile of absolute validation residuals).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intervals {
    pub coverage: f64,
    /// STGCN, per horizon step.
    pub model: Vec<f32>,
    /// Historical average, per horizon step (used when the model cannot serve).
    pub historical_average: Vec<f32>,
}

/// Error measures at one horizon step, on the original scale, over present targets only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub mae: f64,
    pub rmse: f64,
    /// Sum of absolute errors over sum of absolute targets (none when every target is 0).
    pub wape: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodMetrics {
    pub method: String,
    pub steps: Vec<StepMetrics>,
}

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

/// A trained network with everything needed to use it.
pub struct Trained {
    pub vs: nn::VarStore,
    pub model: Stgcn,
    pub topology: Topology,
    pub features: Vec<String>,
    pub target_feature: usize,
    pub step_seconds: i64,
    pub scaler: Scaler,
    pub profile: Profile,
    pub intervals: Intervals,
    pub clamp: Option<[f32; 2]>,
    pub report: Report,
}

/// Chronological step ranges of the three parts.
fn split(steps: usize, cfg: &TrainConfig) -> Result<[Range<usize>; 3]> {
    let train_end = (steps as f64 * cfg.train_fraction).round() as usize;
    let val_end = (steps as f64 * (cfg.train_fraction + cfg.val_fraction)).round() as usize;
    let need = cfg.lookback + cfg.horizon;
    if train_end < need || val_end - train_end < need || steps - val_end < need {
        return Err(ForecastError::InvalidData(format!(
            "{steps} steps are too few to split into train/validation/test windows of {need} steps"
        )));
    }
    Ok([0..train_end, train_end..val_end, val_end..steps])
}

/// Window start steps that fit wholly inside a part.
fn window_starts(part: &Range<usize>, span: usize) -> Vec<usize> {
    if part.end < part.start + span {
        return Vec::new();
    }
    (part.start..=part.end - span).collect()
}

/// A small deterministic generator for shuffling (splitmix64).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// The series prepared for batching: z-scored inputs as one tensor, raw targets for metrics.
struct Prepared<'a> {
    series: &'a Series,
    /// `[features, steps, nodes]`, missing values as 0 (the training mean).
    inputs: Tensor,
    target_feature: usize,
    lookback: usize,
    horizon: usize,
}

impl<'a> Prepared<'a> {
    fn new(series: &'a Series, scaler: &Scaler, cfg: &TrainConfig) -> Self {
        let (nt, nn_, nf) = (series.steps, series.nodes.len(), series.features.len());
        let mut buf = vec![0.0f32; nf * nt * nn_];
        for t in 0..nt {
            for n in 0..nn_ {
                for f in 0..nf {
                    let v = series.get(t, n, f);
                    buf[(f * nt + t) * nn_ + n] = if v.is_nan() {
                        0.0
                    } else {
                        (v - scaler.mean[f]) / scaler.std[f]
                    };
                }
            }
        }
        Self {
            series,
            inputs: Tensor::from_slice(&buf).view([nf as i64, nt as i64, nn_ as i64]),
            target_feature: cfg.target_feature,
            lookback: cfg.lookback,
            horizon: cfg.horizon,
        }
    }

    /// `[B, F, L, N]`
    fn batch_inputs(&self, starts: &[usize]) -> Tensor {
        let parts: Vec<Tensor> = starts
            .iter()
            .map(|&t| self.inputs.narrow(1, t as i64, self.lookback as i64))
            .collect();
        Tensor::stack(&parts, 0)
    }

    /// Raw targets `[B, H, N]` (NaN = missing), row-major.
    fn batch_targets(&self, starts: &[usize]) -> Vec<f32> {
        let nn_ = self.series.nodes.len();
        let mut out = Vec::with_capacity(starts.len() * self.horizon * nn_);
        for &t in starts {
            for h in 0..self.horizon {
                for n in 0..nn_ {
                    out.push(
                        self.series
                            .get(t + self.lookback + h, n, self.target_feature),
                    );
                }
            }
        }
        out
    }
}

/// Masked mean absolute error on the z-scale.
fn masked_l1(pred: &Tensor, target: &Tensor, mask: &Tensor) -> Tensor {
    let diff = (pred - target).abs() * mask;
    diff.sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// Forecasts `[W, H, N]` on the original scale for the given windows, without gradients.
fn predict_windows(
    model: &Stgcn,
    prep: &Prepared,
    starts: &[usize],
    scaler: &Scaler,
    clamp: Option<[f32; 2]>,
) -> Result<Vec<f32>> {
    let f = prep.target_feature;
    let mut out = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for chunk in starts.chunks(256) {
            let y = model.forward_t(&prep.batch_inputs(chunk), false) * scaler.std[f] as f64
                + scaler.mean[f] as f64;
            let y = match clamp {
                Some([lo, hi]) => y.clamp(lo as f64, hi as f64),
                None => y,
            };
            let y = y.contiguous().view([-1]);
            out.extend(Vec::<f32>::try_from(&y)?);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Persistence: the last present target in the lookback, per node, for every horizon step.
fn persistence(prep: &Prepared, starts: &[usize], node_mean: &[f32]) -> Vec<f32> {
    let nn_ = prep.series.nodes.len();
    let mut out = Vec::with_capacity(starts.len() * prep.horizon * nn_);
    for &t in starts {
        let last: Vec<f32> = (0..nn_)
            .map(|n| {
                (t..t + prep.lookback)
                    .rev()
                    .map(|s| prep.series.get(s, n, prep.target_feature))
                    .find(|v| !v.is_nan())
                    .unwrap_or(node_mean[n])
            })
            .collect();
        for _ in 0..prep.horizon {
            out.extend_from_slice(&last);
        }
    }
    out
}

/// Time-of-day historical average at each target step.
fn historical_average(prep: &Prepared, starts: &[usize], profile: &Profile) -> Vec<f32> {
    let nn_ = prep.series.nodes.len();
    let mut out = Vec::with_capacity(starts.len() * prep.horizon * nn_);
    for &t in starts {
        for h in 0..prep.horizon {
            let minute = minute_of_day(prep.series.time_of(t + prep.lookback + h));
            out.extend((0..nn_).map(|n| profile.at(n, minute)));
        }
    }
    out
}

/// MAE, RMSE, WAPE at the given (1-based) steps over present targets.
fn metrics(
    pred: &[f32],
    target: &[f32],
    horizon: usize,
    nodes: usize,
    steps: &[usize],
) -> Vec<StepMetrics> {
    steps
        .iter()
        .filter(|&&s| s >= 1 && s <= horizon)
        .map(|&step| {
            let (mut abs, mut sq, mut tot, mut count) = (0.0f64, 0.0f64, 0.0f64, 0u64);
            let windows = target.len() / (horizon * nodes);
            for w in 0..windows {
                let base = (w * horizon + step - 1) * nodes;
                for n in 0..nodes {
                    let y = target[base + n];
                    if y.is_nan() {
                        continue;
                    }
                    let e = (pred[base + n] - y) as f64;
                    abs += e.abs();
                    sq += e * e;
                    tot += (y as f64).abs();
                    count += 1;
                }
            }
            let c = count.max(1) as f64;
            StepMetrics {
                step,
                mae: abs / c,
                rmse: (sq / c).sqrt(),
                wape: (tot > 0.0).then(|| abs / tot),
                count,
            }
        })
        .collect()
}

/// Mean MAE over all horizon steps (the early-stopping criterion).
fn mean_mae(pred: &[f32], target: &[f32]) -> f64 {
    let (sum, count) = pred
        .iter()
        .zip(target)
        .filter(|(_, y)| !y.is_nan())
        .fold((0.0f64, 0u64), |(s, c), (p, y)| {
            (s + (p - y).abs() as f64, c + 1)
        });
    sum / count.max(1) as f64
}

/// Split-conformal half-widths per horizon step: the `ceil((n+1) c) / n` empirical quantile of
/// absolute residuals, which gives at least `c` coverage for exchangeable data.
fn conformal(
    pred: &[f32],
    target: &[f32],
    horizon: usize,
    nodes: usize,
    coverage: f64,
) -> Vec<f32> {
    (0..horizon)
        .map(|h| {
            let windows = target.len() / (horizon * nodes);
            let mut res: Vec<f32> = (0..windows)
                .flat_map(|w| (0..nodes).map(move |n| (w * horizon + h) * nodes + n))
                .filter(|&i| !target[i].is_nan())
                .map(|i| (pred[i] - target[i]).abs())
                .collect();
            if res.is_empty() {
                // No validation target at this step: no evidence for a width.
                return 0.0;
            }
            res.sort_by(f32::total_cmp);
            let n = res.len();
            let k = (((n + 1) as f64 * coverage).ceil() as usize).clamp(1, n);
            res[k - 1]
        })
        .collect()
}

/// Share of present targets within `pred ± half_width[h]`, at the given steps.
fn interval_coverage(
    pred: &[f32],
    target: &[f32],
    horizon: usize,
    nodes: usize,
    half: &[f32],
    steps: &[usize],
) -> Vec<(usize, f64)> {
    steps
        .iter()
        .filter(|&&s| s >= 1 && s <= horizon)
        .map(|&step| {
            let windows = target.len() / (horizon * nodes);
            let (mut inside, mut count) = (0u64, 0u64);
            for w in 0..windows {
                for n in 0..nodes {
                    let i = (w * horizon + step - 1) * nodes + n;
                    if target[i].is_nan() {
                        continue;
                    }
                    count += 1;
                    if (pred[i] - target[i]).abs() <= half[step - 1] {
                        inside += 1;
                    }
                }
            }
            (step, inside as f64 / count.max(1) as f64)
        })
        .collect()
}

/// Best epoch so far: its number, validation MAE and a copy of the weights.
type Best = (usize, f64, Vec<(String, Tensor)>);

/// Trains an STGCN on `series` over `topology` (whose nodes must be the series' nodes, in order).
pub fn train(series: &Series, topology: Topology, cfg: &TrainConfig) -> Result<Trained> {
    let started = Instant::now();
    if topology.nodes.iter().map(|n| &n.id).ne(series.nodes.iter()) {
        return Err(ForecastError::InvalidData(
            "the topology's nodes differ from the series' nodes".into(),
        ));
    }
    if cfg.target_feature >= series.features.len() {
        return Err(ForecastError::Config(format!(
            "target feature {} does not exist ({} features)",
            cfg.target_feature,
            series.features.len()
        )));
    }
    tch::manual_seed(cfg.seed);
    tch::set_num_threads(cfg.threads.max(1));
    let [train_part, val_part, test_part] = split(series.steps, cfg)?;
    let span = cfg.lookback + cfg.horizon;
    let (train_starts, val_starts, test_starts) = (
        window_starts(&train_part, span),
        window_starts(&val_part, span),
        window_starts(&test_part, span),
    );
    let scaler = Scaler::fit(series, train_part.clone())?;
    let profile = Profile::fit(
        series,
        cfg.target_feature,
        train_part.clone(),
        cfg.profile_slot_minutes,
    );
    let node_mean: Vec<f32> = profile
        .values
        .iter()
        .map(|row| row.iter().sum::<f32>() / row.len().max(1) as f32)
        .collect();
    let nodes = series.nodes.len();
    let model_cfg = ModelConfig {
        nodes: nodes as i64,
        in_channels: series.features.len() as i64,
        lookback: cfg.lookback as i64,
        horizon: cfg.horizon as i64,
        kt: cfg.kt,
        ks: cfg.ks,
        blocks: cfg.blocks.clone(),
        output_channels: cfg.output_channels,
        dropout: cfg.dropout,
    };
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Stgcn::new(&vs.root(), model_cfg, &topology.scaled_laplacian())?;
    let parameters: i64 = vs
        .trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum();
    let mut opt = nn::Adam::default().build(&vs, cfg.learning_rate)?;
    let prep = Prepared::new(series, &scaler, cfg);
    let f = cfg.target_feature;
    let val_target = prep.batch_targets(&val_starts);

    let batches_all = train_starts.len().div_ceil(cfg.batch_size.max(1));
    let batches = cfg
        .max_batches_per_epoch
        .map_or(batches_all, |m| m.min(batches_all))
        .max(1);
    let bar = if cfg.progress {
        let bar = ProgressBar::new((batches * cfg.max_epochs) as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} batches {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    } else {
        ProgressBar::hidden()
    };

    let mut rng = SplitMix(cfg.seed as u64);
    let mut order = train_starts.clone();
    let mut best: Option<Best> = None;
    let mut epochs_run = 0;
    let mut epoch_seconds = 0.0;
    for epoch in 1..=cfg.max_epochs {
        let epoch_start = Instant::now();
        rng.shuffle(&mut order);
        let mut loss_sum = 0.0;
        for chunk in order.chunks(cfg.batch_size.max(1)).take(batches) {
            let x = prep.batch_inputs(chunk);
            let raw = prep.batch_targets(chunk);
            let mask: Vec<f32> = raw
                .iter()
                .map(|v| if v.is_nan() { 0.0 } else { 1.0 })
                .collect();
            let z: Vec<f32> = raw
                .iter()
                .map(|v| {
                    if v.is_nan() {
                        0.0
                    } else {
                        (v - scaler.mean[f]) / scaler.std[f]
                    }
                })
                .collect();
            let shape = [chunk.len() as i64, cfg.horizon as i64, nodes as i64];
            let y = Tensor::from_slice(&z).view(shape);
            let m = Tensor::from_slice(&mask).view(shape);
            let pred = model.forward_t(&x, true);
            let loss = masked_l1(&pred, &y, &m);
            opt.backward_step(&loss);
            loss_sum += loss.double_value(&[]);
            bar.inc(1);
        }
        let val_pred = predict_windows(&model, &prep, &val_starts, &scaler, cfg.clamp)?;
        let val_mae = mean_mae(&val_pred, &val_target);
        epoch_seconds += epoch_start.elapsed().as_secs_f64();
        epochs_run = epoch;
        bar.set_message(format!(
            "epoch {epoch}: train loss {:.4}, val MAE {val_mae:.4}",
            loss_sum / batches as f64
        ));
        log::info!(
            "epoch {epoch}: train loss {:.4} (z), validation MAE {val_mae:.4}",
            loss_sum / batches as f64
        );
        let improved = best.as_ref().is_none_or(|(_, b, _)| val_mae < *b);
        if improved {
            let snapshot = vs
                .variables()
                .into_iter()
                .map(|(k, v)| (k, v.detach().copy()))
                .collect();
            best = Some((epoch, val_mae, snapshot));
        } else if best
            .as_ref()
            .is_some_and(|(e, _, _)| epoch - e >= cfg.patience)
        {
            break;
        }
    }
    bar.finish_and_clear();
    let Some((best_epoch, best_val_mae, snapshot)) = best else {
        return Err(ForecastError::Config(
            "max_epochs must be at least 1".into(),
        ));
    };
    let mut live = vs.variables();
    tch::no_grad(|| {
        for (name, value) in &snapshot {
            if let Some(var) = live.get_mut(name) {
                var.copy_(value);
            }
        }
    });

    // Intervals from validation residuals of the kept weights.
    let val_pred = predict_windows(&model, &prep, &val_starts, &scaler, cfg.clamp)?;
    let val_ha = historical_average(&prep, &val_starts, &profile);
    let intervals = Intervals {
        coverage: cfg.coverage,
        model: conformal(&val_pred, &val_target, cfg.horizon, nodes, cfg.coverage),
        historical_average: conformal(&val_ha, &val_target, cfg.horizon, nodes, cfg.coverage),
    };

    let test_target = prep.batch_targets(&test_starts);
    let test_pred = predict_windows(&model, &prep, &test_starts, &scaler, cfg.clamp)?;
    let test = vec![
        MethodMetrics {
            method: "stgcn".into(),
            steps: metrics(&test_pred, &test_target, cfg.horizon, nodes, &REPORT_STEPS),
        },
        MethodMetrics {
            method: "persistence".into(),
            steps: metrics(
                &persistence(&prep, &test_starts, &node_mean),
                &test_target,
                cfg.horizon,
                nodes,
                &REPORT_STEPS,
            ),
        },
        MethodMetrics {
            method: "historical_average".into(),
            steps: metrics(
                &historical_average(&prep, &test_starts, &profile),
                &test_target,
                cfg.horizon,
                nodes,
                &REPORT_STEPS,
            ),
        },
    ];
    let report = Report {
        nodes,
        steps: series.steps,
        step_seconds: series.step_seconds,
        features: series.features.clone(),
        target: series.features[f].clone(),
        data_start: series.start,
        target_completeness: series.completeness(f),
        train_windows: train_starts.len(),
        val_windows: val_starts.len(),
        test_windows: test_starts.len(),
        parameters,
        epochs_run,
        best_epoch,
        best_val_mae,
        seconds_per_epoch: epoch_seconds / epochs_run.max(1) as f64,
        train_seconds: started.elapsed().as_secs_f64(),
        test_interval_coverage: interval_coverage(
            &test_pred,
            &test_target,
            cfg.horizon,
            nodes,
            &intervals.model,
            &REPORT_STEPS,
        ),
        test,
    };
    Ok(Trained {
        vs,
        model,
        topology,
        features: series.features.clone(),
        target_feature: f,
        step_seconds: series.step_seconds,
        scaler,
        profile,
        intervals,
        clamp: cfg.clamp,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformal_quantile_covers_the_requested_share() {
        // 1 horizon step, 1 node, residuals 1..=9: ceil(10 * 0.9) = 9th smallest.
        let target: Vec<f32> = vec![0.0; 9];
        let pred: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        assert_eq!(conformal(&pred, &target, 1, 1, 0.9), vec![9.0]);
        assert_eq!(conformal(&pred, &target, 1, 1, 0.5), vec![5.0]);
    }

    #[test]
    fn metrics_skip_missing_targets() {
        // 1 window, horizon 1, 2 nodes; node 1's target missing.
        let m = metrics(&[1.0, 5.0], &[2.0, f32::NAN], 1, 2, &[1, 5]);
        assert_eq!(m.len(), 1, "step 5 is beyond the horizon");
        assert_eq!(
            (m[0].mae, m[0].rmse, m[0].wape, m[0].count),
            (1.0, 1.0, Some(0.5), 1)
        );
    }

    #[test]
    fn split_is_chronological_and_disjoint() {
        let cfg = TrainConfig::default();
        let [a, b, c] = split(1000, &cfg).expect("split");
        assert_eq!((a.start, a.end, b.end, c.end), (0, 700, 800, 1000));
        let starts = window_starts(&b, 25);
        assert_eq!((starts[0], *starts.last().expect("some")), (700, 775));
    }
}

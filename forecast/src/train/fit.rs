//! The epochs: Adam on a masked L1 loss (missing targets weigh nothing), a validation MAE after
//! each epoch, early stopping after `patience` epochs without improvement, and the weights of the
//! best epoch restored at the end.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use tch::nn::{self, OptimizerConfig};
use tch::{Kind, Tensor};

use super::batches::Prepared;
use super::metrics::mean_mae;
use super::predict::predict_windows;
use super::shuffle::SplitMix;
use super::{Scaler, TrainConfig};
use crate::error::{ForecastError, Result};
use crate::model::Stgcn;

/// How the epochs went; the model holds the best epoch's weights.
pub(super) struct Fitted {
    pub(super) epochs_run: usize,
    pub(super) best_epoch: usize,
    pub(super) best_val_mae: f64,
    /// Wall time of the epochs, validation included.
    pub(super) epoch_seconds: f64,
}

/// Best epoch so far: its number, validation MAE and a copy of the weights.
type Best = (usize, f64, Vec<(String, Tensor)>);

/// The windows the network learns from and the ones it is judged on after every epoch.
pub(super) struct Windows<'a> {
    pub(super) train: &'a [usize],
    pub(super) val: &'a [usize],
    /// Raw targets of the validation windows.
    pub(super) val_target: &'a [f32],
}

/// Trains `model` (whose weights live in `vs`) until early stopping, then restores the best
/// epoch's weights.
pub(super) fn fit(
    vs: &nn::VarStore,
    model: &Stgcn,
    prep: &Prepared,
    scaler: &Scaler,
    windows: Windows<'_>,
    cfg: &TrainConfig,
) -> Result<Fitted> {
    let mut opt = nn::Adam::default().build(vs, cfg.learning_rate)?;
    let f = cfg.target_feature;
    let nodes = prep.series.nodes.len();
    let batches_all = windows.train.len().div_ceil(cfg.batch_size.max(1));
    let batches = cfg
        .max_batches_per_epoch
        .map_or(batches_all, |m| m.min(batches_all))
        .max(1);
    let bar = progress_bar(cfg, batches);

    let mut rng = SplitMix(cfg.seed as u64);
    let mut order = windows.train.to_vec();
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
        let val_pred = predict_windows(model, prep, windows.val, scaler, cfg.clamp)?;
        let val_mae = mean_mae(&val_pred, windows.val_target);
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
    Ok(Fitted {
        epochs_run,
        best_epoch,
        best_val_mae,
        epoch_seconds,
    })
}

/// Masked mean absolute error on the z-scale.
fn masked_l1(pred: &Tensor, target: &Tensor, mask: &Tensor) -> Tensor {
    let diff = (pred - target).abs() * mask;
    diff.sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

fn progress_bar(cfg: &TrainConfig, batches: usize) -> ProgressBar {
    if !cfg.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new((batches * cfg.max_epochs) as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} batches {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

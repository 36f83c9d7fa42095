//! A training run: the steps of this module in order, from a series and its lane graph to a
//! trained network with its scaling, fallback, intervals and report.

use std::time::Instant;

use tch::nn;
use tch::Device;

use super::baselines::{historical_average, persistence};
use super::batches::Prepared;
use super::fit::{fit, Windows};
use super::intervals::{conformal, interval_coverage};
use super::metrics::metrics;
use super::predict::predict_windows;
use super::split::{split, window_starts};
use super::{Intervals, MethodMetrics, Profile, Report, Scaler, TrainConfig, REPORT_STEPS};
use crate::data::Series;
use crate::error::{ForecastError, Result};
use crate::graph::Topology;
use crate::model::{ModelConfig, Stgcn};

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

    // Split, then fit what comes before the network on the training part only.
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

    // The network, trained with early stopping.
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
    let prep = Prepared::new(series, &scaler, cfg);
    let val_target = prep.batch_targets(&val_starts);
    let fitted = fit(
        &vs,
        &model,
        &prep,
        &scaler,
        Windows {
            train: &train_starts,
            val: &val_starts,
            val_target: &val_target,
        },
        cfg,
    )?;

    // Intervals from validation residuals of the kept weights.
    let val_pred = predict_windows(&model, &prep, &val_starts, &scaler, cfg.clamp)?;
    let val_ha = historical_average(&prep, &val_starts, &profile);
    let intervals = Intervals {
        coverage: cfg.coverage,
        model: conformal(&val_pred, &val_target, cfg.horizon, nodes, cfg.coverage),
        historical_average: conformal(&val_ha, &val_target, cfg.horizon, nodes, cfg.coverage),
    };

    // The held-out report: the model against both baselines.
    let test_target = prep.batch_targets(&test_starts);
    let test_pred = predict_windows(&model, &prep, &test_starts, &scaler, cfg.clamp)?;
    let score = |pred: &[f32]| metrics(pred, &test_target, cfg.horizon, nodes, &REPORT_STEPS);
    let test = vec![
        MethodMetrics {
            method: "stgcn".into(),
            steps: score(&test_pred),
        },
        MethodMetrics {
            method: "persistence".into(),
            steps: score(&persistence(&prep, &test_starts, &profile.node_means())),
        },
        MethodMetrics {
            method: "historical_average".into(),
            steps: score(&historical_average(&prep, &test_starts, &profile)),
        },
    ];
    let f = cfg.target_feature;
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
        epochs_run: fitted.epochs_run,
        best_epoch: fitted.best_epoch,
        best_val_mae: fitted.best_val_mae,
        seconds_per_epoch: fitted.epoch_seconds / fitted.epochs_run.max(1) as f64,
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

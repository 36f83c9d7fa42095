//! Serving: a [`Forecaster`] owns a loaded bundle on a dedicated thread (libtorch work stays off
//! the caller's threads, runs without gradients and with a small intra-op thread count, so it
//! cannot starve an async runtime). Callers validate and assemble inputs on their own thread,
//! the model thread only runs the network.
//!
//! A request names a camera; the model reads every lane of the graph (neighbours matter), so the
//! caller passes the recent minute bins of all lanes, e.g. from [`recent_observations`].

use std::collections::HashMap;
use std::path::Path;
use std::thread;

use chrono::{DateTime, Duration, Utc};
use crossbeam_channel::{bounded, Sender};
use serde::Serialize;
use tch::{Kind, Tensor};

use crate::bundle::{Bundle, BundleMeta};
use crate::data::{self, floor_minute, minute_of_day, LaneMinute};
use crate::error::{ForecastError, Result};
use crate::graph::Topology;

/// Settings of the model thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForecasterConfig {
    /// libtorch intra-op threads (process-wide in libtorch; keep it small beside a server).
    pub threads: i32,
    /// Below this share of present inputs (all lanes, target feature, model lookback) the
    /// time-of-day historical average answers instead of the model.
    pub min_completeness: f64,
    /// Requests waiting for the model thread before callers block.
    pub queue: usize,
}

impl Default for ForecasterConfig {
    fn default() -> Self {
        Self {
            threads: 1,
            min_completeness: 0.5,
            queue: 64,
        }
    }
}

/// One lane's minute of data: features in the bundle's order, NaN = missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub camera_id: String,
    pub lane_id: String,
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    pub values: Vec<f32>,
}

impl From<&LaneMinute> for Observation {
    fn from(m: &LaneMinute) -> Self {
        Self {
            camera_id: m.camera_id.clone(),
            lane_id: m.lane_id.clone(),
            minute: m.minute,
            values: m.bin.features().to_vec(),
        }
    }
}

/// Lane minute bins of all cameras in the `minutes` complete minutes before `now`, resampled the
/// same way as the training data.
pub fn recent_observations(
    client: &mut postgres::Client,
    now: DateTime<Utc>,
    minutes: usize,
) -> Result<Vec<Observation>> {
    let end = floor_minute(now);
    let start = end - Duration::minutes(minutes as i64);
    Ok(data::query_lane_minutes(client, start, end, None)?
        .iter()
        .map(Observation::from)
        .collect())
}

/// A forecast request.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRequest {
    pub camera_id: String,
    pub horizon_minutes: usize,
    pub lookback_minutes: usize,
    /// Forecasts start at the minute containing `now`; inputs are the minutes before it.
    pub now: DateTime<Utc>,
    /// Recent minutes of any lanes (others are ignored), at least the model's lookback.
    pub observations: Vec<Observation>,
}

/// Which forecaster produced the numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Stgcn,
    /// The time-of-day profile, used when the recent data is too incomplete for the model.
    HistoricalAverage,
}

/// One predicted minute.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// 1-based step after the last input minute.
    pub step: usize,
    /// Start of the predicted minute.
    pub minute: DateTime<Utc>,
    pub value: f32,
    pub lower: f32,
    pub upper: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaneForecast {
    pub lane_id: String,
    pub predictions: Vec<Prediction>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastResponse {
    pub camera_id: String,
    pub method: Method,
    pub model_version: String,
    pub generated_at: DateTime<Utc>,
    /// The forecast quantity (e.g. `congestion_score`).
    pub target: String,
    pub horizon_minutes: usize,
    pub lookback_minutes: usize,
    /// Minutes of input the model reads (the last ones of the lookback).
    pub model_lookback_minutes: usize,
    /// Nominal coverage of `lower..upper`.
    pub interval_coverage: f64,
    /// Age of the camera's newest lane minute (end of that minute to `now`).
    pub data_age_seconds: Option<i64>,
    /// Present share of the camera's lane minutes over the requested lookback.
    pub lookback_completeness: f64,
    /// Present share of all lanes' minutes over the model's lookback (what the model saw).
    pub graph_completeness: f64,
    /// Mean over the camera's lanes, per minute.
    pub camera: Vec<Prediction>,
    pub lanes: Vec<LaneForecast>,
}

/// Why a request cannot be answered; each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ServeError {
    /// 404: the camera's lanes are not nodes of the model's graph.
    #[error("camera {0:?} is not in the forecast model's topology")]
    NotInTopology(String),
    /// 404: the camera has no lane data in the lookback.
    #[error("camera {camera_id:?} has no lane data in the last {lookback_minutes} minutes")]
    NoRecentData {
        camera_id: String,
        lookback_minutes: usize,
    },
    /// 422
    #[error("horizon_minutes {requested} is not served: this model predicts 1 to {max} minutes")]
    Horizon { requested: usize, max: usize },
    /// 422
    #[error("lookback_minutes {requested} is not served: this model needs at least {min} minutes of input")]
    Lookback { requested: usize, min: usize },
    /// 503: the model thread is gone.
    #[error("the forecast model thread has stopped")]
    Stopped,
}

/// What callers may want to know about the loaded model without asking its thread.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    pub model_version: String,
    pub created_at: DateTime<Utc>,
    pub target: String,
    pub lookback_minutes: usize,
    pub horizon_minutes: usize,
    pub nodes: usize,
    pub cameras: usize,
}

type Reply = Sender<std::result::Result<Vec<f32>, String>>;

struct Job {
    /// `[1, F, L, N]` z-scored.
    input: Tensor,
    reply: Reply,
}

/// Model and everything needed to assemble inputs and outputs, shared by callers.
struct Shared {
    meta: BundleMeta,
    topology: Topology,
    node_index: HashMap<(String, String), usize>,
    camera_lanes: HashMap<String, Vec<usize>>,
    info: ModelInfo,
    min_completeness: f64,
}

/// Serves forecasts of one bundle; cheap to clone (all clones share the model thread, which
/// ends when the last clone is dropped).
#[derive(Clone)]
pub struct Forecaster {
    tx: Sender<Job>,
    shared: std::sync::Arc<Shared>,
}

impl std::fmt::Debug for Forecaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forecaster")
            .field("info", &self.shared.info)
            .finish()
    }
}

impl Forecaster {
    /// Loads a bundle directory and starts the model thread.
    pub fn load_dir(dir: &Path, config: ForecasterConfig) -> Result<Self> {
        Self::start(Bundle::load(dir)?, config)
    }

    /// Loads a bundle from separate metadata and weights files (see [`Bundle::load_files`]).
    pub fn load_files(meta: &Path, weights: &Path, config: ForecasterConfig) -> Result<Self> {
        Self::start(Bundle::load_files(meta, weights)?, config)
    }

    /// Starts the model thread for a loaded bundle.
    pub fn start(bundle: Bundle, config: ForecasterConfig) -> Result<Self> {
        let Bundle {
            meta,
            topology,
            vs,
            model,
            ..
        } = bundle;
        if meta.step_seconds != 60 {
            return Err(ForecastError::Config(format!(
                "only 1-minute models can be served, this one has {} s steps",
                meta.step_seconds
            )));
        }
        let node_index = topology
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| ((n.camera_id.clone(), n.lane_id.clone()), i))
            .collect();
        let camera_lanes: HashMap<String, Vec<usize>> = topology.cameras().into_iter().collect();
        let info = ModelInfo {
            model_version: meta.model_version.clone(),
            created_at: meta.created_at,
            target: meta.features[meta.target_feature].clone(),
            lookback_minutes: meta.model.lookback as usize,
            horizon_minutes: meta.model.horizon as usize,
            nodes: topology.nodes.len(),
            cameras: camera_lanes.len(),
        };
        let (tx, rx) = bounded::<Job>(config.queue.max(1));
        let threads = config.threads.max(1);
        thread::Builder::new()
            .name("forecast-model".into())
            .spawn(move || {
                let _vs = vs; // the weights live as long as the thread
                tch::set_num_threads(threads);
                let _guard = tch::no_grad_guard();
                for job in rx {
                    let out = model
                        .forward_t(&job.input, false)
                        .to_kind(Kind::Float)
                        .contiguous()
                        .view([-1]);
                    let result = Vec::<f32>::try_from(&out).map_err(|e| e.to_string());
                    // The caller may have given up waiting; nothing to do then.
                    let _ = job.reply.send(result);
                }
            })
            .map_err(|e| ForecastError::io("forecast-model thread", e))?;
        Ok(Self {
            tx,
            shared: std::sync::Arc::new(Shared {
                meta,
                topology,
                node_index,
                camera_lanes,
                info,
                min_completeness: config.min_completeness,
            }),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.shared.info
    }

    /// Whether the camera has lanes in the model's graph.
    pub fn knows_camera(&self, camera_id: &str) -> bool {
        self.shared.camera_lanes.contains_key(camera_id)
    }

    /// Checks horizon and lookback against the model (cheap; no data needed).
    pub fn check(
        &self,
        camera_id: &str,
        horizon_minutes: usize,
        lookback_minutes: usize,
    ) -> std::result::Result<(), ServeError> {
        let info = &self.shared.info;
        if horizon_minutes < 1 || horizon_minutes > info.horizon_minutes {
            return Err(ServeError::Horizon {
                requested: horizon_minutes,
                max: info.horizon_minutes,
            });
        }
        if lookback_minutes < info.lookback_minutes {
            return Err(ServeError::Lookback {
                requested: lookback_minutes,
                min: info.lookback_minutes,
            });
        }
        if !self.knows_camera(camera_id) {
            return Err(ServeError::NotInTopology(camera_id.to_owned()));
        }
        Ok(())
    }

    /// Answers a request. Blocks while the model thread works (about a millisecond for a
    /// 100-lane graph), so async callers should use their blocking pool.
    pub fn predict(
        &self,
        req: &ForecastRequest,
    ) -> std::result::Result<ForecastResponse, ServeError> {
        self.check(&req.camera_id, req.horizon_minutes, req.lookback_minutes)?;
        let s = &*self.shared;
        let meta = &s.meta;
        let (nf, nn_) = (meta.features.len(), s.topology.nodes.len());
        let l_model = s.info.lookback_minutes;
        let end = floor_minute(req.now);
        let lookback_start = end - Duration::minutes(req.lookback_minutes as i64);
        let model_start = end - Duration::minutes(l_model as i64);
        let lanes = &s.camera_lanes[&req.camera_id];
        let tf = meta.target_feature;

        // [F, L, N] raw inputs of the model's window, camera statistics over the request's lookback.
        let mut raw = vec![f32::NAN; nf * l_model * nn_];
        let mut camera_present = 0usize;
        let mut newest: Option<DateTime<Utc>> = None;
        for o in &req.observations {
            let Some(&n) = s.node_index.get(&(o.camera_id.clone(), o.lane_id.clone())) else {
                continue;
            };
            let minute = floor_minute(o.minute);
            if minute < lookback_start || minute >= end || o.values.len() != nf {
                continue;
            }
            if o.camera_id == req.camera_id && !o.values[tf].is_nan() {
                camera_present += 1;
                newest = newest.max(Some(minute));
            }
            if minute >= model_start {
                let t = ((minute - model_start).num_seconds() / 60) as usize;
                for f in 0..nf {
                    raw[(f * l_model + t) * nn_ + n] = o.values[f];
                }
            }
        }
        if camera_present == 0 {
            return Err(ServeError::NoRecentData {
                camera_id: req.camera_id.clone(),
                lookback_minutes: req.lookback_minutes,
            });
        }
        let target_cells = &raw[tf * l_model * nn_..(tf + 1) * l_model * nn_];
        let graph_completeness = target_cells.iter().filter(|v| !v.is_nan()).count() as f64
            / target_cells.len().max(1) as f64;

        let horizon = s.info.horizon_minutes;
        let model_out = if graph_completeness >= s.min_completeness {
            let input: Vec<f32> = raw
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let f = i / (l_model * nn_);
                    if v.is_nan() {
                        0.0
                    } else {
                        (v - meta.scaler.mean[f]) / meta.scaler.std[f]
                    }
                })
                .collect();
            let input = Tensor::from_slice(&input).view([1, nf as i64, l_model as i64, nn_ as i64]);
            let (reply, answer) = bounded(1);
            self.tx
                .send(Job { input, reply })
                .map_err(|_| ServeError::Stopped)?;
            match answer.recv().map_err(|_| ServeError::Stopped)? {
                Ok(out) if out.len() == horizon * nn_ => Some(out),
                Ok(out) => {
                    log::warn!(
                        "forecast model returned {} values, expected {}",
                        out.len(),
                        horizon * nn_
                    );
                    None
                }
                Err(e) => {
                    log::warn!("forecast model failed, answering with the historical average: {e}");
                    None
                }
            }
        } else {
            None
        };
        let (method, widths) = match model_out {
            Some(_) => (Method::Stgcn, &meta.intervals.model),
            None => (
                Method::HistoricalAverage,
                &meta.intervals.historical_average,
            ),
        };
        let (mean, std) = (meta.scaler.mean[tf], meta.scaler.std[tf]);
        let clamp = |v: f32| match meta.clamp {
            Some([lo, hi]) => v.clamp(lo, hi),
            None => v,
        };
        let lane_forecasts: Vec<LaneForecast> = lanes
            .iter()
            .map(|&n| LaneForecast {
                lane_id: s.topology.nodes[n].lane_id.clone(),
                predictions: (0..req.horizon_minutes)
                    .map(|h| {
                        let minute = end + Duration::minutes(h as i64);
                        let value = match &model_out {
                            Some(out) => out[h * nn_ + n] * std + mean,
                            None => meta.profile.at(n, minute_of_day(minute)),
                        };
                        let value = clamp(value);
                        Prediction {
                            step: h + 1,
                            minute,
                            value,
                            lower: clamp(value - widths[h]),
                            upper: clamp(value + widths[h]),
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(ForecastResponse {
            camera_id: req.camera_id.clone(),
            method,
            model_version: s.info.model_version.clone(),
            generated_at: Utc::now(),
            target: s.info.target.clone(),
            horizon_minutes: req.horizon_minutes,
            lookback_minutes: req.lookback_minutes,
            model_lookback_minutes: l_model,
            interval_coverage: meta.intervals.coverage,
            data_age_seconds: newest
                .map(|m| (req.now - (m + Duration::minutes(1))).num_seconds().max(0)),
            lookback_completeness: camera_present as f64
                / (lanes.len() * req.lookback_minutes) as f64,
            graph_completeness,
            camera: aggregate_lanes(&lane_forecasts),
            lanes: lane_forecasts,
        })
    }
}

/// Camera-level forecast: per step, the mean of the lanes' values and bounds. Averaging the
/// bounds (rather than combining them as independent) is conservative for lanes that move
/// together, which lanes of one camera do.
pub fn aggregate_lanes(lanes: &[LaneForecast]) -> Vec<Prediction> {
    let Some(first) = lanes.first() else {
        return Vec::new();
    };
    let k = lanes.len() as f32;
    first
        .predictions
        .iter()
        .enumerate()
        .map(|(h, p)| {
            let sum = |f: fn(&Prediction) -> f32| {
                lanes.iter().map(|l| f(&l.predictions[h])).sum::<f32>() / k
            };
            Prediction {
                step: p.step,
                minute: p.minute,
                value: sum(|p| p.value),
                lower: sum(|p| p.lower),
                upper: sum(|p| p.upper),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pred(step: usize, value: f32, lower: f32, upper: f32) -> Prediction {
        Prediction {
            step,
            minute: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(step as i64 - 1),
            value,
            lower,
            upper,
        }
    }

    #[test]
    fn camera_forecast_is_the_mean_of_its_lanes() {
        let lanes = vec![
            LaneForecast {
                lane_id: "1".into(),
                predictions: vec![pred(1, 0.2, 0.1, 0.3), pred(2, 0.4, 0.2, 0.6)],
            },
            LaneForecast {
                lane_id: "2".into(),
                predictions: vec![pred(1, 0.6, 0.5, 0.7), pred(2, 0.8, 0.6, 1.0)],
            },
        ];
        let cam = aggregate_lanes(&lanes);
        assert_eq!(cam.len(), 2);
        assert!(
            (cam[0].value - 0.4).abs() < 1e-6
                && (cam[0].lower - 0.3).abs() < 1e-6
                && (cam[0].upper - 0.5).abs() < 1e-6
        );
        assert!((cam[1].value - 0.6).abs() < 1e-6 && (cam[1].upper - 0.8).abs() < 1e-6);
        assert_eq!(cam[1].step, 2);
        assert!(aggregate_lanes(&[]).is_empty());
    }
}

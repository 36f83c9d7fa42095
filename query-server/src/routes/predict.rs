//! `GET /api/predict/congestion`: the short-term congestion forecast of one camera, from the
//! STGCN model bundle of the `forecast` crate (lane forecasts over the lane graph, aggregated to
//! the camera).
//!
//! The bundle is loaded once, from `FORECAST_MODEL_DIR`, or from `STGCN_CHECKPOINT_PATH` (weights)
//! with `STGCN_CONFIG_PATH` (its `bundle.json`; default: beside the weights), the original
//! service's names. Inference runs on the forecaster's own thread. Without a bundle, or in a
//! server built without the `forecast` feature, the route validates the request and answers 503
//! saying why and how to get a model, as the original did without a checkpoint.

use hyper::StatusCode;
use serde_json::json;

use crate::context::{Ctx, Req};
use crate::data::cameras;
use crate::error::ApiError;
use crate::http::{json_status, ApiResult};

pub(crate) const HORIZON_DEFAULT: i64 = 10;
pub(crate) const HORIZON_MAX: i64 = 60;
pub(crate) const LOOKBACK_DEFAULT: i64 = 15;
pub(crate) const LOOKBACK_MAX: i64 = 240;

/// What a 503 says when no bundle is loaded: why there is no forecast and how to train one.
pub(crate) const NO_MODEL_MESSAGE: &str = "no forecast model bundle is loaded: set FORECAST_MODEL_DIR to a \
     bundle directory written by `forecast train --database-url ... --out DIR` (or \
     STGCN_CHECKPOINT_PATH to its model.safetensors, with STGCN_CONFIG_PATH naming its bundle.json) \
     and restart the query server";

/// What a 503 says when the server was built without the `forecast` cargo feature.
#[cfg(not(feature = "forecast"))]
pub(crate) const NOT_BUILT_MESSAGE: &str =
    "no forecast model bundle is loaded: this query server was built \
     without forecasting (cargo feature `forecast`, which needs libtorch); rebuild it with the \
     default features and set FORECAST_MODEL_DIR";

/// Validated request parameters.
struct Params {
    camera_id: String,
    horizon: i64,
    lookback: i64,
}

fn params(req: &Req) -> Result<Params, ApiError> {
    Ok(Params {
        camera_id: req.params.required("camera_id")?.to_owned(),
        horizon: req
            .params
            .int("horizon_minutes", HORIZON_DEFAULT, 1, HORIZON_MAX)?,
        lookback: req
            .params
            .int("lookback_minutes", LOOKBACK_DEFAULT, 1, LOOKBACK_MAX)?,
    })
}

/// 404 for a camera the database does not know, else the 503 with `message`.
async fn unavailable(ctx: &Ctx, p: Params, message: &str) -> ApiResult {
    let lookup = p.camera_id.clone();
    let known = ctx
        .db
        .run(move |client| Ok(cameras::exists(client, &lookup)?))
        .await?;
    if !known {
        return Err(ApiError::not_found(format!(
            "unknown camera {:?}",
            p.camera_id
        )));
    }
    json_status(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({
            "error": message,
            "status": StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            "model_loaded": false,
            "camera_id": p.camera_id,
            "horizon_minutes": p.horizon,
            "lookback_minutes": p.lookback,
        }),
    )
}

#[cfg(not(feature = "forecast"))]
pub(crate) async fn congestion(ctx: &Ctx, req: &Req) -> ApiResult {
    let p = params(req)?;
    unavailable(ctx, p, NOT_BUILT_MESSAGE).await
}

#[cfg(feature = "forecast")]
pub(crate) use with_model::{congestion, load};

#[cfg(feature = "forecast")]
mod with_model {
    use std::path::PathBuf;
    use std::sync::OnceLock;

    use forecast::serve::{
        recent_observations, ForecastRequest, Forecaster, ForecasterConfig, ServeError,
    };

    use super::*;
    use crate::config::Config;
    use crate::http::json;

    /// The forecaster, or why there is none (the 503's message).
    pub(crate) enum Loaded {
        Ready(Forecaster),
        Missing(String),
    }

    static LOADED: OnceLock<Loaded> = OnceLock::new();

    /// Loads the bundle named by the configuration, once per process; later calls return the
    /// same result. Blocks while loading (a fraction of a second), so call it at start or from
    /// a blocking thread.
    pub(crate) fn load(config: &Config) -> &'static Loaded {
        LOADED.get_or_init(|| {
            let settings = ForecasterConfig {
                threads: config.forecast_threads,
                ..ForecasterConfig::default()
            };
            let result = if let Some(dir) = &config.forecast_model_dir {
                Forecaster::load_dir(dir, settings)
            } else if let Some(weights) = &config.stgcn_checkpoint_path {
                let meta = config.stgcn_config_path.clone().unwrap_or_else(|| {
                    weights
                        .parent()
                        .map(|d| d.join(forecast::bundle::META_FILE))
                        .unwrap_or_else(|| PathBuf::from(forecast::bundle::META_FILE))
                });
                Forecaster::load_files(&meta, weights, settings)
            } else {
                log::info!("forecast_model_absent FORECAST_MODEL_DIR is not set");
                return Loaded::Missing(NO_MODEL_MESSAGE.to_owned());
            };
            match result {
                Ok(f) => {
                    let info = f.info();
                    log::info!(
                        "forecast_model_loaded version={} nodes={} cameras={} lookback={} horizon={}",
                        info.model_version,
                        info.nodes,
                        info.cameras,
                        info.lookback_minutes,
                        info.horizon_minutes
                    );
                    Loaded::Ready(f)
                }
                Err(e) => {
                    log::error!("forecast_model_load_failed error={e}");
                    Loaded::Missing(format!("{NO_MODEL_MESSAGE} (loading failed: {e})"))
                }
            }
        })
    }

    pub(super) fn serve_error(e: ServeError) -> ApiError {
        match e {
            ServeError::NotInTopology(_) | ServeError::NoRecentData { .. } => {
                ApiError::not_found(e.to_string())
            }
            ServeError::Horizon { .. } | ServeError::Lookback { .. } => {
                ApiError::unprocessable(e.to_string())
            }
            ServeError::Stopped => ApiError::unavailable(e.to_string()),
        }
    }

    pub(crate) async fn congestion(ctx: &Ctx, req: &Req) -> ApiResult {
        let p = params(req)?;
        let loaded = match LOADED.get() {
            Some(loaded) => loaded,
            None => {
                let config = ctx.config.clone();
                tokio::task::spawn_blocking(move || load(&config))
                    .await
                    .map_err(|e| ApiError::internal(format!("loading the forecast model: {e}")))?
            }
        };
        let forecaster = match loaded {
            Loaded::Ready(f) => f.clone(),
            Loaded::Missing(message) => return unavailable(ctx, p, message).await,
        };
        // Parameters the model cannot serve are refused before any database work.
        forecaster
            .check(&p.camera_id, p.horizon as usize, p.lookback as usize)
            .map_err(serve_error)?;
        let response = ctx
            .db
            .run(move |client| {
                let now = chrono::Utc::now();
                let observations =
                    recent_observations(client, now, p.lookback as usize).map_err(|e| match e {
                        forecast::ForecastError::Postgres(e) => ApiError::from(e),
                        other => ApiError::internal(other.to_string()),
                    })?;
                forecaster
                    .predict(&ForecastRequest {
                        camera_id: p.camera_id,
                        horizon_minutes: p.horizon as usize,
                        lookback_minutes: p.lookback as usize,
                        now,
                        observations,
                    })
                    .map_err(serve_error)
            })
            .await?;
        json(&response)
    }
}

#[cfg(all(test, feature = "forecast"))]
mod tests {
    use forecast::serve::ServeError;

    use super::with_model::serve_error;

    #[test]
    fn serve_errors_map_to_their_statuses() {
        let cases = [
            (ServeError::NotInTopology("x".into()), 404),
            (
                ServeError::NoRecentData {
                    camera_id: "x".into(),
                    lookback_minutes: 15,
                },
                404,
            ),
            (
                ServeError::Horizon {
                    requested: 30,
                    max: 10,
                },
                422,
            ),
            (
                ServeError::Lookback {
                    requested: 5,
                    min: 15,
                },
                422,
            ),
            (ServeError::Stopped, 503),
        ];
        for (e, status) in cases {
            let message = e.to_string();
            let api = serve_error(e);
            assert_eq!(api.status.as_u16(), status, "{message}");
            assert_eq!(api.message, message);
        }
    }
}

//! `GET /api/predict/congestion`: the short-term congestion forecast (ST-GCN over the camera
//! graph). No forecast model bundle is loaded by this server, so after validating the request
//! it answers 503 with an explanation, as the original service did without a checkpoint.
//! Validation still runs first so that clients get the same 400/404 they will get once a
//! model is served.

use hyper::StatusCode;
use serde_json::json;

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{json_status, ApiResult};

pub const HORIZON_DEFAULT: i64 = 10;
pub const HORIZON_MAX: i64 = 60;
pub const LOOKBACK_DEFAULT: i64 = 15;
pub const LOOKBACK_MAX: i64 = 240;

/// What a 503 says: why there is no forecast and where a model bundle will come from.
pub const NO_MODEL_MESSAGE: &str = "no forecast model bundle is loaded: congestion forecasting \
     needs a trained ST-GCN model bundle, which this server does not serve yet; it will be \
     provided as a bundle directory in FORECAST_MODEL_DIR (or a checkpoint file in \
     STGCN_CHECKPOINT_PATH)";

pub async fn congestion(ctx: &Ctx, req: &Req) -> ApiResult {
    let camera_id = req.params.required("camera_id")?.to_owned();
    let horizon = req
        .params
        .int("horizon_minutes", HORIZON_DEFAULT, 1, HORIZON_MAX)?;
    let lookback = req
        .params
        .int("lookback_minutes", LOOKBACK_DEFAULT, 1, LOOKBACK_MAX)?;
    let lookup = camera_id.clone();
    let known = ctx
        .db
        .run(move |client| {
            Ok(client
                .query_opt("SELECT 1 FROM cameras WHERE camera_id = $1", &[&lookup])?
                .is_some())
        })
        .await?;
    if !known {
        return Err(ApiError::not_found(format!("unknown camera {camera_id:?}")));
    }
    json_status(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({
            "error": NO_MODEL_MESSAGE,
            "status": StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            "model_loaded": false,
            "camera_id": camera_id,
            "horizon_minutes": horizon,
            "lookback_minutes": lookback,
        }),
    )
}

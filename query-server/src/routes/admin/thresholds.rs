//! `GET` and `PUT /api/admin/thresholds`: the one row of run-time congestion thresholds. What a
//! valid set is, is the contract's ([`Thresholds::validate`]), the same rules the pipeline and
//! the table's CHECK constraints apply.

use contract::{ThresholdError, Thresholds};
use postgres::Row;
use serde::Deserialize;
use serde_json::Value;

use super::fields::{field_error, optional_text};
use crate::context::{Ctx, Req};
use crate::data::row_json::row_json;
use crate::error::ApiError;
use crate::http::{json, ApiResult};

const THRESHOLD_COLUMNS: &str = "moderate, high, severe, speed_weight, density_weight, \
     lane_capacity_per_window, updated_at, updated_by";

fn thresholds_json(row: &Row) -> Value {
    Value::Object(row_json(row))
}

/// `GET /api/admin/thresholds`.
pub(crate) async fn get(ctx: &Ctx, _req: &Req) -> ApiResult {
    let row = ctx
        .db
        .run(|client| {
            client
                .query_opt(
                    &format!("SELECT {THRESHOLD_COLUMNS} FROM congestion_thresholds WHERE id = 1"),
                    &[],
                )?
                .map(|row| thresholds_json(&row))
                .ok_or_else(|| ApiError::internal("the congestion_thresholds row is missing"))
        })
        .await?;
    json(&row)
}

/// The body of a `PUT`: any subset of the six parameters. JSON cannot carry a non-finite
/// number (the parser refuses it), so every value given is finite.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdsUpdate {
    moderate: Option<f64>,
    high: Option<f64>,
    severe: Option<f64>,
    speed_weight: Option<f64>,
    density_weight: Option<f64>,
    lane_capacity_per_window: Option<f64>,
    updated_by: Option<String>,
}

impl ThresholdsUpdate {
    fn is_empty(&self) -> bool {
        self.moderate.is_none()
            && self.high.is_none()
            && self.severe.is_none()
            && self.speed_weight.is_none()
            && self.density_weight.is_none()
            && self.lane_capacity_per_window.is_none()
    }

    fn apply(&self, current: Thresholds) -> Thresholds {
        Thresholds {
            moderate: self.moderate.unwrap_or(current.moderate),
            high: self.high.unwrap_or(current.high),
            severe: self.severe.unwrap_or(current.severe),
            speed_weight: self.speed_weight.unwrap_or(current.speed_weight),
            density_weight: self.density_weight.unwrap_or(current.density_weight),
            lane_capacity_per_window: self
                .lane_capacity_per_window
                .unwrap_or(current.lane_capacity_per_window),
        }
    }
}

/// A broken rule as a 422 naming the field to correct.
fn invalid(error: &ThresholdError) -> ApiError {
    field_error(error.field(), error)
}

/// `PUT /api/admin/thresholds`: the merged result must be valid as a whole (a lone `high` is
/// checked against the stored `moderate` and `severe`).
pub(crate) async fn put(ctx: &Ctx, req: &Req) -> ApiResult {
    let update: ThresholdsUpdate = req.json()?;
    if update.is_empty() {
        return Err(ApiError::unprocessable(
            "body must set at least one of moderate, high, severe, speed_weight, density_weight, lane_capacity_per_window",
        ));
    }
    let updated_by = optional_text("updated_by", update.updated_by.as_deref())?;
    let row = ctx
        .db
        .run(move |client| {
            let mut tx = client.transaction()?;
            // Row lock: two concurrent partial updates cannot each pass validation against a
            // row the other is changing.
            let current = tx
                .query_opt(
                    "SELECT moderate, high, severe, speed_weight, density_weight, \
                     lane_capacity_per_window FROM congestion_thresholds WHERE id = 1 FOR UPDATE",
                    &[],
                )?
                .ok_or_else(|| ApiError::internal("the congestion_thresholds row is missing"))?;
            let merged = update.apply(Thresholds {
                moderate: current.get(0),
                high: current.get(1),
                severe: current.get(2),
                speed_weight: current.get(3),
                density_weight: current.get(4),
                lane_capacity_per_window: current.get(5),
            });
            merged.validate().map_err(|e| invalid(&e))?;
            let row = tx.query_one(
                &format!(
                    "UPDATE congestion_thresholds SET moderate = $1, high = $2, severe = $3, \
                     speed_weight = $4, density_weight = $5, lane_capacity_per_window = $6, \
                     updated_at = now(), updated_by = $7 WHERE id = 1 RETURNING {THRESHOLD_COLUMNS}"
                ),
                &[
                    &merged.moderate,
                    &merged.high,
                    &merged.severe,
                    &merged.speed_weight,
                    &merged.density_weight,
                    &merged.lane_capacity_per_window,
                    &updated_by,
                ],
            )?;
            tx.commit()?;
            Ok(thresholds_json(&row))
        })
        .await?;
    log::info!("thresholds_updated by={:?}", row["updated_by"]);
    json(&row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_rules_name_the_field() {
        let cases = [
            (r#"{"moderate": 0.0}"#, "moderate"),
            (r#"{"high": 0.3}"#, "high"),
            (r#"{"severe": 1.5}"#, "severe"),
            (r#"{"speed_weight": -0.1}"#, "speed_weight"),
            (
                r#"{"speed_weight": 0.0, "density_weight": 0.0}"#,
                "speed_weight",
            ),
            (
                r#"{"lane_capacity_per_window": 0.0}"#,
                "lane_capacity_per_window",
            ),
        ];
        for (body, field) in cases {
            let update: ThresholdsUpdate = serde_json::from_str(body).expect(body);
            let error = update
                .apply(Thresholds::default())
                .validate()
                .expect_err(field);
            let api = invalid(&error);
            assert_eq!(api.status.as_u16(), 422);
            assert!(
                api.message.starts_with(&format!("field '{field}': ")),
                "{}",
                api.message
            );
        }
        let severe_one = ThresholdsUpdate {
            severe: Some(1.0),
            ..Default::default()
        };
        assert_eq!(severe_one.apply(Thresholds::default()).validate(), Ok(()));
    }

    #[test]
    fn json_cannot_carry_a_non_finite_value() {
        for body in [
            r#"{"moderate": 1e400}"#,
            r#"{"high": NaN}"#,
            r#"{"severe": -1e999}"#,
        ] {
            assert!(
                serde_json::from_str::<ThresholdsUpdate>(body).is_err(),
                "{body}"
            );
        }
    }
}

//! `/api/admin/cameras`: camera metadata and calibration. A change reaches the running pipeline
//! through the `cameras` trigger's NOTIFY.

use chrono::{DateTime, Utc};
use hyper::StatusCode;
use postgres::Row;
use serde::Deserialize;
use serde_json::{json, Value};

use super::fields::{field_error, optional_text, MAX_TEXT};
use crate::context::{Ctx, Req};
use crate::data::cameras::{registry_json, with_fields};
use crate::error::ApiError;
use crate::http::{json_status, ApiResult};
use crate::params::rfc3339;

const CAMERA_COLUMNS: &str = "camera_id, name, location, latitude, longitude, road_segment, \
     lanes, metres_per_pixel, free_flow_speed_kmh, first_seen_at, last_seen_at, updated_at";

fn camera_json(row: &Row) -> Value {
    with_fields(
        registry_json(row),
        json!({
            "metres_per_pixel": row.get::<_, Option<f64>>("metres_per_pixel"),
            "free_flow_speed_kmh": row.get::<_, Option<f64>>("free_flow_speed_kmh"),
            "first_seen_at": rfc3339(row.get::<_, DateTime<Utc>>("first_seen_at")),
            "last_seen_at": row.get::<_, Option<DateTime<Utc>>>("last_seen_at").map(rfc3339),
            "updated_at": rfc3339(row.get::<_, DateTime<Utc>>("updated_at")),
        }),
    )
}

/// `GET /api/admin/cameras`: every row of `cameras` (metadata and calibration), by id.
pub(crate) async fn list(ctx: &Ctx, req: &Req) -> ApiResult {
    let query = format!("SELECT {CAMERA_COLUMNS} FROM cameras ORDER BY camera_id");
    super::list_table(ctx, req, query, camera_json).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CameraPut {
    name: Option<String>,
    location: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    road_segment: Option<String>,
    lanes: Option<i64>,
    metres_per_pixel: Option<f64>,
    free_flow_speed_kmh: Option<f64>,
}

fn positive(name: &str, value: Option<f64>) -> Result<Option<f64>, ApiError> {
    match value {
        Some(v) if !v.is_finite() || v <= 0.0 => {
            Err(field_error(name, "must be a finite number greater than 0"))
        }
        other => Ok(other),
    }
}

fn within(name: &str, value: Option<f64>, limit: f64) -> Result<Option<f64>, ApiError> {
    match value {
        Some(v) if !v.is_finite() || v.abs() > limit => Err(field_error(
            name,
            format!("must be between -{limit} and {limit}"),
        )),
        other => Ok(other),
    }
}

/// `PUT /api/admin/cameras/{camera_id}`: creates the camera (201) or updates the fields present
/// (200); absent or `null` fields keep their stored value.
pub(crate) async fn put(ctx: &Ctx, req: &Req) -> ApiResult {
    let camera_id = req.path_param(0, "camera_id")?.trim().to_owned();
    if camera_id.is_empty() || camera_id.chars().count() > MAX_TEXT {
        return Err(ApiError::bad_param(
            "camera_id",
            format!("must be 1 to {MAX_TEXT} characters"),
        ));
    }
    let body: CameraPut = req.json()?;
    let name = optional_text("name", body.name.as_deref())?;
    let location = optional_text("location", body.location.as_deref())?;
    let road_segment = optional_text("road_segment", body.road_segment.as_deref())?;
    let latitude = within("latitude", body.latitude, 90.0)?;
    let longitude = within("longitude", body.longitude, 180.0)?;
    let lanes = match body.lanes {
        None => None,
        Some(n) if (1..=64).contains(&n) => i32::try_from(n).ok(),
        Some(_) => return Err(field_error("lanes", "must be an integer from 1 to 64")),
    };
    let metres_per_pixel = positive("metres_per_pixel", body.metres_per_pixel)?;
    let free_flow_speed_kmh = positive("free_flow_speed_kmh", body.free_flow_speed_kmh)?;
    let (camera, created) = ctx
        .db
        .run(move |client| {
            // `xmax = 0` holds only for a freshly inserted row: it tells 201 from 200 in one
            // statement, without a racy existence check first.
            let row = client.query_one(
                &format!(
                    "INSERT INTO cameras AS c (camera_id, name, location, latitude, longitude, \
                     road_segment, lanes, metres_per_pixel, free_flow_speed_kmh) \
                     VALUES ($1, COALESCE($2, $1), $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (camera_id) DO UPDATE SET \
                     name = COALESCE($2, c.name), location = COALESCE($3, c.location), \
                     latitude = COALESCE($4, c.latitude), longitude = COALESCE($5, c.longitude), \
                     road_segment = COALESCE($6, c.road_segment), lanes = COALESCE($7, c.lanes), \
                     metres_per_pixel = COALESCE($8, c.metres_per_pixel), \
                     free_flow_speed_kmh = COALESCE($9, c.free_flow_speed_kmh), \
                     updated_at = now() \
                     RETURNING {CAMERA_COLUMNS}, (xmax = 0) AS inserted"
                ),
                &[
                    &camera_id,
                    &name,
                    &location,
                    &latitude,
                    &longitude,
                    &road_segment,
                    &lanes,
                    &metres_per_pixel,
                    &free_flow_speed_kmh,
                ],
            )?;
            Ok((camera_json(&row), row.get::<_, bool>("inserted")))
        })
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_status(status, &camera)
}

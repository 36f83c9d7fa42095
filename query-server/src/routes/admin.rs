//! `/api/admin/*`: run-time congestion thresholds, zones, camera calibration and operator
//! broadcasts. The server has already checked the admin token before any handler here runs.
//!
//! Changes reach the running pipeline through PostgreSQL: the `congestion_thresholds` and
//! `cameras` triggers NOTIFY `b2_thresholds` / `b2_cameras`, and broadcasts are a NOTIFY on
//! `b2_broadcast`, so this server never needs a connection to the pipeline itself.
//!
//! Bodies are validated here, before SQL, so that a bad value is a 422 naming the field rather
//! than a CHECK-constraint failure (which would surface as a 500).

use chrono::{DateTime, Utc};
use hyper::{Response, StatusCode};
use postgres::Row;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{full, json, json_status, ApiResult};
use crate::params::rfc3339;

/// Longest accepted name, location, road segment, title or camera id.
const MAX_TEXT: usize = 200;
const MAX_ZONE_CAMERAS: usize = 1000;
const MAX_BROADCAST_CHARS: usize = 2000;
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; stay clearly below.
pub const MAX_BROADCAST_PAYLOAD_BYTES: usize = 7000;
pub const BROADCAST_CHANNEL: &str = "b2_broadcast";
pub const BROADCAST_LEVELS: &[&str] = &["info", "warning", "critical"];
/// Paging of the admin lists: the tables are small, so one page normally holds everything.
pub const ADMIN_LIST_DEFAULT_LIMIT: i64 = 1000;
pub const ADMIN_LIST_MAX_LIMIT: i64 = 10_000;

// ---------------------------------------------------------------------------------------------
// Thresholds

const THRESHOLD_COLUMNS: &str = "moderate, high, severe, speed_weight, density_weight, \
     lane_capacity_per_window, updated_at, updated_by";

fn thresholds_json(row: &Row) -> Value {
    json!({
        "moderate": row.get::<_, f64>("moderate"),
        "high": row.get::<_, f64>("high"),
        "severe": row.get::<_, f64>("severe"),
        "speed_weight": row.get::<_, f64>("speed_weight"),
        "density_weight": row.get::<_, f64>("density_weight"),
        "lane_capacity_per_window": row.get::<_, f64>("lane_capacity_per_window"),
        "updated_at": rfc3339(row.get::<_, DateTime<Utc>>("updated_at")),
        "updated_by": row.get::<_, Option<String>>("updated_by"),
    })
}

/// `GET /api/admin/thresholds`: the one row of congestion thresholds.
pub async fn thresholds_get(ctx: &Ctx, _req: &Req) -> ApiResult {
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

/// The six model parameters, as stored or as they would be after an update.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Thresholds {
    moderate: f64,
    high: f64,
    severe: f64,
    speed_weight: f64,
    density_weight: f64,
    lane_capacity_per_window: f64,
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

/// The table's CHECK constraints, as 422 messages that name the offending field.
fn validate_thresholds(t: &Thresholds) -> Result<(), ApiError> {
    let fields = [
        ("moderate", t.moderate),
        ("high", t.high),
        ("severe", t.severe),
        ("speed_weight", t.speed_weight),
        ("density_weight", t.density_weight),
        ("lane_capacity_per_window", t.lane_capacity_per_window),
    ];
    for (name, value) in fields {
        if !value.is_finite() {
            return Err(field_error(name, "must be a finite number"));
        }
    }
    if t.moderate <= 0.0 {
        return Err(field_error("moderate", "must be greater than 0"));
    }
    if t.high <= t.moderate {
        return Err(field_error(
            "high",
            format!(
                "({}) must be greater than 'moderate' ({})",
                t.high, t.moderate
            ),
        ));
    }
    if t.severe <= t.high {
        return Err(field_error(
            "severe",
            format!("({}) must be greater than 'high' ({})", t.severe, t.high),
        ));
    }
    if t.severe > 1.0 {
        return Err(field_error("severe", "must be at most 1"));
    }
    if t.speed_weight < 0.0 {
        return Err(field_error("speed_weight", "must not be negative"));
    }
    if t.density_weight < 0.0 {
        return Err(field_error("density_weight", "must not be negative"));
    }
    if t.speed_weight + t.density_weight <= 0.0 {
        return Err(field_error(
            "speed_weight",
            "plus 'density_weight' must be greater than 0",
        ));
    }
    if t.lane_capacity_per_window <= 0.0 {
        return Err(field_error(
            "lane_capacity_per_window",
            "must be greater than 0",
        ));
    }
    Ok(())
}

/// `PUT /api/admin/thresholds`: any subset of the six parameters; the merged result must be
/// valid as a whole (a lone `high` is checked against the stored `moderate` and `severe`).
pub async fn thresholds_put(ctx: &Ctx, req: &Req) -> ApiResult {
    let update: ThresholdsUpdate = req.json()?;
    if update.is_empty() {
        return Err(ApiError::unprocessable(
            "body must set at least one of moderate, high, severe, speed_weight, density_weight, lane_capacity_per_window",
        ));
    }
    let updated_by = optional_text("updated_by", update.updated_by.as_deref())?;
    // Fail fast on values that are invalid whatever is stored.
    for (name, value) in [
        ("moderate", update.moderate),
        ("high", update.high),
        ("severe", update.severe),
        ("speed_weight", update.speed_weight),
        ("density_weight", update.density_weight),
        ("lane_capacity_per_window", update.lane_capacity_per_window),
    ] {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(field_error(name, "must be a finite number"));
        }
    }
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
            validate_thresholds(&merged)?;
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

// ---------------------------------------------------------------------------------------------
// Zones

const ZONE_COLUMNS: &str =
    "zone_id, name, description, camera_ids, polygon, created_at, updated_at";

fn zone_json(row: &Row) -> Value {
    json!({
        "zone_id": row.get::<_, i64>("zone_id"),
        "name": row.get::<_, String>("name"),
        "description": row.get::<_, Option<String>>("description"),
        "camera_ids": row.get::<_, Vec<String>>("camera_ids"),
        "polygon": row.get::<_, Option<Value>>("polygon"),
        "created_at": rfc3339(row.get::<_, DateTime<Utc>>("created_at")),
        "updated_at": rfc3339(row.get::<_, DateTime<Utc>>("updated_at")),
    })
}

/// `limit` / `offset` of the admin lists, and the envelope that tells the client about them.
fn page(req: &Req) -> Result<(i64, i64), ApiError> {
    let limit = req
        .params
        .int("limit", ADMIN_LIST_DEFAULT_LIMIT, 1, ADMIN_LIST_MAX_LIMIT)?;
    let offset = req.params.int("offset", 0, 0, i64::from(i32::MAX))?;
    Ok((limit, offset))
}

/// Fetches `limit + 1` rows so `next_offset` is only set when another page really exists.
fn page_body(mut items: Vec<Value>, limit: i64, offset: i64) -> Value {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    json!({
        "items": items,
        "limit": limit,
        "offset": offset,
        "next_offset": more.then_some(offset + limit),
    })
}

/// `GET /api/admin/zones`, ordered by `zone_id`.
pub async fn zones_list(ctx: &Ctx, req: &Req) -> ApiResult {
    let (limit, offset) = page(req)?;
    let items = ctx
        .db
        .run(move |client| {
            let rows = client.query(
                &format!("SELECT {ZONE_COLUMNS} FROM zones ORDER BY zone_id LIMIT $1 OFFSET $2"),
                &[&(limit + 1), &offset],
            )?;
            Ok(rows.iter().map(zone_json).collect::<Vec<_>>())
        })
        .await?;
    json(&page_body(items, limit, offset))
}

/// Lets a partial update tell "absent" (keep) from `null` (clear).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneCreate {
    name: String,
    description: Option<String>,
    camera_ids: Option<Vec<String>>,
    polygon: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneUpdate {
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    camera_ids: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    polygon: Option<Option<Value>>,
}

fn zone_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_TEXT {
        return Err(field_error(
            "name",
            format!("must be 1 to {MAX_TEXT} characters"),
        ));
    }
    Ok(name.to_owned())
}

fn zone_cameras(ids: &[String]) -> Result<Vec<String>, ApiError> {
    if ids.len() > MAX_ZONE_CAMERAS {
        return Err(field_error(
            "camera_ids",
            format!("must hold at most {MAX_ZONE_CAMERAS} ids"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        let id = id.trim();
        if id.is_empty() || id.chars().count() > MAX_TEXT {
            return Err(field_error(
                "camera_ids",
                format!("every id must be 1 to {MAX_TEXT} characters"),
            ));
        }
        if !out.iter().any(|seen| seen == id) {
            out.push(id.to_owned());
        }
    }
    Ok(out)
}

/// A GeoJSON-like object; its geometry is the map's business, but it must be an object with a
/// string `type` when it says what it is.
fn zone_polygon(polygon: &Value) -> Result<(), ApiError> {
    match polygon {
        Value::Object(map) => match map.get("type") {
            None | Some(Value::String(_)) => Ok(()),
            Some(_) => Err(field_error("polygon", "'type' must be a string")),
        },
        _ => Err(field_error("polygon", "must be a JSON object (GeoJSON)")),
    }
}

/// `POST /api/admin/zones` -> 201 with the stored zone.
pub async fn zones_create(ctx: &Ctx, req: &Req) -> ApiResult {
    let body: ZoneCreate = req.json()?;
    let name = zone_name(&body.name)?;
    let description = optional_long_text("description", body.description.as_deref())?;
    let camera_ids = zone_cameras(body.camera_ids.as_deref().unwrap_or_default())?;
    if let Some(polygon) = &body.polygon {
        zone_polygon(polygon)?;
    }
    let polygon = body.polygon;
    let zone = ctx
        .db
        .run(move |client| {
            let row = client.query_one(
                &format!(
                    "INSERT INTO zones (name, description, camera_ids, polygon) \
                     VALUES ($1, $2, $3, $4) RETURNING {ZONE_COLUMNS}"
                ),
                &[&name, &description, &camera_ids, &polygon],
            )?;
            Ok(zone_json(&row))
        })
        .await?;
    json_status(StatusCode::CREATED, &zone)
}

fn zone_id(req: &Req) -> Result<i64, ApiError> {
    let raw = req.path_param(0, "zone_id")?;
    raw.trim()
        .parse::<i64>()
        .map_err(|_| ApiError::bad_param("zone_id", format!("{raw:?} is not an integer")))
}

/// `PUT /api/admin/zones/{zone_id}`: only the fields present change; `null` clears
/// `description` or `polygon`.
pub async fn zone_update(ctx: &Ctx, req: &Req) -> ApiResult {
    let id = zone_id(req)?;
    let body: ZoneUpdate = req.json()?;
    let name = body.name.as_deref().map(zone_name).transpose()?;
    let camera_ids = body.camera_ids.as_deref().map(zone_cameras).transpose()?;
    let set_description = body.description.is_some();
    let description = match &body.description {
        Some(Some(text)) => optional_long_text("description", Some(text))?,
        _ => None,
    };
    let set_polygon = body.polygon.is_some();
    let polygon = body.polygon.flatten();
    if let Some(polygon) = &polygon {
        zone_polygon(polygon)?;
    }
    let zone = ctx
        .db
        .run(move |client| {
            let row = client.query_opt(
                &format!(
                    "UPDATE zones SET name = COALESCE($2, name), \
                     description = CASE WHEN $3 THEN $4 ELSE description END, \
                     camera_ids = COALESCE($5, camera_ids), \
                     polygon = CASE WHEN $6 THEN $7 ELSE polygon END, \
                     updated_at = now() WHERE zone_id = $1 RETURNING {ZONE_COLUMNS}"
                ),
                &[
                    &id,
                    &name,
                    &set_description,
                    &description,
                    &camera_ids,
                    &set_polygon,
                    &polygon,
                ],
            )?;
            row.map(|row| zone_json(&row))
                .ok_or_else(|| ApiError::not_found(format!("zone {id} not found")))
        })
        .await?;
    json(&zone)
}

/// `DELETE /api/admin/zones/{zone_id}` -> 204 without a body, or 404.
pub async fn zone_delete(ctx: &Ctx, req: &Req) -> ApiResult {
    let id = zone_id(req)?;
    let deleted = ctx
        .db
        .run(move |client| Ok(client.execute("DELETE FROM zones WHERE zone_id = $1", &[&id])?))
        .await?;
    if deleted == 0 {
        return Err(ApiError::not_found(format!("zone {id} not found")));
    }
    let mut response = Response::new(full(bytes::Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

// ---------------------------------------------------------------------------------------------
// Cameras

const CAMERA_COLUMNS: &str = "camera_id, name, location, latitude, longitude, road_segment, \
     lanes, metres_per_pixel, free_flow_speed_kmh, first_seen_at, last_seen_at, updated_at";

fn camera_json(row: &Row) -> Value {
    json!({
        "camera_id": row.get::<_, String>("camera_id"),
        "name": row.get::<_, Option<String>>("name"),
        "location": row.get::<_, Option<String>>("location"),
        "latitude": row.get::<_, Option<f64>>("latitude"),
        "longitude": row.get::<_, Option<f64>>("longitude"),
        "road_segment": row.get::<_, Option<String>>("road_segment"),
        "lanes": row.get::<_, Option<i32>>("lanes"),
        "metres_per_pixel": row.get::<_, Option<f64>>("metres_per_pixel"),
        "free_flow_speed_kmh": row.get::<_, Option<f64>>("free_flow_speed_kmh"),
        "first_seen_at": rfc3339(row.get::<_, DateTime<Utc>>("first_seen_at")),
        "last_seen_at": row.get::<_, Option<DateTime<Utc>>>("last_seen_at").map(rfc3339),
        "updated_at": rfc3339(row.get::<_, DateTime<Utc>>("updated_at")),
    })
}

/// `GET /api/admin/cameras`: every row of `cameras` (metadata and calibration), by id.
pub async fn cameras_list(ctx: &Ctx, req: &Req) -> ApiResult {
    let (limit, offset) = page(req)?;
    let items = ctx
        .db
        .run(move |client| {
            let rows = client.query(
                &format!(
                    "SELECT {CAMERA_COLUMNS} FROM cameras ORDER BY camera_id LIMIT $1 OFFSET $2"
                ),
                &[&(limit + 1), &offset],
            )?;
            Ok(rows.iter().map(camera_json).collect::<Vec<_>>())
        })
        .await?;
    json(&page_body(items, limit, offset))
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
pub async fn camera_put(ctx: &Ctx, req: &Req) -> ApiResult {
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

// ---------------------------------------------------------------------------------------------
// Broadcast

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Broadcast {
    message: String,
    level: Option<String>,
    title: Option<String>,
}

/// `POST /api/admin/notifications/broadcast`: a NOTIFY on `b2_broadcast` -> 202. Whoever
/// LISTENs on the channel receives `{"message","level","title","ts"}`.
pub async fn broadcast(ctx: &Ctx, req: &Req) -> ApiResult {
    let body: Broadcast = req.json()?;
    let message = body.message.trim().to_owned();
    let chars = message.chars().count();
    if chars == 0 || chars > MAX_BROADCAST_CHARS {
        return Err(field_error(
            "message",
            format!("must be 1 to {MAX_BROADCAST_CHARS} characters"),
        ));
    }
    let level = match body.level.as_deref().map(str::trim) {
        None | Some("") => "info",
        Some(given) => BROADCAST_LEVELS
            .iter()
            .find(|l| l.eq_ignore_ascii_case(given))
            .copied()
            .ok_or_else(|| {
                field_error(
                    "level",
                    format!("must be one of {}", BROADCAST_LEVELS.join(", ")),
                )
            })?,
    };
    let title = optional_text("title", body.title.as_deref())?;
    let ts = rfc3339(Utc::now());
    let notice = json!({"message": message, "level": level, "title": title, "ts": ts});
    let payload = notice.to_string();
    if payload.len() > MAX_BROADCAST_PAYLOAD_BYTES {
        return Err(field_error(
            "message",
            format!(
                "the notification would be {} bytes; at most {MAX_BROADCAST_PAYLOAD_BYTES} fit",
                payload.len()
            ),
        ));
    }
    let bytes = payload.len();
    ctx.db
        .run(move |client| {
            client.execute("SELECT pg_notify($1, $2)", &[&BROADCAST_CHANNEL, &payload])?;
            Ok(())
        })
        .await?;
    log::info!("broadcast_queued level={level} bytes={bytes}");
    json_status(
        StatusCode::ACCEPTED,
        &json!({
            "status": "queued",
            "channel": BROADCAST_CHANNEL,
            "notification": notice,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Shared validation

/// A 422 whose message names the body field.
fn field_error(name: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(format!("field '{name}': {problem}"))
}

/// Optional short text: trimmed, empty counts as absent, at most [`MAX_TEXT`] characters.
fn optional_text(name: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    bounded_text(name, value, MAX_TEXT)
}

fn optional_long_text(name: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    bounded_text(name, value, MAX_BROADCAST_CHARS)
}

fn bounded_text(name: &str, value: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) if v.chars().count() > max => Err(field_error(
            name,
            format!("must be at most {max} characters"),
        )),
        Some(v) => Ok(Some(v.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Thresholds {
        Thresholds {
            moderate: 0.35,
            high: 0.55,
            severe: 0.75,
            speed_weight: 0.6,
            density_weight: 0.4,
            lane_capacity_per_window: 8.0,
        }
    }

    #[test]
    fn threshold_rules_name_the_field() {
        assert!(validate_thresholds(&defaults()).is_ok());
        let cases = [
            (
                ThresholdsUpdate {
                    moderate: Some(0.0),
                    ..Default::default()
                },
                "moderate",
            ),
            (
                ThresholdsUpdate {
                    high: Some(0.3),
                    ..Default::default()
                },
                "high",
            ),
            (
                ThresholdsUpdate {
                    severe: Some(1.5),
                    ..Default::default()
                },
                "severe",
            ),
            (
                ThresholdsUpdate {
                    speed_weight: Some(-0.1),
                    ..Default::default()
                },
                "speed_weight",
            ),
            (
                ThresholdsUpdate {
                    speed_weight: Some(0.0),
                    density_weight: Some(0.0),
                    ..Default::default()
                },
                "speed_weight",
            ),
            (
                ThresholdsUpdate {
                    lane_capacity_per_window: Some(0.0),
                    ..Default::default()
                },
                "lane_capacity_per_window",
            ),
        ];
        for (update, field) in cases {
            let err = validate_thresholds(&update.apply(defaults())).expect_err(field);
            assert_eq!(err.status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(
                err.message.contains(&format!("'{field}'")),
                "{}",
                err.message
            );
        }
        let severe_one = ThresholdsUpdate {
            severe: Some(1.0),
            ..Default::default()
        };
        assert!(validate_thresholds(&severe_one.apply(defaults())).is_ok());
    }

    #[test]
    fn zone_update_tells_absent_from_null() {
        let absent: ZoneUpdate = serde_json::from_str(r#"{"name":"a"}"#).expect("absent");
        assert!(absent.description.is_none() && absent.polygon.is_none());
        let cleared: ZoneUpdate =
            serde_json::from_str(r#"{"description":null,"polygon":null}"#).expect("null");
        assert_eq!(cleared.description, Some(None));
        assert_eq!(cleared.polygon, Some(None));
        assert!(serde_json::from_str::<ZoneUpdate>(r#"{"nope":1}"#).is_err());
    }
}

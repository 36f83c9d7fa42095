//! `/api/admin/zones`: named groups of cameras with an optional GeoJSON outline, for the map.

use hyper::{Response, StatusCode};
use postgres::Row;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::fields::{field_error, optional_long_text, MAX_TEXT};
use crate::context::{Ctx, Req};
use crate::data::row_json::row_json;
use crate::error::ApiError;
use crate::http::{full, json, json_status, ApiResult};

const MAX_ZONE_CAMERAS: usize = 1000;

const ZONE_COLUMNS: &str =
    "zone_id, name, description, camera_ids, polygon, created_at, updated_at";

fn zone_json(row: &Row) -> Value {
    Value::Object(row_json(row))
}

/// `GET /api/admin/zones`, ordered by `zone_id`.
pub(crate) async fn list(ctx: &Ctx, req: &Req) -> ApiResult {
    let query = format!("SELECT {ZONE_COLUMNS} FROM zones ORDER BY zone_id");
    super::list_table(ctx, req, query, zone_json).await
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

/// Trimmed, each 1 to [`MAX_TEXT`] characters, duplicates dropped (first occurrence kept).
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
pub(crate) async fn create(ctx: &Ctx, req: &Req) -> ApiResult {
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
pub(crate) async fn update(ctx: &Ctx, req: &Req) -> ApiResult {
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
pub(crate) async fn delete(ctx: &Ctx, req: &Req) -> ApiResult {
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

#[cfg(test)]
mod tests {
    use super::*;

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

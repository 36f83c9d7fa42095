//! Registered cameras: whether one exists, and where each is.

use std::collections::BTreeMap;

use postgres::{GenericClient, Row};
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Where a camera is, for the heatmap and `/congestion/current`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CameraInfo {
    pub(crate) latitude: Option<f64>,
    pub(crate) longitude: Option<f64>,
    pub(crate) road_segment: Option<String>,
}

/// Every registered camera and where it is, by id.
pub(crate) fn locations(
    client: &mut impl GenericClient,
) -> Result<BTreeMap<String, CameraInfo>, postgres::Error> {
    Ok(client
        .query(
            "SELECT camera_id, latitude, longitude, road_segment FROM cameras",
            &[],
        )?
        .iter()
        .map(|r| {
            (
                r.get(0),
                CameraInfo {
                    latitude: r.get(1),
                    longitude: r.get(2),
                    road_segment: r.get(3),
                },
            )
        })
        .collect())
}

pub(crate) fn exists(
    client: &mut impl GenericClient,
    camera_id: &str,
) -> Result<bool, postgres::Error> {
    Ok(client
        .query_opt("SELECT 1 FROM cameras WHERE camera_id = $1", &[&camera_id])?
        .is_some())
}

/// 404 unless `camera_id` is a known camera, so a typo is told apart from a quiet camera.
pub(crate) fn ensure(client: &mut impl GenericClient, camera_id: &str) -> Result<(), ApiError> {
    if exists(client, camera_id)? {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "camera '{camera_id}' not found"
        )))
    }
}

/// A camera's identity and place as every camera body shows them (`/cameras`, incidents, the
/// admin list), so that a renamed column changes one place.
pub(crate) fn place_json(row: &Row) -> Map<String, Value> {
    [
        ("camera_id", Value::from(row.get::<_, String>("camera_id"))),
        ("name", row.get::<_, Option<String>>("name").into()),
        ("latitude", row.get::<_, Option<f64>>("latitude").into()),
        ("longitude", row.get::<_, Option<f64>>("longitude").into()),
        (
            "road_segment",
            row.get::<_, Option<String>>("road_segment").into(),
        ),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_owned(), value))
    .collect()
}

/// [`place_json`] with the registry's `location` and `lanes`.
pub(crate) fn registry_json(row: &Row) -> Map<String, Value> {
    let mut body = place_json(row);
    body.insert(
        "location".into(),
        row.get::<_, Option<String>>("location").into(),
    );
    body.insert("lanes".into(), row.get::<_, Option<i32>>("lanes").into());
    body
}

/// `base` with the fields of the object `extra` added.
pub(crate) fn with_fields(mut base: Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(extra) = extra {
        base.extend(extra);
    }
    Value::Object(base)
}

//! Registered cameras: whether one exists, and where each is.

use std::collections::BTreeMap;

use postgres::GenericClient;

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

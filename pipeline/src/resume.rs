//! What a restarted pipeline picks up from PostgreSQL: the Kafka positions and the camera states
//! committed together by the last transaction.

use std::collections::HashMap;

use operators::camera::CameraState;

#[derive(Debug, Default)]
pub struct ResumePoint {
    pub offsets: HashMap<i32, i64>,
    pub cameras: HashMap<String, CameraState>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("cannot read the pipeline's stored state: {0}")]
    Database(#[from] postgres::Error),
    #[error("stored checkpoint of camera {camera_id} is unreadable ({source}); delete its pipeline_checkpoints row to start it afresh")]
    Checkpoint {
        camera_id: String,
        #[source]
        source: serde_json::Error,
    },
}

pub fn load(
    client: &mut postgres::Client,
    group_id: &str,
    topic: &str,
) -> Result<ResumePoint, ResumeError> {
    let mut point = ResumePoint::default();
    for row in client.query(
        "SELECT kafka_partition, next_offset FROM pipeline_offsets WHERE group_id = $1 AND topic = $2",
        &[&group_id, &topic],
    )? {
        point.offsets.insert(row.get(0), row.get(1));
    }
    for row in client.query(
        "SELECT camera_id, state::text FROM pipeline_checkpoints WHERE group_id = $1",
        &[&group_id],
    )? {
        let camera_id: String = row.get(0);
        let state: String = row.get(1);
        let camera = serde_json::from_str(&state).map_err(|source| ResumeError::Checkpoint {
            camera_id: camera_id.clone(),
            source,
        })?;
        point.cameras.insert(camera_id, camera);
    }
    Ok(point)
}

//! What a restarted pipeline picks up from PostgreSQL: the Kafka positions and the camera states
//! committed together by the last transaction. Camera states are stored in the versioned
//! envelope of `contract::checkpoint`; one this build cannot read stops the start by name.

use std::collections::HashMap;

use contract::checkpoint::CheckpointError;
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
    #[error("stored checkpoint of camera {camera_id} cannot be restored: {source}{}", advice(.source))]
    Checkpoint {
        camera_id: String,
        #[source]
        source: CheckpointError,
    },
}

/// The format errors say what to do themselves; a damaged checkpoint can only be dropped.
fn advice(error: &CheckpointError) -> &'static str {
    match error {
        CheckpointError::Newer { .. } => "",
        _ => "; delete its pipeline_checkpoints row to start it afresh",
    }
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
        let camera =
            contract::checkpoint::decode(&state).map_err(|source| ResumeError::Checkpoint {
                camera_id: camera_id.clone(),
                source,
            })?;
        point.cameras.insert(camera_id, camera);
    }
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_for(stored: &str) -> String {
        let source = contract::checkpoint::decode::<CameraState>(stored)
            .expect_err("the checkpoint is refused");
        ResumeError::Checkpoint {
            camera_id: "cam_07".into(),
            source,
        }
        .to_string()
    }

    #[test]
    fn a_refused_checkpoint_names_the_camera_and_what_to_do() {
        let newer = error_for(r#"{"format":99,"state":{}}"#);
        assert!(newer.contains("camera cam_07"), "{newer}");
        assert!(newer.contains("format 99 is newer"), "{newer}");
        assert!(newer.contains("run the newer pipeline"), "{newer}");
        let damaged = error_for(r#"{"format":1,"state":{"camera":"cam_07"}}"#);
        assert!(damaged.contains("camera cam_07"), "{damaged}");
        assert!(
            damaged.ends_with("delete its pipeline_checkpoints row to start it afresh"),
            "{damaged}"
        );
    }
}

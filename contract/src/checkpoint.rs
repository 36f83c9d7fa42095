//! The stored form of a camera's checkpoint: `{"format": N, "state": {...}}`.
//!
//! The state's layout is the pipeline's (`operators::camera::CameraState`); this envelope says
//! which layout a row holds, so a restart after an upgrade either restores it or refuses it by
//! name, never misreads it. Raise [`FORMAT`] whenever the serialized state changes shape, keep
//! a reader for the previous format (or refuse it explicitly), and add its golden file to
//! `operators/tests/golden/` (the test there restores every file it finds).
//!
//! Format 0 is the bare state without an envelope, as stored before the envelope existed; it
//! has the same layout as format 1 and is read as such.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The format written now.
pub const FORMAT: u32 = 1;

/// Formats this build reads: every format up to [`FORMAT`]. Retiring one would need an error
/// variant that names it; none is retired.
pub const READABLE: [u32; 2] = [0, 1];

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint format {found} is newer than this build reads (formats {READABLE:?}); run the newer pipeline, or delete the row to start the camera afresh")]
    Newer { found: u64 },
    #[error("checkpoint is not a JSON object with a numeric \"format\" and a \"state\"")]
    NotAnEnvelope,
    #[error("checkpoint state of format {format} does not match its layout: {source}")]
    State {
        format: u32,
        #[source]
        source: serde_json::Error,
    },
    #[error("checkpoint is not JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Serialize)]
struct Envelope<'a, T> {
    format: u32,
    state: &'a T,
}

/// The state in the current format.
pub fn encode<T: Serialize>(state: &T) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Envelope {
        format: FORMAT,
        state,
    })
}

/// A stored checkpoint, in any readable format.
pub fn decode<T: DeserializeOwned>(text: &str) -> Result<T, CheckpointError> {
    let value: Value = serde_json::from_str(text)?;
    let Value::Object(mut fields) = value else {
        return Err(CheckpointError::NotAnEnvelope);
    };
    let (format, state) = match fields.remove("format") {
        None => (0, Value::Object(fields)),
        Some(Value::Number(n)) => {
            let found = n.as_u64().ok_or(CheckpointError::NotAnEnvelope)?;
            let state = fields
                .remove("state")
                .ok_or(CheckpointError::NotAnEnvelope)?;
            match u32::try_from(found) {
                Ok(format) if READABLE.contains(&format) => (format, state),
                _ => return Err(CheckpointError::Newer { found }),
            }
        }
        Some(_) => return Err(CheckpointError::NotAnEnvelope),
    };
    // Formats 0 and 1 share the layout; a later format converts older states here.
    T::deserialize(state).map_err(|source| CheckpointError::State { format, source })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Probe {
    format: u32,
    #[allow(dead_code)]
    state: Value,
}

/// The format a stored checkpoint declares (0 for the bare state), without reading its state.
pub fn format_of(text: &str) -> Option<u32> {
    match serde_json::from_str::<Probe>(text) {
        Ok(probe) => Some(probe.format),
        Err(_) => serde_json::from_str::<serde_json::Map<String, Value>>(text)
            .ok()
            .filter(|m| !m.contains_key("format"))
            .map(|_| 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct State {
        camera_id: String,
        seen: u64,
    }

    fn state() -> State {
        State {
            camera_id: "cam_1".into(),
            seen: 7,
        }
    }

    #[test]
    fn current_format_round_trips() -> Result<(), CheckpointError> {
        let text = encode(&state())?;
        assert_eq!(
            text,
            r#"{"format":1,"state":{"camera_id":"cam_1","seen":7}}"#
        );
        assert_eq!(decode::<State>(&text)?, state());
        assert_eq!(format_of(&text), Some(1));
        Ok(())
    }

    #[test]
    fn the_bare_state_of_format_zero_still_restores() -> Result<(), CheckpointError> {
        let text = r#"{"camera_id":"cam_1","seen":7}"#;
        assert_eq!(decode::<State>(text)?, state());
        assert_eq!(format_of(text), Some(0));
        Ok(())
    }

    #[test]
    fn newer_and_malformed_checkpoints_are_refused_by_name() {
        let newer = decode::<State>(r#"{"format":9,"state":{}}"#);
        assert!(matches!(newer, Err(CheckpointError::Newer { found: 9 })));
        let message = newer.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("format 9 is newer"), "{message}");
        assert!(matches!(
            decode::<State>(r#"{"format":"1","state":{}}"#),
            Err(CheckpointError::NotAnEnvelope)
        ));
        assert!(matches!(
            decode::<State>(r#"{"format":1}"#),
            Err(CheckpointError::NotAnEnvelope)
        ));
        assert!(matches!(
            decode::<State>("[1]"),
            Err(CheckpointError::NotAnEnvelope)
        ));
        assert!(matches!(
            decode::<State>(r#"{"format":1,"state":{"camera":"renamed"}}"#),
            Err(CheckpointError::State { format: 1, .. })
        ));
        assert!(matches!(
            decode::<State>("{"),
            Err(CheckpointError::Json(_))
        ));
    }

    /// A format outside `READABLE` is refused as newer, which holds only while no format below
    /// `FORMAT` has been retired.
    #[test]
    fn every_format_up_to_the_current_one_is_readable() {
        assert_eq!(READABLE.to_vec(), (0..=FORMAT).collect::<Vec<_>>());
        let huge = decode::<State>(r#"{"format":18446744073709551615,"state":{}}"#);
        assert!(matches!(huge, Err(CheckpointError::Newer { .. })));
    }
}

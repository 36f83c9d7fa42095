use std::collections::HashMap;

use super::*;
use crate::alerts::AlertTransition;
use crate::camera::{AlertConfig, CameraState, MAX_LANES_PER_WINDOW};
use crate::fixtures::car;
use crate::record::Located;
use crate::settings::Settings;
use crate::speed::SpeedTrackerConfig;
use crate::window::WindowConfig;

/// 2023-11-14T22:13:20Z, a multiple of the window size.
const T0: i64 = 1_700_000_000_000;
const EPOCH_MS: i64 = 1_000;
/// The epoch whose processing time is `T0`.
const E0: u64 = (T0 / EPOCH_MS) as u64;
const CLOSED_AT_MS: i64 = 42;
const DAY_MS: i64 = 86_400_000;

fn config(evict_after_ms: Option<i64>) -> CameraWindowsConfig {
    CameraWindowsConfig {
        window: WindowConfig::default(),
        tracker: SpeedTrackerConfig::default(),
        alerts: AlertConfig::default(),
        epoch_ms: EPOCH_MS,
        evict_after_ms,
    }
}

fn shard(evict_after_ms: Option<i64>) -> CameraShard {
    CameraShard::restore(config(evict_after_ms), Ownership::ALONE, &HashMap::new())
        .with_clock(|| CLOSED_AT_MS)
}

fn event(camera: &str, ts_ms: i64, vehicle: &str, lane: &str, speed_kmh: f64) -> Located {
    Located {
        detection: car(camera, ts_ms, vehicle, Some(lane), Some(speed_kmh)),
        partition: 0,
        offset: ts_ms - T0,
        index: 0,
    }
}

/// A shard that has seen one car of `cam_a` in epoch `E0`, and what that epoch yielded.
fn shard_with_one_car() -> (CameraShard, Epoch) {
    let mut shard = shard(None);
    let epoch = run(
        &mut shard,
        E0,
        false,
        vec![event("cam_a", T0 + 100, "v", "1", 40.0)],
    );
    (shard, epoch)
}

/// What one epoch yielded, with the notes rendered as text.
#[derive(Debug, Default)]
struct Epoch {
    outputs: Vec<CameraOutput>,
    notes: Vec<String>,
}

impl Epoch {
    fn windows(&self) -> Vec<(&str, Option<&str>, i64)> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                CameraOutput::Window {
                    result,
                    closed_at_ms,
                } => {
                    assert_eq!(*closed_at_ms, CLOSED_AT_MS);
                    Some((
                        result.camera_id.as_str(),
                        result.lane_id.as_deref(),
                        result.window_start_ms,
                    ))
                }
                _ => None,
            })
            .collect()
    }

    fn checkpointed(&self) -> Vec<&str> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                CameraOutput::Checkpoint { camera_id, .. } => Some(camera_id.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Each output's kind, in order.
    fn kinds(&self) -> Vec<&'static str> {
        self.outputs
            .iter()
            .map(|o| match o {
                CameraOutput::Event(_) => "event",
                CameraOutput::Window { .. } => "window",
                CameraOutput::Alert(_) => "alert",
                CameraOutput::Checkpoint { .. } => "checkpoint",
                CameraOutput::Evicted { .. } => "evicted",
            })
            .collect()
    }
}

fn run(shard: &mut CameraShard, epoch: u64, source_behind: bool, events: Vec<Located>) -> Epoch {
    let mut outputs = Vec::new();
    let mut notes = Vec::new();
    shard.run_epoch(
        epoch,
        source_behind,
        events,
        &Settings::default(),
        &mut |output| outputs.push(output),
        &mut |note| {
            notes.push(match note {
                StateNote::Late(stored) => format!("late {}", stored.located.offset),
                StateNote::LaneCapped => "lane capped".into(),
                StateNote::TrackCapped => "track capped".into(),
                StateNote::Evicted(camera_id) => format!("evicted {camera_id}"),
            })
        },
    );
    Epoch { outputs, notes }
}

#[test]
fn events_pass_in_arrival_order_and_every_touched_camera_is_checkpointed() {
    let mut shard = shard(None);
    let events = vec![
        event("cam_b", T0 + 300, "v1", "1", 40.0),
        event("cam_a", T0 + 100, "v2", "1", 40.0),
        event("cam_b", T0 + 200, "v3", "2", 40.0),
    ];
    let epoch = run(&mut shard, E0, false, events.clone());
    let passed: Vec<&Located> = epoch
        .outputs
        .iter()
        .filter_map(|o| match o {
            CameraOutput::Event(stored) => Some(&stored.located),
            _ => None,
        })
        .collect();
    assert_eq!(passed, events.iter().collect::<Vec<_>>());
    assert_eq!(epoch.checkpointed(), ["cam_a", "cam_b"], "in camera order");
    assert!(epoch.windows().is_empty());
    assert_eq!(shard.len(), 2);
}

#[test]
fn windows_close_by_event_time_with_their_alert_and_checkpoint() {
    let mut shard = shard(None);
    let jam = (0..20)
        .map(|v| event("cam_a", T0 + 100 * v, &format!("v{v}"), "1", 3.0))
        .collect();
    run(&mut shard, E0, false, jam);
    let epoch = run(
        &mut shard,
        E0 + 1,
        false,
        vec![event("cam_a", T0 + 7_000, "w", "1", 3.0)],
    );
    assert_eq!(
        epoch.windows(),
        [("cam_a", None, T0), ("cam_a", Some("1"), T0)]
    );
    assert_eq!(
        epoch.kinds(),
        ["event", "window", "window", "alert", "checkpoint"]
    );
    assert!(matches!(
        epoch.outputs[3],
        CameraOutput::Alert(AlertTransition::Opened(_))
    ));
}

#[test]
fn a_quiet_camera_closes_once_idle_and_only_once() {
    let (mut shard, _) = shard_with_one_car();
    for quiet in 1..10 {
        let epoch = run(&mut shard, E0 + quiet, false, vec![]);
        assert!(epoch.outputs.is_empty(), "idle for {quiet} s only");
    }
    let idle = run(&mut shard, E0 + 10, false, vec![]);
    assert_eq!(
        idle.windows(),
        [("cam_a", None, T0), ("cam_a", Some("1"), T0)]
    );
    assert_eq!(idle.checkpointed(), ["cam_a"]);
    let after = run(&mut shard, E0 + 11, false, vec![]);
    assert!(after.outputs.is_empty(), "{:?}", after.kinds());
}

#[test]
fn nobody_is_idle_while_a_source_is_behind() {
    let (mut shard, _) = shard_with_one_car();
    for catching_up in 1..=15 {
        let epoch = run(&mut shard, E0 + catching_up, true, vec![]);
        assert!(epoch.outputs.is_empty(), "epoch {catching_up} behind");
    }
    // Idleness counts from the last epoch spent catching up.
    assert!(run(&mut shard, E0 + 24, false, vec![]).outputs.is_empty());
    assert_eq!(run(&mut shard, E0 + 25, false, vec![]).windows().len(), 2);
}

#[test]
fn restore_takes_the_owned_cameras_and_forgives_the_downtime() {
    let mut before = shard(None);
    let cameras: Vec<String> = (0..16).map(|c| format!("cam_{c:02}")).collect();
    let events = cameras
        .iter()
        .map(|c| event(c, T0 + 100, "v", "1", 40.0))
        .collect();
    run(&mut before, E0, false, events);
    let saved: HashMap<String, CameraState> = cameras
        .iter()
        .map(|c| (c.clone(), before.camera(c).cloned().expect("kept")))
        .collect();
    let workers = 3;
    let mut restored = 0;
    for worker in 0..workers {
        let ownership = Ownership {
            worker,
            peers: workers,
        };
        let mut shard =
            CameraShard::restore(config(None), ownership, &saved).with_clock(|| CLOSED_AT_MS);
        assert!(cameras
            .iter()
            .all(|c| shard.camera(c).is_some() == ownership.owns(c)));
        restored += shard.len();
        // A day later: the downtime is the pipeline's, so nobody closes at once.
        let back = E0 + (DAY_MS / EPOCH_MS) as u64;
        assert!(run(&mut shard, back, false, vec![]).outputs.is_empty());
        let idle = run(&mut shard, back + 10, false, vec![]);
        assert_eq!(idle.windows().len(), 2 * shard.len());
    }
    assert_eq!(restored, cameras.len(), "every camera has one owner");
}

#[test]
fn silent_cameras_are_evicted_and_not_checkpointed() {
    let mut shard = shard(Some(DAY_MS));
    run(
        &mut shard,
        E0,
        false,
        vec![
            event("cam_a", T0 + 100, "v", "1", 40.0),
            event("cam_b", T0 + 100, "v", "1", 40.0),
        ],
    );
    run(&mut shard, E0 + 10, false, vec![]);
    let later = E0 + (DAY_MS / EPOCH_MS) as u64 + 1;
    let epoch = run(
        &mut shard,
        later,
        false,
        vec![event("cam_b", later as i64 * EPOCH_MS, "v", "1", 40.0)],
    );
    assert_eq!(epoch.kinds(), ["event", "evicted", "checkpoint"]);
    assert_eq!(epoch.notes, ["evicted cam_a"]);
    assert_eq!(epoch.checkpointed(), ["cam_b"]);
    assert!(shard.camera("cam_a").is_none());
}

#[test]
fn late_and_capped_events_are_noted() {
    let mut shard = shard(None);
    run(
        &mut shard,
        E0,
        false,
        vec![event("cam_a", T0 + 9_000, "v", "1", 40.0)],
    );
    let late = run(
        &mut shard,
        E0 + 1,
        false,
        vec![event("cam_a", T0 + 100, "w", "1", 40.0)],
    );
    assert_eq!(late.notes, ["late 100"]);
    let lanes = (0..=MAX_LANES_PER_WINDOW)
        .map(|lane| event("cam_a", T0 + 9_100, "x", &lane.to_string(), 40.0))
        .collect();
    let capped = run(&mut shard, E0 + 2, false, lanes);
    assert_eq!(capped.notes, ["lane capped"]);
}

#[test]
fn checkpoints_restore_to_the_state_the_shard_holds() {
    let (shard, epoch) = shard_with_one_car();
    let Some(CameraOutput::Checkpoint { state, .. }) = epoch.outputs.last() else {
        panic!("no checkpoint: {:?}", epoch.kinds());
    };
    let restored = CameraState::from_checkpoint(state).expect("restores");
    assert_eq!(Some(&restored), shard.camera("cam_a"));
}

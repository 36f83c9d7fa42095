use std::collections::{BTreeSet, HashMap};

use super::{CameraOutput, CameraWindowsConfig, Ownership, StateNote, StoredEvent};
use crate::camera::CameraState;
use crate::record::Located;
use crate::settings::Settings;

/// The cameras one worker owns and everything that happens to them at a completed epoch.
///
/// The camera operator stashes events by epoch and hands each completed epoch here whole, so
/// every rule about restore, idleness, eviction and checkpoints lives in this plain value.
#[derive(Debug)]
pub struct CameraShard {
    config: CameraWindowsConfig,
    cameras: HashMap<String, CameraState>,
    /// Restored states resume at the processing time of the first completed epoch: the time
    /// the pipeline was down is its own, not the cameras' idleness.
    resumed: bool,
    /// Stamps closed windows for the close-to-commit latency; replaceable so tests are exact.
    clock: fn() -> i64,
}

fn wall_clock_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl CameraShard {
    /// The shard of the worker `ownership` names, with the cameras it owns among `saved`
    /// (checkpoints read at start), so quiet ones still close their windows.
    pub fn restore(
        config: CameraWindowsConfig,
        ownership: Ownership,
        saved: &HashMap<String, CameraState>,
    ) -> Self {
        let cameras = saved
            .iter()
            .filter(|(camera_id, _)| ownership.owns(camera_id))
            .map(|(camera_id, state)| (camera_id.clone(), state.clone()))
            .collect();
        Self {
            config,
            cameras,
            resumed: false,
            clock: wall_clock_ms,
        }
    }

    /// Replaces the wall clock that stamps closed windows.
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    pub fn camera(&self, camera_id: &str) -> Option<&CameraState> {
        self.cameras.get(camera_id)
    }

    pub fn len(&self) -> usize {
        self.cameras.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cameras.is_empty()
    }

    /// Runs one completed epoch: its events in arrival order, then every camera's closes,
    /// evictions and the checkpoints of the cameras it changed. `source_behind` says a source
    /// ended the epoch with data still waiting, so nobody counts as idle.
    pub fn run_epoch<E, O, N>(
        &mut self,
        epoch: u64,
        source_behind: bool,
        events: E,
        settings: &Settings,
        output: &mut O,
        note: &mut N,
    ) where
        E: IntoIterator<Item = Located>,
        O: FnMut(CameraOutput),
        N: FnMut(StateNote<'_>),
    {
        let processing_ms = self.config.processing_ms(epoch);
        if !self.resumed || source_behind {
            for state in self.cameras.values_mut() {
                state.resume_at(processing_ms);
            }
            self.resumed = true;
        }
        let mut dirty = self.feed(events, processing_ms, settings, output, note);
        self.close_ready(processing_ms, settings, &mut dirty, output);
        self.evict_silent(processing_ms, &mut dirty, output, note);
        self.checkpoint(dirty, output);
    }

    /// Feeds events in arrival order; returns the cameras they touched.
    fn feed<E, O, N>(
        &mut self,
        events: E,
        processing_ms: i64,
        settings: &Settings,
        output: &mut O,
        note: &mut N,
    ) -> BTreeSet<String>
    where
        E: IntoIterator<Item = Located>,
        O: FnMut(CameraOutput),
        N: FnMut(StateNote<'_>),
    {
        let mut dirty = BTreeSet::new();
        for located in events {
            let camera_id = &located.detection.camera_id;
            // Look up before inserting: cloning the camera id for every event shows in profiles.
            let state = match self.cameras.get_mut(camera_id) {
                Some(state) => state,
                None => self
                    .cameras
                    .entry(camera_id.clone())
                    .or_insert_with(|| CameraState::new(camera_id, self.config.tracker.clone())),
            };
            let profile = settings.profile(camera_id);
            let outcome = state.on_event(
                &located.detection,
                processing_ms,
                &profile,
                &self.config.window,
            );
            if !dirty.contains(camera_id) {
                dirty.insert(camera_id.clone());
            }
            let stored = StoredEvent {
                located,
                estimated_speed_kmh: outcome.estimated_speed_kmh,
                late: outcome.late,
            };
            if stored.late {
                note(StateNote::Late(&stored));
            }
            if outcome.lane_capped {
                note(StateNote::LaneCapped);
            }
            if outcome.track_capped {
                note(StateNote::TrackCapped);
            }
            output(CameraOutput::Event(stored));
        }
        dirty
    }

    /// Closes what every camera's watermark (or idleness) allows, with the alert changes.
    fn close_ready<O: FnMut(CameraOutput)>(
        &mut self,
        processing_ms: i64,
        settings: &Settings,
        dirty: &mut BTreeSet<String>,
        output: &mut O,
    ) {
        for (camera_id, state) in self.cameras.iter_mut() {
            let profile = settings.profile(camera_id);
            let watermark_before = state.watermark().closed_before_ms();
            let closed = state.close_ready(
                processing_ms,
                &profile,
                &settings.thresholds,
                &self.config.window,
                &self.config.alerts,
            );
            // An idle advance without a closed window must be checkpointed too, or a restart
            // would count as on time what this run calls late.
            if state.watermark().closed_before_ms() != watermark_before {
                dirty.insert(camera_id.clone());
            }
            if closed.windows.is_empty() {
                continue;
            }
            dirty.insert(camera_id.clone());
            let closed_at_ms = (self.clock)();
            for result in closed.windows {
                output(CameraOutput::Window {
                    result,
                    closed_at_ms,
                });
            }
            for alert in closed.alerts {
                output(CameraOutput::Alert(alert));
            }
        }
    }

    /// Drops cameras silent past the eviction limit; their checkpoints are deleted, not saved.
    fn evict_silent<O, N>(
        &mut self,
        processing_ms: i64,
        dirty: &mut BTreeSet<String>,
        output: &mut O,
        note: &mut N,
    ) where
        O: FnMut(CameraOutput),
        N: FnMut(StateNote<'_>),
    {
        let Some(silent_ms) = self.config.evict_after_ms else {
            return;
        };
        let evicted: Vec<String> = self
            .cameras
            .iter()
            .filter(|(_, state)| state.is_evictable(processing_ms, silent_ms))
            .map(|(camera_id, _)| camera_id.clone())
            .collect();
        for camera_id in evicted {
            self.cameras.remove(&camera_id);
            dirty.remove(&camera_id);
            note(StateNote::Evicted(&camera_id));
            output(CameraOutput::Evicted { camera_id });
        }
    }

    /// The stored form of every camera this epoch changed, in camera order.
    fn checkpoint<O: FnMut(CameraOutput)>(&self, dirty: BTreeSet<String>, output: &mut O) {
        for camera_id in dirty {
            let Some(state) = self.cameras.get(&camera_id) else {
                continue;
            };
            match state.to_checkpoint() {
                Ok(state) => output(CameraOutput::Checkpoint { camera_id, state }),
                Err(e) => log::error!("checkpoint_encode_failed camera_id={camera_id} error={e}"),
            }
        }
    }
}

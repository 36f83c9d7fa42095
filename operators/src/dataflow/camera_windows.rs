use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;
use timely::ExchangeData;

use super::{Epoch, Located};
use crate::alerts::AlertTransition;
use crate::camera::{AlertConfig, CameraState};
use crate::metrics::WindowResult;
use crate::settings::SharedSettings;
use crate::speed::SpeedTrackerConfig;
use crate::window::WindowConfig;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraWindowsConfig {
    pub window: WindowConfig,
    pub tracker: SpeedTrackerConfig,
    pub alerts: AlertConfig,
    /// Length of one ingest epoch: epoch `e` stands for processing time `e * epoch_ms`.
    pub epoch_ms: i64,
    /// Cameras silent this long are evicted with their checkpoint (`None`: kept forever).
    #[serde(default)]
    pub evict_after_ms: Option<i64>,
}

/// What the camera operator reports besides its outputs, for the caller to count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StateNote<'a> {
    /// An event arrived after its window closed: stored raw, not counted.
    Late(&'a StoredEvent),
    /// An event's lane was beyond the lanes one window keeps.
    LaneCapped,
    /// An event's vehicle was beyond the tracks one camera keeps.
    TrackCapped,
    /// A silent camera's state was dropped.
    Evicted(&'a str),
}

/// A detection on its way to `traffic_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub located: Located,
    pub estimated_speed_kmh: Option<f64>,
    pub late: bool,
}

/// Everything the camera operator hands to the sink for one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum CameraOutput {
    Event(StoredEvent),
    /// A closed window and the wall-clock time it closed (for close-to-commit latency).
    Window {
        result: WindowResult,
        closed_at_ms: i64,
    },
    Alert(AlertTransition),
    /// The camera's state after this epoch, to store beside the Kafka positions.
    Checkpoint {
        camera_id: String,
        state: String,
    },
    /// The camera was silent past the eviction limit: its checkpoint goes too.
    Evicted {
        camera_id: String,
    },
}

/// What the camera operator reads from its tick stream.
pub trait Tick: ExchangeData + Clone {
    /// True when the source that sent it ended the epoch with data still waiting (catching up,
    /// or held back by a slow sink): that time is the pipeline's, not a camera's idleness.
    fn source_behind(&self) -> bool {
        false
    }
}

impl Tick for () {}

/// Stable across processes and runs: decides which worker owns a camera.
pub fn camera_route(camera_id: &str) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    camera_id.hash(&mut hasher);
    hasher.finish()
}

pub trait CameraWindows<'scope> {
    /// Routes detections to their camera's worker and runs speed estimation, event-time windows,
    /// congestion and alerts there. `ticks` (any stream that advances every epoch, such as the
    /// source's offset marks) lets quiet cameras close their windows by processing time.
    fn camera_windows<D, F>(
        self,
        ticks: StreamVec<'scope, Epoch, D>,
        config: CameraWindowsConfig,
        settings: SharedSettings,
        restored: Arc<HashMap<String, CameraState>>,
        on_note: F,
    ) -> StreamVec<'scope, Epoch, CameraOutput>
    where
        D: Tick,
        F: FnMut(StateNote<'_>) + 'static;
}

impl<'scope> CameraWindows<'scope> for StreamVec<'scope, Epoch, Located> {
    fn camera_windows<D, F>(
        self,
        ticks: StreamVec<'scope, Epoch, D>,
        config: CameraWindowsConfig,
        settings: SharedSettings,
        restored: Arc<HashMap<String, CameraState>>,
        mut on_note: F,
    ) -> StreamVec<'scope, Epoch, CameraOutput>
    where
        D: Tick,
        F: FnMut(StateNote<'_>) + 'static,
    {
        let scope = self.scope();
        let (worker, peers) = (scope.index() as u64, scope.peers().max(1) as u64);
        let by_camera = Exchange::new(|l: &Located| camera_route(&l.detection.camera_id));
        self.binary_frontier::<_, CapacityContainerBuilder<Vec<CameraOutput>>, _, _, _, _>(
            ticks.broadcast(),
            by_camera,
            Pipeline,
            "CameraWindows",
            move |_capability, _info| {
                // Batches are kept whole (not appended element by element): records are large to move.
                let mut stash: BTreeMap<Epoch, (Capability<Epoch>, Vec<Vec<Located>>)> =
                    BTreeMap::new();
                let mut cameras: HashMap<String, CameraState> = HashMap::new();
                let mut resumed = false;
                let mut behind: BTreeSet<Epoch> = BTreeSet::new();
                move |(events, events_frontier), (ticks, ticks_frontier), output| {
                    let index = output.output_index();
                    events.for_each(|cap, batch| {
                        // Arrival order matters (a camera's frames must be seen in order), so no
                        // `for_each_stamp`: it sorts containers with an unstable sort.
                        if let Some(cap) = cap.retain_least(index) {
                            let entry = stash
                                .entry(*cap.time())
                                .or_insert_with(|| (cap, Vec::new()));
                            entry.1.push(std::mem::take(batch));
                        }
                    });
                    ticks.for_each_stamp(|cap, data| {
                        let mut any_behind = false;
                        for batch in data {
                            any_behind |= batch.iter().any(Tick::source_behind);
                            batch.clear();
                        }
                        if let Some(cap) = cap.retain_least(index) {
                            if any_behind {
                                behind.insert(*cap.time());
                            }
                            stash
                                .entry(*cap.time())
                                .or_insert_with(|| (cap, Vec::new()));
                        }
                    });
                    while let Some(entry) = stash.first_entry() {
                        let epoch = *entry.key();
                        if events_frontier.less_equal(&epoch) || ticks_frontier.less_equal(&epoch) {
                            break;
                        }
                        let (cap, batch) = entry.remove();
                        let processing_ms = (epoch as i64).saturating_mul(config.epoch_ms);
                        if !resumed {
                            // Restore the cameras this worker owns now, so quiet ones still close.
                            for (camera_id, saved) in restored.iter() {
                                if camera_route(camera_id) % peers == worker {
                                    let mut state = saved.clone();
                                    state.resume_at(processing_ms);
                                    cameras.insert(camera_id.clone(), state);
                                }
                            }
                            resumed = true;
                        }
                        if behind.remove(&epoch) {
                            // A source still had data waiting: nobody is idle, the pipeline is.
                            for state in cameras.values_mut() {
                                state.resume_at(processing_ms);
                            }
                        }
                        behind.retain(|e| *e > epoch);
                        let snapshot = settings.snapshot();
                        let mut session = output.session(&cap);
                        let mut dirty = BTreeSet::new();
                        for located in batch.into_iter().flatten() {
                            let camera_id = &located.detection.camera_id;
                            let state = match cameras.get_mut(camera_id) {
                                Some(state) => state,
                                None => cameras.entry(camera_id.clone()).or_insert_with(|| {
                                    CameraState::new(camera_id, config.tracker.clone())
                                }),
                            };
                            let profile = snapshot.profile(camera_id);
                            let outcome = state.on_event(
                                &located.detection,
                                processing_ms,
                                &profile,
                                &config.window,
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
                                on_note(StateNote::Late(&stored));
                            }
                            if outcome.lane_capped {
                                on_note(StateNote::LaneCapped);
                            }
                            if outcome.track_capped {
                                on_note(StateNote::TrackCapped);
                            }
                            session.give(CameraOutput::Event(stored));
                        }
                        for (camera_id, state) in cameras.iter_mut() {
                            let profile = snapshot.profile(camera_id);
                            let watermark_before = state.watermark().closed_before_ms();
                            let closed = state.close_ready(
                                processing_ms,
                                &profile,
                                &snapshot.thresholds,
                                &config.window,
                                &config.alerts,
                            );
                            // An idle advance without a closed window must be checkpointed too,
                            // or a restart would count as on time what this run calls late.
                            if state.watermark().closed_before_ms() != watermark_before {
                                dirty.insert(camera_id.clone());
                            }
                            if closed.windows.is_empty() {
                                continue;
                            }
                            dirty.insert(camera_id.clone());
                            let closed_at_ms = chrono::Utc::now().timestamp_millis();
                            session.give_iterator(closed.windows.into_iter().map(|result| {
                                CameraOutput::Window {
                                    result,
                                    closed_at_ms,
                                }
                            }));
                            session
                                .give_iterator(closed.alerts.into_iter().map(CameraOutput::Alert));
                        }
                        if let Some(silent_ms) = config.evict_after_ms {
                            let evicted: Vec<String> = cameras
                                .iter()
                                .filter(|(_, state)| state.is_evictable(processing_ms, silent_ms))
                                .map(|(camera_id, _)| camera_id.clone())
                                .collect();
                            for camera_id in evicted {
                                cameras.remove(&camera_id);
                                dirty.remove(&camera_id);
                                on_note(StateNote::Evicted(&camera_id));
                                session.give(CameraOutput::Evicted { camera_id });
                            }
                        }
                        for camera_id in dirty {
                            let Some(state) = cameras.get(&camera_id) else {
                                continue;
                            };
                            match serde_json::to_string(state) {
                                Ok(state) => {
                                    session.give(CameraOutput::Checkpoint { camera_id, state })
                                }
                                Err(e) => log::error!(
                                    "checkpoint_encode_failed camera_id={camera_id} error={e}"
                                ),
                            }
                        }
                    }
                }
            },
        )
    }
}

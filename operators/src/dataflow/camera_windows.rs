use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Capability;
use timely::dataflow::StreamVec;
use timely::ExchangeData;

use super::Epoch;
use crate::camera::CameraState;
use crate::record::Located;
use crate::settings::SharedSettings;
use crate::shard::{
    camera_route, CameraOutput, CameraShard, CameraWindowsConfig, Ownership, StateNote,
};

/// What the camera operator reads from its tick stream.
pub trait Tick: ExchangeData + Clone {
    /// True when the source that sent it ended the epoch with data still waiting (catching up,
    /// or held back by a slow sink): that time is the pipeline's, not a camera's idleness.
    fn source_behind(&self) -> bool {
        false
    }
}

impl Tick for () {}

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
        let ownership = Ownership {
            worker: scope.index() as u64,
            peers: scope.peers().max(1) as u64,
        };
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
                let mut behind: BTreeSet<Epoch> = BTreeSet::new();
                let mut shard = CameraShard::restore(config, ownership, &restored);
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
                        let (cap, batches) = entry.remove();
                        let source_behind = behind.remove(&epoch);
                        behind.retain(|e| *e > epoch);
                        let mut session = output.session(&cap);
                        shard.run_epoch(
                            epoch,
                            source_behind,
                            batches.into_iter().flatten(),
                            &settings.snapshot(),
                            &mut |item| session.give(item),
                            &mut on_note,
                        );
                    }
                }
            },
        )
    }
}

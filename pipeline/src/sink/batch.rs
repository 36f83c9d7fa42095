//! One commit's worth of results: raw events, closed windows, alert changes, camera checkpoints and
//! the Kafka positions they correspond to. Merging batches keeps the last checkpoint per camera and
//! the furthest position per partition, so a slow database gets fewer, larger transactions.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use operators::alerts::AlertTransition;
use operators::dataflow::{CameraOutput, Epoch, StoredEvent};
use operators::metrics::WindowResult;

use crate::source::OffsetMark;

/// What flows into the sink operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SinkItem {
    Output(CameraOutput),
    Mark(OffsetMark),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitBatch {
    /// Greatest epoch whose results are all in this batch.
    pub through_epoch: Epoch,
    pub events: Vec<StoredEvent>,
    /// Closed windows and the wall-clock millisecond they closed.
    pub windows: Vec<(WindowResult, i64)>,
    pub alerts: Vec<AlertTransition>,
    pub checkpoints: BTreeMap<String, String>,
    /// Cameras evicted for silence: their checkpoint rows are deleted.
    pub evicted: BTreeSet<String>,
    pub offsets: BTreeMap<i32, i64>,
}

impl CommitBatch {
    pub fn from_items(through_epoch: Epoch, items: Vec<SinkItem>) -> Self {
        let mut batch = Self {
            through_epoch,
            ..Self::default()
        };
        for item in items {
            batch.push(item);
        }
        batch
    }

    fn push(&mut self, item: SinkItem) {
        match item {
            SinkItem::Mark(mark) if mark.next_offset < 0 => {}
            SinkItem::Mark(mark) => {
                let next = self
                    .offsets
                    .entry(mark.partition)
                    .or_insert(mark.next_offset);
                *next = (*next).max(mark.next_offset);
            }
            SinkItem::Output(CameraOutput::Event(event)) => self.events.push(event),
            SinkItem::Output(CameraOutput::Window {
                result,
                closed_at_ms,
            }) => self.windows.push((result, closed_at_ms)),
            SinkItem::Output(CameraOutput::Alert(alert)) => self.alerts.push(alert),
            SinkItem::Output(CameraOutput::Checkpoint { camera_id, state }) => {
                self.evicted.remove(&camera_id);
                self.checkpoints.insert(camera_id, state);
            }
            SinkItem::Output(CameraOutput::Evicted { camera_id }) => {
                self.checkpoints.remove(&camera_id);
                self.evicted.insert(camera_id);
            }
        }
    }

    /// Appends a later batch.
    pub fn merge(&mut self, later: CommitBatch) {
        self.through_epoch = self.through_epoch.max(later.through_epoch);
        self.events.extend(later.events);
        self.windows.extend(later.windows);
        self.alerts.extend(later.alerts);
        for camera_id in later.evicted {
            self.checkpoints.remove(&camera_id);
            self.evicted.insert(camera_id);
        }
        for (camera_id, state) in later.checkpoints {
            self.evicted.remove(&camera_id);
            self.checkpoints.insert(camera_id, state);
        }
        for (partition, next) in later.offsets {
            let entry = self.offsets.entry(partition).or_insert(next);
            *entry = (*entry).max(next);
        }
    }

    /// Rows to write, positions aside.
    pub fn row_count(&self) -> usize {
        self.events.len()
            + self.windows.len()
            + self.alerts.len()
            + self.checkpoints.len()
            + self.evicted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(partition: i32, next_offset: i64) -> SinkItem {
        SinkItem::Mark(OffsetMark {
            partition,
            next_offset,
            behind: false,
        })
    }

    #[test]
    fn keeps_furthest_position_and_last_checkpoint() {
        let mut a = CommitBatch::from_items(
            3,
            vec![
                mark(0, 10),
                mark(0, 7),
                SinkItem::Output(CameraOutput::Checkpoint {
                    camera_id: "c".into(),
                    state: "old".into(),
                }),
            ],
        );
        let b = CommitBatch::from_items(
            5,
            vec![
                mark(0, 12),
                mark(1, 1),
                SinkItem::Output(CameraOutput::Checkpoint {
                    camera_id: "c".into(),
                    state: "new".into(),
                }),
            ],
        );
        a.merge(b);
        assert_eq!(a.through_epoch, 5);
        assert_eq!(a.offsets, BTreeMap::from([(0, 12), (1, 1)]));
        assert_eq!(a.checkpoints["c"], "new");
        assert_eq!(a.row_count(), 1);
    }
}

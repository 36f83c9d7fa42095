use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::Epoch;
use crate::event::{decode_message, DecodeError};
use crate::event_time::TimeBounds;
use crate::record::{KafkaRecord, Located};

pub trait DecodeDetections<'scope> {
    /// Decodes and validates B1 messages where they were read; every rejected message or detection
    /// goes to `on_drop` and never stops the stream. Detections outside `bounds` of the wall
    /// clock at decode (the ingest time) are rejected too.
    fn decode_detections<F>(
        self,
        bounds: TimeBounds,
        on_drop: F,
    ) -> StreamVec<'scope, Epoch, Located>
    where
        F: FnMut(&DecodeError, &KafkaRecord) + 'static;
}

impl<'scope> DecodeDetections<'scope> for StreamVec<'scope, Epoch, KafkaRecord> {
    fn decode_detections<F>(
        self,
        bounds: TimeBounds,
        mut on_drop: F,
    ) -> StreamVec<'scope, Epoch, Located>
    where
        F: FnMut(&DecodeError, &KafkaRecord) + 'static,
    {
        self.unary::<CapacityContainerBuilder<Vec<Located>>, _, _, _>(
            Pipeline,
            "DecodeDetections",
            |_capability, _info| {
                let mut detections = Vec::new();
                let mut errors = Vec::new();
                move |input, output| {
                    // `for_each`, not `for_each_stamp`: the latter sorts containers by stamp with an
                    // unstable sort, which would reorder a partition's messages within an epoch.
                    input.for_each(|cap, batch| {
                        let mut session = output.session(&cap);
                        let ingest_ms =
                            (!bounds.is_off()).then(|| chrono::Utc::now().timestamp_millis());
                        for record in batch.drain(..) {
                            decode_message(&record.payload, &mut detections, &mut errors);
                            if let Some(ingest_ms) = ingest_ms {
                                detections.retain(|d| match bounds.check(d.ts_ms, ingest_ms) {
                                    Ok(()) => true,
                                    Err(e) => {
                                        errors.push(e);
                                        false
                                    }
                                });
                            }
                            for error in errors.drain(..) {
                                on_drop(&error, &record);
                            }
                            for (index, detection) in detections.drain(..).enumerate() {
                                session.give(Located {
                                    detection,
                                    partition: record.partition,
                                    offset: record.offset,
                                    index: index as u32,
                                });
                            }
                        }
                    });
                }
            },
        )
    }
}

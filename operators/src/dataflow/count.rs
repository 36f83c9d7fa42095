use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::Epoch;

pub trait CountRecords<'scope> {
    /// Passes records through unchanged and tells `on_count` how many went by, batch by batch.
    /// Unlike timely's `inspect_core`, it keeps the order of batches within an epoch, which the
    /// camera operator downstream relies on.
    fn count_records<F>(self, on_count: F) -> Self
    where
        F: FnMut(usize) + 'static;
}

impl<'scope, D: Clone + 'static> CountRecords<'scope> for StreamVec<'scope, Epoch, D> {
    fn count_records<F>(self, mut on_count: F) -> Self
    where
        F: FnMut(usize) + 'static,
    {
        self.unary::<CapacityContainerBuilder<Vec<D>>, _, _, _>(
            Pipeline,
            "CountRecords",
            |_capability, _info| {
                move |input, output| {
                    input.for_each(|cap, batch| {
                        on_count(batch.len());
                        output.session(&cap).give_container(batch);
                    });
                }
            },
        )
    }
}

use std::collections::BTreeMap;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;
use timely::ExchangeData;

use super::Epoch;

pub trait GatherCompleted<'scope, T> {
    /// Brings every record to worker 0 and, once the frontier has passed a set of epochs, hands
    /// `deliver` all their records at once with the greatest completed epoch. Completed epochs are
    /// delivered in order and each exactly once; several are merged when the consumer falls behind.
    fn gather_completed<F>(self, name: &str, deliver: F)
    where
        F: FnMut(Epoch, Vec<T>) + 'static;
}

impl<'scope, T: ExchangeData> GatherCompleted<'scope, T> for StreamVec<'scope, Epoch, T> {
    fn gather_completed<F>(self, name: &str, mut deliver: F)
    where
        F: FnMut(Epoch, Vec<T>) + 'static,
    {
        let mut stash: BTreeMap<Epoch, Vec<T>> = BTreeMap::new();
        self.sink(Exchange::new(|_: &T| 0), name, move |(input, frontier)| {
            input.for_each(|cap, batch| {
                let Some(&epoch) = cap.least() else { return };
                stash.entry(epoch).or_default().append(batch);
            });
            let Some(&first) = stash.keys().next() else {
                return;
            };
            if frontier.less_equal(&first) {
                return;
            }
            let mut through = first;
            let mut records = Vec::new();
            while let Some(entry) = stash.first_entry() {
                if frontier.less_equal(entry.key()) {
                    break;
                }
                through = *entry.key();
                records.append(&mut entry.remove());
            }
            deliver(through, records);
        });
    }
}

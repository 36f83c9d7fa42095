//! The two forecasts the model must beat on the held-out period: persistence (the last value
//! seen) and the time-of-day historical average.

use super::batches::Prepared;
use super::Profile;
use crate::data::minute_of_day;

/// Persistence: the last present target in the lookback, per node, for every horizon step.
pub(super) fn persistence(prep: &Prepared, starts: &[usize], node_mean: &[f32]) -> Vec<f32> {
    let nn_ = prep.series.nodes.len();
    let mut out = Vec::with_capacity(starts.len() * prep.horizon * nn_);
    for &t in starts {
        let last: Vec<f32> = (0..nn_)
            .map(|n| {
                (t..t + prep.lookback)
                    .rev()
                    .map(|s| prep.series.get(s, n, prep.target_feature))
                    .find(|v| !v.is_nan())
                    .unwrap_or(node_mean[n])
            })
            .collect();
        for _ in 0..prep.horizon {
            out.extend_from_slice(&last);
        }
    }
    out
}

/// Time-of-day historical average at each target step.
pub(super) fn historical_average(prep: &Prepared, starts: &[usize], profile: &Profile) -> Vec<f32> {
    let nn_ = prep.series.nodes.len();
    let mut out = Vec::with_capacity(starts.len() * prep.horizon * nn_);
    for &t in starts {
        for h in 0..prep.horizon {
            let minute = minute_of_day(prep.series.time_of(t + prep.lookback + h));
            out.extend((0..nn_).map(|n| profile.at(n, minute)));
        }
    }
    out
}

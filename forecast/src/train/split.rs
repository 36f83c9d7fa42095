//! The chronological split into training, validation and test parts, and the windows (lookback
//! plus horizon steps) that fit wholly inside a part, so no window straddles two parts.

use std::ops::Range;

use super::TrainConfig;
use crate::error::{ForecastError, Result};

/// Chronological step ranges of the three parts.
pub(super) fn split(steps: usize, cfg: &TrainConfig) -> Result<[Range<usize>; 3]> {
    let train_end = (steps as f64 * cfg.train_fraction).round() as usize;
    let val_end = (steps as f64 * (cfg.train_fraction + cfg.val_fraction)).round() as usize;
    let need = cfg.lookback + cfg.horizon;
    if train_end < need || val_end - train_end < need || steps - val_end < need {
        return Err(ForecastError::InvalidData(format!(
            "{steps} steps are too few to split into train/validation/test windows of {need} steps"
        )));
    }
    Ok([0..train_end, train_end..val_end, val_end..steps])
}

/// Window start steps that fit wholly inside a part.
pub(super) fn window_starts(part: &Range<usize>, span: usize) -> Vec<usize> {
    if part.end < part.start + span {
        return Vec::new();
    }
    (part.start..=part.end - span).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_chronological_and_disjoint() {
        let cfg = TrainConfig::default();
        let [a, b, c] = split(1000, &cfg).expect("split");
        assert_eq!((a.start, a.end, b.end, c.end), (0, 700, 800, 1000));
        let starts = window_starts(&b, 25);
        assert_eq!((starts[0], *starts.last().expect("some")), (700, 775));
    }
}

//! Forecasts for a set of windows on the original scale, without gradients: the validation
//! check of every epoch, the residuals behind the intervals, and the test report.

use super::batches::Prepared;
use super::Scaler;
use crate::error::Result;
use crate::model::Stgcn;

/// Forecasts `[W, H, N]` on the original scale for the given windows, without gradients.
pub(super) fn predict_windows(
    model: &Stgcn,
    prep: &Prepared,
    starts: &[usize],
    scaler: &Scaler,
    clamp: Option<[f32; 2]>,
) -> Result<Vec<f32>> {
    let f = prep.target_feature;
    let mut out = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for chunk in starts.chunks(256) {
            let y = model.forward_t(&prep.batch_inputs(chunk), false) * scaler.std[f] as f64
                + scaler.mean[f] as f64;
            let y = match clamp {
                Some([lo, hi]) => y.clamp(lo as f64, hi as f64),
                None => y,
            };
            let y = y.contiguous().view([-1]);
            out.extend(Vec::<f32>::try_from(&y)?);
        }
        Ok(())
    })?;
    Ok(out)
}

//! SIGTERM/SIGINT turn into a flag every part polls: sources stop reading, the dataflow drains,
//! the sink commits what it holds, then the process exits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag on SIGTERM or SIGINT; a second signal exits at once (for a process stuck
    /// before its dataflow runs, e.g. waiting for cluster peers).
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register_conditional_shutdown(signal, 1, self.0.clone())?;
            signal_hook::flag::register(signal, self.0.clone())?;
        }
        Ok(())
    }

    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

//! SIGTERM/SIGINT turn into a flag every part polls: sources stop reading, the dataflow drains,
//! the sink commits what it holds, then the process exits.
//!
//! A part that cannot go on (a dead thread, a lost lease, a position the broker no longer holds)
//! calls [`Shutdown::fail`]: the same drain runs, and the process exits non-zero with that reason,
//! so an orchestrator restarts it instead of keeping a process that only looks alive.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag on SIGTERM or SIGINT; a second signal exits at once (for a process stuck
    /// before its dataflow runs, e.g. waiting for cluster peers).
    pub fn install_signal_handlers(&self) -> std::io::Result<()> {
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register_conditional_shutdown(signal, 1, self.flag.clone())?;
            signal_hook::flag::register(signal, self.flag.clone())?;
        }
        Ok(())
    }

    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Records why the process cannot go on (the first reason wins), logs it once and stops.
    pub fn fail(&self, reason: impl Into<String>) {
        let reason = reason.into();
        if let Ok(mut failure) = self.failure.lock() {
            if failure.is_none() {
                log::error!("pipeline_fatal reason={reason}");
                *failure = Some(reason);
            }
        }
        self.trigger();
    }

    /// The reason given to [`Shutdown::fail`], if any.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_failure_wins_and_triggers() {
        let shutdown = Shutdown::new();
        assert!(shutdown.failure().is_none());
        shutdown.fail("sink thread died");
        shutdown.fail("later");
        assert!(shutdown.is_triggered());
        assert_eq!(shutdown.failure().as_deref(), Some("sink thread died"));
    }
}

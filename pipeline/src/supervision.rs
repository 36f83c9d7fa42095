//! A process that only looks alive is worse than one that exits: an orchestrator restarts the
//! latter. So a background thread that ends before shutdown was asked for fails the process, a
//! panic anywhere ends it at once with one log line, and a failed process that cannot drain in
//! time exits anyway. Exactly once does not depend on a clean exit: positions and rows commit
//! together, so a restart resumes from the last commit.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::shutdown::Shutdown;

/// Exit status of a process that stopped on a failure it could not ride out.
pub const FAILURE_EXIT_CODE: i32 = 70;

/// Any panic, in any thread, logs one line and ends the process (a dead timely worker or sink
/// thread would otherwise leave the others waiting for it forever).
pub fn exit_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        log::error!(
            "pipeline_fatal thread={} panic={}",
            thread.name().unwrap_or("unnamed"),
            info.to_string().replace('\n', " ")
        );
        std::process::exit(FAILURE_EXIT_CODE);
    }));
}

enum Message {
    Watch(&'static str, JoinHandle<()>),
    Stop,
}

/// Watches the background threads of the process.
pub struct Supervisor {
    sender: Sender<Message>,
    handle: JoinHandle<()>,
}

impl Supervisor {
    /// `drain_grace`: how long a failed process may take to drain before it is ended.
    pub fn start(shutdown: Shutdown, drain_grace: Duration) -> std::io::Result<Self> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("supervisor".into())
            .spawn(move || supervise(&receiver, &shutdown, drain_grace))?;
        Ok(Self { sender, handle })
    }

    /// A thread that must run until shutdown.
    pub fn watch(&self, name: &'static str, thread: JoinHandle<()>) {
        let _ = self.sender.send(Message::Watch(name, thread));
    }

    /// Joins every watched thread (shutdown must have been triggered).
    pub fn stop(self) {
        let _ = self.sender.send(Message::Stop);
        let _ = self.handle.join();
    }
}

fn supervise(receiver: &Receiver<Message>, shutdown: &Shutdown, drain_grace: Duration) {
    let mut watched: Vec<(&'static str, JoinHandle<()>)> = Vec::new();
    let mut failed_at: Option<Instant> = None;
    loop {
        match receiver.recv_timeout(Duration::from_millis(200)) {
            Ok(Message::Watch(name, thread)) => watched.push((name, thread)),
            Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if !shutdown.is_triggered() {
            if let Some((name, _)) = watched.iter().find(|(_, t)| t.is_finished()) {
                shutdown.fail(format!("the {name} thread ended unexpectedly"));
            }
        }
        if let Some(reason) = shutdown.failure() {
            let since = *failed_at.get_or_insert_with(Instant::now);
            if since.elapsed() > drain_grace {
                log::error!(
                    "pipeline_exit reason={reason} drain_s={} (drain did not finish)",
                    drain_grace.as_secs()
                );
                std::process::exit(FAILURE_EXIT_CODE);
            }
        }
    }
    for (_, thread) in watched {
        let _ = thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_ends_before_shutdown_fails_the_process() {
        let shutdown = Shutdown::new();
        let supervisor =
            Supervisor::start(shutdown.clone(), Duration::from_secs(600)).expect("start");
        supervisor.watch("short-lived", std::thread::spawn(|| {}));
        let started = Instant::now();
        while shutdown.failure().is_none() {
            assert!(started.elapsed() < Duration::from_secs(10), "not noticed");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(shutdown.is_triggered());
        assert!(shutdown.failure().expect("reason").contains("short-lived"));
        supervisor.stop();
    }

    #[test]
    fn threads_ending_after_shutdown_are_fine() {
        let shutdown = Shutdown::new();
        let supervisor =
            Supervisor::start(shutdown.clone(), Duration::from_secs(600)).expect("start");
        let waiting = shutdown.clone();
        supervisor.watch(
            "worker",
            std::thread::spawn(move || {
                while !waiting.is_triggered() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }),
        );
        std::thread::sleep(Duration::from_millis(300));
        shutdown.trigger();
        supervisor.stop();
        assert!(shutdown.failure().is_none());
    }
}

//! A program started as a child process with its own environment and log file, and stopped the
//! way an orchestrator stops it: SIGTERM, a wait, and `kill -9` only when asked or when the
//! handle is dropped. A dropped handle never leaves a process behind, and one dropped while a
//! test panics prints the child's own log, which is where a failure is explained (a log shared
//! by several children is left to its owner to print).

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// How often an exit is checked for while waiting.
const POLL: Duration = Duration::from_millis(20);

/// Where a child's output goes.
#[derive(Debug, Clone)]
enum Output {
    /// stdout and stderr into one file, created afresh.
    Log(PathBuf),
    /// stdout and stderr appended to a file other children may share.
    AppendLog(PathBuf),
    /// stdout into a file (the child's answer), stderr to ours.
    StdoutTo(PathBuf),
    /// Nothing kept.
    Discard,
    /// stdout discarded, stderr to ours.
    StderrOnly,
}

/// A child process to start: program, arguments, environment, working directory and output.
/// stdin is always closed.
#[derive(Debug)]
pub struct Launch {
    command: Command,
    name: String,
    output: Output,
}

impl Launch {
    /// `program`, named in messages by its file name; output is discarded unless redirected.
    pub fn new(program: impl AsRef<Path>) -> Launch {
        let program = program.as_ref();
        let name = program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned();
        Launch {
            command: Command::new(program),
            name,
            output: Output::Discard,
        }
    }

    /// The name used in messages and log dumps.
    pub fn named(mut self, name: &str) -> Launch {
        name.clone_into(&mut self.name);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Launch {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Launch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Launch {
        self.command.env(key, value);
        self
    }

    pub fn envs<I, K, V>(mut self, vars: I) -> Launch
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.command.envs(vars);
        self
    }

    /// Unsets a variable this process has, so the child sees its default.
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Launch {
        self.command.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Launch {
        self.command.current_dir(dir);
        self
    }

    /// stdout and stderr into `path`, created afresh.
    pub fn log_to(mut self, path: impl Into<PathBuf>) -> Launch {
        self.output = Output::Log(path.into());
        self
    }

    /// stdout and stderr appended to `path`, which other children may write too.
    pub fn append_log_to(mut self, path: impl Into<PathBuf>) -> Launch {
        self.output = Output::AppendLog(path.into());
        self
    }

    /// stdout into `path` (what the child answers), stderr to this process's stderr.
    pub fn stdout_to(mut self, path: impl Into<PathBuf>) -> Launch {
        self.output = Output::StdoutTo(path.into());
        self
    }

    /// stdout discarded, stderr to this process's stderr.
    pub fn stderr_only(mut self) -> Launch {
        self.output = Output::StderrOnly;
        self
    }

    pub fn spawn(mut self) -> Result<Running, Error> {
        let owns_log = matches!(self.output, Output::Log(_));
        let (stdout, stderr, log_path) = match &self.output {
            Output::Log(path) => {
                let file = open_log(path, File::create(path))?;
                let copy = clone_log(path, &file)?;
                (Stdio::from(copy), Stdio::from(file), Some(path.clone()))
            }
            Output::AppendLog(path) => {
                let file = open_log(
                    path,
                    OpenOptions::new().create(true).append(true).open(path),
                )?;
                let copy = clone_log(path, &file)?;
                (Stdio::from(copy), Stdio::from(file), Some(path.clone()))
            }
            Output::StdoutTo(path) => {
                let file = open_log(path, File::create(path))?;
                (Stdio::from(file), Stdio::inherit(), None)
            }
            Output::Discard => (Stdio::null(), Stdio::null(), None),
            Output::StderrOnly => (Stdio::null(), Stdio::inherit(), None),
        };
        let child = self
            .command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|source| Error::Spawn {
                program: self.name.clone(),
                source,
            })?;
        Ok(Running {
            child: Some(child),
            status: None,
            name: self.name,
            log_path,
            owns_log,
        })
    }
}

fn open_log(path: &Path, opened: std::io::Result<File>) -> Result<File, Error> {
    opened.map_err(|source| Error::Log {
        path: path.to_owned(),
        source,
    })
}

fn clone_log(path: &Path, file: &File) -> Result<File, Error> {
    open_log(path, file.try_clone())
}

/// A started child. Dropping it kills the process if it still runs.
#[derive(Debug)]
pub struct Running {
    /// `None` once the process has been reaped.
    child: Option<Child>,
    /// How it ended, once reaped.
    status: Option<ExitStatus>,
    name: String,
    log_path: Option<PathBuf>,
    /// Whether the log is this child's alone (printed when a test panics).
    owns_log: bool,
}

impl Running {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id, until the process has been reaped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn log_path(&self) -> Option<&Path> {
        self.log_path.as_deref()
    }

    /// The log so far (empty without a log file).
    pub fn log(&self) -> String {
        self.log_path
            .as_ref()
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// The exit status if the process has ended (it is reaped then); `None` while it runs.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, Error> {
        let Some(child) = self.child.as_mut() else {
            return Ok(self.status);
        };
        let status = child.try_wait().map_err(|source| Error::Process {
            name: self.name.clone(),
            source,
        })?;
        if status.is_some() {
            self.child = None;
            self.status = status;
        }
        Ok(status)
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                return Err(Error::StillRunning {
                    name: self.name.clone(),
                    timeout,
                    log: self.log(),
                });
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGTERM, then waits up to `timeout` for the process to finish its work and exit. It is
    /// left running when it does not (the error says so, with its log).
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        self.sigterm()?;
        self.wait(timeout)
    }

    /// SIGTERM, up to `grace` for a clean exit, then `kill -9`.
    pub fn stop(&mut self, grace: Duration) -> Result<ExitStatus, Error> {
        if self.sigterm().is_ok() {
            match self.wait(grace) {
                Err(Error::StillRunning { .. }) => {}
                done => return done,
            }
        }
        self.kill()
    }

    /// `kill -9`: no chance to flush or close anything. Returns the exit status (the earlier one
    /// when the process had ended already).
    pub fn kill(&mut self) -> Result<ExitStatus, Error> {
        let Some(mut child) = self.child.take() else {
            return self.status.ok_or_else(|| Error::Process {
                name: self.name.clone(),
                source: std::io::Error::other("never started"),
            });
        };
        // An error here means it has exited already; wait reaps it either way.
        let _ = child.kill();
        let status = child.wait().map_err(|source| Error::Process {
            name: self.name.clone(),
            source,
        })?;
        self.status = Some(status);
        Ok(status)
    }

    fn sigterm(&mut self) -> Result<(), Error> {
        let Some(pid) = self.pid() else {
            return Ok(());
        };
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match sent {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(Error::Process {
                name: self.name.clone(),
                source: std::io::Error::other(format!("kill -TERM {pid} exited with {status}")),
            }),
            Err(source) => Err(Error::Process {
                name: self.name.clone(),
                source,
            }),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.kill();
        }
        if std::thread::panicking() && self.owns_log {
            if let Some(path) = &self.log_path {
                eprintln!(
                    "--- {} log ({}) ---\n{}",
                    self.name,
                    path.display(),
                    self.log()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("testbed-{name}-{}.log", std::process::id()))
    }

    #[test]
    fn sigterm_ends_a_child_and_its_log_is_kept() {
        let log = temp("term");
        let mut child = Launch::new("sh")
            .args(["-c", "echo started; echo $GREETING >&2; exec sleep 30"])
            .env("GREETING", "hello")
            .log_to(&log)
            .spawn()
            .expect("sh starts");
        assert!(child.is_running());
        let deadline = Instant::now() + Duration::from_secs(5);
        while !child.log().contains("hello") && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let status = child.terminate(Duration::from_secs(5)).expect("exits");
        assert!(!status.success(), "ended by a signal");
        assert_eq!(child.log(), "started\nhello\n");
        assert!(!child.is_running());
        let _ = std::fs::remove_file(log);
    }

    #[test]
    fn stop_kills_what_ignores_sigterm_and_wait_times_out() {
        let mut child = Launch::new("sh")
            .args(["-c", "trap '' TERM; sleep 30 & wait"])
            .spawn()
            .expect("sh starts");
        std::thread::sleep(Duration::from_millis(200));
        assert!(matches!(
            child.wait(Duration::from_millis(100)),
            Err(Error::StillRunning { .. })
        ));
        let status = child.stop(Duration::from_millis(300)).expect("killed");
        assert!(!status.success());
        assert!(child.pid().is_none());
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let error = Launch::new("/nonexistent/program")
            .spawn()
            .expect_err("missing");
        assert!(error.to_string().contains("program"), "{error}");
    }
}

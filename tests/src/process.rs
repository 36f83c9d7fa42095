//! The real `pipeline` binary as a child process, configured like a deployment: by environment.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::services::free_port;

/// Path of a workspace binary built beside the test executables.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target profile directory");
    let bin = dir.join(name);
    assert!(
        bin.exists(),
        "{} is missing: build the workspace binaries first (`cargo build --workspace`; `cargo nextest run --workspace` does it)",
        bin.display()
    );
    bin
}

pub struct PipelineSpec {
    pub database_url: String,
    pub brokers: String,
    pub topic: String,
    pub workers: usize,
    pub env: BTreeMap<String, String>,
}

impl PipelineSpec {
    pub fn new(database_url: &str, brokers: &str, topic: &str) -> Self {
        let mut env = BTreeMap::new();
        // Short idle timeout so the last windows of a finished input close quickly.
        env.insert("CAMERA_IDLE_TIMEOUT_SECONDS".into(), "3".into());
        env.insert("RUST_LOG".into(), "info".into());
        Self {
            database_url: database_url.to_owned(),
            brokers: brokers.to_owned(),
            topic: topic.to_owned(),
            workers: 1,
            env,
        }
    }

    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn start(&self) -> PipelineProcess {
        let metrics_port = free_port();
        let log_path = std::env::temp_dir().join(format!("{}.log", crate::unique_name("pipeline")));
        let log = std::fs::File::create(&log_path).expect("pipeline log file");
        let child = Command::new(workspace_binary("pipeline"))
            .args(["-w", &self.workers.to_string()])
            .env("DATABASE_URL", &self.database_url)
            .env("KAFKA_BROKERS", &self.brokers)
            .env("KAFKA_TOPIC", &self.topic)
            .env("PIPELINE_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("start the pipeline binary");
        PipelineProcess {
            child: Some(child),
            metrics_addr: format!("127.0.0.1:{metrics_port}"),
            log_path,
        }
    }
}

pub struct PipelineProcess {
    child: Option<Child>,
    pub metrics_addr: String,
    pub log_path: PathBuf,
}

impl PipelineProcess {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM and wait: the pipeline drains, commits and exits.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = self.pid().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.wait(timeout)
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill9(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.child = None;
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let started = Instant::now();
        let child = self.child.as_mut().expect("pipeline was started");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status;
            }
            if started.elapsed() > timeout {
                panic!(
                    "pipeline did not exit within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Status and body of a GET on the pipeline's metrics port.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = TcpStream::connect(&self.metrics_addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.metrics_addr
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        let status = head.split(' ').nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }

    /// The Prometheus text from the pipeline's metrics endpoint.
    pub fn metrics(&self) -> Option<String> {
        self.get("/metrics")
            .and_then(|(status, body)| (status == 200).then_some(body))
    }

    /// Value of one sample line (`name{labels}`) of the metrics text.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.metrics()?;
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            l.strip_prefix(sample)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }
}

impl Drop for PipelineProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- pipeline log ({}) ---\n{}",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

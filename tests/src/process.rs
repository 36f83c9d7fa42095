//! The real `pipeline` binary as a child process, configured like a deployment: by environment.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use testbed::{http, prom, Launch, Running};

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
        let metrics_addr = testbed::net::free_loopback_addr()
            .expect("a free loopback port")
            .to_string();
        let log_path = std::env::temp_dir().join(format!("{}.log", crate::unique_name("pipeline")));
        let process = Launch::new(crate::workspace_binary("pipeline"))
            .args(["-w", &self.workers.to_string()])
            .env("DATABASE_URL", &self.database_url)
            .env("KAFKA_BROKERS", &self.brokers)
            .env("KAFKA_TOPIC", &self.topic)
            .env("PIPELINE_METRICS_ADDR", &metrics_addr)
            .envs(&self.env)
            .log_to(&log_path)
            .spawn()
            .expect("start the pipeline binary");
        PipelineProcess {
            process,
            metrics_addr,
            log_path,
        }
    }
}

pub struct PipelineProcess {
    process: Running,
    pub metrics_addr: String,
    pub log_path: PathBuf,
}

impl PipelineProcess {
    /// The process id (0 once it has exited and been reaped).
    pub fn pid(&self) -> u32 {
        self.process.pid().unwrap_or(0)
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Waits until the log holds `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        crate::wait_for(
            &format!("`{needle}` in the pipeline's log"),
            timeout,
            || self.log().contains(needle).then_some(()),
        );
    }

    /// SIGTERM and wait: the pipeline drains, commits and exits.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.process
            .terminate(timeout)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `kill -9`: no chance to flush anything.
    pub fn kill9(&mut self) {
        let _ = self.process.kill();
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        self.process.wait(timeout).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Status and body of a GET on the pipeline's metrics port; `None` without an answer.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let response = http::get(&format!("http://{}{path}", self.metrics_addr)).ok()?;
        Some((response.status, response.text()))
    }

    /// The Prometheus text from the pipeline's metrics endpoint.
    pub fn metrics(&self) -> Option<String> {
        http::get_ok(&format!("http://{}/metrics", self.metrics_addr)).ok()
    }

    /// Value of one sample (`name{labels}`, as exposed) of the metrics text.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        prom::value(&self.metrics()?, sample)
    }
}

//! The real `query-server` binary against a database filled by the real pipeline, and a plain
//! HTTP client for the tests.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::db::{count, TestDb};
use crate::process::{workspace_binary, PipelineSpec};
use crate::services::{free_port, Broker};
use crate::traffic::{
    expected_camera_windows, produce, recent_start_ms, sim_config, simulate, valid_detections,
};

pub struct QueryServer {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub log_path: PathBuf,
}

impl QueryServer {
    /// Starts the server on a free port; waits until `/health` answers.
    pub fn start(
        database_url: &str,
        admin_key: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> QueryServer {
        let port = free_port();
        let log_path =
            std::env::temp_dir().join(format!("{}.log", crate::unique_name("query-server")));
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut command = Command::new(workspace_binary("query-server"));
        command
            .env("QUERY_SERVER_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", database_url)
            .env(
                "KAFKA_BROKERS",
                std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
            )
            .env("RUST_LOG", "info")
            .env_remove("ADMIN_API_KEY")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        if let Some(key) = admin_key {
            command.env("ADMIN_API_KEY", key);
        }
        for (k, v) in extra_env {
            command.env(k, v);
        }
        let child = command.spawn().expect("start query-server");
        let server = QueryServer {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log_path,
        };
        crate::wait_for(
            "query-server to answer /health",
            Duration::from_secs(30),
            || {
                server
                    .get("/health")
                    .ok()
                    .filter(|r| r.status == 200)
                    .map(|_| ())
            },
        );
        server
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    pub fn get(&self, path_and_query: &str) -> Result<HttpResponse, String> {
        self.request("GET", path_and_query, &[], None)
    }

    /// Any method, headers and optional body; never fails on a non-2xx status.
    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<HttpResponse, String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let url = self.url(path_and_query);
        let builder = ureq::http::Request::builder().method(method).uri(&url);
        let builder = headers.iter().fold(builder, |b, (k, v)| b.header(*k, *v));
        let request = builder
            .body(body.unwrap_or_default().as_bytes().to_vec())
            .map_err(|e| e.to_string())?;
        let mut response = agent.run(request).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// SIGTERM, then waits: open requests finish, the process exits (its status is returned).
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut().and_then(|child| {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            child.wait().ok()
        });
        self.child = None;
        status
    }
}

impl Drop for QueryServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- query-server log ---\n{}", self.log());
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A database filled by the real pipeline from four minutes of simulated traffic on three
/// cameras with lanes and congestion episodes (so HIGH/SEVERE windows and alerts exist).
pub fn seeded_database(prefix: &str) -> TestDb {
    let broker = Broker::get();
    let db = TestDb::migrated(prefix);
    let topic = crate::unique_name("api");
    let messages = simulate(sim_config(3, 40.0, 3), recent_start_ms(10), 240_000);
    produce(&broker.brokers, &topic, 3, &messages);
    let detections = valid_detections(&messages);
    let windows = expected_camera_windows(&detections, 5_000).len() as i64;
    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic).start();
    let mut client = db.client();
    crate::wait_for(
        "the pipeline to store everything",
        Duration::from_secs(120),
        || {
            let events = count(&mut client, "SELECT count(*) FROM traffic_events");
            let rows = count(
                &mut client,
                "SELECT count(*) FROM traffic_metrics WHERE lane_id IS NULL",
            );
            (events == detections.len() as i64 && rows == windows).then_some(())
        },
    );
    pipeline.terminate(Duration::from_secs(30));
    db
}

//! The real `query-server` binary on a free port, configured by environment like a deployment.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use serde_json::Value;
use testbed::{http, prom, HttpResponse, Launch, Running};

use super::refusals::{assert_error, Refusal};

pub struct QueryServer {
    process: Running,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub log_path: PathBuf,
    admin_key: Option<String>,
}

impl QueryServer {
    /// Starts the server on a free port; waits until `/health` answers.
    pub fn start(
        database_url: &str,
        admin_key: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> QueryServer {
        let addr = testbed::net::free_loopback_addr().expect("a free loopback port");
        let log_path =
            std::env::temp_dir().join(format!("{}.log", crate::unique_name("query-server")));
        let mut launch = Launch::new(crate::workspace_binary("query-server"))
            .env("QUERY_SERVER_ADDR", addr.to_string())
            .env("DATABASE_URL", database_url)
            .env(
                "KAFKA_BROKERS",
                std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into()),
            )
            .env("RUST_LOG", "info")
            .env_remove("ADMIN_API_KEY")
            .envs(extra_env.iter().copied())
            .log_to(&log_path);
        if let Some(key) = admin_key {
            launch = launch.env("ADMIN_API_KEY", key);
        }
        let mut process = launch.spawn().expect("start query-server");
        let base = format!("http://{addr}");
        testbed::wait_healthy(
            &mut process,
            &format!("{base}/health"),
            Duration::from_secs(30),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        QueryServer {
            process,
            base,
            log_path,
            admin_key: admin_key.map(str::to_owned),
        }
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{}", self.base, path_and_query)
    }

    pub fn get(&self, path_and_query: &str) -> Result<HttpResponse, testbed::Error> {
        http::get(&self.url(path_and_query))
    }

    /// Any method, headers and optional body; never fails on a non-2xx status.
    pub fn request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Result<HttpResponse, testbed::Error> {
        http::request(method, &self.url(path_and_query), headers, body)
    }

    /// The JSON body of a GET that must answer 200.
    pub fn ok(&self, path_and_query: &str) -> Value {
        let response = self.get(path_and_query).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            response.status,
            200,
            "GET {path_and_query}: {}",
            response.text()
        );
        response.json()
    }

    /// An admin request with the key the server was started with, and a JSON body.
    pub fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> HttpResponse {
        let key = self
            .admin_key
            .as_deref()
            .expect("the server was started with an admin key");
        let text = body.map(Value::to_string);
        self.request(
            method,
            path,
            &[("X-Admin-Token", key), ("Content-Type", "application/json")],
            text.as_deref(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Sends every refusal's request, in order, and checks each answer is that refusal.
    pub fn refuses(&self, refusals: &[Refusal<'_>]) {
        for refusal in refusals {
            let response = match &refusal.admin_body {
                Some(body) => self.admin(refusal.method, &refusal.path, Some(body)),
                None => self
                    .request(refusal.method, &refusal.path, &[], None)
                    .unwrap_or_else(|e| panic!("{e}")),
            };
            assert_error(
                &response,
                &refusal.request(),
                refusal.status,
                refusal.mentions,
            );
        }
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        http::get_ok(&self.url("/metrics")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Value of one sample (`name{labels}`, as exposed) of the metrics text.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        prom::value(&self.metrics(), sample)
    }

    /// SIGTERM, then waits: open requests finish, the process exits (its status is returned).
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        self.process.terminate(Duration::from_secs(60)).ok()
    }
}

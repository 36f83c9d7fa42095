//! Every refusal of the API has one shape: the status, and a JSON body
//! `{"status": <the same>, "error": "<a message naming what was wrong>"}`. Tests list the
//! requests that must be refused in tables, so a new validation rule is one more row.

use serde_json::Value;
use testbed::HttpResponse;

/// A request that must be refused with `status` and an error message containing `mentions`.
#[derive(Debug, Clone)]
pub struct Refusal<'a> {
    pub method: &'a str,
    pub path: String,
    /// A JSON body, sent with the server's admin key.
    pub admin_body: Option<Value>,
    pub status: u16,
    pub mentions: &'a str,
}

impl<'a> Refusal<'a> {
    /// A GET without credentials.
    pub fn new(path: impl Into<String>, status: u16, mentions: &'a str) -> Self {
        Refusal {
            method: "GET",
            path: path.into(),
            admin_body: None,
            status,
            mentions,
        }
    }

    /// An admin request with a JSON body, sent with the server's admin key.
    pub fn admin(
        method: &'a str,
        path: impl Into<String>,
        body: Value,
        status: u16,
        mentions: &'a str,
    ) -> Self {
        Refusal {
            method,
            path: path.into(),
            admin_body: Some(body),
            status,
            mentions,
        }
    }

    /// One GET refusal per row of `(path, status, mentions)`.
    pub fn table(rows: &[(&str, u16, &'a str)]) -> Vec<Refusal<'a>> {
        rows.iter()
            .map(|(path, status, mentions)| Refusal::new(*path, *status, mentions))
            .collect()
    }

    /// `METHOD path`, for failure messages.
    pub fn request(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

/// Fails unless `response` is a refusal with `status` whose message mentions `mentions`;
/// `what` names the request in the failure message.
pub fn assert_error(response: &HttpResponse, what: &str, status: u16, mentions: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.text());
    let body = response.json();
    assert_eq!(body["status"].as_u64(), Some(u64::from(status)), "{what}");
    let message = body["error"].as_str().expect("error message");
    assert!(
        message.contains(mentions),
        "{what}: {message:?} should mention {mentions:?}"
    );
}

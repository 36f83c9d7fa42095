//! One way to send an HTTP request, for every test and bench tool that talks to a service: the
//! query server's API, either service's `/health` and `/metrics`. A non-2xx status is an answer,
//! not an error; an error is a request that got no answer.

use std::time::Duration;

use crate::Error;

/// Longest a request may take, connection to last byte.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Largest body read (CSV exports and PDF reports are large).
const BODY_LIMIT: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON. Panics with the body when it is not: an assertion for tests.
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

/// Sends `method url` with `headers` and an optional body; gzip answers are decoded.
pub fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<HttpResponse, Error> {
    let failed = |reason: String| Error::Http {
        method: method.to_owned(),
        url: url.to_owned(),
        reason,
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into();
    let builder = ureq::http::Request::builder().method(method).uri(url);
    let builder = headers.iter().fold(builder, |b, (k, v)| b.header(*k, *v));
    let request = builder
        .body(body.unwrap_or_default().as_bytes().to_vec())
        .map_err(|e| failed(e.to_string()))?;
    let mut response = agent.run(request).map_err(|e| failed(e.to_string()))?;
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
        .limit(BODY_LIMIT)
        .read_to_vec()
        .map_err(|e| failed(e.to_string()))?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

pub fn get(url: &str) -> Result<HttpResponse, Error> {
    request("GET", url, &[], None)
}

/// The body of a GET that answered 200; any other status is an error naming it.
pub fn get_ok(url: &str) -> Result<String, Error> {
    let response = get(url)?;
    if response.status == 200 {
        Ok(response.text())
    } else {
        Err(Error::Http {
            method: "GET".into(),
            url: url.to_owned(),
            reason: format!("answered {}: {}", response.status, response.text()),
        })
    }
}

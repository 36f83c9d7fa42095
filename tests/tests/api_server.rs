//! What every route shares, checked on the wire: JSON errors for unknown paths and methods,
//! CORS (preflight and allowed origins), gzip, request ids, body limits, HEAD, and the
//! Prometheus metrics labelled by route template.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use e2e_tests::api::QueryServer;
use e2e_tests::db::TestDb;

/// One raw HTTP/1.1 exchange (`Connection: close`), so headers such as Content-Encoding are seen
/// exactly as sent.
fn raw(server: &QueryServer, request: &str) -> (String, Vec<u8>) {
    let addr = server.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&response[..split]).to_lowercase();
    (head, response[split + 4..].to_vec())
}

#[test]
fn shared_http_behaviour() {
    let db = TestDb::migrated("b2_api_server");
    let server = QueryServer::start(
        &db.url,
        Some("k"),
        &[("CORS_ALLOWED_ORIGINS", "http://dashboard.local")],
    );

    let missing = server.get("/no/such/route").expect("404");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["status"], 404);
    assert!(missing.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("/no/such/route")));

    let wrong_method = server
        .request("DELETE", "/cameras", &[], None)
        .expect("405");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("GET"));
    assert_eq!(wrong_method.json()["status"], 405);

    // Preflight from the allowed origin, and the origin echoed on the real request.
    let preflight = server
        .request(
            "OPTIONS",
            "/api/admin/thresholds",
            &[
                ("Origin", "http://dashboard.local"),
                ("Access-Control-Request-Method", "PUT"),
                (
                    "Access-Control-Request-Headers",
                    "x-admin-token, content-type",
                ),
            ],
            None,
        )
        .expect("preflight");
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("http://dashboard.local")
    );
    assert!(preflight
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("PUT")));
    let allowed = server
        .request(
            "GET",
            "/cameras",
            &[("Origin", "http://dashboard.local")],
            None,
        )
        .expect("cors get");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("http://dashboard.local")
    );
    let other = server
        .request(
            "GET",
            "/cameras",
            &[("Origin", "http://elsewhere.example")],
            None,
        )
        .expect("cors other");
    assert_eq!(other.header("access-control-allow-origin"), None);

    // Request ids: echoed when sent, made up when not.
    let echoed = server
        .request("GET", "/health", &[("X-Request-Id", "trace-123")], None)
        .expect("health");
    assert_eq!(echoed.header("x-request-id"), Some("trace-123"));
    assert!(server
        .get("/health")
        .expect("health")
        .header("x-request-id")
        .is_some());
    assert!(server.log().contains("request_id=trace-123"));

    // gzip for a large JSON body when accepted, plain otherwise.
    let (head, body) = raw(
        &server,
        "GET /openapi.json HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert!(head.contains("content-encoding: gzip"), "{head}");
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut decoded)
        .expect("valid gzip");
    assert!(serde_json::from_str::<serde_json::Value>(&decoded).is_ok());
    let (plain_head, _) = raw(
        &server,
        "GET /openapi.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(!plain_head.contains("content-encoding"));

    // HEAD: headers only.
    let (head_only, head_body) = raw(
        &server,
        "HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(head_only.starts_with("http/1.1 200"));
    assert!(head_body.is_empty());

    // Bodies above the limit are refused with 413, not read.
    let big = "x".repeat(70_000);
    let too_large = server
        .request(
            "PUT",
            "/api/admin/thresholds",
            &[("X-Admin-Token", "k"), ("Content-Type", "application/json")],
            Some(&big),
        )
        .expect("413");
    assert_eq!(too_large.status, 413);

    // Garbage on the wire is answered with 400 and the server keeps serving.
    let (garbage, _) = raw(&server, "\x16\x03\x01 not http at all\r\n\r\n");
    assert!(garbage.starts_with("http/1.1 400"), "{garbage}");
    assert_eq!(server.get("/health").expect("still up").status, 200);

    // Metrics are labelled by route template, not raw path.
    server.get("/metrics/history?camera_id=x").expect("history");
    let metrics = server.metrics();
    assert!(
        metrics.contains(
            r#"b2_api_requests_total{method="GET",route="/metrics/history",status="404"}"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains("b2_api_request_latency_seconds_bucket"));
    assert!(!metrics.contains("camera_id=x"));

    // SIGTERM: drains, stops, exits 0.
    let mut server = server;
    let status = server.terminate().expect("exit status");
    assert!(status.success(), "{status:?}\n{}", server.log());
    let log = server.log();
    assert!(log.contains("query_server_stopped"));
    assert!(!log.contains("panicked"), "{log}");
}

//! WebSocket channels without the pipeline: refusals, broadcasts through two query-server
//! processes, a slow client dropped while a fast one keeps up, and close on shutdown.

use std::time::Duration;

use e2e_tests::api::QueryServer;
use e2e_tests::db::TestDb;
use e2e_tests::ws::{ws_url, Frame, WsClient};

const KEY: &str = "ws-test-key";

fn broadcast(server: &QueryServer, message: &str) {
    let body = serde_json::json!({"message": message, "level": "info"});
    let response = server.admin("POST", "/api/admin/notifications/broadcast", Some(&body));
    assert_eq!(response.status, 202, "{}", response.text());
}

fn snapshot(client: &WsClient) -> serde_json::Value {
    match client.next(Duration::from_secs(10)) {
        Some(Frame::Json(v)) if v["type"] == "snapshot" => v,
        other => panic!("expected a snapshot first, got {other:?}"),
    }
}

#[test]
fn bad_requests_are_refused_with_a_reason() {
    let db = TestDb::migrated("b2_ws_refuse");
    let server = QueryServer::start(&db.url, Some(KEY), &[]);

    let plain = server.get("/ws/events").expect("plain GET");
    assert_eq!(plain.status, 426, "{}", plain.text());
    assert!(plain.json()["error"]
        .as_str()
        .unwrap_or_default()
        .contains("WebSocket"));

    for (path, expected) in [
        ("/ws/events?types=new_alert,bogus_type", "bogus_type"),
        ("/ws/events?types=,", "types is empty"),
        ("/ws/metrics?role=admin", "viewer, operator"),
        ("/ws/metrics/lanes?types=new_alert", "/ws/events only"),
        ("/ws/events?role=operator", "role applies"),
    ] {
        let client = WsClient::connect(&ws_url(&server, path)).expect("upgrade");
        match client.next(Duration::from_secs(10)) {
            Some(Frame::Closed(Some((1008, reason)))) => {
                assert!(reason.contains(expected), "{path}: reason {reason:?}")
            }
            other => panic!("{path}: expected close 1008, got {other:?}"),
        }
    }
    // Still serving after all that.
    let client =
        WsClient::connect(&ws_url(&server, "/ws/events?types=admin_broadcast")).expect("ok");
    assert_eq!(snapshot(&client)["data"]["channel"], "/ws/events");
    assert_eq!(
        server.metric("b2_ws_closed_by_server_total{reason=\"refused\"}"),
        Some(5.0),
        "{}",
        server.metrics()
    );
}

#[test]
fn broadcasts_reach_clients_of_every_replica_and_shutdown_closes_sessions() {
    let db = TestDb::migrated("b2_ws_broadcast");
    let mut first = QueryServer::start(&db.url, Some(KEY), &[]);
    let second = QueryServer::start(&db.url, Some(KEY), &[]);
    let on_first =
        WsClient::connect(&ws_url(&first, "/ws/events?types=admin_broadcast")).expect("a");
    let on_second = WsClient::connect(&ws_url(&second, "/ws/events")).expect("b");
    let viewer = WsClient::connect(&ws_url(&second, "/ws/metrics?camera_id=cam_01")).expect("c");
    let lanes = WsClient::connect(&ws_url(&first, "/ws/metrics/lanes")).expect("d");
    for client in [&on_first, &on_second, &viewer, &lanes] {
        snapshot(client);
    }

    broadcast(&first, "road works on segment 4 tonight");
    for (name, client) in [
        ("first", &on_first),
        ("second", &on_second),
        ("viewer", &viewer),
        ("lanes", &lanes),
    ] {
        let got = client
            .next_of("admin_broadcast", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("{name}: no admin_broadcast"));
        assert_eq!(
            got["data"]["message"], "road works on segment 4 tonight",
            "{name}"
        );
        assert_eq!(got["data"]["level"], "info");
        assert!(got["ts"].is_string());
    }

    // SIGTERM: sessions are closed with 1001 and the process exits cleanly.
    let status = first.terminate().expect("exit status");
    assert!(status.success(), "{status:?}\n{}", first.log());
    for client in [&on_first, &lanes] {
        let (_, end) = client.until_closed(Duration::from_secs(10));
        match end {
            Some(Frame::Closed(Some((1001, reason)))) => assert!(reason.contains("shutting down")),
            other => panic!("expected close 1001, got {other:?}"),
        }
    }
    // The other replica keeps serving its clients.
    broadcast(&second, "second replica still here");
    assert!(on_second
        .next_of("admin_broadcast", Duration::from_secs(10))
        .is_some());
}

#[test]
fn a_slow_client_is_dropped_while_a_fast_one_keeps_receiving() {
    let db = TestDb::migrated("b2_ws_slow");
    let server = QueryServer::start(
        &db.url,
        Some(KEY),
        &[
            ("QUERY_SERVER_WS_BACKLOG", "16"),
            ("QUERY_SERVER_WS_SEND_TIMEOUT_MS", "2000"),
        ],
    );
    let url = ws_url(&server, "/ws/events?types=admin_broadcast");
    let fast = WsClient::connect(&url).expect("fast");
    let (slow, start_reading) = WsClient::connect_stalled(&url, 4096).expect("slow");
    snapshot(&fast);

    // About 4 MB in all: more than the kernel buffers between the server and a client that
    // does not read.
    let filler = "x".repeat(1900);
    let total = 2000;
    for i in 0..total {
        broadcast(&server, &format!("{i:05} {filler}"));
    }
    let mut received = 0;
    while received < total {
        let got = fast
            .next_of("admin_broadcast", Duration::from_secs(20))
            .unwrap_or_else(|| panic!("fast client stalled after {received} of {total}"));
        let text = got["data"]["message"].as_str().unwrap_or_default();
        assert!(
            text.starts_with(&format!("{received:05} ")),
            "out of order at {received}"
        );
        received += 1;
    }

    let _ = start_reading.send(());
    let (frames, end) = slow.until_closed(Duration::from_secs(30));
    let delivered = frames
        .iter()
        .filter(|f| f["type"] == "admin_broadcast")
        .count();
    assert!(
        delivered < total,
        "the slow client got everything ({delivered})"
    );
    match end {
        Some(Frame::Closed(Some((1013, reason)))) => assert!(reason.contains("too slow")),
        Some(Frame::Closed(None)) => {}
        other => panic!("the slow client was not dropped: {other:?}"),
    }
    let closed = |reason: &str| {
        server.metric(&format!(
            "b2_ws_closed_by_server_total{{reason=\"{reason}\"}}"
        ))
    };
    assert!(
        closed("slow") == Some(1.0) || closed("send_timeout") == Some(1.0),
        "{}",
        server.metrics()
    );
    // The fast client is still connected and served.
    broadcast(&server, "after the drop");
    assert!(fast
        .next_of("admin_broadcast", Duration::from_secs(10))
        .is_some());
}

#[test]
fn a_client_that_never_answers_pings_is_dropped() {
    let db = TestDb::migrated("b2_ws_ping");
    let server = QueryServer::start(&db.url, Some(KEY), &[("QUERY_SERVER_WS_PING_MS", "300")]);
    let url = ws_url(&server, "/ws/events?types=admin_broadcast");
    let answering = WsClient::connect(&url).expect("answering");
    let (silent, start_reading) = WsClient::connect_stalled(&url, 64 * 1024).expect("silent");
    snapshot(&answering);
    std::thread::sleep(Duration::from_millis(2000));
    let _ = start_reading.send(());
    let (_, end) = silent.until_closed(Duration::from_secs(10));
    match end {
        Some(Frame::Closed(Some((1001, reason)))) => assert!(reason.contains("pong"), "{reason}"),
        other => panic!("the silent client was not dropped: {other:?}"),
    }
    // The client that reads (and so answers pings) is still served.
    broadcast(&server, "still here");
    assert!(answering
        .next_of("admin_broadcast", Duration::from_secs(10))
        .is_some());
    assert_eq!(
        server.metric("b2_ws_closed_by_server_total{reason=\"no_pong\"}"),
        Some(1.0),
        "{}",
        server.metrics()
    );
}

#[test]
fn garbage_after_the_upgrade_ends_only_that_session() {
    use std::io::{Read, Write};

    let db = TestDb::migrated("b2_ws_garbage");
    let server = QueryServer::start(&db.url, Some(KEY), &[]);
    let url = ws_url(&server, "/ws/events?types=admin_broadcast");
    let healthy = WsClient::connect(&url).expect("healthy");
    snapshot(&healthy);

    let authority = server.base.trim_start_matches("http://").to_owned();
    let garbage: [&[u8]; 2] = [
        // Not WebSocket framing at all.
        b"\x00\xffthis is not a frame\r\n\r\n\x13\x37",
        // A masked text frame announcing 1 MiB: above the server's 64 KiB limit.
        &[
            0x81, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 1, 2, 3, 4, b'x', b'y',
        ],
    ];
    for bytes in garbage {
        let mut stream = std::net::TcpStream::connect(&authority).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(
            stream,
            "GET /ws/events HTTP/1.1\r\nHost: {authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .expect("handshake");
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).expect("response");
        assert_eq!(&head, b"HTTP/1.1 101");
        stream.write_all(bytes).expect("garbage");
        // The server ends the session: the read reaches the end of the stream (after any
        // snapshot or close frame), instead of timing out.
        let mut rest = Vec::new();
        let ended = stream.read_to_end(&mut rest);
        assert!(
            ended.is_ok()
                || matches!(&ended, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "the session was not ended: {ended:?}"
        );
    }

    // Everyone else is still served.
    broadcast(&server, "after the garbage");
    assert!(healthy
        .next_of("admin_broadcast", Duration::from_secs(10))
        .is_some());
    assert_eq!(server.get("/health").expect("health").status, 200);
}

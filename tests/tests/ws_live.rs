//! The WebSocket channels against the real pipeline: every committed window reaches the clients
//! that asked for it, exactly once, also across kills of the server's LISTEN connection.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use e2e_tests::api::QueryServer;
use e2e_tests::db::{active_alert_ids, column, count, TestDb};
use e2e_tests::process::PipelineSpec;
use e2e_tests::services::Broker;
use e2e_tests::traffic::{
    closable_camera_windows, produce, recent_start_ms, sim_config, simulate, valid_detections,
    with_closing_sentinels,
};
use e2e_tests::wait_for;
use e2e_tests::ws::{ws_url, Frame, PythonClient, WsClient};
use serde_json::Value;

const LISTEN_APPLICATION: &str = "query-server live";

/// Collects a client's frames as they come.
struct Recorder {
    client: WsClient,
    frames: Vec<Value>,
}

impl Recorder {
    fn connect(server: &QueryServer, path: &str) -> Recorder {
        let client = WsClient::connect(&ws_url(server, path)).expect("connect");
        let first = client.next(Duration::from_secs(10));
        match &first {
            Some(Frame::Json(v)) if v["type"] == "snapshot" => {}
            other => panic!("{path}: expected a snapshot first, got {other:?}"),
        }
        Recorder {
            client,
            frames: Vec::new(),
        }
    }

    fn poll(&mut self) -> &[Value] {
        for frame in self.client.drain() {
            match frame {
                Frame::Json(v) => self.frames.push(v),
                Frame::Closed(c) => panic!("session closed early: {c:?}"),
            }
        }
        &self.frames
    }

    fn of(&mut self, kind: &str) -> Vec<Value> {
        self.poll()
            .iter()
            .filter(|f| f["type"] == kind)
            .cloned()
            .collect()
    }
}

fn key(row: &Value) -> (String, String) {
    (
        row["camera_id"].as_str().unwrap_or_default().to_owned(),
        row["window_start"].as_str().unwrap_or_default().to_owned(),
    )
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Camera-wide rows in the database: (camera, window start) -> (vehicles, level).
fn stored_windows(client: &mut postgres::Client) -> BTreeMap<(String, String), (i32, String)> {
    client
        .query(
            "SELECT camera_id, window_start, vehicle_count, congestion_level FROM traffic_metrics
             WHERE lane_id IS NULL",
            &[],
        )
        .expect("windows")
        .iter()
        .map(|r| ((r.get(0), rfc3339(r.get(1))), (r.get(2), r.get(3))))
        .collect()
}

/// Lane rows per camera window: (camera, window start) -> [(lane, vehicles)].
fn stored_lanes(client: &mut postgres::Client) -> BTreeMap<(String, String), Vec<(String, i32)>> {
    let mut out: BTreeMap<(String, String), Vec<(String, i32)>> = BTreeMap::new();
    for r in client
        .query(
            "SELECT camera_id, window_start, lane_id, vehicle_count FROM traffic_metrics
             WHERE lane_id IS NOT NULL ORDER BY length(lane_id), lane_id",
            &[],
        )
        .expect("lanes")
    {
        out.entry((r.get(0), rfc3339(r.get(1))))
            .or_default()
            .push((r.get(2), r.get(3)));
    }
    out
}

fn lanes_of(update_lanes: &Value) -> Vec<(String, i32)> {
    update_lanes
        .as_array()
        .map(|lanes| {
            lanes
                .iter()
                .map(|l| {
                    (
                        l["lane_id"].as_str().unwrap_or_default().to_owned(),
                        l["vehicle_count"].as_i64().unwrap_or(-1) as i32,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Kills the server's LISTEN connection and, before it is back, commits a window of a camera
/// of its own (announced to nobody): only the re-read after reconnecting can find it.
fn kill_listener_and_commit(client: &mut postgres::Client, n: i64) {
    let killed_at: DateTime<Utc> = client
        .query_one("SELECT clock_timestamp()", &[])
        .expect("clock")
        .get(0);
    let killed = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND application_name = $1",
            &[&LISTEN_APPLICATION],
        )
        .expect("terminate")
        .get::<_, i64>(0);
    assert_eq!(killed, 1, "the LISTEN connection was not found");
    client
        .execute(
            "INSERT INTO traffic_metrics (camera_id, lane_id, window_start, window_end, vehicle_count,
                 event_count, speed_source, congestion_score, congestion_level)
             SELECT 'cam_gap', lane, w, w + interval '5 seconds', 2, 20, 'none', 0.1, 'LOW'
             FROM (SELECT date_trunc('minute', now()) - interval '30 minutes'
                          + make_interval(secs => 5 * $1::int) AS w) t,
                  (VALUES (NULL::text), ('1')) AS l(lane)",
            &[&(n as i32)],
        )
        .expect("gap window");
    wait_for("the listener to reconnect", Duration::from_secs(15), || {
        let back: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND backend_start > $2",
                &[&LISTEN_APPLICATION, &killed_at],
            )
            .expect("activity")
            .get(0);
        (back == 1).then_some(())
    });
}

#[test]
fn committed_windows_and_alerts_reach_every_client_once() {
    let broker = Broker::get();
    let db = TestDb::migrated("b2_ws_live");
    let mut sql = db.client();
    let topic = e2e_tests::unique_name("ws");
    let server = QueryServer::start(&db.url, None, &[("QUERY_SERVER_WS_HEATMAP_MS", "1000")]);

    let mut events = Recorder::connect(&server, "/ws/events");
    let mut camera = Recorder::connect(&server, "/ws/metrics?camera_id=cam_02");
    let mut lanes = Recorder::connect(&server, "/ws/metrics/lanes?camera_id=cam_02");
    let mut operator = Recorder::connect(&server, "/ws/metrics?role=operator");
    let mut alerts_a = Recorder::connect(&server, "/ws/events?types=new_alert");
    let mut alerts_b = Recorder::connect(&server, "/ws/events?types=new_alert,alert_resolved");
    let mut python = PythonClient::start(&ws_url(
        &server,
        "/ws/events?types=traffic_metrics_update,new_alert",
    ));

    wait_for(
        "the Python client's snapshot",
        Duration::from_secs(20),
        || (!python.lines().is_empty()).then_some(()),
    );

    // Four minutes of traffic with congestion episodes, ending two minutes ago.
    let messages = with_closing_sentinels(simulate(
        sim_config(3, 40.0, 3),
        recent_start_ms(6),
        240_000,
    ));
    let detections = valid_detections(&messages);
    let closable = closable_camera_windows(&detections, 5_000) as i64;
    let (first_half, second_half) = messages.split_at(messages.len() / 2);
    produce(&broker.brokers, &topic, 3, first_half);
    let mut pipeline = PipelineSpec::new(&db.url, &broker.brokers, &topic).start();
    wait_for("the first windows", Duration::from_secs(60), || {
        (count(
            &mut sql,
            "SELECT count(*) FROM traffic_metrics WHERE lane_id IS NULL",
        ) >= 20)
            .then_some(())
    });
    sql.execute(
        "SELECT b2_ensure_day_partition('traffic_metrics', (now() - interval '30 minutes')::date)",
        &[],
    )
    .expect("partition");
    for n in 0..3 {
        kill_listener_and_commit(&mut sql, n);
    }
    produce(&broker.brokers, &topic, 3, second_half);
    wait_for(
        "the pipeline to close every window",
        Duration::from_secs(120),
        || {
            (count(
            &mut sql,
            "SELECT count(*) FROM traffic_metrics WHERE lane_id IS NULL AND camera_id <> 'cam_gap'",
        ) >= closable)
            .then_some(())
        },
    );
    pipeline.terminate(Duration::from_secs(30));

    let windows = stored_windows(&mut sql);
    let lane_rows = stored_lanes(&mut sql);
    let opened: BTreeSet<i64> = column(&mut sql, "SELECT alert_id FROM alerts", &[]);
    assert!(!opened.is_empty(), "the traffic opened no alert");

    // /ws/events: every committed window exactly once, with its lanes.
    let updates = wait_for(
        "every window on /ws/events",
        Duration::from_secs(30),
        || {
            let u = events.of("traffic_metrics_update");
            (u.len() >= windows.len()).then_some(u)
        },
    );
    let received: Vec<(String, String)> = updates.iter().map(|u| key(&u["data"])).collect();
    let unique: BTreeSet<_> = received.iter().cloned().collect();
    assert_eq!(received.len(), unique.len(), "a window was delivered twice");
    let stored: BTreeSet<_> = windows.keys().cloned().collect();
    assert_eq!(
        unique, stored,
        "delivered windows differ from the committed ones"
    );
    for u in &updates {
        let k = key(&u["data"]);
        assert_eq!(
            lanes_of(&u["data"]["lanes"]),
            lane_rows.get(&k).cloned().unwrap_or_default(),
            "lanes of {k:?}"
        );
        let (vehicles, level) = &windows[&k];
        assert_eq!(u["data"]["vehicle_count"], *vehicles);
        assert_eq!(u["data"]["congestion_level"], level.as_str());
    }
    for n in 0..3 {
        assert!(
            unique.iter().any(|(c, _)| c == "cam_gap"),
            "gap window {n} committed while disconnected was not delivered"
        );
    }
    assert_eq!(unique.iter().filter(|(c, _)| c == "cam_gap").count(), 3);
    assert_eq!(
        server.metric("b2_live_listen_disconnects_total"),
        Some(3.0),
        "{}",
        server.metrics()
    );

    // /ws/metrics?camera_id=cam_02: that camera's camera-wide rows only.
    let cam_updates = camera.of("traffic_metrics_update");
    let cam_keys: BTreeSet<_> = cam_updates.iter().map(|u| key(&u["data"])).collect();
    let cam_stored: BTreeSet<_> = stored
        .iter()
        .filter(|(c, _)| c == "cam_02")
        .cloned()
        .collect();
    assert!(!cam_stored.is_empty());
    assert_eq!(cam_keys, cam_stored);
    assert_eq!(cam_updates.len(), cam_keys.len());
    assert!(cam_updates.iter().all(|u| u["data"]["lane_id"].is_null()));
    assert!(camera.of("new_alert").is_empty(), "a viewer got alerts");

    // /ws/metrics/lanes?camera_id=cam_02: the lane rows of each window.
    let lane_updates = lanes.of("lane_metrics_update");
    assert_eq!(lane_updates.len(), cam_stored.len());
    for u in &lane_updates {
        let k = key(&u["data"]);
        assert_eq!(k.0, "cam_02");
        assert_eq!(lanes_of(&u["data"]["lanes"]), lane_rows[&k], "{k:?}");
    }

    // new_alert on every client that asked for alerts, once per alert.
    for (name, recorder) in [
        ("events", &mut events),
        ("operator", &mut operator),
        ("alerts_a", &mut alerts_a),
        ("alerts_b", &mut alerts_b),
    ] {
        let got: Vec<i64> = recorder
            .of("new_alert")
            .iter()
            .filter_map(|a| a["data"]["alert_id"].as_i64())
            .collect();
        let set: BTreeSet<i64> = got.iter().copied().collect();
        assert_eq!(set, opened, "{name}: new_alert ids");
        assert_eq!(got.len(), set.len(), "{name}: an alert announced twice");
    }
    assert!(
        alerts_a.of("traffic_metrics_update").is_empty(),
        "types filter"
    );

    // heatmap_update: periodic, from the live state.
    let heatmap = events.of("heatmap_update");
    assert!(!heatmap.is_empty(), "no heatmap_update");
    assert!(heatmap.iter().any(|h| h["data"]["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["camera_id"] == "cam_02"))));

    // A client that connects now starts from the current state.
    let late = WsClient::connect(&ws_url(&server, "/ws/metrics?camera_id=cam_02")).expect("late");
    let Some(Frame::Json(snapshot)) = late.next(Duration::from_secs(10)) else {
        panic!("no snapshot")
    };
    let latest = cam_stored.iter().map(|(_, s)| s.clone()).max();
    assert_eq!(snapshot["type"], "snapshot");
    assert_eq!(
        snapshot["data"]["metrics"][0]["window_start"]
            .as_str()
            .map(str::to_owned),
        latest
    );

    // The REST routes served from the live state agree with the database.
    let active = active_alert_ids(&mut sql);
    let current = server
        .get("/api/alerts/current?limit=1000")
        .expect("alerts")
        .json();
    let shown: Vec<i64> = current["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|a| a["alert_id"].as_i64())
        .collect();
    assert_eq!(shown, active);
    let congestion = server
        .get("/congestion/current")
        .expect("congestion")
        .json();
    for item in congestion["items"].as_array().expect("items") {
        let k = key(item);
        let latest = windows
            .keys()
            .filter(|(c, _)| *c == k.0)
            .map(|(_, s)| s.clone())
            .max();
        assert_eq!(Some(k.1.clone()), latest, "{k:?}");
        assert_eq!(item["congestion_level"], windows[&k].1.as_str());
    }
    // An acknowledgement shows at once on this replica and reaches the live clients. (The
    // simulated traffic is deterministic and ends inside a congestion episode.)
    assert!(
        !active.is_empty(),
        "no alert is active at the end of the traffic"
    );
    {
        let alert_id = &active[0];
        let ack = server
            .request(
                "POST",
                &format!("/api/alerts/{alert_id}/acknowledge"),
                &[("Content-Type", "application/json")],
                Some(r#"{"admin_id":"ops-7"}"#),
            )
            .expect("ack");
        assert_eq!(ack.status, 200, "{}", ack.text());
        let current = server
            .get("/api/alerts/current?limit=1000")
            .expect("alerts")
            .json();
        let acked = current["items"]
            .as_array()
            .and_then(|items| items.iter().find(|a| a["alert_id"] == *alert_id))
            .cloned()
            .expect("still active");
        assert_eq!(acked["acknowledged_by"], "ops-7");
        let event = events
            .client
            .next_of("alert_acknowledged", Duration::from_secs(10))
            .expect("alert_acknowledged on /ws/events");
        assert_eq!(event["data"]["alert_id"], *alert_id);
        assert!(
            events
                .client
                .next_of("alert_acknowledged", Duration::from_secs(2))
                .is_none(),
            "the NOTIFY of the acknowledgement was delivered again"
        );
    }

    // The Python client saw the same windows and alerts, then the shutdown's close code.
    let mut server = server;
    assert!(server.terminate().is_some_and(|s| s.success()));
    assert!(
        python.wait(Duration::from_secs(15)).is_some(),
        "python client still running"
    );
    let lines = python.lines();
    let last = lines.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with("CLOSED 1001"),
        "python client ended with {last:?}"
    );
    let frames: Vec<Value> = lines
        .iter()
        .filter(|l| !l.starts_with("CLOSED"))
        .map(|l| serde_json::from_str(l).expect("python client printed JSON"))
        .collect();
    assert_eq!(frames[0]["type"], "snapshot");
    let py_windows: BTreeSet<_> = frames
        .iter()
        .filter(|f| f["type"] == "traffic_metrics_update")
        .map(|f| key(&f["data"]))
        .collect();
    assert_eq!(py_windows, stored);
    let py_alerts: BTreeSet<i64> = frames
        .iter()
        .filter(|f| f["type"] == "new_alert")
        .filter_map(|f| f["data"]["alert_id"].as_i64())
        .collect();
    assert_eq!(py_alerts, opened);
}

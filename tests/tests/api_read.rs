//! The read routes of the query server (cameras, metrics, congestion, dashboard, map) against a
//! database filled by the real pipeline, every answer checked against SQL computed here.

use chrono::{DateTime, Utc};
use postgres::Client;
use serde_json::Value;

use e2e_tests::api::{seeded_database, QueryServer, Refusal};
use e2e_tests::db::{column, count, TestDb};

const LEVELS: [&str; 4] = ["LOW", "MODERATE", "HIGH", "SEVERE"];

/// A 200 JSON answer whose timestamps are all UTC with a `Z` suffix.
fn ok(server: &QueryServer, path: &str) -> Value {
    let body = server.ok(path);
    assert_utc_z(&body, path);
    body
}

/// Every string that is a timestamp is UTC with a `Z` suffix.
fn assert_utc_z(value: &Value, context: &str) {
    match value {
        Value::String(s) if DateTime::parse_from_rfc3339(s).is_ok() => {
            assert!(
                s.ends_with('Z'),
                "{context}: timestamp {s} does not end with Z"
            );
        }
        Value::Array(items) => items.iter().for_each(|v| assert_utc_z(v, context)),
        Value::Object(map) => map.values().for_each(|v| assert_utc_z(v, context)),
        _ => {}
    }
}

fn ts(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("timestamp string"))
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items array")
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The latest camera-wide window of every camera: (camera_id, window_start, level, score, vehicles).
fn latest_windows(client: &mut Client) -> Vec<(String, DateTime<Utc>, String, f64, i32)> {
    client
        .query(
            "SELECT DISTINCT ON (camera_id) camera_id, window_start, congestion_level, congestion_score, vehicle_count
             FROM traffic_metrics WHERE lane_id IS NULL
             ORDER BY camera_id, window_start DESC",
            &[],
        )
        .expect("latest windows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect()
}

#[test]
fn read_routes_match_sql() {
    let db = seeded_database("b2_api_read");
    let mut client = db.client();
    // Map data, one camera seen just now (active) and one known camera with no metrics at all.
    client
        .batch_execute(
            "UPDATE cameras SET latitude = 52.0 + length(camera_id) / 100.0, longitude = 4.5,
                 road_segment = 'A' || camera_id, location = 'km ' || camera_id;
             UPDATE cameras SET last_seen_at = now() WHERE camera_id = 'cam_01';
             INSERT INTO cameras (camera_id, name) VALUES ('cam_idle', 'Idle camera');
             SELECT b2_ensure_day_partition('traffic_events', (now() AT TIME ZONE 'UTC')::date);
             INSERT INTO traffic_events (camera_id, ts, frame_id, vehicle_id, class, confidence,
                 bbox_x, bbox_y, bbox_w, bbox_h, lane_id, speed_kmh, estimated_speed_kmh,
                 kafka_partition, kafka_offset)
             VALUES ('cam_03', now(), 999999, 'fresh-1', 'truck', 0.8, 1, 2, 3, 4, '2', 55.5, 54.0, 0, 999999);",
        )
        .expect("prepare data");
    let server = QueryServer::start(&db.url, Some("test-key"), &[]);
    let latest = latest_windows(&mut client);
    assert_eq!(latest.len(), 3, "three cameras with metrics");

    // GET /cameras: every camera, sorted, with its latest window or null.
    let cameras = ok(&server, "/cameras");
    let listed = items(&cameras);
    let ids: Vec<&str> = listed
        .iter()
        .map(|c| c["camera_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["cam_01", "cam_02", "cam_03", "cam_idle"]);
    assert_eq!(cameras["count"], 4);
    assert_eq!(cameras["limit"], 1000);
    assert!(cameras["next_offset"].is_null());
    for camera in listed {
        let id = camera["camera_id"].as_str().expect("id");
        assert_eq!(camera["active"], id == "cam_01", "{id} active flag");
        if id == "cam_idle" {
            assert!(camera["latest"].is_null());
            assert_eq!(camera["name"], "Idle camera");
            continue;
        }
        let (_, start, level, score, vehicles) = latest.iter().find(|l| l.0 == id).expect("latest");
        assert_eq!(ts(&camera["latest"]["window_start"]), *start, "{id}");
        assert_eq!(camera["latest"]["congestion_level"], level.as_str());
        assert!(close(
            camera["latest"]["congestion_score"]
                .as_f64()
                .expect("score"),
            *score
        ));
        assert_eq!(camera["latest"]["vehicle_count"], *vehicles);
        assert_eq!(camera["road_segment"], format!("A{id}"));
        assert!(camera["latitude"].as_f64().is_some() && camera["longitude"].as_f64().is_some());
        assert!(camera["last_seen_at"].is_string());
    }
    let paged = ok(&server, "/cameras?limit=2&offset=1");
    assert_eq!(paged["count"], 2);
    assert_eq!(paged["next_offset"], 3);
    assert_eq!(items(&paged)[0]["camera_id"], "cam_02");

    // GET /metrics/current: the max(window_start) row and its lanes.
    for (id, start, level, score, vehicles) in &latest {
        let current = ok(&server, &format!("/metrics/current?camera_id={id}"));
        assert_eq!(ts(&current["window_start"]), *start, "{id}");
        assert!(current["lane_id"].is_null());
        assert_eq!(current["congestion_level"], level.as_str());
        assert!(close(
            current["congestion_score"].as_f64().expect("score"),
            *score
        ));
        assert_eq!(current["vehicle_count"], *vehicles);
        let expected_lanes: Vec<String> = column(
            &mut client,
            "SELECT lane_id FROM traffic_metrics WHERE camera_id = $1 AND window_start = $2
                 AND lane_id IS NOT NULL ORDER BY lane_id",
            &[id, start],
        );
        let lanes = current["lanes"].as_array().expect("lanes");
        let lane_ids: Vec<&str> = lanes
            .iter()
            .map(|l| l["lane_id"].as_str().expect("lane"))
            .collect();
        assert_eq!(lane_ids, expected_lanes, "{id} lanes");
        assert!(lanes.iter().all(|l| ts(&l["window_start"]) == *start));
    }
    server.refuses(&Refusal::table(&[(
        "/metrics/current?camera_id=cam_idle",
        404,
        "no metrics",
    )]));

    // GET /metrics/history: count and order match SQL over an explicit range.
    let (first, last): (DateTime<Utc>, DateTime<Utc>) = {
        let row = client
            .query_one(
                "SELECT min(window_start), max(window_start) FROM traffic_metrics
                 WHERE camera_id = 'cam_01' AND lane_id IS NULL",
                &[],
            )
            .expect("range");
        (row.get(0), row.get(1))
    };
    let from = first + chrono::Duration::seconds(30);
    let to = last - chrono::Duration::seconds(30);
    let expected: Vec<DateTime<Utc>> = column(
        &mut client,
        "SELECT window_start FROM traffic_metrics WHERE camera_id = 'cam_01' AND lane_id IS NULL
             AND window_start >= $1 AND window_start < $2 ORDER BY window_start",
        &[&from, &to],
    );
    assert!(expected.len() > 10);
    let iso = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let range = format!("camera_id=cam_01&from={}&to={}", iso(from), iso(to));
    let history = ok(&server, &format!("/metrics/history?{range}"));
    let got: Vec<DateTime<Utc>> = items(&history)
        .iter()
        .map(|m| ts(&m["window_start"]))
        .collect();
    assert_eq!(got, expected);
    assert!(history["next_offset"].is_null());
    assert!(items(&history)
        .iter()
        .all(|m| m["lane_id"].is_null() && m["camera_id"] == "cam_01"));
    let page = ok(
        &server,
        &format!("/metrics/history?{range}&limit=5&offset=5"),
    );
    let got: Vec<DateTime<Utc>> = items(&page)
        .iter()
        .map(|m| ts(&m["window_start"]))
        .collect();
    assert_eq!(got, expected[5..10]);
    assert_eq!(page["next_offset"], 10);
    let lane = ok(&server, &format!("/metrics/history?{range}&lane_id=2"));
    let lane_rows = client
        .query_one(
            "SELECT count(*) FROM traffic_metrics WHERE camera_id = 'cam_01' AND lane_id = '2'
             AND window_start >= $1 AND window_start < $2",
            &[&from, &to],
        )
        .expect("lane count")
        .get::<_, i64>(0);
    assert!(lane_rows > 0);
    assert_eq!(items(&lane).len() as i64, lane_rows);
    assert!(items(&lane).iter().all(|m| m["lane_id"] == "2"));
    // The default range is the last hour: the seeded data (about ten minutes old) is all in it.
    let default_range = ok(&server, "/metrics/history?camera_id=cam_02&limit=20000");
    let all_cam_02 = count(
        &mut client,
        "SELECT count(*) FROM traffic_metrics WHERE camera_id = 'cam_02' AND lane_id IS NULL
         AND window_start >= now() - interval '1 hour'",
    );
    assert_eq!(items(&default_range).len() as i64, all_cam_02);

    // GET /congestion/current: one entry per camera with metrics, equal to its latest window.
    let congestion = ok(&server, "/congestion/current");
    let entries = items(&congestion);
    assert_eq!(entries.len(), latest.len());
    for ((id, start, level, score, vehicles), entry) in latest.iter().zip(entries) {
        assert_eq!(entry["camera_id"], id.as_str());
        assert_eq!(ts(&entry["window_start"]), *start);
        assert_eq!(entry["congestion_level"], level.as_str());
        assert!(close(
            entry["congestion_score"].as_f64().expect("score"),
            *score
        ));
        assert_eq!(entry["vehicle_count"], *vehicles);
        assert_eq!(entry["road_segment"], format!("A{id}"));
        assert!(entry.get("avg_speed_kmh").is_some());
    }

    // GET /api/dashboard/summary: KPIs from the latest windows (all within 15 minutes).
    let summary = ok(&server, "/api/dashboard/summary");
    let events_last_minute = count(
        &mut client,
        "SELECT count(*) FROM traffic_events WHERE ts > now() - interval '1 minute'",
    );
    assert_eq!(summary["cameras_total"], 4);
    assert_eq!(summary["cameras_active"], 1);
    assert_eq!(summary["cameras_reporting"], 3);
    let total: i64 = latest.iter().map(|l| i64::from(l.4)).sum();
    assert_eq!(summary["total_vehicles"], total);
    for level in LEVELS {
        let n = latest.iter().filter(|l| l.2 == level).count();
        assert_eq!(summary["level_distribution"][level], n, "{level}");
    }
    let active_alerts = count(
        &mut client,
        "SELECT count(*) FROM alerts WHERE status = 'active'",
    );
    assert_eq!(summary["active_alerts"], active_alerts);
    let worst = latest
        .iter()
        .max_by(|a, b| a.3.total_cmp(&b.3))
        .expect("worst");
    assert_eq!(summary["worst_camera"]["camera_id"], worst.0.as_str());
    assert_eq!(summary["events_last_minute"], events_last_minute);
    assert!(events_last_minute >= 1, "the fresh event counts");
    let avg_speed: Option<f64> = client
        .query_one(
            "SELECT avg(m.avg_speed_kmh) FROM traffic_metrics m
             JOIN (SELECT camera_id, max(window_start) AS s FROM traffic_metrics
                   WHERE lane_id IS NULL GROUP BY camera_id) l
               ON l.camera_id = m.camera_id AND l.s = m.window_start
             WHERE m.lane_id IS NULL",
            &[],
        )
        .expect("avg speed")
        .get(0);
    let got_speed = summary["avg_speed_kmh"].as_f64();
    assert!(
        matches!((got_speed, avg_speed), (Some(a), Some(b)) if close(a, b)),
        "{got_speed:?} vs {avg_speed:?}"
    );
    assert!(summary["generated_at"].is_string());

    // GET /api/dashboard/events: newest first, every B1 field, pages without gaps or repeats.
    let recent = ok(&server, "/api/dashboard/events");
    let newest = items(&recent);
    assert_eq!(newest.len(), 10);
    assert_eq!(recent["limit"], 10);
    assert_eq!(newest[0]["vehicle_id"], "fresh-1");
    assert_eq!(newest[0]["bbox"]["w"], 3.0);
    assert_eq!(newest[0]["estimated_speed_kmh"], 54.0);
    let fields = "camera_id timestamp frame_id vehicle_id class confidence bbox \
        lane_id speed_kmh estimated_speed_kmh";
    for field in fields.split_whitespace() {
        assert!(
            newest.iter().all(|e| e.get(field).is_some()),
            "events carry {field}"
        );
    }
    let times: Vec<DateTime<Utc>> = newest.iter().map(|e| ts(&e["timestamp"])).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let expected_keys: Vec<String> = column(&mut client, "SELECT vehicle_id || '@' || frame_id FROM traffic_events WHERE camera_id = 'cam_02'
             ORDER BY ts DESC, kafka_partition DESC, kafka_offset DESC, detection_index DESC LIMIT 150", &[]);
    let mut paged_keys = Vec::new();
    let mut path = "/api/dashboard/events?camera_id=cam_02&limit=40".to_owned();
    while paged_keys.len() < 150 {
        let page = ok(&server, &path);
        let page_items = items(&page);
        assert!(!page_items.is_empty());
        assert!(page_items.len() <= 40);
        assert!(page_items.iter().all(|e| e["camera_id"] == "cam_02"));
        paged_keys.extend(page_items.iter().map(|e| {
            format!(
                "{}@{}",
                e["vehicle_id"].as_str().expect("vehicle"),
                e["frame_id"]
            )
        }));
        assert_eq!(page_items.len(), 40, "pages are full until the end");
        let before = page["next_before"].as_str().expect("more pages");
        let skip = page["next_skip"].as_i64().expect("next_skip");
        assert!(skip >= 1);
        path =
            format!("/api/dashboard/events?camera_id=cam_02&limit=40&before={before}&skip={skip}");
    }
    assert_eq!(paged_keys[..150], expected_keys[..]);
    assert_eq!(
        items(&ok(&server, "/api/dashboard/events?limit=500")).len(),
        500
    );
    // Across cameras (the bounded-range path) the pages follow the same total order.
    let expected_all: Vec<String> = column(&mut client, "SELECT camera_id || ':' || vehicle_id || '@' || frame_id FROM traffic_events
             ORDER BY ts DESC, camera_id, kafka_partition DESC, kafka_offset DESC, detection_index DESC
             LIMIT 75", &[]);
    let mut got_all = Vec::new();
    let mut path = "/api/dashboard/events?limit=25".to_owned();
    for _ in 0..3 {
        let page = ok(&server, &path);
        got_all.extend(items(&page).iter().map(|e| {
            format!(
                "{}:{}@{}",
                e["camera_id"].as_str().expect("camera"),
                e["vehicle_id"].as_str().expect("vehicle"),
                e["frame_id"]
            )
        }));
        path = format!(
            "/api/dashboard/events?limit=25&before={}&skip={}",
            page["next_before"].as_str().expect("next_before"),
            page["next_skip"]
        );
    }
    assert_eq!(got_all, expected_all);

    // GET /api/map/heatmap: per camera over the window, intensities within [0, 1].
    let heatmap = ok(&server, "/api/map/heatmap?minutes=30");
    let cells = items(&heatmap);
    assert_eq!(cells.len(), 3);
    for cell in cells {
        let id = cell["camera_id"].as_str().expect("id");
        let row = client
            .query_one(
                "SELECT count(*), avg(congestion_score), avg(vehicle_count)::float8 FROM traffic_metrics
                 WHERE camera_id = $1 AND lane_id IS NULL AND window_start >= now() - interval '30 minutes'",
                &[&id],
            )
            .expect("heat");
        let intensity = cell["intensity"].as_f64().expect("intensity");
        assert!(
            (0.0..=1.0).contains(&intensity),
            "{id} intensity {intensity}"
        );
        assert!(close(intensity, row.get::<_, f64>(1).clamp(0.0, 1.0)));
        assert_eq!(cell["windows"], row.get::<_, i64>(0));
        assert!(close(
            cell["avg_vehicle_count"].as_f64().expect("avg"),
            row.get(2)
        ));
        assert!(LEVELS.contains(&cell["max_congestion_level"].as_str().expect("level")));
        assert!(cell["latitude"].as_f64().is_some());
    }
    let recent_cells = count(
        &mut client,
        "SELECT count(DISTINCT camera_id) FROM traffic_metrics
         WHERE lane_id IS NULL AND window_start >= now() - interval '5 minutes'",
    );
    assert_eq!(
        items(&ok(&server, "/api/map/heatmap")).len() as i64,
        recent_cells
    );

    // GET /api/map/incidents: exactly the cameras at or above the level, with their active alert.
    for (query, minimum) in [("", 2), ("?severity=moderate", 1), ("?severity=SEVERE", 3)] {
        let incidents = ok(&server, &format!("/api/map/incidents{query}"));
        let mut got: Vec<&str> = items(&incidents)
            .iter()
            .map(|i| i["camera_id"].as_str().expect("id"))
            .collect();
        got.sort_unstable();
        let expected: Vec<&str> = latest
            .iter()
            .filter(|l| LEVELS.iter().position(|x| *x == l.2).expect("level") >= minimum)
            .map(|l| l.0.as_str())
            .collect();
        assert_eq!(got, expected, "incidents{query}");
        for incident in items(&incidents) {
            let id = incident["camera_id"].as_str().expect("id");
            let alert: Option<i64> = client
                .query_opt(
                    "SELECT alert_id FROM alerts WHERE camera_id = $1 AND status = 'active'
                     ORDER BY opened_at DESC LIMIT 1",
                    &[&id],
                )
                .expect("alert")
                .map(|r| r.get(0));
            assert_eq!(incident["alert"]["alert_id"].as_i64(), alert, "{id} alert");
        }
    }
}

#[test]
fn read_route_errors_and_empty_state() {
    let db = TestDb::migrated("b2_api_read_err");
    db.client()
        .batch_execute("INSERT INTO cameras (camera_id, name) VALUES ('cam_quiet', 'Quiet')")
        .expect("camera");
    let server = QueryServer::start(&db.url, None, &[]);

    server.refuses(&Refusal::table(&[
        ("/metrics/current", 400, "camera_id"),
        ("/metrics/current?camera_id=", 400, "camera_id"),
        ("/metrics/current?camera_id=nope", 404, "nope"),
        ("/metrics/current?camera_id=cam_quiet", 404, "no metrics"),
        ("/metrics/history", 400, "camera_id"),
        ("/metrics/history?camera_id=nope", 404, "nope"),
    ]));
    let h = "/metrics/history?camera_id=cam_quiet";
    server.refuses(
        &[
            ("&from=yesterday", "from"),
            ("&to=2026-13-45", "to"),
            ("&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"),
            ("&limit=0", "limit"),
            ("&limit=20001", "limit"),
            ("&limit=ten", "limit"),
            ("&offset=-1", "offset"),
        ]
        .map(|(query, mentions)| Refusal::new(format!("{h}{query}"), 400, mentions)),
    );
    let empty = ok(
        &server,
        &format!("{h}&limit=20000&from=2026-01-01&to=2026-01-02"),
    );
    assert_eq!(items(&empty).len(), 0);
    assert_eq!(empty["limit"], 20000);
    assert_eq!(empty["from"], "2026-01-01T00:00:00.000Z");

    server.refuses(&Refusal::table(&[
        ("/cameras?limit=0", 400, "limit"),
        ("/congestion/current?offset=x", 400, "offset"),
        ("/api/dashboard/events?limit=0", 400, "limit"),
        ("/api/dashboard/events?limit=501", 400, "limit"),
        ("/api/dashboard/events?before=soon", 400, "before"),
        ("/api/dashboard/events?skip=3", 400, "skip"),
        (
            "/api/dashboard/events?before=2026-01-01T00:00:00Z&skip=-1",
            400,
            "skip",
        ),
        ("/api/dashboard/events?camera_id=nope", 404, "nope"),
        ("/api/map/heatmap?minutes=0", 400, "minutes"),
        ("/api/map/heatmap?minutes=1441", 400, "minutes"),
        ("/api/map/heatmap?minutes=five", 400, "minutes"),
        ("/api/map/incidents?severity=LOW", 400, "severity"),
        ("/api/map/incidents?severity=extreme", 400, "severity"),
    ]));

    // A database without traffic: empty lists and zeroed KPIs, never an error.
    let cameras = ok(&server, "/cameras");
    assert_eq!(items(&cameras).len(), 1);
    assert!(items(&cameras)[0]["latest"].is_null());
    assert_eq!(items(&cameras)[0]["active"], false);
    assert!(items(&ok(&server, "/congestion/current")).is_empty());
    assert!(items(&ok(&server, "/api/dashboard/events")).is_empty());
    assert!(items(&ok(&server, "/api/map/heatmap?minutes=1440")).is_empty());
    assert!(items(&ok(&server, "/api/map/incidents")).is_empty());
    let summary = ok(&server, "/api/dashboard/summary");
    assert_eq!(summary["cameras_total"], 1);
    assert_eq!(summary["total_vehicles"], 0);
    assert!(summary["avg_speed_kmh"].is_null());
    assert!(summary["worst_camera"].is_null());
    assert!(summary["generated_at"]
        .as_str()
        .expect("generated_at")
        .ends_with('Z'));
}

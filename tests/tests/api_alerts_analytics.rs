//! The alert routes (current, history, acknowledge, CSV export) and the analytics routes
//! (metrics, compare, PDF report) against a database filled by the real pipeline; every answer
//! is checked against values computed here from SQL or from the raw rows.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use postgres::Client;
use serde_json::Value;

use e2e_tests::api::{assert_error, seeded_database, HttpResponse, QueryServer, Refusal};
use e2e_tests::db::active_alert_ids;

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn post_ack(server: &QueryServer, id: &str, body: &str) -> HttpResponse {
    let path = format!("/api/alerts/{id}/acknowledge");
    server
        .request(
            "POST",
            &path,
            &[("Content-Type", "application/json")],
            Some(body),
        )
        .unwrap_or_else(|e| panic!("POST {path} failed: {e}"))
}

fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        "{what}: {a} != {b}"
    );
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("items array")
        .iter()
        .map(|i| i["alert_id"].as_i64().expect("alert_id"))
        .collect()
}

/// Alert ids overlapping `[from, to]` with the optional filters, newest first, straight from SQL.
fn sql_alert_ids(
    client: &mut Client,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    severity: Option<&str>,
    road_segment: Option<&str>,
    alert_type: Option<&str>,
) -> Vec<i64> {
    client
        .query(
            "SELECT alert_id FROM alerts \
             WHERE opened_at <= $2 AND (resolved_at IS NULL OR resolved_at >= $1) \
               AND ($3::text IS NULL OR severity = $3) \
               AND ($4::text IS NULL OR road_segment = $4) \
               AND ($5::text IS NULL OR alert_type = $5) \
             ORDER BY opened_at DESC, alert_id DESC",
            &[&from, &to, &severity, &road_segment, &alert_type],
        )
        .expect("alerts query")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn export(
    server: &QueryServer,
    query: &str,
) -> (HttpResponse, Vec<csv::StringRecord>, csv::StringRecord) {
    let r = server
        .get(&format!("/api/alerts/export?{query}"))
        .expect("export");
    assert_eq!(r.status, 200, "export {query}: {}", r.text());
    let mut reader = csv::Reader::from_reader(r.body.as_slice());
    let header = reader.headers().expect("csv header").clone();
    let rows: Vec<csv::StringRecord> = reader
        .records()
        .map(|rec| rec.expect("csv record"))
        .collect();
    (r, rows, header)
}

#[test]
fn alert_routes_match_the_database() {
    let db = seeded_database("b2_api_alerts");
    let server = QueryServer::start(&db.url, Some("test-key"), &[]);
    let mut client = db.client();
    let total: i64 = client
        .query_one("SELECT count(*) FROM alerts", &[])
        .expect("count")
        .get(0);
    assert!(total >= 2, "the seed must open several alerts, got {total}");

    // --- current: active alerts, newest first, every documented field.
    let active = active_alert_ids(&mut client);
    let current = server.ok("/api/alerts/current");
    assert_eq!(ids(&current["items"]), active);
    assert_eq!(current["count"].as_u64(), Some(active.len() as u64));
    assert_eq!(current["limit"].as_i64(), Some(100));
    assert!(current["next_offset"].is_null());
    for item in current["items"].as_array().expect("items") {
        assert_eq!(item["status"], "active");
        let fields = "alert_id camera_id alert_type severity peak_severity road_segment score \
            message opened_at updated_at acknowledged_by acknowledged_at";
        for field in fields.split_whitespace() {
            assert!(
                item.get(field).is_some(),
                "current item lacks {field}: {item}"
            );
        }
    }

    // --- history: the default range (last 24 h) holds every seeded alert.
    let history = server.ok("/api/alerts/history");
    let now = Utc::now();
    let all = sql_alert_ids(
        &mut client,
        now - Duration::hours(24),
        now,
        None,
        None,
        None,
    );
    assert_eq!(ids(&history["items"]), all);
    assert_eq!(all.len() as i64, total);
    // One alert in full, value by value.
    let first = &history["items"][0];
    let row = client
        .query_one(
            "SELECT camera_id, alert_type, severity, peak_severity, road_segment, score, message, \
                    status, opened_at, updated_at \
             FROM alerts WHERE alert_id = $1",
            &[&first["alert_id"].as_i64().expect("id")],
        )
        .expect("alert row");
    assert_eq!(first["camera_id"], row.get::<_, String>("camera_id"));
    assert_eq!(first["alert_type"], row.get::<_, String>("alert_type"));
    assert_eq!(first["severity"], row.get::<_, String>("severity"));
    assert_eq!(
        first["peak_severity"],
        row.get::<_, String>("peak_severity")
    );
    assert_eq!(
        first["road_segment"].as_str(),
        row.get::<_, Option<String>>("road_segment").as_deref()
    );
    close(
        first["score"].as_f64().expect("score"),
        row.get("score"),
        "score",
    );
    assert_eq!(first["message"], row.get::<_, String>("message"));
    assert_eq!(first["status"], row.get::<_, String>("status"));
    assert_eq!(first["opened_at"], iso(row.get("opened_at")));
    assert_eq!(first["updated_at"], iso(row.get("updated_at")));

    // Explicit ranges and filters, each against SQL.
    let (from, to) = (now - Duration::hours(2), now + Duration::minutes(1));
    let range = format!("from={}&to={}", iso(from), iso(to));
    for (query, severity, segment, kind) in [
        ("severity=high", Some("HIGH"), None, None),
        ("severity=SEVERE", Some("SEVERE"), None, None),
        ("type=congestion", None, None, Some("congestion")),
        ("type=no_such_type", None, None, Some("no_such_type")),
    ] {
        let body = server.ok(&format!("/api/alerts/history?{range}&{query}"));
        let expected = sql_alert_ids(&mut client, from, to, severity, segment, kind);
        assert_eq!(ids(&body["items"]), expected, "history {query}");
    }
    let segment: Option<String> = client
        .query_one(
            "SELECT road_segment FROM alerts WHERE road_segment IS NOT NULL LIMIT 1",
            &[],
        )
        .ok()
        .map(|r| r.get(0));
    if let Some(segment) = segment.as_deref() {
        let body = server.ok(&format!(
            "/api/alerts/history?{range}&road_segment={segment}"
        ));
        let expected = sql_alert_ids(&mut client, from, to, None, Some(segment), None);
        assert!(!expected.is_empty());
        assert_eq!(ids(&body["items"]), expected, "road_segment filter");
    }
    // A range before any alert opened is empty; one ending right at the first opening is not.
    let earliest: DateTime<Utc> = client
        .query_one("SELECT min(opened_at) FROM alerts", &[])
        .expect("min")
        .get(0);
    let before = server.ok(&format!(
        "/api/alerts/history?from={}&to={}",
        iso(earliest - Duration::hours(1)),
        iso(earliest - Duration::milliseconds(1))
    ));
    assert_eq!(before["count"].as_u64(), Some(0));
    let touching = server.ok(&format!(
        "/api/alerts/history?from={}&to={}",
        iso(earliest - Duration::hours(1)),
        iso(earliest)
    ));
    assert!(touching["count"].as_u64().expect("count") >= 1);

    // Paging: limit 1 walks the same list.
    let mut walked = Vec::new();
    let mut offset = 0;
    loop {
        let body = server.ok(&format!(
            "/api/alerts/history?{range}&limit=1&offset={offset}"
        ));
        assert_eq!(body["limit"].as_i64(), Some(1));
        walked.extend(ids(&body["items"]));
        match body["next_offset"].as_i64() {
            Some(next) => offset = next,
            None => break,
        }
    }
    assert_eq!(
        walked,
        sql_alert_ids(&mut client, from, to, None, None, None)
    );

    // Errors name the parameter.
    server.refuses(&Refusal::table(&[
        ("/api/alerts/history?severity=LOW", 400, "severity"),
        ("/api/alerts/history?from=yesterday", 400, "from"),
        ("/api/alerts/history?to=2026-13-45", 400, "to"),
        (
            "/api/alerts/history?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            400,
            "from",
        ),
        ("/api/alerts/history?limit=0", 400, "limit"),
        ("/api/alerts/history?limit=1001", 400, "limit"),
        ("/api/alerts/history?offset=-1", 400, "offset"),
        ("/api/alerts/export?severity=bad", 400, "severity"),
    ]));

    // --- acknowledge: open route, first acknowledger kept, errors by kind.
    let target = active.first().copied().unwrap_or(all[0]);
    let first_ack = post_ack(&server, &target.to_string(), r#"{"admin_id": "alice"}"#);
    assert_eq!(first_ack.status, 200, "{}", first_ack.text());
    let first_body = first_ack.json();
    assert_eq!(first_body["alert_id"].as_i64(), Some(target));
    assert_eq!(first_body["acknowledged_by"], "alice");
    assert_eq!(first_body["already_acknowledged"], false);
    let (by, at): (Option<String>, Option<DateTime<Utc>>) = client
        .query_one(
            "SELECT acknowledged_by, acknowledged_at FROM alerts WHERE alert_id = $1",
            &[&target],
        )
        .map(|r| (r.get(0), r.get(1)))
        .expect("ack row");
    assert_eq!(by.as_deref(), Some("alice"));
    let at = at.expect("acknowledged_at set");
    assert_eq!(first_body["acknowledged_at"], iso(at));
    let again = post_ack(&server, &target.to_string(), r#"{"admin_id": "bob"}"#);
    assert_eq!(again.status, 200, "{}", again.text());
    let again_body = again.json();
    assert_eq!(again_body["acknowledged_by"], "alice");
    assert_eq!(again_body["acknowledged_at"], iso(at));
    assert_eq!(again_body["already_acknowledged"], true);
    let still: Option<String> = client
        .query_one(
            "SELECT acknowledged_by FROM alerts WHERE alert_id = $1",
            &[&target],
        )
        .expect("row")
        .get(0);
    assert_eq!(still.as_deref(), Some("alice"));
    assert_error(
        &post_ack(&server, "999999999", r#"{"admin_id": "alice"}"#),
        "unknown alert",
        404,
        "999999999",
    );
    assert_error(
        &post_ack(&server, "abc", r#"{"admin_id": "alice"}"#),
        "non-integer id",
        400,
        "alert_id",
    );
    for body in [
        r#"{}"#,
        r#"{"admin_id": ""}"#,
        r#"{"admin_id": "   "}"#,
        r#"{"admin_id": 7}"#,
    ] {
        assert_error(
            &post_ack(&server, &target.to_string(), body),
            body,
            422,
            "admin_id",
        );
    }
    let bad_json = post_ack(&server, &target.to_string(), r#"{"admin_id": "#);
    assert_eq!(bad_json.status, 400, "{}", bad_json.text());
    // The acknowledgement shows in the lists.
    let current = server.ok("/api/alerts/current");
    if let Some(item) = current["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["alert_id"].as_i64() == Some(target))
    {
        assert_eq!(item["acknowledged_by"], "alice");
    }

    // --- export: CSV with a header, one row per SQL row, attachment headers.
    let (r, rows, header) = export(&server, &range);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/csv"),
        "{:?}",
        r.header("content-type")
    );
    let disposition = r.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("filename=\"alerts-"),
        "{disposition}"
    );
    assert!(disposition.ends_with(".csv\""), "{disposition}");
    assert_eq!(&header[0], "alert_id");
    assert!(header.iter().any(|h| h == "acknowledged_by"));
    let expected = sql_alert_ids(&mut client, from, to, None, None, None);
    assert_eq!(rows.len(), expected.len());
    let csv_ids: BTreeSet<i64> = rows
        .iter()
        .map(|r| r[0].parse().expect("integer id"))
        .collect();
    assert_eq!(csv_ids, expected.iter().copied().collect());
    let by_col = header
        .iter()
        .position(|h| h == "acknowledged_by")
        .expect("column");
    let acked = rows
        .iter()
        .find(|r| r[0] == target.to_string())
        .expect("target row");
    assert_eq!(&acked[by_col], "alice");
    // Filters apply to the export too.
    let (_, high_rows, _) = export(&server, &format!("{range}&severity=HIGH"));
    assert_eq!(
        high_rows.len(),
        sql_alert_ids(&mut client, from, to, Some("HIGH"), None, None).len()
    );
    let (_, none, header) = export(&server, &format!("{range}&type=no_such_type"));
    assert!(none.is_empty());
    assert_eq!(&header[0], "alert_id");

    // A large export spans many streamed chunks, and quoting survives commas, quotes, newlines.
    const BULK: i64 = 1234;
    let segment = "seg \"A\", north";
    let message = "line one\nline \"two\", end";
    client
        .execute(
            "INSERT INTO alerts (camera_id, alert_type, severity, peak_severity, road_segment, \
               score, message, status, opened_window_start, opened_at, updated_at, resolved_at) \
             SELECT 'cam_bulk', 'bulk', 'HIGH', 'HIGH', $1, 0.6, $2, 'resolved', \
               now() - interval '1 hour' + g * interval '1 ms', now() - interval '1 hour', \
               now() - interval '1 hour', now() - interval '50 minutes' \
             FROM generate_series(1, $3::bigint) g",
            &[&segment, &message, &BULK],
        )
        .expect("bulk alerts");
    let (_, bulk, header) = export(&server, &format!("{range}&type=bulk"));
    assert_eq!(bulk.len() as i64, BULK);
    let seg_col = header
        .iter()
        .position(|h| h == "road_segment")
        .expect("column");
    let msg_col = header.iter().position(|h| h == "message").expect("column");
    assert!(bulk
        .iter()
        .all(|r| &r[seg_col] == segment && &r[msg_col] == message));
    let page = server.ok(&format!("/api/alerts/history?{range}&type=bulk&limit=1000"));
    assert_eq!(page["count"].as_u64(), Some(1000));
    assert_eq!(page["next_offset"].as_i64(), Some(1000));
    let rest = server.ok(&format!(
        "/api/alerts/history?{range}&type=bulk&limit=1000&offset=1000"
    ));
    assert_eq!(rest["count"].as_i64(), Some(BULK - 1000));
    assert!(rest["next_offset"].is_null());
}

/// Metrics computed here from the raw camera-wide rows, independently of the server's SQL.
struct Expected {
    windows: i64,
    vehicles: i64,
    events: i64,
    avg_speed: Option<f64>,
    avg_score: Option<f64>,
    max_score: Option<f64>,
    levels: BTreeMap<String, i64>,
    classes: [i64; 6],
    cameras: BTreeMap<String, (i64, i64)>,
    peak: Option<(DateTime<Utc>, i64)>,
    alerts_opened: i64,
}

fn expected(client: &mut Client, start: DateTime<Utc>, end: DateTime<Utc>) -> Expected {
    let rows = client
        .query(
            "SELECT camera_id, window_start, vehicle_count, event_count, avg_speed_kmh, \
                    congestion_score, congestion_level, car_count, truck_count, bus_count, \
                    motorcycle_count, bicycle_count, other_count \
             FROM traffic_metrics WHERE lane_id IS NULL AND window_start >= $1 AND window_start < $2",
            &[&start, &end],
        )
        .expect("metrics rows");
    let mut e = Expected {
        windows: rows.len() as i64,
        vehicles: 0,
        events: 0,
        avg_speed: None,
        avg_score: None,
        max_score: None,
        levels: ["LOW", "MODERATE", "HIGH", "SEVERE"]
            .iter()
            .map(|l| ((*l).to_owned(), 0))
            .collect(),
        classes: [0; 6],
        cameras: BTreeMap::new(),
        peak: None,
        alerts_opened: 0,
    };
    let (mut speed_sum, mut speed_weight, mut score_sum) = (0.0, 0i64, 0.0);
    let mut per_window: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
    for r in &rows {
        let vehicles = i64::from(r.get::<_, i32>("vehicle_count"));
        let events = i64::from(r.get::<_, i32>("event_count"));
        e.vehicles += vehicles;
        e.events += events;
        if let Some(speed) = r.get::<_, Option<f64>>("avg_speed_kmh") {
            speed_sum += speed * events as f64;
            speed_weight += events;
        }
        let score: f64 = r.get("congestion_score");
        score_sum += score;
        e.max_score = Some(e.max_score.map_or(score, |m: f64| m.max(score)));
        *e.levels
            .entry(r.get::<_, String>("congestion_level"))
            .or_default() += 1;
        for (i, col) in [
            "car_count",
            "truck_count",
            "bus_count",
            "motorcycle_count",
            "bicycle_count",
            "other_count",
        ]
        .iter()
        .enumerate()
        {
            e.classes[i] += i64::from(r.get::<_, i32>(*col));
        }
        let cam = e.cameras.entry(r.get("camera_id")).or_default();
        cam.0 += 1;
        cam.1 += vehicles;
        *per_window.entry(r.get("window_start")).or_default() += vehicles;
    }
    e.avg_speed = (speed_weight > 0).then(|| speed_sum / speed_weight as f64);
    e.avg_score = (!rows.is_empty()).then(|| score_sum / rows.len() as f64);
    // Most vehicles, earliest on ties (the map iterates in time order).
    for (start, vehicles) in per_window {
        if e.peak.is_none_or(|(_, best)| vehicles > best) {
            e.peak = Some((start, vehicles));
        }
    }
    e.alerts_opened = client
        .query_one(
            "SELECT count(*) FROM alerts WHERE opened_at >= $1 AND opened_at < $2",
            &[&start, &end],
        )
        .expect("alerts")
        .get(0);
    e
}

fn assert_metrics(body: &Value, e: &Expected, what: &str) {
    assert_eq!(body["windows"].as_i64(), Some(e.windows), "{what} windows");
    assert_eq!(
        body["total_vehicles"].as_i64(),
        Some(e.vehicles),
        "{what} vehicles"
    );
    assert_eq!(
        body["total_events"].as_i64(),
        Some(e.events),
        "{what} events"
    );
    assert_eq!(body["speed_weighting"], "event_count");
    for (field, value) in [
        ("avg_speed_kmh", e.avg_speed),
        ("avg_congestion_score", e.avg_score),
        ("max_congestion_score", e.max_score),
    ] {
        match value {
            Some(v) => close(
                body[field].as_f64().expect(field),
                v,
                &format!("{what} {field}"),
            ),
            None => assert!(body[field].is_null(), "{what} {field}"),
        }
    }
    for (level, n) in &e.levels {
        assert_eq!(
            body["level_distribution"][level].as_i64(),
            Some(*n),
            "{what} {level}"
        );
    }
    for (i, class) in ["car", "truck", "bus", "motorcycle", "bicycle", "other"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            body["class_totals"][class].as_i64(),
            Some(e.classes[i]),
            "{what} {class}"
        );
    }
    let cameras: BTreeMap<String, (i64, i64)> = body["cameras"]
        .as_array()
        .expect("cameras")
        .iter()
        .map(|c| {
            (
                c["camera_id"].as_str().expect("camera_id").to_owned(),
                (
                    c["windows"].as_i64().expect("windows"),
                    c["vehicles"].as_i64().expect("vehicles"),
                ),
            )
        })
        .collect();
    assert_eq!(cameras, e.cameras, "{what} cameras");
    match e.peak {
        Some((start, vehicles)) => {
            assert_eq!(
                body["peak_window"]["window_start"],
                iso(start),
                "{what} peak"
            );
            assert_eq!(
                body["peak_window"]["vehicles"].as_i64(),
                Some(vehicles),
                "{what} peak"
            );
        }
        None => assert!(body["peak_window"].is_null(), "{what} peak"),
    }
    assert_eq!(
        body["alerts"]["opened"].as_i64(),
        Some(e.alerts_opened),
        "{what} alerts"
    );
}

#[test]
fn analytics_routes_match_the_database() {
    let db = seeded_database("b2_api_analytics");
    let server = QueryServer::start(&db.url, Some("test-key"), &[]);
    let mut client = db.client();
    let (first, last): (DateTime<Utc>, DateTime<Utc>) = client
        .query_one(
            "SELECT min(window_start), max(window_start) FROM traffic_metrics WHERE lane_id IS NULL",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .expect("window range");
    let start = first - Duration::minutes(1);
    let end = last + Duration::seconds(1);

    // --- metrics over the whole seeded period, and by default (last 24 h, which holds it all).
    let all = expected(&mut client, start, end);
    assert!(
        all.vehicles > 0 && all.cameras.len() == 3,
        "seeded data present"
    );
    let body = server.ok(&format!(
        "/api/analytics/metrics?start={}&end={}",
        iso(start),
        iso(end)
    ));
    assert_eq!(body["start"], iso(start));
    assert_eq!(body["end"], iso(end));
    assert_metrics(&body, &all, "whole period");
    let default = server.ok("/api/analytics/metrics");
    assert_eq!(default["total_vehicles"].as_i64(), Some(all.vehicles));
    assert_eq!(default["windows"].as_i64(), Some(all.windows));
    let empty =
        server.ok("/api/analytics/metrics?start=2020-01-01T00:00:00Z&end=2020-01-02T00:00:00Z");
    assert_eq!(empty["windows"].as_i64(), Some(0));
    assert!(empty["avg_speed_kmh"].is_null() && empty["peak_window"].is_null());
    server.refuses(&[
        Refusal::new("/api/analytics/metrics?start=garbage", 400, "start"),
        Refusal::new(
            format!(
                "/api/analytics/metrics?start={}&end={}",
                iso(end),
                iso(start)
            ),
            400,
            "start",
        ),
    ]);

    // --- compare: two halves; each side equals its own metrics call, deltas are b - a.
    let middle = first + (last - first) / 2;
    let query = format!(
        "start_a={}&end_a={}&start_b={}&end_b={}",
        iso(start),
        iso(middle),
        iso(middle),
        iso(end)
    );
    let compare = server.ok(&format!("/api/analytics/compare?{query}"));
    let a = server.ok(&format!(
        "/api/analytics/metrics?start={}&end={}",
        iso(start),
        iso(middle)
    ));
    let b = server.ok(&format!(
        "/api/analytics/metrics?start={}&end={}",
        iso(middle),
        iso(end)
    ));
    assert_metrics(
        &compare["a"],
        &expected(&mut client, start, middle),
        "period a",
    );
    assert_metrics(
        &compare["b"],
        &expected(&mut client, middle, end),
        "period b",
    );
    for (field, ours) in [
        ("total_vehicles", "total_vehicles"),
        ("windows", "windows"),
        ("total_events", "total_events"),
        ("avg_speed_kmh", "avg_speed_kmh"),
        ("avg_congestion_score", "avg_congestion_score"),
        ("alerts_opened", "opened"),
    ] {
        let pick = |m: &Value| {
            if ours == "opened" {
                m["alerts"]["opened"].as_f64()
            } else {
                m[ours].as_f64()
            }
        };
        let (va, vb) = (pick(&a).expect("a value"), pick(&b).expect("b value"));
        let d = &compare["deltas"][field];
        close(d["a"].as_f64().expect("a"), va, field);
        close(d["b"].as_f64().expect("b"), vb, field);
        close(d["delta"].as_f64().expect("delta"), vb - va, field);
        if va == 0.0 {
            assert!(d["percent_change"].is_null(), "{field}");
        } else {
            close(
                d["percent_change"].as_f64().expect("percent"),
                (vb - va) / va.abs() * 100.0,
                field,
            );
        }
    }
    assert!(compare["deltas"]["total_vehicles"]["delta"].is_i64());
    // A period with no data against one with data: percent change is undefined.
    let vs_empty = server.ok(&format!(
        "/api/analytics/compare?start_a=2020-01-01&end_a=2020-01-02&start_b={}&end_b={}",
        iso(start),
        iso(end)
    ));
    assert_eq!(
        vs_empty["deltas"]["total_vehicles"]["delta"].as_i64(),
        Some(all.vehicles)
    );
    assert!(vs_empty["deltas"]["total_vehicles"]["percent_change"].is_null());
    assert!(vs_empty["deltas"]["avg_speed_kmh"]["delta"].is_null());
    for missing in ["start_a", "end_a", "start_b", "end_b"] {
        let partial: Vec<&str> = query
            .split('&')
            .filter(|kv| !kv.starts_with(&format!("{missing}=")))
            .collect();
        server.refuses(&[Refusal::new(
            format!("/api/analytics/compare?{}", partial.join("&")),
            400,
            missing,
        )]);
    }
    server.refuses(&[Refusal::new(
        format!(
            "/api/analytics/compare?start_a={}&end_a={}&start_b={}&end_b={}",
            iso(start),
            iso(end),
            iso(end),
            iso(start)
        ),
        400,
        "start_b",
    )]);

    // --- PDF: a real document whose text carries the KPIs.
    let r = server
        .get(&format!(
            "/api/analytics/report/pdf?start={}&end={}",
            iso(start),
            iso(end)
        ))
        .expect("report");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    let disposition = r.header("content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment;")
            && disposition.contains("filename=\"traffic-report-")
            && disposition.ends_with(".pdf\""),
        "{disposition}"
    );
    assert!(r.body.starts_with(b"%PDF-"));
    let doc = lopdf::Document::load_mem(&r.body).expect("the report is a valid PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let page_one = doc.extract_text(&[1]).expect("page 1 text");
    assert!(page_one.contains("Traffic analytics report"), "{page_one}");
    assert!(page_one.contains("Total vehicles"), "{page_one}");
    assert!(
        page_one.contains(&all.vehicles.to_string()),
        "total vehicles {} not in {page_one}",
        all.vehicles
    );
    assert!(page_one.contains(&all.windows.to_string()), "{page_one}");
    if let Some(score) = all.avg_score {
        assert!(page_one.contains(&format!("{score:.3}")), "{page_one}");
    }
    let text = doc.extract_text(&pages).expect("all text");
    for camera in all.cameras.keys() {
        assert!(
            text.contains(camera.as_str()),
            "{camera} missing from the report"
        );
    }
    for level in ["LOW", "MODERATE", "HIGH", "SEVERE"] {
        assert!(text.contains(level), "{level} missing from the report");
    }
    // The default period renders too.
    let default_pdf = server.get("/api/analytics/report/pdf").expect("report");
    assert_eq!(default_pdf.status, 200);
    lopdf::Document::load_mem(&default_pdf.body).expect("default report is a valid PDF");
    server.refuses(&Refusal::table(&[(
        "/api/analytics/report/pdf?end=nope",
        400,
        "end",
    )]));
}

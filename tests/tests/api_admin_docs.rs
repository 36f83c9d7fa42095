//! The admin routes, the forecast route's validation and the API description, against the real
//! `query-server` binary and a real PostgreSQL. None of these need traffic data, so a freshly
//! migrated database is enough (and much faster than a pipeline-seeded one).

use std::time::Duration;

use e2e_tests::api::{assert_error, QueryServer, Refusal};
use e2e_tests::db::{column, TestDb};
use serde_json::{json, Value};

const KEY: &str = "test-key";

#[test]
fn admin_routes_auth_thresholds_zones_cameras_and_broadcast() {
    use fallible_iterator::FallibleIterator;

    let db = TestDb::migrated("b2_admin");
    let server = QueryServer::start(&db.url, Some(KEY), &[]);
    let mut client = db.client();

    // Auth: missing 401, wrong 403, both header forms accepted.
    server.refuses(&Refusal::table(&[("/api/admin/thresholds", 401, "token")]));
    let wrong = server
        .request(
            "GET",
            "/api/admin/thresholds",
            &[("X-Admin-Token", "nope")],
            None,
        )
        .expect("wrong token");
    assert_eq!(wrong.status, 403);
    let bearer = server
        .request(
            "GET",
            "/api/admin/zones",
            &[("Authorization", "Bearer test-key")],
            None,
        )
        .expect("bearer");
    assert_eq!(bearer.status, 200, "{}", bearer.text());

    // Thresholds: the defaults, then a partial update that lands in the row.
    let current = server.admin("GET", "/api/admin/thresholds", None).json();
    assert_eq!(current["moderate"], 0.35);
    assert_eq!(current["severe"], 0.75);
    assert_eq!(current["lane_capacity_per_window"], 8.0);
    assert!(current["updated_at"]
        .as_str()
        .expect("updated_at")
        .ends_with('Z'));
    let put = server.admin(
        "PUT",
        "/api/admin/thresholds",
        Some(
            &json!({"moderate": 0.3, "high": 0.5, "lane_capacity_per_window": 10, "updated_by": "ops"}),
        ),
    );
    assert_eq!(put.status, 200, "{}", put.text());
    let stored = put.json();
    assert_eq!(stored["moderate"], 0.3);
    assert_eq!(stored["high"], 0.5);
    assert_eq!(stored["severe"], 0.75, "fields left out keep their value");
    assert_eq!(stored["updated_by"], "ops");
    let row = client
        .query_one(
            "SELECT moderate, high, severe, lane_capacity_per_window, updated_by, updated_at > now() - interval '1 minute' \
             FROM congestion_thresholds WHERE id = 1",
            &[],
        )
        .expect("thresholds row");
    assert_eq!(row.get::<_, f64>(0), 0.3);
    assert_eq!(row.get::<_, f64>(1), 0.5);
    assert_eq!(row.get::<_, f64>(2), 0.75);
    assert_eq!(row.get::<_, f64>(3), 10.0);
    assert_eq!(row.get::<_, Option<String>>(4).as_deref(), Some("ops"));
    assert!(row.get::<_, bool>(5));
    // Invalid values are 422s naming the field, checked against the stored row, and change nothing.
    server.refuses(
        &[
            (json!({"high": 0.2}), "high"),
            (json!({"severe": 1.2}), "severe"),
            (json!({"moderate": 0}), "moderate"),
            (
                json!({"speed_weight": 0, "density_weight": 0}),
                "speed_weight",
            ),
            (json!({"density_weight": -1}), "density_weight"),
            (
                json!({"lane_capacity_per_window": 0}),
                "lane_capacity_per_window",
            ),
            (json!({"bogus": 1}), "bogus"),
            (json!({"moderate": "high"}), "invalid"),
            (json!({}), "at least one"),
        ]
        .map(|(body, field)| Refusal::admin("PUT", "/api/admin/thresholds", body, 422, field)),
    );
    let not_json = server
        .request(
            "PUT",
            "/api/admin/thresholds",
            &[("X-Admin-Token", KEY)],
            Some("{"),
        )
        .expect("bad json");
    assert_eq!(not_json.status, 400);
    let unchanged: f64 = client
        .query_one("SELECT high FROM congestion_thresholds", &[])
        .expect("row")
        .get(0);
    assert_eq!(unchanged, 0.5);

    // Zones: create, list, update (partial, null clears), delete, 404s and 400s.
    let polygon = json!({"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [0, 0]]]});
    let created = server.admin(
        "POST",
        "/api/admin/zones",
        Some(
            &json!({"name": " Downtown ", "description": "core", "camera_ids": ["cam_01", "cam_02"], "polygon": polygon}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let zone = created.json();
    let id = zone["zone_id"].as_i64().expect("zone_id");
    assert_eq!(zone["name"], "Downtown");
    assert_eq!(zone["camera_ids"], json!(["cam_01", "cam_02"]));
    assert_eq!(zone["polygon"], polygon);
    let second = server.admin("POST", "/api/admin/zones", Some(&json!({"name": "Bridge"})));
    assert_eq!(second.status, 201);
    let second_id = second.json()["zone_id"].as_i64().expect("id");
    server.refuses(&[
        Refusal::admin("POST", "/api/admin/zones", json!({"name": ""}), 422, "name"),
        Refusal::admin(
            "POST",
            "/api/admin/zones",
            json!({"description": "x"}),
            422,
            "name",
        ),
        Refusal::admin(
            "POST",
            "/api/admin/zones",
            json!({"name": "x", "polygon": [1, 2]}),
            422,
            "polygon",
        ),
    ]);
    let list = server.admin("GET", "/api/admin/zones", None).json();
    let ids: Vec<i64> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|z| z["zone_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![id, second_id]);
    assert_eq!(list["next_offset"], Value::Null);
    let paged = server.admin("GET", "/api/admin/zones?limit=1", None).json();
    assert_eq!(paged["items"].as_array().expect("items").len(), 1);
    assert_eq!(paged["next_offset"], 1);
    let updated = server.admin(
        "PUT",
        &format!("/api/admin/zones/{id}"),
        Some(&json!({"camera_ids": ["cam_03"], "description": null})),
    );
    assert_eq!(updated.status, 200, "{}", updated.text());
    let zone = updated.json();
    assert_eq!(zone["name"], "Downtown", "absent fields keep their value");
    assert_eq!(zone["camera_ids"], json!(["cam_03"]));
    assert_eq!(zone["description"], Value::Null);
    assert_eq!(zone["polygon"], polygon);
    let stored: Vec<String> = client
        .query_one("SELECT camera_ids FROM zones WHERE zone_id = $1", &[&id])
        .expect("zone row")
        .get(0);
    assert_eq!(stored, vec!["cam_03".to_owned()]);
    server.refuses(&[
        Refusal::admin(
            "PUT",
            "/api/admin/zones/999999",
            json!({"name": "x"}),
            404,
            "999999",
        ),
        Refusal::admin(
            "PUT",
            "/api/admin/zones/abc",
            json!({"name": "x"}),
            400,
            "zone_id",
        ),
    ]);
    let deleted = server.admin("DELETE", &format!("/api/admin/zones/{id}"), None);
    assert_eq!(deleted.status, 204);
    assert!(deleted.body.is_empty());
    assert_eq!(
        server
            .admin("DELETE", &format!("/api/admin/zones/{id}"), None)
            .status,
        404
    );
    assert_eq!(
        server.admin("DELETE", "/api/admin/zones/x", None).status,
        400
    );

    // Cameras: upsert creates (201), then updates only what is sent (200) and NOTIFYs the pipeline.
    let mut listener = db.client();
    listener
        .batch_execute("LISTEN b2_cameras; LISTEN b2_broadcast;")
        .expect("listen");
    let created = server.admin(
        "PUT",
        "/api/admin/cameras/cam_09",
        Some(
            &json!({"name": "Main St", "lanes": 3, "metres_per_pixel": 0.05, "latitude": 52.5, "longitude": 13.4}),
        ),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["lanes"], 3);
    let updated = server.admin(
        "PUT",
        "/api/admin/cameras/cam_09",
        Some(&json!({"free_flow_speed_kmh": 60, "road_segment": "main-st"})),
    );
    assert_eq!(updated.status, 200, "{}", updated.text());
    let camera = updated.json();
    assert_eq!(camera["name"], "Main St");
    assert_eq!(camera["lanes"], 3);
    assert_eq!(camera["free_flow_speed_kmh"], 60.0);
    assert_eq!(camera["road_segment"], "main-st");
    server.refuses(
        &[
            (json!({"lanes": 0}), "lanes"),
            (json!({"metres_per_pixel": -1}), "metres_per_pixel"),
            (json!({"free_flow_speed_kmh": 0}), "free_flow_speed_kmh"),
            (json!({"latitude": 91}), "latitude"),
            (json!({"colour": "red"}), "colour"),
        ]
        .map(|(body, field)| Refusal::admin("PUT", "/api/admin/cameras/cam_09", body, 422, field)),
    );
    server.admin("PUT", "/api/admin/cameras/cam_01", Some(&json!({})));
    let cameras = server.admin("GET", "/api/admin/cameras", None);
    assert_eq!(cameras.status, 200);
    let listed: Vec<String> = cameras.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["camera_id"].as_str().expect("id").to_owned())
        .collect();
    let expected: Vec<String> = column(
        &mut client,
        "SELECT camera_id FROM cameras ORDER BY camera_id",
        &[],
    );
    assert_eq!(listed, expected);
    assert_eq!(listed, vec!["cam_01".to_owned(), "cam_09".to_owned()]);

    // Broadcast: a NOTIFY on b2_broadcast with the message.
    let queued = server.admin(
        "POST",
        "/api/admin/notifications/broadcast",
        Some(&json!({"message": "Lane 2 closed", "level": "warning", "title": "Works"})),
    );
    assert_eq!(queued.status, 202, "{}", queued.text());
    assert_eq!(queued.json()["status"], "queued");
    let huge = "\u{1F6A7}".repeat(1900);
    server.refuses(
        &[
            (json!({"message": "x", "level": "loud"}), "level"),
            (json!({"message": " "}), "message"),
            (json!({"message": huge}), "bytes"),
        ]
        .map(|(body, field)| {
            Refusal::admin(
                "POST",
                "/api/admin/notifications/broadcast",
                body,
                422,
                field,
            )
        }),
    );
    let mut camera_notices = 0;
    let mut broadcasts = Vec::new();
    let mut notifications = listener.notifications();
    let mut iter = notifications.timeout_iter(Duration::from_secs(3));
    while let Some(n) = iter.next().expect("notifications") {
        let payload: Value = serde_json::from_str(n.payload()).expect("JSON payload");
        match n.channel() {
            "b2_cameras" => camera_notices += 1,
            "b2_broadcast" => broadcasts.push(payload),
            other => panic!("unexpected channel {other}"),
        }
    }
    assert!(
        camera_notices >= 2,
        "calibration changes are announced ({camera_notices})"
    );
    assert_eq!(broadcasts.len(), 1, "{broadcasts:?}");
    assert_eq!(broadcasts[0]["message"], "Lane 2 closed");
    assert_eq!(broadcasts[0]["level"], "warning");
    assert_eq!(broadcasts[0]["title"], "Works");
    assert!(broadcasts[0]["ts"].as_str().expect("ts").ends_with('Z'));

    // Without ADMIN_API_KEY the admin routes are closed, even with a token.
    let closed = QueryServer::start(&db.url, None, &[]);
    let response = closed
        .request(
            "GET",
            "/api/admin/thresholds",
            &[("X-Admin-Token", KEY)],
            None,
        )
        .expect("closed");
    assert_error(&response, "GET /api/admin/thresholds", 403, "ADMIN_API_KEY");
}

#[test]
fn forecast_validation_and_api_description() {
    let db = TestDb::migrated("b2_docs");
    let server = QueryServer::start(&db.url, Some(KEY), &[]);

    // Forecast: parameters are validated first; then 503 explains the missing model bundle.
    let get = |path: &str| server.get(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    server.refuses(&Refusal::table(&[
        ("/api/predict/congestion", 400, "camera_id"),
        (
            "/api/predict/congestion?camera_id=cam_01&horizon_minutes=0",
            400,
            "horizon_minutes",
        ),
        (
            "/api/predict/congestion?camera_id=cam_01&horizon_minutes=61",
            400,
            "horizon_minutes",
        ),
        (
            "/api/predict/congestion?camera_id=cam_01&lookback_minutes=x",
            400,
            "lookback_minutes",
        ),
        (
            "/api/predict/congestion?camera_id=cam_01&lookback_minutes=241",
            400,
            "lookback_minutes",
        ),
        ("/api/predict/congestion?camera_id=nope", 404, "nope"),
    ]));
    server.admin("PUT", "/api/admin/cameras/cam_01", Some(&json!({})));
    let unavailable = get("/api/predict/congestion?camera_id=cam_01");
    assert_error(
        &unavailable,
        "GET /api/predict/congestion?camera_id=cam_01",
        503,
        "no forecast model bundle is loaded",
    );
    let body = unavailable.json();
    assert!(body["error"]
        .as_str()
        .expect("error")
        .contains("FORECAST_MODEL_DIR"));
    assert_eq!(body["horizon_minutes"], 10);
    assert_eq!(body["lookback_minutes"], 15);

    // The OpenAPI document (its agreement with the route table is a unit test of the server).
    let doc = get("/openapi.json");
    assert_eq!(doc.status, 200);
    assert!(doc
        .header("content-type")
        .expect("type")
        .starts_with("application/json"));
    let doc = doc.json();
    assert!(doc["openapi"]
        .as_str()
        .expect("openapi")
        .starts_with("3.1."));
    assert!(doc["paths"]["/api/admin/zones/{zone_id}"]["delete"].is_object());
    assert!(doc["paths"]["/api/predict/congestion"]["get"]["parameters"].is_array());
    assert_eq!(
        doc["components"]["securitySchemes"]["adminToken"]["name"],
        "X-Admin-Token"
    );

    // The docs page is self-contained and renders the document.
    let page = get("/docs");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .expect("type")
        .starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("<html"));
    assert!(html.contains("openapi.json"));
    assert!(
        !html.contains("https://"),
        "the page must not load anything from the internet"
    );
}

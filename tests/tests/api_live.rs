//! Hot routes are answered from memory and follow the pipeline's NOTIFYs, also after the
//! LISTEN connection is killed.

use std::time::Duration;

use e2e_tests::api::QueryServer;
use e2e_tests::db::TestDb;
use e2e_tests::wait_for;

fn add_window(client: &mut postgres::Client, seconds_ago: i64, level: &str, announce: bool) {
    client
        .execute(
            "INSERT INTO traffic_metrics (camera_id, window_start, window_end, vehicle_count, event_count,
                 speed_source, congestion_score, congestion_level)
             VALUES ('cam_live', date_trunc('second', now()) - make_interval(secs => $1),
                     date_trunc('second', now()) - make_interval(secs => $1) + interval '5 seconds',
                     3, 30, 'none', 0.5, $2)",
            &[&(seconds_ago as f64), &level],
        )
        .expect("insert window");
    if announce {
        client
            .execute(
                "SELECT pg_notify('b2_metrics', '{\"camera_id\":\"cam_live\"}')",
                &[],
            )
            .expect("notify");
    }
}

fn level(server: &QueryServer) -> String {
    let body = server
        .get("/congestion/current")
        .expect("congestion")
        .json();
    body["items"][0]["congestion_level"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn hot_routes_follow_notifications() {
    let db = TestDb::migrated("b2_live");
    let mut client = db.client();
    client
        .batch_execute(
            "SELECT b2_ensure_day_partition('traffic_metrics', d::date)
               FROM generate_series(now() - interval '1 day', now() + interval '1 day', interval '1 day') d;
             INSERT INTO cameras (camera_id, name, last_seen_at) VALUES ('cam_live', 'cam_live', now());",
        )
        .expect("seed");
    add_window(&mut client, 60, "LOW", false);
    // A long age limit: only a notification can make the server look again.
    let server = QueryServer::start(&db.url, None, &[("QUERY_SERVER_HOT_CACHE_MS", "600000")]);
    assert_eq!(level(&server), "LOW");

    // Unannounced change: the remembered answer is served.
    add_window(&mut client, 30, "HIGH", false);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(level(&server), "LOW", "served from memory");

    // Announced, as the pipeline does after each commit.
    client
        .execute(
            "SELECT pg_notify('b2_metrics', '{\"camera_id\":\"cam_live\"}')",
            &[],
        )
        .expect("notify");
    wait_for(
        "the HIGH window after NOTIFY",
        Duration::from_secs(5),
        || (level(&server) == "HIGH").then_some(()),
    );

    // Kill every server connection, LISTEN included: it reconnects and catches up.
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .expect("terminate");
    add_window(&mut client, 10, "SEVERE", false);
    wait_for(
        "the reconnected listener to refresh",
        Duration::from_secs(15),
        || (level(&server) == "SEVERE").then_some(()),
    );
    add_window(&mut client, 5, "MODERATE", true);
    wait_for(
        "notifications after the reconnection",
        Duration::from_secs(10),
        || (level(&server) == "MODERATE").then_some(()),
    );
    assert!(server.log().contains("listen_disconnected"));
}

//! A throwaway database per test, and deterministic snapshots of what the pipeline wrote.

use postgres::types::{FromSql, ToSql};
use postgres::{Client, NoTls};

use crate::services::postgres_admin_url;

pub struct TestDb {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl TestDb {
    pub fn create(prefix: &str) -> TestDb {
        let admin_url = postgres_admin_url();
        let name = crate::unique_name(prefix).to_lowercase();
        let mut admin = Client::connect(&admin_url, NoTls)
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is not reachable ({e}); run `bash scripts/postgres.sh ensure`"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create test database");
        let url = testbed::net::with_database(&admin_url, &name);
        TestDb {
            name,
            url,
            admin_url,
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.url, NoTls).expect("connect to test database")
    }

    pub fn migrated(prefix: &str) -> TestDb {
        let db = TestDb::create(prefix);
        migrations::apply(&mut db.client()).expect("migrations apply");
        db
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var("B2_KEEP_FAILED_DB").is_ok() {
            eprintln!("keeping database {} for inspection", self.name);
            return;
        }
        if let Ok(mut admin) = Client::connect(&self.admin_url, NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Every `traffic_metrics` row as text, in a fixed order, without write timestamps.
pub fn metrics_snapshot(client: &mut Client) -> Vec<String> {
    client
        .query(
            "SELECT concat_ws('|', camera_id, coalesce(lane_id, '*'), window_start::text, window_end::text,
                 vehicle_count, event_count, coalesce(avg_speed_kmh::text, '-'), speed_source,
                 car_count, truck_count, bus_count, motorcycle_count, bicycle_count, other_count,
                 coalesce(avg_confidence::text, '-'), congestion_score::text, congestion_level)
             FROM traffic_metrics ORDER BY camera_id, lane_id NULLS FIRST, window_start",
            &[],
        )
        .expect("read traffic_metrics")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Every `traffic_events` row as text (Kafka position first), sorted.
pub fn events_snapshot(client: &mut Client) -> Vec<String> {
    client
        .query(
            "SELECT concat_ws('|', kafka_partition, kafka_offset, detection_index, camera_id, ts::text,
                 frame_id, vehicle_id, class, confidence, bbox_x, bbox_y, bbox_w, bbox_h,
                 coalesce(lane_id, '*'), coalesce(speed_kmh::text, '-'), coalesce(estimated_speed_kmh::text, '-'))
             FROM traffic_events ORDER BY kafka_partition, kafka_offset, detection_index",
            &[],
        )
        .expect("read traffic_events")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The first column of every row `sql` returns.
pub fn column<T, C>(client: &mut Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> C
where
    T: for<'a> FromSql<'a>,
    C: FromIterator<T>,
{
    client
        .query(sql, params)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get(0))
        .collect()
}

pub fn count(client: &mut Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).expect("count query").get(0)
}

/// Ids of the active alerts, newest first: the order the current-alerts route answers in.
pub fn active_alert_ids(client: &mut Client) -> Vec<i64> {
    client
        .query(
            "SELECT alert_id FROM alerts WHERE status = 'active' ORDER BY opened_at DESC, alert_id DESC",
            &[],
        )
        .expect("active alerts")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

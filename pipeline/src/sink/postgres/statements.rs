//! The SQL of one commit. Everything here runs inside one transaction, so the Kafka positions
//! and camera checkpoints are stored exactly when the rows they account for are.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::Transaction;
use serde_json::json;

use operators::alerts::{AlertRecord, AlertTransition};
use operators::metrics::WindowResult;

use crate::sink::CommitBatch;

/// Rows of one batch, for logs and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub events: u64,
    pub windows: u64,
    pub alerts: u64,
}

fn timestamp(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

fn day_of(ms: i64) -> chrono::NaiveDate {
    timestamp(ms).date_naive()
}

/// Writes a whole batch in the caller's transaction (the caller commits).
pub fn write_batch(
    tx: &mut Transaction<'_>,
    batch: &CommitBatch,
    group_id: &str,
    topic: &str,
) -> Result<WriteStats, postgres::Error> {
    ensure_partitions(tx, batch)?;
    let events = copy_events(tx, batch)?;
    register_cameras(tx, batch)?;
    upsert_windows(tx, &batch.windows)?;
    let alerts = write_alerts(tx, &batch.alerts)?;
    save_checkpoints(tx, group_id, &batch.checkpoints)?;
    save_offsets(tx, group_id, topic, &batch.offsets)?;
    notify_windows(tx, &batch.windows)?;
    Ok(WriteStats {
        events,
        windows: batch.windows.len() as u64,
        alerts,
    })
}

fn ensure_partitions(tx: &mut Transaction<'_>, batch: &CommitBatch) -> Result<(), postgres::Error> {
    let event_days: BTreeSet<_> = batch
        .events
        .iter()
        .map(|e| day_of(e.located.detection.ts_ms))
        .collect();
    let window_days: BTreeSet<_> = batch
        .windows
        .iter()
        .map(|(w, _)| day_of(w.window_start_ms))
        .collect();
    for (table, days) in [
        ("traffic_events", event_days),
        ("traffic_metrics", window_days),
    ] {
        for day in days {
            tx.execute("SELECT b2_ensure_day_partition($1, $2)", &[&table, &day])?;
        }
    }
    Ok(())
}

fn copy_events(tx: &mut Transaction<'_>, batch: &CommitBatch) -> Result<u64, postgres::Error> {
    if batch.events.is_empty() {
        return Ok(0);
    }
    let sink = tx.copy_in(
        "COPY traffic_events (camera_id, ts, frame_id, vehicle_id, class, confidence, \
         bbox_x, bbox_y, bbox_w, bbox_h, lane_id, speed_kmh, estimated_speed_kmh, \
         kafka_partition, kafka_offset, detection_index) FROM STDIN (FORMAT binary)",
    )?;
    let types = [
        Type::TEXT,
        Type::TIMESTAMPTZ,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::TEXT,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::INT4,
        Type::INT8,
        Type::INT4,
    ];
    let mut writer = BinaryCopyInWriter::new(sink, &types);
    for event in &batch.events {
        let d = &event.located.detection;
        let ts = timestamp(d.ts_ms);
        let index = event.located.index as i32;
        writer.write(&[
            &d.camera_id,
            &ts,
            &d.frame_id,
            &d.vehicle_id,
            &d.class,
            &d.confidence,
            &d.bbox.x,
            &d.bbox.y,
            &d.bbox.w,
            &d.bbox.h,
            &d.lane_id,
            &d.speed_kmh,
            &event.estimated_speed_kmh,
            &event.located.partition,
            &event.located.offset,
            &index,
        ])?;
    }
    writer.finish()
}

/// New cameras appear in `cameras` on first sight; `last_seen_at` follows closed windows.
fn register_cameras(tx: &mut Transaction<'_>, batch: &CommitBatch) -> Result<(), postgres::Error> {
    let mut seen: BTreeMap<&str, Option<DateTime<Utc>>> = BTreeMap::new();
    for event in &batch.events {
        seen.entry(event.located.detection.camera_id.as_str())
            .or_insert(None);
    }
    for (w, _) in &batch.windows {
        let end = Some(timestamp(w.window_end_ms));
        let entry = seen.entry(w.camera_id.as_str()).or_insert(end);
        *entry = (*entry).max(end);
    }
    if seen.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = seen.keys().copied().collect();
    let last_seen: Vec<Option<DateTime<Utc>>> = seen.values().copied().collect();
    tx.execute(
        "INSERT INTO cameras (camera_id, name, last_seen_at)
         SELECT id, id, seen FROM UNNEST($1::text[], $2::timestamptz[]) AS u(id, seen)
         ON CONFLICT (camera_id) DO UPDATE
             SET last_seen_at = GREATEST(cameras.last_seen_at, EXCLUDED.last_seen_at)
             WHERE EXCLUDED.last_seen_at IS NOT NULL",
        &[&ids, &last_seen],
    )?;
    Ok(())
}

fn upsert_windows(
    tx: &mut Transaction<'_>,
    windows: &[(WindowResult, i64)],
) -> Result<(), postgres::Error> {
    if windows.is_empty() {
        return Ok(());
    }
    let n = windows.len();
    let mut camera = Vec::with_capacity(n);
    let mut lane = Vec::with_capacity(n);
    let mut start = Vec::with_capacity(n);
    let mut end = Vec::with_capacity(n);
    let mut vehicles = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n);
    let mut speed = Vec::with_capacity(n);
    let mut source = Vec::with_capacity(n);
    let mut classes: [Vec<i32>; 6] = Default::default();
    let mut confidence = Vec::with_capacity(n);
    let mut score = Vec::with_capacity(n);
    let mut level = Vec::with_capacity(n);
    for (w, _) in windows {
        camera.push(w.camera_id.as_str());
        lane.push(w.lane_id.as_deref());
        start.push(timestamp(w.window_start_ms));
        end.push(timestamp(w.window_end_ms));
        vehicles.push(w.vehicle_count as i32);
        events.push(w.event_count as i32);
        speed.push(w.avg_speed_kmh);
        source.push(w.speed_source.as_str());
        for (column, count) in classes.iter_mut().zip(w.class_counts) {
            column.push(count as i32);
        }
        confidence.push(w.avg_confidence);
        score.push(w.congestion_score);
        level.push(w.congestion_level.as_str());
    }
    let params: [&(dyn ToSql + Sync); 17] = [
        &camera,
        &lane,
        &start,
        &end,
        &vehicles,
        &events,
        &speed,
        &source,
        &classes[0],
        &classes[1],
        &classes[2],
        &classes[3],
        &classes[4],
        &classes[5],
        &confidence,
        &score,
        &level,
    ];
    tx.execute(
        "INSERT INTO traffic_metrics (camera_id, lane_id, window_start, window_end, vehicle_count,
             event_count, avg_speed_kmh, speed_source, car_count, truck_count, bus_count,
             motorcycle_count, bicycle_count, other_count, avg_confidence, congestion_score,
             congestion_level)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[],
             $5::int4[], $6::int4[], $7::float8[], $8::text[], $9::int4[], $10::int4[],
             $11::int4[], $12::int4[], $13::int4[], $14::int4[], $15::float8[], $16::float8[],
             $17::text[])
         ON CONFLICT ON CONSTRAINT traffic_metrics_window DO UPDATE SET
             window_end = EXCLUDED.window_end,
             vehicle_count = EXCLUDED.vehicle_count,
             event_count = EXCLUDED.event_count,
             avg_speed_kmh = EXCLUDED.avg_speed_kmh,
             speed_source = EXCLUDED.speed_source,
             car_count = EXCLUDED.car_count,
             truck_count = EXCLUDED.truck_count,
             bus_count = EXCLUDED.bus_count,
             motorcycle_count = EXCLUDED.motorcycle_count,
             bicycle_count = EXCLUDED.bicycle_count,
             other_count = EXCLUDED.other_count,
             avg_confidence = EXCLUDED.avg_confidence,
             congestion_score = EXCLUDED.congestion_score,
             congestion_level = EXCLUDED.congestion_level,
             updated_at = now()",
        &params,
    )?;
    Ok(())
}

fn write_alerts(
    tx: &mut Transaction<'_>,
    alerts: &[AlertTransition],
) -> Result<u64, postgres::Error> {
    for transition in alerts {
        let (event, a): (&str, &AlertRecord) = match transition {
            AlertTransition::Opened(a) => ("opened", a),
            AlertTransition::Updated(a) => ("updated", a),
            AlertTransition::Resolved(a) => ("resolved", a),
        };
        let opened_start = timestamp(a.opened_window_start_ms);
        let at = timestamp(a.updated_window_end_ms);
        let severity = a.severity.as_str();
        let peak = a.peak_severity.as_str();
        let row = match transition {
            AlertTransition::Opened(_) => tx.query_one(
                "INSERT INTO alerts (camera_id, alert_type, severity, peak_severity, road_segment, score,
                     message, status, opened_window_start, opened_at, updated_at)
                 VALUES ($1, $2, $3, $4, (SELECT road_segment FROM cameras WHERE camera_id = $1),
                     $5, $6, 'active', $7, $8, $8)
                 ON CONFLICT (camera_id, opened_window_start) DO UPDATE SET
                     severity = EXCLUDED.severity, peak_severity = EXCLUDED.peak_severity,
                     score = EXCLUDED.score, message = EXCLUDED.message, updated_at = EXCLUDED.updated_at
                 RETURNING alert_id, road_segment",
                &[&a.camera_id, &a.alert_type, &severity, &peak, &a.score, &a.message, &opened_start, &at],
            )?,
            AlertTransition::Updated(_) => tx.query_one(
                "UPDATE alerts SET severity = $3, peak_severity = $4, score = $5, message = $6, updated_at = $7
                 WHERE camera_id = $1 AND opened_window_start = $2
                 RETURNING alert_id, road_segment",
                &[&a.camera_id, &opened_start, &severity, &peak, &a.score, &a.message, &at],
            )?,
            AlertTransition::Resolved(_) => tx.query_one(
                "UPDATE alerts SET status = 'resolved', resolved_at = $3, updated_at = $3, message = $4
                 WHERE camera_id = $1 AND opened_window_start = $2
                 RETURNING alert_id, road_segment",
                &[&a.camera_id, &opened_start, &at, &a.message],
            )?,
        };
        let alert_id: i64 = row.get(0);
        let road_segment: Option<String> = row.get(1);
        let payload = json!({
            "event": event,
            "alert_id": alert_id,
            "camera_id": a.camera_id,
            "alert_type": a.alert_type,
            "severity": severity,
            "road_segment": road_segment,
            "score": a.score,
            "message": a.message,
            "at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        tx.execute("SELECT pg_notify('b2_alerts', $1)", &[&payload.to_string()])?;
        if event == "opened" {
            log::info!(
                "alert_opened alert_id={alert_id} camera_id={} severity={severity} score={:.3}",
                a.camera_id,
                a.score
            );
        }
    }
    Ok(alerts.len() as u64)
}

fn save_checkpoints(
    tx: &mut Transaction<'_>,
    group_id: &str,
    checkpoints: &BTreeMap<String, String>,
) -> Result<(), postgres::Error> {
    if checkpoints.is_empty() {
        return Ok(());
    }
    let cameras: Vec<&str> = checkpoints.keys().map(String::as_str).collect();
    let states: Vec<&str> = checkpoints.values().map(String::as_str).collect();
    tx.execute(
        "INSERT INTO pipeline_checkpoints (group_id, camera_id, state, updated_at)
         SELECT $1, c, s::jsonb, now() FROM UNNEST($2::text[], $3::text[]) AS u(c, s)
         ON CONFLICT (group_id, camera_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
        &[&group_id, &cameras, &states],
    )?;
    Ok(())
}

/// Overwrites: the positions are where the source is now, even if the topic was recreated and
/// restarted from 0 (librdkafka resets an out-of-range position to the earliest offset).
fn save_offsets(
    tx: &mut Transaction<'_>,
    group_id: &str,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<(), postgres::Error> {
    if offsets.is_empty() {
        return Ok(());
    }
    let partitions: Vec<i32> = offsets.keys().copied().collect();
    let next: Vec<i64> = offsets.values().copied().collect();
    tx.execute(
        "INSERT INTO pipeline_offsets (group_id, topic, kafka_partition, next_offset, updated_at)
         SELECT $1, $2, p, o, now() FROM UNNEST($3::int4[], $4::int8[]) AS u(p, o)
         ON CONFLICT (group_id, topic, kafka_partition) DO UPDATE
             SET next_offset = EXCLUDED.next_offset, updated_at = now()",
        &[&group_id, &topic, &partitions, &next],
    )?;
    Ok(())
}

/// One notification per camera window (camera-wide figures plus its lanes), sent at commit.
fn notify_windows(
    tx: &mut Transaction<'_>,
    windows: &[(WindowResult, i64)],
) -> Result<(), postgres::Error> {
    // (camera, window start) -> (camera-wide row, lane ids)
    type CameraWindow<'a> = (Option<&'a WindowResult>, Vec<&'a str>);
    let mut grouped: BTreeMap<(&str, i64), CameraWindow<'_>> = BTreeMap::new();
    for (w, _) in windows {
        let entry = grouped
            .entry((w.camera_id.as_str(), w.window_start_ms))
            .or_default();
        match &w.lane_id {
            None => entry.0 = Some(w),
            Some(lane) => entry.1.push(lane),
        }
    }
    let payloads: Vec<String> = grouped
        .into_values()
        .filter_map(|(camera_row, lanes)| {
            let w = camera_row?;
            Some(
                json!({
                    "camera_id": w.camera_id,
                    "window_start": timestamp(w.window_start_ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "window_end": timestamp(w.window_end_ms).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "vehicle_count": w.vehicle_count,
                    "avg_speed_kmh": w.avg_speed_kmh,
                    "congestion_level": w.congestion_level.as_str(),
                    "congestion_score": w.congestion_score,
                    "lanes": lanes,
                })
                .to_string(),
            )
        })
        .collect();
    if !payloads.is_empty() {
        tx.execute(
            "SELECT pg_notify('b2_metrics', p) FROM UNNEST($1::text[]) AS p",
            &[&payloads],
        )?;
    }
    Ok(())
}

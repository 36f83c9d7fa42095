//! The SQL of one commit. Everything here runs inside one transaction, so the Kafka positions
//! and camera checkpoints are stored exactly when the rows they account for are.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::Transaction;

use contract::notice::{AlertEvent, AlertNotice, Notice, WindowNotice};
use contract::Channel;
use operators::alerts::AlertTransition;
use operators::dataflow::StoredEvent;
use operators::metrics::WindowResult;

use crate::sink::CommitBatch;

/// The binary COPY of raw events; the bench's COPY ceiling runs the very same statement.
pub const COPY_EVENTS: &str = "COPY traffic_events (camera_id, ts, frame_id, vehicle_id, class, \
     confidence, bbox_x, bbox_y, bbox_w, bbox_h, lane_id, speed_kmh, estimated_speed_kmh, \
     kafka_partition, kafka_offset, detection_index) FROM STDIN (FORMAT binary)";

/// Column types of [`COPY_EVENTS`], in order.
pub const COPY_EVENTS_TYPES: [Type; 16] = [
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
    let events = copy_events(tx, &batch.events)?;
    register_cameras(tx, batch)?;
    upsert_windows(tx, &batch.windows)?;
    let alerts = write_alerts(tx, &batch.alerts)?;
    save_checkpoints(tx, group_id, &checkpoint_pairs(&batch.checkpoints))?;
    delete_checkpoints(tx, group_id, &batch.evicted)?;
    save_offsets(tx, group_id, topic, &batch.offsets)?;
    notify_windows(tx, &batch.windows)?;
    Ok(WriteStats {
        events,
        windows: batch.windows.len() as u64,
        alerts,
    })
}

pub(super) fn ensure_partitions(
    tx: &mut Transaction<'_>,
    batch: &CommitBatch,
) -> Result<(), postgres::Error> {
    let window_days: BTreeSet<_> = batch
        .windows
        .iter()
        .map(|(w, _)| day_of(w.window_start_ms))
        .collect();
    ensure_day_partitions(tx, "traffic_events", event_days(&batch.events))?;
    ensure_day_partitions(tx, "traffic_metrics", window_days)
}

/// The days `events` fall on, whose `traffic_events` partitions must exist before the COPY.
pub fn event_days(events: &[StoredEvent]) -> BTreeSet<chrono::NaiveDate> {
    events
        .iter()
        .map(|e| day_of(e.located.detection.ts_ms))
        .collect()
}

/// Creates the day partitions of `table` that do not exist yet.
pub fn ensure_day_partitions(
    tx: &mut Transaction<'_>,
    table: &str,
    days: BTreeSet<chrono::NaiveDate>,
) -> Result<(), postgres::Error> {
    for day in days {
        tx.execute("SELECT b2_ensure_day_partition($1, $2)", &[&table, &day])?;
    }
    Ok(())
}

/// One binary COPY of `events` into `traffic_events`: the pipeline's write and the bench's
/// COPY ceiling run this same code.
pub fn copy_events(
    tx: &mut Transaction<'_>,
    events: &[StoredEvent],
) -> Result<u64, postgres::Error> {
    if events.is_empty() {
        return Ok(0);
    }
    let sink = tx.copy_in(COPY_EVENTS)?;
    let mut writer = BinaryCopyInWriter::new(sink, &COPY_EVENTS_TYPES);
    for event in events {
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
pub(super) fn register_cameras(
    tx: &mut Transaction<'_>,
    batch: &CommitBatch,
) -> Result<(), postgres::Error> {
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

pub(super) fn upsert_windows(
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

/// All alert changes of a batch in two statements: one upsert of each alert's latest state,
/// then one NOTIFY per change (in order), so a burst of alerts costs no more round trips.
pub(super) fn write_alerts(
    tx: &mut Transaction<'_>,
    alerts: &[AlertTransition],
) -> Result<u64, postgres::Error> {
    if alerts.is_empty() {
        return Ok(0);
    }
    // Latest state per alert, and when it opened if that happened in this batch.
    let mut latest: BTreeMap<(&str, i64), (&AlertTransition, Option<i64>)> = BTreeMap::new();
    for transition in alerts {
        let a = transition.record();
        let opened_at =
            matches!(transition, AlertTransition::Opened(_)).then_some(a.updated_window_end_ms);
        let entry = latest
            .entry((a.camera_id.as_str(), a.opened_window_start_ms))
            .or_insert((transition, opened_at));
        entry.0 = transition;
        entry.1 = entry.1.or(opened_at);
    }
    let n = latest.len();
    let mut camera = Vec::with_capacity(n);
    let mut opened_start = Vec::with_capacity(n);
    let mut alert_type = Vec::with_capacity(n);
    let mut severity = Vec::with_capacity(n);
    let mut peak = Vec::with_capacity(n);
    let mut score = Vec::with_capacity(n);
    let mut message = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut opened_at = Vec::with_capacity(n);
    let mut updated_at = Vec::with_capacity(n);
    let mut resolved_at = Vec::with_capacity(n);
    for ((camera_id, start_ms), (transition, opened_ms)) in &latest {
        let a = transition.record();
        let at = timestamp(a.updated_window_end_ms);
        let resolved = matches!(transition, AlertTransition::Resolved(_));
        camera.push(*camera_id);
        opened_start.push(timestamp(*start_ms));
        alert_type.push(a.alert_type.as_str());
        severity.push(a.severity.as_str());
        peak.push(a.peak_severity.as_str());
        score.push(a.score);
        message.push(a.message.as_str());
        status.push(if resolved { "resolved" } else { "active" });
        opened_at.push(timestamp(opened_ms.unwrap_or(a.updated_window_end_ms)));
        updated_at.push(at);
        resolved_at.push(resolved.then_some(at));
    }
    let rows = tx.query(
        "INSERT INTO alerts AS a (camera_id, opened_window_start, alert_type, severity, peak_severity,
             score, message, status, opened_at, updated_at, resolved_at, road_segment)
         SELECT u.*, c.road_segment
         FROM UNNEST($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::float8[],
                     $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[])
              AS u(camera_id, opened_window_start, alert_type, severity, peak_severity, score, message,
                   status, opened_at, updated_at, resolved_at)
         LEFT JOIN cameras c ON c.camera_id = u.camera_id
         ON CONFLICT (camera_id, opened_window_start) DO UPDATE SET
             severity = EXCLUDED.severity, peak_severity = EXCLUDED.peak_severity,
             score = EXCLUDED.score, message = EXCLUDED.message, status = EXCLUDED.status,
             updated_at = EXCLUDED.updated_at, resolved_at = EXCLUDED.resolved_at
         RETURNING a.camera_id, (extract(epoch FROM a.opened_window_start) * 1000)::bigint,
                   a.alert_id, a.road_segment",
        &[
            &camera,
            &opened_start,
            &alert_type,
            &severity,
            &peak,
            &score,
            &message,
            &status,
            &opened_at,
            &updated_at,
            &resolved_at,
        ],
    )?;
    let ids: BTreeMap<(String, i64), (i64, Option<String>)> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3))))
        .collect();
    let mut payloads = Vec::with_capacity(alerts.len());
    for transition in alerts {
        let a = transition.record();
        let event = match transition {
            AlertTransition::Opened(_) => AlertEvent::Opened,
            AlertTransition::Updated(_) => AlertEvent::Updated,
            AlertTransition::Resolved(_) => AlertEvent::Resolved,
        };
        let (alert_id, road_segment) = ids
            .get(&(a.camera_id.clone(), a.opened_window_start_ms))
            .cloned()
            .unwrap_or((0, None));
        let notice = AlertNotice {
            camera_id: Some(a.camera_id.clone()),
            alert_type: Some(a.alert_type.clone()),
            severity: Some(a.severity),
            road_segment,
            score: Some(a.score),
            message: Some(a.message.clone()),
            at: Some(timestamp(a.updated_window_end_ms)),
            ..AlertNotice::bare(event, alert_id)
        };
        payloads.push(Notice::Alert(notice).encode().text);
        if let AlertTransition::Opened(_) = transition {
            log::info!(
                "alert_opened alert_id={alert_id} camera_id={} severity={} score={:.3}",
                a.camera_id,
                a.severity.as_str(),
                a.score
            );
        }
    }
    notify_all(tx, Channel::Alerts, &payloads)?;
    Ok(alerts.len() as u64)
}

/// Camera id and serialized state, in camera order.
pub(super) fn checkpoint_pairs(checkpoints: &BTreeMap<String, String>) -> Vec<(&str, &str)> {
    checkpoints
        .iter()
        .map(|(c, s)| (c.as_str(), s.as_str()))
        .collect()
}

pub(super) fn save_checkpoints(
    tx: &mut Transaction<'_>,
    group_id: &str,
    checkpoints: &[(&str, &str)],
) -> Result<(), postgres::Error> {
    if checkpoints.is_empty() {
        return Ok(());
    }
    let cameras: Vec<&str> = checkpoints.iter().map(|(c, _)| *c).collect();
    let states: Vec<&str> = checkpoints.iter().map(|(_, s)| *s).collect();
    tx.execute(
        "INSERT INTO pipeline_checkpoints (group_id, camera_id, state, updated_at)
         SELECT $1, c, s::jsonb, now() FROM UNNEST($2::text[], $3::text[]) AS u(c, s)
         ON CONFLICT (group_id, camera_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()",
        &[&group_id, &cameras, &states],
    )?;
    Ok(())
}

/// Cameras evicted for silence start afresh if they ever come back.
pub(super) fn delete_checkpoints(
    tx: &mut Transaction<'_>,
    group_id: &str,
    evicted: &BTreeSet<String>,
) -> Result<(), postgres::Error> {
    if evicted.is_empty() {
        return Ok(());
    }
    let cameras: Vec<&str> = evicted.iter().map(String::as_str).collect();
    tx.execute(
        "DELETE FROM pipeline_checkpoints WHERE group_id = $1 AND camera_id = ANY($2)",
        &[&group_id, &cameras],
    )?;
    Ok(())
}

/// Overwrites with where the source is now. A position the broker no longer holds is never
/// replaced silently: the source stops (`KAFKA_OFFSET_RESET_POLICY=error`) or re-reads from the
/// earliest or latest offset with a `kafka_offset_reset` warning; until a resumed position is
/// confirmed, its marks carry -1 and leave the stored row alone.
pub(super) fn save_offsets(
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
pub(super) fn notify_windows(
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
            let notice = WindowNotice {
                camera_id: w.camera_id.clone(),
                window_start: Some(timestamp(w.window_start_ms)),
                window_end: Some(timestamp(w.window_end_ms)),
                vehicle_count: Some(w.vehicle_count),
                avg_speed_kmh: w.avg_speed_kmh,
                congestion_level: Some(w.congestion_level),
                congestion_score: Some(w.congestion_score),
                lanes: lanes.into_iter().map(str::to_owned).collect(),
                lanes_total: None,
                truncated: false,
            };
            Some(Notice::Window(notice).encode().text)
        })
        .collect();
    notify_all(tx, Channel::Metrics, &payloads)
}

/// One NOTIFY per payload, in order, in one round trip.
fn notify_all(
    tx: &mut Transaction<'_>,
    channel: Channel,
    payloads: &[String],
) -> Result<(), postgres::Error> {
    if payloads.is_empty() {
        return Ok(());
    }
    tx.execute(
        "SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p",
        &[&channel.name(), &payloads],
    )?;
    Ok(())
}

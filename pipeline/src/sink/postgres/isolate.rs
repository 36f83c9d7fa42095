//! The slow path after a data error: the same batch, written stage by stage under savepoints, and
//! a stage that fails with a data error bisected until the refused rows are found. They go to the
//! `quarantine` table; everything else commits in the same transaction as the Kafka positions,
//! so exactly once still holds and one bad row costs only itself. A transient error anywhere
//! aborts the attempt, as on the fast path.

use std::collections::BTreeSet;

use postgres::Transaction;

use operators::event::encode_detection;

use super::errors::{classify, describe, sqlstate, ErrorClass};
use super::statements::{
    checkpoint_pairs, copy_events, delete_checkpoints, ensure_partitions, notify_windows,
    register_cameras, save_checkpoints, save_offsets, upsert_windows, write_alerts, WriteStats,
};
use crate::sink::CommitBatch;

/// One row PostgreSQL refused, with what an operator needs to find and replay it.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub kind: &'static str,
    pub camera_id: Option<String>,
    pub partition: Option<i32>,
    pub offset: Option<i64>,
    pub detection_index: Option<i32>,
    pub sqlstate: String,
    pub reason: String,
    pub payload: Vec<u8>,
    /// `kafka` when `payload` holds the message as read from Kafka, `row` for the row as JSON.
    pub payload_source: &'static str,
}

impl Refused {
    /// A refused row that is not a Kafka message (a window, an alert, a checkpoint): its camera,
    /// the database's refusal and the row as stored.
    fn row(kind: &'static str, camera_id: &str, error: &postgres::Error, payload: Vec<u8>) -> Self {
        Refused {
            kind,
            camera_id: Some(camera_id.to_owned()),
            partition: None,
            offset: None,
            detection_index: None,
            sqlstate: sqlstate(error),
            reason: reason_text(error),
            payload,
            payload_source: "row",
        }
    }
}

/// Writes `items` under a savepoint; on a data error splits them in halves until each refused
/// item is alone, and records it with its index in `items`.
fn isolate<T>(
    tx: &mut Transaction<'_>,
    items: &[T],
    first_index: usize,
    write: &mut impl FnMut(&mut Transaction<'_>, &[T]) -> Result<(), postgres::Error>,
    refused: &mut Vec<(usize, postgres::Error)>,
) -> Result<(), postgres::Error> {
    if items.is_empty() {
        return Ok(());
    }
    let mut savepoint = tx.savepoint(format!("isolate_{first_index}_{}", items.len()))?;
    match write(&mut savepoint, items) {
        Ok(()) => savepoint.commit(),
        Err(e) if classify(&e) == ErrorClass::Data => {
            savepoint.rollback()?;
            if items.len() == 1 {
                refused.push((first_index, e));
                return Ok(());
            }
            let (left, right) = items.split_at(items.len() / 2);
            isolate(tx, left, first_index, write, refused)?;
            isolate(tx, right, first_index + left.len(), write, refused)
        }
        Err(e) => Err(e),
    }
}

/// [`isolate`], with each refused item recorded as `refusal` describes it; returns the indices
/// of the refused items.
fn isolate_refusing<T>(
    tx: &mut Transaction<'_>,
    items: &[T],
    write: &mut impl FnMut(&mut Transaction<'_>, &[T]) -> Result<(), postgres::Error>,
    refusal: impl Fn(&T, &postgres::Error) -> Refused,
    refused: &mut Vec<Refused>,
) -> Result<BTreeSet<usize>, postgres::Error> {
    let mut bad = Vec::new();
    isolate(tx, items, 0, write, &mut bad)?;
    refused.extend(bad.iter().map(|(i, e)| refusal(&items[*i], e)));
    Ok(bad.into_iter().map(|(i, _)| i).collect())
}

fn reason_text(error: &postgres::Error) -> String {
    // The server's own text; NUL is the one character a text column cannot hold.
    describe(error).replace('\0', "\\0")
}

/// Writes the whole batch, isolating refused rows; returns what was written and what was refused.
pub fn write_batch_isolating(
    tx: &mut Transaction<'_>,
    batch: &CommitBatch,
    group_id: &str,
    topic: &str,
) -> Result<(WriteStats, Vec<Refused>), postgres::Error> {
    let mut refused = Vec::new();
    ensure_partitions(tx, batch)?;

    let refused_events = isolate_refusing(
        tx,
        &batch.events,
        &mut |tx, events| copy_events(tx, events).map(drop),
        |event, e| {
            let d = &event.located.detection;
            Refused {
                kind: "event",
                camera_id: Some(d.camera_id.clone()),
                partition: Some(event.located.partition),
                offset: Some(event.located.offset),
                detection_index: Some(event.located.index as i32),
                sqlstate: sqlstate(e),
                reason: reason_text(e),
                payload: encode_detection(d).into_bytes(),
                payload_source: "row",
            }
        },
        &mut refused,
    )?;
    let events_written = (batch.events.len() - refused_events.len()) as u64;
    register_cameras(tx, batch)?;

    let refused_windows = isolate_refusing(
        tx,
        &batch.windows,
        &mut |tx, windows| upsert_windows(tx, windows),
        |(w, _), e| {
            Refused::row(
                "window",
                &w.camera_id,
                e,
                serde_json::to_vec(w).unwrap_or_default(),
            )
        },
        &mut refused,
    )?;

    let mut alerts_written = 0;
    isolate_refusing(
        tx,
        &batch.alerts,
        &mut |tx, alerts| {
            alerts_written += write_alerts(tx, alerts)?;
            Ok(())
        },
        |alert, e| {
            let record = alert.record();
            Refused::row(
                "alert",
                &record.camera_id,
                e,
                serde_json::to_vec(record).unwrap_or_default(),
            )
        },
        &mut refused,
    )?;

    let checkpoints = checkpoint_pairs(&batch.checkpoints);
    isolate_refusing(
        tx,
        &checkpoints,
        &mut |tx, pairs| save_checkpoints(tx, group_id, pairs),
        |(camera, state), e| Refused::row("checkpoint", camera, e, state.as_bytes().to_vec()),
        &mut refused,
    )?;

    delete_checkpoints(tx, group_id, &batch.evicted)?;
    save_offsets(tx, group_id, topic, &batch.offsets)?;
    let announced: Vec<_> = batch
        .windows
        .iter()
        .enumerate()
        .filter(|(i, _)| !refused_windows.contains(i))
        .map(|(_, w)| w.clone())
        .collect();
    notify_windows(tx, &announced)?;
    Ok((
        WriteStats {
            events: events_written,
            windows: announced.len() as u64,
            alerts: alerts_written,
        },
        refused,
    ))
}

/// Stores the refused rows, in the transaction that stores the positions covering them.
pub fn save_quarantine(
    tx: &mut Transaction<'_>,
    group_id: &str,
    refused: &[Refused],
) -> Result<(), postgres::Error> {
    if refused.is_empty() {
        return Ok(());
    }
    let kind: Vec<&str> = refused.iter().map(|r| r.kind).collect();
    let camera: Vec<Option<&str>> = refused.iter().map(|r| r.camera_id.as_deref()).collect();
    let partition: Vec<Option<i32>> = refused.iter().map(|r| r.partition).collect();
    let offset: Vec<Option<i64>> = refused.iter().map(|r| r.offset).collect();
    let index: Vec<Option<i32>> = refused.iter().map(|r| r.detection_index).collect();
    let state: Vec<&str> = refused.iter().map(|r| r.sqlstate.as_str()).collect();
    let reason: Vec<&str> = refused.iter().map(|r| r.reason.as_str()).collect();
    let payload: Vec<&[u8]> = refused.iter().map(|r| r.payload.as_slice()).collect();
    let source: Vec<&str> = refused.iter().map(|r| r.payload_source).collect();
    tx.execute(
        "INSERT INTO quarantine (group_id, kind, camera_id, kafka_partition, kafka_offset,
             detection_index, sqlstate, reason, payload, payload_source)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::int4[], $5::int8[], $6::int4[],
             $7::text[], $8::text[], $9::bytea[], $10::text[])",
        &[
            &group_id, &kind, &camera, &partition, &offset, &index, &state, &reason, &payload,
            &source,
        ],
    )?;
    Ok(())
}

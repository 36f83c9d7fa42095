//! Congestion alerts: the active ones, the history with filters, acknowledgement by an operator,
//! and a CSV export that streams, so exporting months of alerts needs no memory on the server.
//!
//! An alert "overlaps" a period when it was opened before the period ends and was not resolved
//! before it starts (an active alert is still open). History and export share the filters
//! `from`, `to` (default: the last 24 h), `severity` (HIGH|SEVERE), `road_segment` and `type`.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use hyper::header::{HeaderValue, CONTENT_DISPOSITION};
use postgres::Row;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::context::{Ctx, Req};
use crate::error::ApiError;
use crate::http::{self, ApiResult};
use crate::params::{self, rfc3339, Params};

/// Default and maximum page size of the list routes.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// CSV rows per streamed chunk (and per portal fetch): small enough to start sending at once,
/// large enough to keep the per-chunk overhead negligible.
const EXPORT_CHUNK_ROWS: i32 = 500;
/// Deepest accepted `offset`; keeps `offset + limit` far from overflow.
const MAX_OFFSET: i64 = 1_000_000_000;
/// Longest accepted `admin_id`; it is an identifier, not free text.
const MAX_ADMIN_ID_LEN: usize = 200;

pub(crate) const COLUMNS: &str =
    "alert_id, camera_id, alert_type, severity, peak_severity, road_segment, \
     score, message, status, opened_window_start, opened_at, updated_at, resolved_at, \
     acknowledged_by, acknowledged_at";

/// `$1` from, `$2` to, `$3` severity, `$4` road_segment, `$5` type; NULL means "any".
const FILTER: &str = "opened_at <= $2 AND COALESCE(resolved_at, 'infinity') >= $1 \
     AND ($3::text IS NULL OR severity = $3) \
     AND ($4::text IS NULL OR road_segment = $4) \
     AND ($5::text IS NULL OR alert_type = $5)";

/// `GET /api/alerts/current`: active alerts, newest first; `limit` (default 100, max 1000) and
/// `offset` page through them, `next_offset` is set when more remain.
pub async fn current(ctx: &Ctx, req: &Req) -> ApiResult {
    let (limit, offset) = paging(&req.params)?;
    let from_memory = ctx.feed.read_current(|state| {
        let mut active: Vec<&Value> = state.active_alerts().collect();
        // RFC 3339 UTC with fixed precision sorts as text in time order.
        active.sort_by(|a, b| {
            let key = |v: &Value| {
                (
                    v["opened_at"].as_str().map(str::to_owned),
                    v["alert_id"].as_i64(),
                )
            };
            key(b).cmp(&key(a))
        });
        active
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit + 1).unwrap_or(usize::MAX))
            .cloned()
            .collect::<Vec<Value>>()
    });
    if let Some(items) = from_memory {
        return http::json(&page_of(items, limit, offset, json!({})));
    }
    let rows = ctx
        .db
        .run(move |client| {
            let sql = format!(
                "SELECT {COLUMNS} FROM alerts WHERE status = 'active' \
                 ORDER BY opened_at DESC, alert_id DESC LIMIT $1 OFFSET $2"
            );
            Ok(client.query(&sql, &[&(limit + 1), &offset])?)
        })
        .await?;
    http::json(&page(rows, limit, offset, json!({})))
}

/// `GET /api/alerts/history`: alerts overlapping `[from, to]`, newest first, filtered and paged
/// like [`current`].
pub async fn history(ctx: &Ctx, req: &Req) -> ApiResult {
    let filters = Filters::parse(&req.params)?;
    let (limit, offset) = paging(&req.params)?;
    let echo = filters.echo();
    let rows = ctx
        .db
        .run(move |client| {
            let sql = format!(
                "SELECT {COLUMNS} FROM alerts WHERE {FILTER} \
                 ORDER BY opened_at DESC, alert_id DESC LIMIT $6 OFFSET $7"
            );
            Ok(client.query(
                &sql,
                &[
                    &filters.from,
                    &filters.to,
                    &filters.severity,
                    &filters.road_segment,
                    &filters.alert_type,
                    &(limit + 1),
                    &offset,
                ],
            )?)
        })
        .await?;
    http::json(&page(rows, limit, offset, echo))
}

/// `POST /api/alerts/{alert_id}/acknowledge` with `{"admin_id": "..."}`. The first
/// acknowledgement wins and is kept: acknowledging again returns it unchanged (200), so a
/// retried request or two operators clicking at once cannot overwrite who acknowledged first.
pub async fn acknowledge(ctx: &Ctx, req: &Req) -> ApiResult {
    let raw_id = req.path_param(0, "alert_id")?;
    let alert_id: i64 = raw_id
        .parse()
        .map_err(|_| ApiError::bad_param("alert_id", format!("{raw_id:?} is not an integer")))?;
    // Read as plain JSON so every shape problem (missing, not a string, blank) names the field.
    let body: Value = req.json()?;
    let admin_id = body
        .get("admin_id")
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if admin_id.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid body: admin_id must be a non-empty string",
        ));
    }
    if admin_id.chars().count() > MAX_ADMIN_ID_LEN {
        return Err(ApiError::unprocessable(format!(
            "invalid body: admin_id must be at most {MAX_ADMIN_ID_LEN} characters"
        )));
    }
    let (row, newly) = ctx
        .db
        .run(move |client| {
            // The conditional UPDATE is atomic: of two concurrent requests exactly one sets it.
            let updated = client.query_opt(
                &format!(
                    "UPDATE alerts SET acknowledged_by = $2, acknowledged_at = now() \
                     WHERE alert_id = $1 AND acknowledged_by IS NULL RETURNING {COLUMNS}"
                ),
                &[&alert_id, &admin_id],
            )?;
            if let Some(row) = updated {
                // Every replica's hot answers (current alerts, incidents) must show it.
                let payload =
                    serde_json::json!({"event": "acknowledged", "alert_id": alert_id}).to_string();
                client.execute("SELECT pg_notify('b2_alerts', $1)", &[&payload])?;
                return Ok((row, true));
            }
            client
                .query_opt(
                    &format!("SELECT {COLUMNS} FROM alerts WHERE alert_id = $1"),
                    &[&alert_id],
                )?
                .map(|row| (row, false))
                .ok_or_else(|| ApiError::not_found(format!("alert {alert_id} not found")))
        })
        .await?;
    let mut value = alert_json(&row);
    if newly {
        // This replica shows its own write at once; the NOTIFY brings it to the others (and is
        // then recognised here as already applied).
        let row = value.clone();
        ctx.feed.publish(|state| {
            state
                .apply_alert(row.clone())
                .map(|change| vec![crate::live::feed::Outgoing::alert(change, &row)])
                .unwrap_or_default()
        });
    }
    value["already_acknowledged"] = json!(!newly);
    http::json(&value)
}

/// `GET /api/alerts/export`: every alert matching the history filters as CSV, oldest first,
/// streamed in chunks of [`EXPORT_CHUNK_ROWS`] rows read through a server-side cursor (portal),
/// so neither the database client nor the server holds the whole result.
pub async fn export(ctx: &Ctx, req: &Req) -> ApiResult {
    let filters = Filters::parse(&req.params)?;
    let filename = format!(
        "alerts-{}-{}.csv",
        filters.from.format("%Y%m%dT%H%M%SZ"),
        filters.to.format("%Y%m%dT%H%M%SZ")
    );
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    // Tells the handler whether the query started, so a database failure is still a proper
    // error response rather than an empty 200.
    let (ready_tx, ready_rx) = oneshot::channel::<Result<(), ApiError>>();
    let db = ctx.db.clone();
    let task = tokio::spawn(async move {
        db.run(move |client| stream_csv(client, &filters, ready_tx, tx))
            .await
    });
    match ready_rx.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        // The closure never ran (no connection) or panicked: the task holds the reason.
        Err(_) => {
            return Err(match task.await {
                Ok(Err(e)) => e,
                _ => ApiError::internal("export failed to start"),
            })
        }
    }
    let mut response = http::streamed("text/csv; charset=utf-8", rx);
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .map_err(|e| ApiError::internal(format!("bad header: {e}")))?;
    response
        .headers_mut()
        .insert(CONTENT_DISPOSITION, disposition);
    Ok(response)
}

const CSV_HEADER: [&str; 15] = [
    "alert_id",
    "camera_id",
    "alert_type",
    "severity",
    "peak_severity",
    "road_segment",
    "score",
    "message",
    "status",
    "opened_window_start",
    "opened_at",
    "updated_at",
    "resolved_at",
    "acknowledged_by",
    "acknowledged_at",
];

/// Runs on the blocking pool: reads the portal chunk by chunk and sends CSV through `tx`.
/// Stops early when the client goes away (the receiver is dropped).
fn stream_csv(
    client: &mut postgres::Client,
    filters: &Filters,
    ready: oneshot::Sender<Result<(), ApiError>>,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ApiError> {
    let started = open_export(client, filters);
    let (mut transaction, portal) = match started {
        Ok(started) => {
            let _ = ready.send(Ok(()));
            started
        }
        Err(e) => {
            let error = ApiError::from(e);
            let _ = ready.send(Err(error.clone()));
            return Err(error);
        }
    };
    let result = (|| -> Result<(), String> {
        let mut first = true;
        loop {
            let rows = transaction
                .query_portal(&portal, EXPORT_CHUNK_ROWS)
                .map_err(|e| e.to_string())?;
            // One writer per chunk: `into_inner` hands over the finished bytes of the chunk.
            let mut writer = csv::Writer::from_writer(Vec::new());
            if first {
                writer.write_record(CSV_HEADER).map_err(|e| e.to_string())?;
                first = false;
            }
            for row in &rows {
                writer
                    .write_record(csv_record(row))
                    .map_err(|e| e.to_string())?;
            }
            let chunk = writer.into_inner().map_err(|e| e.to_string())?;
            if !chunk.is_empty() && tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return Ok(()); // client gone
            }
            if rows.len() < EXPORT_CHUNK_ROWS as usize {
                return Ok(());
            }
        }
    })();
    if let Err(e) = result {
        log::error!("alerts_export_failed error={e}");
        // Aborts the body, so the client sees a truncated transfer, not a short "complete" file.
        let _ = tx.blocking_send(Err(std::io::Error::other(e)));
    }
    let _ = transaction.commit();
    Ok(())
}

/// A read-only transaction and the export query bound to a portal in it, not yet fetched.
fn open_export<'a>(
    client: &'a mut postgres::Client,
    filters: &Filters,
) -> Result<(postgres::Transaction<'a>, postgres::Portal), postgres::Error> {
    let mut transaction = client.build_transaction().read_only(true).start()?;
    let portal = transaction.bind(
        &format!("SELECT {COLUMNS} FROM alerts WHERE {FILTER} ORDER BY opened_at, alert_id"),
        &[
            &filters.from,
            &filters.to,
            &filters.severity,
            &filters.road_segment,
            &filters.alert_type,
        ],
    )?;
    Ok((transaction, portal))
}

fn csv_record(row: &Row) -> Vec<String> {
    let time = |name: &str| {
        row.get::<_, Option<DateTime<Utc>>>(name)
            .map(rfc3339)
            .unwrap_or_default()
    };
    let text = |name: &str| row.get::<_, Option<String>>(name).unwrap_or_default();
    vec![
        row.get::<_, i64>("alert_id").to_string(),
        text("camera_id"),
        text("alert_type"),
        text("severity"),
        text("peak_severity"),
        text("road_segment"),
        row.get::<_, f64>("score").to_string(),
        text("message"),
        text("status"),
        time("opened_window_start"),
        time("opened_at"),
        time("updated_at"),
        time("resolved_at"),
        text("acknowledged_by"),
        time("acknowledged_at"),
    ]
}

/// The shared filters of history and export.
struct Filters {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    severity: Option<String>,
    road_segment: Option<String>,
    alert_type: Option<String>,
}

impl Filters {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let now = Utc::now();
        let (from, to) = params::range(params, "from", "to", now - Duration::hours(24), now)?;
        Ok(Self {
            from,
            to,
            severity: params
                .choice("severity", &["HIGH", "SEVERE"])?
                .map(str::to_owned),
            road_segment: params.text("road_segment").map(str::to_owned),
            alert_type: params.text("type").map(str::to_owned),
        })
    }

    /// The effective filters, echoed in the response so a client sees the defaults applied.
    fn echo(&self) -> Value {
        json!({
            "from": rfc3339(self.from),
            "to": rfc3339(self.to),
            "severity": self.severity,
            "road_segment": self.road_segment,
            "type": self.alert_type,
        })
    }
}

fn paging(params: &Params) -> Result<(i64, i64), ApiError> {
    Ok((
        params.int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)?,
        params.int("offset", 0, 0, MAX_OFFSET)?,
    ))
}

/// `{"items", "count", "limit", "offset", "next_offset", ...extra}`; `rows` holds up to
/// `limit + 1` rows, the extra one only proving that another page exists.
fn page(rows: Vec<Row>, limit: i64, offset: i64, extra: Value) -> Value {
    page_of(rows.iter().map(alert_json).collect(), limit, offset, extra)
}

/// `limit + 1` fetched items as a page of `limit` with `next_offset` when more remain.
fn page_of(mut items: Vec<Value>, limit: i64, offset: i64, extra: Value) -> Value {
    let more = items.len() as i64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(0));
    let mut body = json!({
        "count": items.len(),
        "limit": limit,
        "offset": offset,
        "next_offset": more.then(|| offset + limit),
    });
    if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
        body.extend(extra);
        body.insert("items".into(), Value::Array(items));
    }
    body
}

pub(crate) fn alert_json(row: &Row) -> Value {
    let time = |name: &str| row.get::<_, Option<DateTime<Utc>>>(name).map(rfc3339);
    json!({
        "alert_id": row.get::<_, i64>("alert_id"),
        "camera_id": row.get::<_, String>("camera_id"),
        "alert_type": row.get::<_, String>("alert_type"),
        "severity": row.get::<_, String>("severity"),
        "peak_severity": row.get::<_, String>("peak_severity"),
        "road_segment": row.get::<_, Option<String>>("road_segment"),
        "score": row.get::<_, f64>("score"),
        "message": row.get::<_, String>("message"),
        "status": row.get::<_, String>("status"),
        "opened_window_start": time("opened_window_start"),
        "opened_at": time("opened_at"),
        "updated_at": time("updated_at"),
        "resolved_at": time("resolved_at"),
        "acknowledged_by": row.get::<_, Option<String>>("acknowledged_by"),
        "acknowledged_at": time("acknowledged_at"),
    })
}

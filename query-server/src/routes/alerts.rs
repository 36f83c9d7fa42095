//! Congestion alerts: the active ones, the history with filters, acknowledgement by an operator,
//! and a CSV export that streams, so exporting months of alerts needs no memory on the server.
//!
//! An alert "overlaps" a period when it was opened before the period ends and was not resolved
//! before it starts (an active alert is still open). History and export share the filters
//! `from`, `to` (default: the last 24 h), `severity` (HIGH|SEVERE), `road_segment` and `type`.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use contract::notice::{AlertEvent, AlertNotice, Notice};
use contract::{Channel, CongestionLevel};
use postgres::Row;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::context::{Ctx, Req};
use crate::data::alerts::{alert_json, ALERT_COLUMNS};
use crate::data::paging::{Limits, Page};
use crate::error::ApiError;
use crate::http::{self, ApiResult};
use crate::live::feed::Outgoing;
use crate::params::{self, rfc3339, Params};

/// CSV rows per streamed chunk (and per portal fetch): small enough to start sending at once,
/// large enough to keep the per-chunk overhead negligible.
const EXPORT_CHUNK_ROWS: i32 = 500;
/// Longest accepted `admin_id`; it is an identifier, not free text.
const MAX_ADMIN_ID_LEN: usize = 200;

/// `$1` from, `$2` to, `$3` severity, `$4` road_segment, `$5` type; NULL means "any".
const FILTER: &str = "opened_at <= $2 AND COALESCE(resolved_at, 'infinity') >= $1 \
     AND ($3::text IS NULL OR severity = $3) \
     AND ($4::text IS NULL OR road_segment = $4) \
     AND ($5::text IS NULL OR alert_type = $5)";

/// `GET /api/alerts/current`: active alerts, newest first; `limit` (default 100, max 1000) and
/// `offset` page through them, `next_offset` is set when more remain.
pub(crate) async fn current(ctx: &Ctx, req: &Req) -> ApiResult {
    let page = Page::parse(&req.params, Limits::ALERTS)?;
    let (skip, take) = page.window();
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
            .skip(skip)
            .take(take)
            .cloned()
            .collect::<Vec<Value>>()
    });
    if let Some(items) = from_memory {
        return http::json(&page.body(items));
    }
    let rows = ctx
        .db
        .run(move |client| {
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'active' \
                 ORDER BY opened_at DESC, alert_id DESC LIMIT $1 OFFSET $2"
            );
            Ok(page.query(client, &sql, &[])?)
        })
        .await?;
    http::json(&page.body(rows.iter().map(alert_json).collect()))
}

/// `GET /api/alerts/history`: alerts overlapping `[from, to]`, newest first, filtered and paged
/// like [`current`].
pub(crate) async fn history(ctx: &Ctx, req: &Req) -> ApiResult {
    let filters = Filters::parse(&req.params)?;
    let page = Page::parse(&req.params, Limits::ALERTS)?;
    let echo = filters.echo();
    let rows = ctx
        .db
        .run(move |client| {
            let sql = format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE {FILTER} \
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
                    &page.fetch(),
                    &page.offset,
                ],
            )?)
        })
        .await?;
    let mut body = page.body(rows.iter().map(alert_json).collect());
    if let (Some(body), Value::Object(echo)) = (body.as_object_mut(), echo) {
        body.extend(echo);
    }
    http::json(&body)
}

/// `POST /api/alerts/{alert_id}/acknowledge` with `{"admin_id": "..."}`. The first
/// acknowledgement wins and is kept: acknowledging again returns it unchanged (200), so a
/// retried request or two operators clicking at once cannot overwrite who acknowledged first.
pub(crate) async fn acknowledge(ctx: &Ctx, req: &Req) -> ApiResult {
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
                     WHERE alert_id = $1 AND acknowledged_by IS NULL RETURNING {ALERT_COLUMNS}"
                ),
                &[&alert_id, &admin_id],
            )?;
            if let Some(row) = updated {
                // Every replica's hot answers (current alerts, incidents) must show it.
                let notice = Notice::Alert(AlertNotice::bare(AlertEvent::Acknowledged, alert_id));
                client.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&Channel::Alerts.name(), &notice.encode().text],
                )?;
                return Ok((row, true));
            }
            client
                .query_opt(
                    &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = $1"),
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
                .map(|change| vec![Outgoing::alert(change, &row)])
                .unwrap_or_default()
        });
    }
    value["already_acknowledged"] = json!(!newly);
    http::json(&value)
}

/// `GET /api/alerts/export`: every alert matching the history filters as CSV, oldest first,
/// streamed in chunks of [`EXPORT_CHUNK_ROWS`] rows read through a server-side cursor (portal),
/// so neither the database client nor the server holds the whole result.
pub(crate) async fn export(ctx: &Ctx, req: &Req) -> ApiResult {
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
    let response = http::streamed("text/csv; charset=utf-8", rx);
    http::attachment(response, &filename)
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
        &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE {FILTER} ORDER BY opened_at, alert_id"),
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
    let text =
        |name: &str| spreadsheet_safe(row.get::<_, Option<String>>(name).unwrap_or_default());
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

/// A text cell a spreadsheet will not run: one that starts like a formula (`=`, `+`, `-`, `@`,
/// or a tab or carriage return before one) gets a leading `'`, as OWASP advises for CSV
/// exports. Text such as an acknowledging operator's name comes from users.
fn spreadsheet_safe(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
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
                .level("severity", &CongestionLevel::ALERTING)?
                .map(|level| level.as_str().to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_other_text_is_kept() {
        for (cell, written) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1+1", "'+1+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("alice", "alice"),
            (
                "HIGH congestion on A4 (score 0.82)",
                "HIGH congestion on A4 (score 0.82)",
            ),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(cell.to_owned()), written, "{cell:?}");
        }
    }
}

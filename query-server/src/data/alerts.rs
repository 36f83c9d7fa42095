//! The alert row as the API shows it: REST answers, the live state and WebSocket frames all
//! use [`alert_json`], so an alert looks the same wherever a client meets it.

use postgres::{GenericClient, Row};
use serde_json::Value;

use super::row_json::row_json;

/// The `alerts` columns [`alert_json`] reads, in a form to paste into a SELECT.
pub(crate) const ALERT_COLUMNS: &str =
    "alert_id, camera_id, alert_type, severity, peak_severity, road_segment, \
     score, message, status, opened_window_start, opened_at, updated_at, resolved_at, \
     acknowledged_by, acknowledged_at";

pub(crate) fn alert_json(row: &Row) -> Value {
    Value::Object(row_json(row))
}

/// The alerts with these ids, as [`alert_json`].
pub(crate) fn by_ids(
    client: &mut impl GenericClient,
    ids: &[i64],
) -> Result<Vec<Value>, postgres::Error> {
    Ok(client
        .query(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE alert_id = ANY($1)"),
            &[&ids],
        )?
        .iter()
        .map(alert_json)
        .collect())
}

/// Every active alert, as [`alert_json`].
pub(crate) fn active(client: &mut impl GenericClient) -> Result<Vec<Value>, postgres::Error> {
    Ok(client
        .query(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'active'"),
            &[],
        )?
        .iter()
        .map(alert_json)
        .collect())
}

/// Alerts above `id` that are no longer active, oldest first. Ids are handed out in commit
/// order by the one writer, so these are the alerts that opened and ended after `id` was seen.
pub(crate) fn ended_after(
    client: &mut impl GenericClient,
    id: i64,
) -> Result<Vec<Value>, postgres::Error> {
    Ok(client
        .query(
            &format!(
                "SELECT {ALERT_COLUMNS} FROM alerts
                 WHERE alert_id > $1 AND status <> 'active' ORDER BY alert_id"
            ),
            &[&id],
        )?
        .iter()
        .map(alert_json)
        .collect())
}

/// The highest alert id handed out so far.
pub(crate) fn highest_id(client: &mut impl GenericClient) -> Result<Option<i64>, postgres::Error> {
    Ok(client
        .query_one("SELECT max(alert_id) FROM alerts", &[])?
        .get(0))
}

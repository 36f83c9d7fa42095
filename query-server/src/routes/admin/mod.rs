//! `/api/admin/*`: run-time congestion thresholds, zones, camera calibration and operator
//! broadcasts. The admin token has been checked (`middleware::auth`) before any handler
//! here runs.
//!
//! Changes reach the running pipeline through PostgreSQL: the `congestion_thresholds` and
//! `cameras` triggers NOTIFY `b2_thresholds` / `b2_cameras`, and broadcasts are a NOTIFY on
//! `b2_broadcast`, so this server never needs a connection to the pipeline itself.
//!
//! Bodies are validated here, before SQL, so that a bad value is a 422 naming the field rather
//! than a CHECK-constraint failure.
//!
//! - [`thresholds`], [`zones`], [`cameras`], [`broadcast`]: one resource each.
//! - [`fields`]: the checks bodies share (texts, the 422 naming a field).
//! - [`list_table`]: the paged listing the admin resources share.

pub(crate) mod broadcast;
pub(crate) mod cameras;
mod fields;
pub(crate) mod thresholds;
pub(crate) mod zones;

use postgres::Row;
use serde_json::Value;

use crate::context::{Ctx, Req};
use crate::data::paging::{Limits, Page};
use crate::http::{json, ApiResult};

/// A paged admin listing: `SELECT {columns} FROM {table} ORDER BY {order}`, each row as `to_json`.
async fn list_table(ctx: &Ctx, req: &Req, query: String, to_json: fn(&Row) -> Value) -> ApiResult {
    let page = Page::parse(&req.params, Limits::ADMIN)?;
    let items = ctx
        .db
        .run(move |client| {
            let rows = page.query(client, &format!("{query} LIMIT $1 OFFSET $2"), &[])?;
            Ok(rows.iter().map(to_json).collect::<Vec<_>>())
        })
        .await?;
    json(&page.uncounted_body(items))
}

//! What the routes and the live state read from PostgreSQL, written once: the row types and
//! their JSON, the shared queries, paging, and the reachability probes. Nothing here knows about
//! HTTP requests or the live state; callers pass a client (pooled or the LISTEN connection).
//!
//! - [`windows`]: `traffic_metrics` rows ([`windows::MetricRow`]), a camera window with its
//!   lanes, and "the latest camera-wide window per camera".
//! - [`alerts`]: the alert row as the API shows it.
//! - [`cameras`]: camera existence and locations.
//! - [`levels`]: congestion levels in SQL (rank, per-level counts).
//! - [`paging`]: `limit`/`offset` and the list envelope.
//! - [`row_json`]: a row as a JSON object, column by column.
//! - [`probes`]: Kafka and PostgreSQL reachability for `/health`.

pub(crate) mod alerts;
pub(crate) mod cameras;
pub(crate) mod levels;
pub(crate) mod paging;
pub(crate) mod probes;
pub(crate) mod row_json;
pub(crate) mod windows;

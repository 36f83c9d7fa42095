//! Reports rendered by the API.
//!
//! - [`pdf`]: the traffic report (`GET /api/analytics/report/pdf`), rendered from plain data.

pub(crate) mod pdf;

//! The real `query-server` binary and what the API tests do with it.
//!
//! - [`server`]: [`QueryServer`], started on a free port and waited for; requests to it.
//! - [`refusals`]: the shape of an error answer, checked one by one or from a table of cases.
//! - [`seeded`]: a database filled by the real pipeline for the read routes to answer from.

pub mod refusals;
pub mod seeded;
pub mod server;

pub use refusals::{assert_error, Refusal};
pub use seeded::seeded_database;
pub use server::QueryServer;
pub use testbed::HttpResponse;

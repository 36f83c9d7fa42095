//! Which database errors a retry can cure. A data error (the row itself is refused) fails the same
//! way every time, so retrying the batch as is would halt the pipeline for good; everything else
//! (connection, serialization, lock timeouts, a restarting server) passes with time.

use postgres::error::DbError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Caused by the rows written: isolate and quarantine them.
    Data,
    /// Connection, concurrency or server state: retry with backoff.
    Transient,
}

/// SQLSTATE classes whose errors depend on the data written: 22 data exception, 23 integrity
/// constraint violation, 54 program limit exceeded (e.g. a row or value too large).
const DATA_CLASSES: [&str; 3] = ["22", "23", "54"];

pub fn classify(error: &postgres::Error) -> ErrorClass {
    match error.code() {
        Some(state) if DATA_CLASSES.iter().any(|c| state.code().starts_with(c)) => ErrorClass::Data,
        _ => ErrorClass::Transient,
    }
}

/// The SQLSTATE, or a stand-in when the error never reached the server (I/O, closed connection).
pub fn sqlstate(error: &postgres::Error) -> String {
    error
        .code()
        .map_or_else(|| "client".to_owned(), |s| s.code().to_owned())
}

/// One log-ready line: SQLSTATE, message, detail and hint when the server sent them.
pub fn describe(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => describe_db(db),
        None => format!("sqlstate=client message={:?}", error.to_string()),
    }
}

fn describe_db(db: &DbError) -> String {
    let mut text = format!("sqlstate={} message={:?}", db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(&format!(" detail={detail:?}"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!(" hint={hint:?}"));
    }
    if let Some(column) = db.column() {
        text.push_str(&format!(" column={column:?}"));
    }
    if let Some(constraint) = db.constraint() {
        text.push_str(&format!(" constraint={constraint:?}"));
    }
    text
}

//! The one error type of every handler, and the one place it becomes a JSON response.

use hyper::StatusCode;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

/// One constructor per status: `ApiError::not_found(message)` and so on.
macro_rules! status_constructors {
    ($($name:ident => $status:ident),* $(,)?) => {$(
        pub(crate) fn $name(message: impl Into<String>) -> Self {
            Self::new(StatusCode::$status, message)
        }
    )*};
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// A bad query or body parameter; the message names it.
    pub(crate) fn bad_param(name: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("parameter '{name}': {problem}"),
        )
    }

    status_constructors! {
        unprocessable => UNPROCESSABLE_ENTITY,
        not_found => NOT_FOUND,
        unauthorized => UNAUTHORIZED,
        forbidden => FORBIDDEN,
        unavailable => SERVICE_UNAVAILABLE,
        internal => INTERNAL_SERVER_ERROR,
    }

    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::json!({"error": self.message, "status": self.status.as_u16()})
    }
}

impl From<postgres::Error> for ApiError {
    fn from(e: postgres::Error) -> Self {
        let Some(db) = e.as_db_error().filter(|_| !e.is_closed()) else {
            log::warn!("database_unavailable error={e}");
            return ApiError::unavailable("database unavailable");
        };
        let code = db.code().code();
        // Class 22 (data exception) and 23 (constraint violation) come from values the client
        // sent that slipped past validation: the client's mistake, not the server's.
        if code.starts_with("22") || code.starts_with("23") {
            log::info!(
                "database_rejected_value sqlstate={code} message={}",
                db.message()
            );
            return ApiError::unprocessable(format!("invalid value: {}", db.message()));
        }
        log::error!("database_error sqlstate={code} message={}", db.message());
        ApiError::internal("database error")
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        log::warn!("database_pool_unavailable error={e}");
        ApiError::unavailable("database unavailable")
    }
}

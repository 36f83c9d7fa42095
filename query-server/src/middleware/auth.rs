//! The admin token. Admin routes take `X-Admin-Token: <key>` or `Authorization: Bearer <key>`:
//! 401 without a token, 403 with a wrong one, and closed (403) when no key is configured, so a
//! deployment that forgot the key exposes nothing.

use hyper::body::Incoming;
use hyper::{HeaderMap, Request, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::http::{error_response, Body, Service};
use crate::router::Matched;

pub(crate) struct AdminAuth<S> {
    key: Option<String>,
    inner: S,
}

impl<S> AdminAuth<S> {
    /// `key`: `ADMIN_API_KEY`, if set.
    pub(crate) fn new(key: Option<String>, inner: S) -> Self {
        Self { key, inner }
    }
}

impl<S: Service> Service for AdminAuth<S> {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let admin = request
            .extensions()
            .get::<Matched>()
            .is_some_and(|matched| matched.route.is_admin());
        if admin {
            if let Err(error) = authorize(self.key.as_deref(), request.headers()) {
                return error_response(&error);
            }
        }
        self.inner.call(request).await
    }
}

fn authorize(expected: Option<&str>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Err(ApiError::forbidden(
            "admin routes are disabled: ADMIN_API_KEY is not set",
        ));
    };
    let presented = headers
        .get("x-admin-token")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .or_else(|| {
            headers
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .map(str::trim)
        })
        .filter(|t| !t.is_empty());
    let Some(presented) = presented else {
        return Err(ApiError::unauthorized(
            "admin token required (X-Admin-Token or Authorization: Bearer)",
        ));
    };
    // Constant time: the comparison must not tell an attacker how much of a guess was right.
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::forbidden("invalid admin token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::header_map as headers;

    #[test]
    fn admin_auth_codes() {
        let key = Some("s3cret");
        let status = |key: Option<&str>, pairs: &[(&'static str, &str)]| {
            authorize(key, &headers(pairs)).map_err(|e| e.status.as_u16())
        };
        assert_eq!(status(key, &[]), Err(401));
        assert_eq!(status(key, &[("x-admin-token", "nope")]), Err(403));
        assert_eq!(status(key, &[("x-admin-token", "s3cret")]), Ok(()));
        assert_eq!(status(key, &[("authorization", "Bearer s3cret")]), Ok(()));
        assert_eq!(status(None, &[("x-admin-token", "s3cret")]), Err(403));
    }
}

//! The `/v1` error shape: `{"error": {"code": "snake_case", "message": "…"}}` with the
//! matching HTTP status. Server faults keep their cause for the log and send clients only
//! `internal`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cognate_core::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every `/v1` error: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code to branch on (`not_found`, `conflict`, `last_admin`, …).
    #[schema(example = "not_found")]
    code: &'static str,
    /// A human-readable explanation, not meant to be parsed.
    message: String,
}

/// An error answered by the `/v1` API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The `WWW-Authenticate` challenge to send with a 401.
    challenge: Option<&'static str>,
    /// Seconds for `Retry-After` (429).
    retry_after: Option<u64>,
    /// Internal detail, logged and never sent.
    cause: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), challenge: None, retry_after: None, cause: None }
    }

    /// 400 `invalid_request`: the request is malformed or a value is invalid.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409 `conflict`: a uniqueness rule or a concurrent update.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 401 `unauthorized` with a Bearer challenge. `presented` says whether the caller sent
    /// credentials at all: RFC 6750 section 3.1 adds `error="invalid_token"` only then.
    pub fn unauthorized(presented: bool) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid credentials.");
        e.challenge = Some(if presented { r#"Bearer error="invalid_token""# } else { "Bearer" });
        e
    }

    /// 403 `forbidden`: authenticated, but not allowed to do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401 `unauthorized` with a Basic challenge: services authenticate as a confidential
    /// app client.
    pub fn unauthorized_client() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid credentials.");
        e.challenge = Some(r#"Basic realm="cognate""#);
        e
    }

    /// 401 `unauthorized` for endpoints taking either an admin bearer or a client's Basic
    /// credentials: both challenges.
    pub fn unauthorized_bearer_or_client() -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Missing or invalid credentials.");
        e.challenge = Some(r#"Bearer, Basic realm="cognate""#);
        e
    }

    /// 429 `rate_limited` with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(retry_after_secs);
        e
    }

    /// 500 `internal`; `cause` is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "An internal error occurred.");
        e.cause = Some(cause.to_string());
        e
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict("version") => {
                Self::conflict("The resource was modified concurrently; read it again and retry.")
            }
            StoreError::Conflict(rule) => Self::conflict(format!("The {rule} already exists.")),
            StoreError::NotFound(what) => Self::not_found(format!("The {what} does not exist.")),
            StoreError::LastAdmin => Self::new(
                StatusCode::CONFLICT,
                "last_admin",
                "The tenant's last admin cannot be removed or demoted; make another member admin first.",
            ),
            StoreError::Corrupt(_) | StoreError::Backend(_) => Self::internal(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(code = self.code, cause = %cause, "/v1 request failed");
        } else {
            tracing::debug!(code = self.code, status = %self.status, "/v1 request refused");
        }
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message } };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(challenge) = self.challenge {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_statuses_and_hide_internals() {
        let e = ApiError::from(StoreError::Conflict("tenant"));
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "conflict"));
        let e = ApiError::from(StoreError::NotFound("tenant"));
        assert_eq!((e.status, e.code), (StatusCode::NOT_FOUND, "not_found"));
        let e = ApiError::from(StoreError::Backend("password=hunter2".into()));
        assert_eq!((e.status, e.code), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
        assert!(!e.message.contains("hunter2"));
        let e = ApiError::forbidden("no");
        assert_eq!((e.status, e.code), (StatusCode::FORBIDDEN, "forbidden"));
    }

    #[test]
    fn unauthorized_carries_a_bearer_challenge() {
        let resp = ApiError::unauthorized(true).into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], r#"Bearer error="invalid_token""#);
        let resp = ApiError::unauthorized(false).into_response();
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}

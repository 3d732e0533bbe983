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

/// The code of an error answer, carried in the response's extensions.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

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
        // For the layers that report on the answer (the audit trail) without reading it.
        resp.extensions_mut().insert(ErrorCode(self.code));
        if let Some(challenge) = self.challenge {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<crate::services::members::MembershipError> for ApiError {
    /// The `/v1` answer for each way a membership change is refused.
    fn from(e: crate::services::members::MembershipError) -> Self {
        use crate::services::members::{InvitationState, MembershipError as E};
        match e {
            E::TenantNotFound => Self::not_found("The tenant does not exist."),
            E::TenantSuspended => Self::forbidden("The tenant is suspended."),
            E::InvalidEmail => Self::invalid_request("The email is not a valid address."),
            E::InvitationNotFound => Self::not_found("The invitation does not exist."),
            E::InvitationNotPending(state) => {
                let why = match state {
                    InvitationState::Accepted => "The invitation was already accepted.",
                    InvitationState::Revoked => "The invitation was revoked.",
                    InvitationState::Expired => "The invitation has expired.",
                    // Pending when read, but another request accepted it first.
                    InvitationState::Pending => "The invitation is no longer pending.",
                };
                Self::new(StatusCode::GONE, "invitation_not_pending", why)
            }
            E::PoolMismatch => Self::new(
                StatusCode::FORBIDDEN,
                "invitation_pool_mismatch",
                "Your account is not in the tenant's user pool; accept without credentials to create one there.",
            ),
            E::EmailMismatch => Self::new(
                StatusCode::FORBIDDEN,
                "invitation_email_mismatch",
                "The invitation is for another email address.",
            ),
            E::AlreadyMember => Self::conflict("You are already a member of this tenant."),
            E::AccountExists => Self::new(
                StatusCode::CONFLICT,
                "account_exists",
                "An account with this email already exists; sign in and accept with its access token.",
            ),
            E::PasswordRequired => {
                Self::invalid_request("A password is required to create an account; or accept with your access token.")
            }
            E::PasswordPolicy(message) => Self::new(StatusCode::BAD_REQUEST, "invalid_password", message),
            E::MemberNotFound => Self::not_found("The member does not exist."),
            E::UserNotInPool => Self::not_found("No user with this sub lives in the tenant's pool."),
            E::LastAdmin => StoreError::LastAdmin.into(),
            E::Store(e) => e.into(),
            E::Fault(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::services::tenants::TenantError> for ApiError {
    /// The `/v1` answer for each way a tenant change is refused.
    fn from(e: crate::services::tenants::TenantError) -> Self {
        use crate::services::tenants::{MAX_NAME_CHARS, TenantError as E};
        match e {
            E::NotFound => Self::not_found("The tenant does not exist."),
            E::InvalidName => Self::invalid_request(format!(
                "The name must be 1 to {MAX_NAME_CHARS} characters without control characters."
            )),
            E::InvalidId(id) => Self::invalid_request(format!(
                "Invalid tenant id {id:?}: 3 to 63 of a-z, 0-9 and '-', not starting or ending with '-'."
            )),
            E::NoIdFromName => Self::invalid_request("No tenant id can be derived from the name; give an explicit id."),
            E::IdTaken(id) => Self::conflict(format!("The tenant id {id} is taken.")),
            E::DomainTaken(domain) => Self::conflict(format!("The domain {domain} is already claimed.")),
            E::TooManyDomains => Self::invalid_request(format!(
                "At most {} domains at creation.",
                crate::services::tenants::MAX_CREATE_DOMAINS
            )),
            E::InvalidDomain(raw) => Self::invalid_request(format!("{raw:?} is not a valid domain name.")),
            E::ConsumerDomain(domain) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "consumer_domain",
                format!("{domain} is a consumer mail domain; a tenant cannot claim it."),
            ),
            E::Concurrent => Self::conflict("The resource was modified concurrently; read it again and retry."),
            E::MoveRefused(why) => Self::conflict(format!("The tenant cannot move: {why} Nothing was changed.")),
            E::Store(e) => e.into(),
            E::Fault(cause) => Self::internal(cause),
        }
    }
}

impl From<crate::services::admins::AdminCredentialError> for ApiError {
    /// The answer for each way an admin credential change is refused.
    fn from(e: crate::services::admins::AdminCredentialError) -> Self {
        use crate::services::admins::{AdminCredentialError as E, MAX_DESCRIPTION_CHARS};
        match e {
            E::NotFound(id) => Self::not_found(format!("There is no admin credential {id}.")),
            E::InUse(id) => Self::conflict(format!(
                "You are signed in with {id}; sign in with another credential to revoke this one."
            )),
            E::InvalidDescription => Self::invalid_request(format!(
                "The description must be at most {MAX_DESCRIPTION_CHARS} characters without control characters."
            )),
            E::Store(e) => e.into(),
        }
    }
}

impl From<crate::services::signing_keys::SigningKeyError> for ApiError {
    /// The answer for each way a signing key change is refused.
    fn from(e: crate::services::signing_keys::SigningKeyError) -> Self {
        use crate::services::signing_keys::SigningKeyError as E;
        match e {
            E::PoolNotFound(pool) => Self::not_found(format!("There is no user pool {pool}.")),
            E::KeyNotFound { pool, kid } => Self::not_found(format!("The pool {pool} has no signing key {kid}.")),
            E::LastActive { pool, kid } => {
                Self::conflict(format!("{kid} is the only active key of {pool}: rotate first, then retire it."))
            }
            E::WrongMasterKey => Self::internal("the master key does not open a pool's signing keys"),
            E::Key(e) => Self::internal(e),
            E::Store(e) => e.into(),
        }
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

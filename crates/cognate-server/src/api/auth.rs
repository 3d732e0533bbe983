//! `/v1` authentication and authorization.
//!
//! Two kinds of caller, both as `Authorization: Bearer …`:
//! - a platform admin: `{accessKeyId}:{secretAccessKey}` of an unrevoked admin credential
//!   (the same pair that signs Cognito API calls); may do everything;
//! - a user: an access token Cognate issued. A user acts only in the tenant their token is
//!   for (`custom:tenantId`), with their role there as stored *now* (so a demotion or a
//!   removal takes effect at once, not when the token expires).
//!
//! Users get `403 forbidden` for any tenant they cannot act in, existing or not, so they
//! cannot probe other tenants' ids.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use cognate_core::pool::UserPool;
use cognate_core::tenant::TenantId;
use cognate_core::user::User;
use serde_json::Value;

use super::error::ApiError;
use crate::AppState;
use crate::audit::Actor;
use crate::services::access::{self, AccessError, Principal};
use crate::services::tokens::{self, Rejection};

/// A caller proven to hold an active platform admin credential.
#[derive(Debug, Clone)]
pub struct PlatformAdmin {
    /// The credential's access key id (for audit; never the secret).
    pub access_key_id: String,
}

/// A user authenticated by a Cognate access token.
#[derive(Debug, Clone)]
pub struct UserCaller {
    pub pool: UserPool,
    pub user: User,
    /// The app client the token was issued to.
    pub client_id: String,
    /// The session's active tenant (`custom:tenantId`), if any.
    pub tenant: Option<TenantId>,
    pub claims: Value,
}

/// Whoever called.
#[derive(Debug, Clone)]
pub enum Caller {
    Platform(PlatformAdmin),
    User(Box<UserCaller>),
}

pub use crate::services::access::{Need, TenantAccess};

fn bearer(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let invalid = || ApiError::unauthorized(true);
    let value = value.to_str().map_err(|_| invalid())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(invalid());
    }
    Ok(Some(token.trim().to_owned()))
}

async fn platform_admin(state: &AppState, token: &str) -> Result<PlatformAdmin, ApiError> {
    let invalid = || ApiError::unauthorized(true);
    let (key_id, secret) = token.split_once(':').ok_or_else(invalid)?;
    if !crate::services::admins::check(state, key_id, secret).await? {
        return Err(invalid());
    }
    Ok(PlatformAdmin { access_key_id: key_id.to_owned() })
}

async fn user_caller(state: &AppState, token: &str) -> Result<UserCaller, ApiError> {
    let (pool, user, claims) = tokens::verify_user_access(state, token).await.map_err(|e| match e {
        Rejection::Fault(cause) => ApiError::internal(cause),
        _ => ApiError::unauthorized(true),
    })?;
    let client_id = claims.get("client_id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let tenant = claims.get("custom:tenantId").and_then(Value::as_str).and_then(TenantId::parse);
    Ok(UserCaller { pool, user, client_id, tenant, claims })
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some(token) = bearer(parts)? else {
        return Ok(None);
    };
    // A JWT never contains ':'; an admin credential always does.
    let caller = if token.contains(':') {
        let admin = platform_admin(state, &token).await?;
        crate::facts::actor(Actor::Admin(admin.access_key_id.clone()));
        Caller::Platform(admin)
    } else {
        let user = user_caller(state, &token).await?;
        crate::facts::actor(Actor::User(user.user.sub.clone()));
        Caller::User(Box::new(user))
    };
    Ok(Some(caller))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await?.ok_or_else(|| ApiError::unauthorized(false))
    }
}

/// A caller who may also be anonymous (discovery, accepting an invitation). Credentials
/// that are present must still be valid.
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(Self(authenticate(parts, state).await?))
    }
}

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Platform(admin) => Ok(admin),
            Caller::User(_) => Err(platform_only()),
        }
    }
}

/// A service verifying API keys or reporting their usage: a confidential app client
/// (HTTP Basic `client_id:client_secret`, the credentials a resource server already uses for
/// the revocation feed) or a platform admin.
///
/// A client answers for its own pool only: it may verify, and report usage of, the keys of
/// tenants placed in that pool (the shared pool's clients: basic and standard tenants; a
/// dedicated pool's clients: that platinum tenant). A client a tenant owns
/// ([`crate::services::tenant_clients`]) answers for that tenant only. Platform admins may
/// do so for any tenant.
#[derive(Debug, Clone)]
pub struct KeyVerifier {
    /// Who verified, for logs: `client:{id}` or `admin:{accessKeyId}`.
    pub actor: String,
    /// The pool whose tenants this verifier serves; `None` for a platform admin.
    pub pool: Option<cognate_core::ids::PoolId>,
    /// The one tenant a tenant-owned client serves.
    pub tenant: Option<TenantId>,
}

impl KeyVerifier {
    /// Whether this verifier may act for keys of `tenant`, placed in `tenant_pool`.
    pub fn serves(&self, tenant: &TenantId, tenant_pool: &cognate_core::ids::PoolId) -> bool {
        self.pool.as_ref().is_none_or(|p| p == tenant_pool) && self.tenant.as_ref().is_none_or(|t| t == tenant)
    }
}

impl FromRequestParts<AppState> for KeyVerifier {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !presents_basic(&parts.headers) {
            return match Caller::from_request_parts(parts, state).await {
                Ok(Caller::Platform(admin)) => {
                    Ok(Self { actor: format!("admin:{}", admin.access_key_id), pool: None, tenant: None })
                }
                Ok(Caller::User(_)) => Err(ApiError::forbidden(
                    "Verifying API keys needs a confidential app client (HTTP Basic) or a platform admin credential.",
                )),
                Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => {
                    Err(ApiError::unauthorized_bearer_or_client())
                }
                Err(e) => Err(e),
            };
        }
        let client =
            crate::oauth::common::authenticate_client(state, &parts.headers, None, true).await.map_err(|e| {
                if e.status.is_server_error() {
                    ApiError::internal(e.description)
                } else {
                    ApiError::unauthorized_client()
                }
            })?;
        let tenant = client.client.settings.tenant_id.as_deref().and_then(TenantId::parse);
        Ok(Self { actor: format!("client:{}", client.client.id), pool: Some(client.client.pool_id), tenant })
    }
}

fn platform_only() -> ApiError {
    ApiError::forbidden("This operation needs a platform admin credential.")
}

/// A refusal of [`access::tenant`] in `/v1`'s words.
pub fn refused(e: AccessError) -> ApiError {
    match e {
        AccessError::PlatformOnly => platform_only(),
        // The one answer a user gets for a tenant they cannot act in, whether it exists or not.
        AccessError::NotYourTenant => ApiError::forbidden("You cannot act in this tenant with this token."),
        AccessError::Suspended => ApiError::forbidden("The tenant is suspended."),
        AccessError::AdminOnly => ApiError::forbidden("This operation needs the admin role in the tenant."),
        AccessError::TenantNotFound => tenant_not_found(),
        AccessError::RateLimited { wait, refused: false } => {
            ApiError::rate_limited(wait, "Too many requests for this tenant; retry later.")
        }
        AccessError::RateLimited { wait, refused: true } => {
            ApiError::rate_limited(wait, "Too many refused requests from this caller; retry later.")
        }
        AccessError::Store(e) => e.into(),
    }
}

pub fn tenant_not_found() -> ApiError {
    ApiError::not_found("The tenant does not exist.")
}

impl Caller {
    /// The principal this caller is, for [`crate::services::access`].
    pub fn principal(&self) -> Principal<'_> {
        match self {
            Self::Platform(admin) => Principal::Platform { access_key_id: &admin.access_key_id },
            Self::User(caller) => Principal::User { user: &caller.user, session_tenant: caller.tenant.as_ref() },
        }
    }

    /// Establishes the caller's right to act in `tenant` as `need` requires
    /// ([`access::tenant`]: the same decision every surface makes, charged to the same
    /// rate windows). Beyond a window the answer is `429 rate_limited` with `Retry-After`.
    pub async fn tenant(&self, state: &AppState, tenant: &TenantId, need: Need) -> Result<TenantAccess, ApiError> {
        access::tenant(state, self.principal(), tenant, need).await.map_err(refused)
    }

    /// The user behind the call; platform admins are not users (`403`).
    pub fn user(&self) -> Result<&UserCaller, ApiError> {
        match self {
            Self::User(caller) => Ok(caller),
            Self::Platform(_) => Err(ApiError::forbidden("This operation needs a user's access token.")),
        }
    }
}

/// Whether the request authenticates with HTTP Basic (an app client's id and secret) rather
/// than a bearer credential.
pub(super) fn presents_basic(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
}

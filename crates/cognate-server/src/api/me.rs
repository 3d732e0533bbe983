//! `/v1/me`: the calling user's tenants, and switching the session to another of them
//! without a password.

use axum::extract::State;
use axum::http::StatusCode;
use cognate_core::tenant::{Role, TenantStatus, Tier};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::Caller;
use super::error::{ApiError, ErrorBody};
use super::extract::Json;
use crate::AppState;
use crate::services::tokens::{self, Rejection};
use crate::tenancy;

/// One of the caller's tenants, with their role there.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MyTenant {
    tenant_id: String,
    name: String,
    #[schema(schema_with = super::openapi::tier)]
    tier: Tier,
    #[schema(schema_with = super::openapi::tenant_status)]
    status: TenantStatus,
    #[schema(schema_with = super::openapi::role)]
    role: Role,
    last_used_at: Option<i64>,
}

/// The calling user and their tenants.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    sub: String,
    username: String,
    email: Option<String>,
    pool_id: String,
    active_tenant_id: Option<String>,
    tenants: Vec<MyTenant>,
}

/// The calling user, their tenants and the active one.
#[utoipa::path(
    get,
    path = "/v1/me",
    operation_id = "getMe",
    tag = "me",
    responses(
        (status = 200, description = "The caller.", body = Me),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a user: a platform admin credential (`forbidden`).", body = ErrorBody),
    ),
    security(("user" = [])),
)]
pub async fn get(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Me>, ApiError> {
    let me = caller.user()?;
    let tenants = tenancy::user_tenants(&state, &me.user)
        .await?
        .into_iter()
        .map(|(m, t)| MyTenant {
            tenant_id: t.id.to_string(),
            name: t.name,
            tier: t.tier,
            status: t.status,
            role: m.role,
            last_used_at: m.last_used_at.map(|at| at.div_euclid(1000)),
        })
        .collect();
    Ok(axum::Json(Me {
        sub: me.user.sub.clone(),
        username: me.user.username.clone(),
        email: me.user.attributes.get("email").cloned(),
        pool_id: me.pool.id.to_string(),
        active_tenant_id: me.tenant.as_ref().map(ToString::to_string),
        tenants,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SwitchTenant {
    tenant_id: String,
}

/// Tokens for the new active tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Switched {
    access_token: String,
    id_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: i64,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    tenant: MyTenant,
}

/// Switch the session to another of the caller's tenants.
///
/// Tokens for another tenant of the caller, for the same app client, in a new session
/// (refresh token family) bound to that tenant. A tenant whose MFA policy covers the
/// caller's role there is refused (`mfa_required`) unless the caller's session passed MFA
/// at sign-in; the new session inherits that.
#[utoipa::path(
    post,
    path = "/v1/me/switch-tenant",
    operation_id = "switchTenant",
    extensions(("x-audit-action" = json!("session.switch_tenant"))),
    tag = "me",
    request_body = SwitchTenant,
    responses(
        (status = 200, description = "Tokens for that tenant, for the same app client.", body = Switched),
        (status = 400, description = "A malformed body (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A platform admin, not an active member of that tenant, or a suspended tenant (`forbidden`); the tenant requires MFA of the caller and their session did not pass it (`mfa_required`: sign in again with MFA).", body = ErrorBody),
    ),
    security(("user" = [])),
)]
pub async fn switch_tenant(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<SwitchTenant>,
) -> Result<axum::Json<Switched>, ApiError> {
    let me = caller.user()?;
    let (active, issued) =
        tokens::switch_session(&state, &me.user, &me.claims, &req.tenant_id).await.map_err(|e| match e {
            Rejection::NotMember => ApiError::forbidden("You are not an active member of that tenant."),
            Rejection::Suspended => ApiError::forbidden("The tenant is suspended."),
            Rejection::MfaRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "mfa_required",
                "This tenant requires MFA; sign in to it again with MFA.",
            ),
            Rejection::Fault(cause) => ApiError::internal(cause),
            Rejection::Invalid | Rejection::Expired | Rejection::Revoked | Rejection::Disabled | Rejection::Reused => {
                ApiError::unauthorized(true)
            }
        })?;
    let tenant = MyTenant {
        tenant_id: active.tenant.id.to_string(),
        name: active.tenant.name.clone(),
        tier: active.tenant.tier,
        status: active.tenant.status,
        role: active.role,
        last_used_at: Some(state.clock.now_secs()),
    };
    Ok(axum::Json(Switched {
        access_token: issued.access_token,
        id_token: issued.id_token,
        refresh_token: issued.refresh_token,
        expires_in: issued.expires_in,
        token_type: "Bearer",
        tenant,
    }))
}

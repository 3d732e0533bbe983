//! Reading the audit trail: `GET /v1/tenants/{tenantId}/audit` (filters, cursor, newest
//! first) and `…/audit/export` (NDJSON, oldest first, with the chain hashes so anyone can
//! re-verify it), the platform chain at `/v1/audit` for platform admins, and the tenant's
//! retention (`PUT …/audit/retention`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use cognate_core::audit::PLATFORM_CHAIN;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Need, PlatformAdmin};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::tenants::TenantPath;
use crate::AppState;
use crate::services::audit_trail::EventPage;
use crate::services::audit_trail::{self, Filter, Format, TrailError};

impl From<TrailError> for ApiError {
    fn from(e: TrailError) -> Self {
        match e {
            TrailError::InvalidLimit => {
                ApiError::invalid_request(format!("The limit must be 1 to {}.", audit_trail::MAX_LIMIT))
            }
            TrailError::InvalidOutcome => ApiError::invalid_request("outcome must be success or failure."),
            TrailError::InvalidCursor => ApiError::invalid_request("The cursor is not valid."),
            TrailError::InvalidRetention => ApiError::invalid_request("days must be 1 to 3650."),
            TrailError::Store(e) => e.into(),
        }
    }
}

/// Filters of an audit listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Only this action (e.g. `auth.sign_in`, `member.remove`).
    action: Option<String>,
    /// Only this actor (e.g. `user:{sub}`, `admin:{accessKeyId}`).
    actor: Option<String>,
    /// `success` or `failure`.
    outcome: Option<String>,
    /// Events at or after this time (epoch milliseconds).
    from: Option<i64>,
    /// Events before this time (epoch milliseconds).
    to: Option<i64>,
    /// 1 to 100, default 20.
    limit: Option<u32>,
    /// The previous page's `nextCursor`.
    cursor: Option<String>,
}

async fn list_chain(state: &AppState, chain: &str, p: AuditParams) -> Result<EventPage, ApiError> {
    let filter = Filter { action: p.action, actor: p.actor, outcome: p.outcome, from: p.from, to: p.to };
    Ok(audit_trail::list(state, chain, filter, p.limit, p.cursor.as_deref()).await?)
}

/// The whole chain as NDJSON, oldest first.
async fn export_chain(state: &AppState, chain: &str) -> Result<Response, ApiError> {
    let format = Format::Ndjson;
    let out = audit_trail::export(state, chain, &Filter::default(), format).await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], out).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/audit",
    operation_id = "listAuditEvents",
    tag = "audit",
    params(TenantPath, AuditParams),
    responses(
        (status = 200, description = "The tenant's events, newest first.", body = EventPage),
        (status = 400, description = "An invalid filter, limit or cursor (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// A tenant's audit trail.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
    Query(params): Query<AuditParams>,
) -> Result<axum::Json<EventPage>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    Ok(axum::Json(list_chain(&state, tenant.as_str(), params).await?))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/audit/export",
    operation_id = "exportAuditEvents",
    tag = "audit",
    params(TenantPath),
    responses(
        (status = 200, description = "Every event of the tenant's chain, oldest first, one JSON object per line (application/x-ndjson), with `prevHash` and `hash`.", content_type = "application/x-ndjson", body = String),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// Export a tenant's audit trail (NDJSON).
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
) -> Result<Response, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    export_chain(&state, tenant.as_str()).await
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    operation_id = "listPlatformAuditEvents",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, description = "Events outside any tenant (the platform chain), newest first.", body = EventPage),
        (status = 400, description = "An invalid filter, limit or cursor (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
/// The platform audit trail.
pub async fn list_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Query(params): Query<AuditParams>,
) -> Result<axum::Json<EventPage>, ApiError> {
    Ok(axum::Json(list_chain(&state, PLATFORM_CHAIN, params).await?))
}

#[utoipa::path(
    get,
    path = "/v1/audit/export",
    operation_id = "exportPlatformAuditEvents",
    tag = "audit",
    responses(
        (status = 200, description = "The platform chain, oldest first, as NDJSON.", content_type = "application/x-ndjson", body = String),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
/// Export the platform audit trail (NDJSON).
pub async fn export_platform(State(state): State<AppState>, _admin: PlatformAdmin) -> Result<Response, ApiError> {
    export_chain(&state, PLATFORM_CHAIN).await
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Days events are kept: 1 to 3650.
    #[schema(minimum = 1, maximum = 3650)]
    days: u32,
}

#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant_id}/audit/retention",
    operation_id = "setAuditRetention",
    extensions(("x-audit-action" = json!("audit.retention"))),
    tag = "audit",
    params(TenantPath),
    request_body = Retention,
    responses(
        (status = 200, description = "The retention; `cognate audit purge` removes older events, keeping the rest verifiable.", body = Retention),
        (status = 400, description = "Days outside 1 to 3650 (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
/// Set how long a tenant's audit events are kept.
pub async fn set_retention(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
    Json(req): Json<Retention>,
) -> Result<axum::Json<Retention>, ApiError> {
    caller.tenant(&state, &tenant, Need::Platform).await?;
    audit_trail::set_retention(&state, tenant.as_str(), req.days).await?;
    Ok(axum::Json(req))
}

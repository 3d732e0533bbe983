//! `/v1/tenants`: create, list, get, update, suspend, reactivate, delete, and tier moves
//! between shared and dedicated placement.

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::tenant::{MfaRequirement, Tenant, TenantId, TenantStatus, Tier};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Need, PlatformAdmin, tenant_not_found};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::paging::{ListParams, Page};
use crate::AppState;
use crate::services::tenants;
use crate::tenancy;

/// Scope that binds list cursors to this list.
const CURSOR_SCOPE: &str = "tenants";

/// A tenant as the API shows it. Times are epoch seconds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    #[schema(example = "acme")]
    id: String,
    name: String,
    #[schema(schema_with = super::openapi::tier)]
    tier: Tier,
    #[schema(schema_with = super::openapi::tenant_status)]
    status: TenantStatus,
    /// `shared` or `dedicated`.
    #[schema(schema_with = super::openapi::placement)]
    placement: &'static str,
    pool_id: String,
    /// The placement's default app client (what discovery hands to login pages).
    client_id: String,
    /// The issuer of the tenant's tokens.
    issuer: String,
    #[schema(schema_with = super::openapi::mfa)]
    mfa: MfaRequirement,
    created_at: i64,
    updated_at: i64,
}

/// The API view of a tenant.
pub async fn view(state: &AppState, t: Tenant) -> Result<TenantView, ApiError> {
    let client_id = tenancy::default_client(state, &t.pool_id).await?;
    Ok(TenantView {
        id: t.id.to_string(),
        name: t.name,
        tier: t.tier,
        status: t.status,
        placement: if t.tier.is_dedicated() { "dedicated" } else { "shared" },
        issuer: crate::services::tokens::issuer(state, &t.pool_id),
        pool_id: t.pool_id.as_str().to_owned(),
        client_id: client_id.to_string(),
        mfa: t.mfa,
        created_at: t.created_at.div_euclid(1000),
        updated_at: t.updated_at.div_euclid(1000),
    })
}

/// The `{tenant_id}` path segment. A value that is not a valid slug cannot name a tenant,
/// so it is 404 like any unknown tenant.
#[derive(IntoParams)]
#[into_params(names("tenant_id"), parameter_in = Path)]
pub struct TenantPath(
    /// The tenant's id, a slug such as `acme`.
    #[param(value_type = String)]
    pub TenantId,
);

impl<S: Send + Sync> FromRequestParts<S> for TenantPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_request(e.body_text()))?;
        TenantId::parse(&raw).map(TenantPath).ok_or_else(tenant_not_found)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// The tenant's immutable id: 3 to 63 of `a-z`, `0-9` and `-`. Derived from the name
    /// when absent.
    #[schema(example = "acme", pattern = "^[a-z0-9-]{3,63}$", min_length = 3, max_length = 63)]
    id: Option<String>,
    /// The display name, 1 to 256 characters, no control characters.
    #[schema(example = "Acme", min_length = 1, max_length = 256)]
    name: String,
    #[schema(schema_with = super::openapi::tier)]
    tier: Tier,
    /// Email domains to claim (unverified, without auto-join), at most 20.
    #[serde(default)]
    #[schema(max_items = 20)]
    domains: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// A new display name, 1 to 256 characters (users' `custom:tenantName` follows).
    /// Absent: unchanged; `null` is refused.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    #[schema(min_length = 1, max_length = 256)]
    name: Option<String>,
    /// Absent: unchanged; `null` is refused.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    #[schema(schema_with = super::openapi::mfa)]
    mfa: Option<MfaRequirement>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetTier {
    #[schema(schema_with = super::openapi::tier)]
    tier: Tier,
}

/// Create a tenant.
///
/// Basic and standard tenants are placed in the shared pool; platinum tenants get a dedicated
/// pool, provisioned now. The `domains` are claimed unverified, without auto-join.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    operation_id = "createTenant",
    extensions(("x-audit-action" = json!("tenant.create"))),
    tag = "tenants",
    request_body = CreateTenant,
    responses(
        (status = 201, description = "The tenant, created.", body = TenantView),
        (status = 400, description = "A malformed body, an invalid name, id or domain (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 409, description = "The id is taken or a domain is already claimed (`conflict`).", body = ErrorBody),
        (status = 422, description = "A domain is a consumer mail domain (`consumer_domain`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Json(req): Json<CreateTenant>,
) -> Result<Response, ApiError> {
    let new = tenants::NewTenant { id: req.id.as_deref(), name: &req.name, tier: req.tier, domains: req.domains };
    let tenant = tenants::create(&state, new).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, tenant).await?)).into_response())
}

/// List tenants, by id.
#[utoipa::path(
    get,
    path = "/v1/tenants",
    operation_id = "listTenants",
    tag = "tenants",
    params(ListParams),
    responses(
        (status = 200, description = "A page of tenants.", body = Page<TenantView>),
        (status = 400, description = "An invalid `limit` or `cursor` (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<TenantView>>, ApiError> {
    let req = params.page(CURSOR_SCOPE)?;
    let rows = tenants::list(&state, &req).await?;
    let (rows, next_cursor) = Page::<TenantView>::finish(rows, &req, CURSOR_SCOPE, |t| t.id.to_string());
    let mut items = Vec::with_capacity(rows.len());
    for t in rows {
        items.push(view(&state, t).await?);
    }
    Ok(axum::Json(Page { items, next_cursor }))
}

/// Get a tenant.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}",
    operation_id = "getTenant",
    tag = "tenants",
    params(TenantPath),
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(id): TenantPath,
) -> Result<axum::Json<TenantView>, ApiError> {
    let access = caller.tenant(&state, &id, Need::TenantAdmin).await?;
    Ok(axum::Json(view(&state, access.tenant).await?))
}

/// Rename a tenant or change its MFA requirement.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}",
    operation_id = "updateTenant",
    extensions(("x-audit-action" = json!("tenant.update"))),
    tag = "tenants",
    params(TenantPath),
    request_body = UpdateTenant,
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        (status = 400, description = "A malformed body or an invalid name (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
        (status = 409, description = "The tenant was modified concurrently; read it again and retry (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(id): TenantPath,
    Json(req): Json<UpdateTenant>,
) -> Result<axum::Json<TenantView>, ApiError> {
    caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let tenant = tenants::update(&state, &id, req.name.as_deref(), req.mfa).await?;
    Ok(axum::Json(view(&state, tenant).await?))
}

/// Suspend a tenant.
///
/// Suspends the tenant: its users can no longer sign in to it or refresh into it, and its
/// refresh tokens are revoked (and published on the revocation feed).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/suspend",
    operation_id = "suspendTenant",
    extensions(("x-audit-action" = json!("tenant.suspend"))),
    tag = "tenants",
    params(TenantPath),
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
        (status = 409, description = "The tenant was modified concurrently; read it again and retry (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn suspend(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
) -> Result<axum::Json<TenantView>, ApiError> {
    let tenant = tenants::suspend(&state, &id).await?;
    Ok(axum::Json(view(&state, tenant).await?))
}

/// Reactivate a suspended tenant (revoked refresh tokens stay revoked).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/reactivate",
    operation_id = "reactivateTenant",
    extensions(("x-audit-action" = json!("tenant.reactivate"))),
    tag = "tenants",
    params(TenantPath),
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
        (status = 409, description = "The tenant was modified concurrently; read it again and retry (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn reactivate(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
) -> Result<axum::Json<TenantView>, ApiError> {
    let tenant = tenants::reactivate(&state, &id).await?;
    Ok(axum::Json(view(&state, tenant).await?))
}

/// Delete a tenant with its domains, memberships and invitations (users stay in their pool).
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}",
    operation_id = "deleteTenant",
    extensions(("x-audit-action" = json!("tenant.delete"))),
    tag = "tenants",
    params(TenantPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
) -> Result<StatusCode, ApiError> {
    tenants::delete(&state, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a tenant's tier, moving its members between shared and dedicated placement.
///
/// `PUT /v1/tenants/{id}/tier`: changes the tier; when the placement changes (to or from
/// platinum) every member moves to the target pool in one transaction, keeping sub,
/// password hash, status, attributes and role.
#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant_id}/tier",
    operation_id = "setTenantTier",
    extensions(("x-audit-action" = json!("tenant.tier"))),
    tag = "tenants",
    params(TenantPath),
    request_body = SetTier,
    responses(
        (status = 200, description = "The tenant.", body = TenantView),
        (status = 400, description = "A malformed body or an unknown tier (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
        (status = 409, description = "A member collides with an account of the target pool, or a concurrent update; nothing changed (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn set_tier(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
    Json(req): Json<SetTier>,
) -> Result<axum::Json<TenantView>, ApiError> {
    let tenant = tenants::set_tier(&state, &id, req.tier).await?;
    Ok(axum::Json(view(&state, tenant).await?))
}

//! `/v1/tenants/{tenantId}/members`: who belongs to a tenant, with which role. Roles are
//! mirrored as the pool groups `{tenantId}-{role}`.

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::tenant::{Membership, MembershipStatus, Role, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Need};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::paging::{ListParams, Page};
use crate::AppState;
use crate::services::members;

/// A membership as the API shows it. Times are epoch seconds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    sub: String,
    username: Option<String>,
    email: Option<String>,
    #[schema(schema_with = super::openapi::role)]
    role: Role,
    #[schema(schema_with = super::openapi::membership_status)]
    status: MembershipStatus,
    created_at: i64,
    last_used_at: Option<i64>,
}

async fn view(state: &AppState, m: Membership) -> Result<MemberView, ApiError> {
    let user = members::member_user(state, &m).await?;
    Ok(MemberView {
        username: user.as_ref().map(|u| u.username.clone()),
        email: user.as_ref().and_then(|u| u.attributes.get("email").cloned()),
        sub: m.sub,
        role: m.role,
        status: m.status,
        created_at: m.created_at.div_euclid(1000),
        last_used_at: m.last_used_at.map(|t| t.div_euclid(1000)),
    })
}

/// The `{tenant_id}/members/{sub}` path.
#[derive(IntoParams)]
#[into_params(names("tenant_id", "sub"), parameter_in = Path)]
pub struct MemberPath(
    /// The tenant's id, a slug such as `acme`.
    #[param(value_type = String)]
    TenantId,
    /// The member's user sub.
    String,
);

impl<S: Send + Sync> FromRequestParts<S> for MemberPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (tenant, sub) = super::extract::tenant_and_segment(parts, state).await?;
        Ok(Self(tenant, sub))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The sub of an existing user of the tenant's pool.
    sub: String,
    #[schema(schema_with = super::openapi::role)]
    role: Role,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    #[schema(schema_with = super::openapi::role)]
    role: Role,
}

/// List a tenant's members, by sub.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/members",
    operation_id = "listMembers",
    tag = "members",
    params(super::tenants::TenantPath, ListParams),
    responses(
        (status = 200, description = "A page of memberships, removed ones included.", body = Page<MemberView>),
        (status = 400, description = "An invalid `limit` or `cursor` (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    super::tenants::TenantPath(id): super::tenants::TenantPath,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<MemberView>>, ApiError> {
    caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let scope = format!("members:{id}");
    let req = params.page(&scope)?;
    let rows = members::list_members(&state, &id, &req).await?;
    let (rows, next_cursor) = Page::<MemberView>::finish(rows, &req, &scope, |m| m.sub.clone());
    let mut items = Vec::with_capacity(rows.len());
    for m in rows {
        items.push(view(&state, m).await?);
    }
    Ok(axum::Json(Page { items, next_cursor }))
}

/// Add an existing user of the tenant's pool as a member.
///
/// Adds an existing user of the tenant's pool (platform admins; tenant admins invite).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/members",
    operation_id = "addMember",
    extensions(("x-audit-action" = json!("member.add"))),
    tag = "members",
    params(super::tenants::TenantPath),
    request_body = AddMember,
    responses(
        (status = 201, description = "The membership.", body = MemberView),
        (status = 400, description = "A malformed body or an unknown role (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin; tenant admins invite instead (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or no user with this sub in the tenant's pool (`not_found`).", body = ErrorBody),
        (status = 409, description = "A concurrent update (`conflict`), or an existing member's new role would leave the tenant without an active admin (`last_admin`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    super::tenants::TenantPath(id): super::tenants::TenantPath,
    Json(req): Json<AddMember>,
) -> Result<Response, ApiError> {
    let access = caller.tenant(&state, &id, Need::Platform).await?;
    let m = members::add_member(&state, &access.tenant, &req.sub, req.role).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, m).await?)).into_response())
}

/// Get a membership (members may read only their own).
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/members/{sub}",
    operation_id = "getMember",
    tag = "members",
    params(MemberPath),
    responses(
        (status = 200, description = "The membership.", body = MemberView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A member reading someone else's membership, or a user whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or no such member (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    MemberPath(id, sub): MemberPath,
) -> Result<axum::Json<MemberView>, ApiError> {
    let access = caller.tenant(&state, &id, Need::Member).await?;
    if !access.is_admin() && access.sub() != Some(sub.as_str()) {
        return Err(ApiError::forbidden("Members may read only their own membership."));
    }
    let m = members::get_member(&state, &id, &sub).await?;
    Ok(axum::Json(view(&state, m).await?))
}

/// Change a member's role.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}/members/{sub}",
    operation_id = "changeMemberRole",
    extensions(("x-audit-action" = json!("member.role"))),
    tag = "members",
    params(MemberPath),
    request_body = ChangeRole,
    responses(
        (status = 200, description = "The membership.", body = MemberView),
        (status = 400, description = "A malformed body or an unknown role (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or no such member (`not_found`).", body = ErrorBody),
        (status = 409, description = "The change would leave the tenant without an active admin (`last_admin`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn change_role(
    State(state): State<AppState>,
    caller: Caller,
    MemberPath(id, sub): MemberPath,
    Json(req): Json<ChangeRole>,
) -> Result<axum::Json<MemberView>, ApiError> {
    let access = caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let m = members::change_role(&state, &access.tenant, &sub, req.role).await?;
    Ok(axum::Json(view(&state, m).await?))
}

/// Remove a member; their refresh tokens for this tenant are revoked.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/members/{sub}",
    operation_id = "removeMember",
    extensions(("x-audit-action" = json!("member.remove"))),
    tag = "members",
    params(MemberPath),
    responses(
        (status = 204, description = "Removed."),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or no such member (`not_found`).", body = ErrorBody),
        (status = 409, description = "The change would leave the tenant without an active admin (`last_admin`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    MemberPath(id, sub): MemberPath,
) -> Result<StatusCode, ApiError> {
    let access = caller.tenant(&state, &id, Need::TenantAdmin).await?;
    members::remove_member(&state, &access.tenant, &sub).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/v1/tenants`: create, list, get, update, suspend, reactivate, delete, and tier moves
//! between shared and dedicated placement.

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::StoreError;
use cognate_core::page::PageRequest;
use cognate_core::repo::{MovedUser, TenantMove};
use cognate_core::tenant::{EmailDomain, MembershipStatus, MfaRequirement, Tenant, TenantId, TenantStatus, Tier};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Need, PlatformAdmin, tenant_not_found};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::paging::{ListParams, Page};
use crate::tenancy;
use crate::{AppState, bootstrap, issue};

/// Longest tenant display name, in characters.
const MAX_NAME_CHARS: usize = 256;
/// Most domains accepted when creating a tenant.
const MAX_CREATE_DOMAINS: usize = 20;
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
        issuer: issue::issuer(state, &t.pool_id),
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

fn valid_name(name: &str) -> Result<String, ApiError> {
    super::extract::display_name(name, MAX_NAME_CHARS)
}

/// The slug derived from a display name: lowercase ASCII letters and digits, every other
/// run of characters one `-`, trimmed to 63 characters ("Acme Corp." -> `acme-corp`).
fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.truncate(63);
    slug.trim_end_matches('-').to_owned()
}

fn tenant_id(requested: Option<&str>, name: &str) -> Result<TenantId, ApiError> {
    match requested {
        Some(id) => TenantId::parse(id).ok_or_else(|| {
            ApiError::invalid_request(format!(
                "Invalid tenant id {id:?}: 3 to 63 of a-z, 0-9 and '-', not starting or ending with '-'."
            ))
        }),
        None => TenantId::parse(&slugify(name)).ok_or_else(|| {
            ApiError::invalid_request("No tenant id can be derived from the name; give an explicit id.")
        }),
    }
}

/// Create a tenant.
///
/// Basic and standard tenants are placed in the shared pool; platinum tenants get a dedicated
/// pool, provisioned now. The `domains` are claimed unverified, without auto-join.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    operation_id = "createTenant",
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
    let name = valid_name(&req.name)?;
    let id = tenant_id(req.id.as_deref(), &name)?;
    if req.domains.len() > MAX_CREATE_DOMAINS {
        return Err(ApiError::invalid_request(format!("At most {MAX_CREATE_DOMAINS} domains at creation.")));
    }
    let domains = req.domains.iter().map(|d| super::domains::claimable(d)).collect::<Result<Vec<_>, _>>()?;
    if state.store.get_tenant(&id).await?.is_some() {
        return Err(ApiError::conflict(format!("The tenant id {id} is taken.")));
    }
    for d in &domains {
        if state.store.get_domain(d).await?.is_some() {
            return Err(ApiError::conflict(format!("The domain {d} is already claimed.")));
        }
    }
    let pool_id = if req.tier.is_dedicated() {
        tenancy::provision_dedicated_pool(&state, &id).await?
    } else {
        bootstrap::ensure_shared_pool(&state).await?
    };
    let now = state.clock.now_millis();
    let tenant = Tenant {
        id,
        name,
        tier: req.tier,
        status: TenantStatus::Active,
        pool_id,
        mfa: MfaRequirement::Off,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    if let Err(e) = state.store.create_tenant(&tenant).await {
        discard_dedicated_pool(&state, &tenant).await;
        return Err(match e {
            StoreError::Conflict(_) => ApiError::conflict(format!("The tenant id {} is taken.", tenant.id)),
            other => other.into(),
        });
    }
    for domain in domains {
        let claim = EmailDomain {
            verification_token_hash: Some(super::domains::challenge_hash(&state, &tenant.id, &domain, now)),
            tenant_id: tenant.id.clone(),
            domain,
            verified: false,
            auto_join: false,
            created_at: now,
        };
        if let Err(e) = state.store.add_domain(&claim).await {
            // A concurrent claim won: undo the tenant so the request has no effect.
            state.store.delete_tenant(&tenant.id).await?;
            discard_dedicated_pool(&state, &tenant).await;
            return Err(match e {
                StoreError::Conflict(_) => {
                    ApiError::conflict(format!("The domain {} is already claimed.", claim.domain))
                }
                other => other.into(),
            });
        }
    }
    tracing::info!(tenant = %tenant.id, tier = %tenant.tier, pool = %tenant.pool_id, "tenant created");
    Ok((StatusCode::CREATED, axum::Json(view(&state, tenant).await?)).into_response())
}

/// Deletes a dedicated pool provisioned for a tenant whose creation failed.
async fn discard_dedicated_pool(state: &AppState, tenant: &Tenant) {
    if tenant.tier.is_dedicated()
        && let Err(e) = state.store.delete_pool(&tenant.pool_id).await
    {
        tracing::error!(pool = %tenant.pool_id, error = %e, "could not delete an unused dedicated pool");
    }
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
    let rows = state.store.list_tenants(&req).await?;
    let (rows, next_cursor) = Page::<TenantView>::finish(rows, &req, CURSOR_SCOPE, |t| t.id.to_string());
    let mut items = Vec::with_capacity(rows.len());
    for t in rows {
        items.push(view(&state, t).await?);
    }
    Ok(axum::Json(Page { items, next_cursor }))
}

async fn load(state: &AppState, id: &TenantId) -> Result<Tenant, ApiError> {
    state.store.get_tenant(id).await?.ok_or_else(tenant_not_found)
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

/// Applies `change` to the stored tenant and saves it if nobody updated it in between
/// (`409 conflict` otherwise).
async fn modify(state: &AppState, id: &TenantId, change: impl FnOnce(&mut Tenant)) -> Result<Tenant, ApiError> {
    let mut tenant = load(state, id).await?;
    change(&mut tenant);
    tenant.updated_at = state.clock.now_millis();
    state.store.update_tenant(&tenant).await.map_err(|e| match e {
        StoreError::NotFound(_) => tenant_not_found(),
        other => other.into(),
    })?;
    tenant.version += 1;
    Ok(tenant)
}

/// Rename a tenant or change its MFA requirement.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}",
    operation_id = "updateTenant",
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
    let name = req.name.as_deref().map(valid_name).transpose()?;
    let tenant = modify(&state, &id, |t| {
        if let Some(name) = name {
            t.name = name;
        }
        if let Some(mfa) = req.mfa {
            t.mfa = mfa;
        }
    })
    .await?;
    tenancy::sync_dedicated_mfa(&state, &tenant).await?;
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
    let tenant = modify(&state, &id, |t| t.status = TenantStatus::Suspended).await?;
    let revoked = state.store.revoke_tenant_families(&tenant.id, None, state.clock.now_millis()).await?;
    tracing::info!(tenant = %tenant.id, revoked, "tenant suspended; its refresh tokens are revoked");
    Ok(axum::Json(view(&state, tenant).await?))
}

/// Reactivate a suspended tenant (revoked refresh tokens stay revoked).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/reactivate",
    operation_id = "reactivateTenant",
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
    let tenant = modify(&state, &id, |t| t.status = TenantStatus::Active).await?;
    Ok(axum::Json(view(&state, tenant).await?))
}

/// Delete a tenant with its domains, memberships and invitations (users stay in their pool).
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}",
    operation_id = "deleteTenant",
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
    let tenant = load(&state, &id).await?;
    state.store.revoke_tenant_families(&id, None, state.clock.now_millis()).await?;
    state.store.delete_tenant(&id).await.map_err(|e| match e {
        StoreError::NotFound(_) => tenant_not_found(),
        other => other.into(),
    })?;
    // The role groups mirrored memberships that no longer exist.
    for role in tenancy::ROLES {
        match state.store.delete_group(&tenant.pool_id, &role.group_name(&id)).await {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // A dedicated pool is the tenant's realm: its users and clients go with it (kept, its
    // users' tenant attributes would name a tenant that no longer exists).
    if tenant.tier.is_dedicated() {
        match state.store.delete_pool(&tenant.pool_id).await {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    tracing::info!(tenant = %id, "tenant deleted");
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
    let tenant = load(&state, &id).await?;
    if tenant.tier.is_dedicated() == req.tier.is_dedicated() {
        let tenant = modify(&state, &id, |t| t.tier = req.tier).await?;
        return Ok(axum::Json(view(&state, tenant).await?));
    }
    let (to, provisioned) = if req.tier.is_dedicated() {
        (tenancy::provision_dedicated_pool(&state, &id).await?, true)
    } else {
        (bootstrap::ensure_shared_pool(&state).await?, false)
    };
    let mut after = tenant.clone();
    after.tier = req.tier;
    after.pool_id = to.clone();
    after.updated_at = state.clock.now_millis();
    let moved = match plan_move(&state, &tenant, &after).await {
        Ok(plan) => state.store.move_tenant(&plan).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = moved {
        if provisioned {
            discard_dedicated_pool(&state, &after).await;
        }
        return Err(match e.code {
            "conflict" if e.status == StatusCode::CONFLICT => {
                ApiError::conflict(format!("The tenant cannot move: {} Nothing was changed.", e.message))
            }
            _ => e,
        });
    }
    tracing::info!(tenant = %id, from = %tenant.pool_id, to = %to, tier = %req.tier, "tenant moved");
    if tenant.tier.is_dedicated() && state.store.count_users(&tenant.pool_id).await? == 0 {
        // The old dedicated pool is empty now.
        state.store.delete_pool(&tenant.pool_id).await?;
    }
    after.version += 1;
    tenancy::sync_dedicated_mfa(&state, &after).await?;
    Ok(axum::Json(view(&state, after).await?))
}

/// Every active member of `before` as they will live in `after.pool_id`.
async fn plan_move(state: &AppState, before: &Tenant, after: &Tenant) -> Result<TenantMove, ApiError> {
    let target = state.store.get_pool(&after.pool_id).await?.ok_or_else(|| ApiError::internal("target pool"))?;
    let mut users = Vec::new();
    let mut page = PageRequest { after: None, limit: 500 };
    loop {
        let rows = state.store.list_memberships(&before.id, &page).await?;
        let done = rows.len() < page.limit as usize;
        page.after = rows.last().map(|m| m.sub.clone());
        for m in rows.into_iter().filter(|m| m.status == MembershipStatus::Active) {
            let Some(old) = state.store.get_user_by_sub(&before.pool_id, &m.sub).await? else {
                continue;
            };
            // A user in other tenants of the shared pool keeps that account; a dedicated
            // pool's users belong to this tenant only.
            let others = tenancy::user_tenants(state, &old).await?.iter().any(|(o, _)| o.tenant_id != before.id);
            let mut user = old.clone();
            user.pool_id = after.pool_id.clone();
            // In the target pool this tenant is the user's only one (a dedicated pool's
            // users belong to its tenant; users leaving one had no other tenant there).
            tenancy::set_home_attributes(&mut user, after);
            let keys = user.keys(&target.settings);
            users.push(MovedUser { user, keys, role: m.role, delete_old: !others });
        }
        if done {
            break;
        }
    }
    Ok(TenantMove { tenant: after.clone(), from: before.pool_id.clone(), users, at: state.clock.now_millis() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_slugs() {
        assert_eq!(slugify("Acme Corp."), "acme-corp");
        assert_eq!(slugify("  Globex -- 2 "), "globex-2");
        assert_eq!(slugify("Ünïcode"), "n-code");
        assert_eq!(slugify(&"x".repeat(80)).len(), 63);
        assert!(tenant_id(None, "!!").is_err());
        assert!(tenant_id(Some("Bad_Id"), "ok").is_err());
        assert_eq!(tenant_id(None, "Acme").unwrap().as_str(), "acme");
    }
}

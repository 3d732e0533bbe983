//! `/v1/tenants`: create, list, get, rename, suspend, reactivate, delete.

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::page::{self, PageRequest};
use cognate_core::tenant::{MfaRequirement, Tenant, TenantId, TenantStatus, Tier};
use serde::{Deserialize, Serialize};

use super::auth::PlatformAdmin;
use super::error::ApiError;
use super::extract::{Json, Query};
use crate::{AppState, bootstrap};

/// Longest tenant display name, in characters.
const MAX_NAME_CHARS: usize = 256;
/// Page size when `limit` is absent.
const DEFAULT_LIMIT: u32 = 20;
/// Largest page size accepted.
const MAX_LIMIT: u32 = 100;
/// Scope that binds list cursors to this list.
const CURSOR_SCOPE: &str = "tenants";

/// A tenant as the API shows it. Times are epoch seconds.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    id: String,
    name: String,
    tier: Tier,
    status: TenantStatus,
    pool_id: String,
    mfa: MfaRequirement,
    created_at: i64,
    updated_at: i64,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id.to_string(),
            name: t.name,
            tier: t.tier,
            status: t.status,
            pool_id: t.pool_id.as_str().to_owned(),
            mfa: t.mfa,
            created_at: t.created_at.div_euclid(1000),
            updated_at: t.updated_at.div_euclid(1000),
        }
    }
}

/// The `{tenant_id}` path segment. A value that is not a valid slug cannot name a tenant,
/// so it is 404 like any unknown tenant.
pub struct TenantPath(TenantId);

impl<S: Send + Sync> FromRequestParts<S> for TenantPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_request(e.body_text()))?;
        TenantId::parse(&raw).map(TenantPath).ok_or_else(tenant_not_found)
    }
}

fn tenant_not_found() -> ApiError {
    ApiError::not_found("The tenant does not exist.")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    id: Option<String>,
    name: String,
    tier: Tier,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListParams {
    limit: Option<u32>,
    cursor: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantPage {
    items: Vec<TenantView>,
    next_cursor: Option<String>,
}

/// A display name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_request(format!(
            "The name must be 1 to {MAX_NAME_CHARS} characters without control characters."
        )));
    }
    Ok(name.to_owned())
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

pub async fn create(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Json(req): Json<CreateTenant>,
) -> Result<Response, ApiError> {
    let name = valid_name(&req.name)?;
    let id = tenant_id(req.id.as_deref(), &name)?;
    if req.tier.is_dedicated() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_tier",
            "platinum placement arrives with dedicated pools",
        ));
    }
    let pool_id = bootstrap::ensure_shared_pool(&state).await?;
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
    state.store.create_tenant(&tenant).await.map_err(|e| match e {
        cognate_core::StoreError::Conflict(_) => ApiError::conflict(format!("The tenant id {} is taken.", tenant.id)),
        other => other.into(),
    })?;
    Ok((StatusCode::CREATED, axum::Json(TenantView::from(tenant))).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<TenantPage>, ApiError> {
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_request(format!("The limit must be 1 to {MAX_LIMIT}.")));
    }
    let after = match params.cursor.as_deref() {
        Some(token) => Some(
            page::decode_token(CURSOR_SCOPE, token)
                .ok_or_else(|| ApiError::invalid_request("The cursor is not valid."))?,
        ),
        None => None,
    };
    let req = PageRequest { after, limit };
    let rows = state.store.list_tenants(&req).await?;
    let (rows, next) = page::finish(rows, &req, |t| t.id.to_string());
    Ok(axum::Json(TenantPage {
        items: rows.into_iter().map(TenantView::from).collect(),
        next_cursor: next.map(|key| page::encode_token(CURSOR_SCOPE, &key)),
    }))
}

async fn load(state: &AppState, id: &TenantId) -> Result<Tenant, ApiError> {
    state.store.get_tenant(id).await?.ok_or_else(tenant_not_found)
}

pub async fn get(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
) -> Result<axum::Json<TenantView>, ApiError> {
    Ok(axum::Json(load(&state, &id).await?.into()))
}

/// Applies `change` to the stored tenant and saves it if nobody updated it in between
/// (`409 conflict` otherwise).
async fn modify(state: &AppState, id: &TenantId, change: impl FnOnce(&mut Tenant)) -> Result<TenantView, ApiError> {
    let mut tenant = load(state, id).await?;
    change(&mut tenant);
    tenant.updated_at = state.clock.now_millis();
    state.store.update_tenant(&tenant).await.map_err(|e| match e {
        cognate_core::StoreError::NotFound(_) => tenant_not_found(),
        other => other.into(),
    })?;
    tenant.version += 1;
    Ok(tenant.into())
}

pub async fn update(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
    Json(req): Json<UpdateTenant>,
) -> Result<axum::Json<TenantView>, ApiError> {
    let name = req.name.as_deref().map(valid_name).transpose()?;
    let view = modify(&state, &id, |t| {
        if let Some(name) = name {
            t.name = name;
        }
    })
    .await?;
    Ok(axum::Json(view))
}

pub async fn suspend(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
) -> Result<axum::Json<TenantView>, ApiError> {
    Ok(axum::Json(modify(&state, &id, |t| t.status = TenantStatus::Suspended).await?))
}

pub async fn reactivate(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
) -> Result<axum::Json<TenantView>, ApiError> {
    Ok(axum::Json(modify(&state, &id, |t| t.status = TenantStatus::Active).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    TenantPath(id): TenantPath,
) -> Result<StatusCode, ApiError> {
    state.store.delete_tenant(&id).await.map_err(|e| match e {
        cognate_core::StoreError::NotFound(_) => tenant_not_found(),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
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

//! Email domains a tenant claims, for every surface (`/v1` today; the consoles and DNS
//! verification next). The rules:
//! - a domain is claimed by at most one tenant; a claim starts unverified, with a
//!   challenge whose value is shown once (its hash is kept);
//! - only a verified claim of an active tenant routes sign-ins ([`route`]); anything else
//!   routes to the shared pool.

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::tenant::{DomainName, EmailDomain, Tenant, TenantId, TenantStatus};

use crate::tenancy::domain_challenge_hash;
use crate::{AppState, bootstrap};

/// Why a domain operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("no such tenant")]
    TenantNotFound,
    /// The tenant holds no claim on the domain.
    #[error("no such domain")]
    NotFound,
    /// Another tenant (or this one) claims it already.
    #[error("the domain is already claimed")]
    Claimed,
    /// A broken invariant (a connection that lost its provider…), not the caller's doing.
    #[error("internal: {0}")]
    Fault(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn domain_not_found(e: StoreError) -> DomainError {
    match e {
        StoreError::NotFound(_) => DomainError::NotFound,
        other => other.into(),
    }
}

/// Claims `domain` for `tenant`, unverified, with auto-join as asked.
pub async fn claim(
    state: &AppState,
    tenant: &TenantId,
    domain: DomainName,
    auto_join: bool,
) -> Result<EmailDomain, DomainError> {
    let created_at = state.clock.now_millis();
    let claim = EmailDomain {
        verification_token_hash: Some(domain_challenge_hash(state, tenant, &domain, created_at)),
        tenant_id: tenant.clone(),
        domain,
        verified: false,
        auto_join,
        created_at,
    };
    state.store.add_domain(&claim).await.map_err(|e| match e {
        StoreError::Conflict(_) => DomainError::Claimed,
        StoreError::NotFound(_) => DomainError::TenantNotFound,
        other => other.into(),
    })?;
    tracing::info!(tenant = %claim.tenant_id, domain = %claim.domain, "domain claimed");
    Ok(claim)
}

/// The tenant's claim on `domain`.
pub async fn get(state: &AppState, tenant: &TenantId, domain: &DomainName) -> Result<EmailDomain, DomainError> {
    state.store.get_domain(domain).await?.filter(|d| &d.tenant_id == tenant).ok_or(DomainError::NotFound)
}

/// Every claim of the tenant, by domain.
pub async fn list(state: &AppState, tenant: &TenantId) -> Result<Vec<EmailDomain>, DomainError> {
    Ok(state.store.list_domains(tenant).await?)
}

/// Turns auto-join on or off.
pub async fn set_auto_join(
    state: &AppState,
    tenant: &TenantId,
    domain: &DomainName,
    on: bool,
) -> Result<EmailDomain, DomainError> {
    state.store.set_domain_auto_join(tenant, domain, on).await.map_err(domain_not_found)?;
    get(state, tenant, domain).await
}

/// Gives up the claim, and takes the domain off the tenant's SSO connection routing it.
pub async fn release(state: &AppState, tenant: &TenantId, domain: &DomainName) -> Result<(), DomainError> {
    state.store.remove_domain(tenant, domain).await.map_err(domain_not_found)?;
    // A connection of the tenant no longer routes it either.
    crate::services::connections::release_domain(state, tenant, domain).await.map_err(|e| match e {
        crate::services::connections::ConnectionError::Store(e) => DomainError::Store(e),
        crate::services::connections::ConnectionError::TenantNotFound => DomainError::TenantNotFound,
        other => DomainError::Fault(other.to_string()),
    })?;
    tracing::info!(tenant = %tenant, domain = %domain, "domain released");
    Ok(())
}

/// Marks the claim verified on an operator's attestation (`by`).
pub async fn attest(
    state: &AppState,
    tenant: &TenantId,
    domain: &DomainName,
    by: &str,
) -> Result<EmailDomain, DomainError> {
    state.store.set_domain_verified(tenant, domain, true).await.map_err(domain_not_found)?;
    tracing::info!(tenant = %tenant, domain = %domain, by = %by, "domain verified by attestation");
    get(state, tenant, domain).await
}

/// Where addresses of `domain` sign in: the active tenant holding a verified claim on it,
/// with its pool; else no tenant and the shared pool.
pub async fn route(state: &AppState, domain: &DomainName) -> Result<(Option<Tenant>, PoolId), StoreError> {
    let tenant = match state.store.get_domain(domain).await? {
        Some(claim) if claim.verified => {
            state.store.get_tenant(&claim.tenant_id).await?.filter(|t| t.status == TenantStatus::Active)
        }
        _ => None,
    };
    match tenant {
        Some(t) => {
            let pool = t.pool_id.clone();
            Ok((Some(t), pool))
        }
        None => Ok((None, bootstrap::ensure_shared_pool(state).await?)),
    }
}

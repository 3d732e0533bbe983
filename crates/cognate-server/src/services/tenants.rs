//! Tenants: creation (placement in the shared pool, or a dedicated pool provisioned for a
//! platinum tenant), renames and MFA policy, suspension (which revokes the tenant's tokens),
//! deletion, and tier moves between shared and dedicated placement that carry every member
//! across in one transaction (same sub, password hash, attributes, MFA and role).
//!
//! Callers decide who may act (platform admins, or a tenant admin for renames and the MFA
//! policy); the rules of each change live here.

use cognate_core::StoreError;
use cognate_core::page::PageRequest;
use cognate_core::repo::{MovedUser, TenantMove};
use cognate_core::tenant::{
    DomainName, EmailDomain, MembershipStatus, MfaRequirement, Tenant, TenantId, TenantStatus, Tier,
};

use crate::services::webhooks;
use crate::tenancy;
use crate::{AppState, bootstrap};

/// Longest tenant display name, in characters.
pub const MAX_NAME_CHARS: usize = 256;
/// Most domains a tenant may claim at creation.
pub const MAX_CREATE_DOMAINS: usize = 20;

/// Why a tenant change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("no such tenant")]
    NotFound,
    /// A display name outside 1 to [`MAX_NAME_CHARS`] characters, or with control characters.
    #[error("invalid name")]
    InvalidName,
    /// An explicit id that is not a slug (the id asked for).
    #[error("invalid tenant id {0:?}")]
    InvalidId(String),
    /// No id given, and none can be derived from the name.
    #[error("no id can be derived from the name")]
    NoIdFromName,
    #[error("the tenant id {0} is taken")]
    IdTaken(TenantId),
    #[error("the domain {0} is already claimed")]
    DomainTaken(DomainName),
    /// More than [`MAX_CREATE_DOMAINS`] domains at creation.
    #[error("too many domains")]
    TooManyDomains,
    /// Not a domain name (the text given).
    #[error("invalid domain {0:?}")]
    InvalidDomain(String),
    /// A consumer mail provider's domain, which no tenant may claim.
    #[error("{0} is a consumer mail domain")]
    ConsumerDomain(DomainName),
    /// Someone else changed the tenant in between: read it again.
    #[error("modified concurrently")]
    Concurrent,
    /// A tier move that cannot happen (e.g. a member's email is taken in the target pool);
    /// nothing changed.
    #[error("the tenant cannot move: {0}")]
    MoveRefused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Fault(String),
}

/// A display name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
pub fn valid_name(name: &str) -> Result<String, TenantError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(TenantError::InvalidName);
    }
    Ok(name.to_owned())
}

/// The slug derived from a display name: lowercase ASCII letters and digits, every other
/// run of characters one `-`, trimmed to 63 characters ("Acme Corp." -> `acme-corp`).
pub fn slugify(name: &str) -> String {
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

/// The id of a new tenant: the one asked for, else the slug of its name.
pub fn tenant_id(requested: Option<&str>, name: &str) -> Result<TenantId, TenantError> {
    match requested {
        Some(id) => TenantId::parse(id).ok_or_else(|| TenantError::InvalidId(id.to_owned())),
        None => TenantId::parse(&slugify(name)).ok_or(TenantError::NoIdFromName),
    }
}

/// A domain a tenant may claim ([`super::domains::claimable`]'s rule), as a tenant error.
fn claimable(raw: &str) -> Result<DomainName, TenantError> {
    use super::domains::DomainError;
    super::domains::claimable(raw).map_err(|e| match e {
        DomainError::ConsumerDomain(domain) => TenantError::ConsumerDomain(domain),
        _ => TenantError::InvalidDomain(raw.to_owned()),
    })
}

/// A tenant to create.
pub struct NewTenant<'a> {
    pub id: Option<&'a str>,
    pub name: &'a str,
    pub tier: Tier,
    /// Domains to claim (unverified, without auto-join), as given: at most
    /// [`MAX_CREATE_DOMAINS`], each [`claimable`].
    pub domains: Vec<String>,
}

/// Creates a tenant: placed in the shared pool (basic, standard) or a dedicated pool
/// provisioned now (platinum), with its domains claimed unverified and its
/// `tenant.created` event, in one transaction. All or nothing: a claim lost to a concurrent
/// request leaves no tenant, no claim and no event (and the dedicated pool is deleted).
pub async fn create(state: &AppState, req: NewTenant<'_>) -> Result<Tenant, TenantError> {
    if req.domains.len() > MAX_CREATE_DOMAINS {
        return Err(TenantError::TooManyDomains);
    }
    let domains = req.domains.iter().map(|d| claimable(d)).collect::<Result<Vec<_>, _>>()?;
    let name = valid_name(req.name)?;
    let id = tenant_id(req.id, &name)?;
    if state.store.get_tenant(&id).await?.is_some() {
        return Err(TenantError::IdTaken(id));
    }
    for d in &domains {
        if state.store.get_domain(d).await?.is_some() {
            return Err(TenantError::DomainTaken(d.clone()));
        }
    }
    let pool_id = if req.tier.is_dedicated() {
        tenancy::provision_dedicated_pool(state, &id).await?
    } else {
        bootstrap::ensure_shared_pool(state).await?
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
    let claims: Vec<EmailDomain> = domains
        .into_iter()
        .map(|domain| EmailDomain {
            verification_token_hash: Some(tenancy::domain_challenge_hash(state, &tenant.id, &domain, now)),
            tenant_id: tenant.id.clone(),
            domain,
            verified: false,
            auto_join: false,
            created_at: now,
        })
        .collect();
    // One transaction: the tenant, its claims and `tenant.created`, so a claim lost to a
    // concurrent request leaves no tenant and no event that would announce one.
    let event = webhooks::tenant_event(state, "tenant.created", &tenant);
    if let Err(e) = state.store.create_tenant_with(&tenant, &claims, &[event]).await {
        discard_dedicated_pool(state, &tenant).await;
        return Err(match e {
            StoreError::Conflict("domain") => TenantError::DomainTaken(lost_claim(state, &claims).await?),
            StoreError::Conflict(_) => TenantError::IdTaken(tenant.id),
            other => other.into(),
        });
    }
    tracing::info!(tenant = %tenant.id, tier = %tenant.tier, pool = %tenant.pool_id, "tenant created");
    crate::facts::tenant(Some(tenant.id.as_str()));
    crate::facts::target(tenant.id.as_str());
    Ok(tenant)
}

/// The first of `claims` another tenant holds (the one a concurrent request won).
async fn lost_claim(state: &AppState, claims: &[EmailDomain]) -> Result<DomainName, TenantError> {
    for claim in claims {
        if state.store.get_domain(&claim.domain).await?.is_some() {
            return Ok(claim.domain.clone());
        }
    }
    // Released again meanwhile: name the first.
    claims
        .first()
        .map(|c| c.domain.clone())
        .ok_or_else(|| TenantError::Fault("a domain conflict without domains".into()))
}

/// Deletes a dedicated pool provisioned for a tenant whose creation failed.
async fn discard_dedicated_pool(state: &AppState, tenant: &Tenant) {
    if tenant.tier.is_dedicated()
        && let Err(e) = state.store.delete_pool(&tenant.pool_id).await
    {
        tracing::error!(pool = %tenant.pool_id, error = %e, "could not delete an unused dedicated pool");
    }
}

/// Tenants by id.
pub async fn list(state: &AppState, page: &PageRequest) -> Result<Vec<Tenant>, TenantError> {
    Ok(state.store.list_tenants(page).await?)
}

/// How many tenants there are of each tier and status.
pub async fn census(state: &AppState) -> Result<Vec<cognate_core::repo::TenantCount>, TenantError> {
    Ok(state.store.count_tenants().await?)
}

pub async fn get(state: &AppState, id: &TenantId) -> Result<Tenant, TenantError> {
    state.store.get_tenant(id).await?.ok_or(TenantError::NotFound)
}

/// Applies `change` to the stored tenant and saves it if nobody updated it in between
/// (`Concurrent` otherwise).
/// `event`, when given, is the webhook event written with the change.
async fn modify(
    state: &AppState,
    id: &TenantId,
    event: Option<&str>,
    change: impl FnOnce(&mut Tenant),
) -> Result<Tenant, TenantError> {
    let mut tenant = get(state, id).await?;
    change(&mut tenant);
    tenant.updated_at = state.clock.now_millis();
    // One unit of work: the tenant, its users' tenant attributes and the event.
    let mut work = state.store.begin_tenant(id).await?;
    let events: Vec<_> = event.map(|kind| webhooks::tenant_event(state, kind, &tenant)).into_iter().collect();
    let done = match tenancy::write_tenant(work.as_mut(), &tenant).await {
        Ok(()) => work.emit_events(&events).await,
        Err(e) => Err(e),
    };
    tenancy::settle(work, done).await.map_err(written)?;
    tenant.version += 1;
    Ok(tenant)
}

/// The refusal of a version-checked tenant write.
fn written(e: StoreError) -> TenantError {
    match e {
        StoreError::NotFound(_) => TenantError::NotFound,
        StoreError::Conflict("version") => TenantError::Concurrent,
        other => other.into(),
    }
}

/// Renames a tenant (its users' `custom:tenantName` follows) and/or changes its MFA
/// requirement (a dedicated pool's MFA setting follows).
pub async fn update(
    state: &AppState,
    id: &TenantId,
    name: Option<&str>,
    mfa: Option<MfaRequirement>,
) -> Result<Tenant, TenantError> {
    let name = name.map(valid_name).transpose()?;
    let tenant = modify(state, id, None, |t| {
        if let Some(name) = name {
            t.name = name;
        }
        if let Some(mfa) = mfa {
            t.mfa = mfa;
        }
    })
    .await?;
    tenancy::sync_dedicated_mfa(state, &tenant).await?;
    Ok(tenant)
}

/// Suspends a tenant: its users can no longer sign in to it or refresh into it, and its
/// refresh tokens are revoked (and published on the revocation feed).
pub async fn suspend(state: &AppState, id: &TenantId) -> Result<Tenant, TenantError> {
    let mut tenant = get(state, id).await?;
    tenant.status = TenantStatus::Suspended;
    let now = state.clock.now_millis();
    tenant.updated_at = now;
    // One unit of work: the suspension and the revocation of the tenant's tokens.
    let mut work = state.store.begin_tenant(id).await?;
    let event = webhooks::tenant_event(state, "tenant.suspended", &tenant);
    let done = match tenancy::write_tenant(work.as_mut(), &tenant).await {
        Ok(()) => match work.revoke_families(None, now).await {
            Ok(revoked) => work.emit_events(&[event]).await.map(|()| revoked),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    let revoked = tenancy::settle(work, done).await.map_err(written)?;
    state.metrics.families_revoked(crate::metrics::FamilyEnd::Tenant, revoked);
    tenant.version += 1;
    tracing::info!(tenant = %tenant.id, revoked, "tenant suspended; its refresh tokens are revoked");
    Ok(tenant)
}

/// Reactivates a suspended tenant (revoked refresh tokens stay revoked).
pub async fn reactivate(state: &AppState, id: &TenantId) -> Result<Tenant, TenantError> {
    modify(state, id, Some("tenant.reactivated"), |t| t.status = TenantStatus::Active).await
}

/// Deletes a tenant with its domains, memberships, invitations, webhook endpoints (with
/// their pending deliveries and log: nothing is sent for them after) and role groups (users
/// of the shared pool stay); a dedicated pool goes with its users and clients.
pub async fn delete(state: &AppState, id: &TenantId) -> Result<(), TenantError> {
    let tenant = get(state, id).await?;
    // The tenant's SSO providers must not outlive it in the shared pool (a dedicated pool
    // goes whole, below).
    if !tenant.tier.is_dedicated() {
        crate::services::connections::remove_all(state, id).await.map_err(|e| match e {
            crate::services::connections::ConnectionError::Store(e) => e.into(),
            other => TenantError::Fault(other.to_string()),
        })?;
    }
    let revoked = state.store.revoke_tenant_families(id, None, state.clock.now_millis()).await?;
    state.metrics.families_revoked(crate::metrics::FamilyEnd::Tenant, revoked);
    state.store.delete_tenant(id).await.map_err(|e| match e {
        StoreError::NotFound(_) => TenantError::NotFound,
        other => other.into(),
    })?;
    // The role groups mirrored memberships that no longer exist.
    for role in tenancy::ROLES {
        match state.store.delete_group(&tenant.pool_id, &role.group_name(id)).await {
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
    Ok(())
}

/// Changes a tenant's tier. When the placement changes (to or from platinum) every member
/// moves to the target pool in one transaction, keeping sub, password hash, status,
/// attributes, MFA and role; a refused move changes nothing.
pub async fn set_tier(state: &AppState, id: &TenantId, tier: Tier) -> Result<Tenant, TenantError> {
    let tenant = get(state, id).await?;
    if tenant.tier.is_dedicated() == tier.is_dedicated() {
        return modify(state, id, Some("tenant.tier_changed"), |t| t.tier = tier).await;
    }
    // An SSO connection is a provider of the pool the tenant leaves: its federated users
    // would sign in to the wrong pool. The tenant deletes them first (and recreates them).
    let page = cognate_core::page::PageRequest { after: None, limit: 1 };
    if !state.store.list_connections(id, &page).await?.is_empty() {
        return Err(TenantError::MoveRefused(
            "it has SSO connections, which belong to its current pool; delete them first.".into(),
        ));
    }
    let (to, provisioned) = if tier.is_dedicated() {
        (tenancy::provision_dedicated_pool(state, id).await?, true)
    } else {
        (bootstrap::ensure_shared_pool(state).await?, false)
    };
    let mut after = tenant.clone();
    after.tier = tier;
    after.pool_id = to.clone();
    after.updated_at = state.clock.now_millis();
    let moved = match plan_move(state, &tenant, &after).await {
        Ok(plan) => apply_move(state, &plan).await.map_err(TenantError::from),
        Err(e) => Err(e),
    };
    if let Err(e) = moved {
        if provisioned {
            discard_dedicated_pool(state, &after).await;
        }
        return Err(match e {
            TenantError::Store(StoreError::Conflict(what)) => {
                TenantError::MoveRefused(format!("the {what} already exists in the target pool."))
            }
            other => other,
        });
    }
    tracing::info!(tenant = %id, from = %tenant.pool_id, to = %to, tier = %tier, "tenant moved");
    if tenant.tier.is_dedicated() && state.store.count_users(&tenant.pool_id).await? == 0 {
        // The old dedicated pool is empty now.
        state.store.delete_pool(&tenant.pool_id).await?;
    }
    after.version += 1;
    tenancy::sync_dedicated_mfa(state, &after).await?;
    Ok(after)
}

/// Applies the move in one unit of work of the tenant: all of it, or nothing.
async fn apply_move(state: &AppState, plan: &TenantMove) -> Result<(), StoreError> {
    let mut work = state.store.begin_tenant(&plan.tenant.id).await?;
    let event = webhooks::tenant_event(state, "tenant.tier_changed", &plan.tenant);
    let done = match cognate_core::repo::move_tenant(work.as_mut(), plan).await {
        Ok(()) => work.emit_events(&[event]).await,
        Err(e) => Err(e),
    };
    tenancy::settle(work, done).await
}

/// Every active member of `before` as they will live in `after.pool_id`.
async fn plan_move(state: &AppState, before: &Tenant, after: &Tenant) -> Result<TenantMove, TenantError> {
    let target = state
        .store
        .get_pool(&after.pool_id)
        .await?
        .ok_or_else(|| TenantError::Fault(format!("target pool {}", after.pool_id)))?;
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
        assert_eq!(tenant_id(None, "Acme").map(|t| t.to_string()).ok().as_deref(), Some("acme"));
    }
}

//! Email domains a tenant claims, for every surface (`/v1` today; the consoles next). The
//! rules:
//! - a domain is claimed by at most one tenant; a claim starts unverified, with a DNS TXT
//!   challenge ([`challenge_record`]) that can be shown again at any time: its value is an
//!   HMAC under the master key of the tenant, the domain and the claim's creation time, so
//!   it is never stored, differs for every claim (another tenant's, or an earlier claim of
//!   the same domain, does not verify this one) and cannot be guessed without the key;
//! - a claim is verified when its TXT record is found in DNS ([`check_dns`], for the
//!   tenant's admins and platform admins) or on a platform admin's word ([`attest`]);
//! - only a verified claim of an active tenant routes sign-ins ([`route`]); anything else
//!   routes to the shared pool.

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::tenant::{DomainName, EmailDomain, Tenant, TenantId, TenantStatus, is_consumer_domain};

use crate::dns::TxtError;
use crate::tenancy::{domain_challenge, domain_challenge_hash};
use crate::{AppState, bootstrap};

/// The DNS label under the domain that carries the verification TXT record
/// (`_cognate.acme.com`).
pub const RECORD_LABEL: &str = "_cognate";
/// What the verification TXT record's value starts with, before the claim's challenge.
pub const RECORD_PREFIX: &str = "cognate-verification=";
/// DNS checks of one claim per minute: each costs the resolver a lookup, so a tenant admin
/// pressing the button in a loop is slowed down long before the tenant's `/v1` window.
pub const DNS_CHECKS_PER_MINUTE: u32 = 10;

/// Why a domain operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("no such tenant")]
    TenantNotFound,
    /// Not a domain name (the value as given).
    #[error("{0:?} is not a valid domain name")]
    InvalidName(String),
    /// A consumer mail provider (gmail.com…): its addresses are anyone's, so no tenant may
    /// claim it.
    #[error("{0} is a consumer mail domain")]
    ConsumerDomain(DomainName),
    /// The tenant holds no claim on the domain.
    #[error("no such domain")]
    NotFound,
    /// Another tenant (or this one) claims it already.
    #[error("the domain is already claimed")]
    Claimed,
    /// DNS has no TXT record at the claim's record name (NXDOMAIN or no TXT there).
    #[error("no TXT record at {name}")]
    RecordMissing { name: String },
    /// TXT records exist at the record name, none with the claim's value.
    #[error("no TXT record at {name} holds the expected value")]
    RecordMismatch { name: String },
    /// The resolver failed or did not answer in time: nothing is known about the record.
    #[error("DNS lookup of {name} failed: {cause}")]
    DnsUnavailable { name: String, cause: String },
    /// Too many DNS checks of this claim; retry after this many seconds.
    #[error("too many DNS checks; retry in {0} s")]
    RateLimited(u64),
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

/// A domain a tenant may claim: a valid name, normalised (lowercase, no trailing dot),
/// that is not a consumer mail provider.
pub fn claimable(raw: &str) -> Result<DomainName, DomainError> {
    let domain = DomainName::parse(raw).ok_or_else(|| DomainError::InvalidName(raw.to_owned()))?;
    if is_consumer_domain(domain.as_str()) {
        return Err(DomainError::ConsumerDomain(domain));
    }
    Ok(domain)
}

/// Claims the domain named `raw` for `tenant` once it is [`claimable`]: what a tenant
/// admin's "add domain" does on every surface.
pub async fn add(state: &AppState, tenant: &TenantId, raw: &str, auto_join: bool) -> Result<EmailDomain, DomainError> {
    let domain = claimable(raw)?;
    claim(state, tenant, domain, auto_join).await
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

/// The TXT record that proves control of a claim: where to publish it and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChallengeRecord {
    /// `_cognate.{domain}`.
    pub name: String,
    /// `cognate-verification={challenge}`, the same on every read of this claim.
    pub value: String,
}

/// The TXT record of `claim`, derived again from the master key (nothing secret is
/// stored). Show it only to the tenant's admins and platform admins: it is public once
/// published, but before then it names a claim another tenant could learn of.
pub fn challenge_record(state: &AppState, claim: &EmailDomain) -> ChallengeRecord {
    ChallengeRecord {
        name: format!("{RECORD_LABEL}.{}", claim.domain),
        value: format!("{RECORD_PREFIX}{}", domain_challenge(state, &claim.tenant_id, &claim.domain, claim.created_at)),
    }
}

/// Verifies the claim by looking its TXT record up in DNS (`by` acted): verified when one
/// of the TXT records at [`ChallengeRecord::name`] equals [`ChallengeRecord::value`]
/// (compared in constant time). A claim already verified is answered as it is, without a
/// lookup. At most [`DNS_CHECKS_PER_MINUTE`] lookups per claim.
pub async fn check_dns(
    state: &AppState,
    tenant: &TenantId,
    domain: &DomainName,
    by: &str,
) -> Result<EmailDomain, DomainError> {
    let claim = get(state, tenant, domain).await?;
    if claim.verified {
        return Ok(claim);
    }
    let window = format!("domain-dns:{tenant}:{domain}");
    state
        .rates
        .admit(&window, DNS_CHECKS_PER_MINUTE, 60, state.clock.now_millis())
        .await
        .map_err(DomainError::RateLimited)?;
    let record = challenge_record(state, &claim);
    let name = record.name.clone();
    let found = state.dns.txt(&record.name).await.map_err(|e| match e {
        TxtError::NotFound => DomainError::RecordMissing { name: name.clone() },
        e @ (TxtError::Timeout | TxtError::Failed(_)) => {
            DomainError::DnsUnavailable { name: name.clone(), cause: e.to_string() }
        }
    })?;
    if !holds(&found, &record.value) {
        tracing::info!(tenant = %tenant, domain = %domain, by = %by, records = found.len(), "domain DNS check: no matching record");
        return Err(DomainError::RecordMismatch { name });
    }
    // The claim may have been released (and claimed again, with a new challenge) while the
    // lookup ran: only the claim whose record was found is verified.
    if get(state, tenant, domain).await?.created_at != claim.created_at {
        return Err(DomainError::NotFound);
    }
    state.store.set_domain_verified(tenant, domain, true).await.map_err(domain_not_found)?;
    tracing::info!(tenant = %tenant, domain = %domain, by = %by, "domain verified by DNS");
    get(state, tenant, domain).await
}

/// Whether one of the TXT values is `expected` (constant time for each).
fn holds(found: &[Vec<u8>], expected: &str) -> bool {
    found.iter().fold(false, |hit, value| cognate_core::crypto::constant_time_eq(value, expected.as_bytes()) | hit)
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

//! Who may act in a tenant, for every surface that manages tenants (`/v1` and the web
//! consoles): one decision, so a console can never do what `/v1` would refuse.
//!
//! Two kinds of principal:
//! - a platform admin (an unrevoked admin credential): may do everything;
//! - a user, with the tenant their session is for: acts only in that tenant, with their
//!   role there as stored *now* (a demotion or a removal takes effect at once).
//!
//! Users get the same refusal for any tenant they cannot act in, existing or not, so they
//! cannot probe other tenants' ids. Each decision is charged to a rate window
//! ([`crate::throttle::Limits::admin_per_tenant_per_minute`] a minute): an authorised user
//! counts against the tenant's window (only its own members can use up its quota), a
//! refused user against a window of their own (probing another tenant slows only the
//! prober); platform admins against none.

use cognate_core::StoreError;
use cognate_core::tenant::{Membership, Role, Tenant, TenantId};
use cognate_core::user::User;

use crate::AppState;
use crate::tenancy::Refusal;

/// Who asks to act in a tenant.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    /// A platform admin, by the access key id of their credential.
    Platform { access_key_id: &'a str },
    /// A user, with the tenant their session is for (`custom:tenantId`), if any.
    User { user: &'a User, session_tenant: Option<&'a TenantId> },
}

/// What an operation requires of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// The `admin` role in the tenant.
    TenantAdmin,
    /// Any active membership (callers narrow further, e.g. to the member's own record).
    Member,
    /// Platform admins only.
    Platform,
}

/// A principal's established right to act in a tenant.
#[derive(Debug, Clone)]
pub struct TenantAccess {
    pub tenant: Tenant,
    /// The acting user's membership; `None` for a platform admin.
    pub membership: Option<Membership>,
    /// Who acted, for records: `admin:{accessKeyId}` or the user's sub.
    pub actor: String,
}

impl TenantAccess {
    /// Whether the caller may manage the tenant (platform admin or tenant admin).
    pub fn is_admin(&self) -> bool {
        self.membership.as_ref().is_none_or(|m| m.role == Role::Admin)
    }

    /// The acting user's sub, if a user acted.
    pub fn sub(&self) -> Option<&str> {
        self.membership.as_ref().map(|m| m.sub.as_str())
    }
}

/// Why a principal may not act in a tenant.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Only platform admins may do this.
    #[error("this operation needs a platform admin credential")]
    PlatformOnly,
    /// The user's session is not for this tenant, or they are no active member of it (the
    /// same answer whether the tenant exists or not).
    #[error("you cannot act in this tenant with this session")]
    NotYourTenant,
    #[error("the tenant is suspended")]
    Suspended,
    /// The user's role in the tenant is not `admin`.
    #[error("this operation needs the admin role in the tenant")]
    AdminOnly,
    /// A platform admin named a tenant that does not exist.
    #[error("no such tenant")]
    TenantNotFound,
    /// Beyond the rate window: retry after `wait` seconds. `refused`: the window of a
    /// refused caller (not the tenant's).
    #[error("too many requests")]
    RateLimited { wait: u64, refused: bool },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Establishes `principal`'s right to act in `tenant` as `need` requires, and charges the
/// request to the right rate window (see the module documentation).
pub async fn tenant(
    state: &AppState,
    principal: Principal<'_>,
    tenant: &TenantId,
    need: Need,
) -> Result<TenantAccess, AccessError> {
    let Principal::User { user, .. } = principal else {
        return decide(state, principal, tenant, need).await;
    };
    let result = decide(state, principal, tenant, need).await;
    let window = match &result {
        Ok(_) => format!("tenant:{tenant}"),
        Err(AccessError::Store(_) | AccessError::TenantNotFound) => return result,
        Err(_) => format!("v1-refused:{}:{}", user.pool_id, user.sub),
    };
    let limit = state.limits.admin_per_tenant_per_minute;
    if let Err(wait) = state.rates.admit(&window, limit, 60, state.clock.now_millis()).await {
        state.metrics.rate_limited(crate::metrics::RateWindow::Tenant);
        return Err(AccessError::RateLimited { wait, refused: result.is_err() });
    }
    result
}

async fn decide(
    state: &AppState,
    principal: Principal<'_>,
    tenant: &TenantId,
    need: Need,
) -> Result<TenantAccess, AccessError> {
    match principal {
        Principal::Platform { access_key_id } => {
            let t = state.store.get_tenant(tenant).await?.ok_or(AccessError::TenantNotFound)?;
            Ok(TenantAccess { tenant: t, membership: None, actor: format!("admin:{access_key_id}") })
        }
        Principal::User { user, session_tenant } => {
            if need == Need::Platform {
                return Err(AccessError::PlatformOnly);
            }
            if session_tenant != Some(tenant) {
                return Err(AccessError::NotYourTenant);
            }
            let (t, membership) = super::members::acting_member(state, tenant, user).await.map_err(|e| match e {
                Refusal::NotMember => AccessError::NotYourTenant,
                Refusal::Suspended => AccessError::Suspended,
                Refusal::Store(e) => AccessError::Store(e),
            })?;
            if need == Need::TenantAdmin && membership.role != Role::Admin {
                return Err(AccessError::AdminOnly);
            }
            Ok(TenantAccess { tenant: t, membership: Some(membership), actor: user.sub.clone() })
        }
    }
}

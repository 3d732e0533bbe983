//! The tenancy control plane's services, shared by the Cognito surface (sign-in, refresh,
//! sign-up) and `/v1`: placement of pools, the active tenant of a session, joining and
//! leaving tenants with their mirrors (role groups, tenant attributes), and provisioning
//! of placements (the shared pool, dedicated pools, their default clients).

use cognate_core::StoreError;
use cognate_core::attributes::{self, RequestedAttribute, StringConstraints};
use cognate_core::claims::{TenantClaims, TenantContext};
use cognate_core::client::{AppClient, ClientSettings};
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::pool::{PoolSettings, UserPool, UsernameConfiguration};
use cognate_core::repo::TenantWork;
use cognate_core::tenant::{Membership, MembershipStatus, Role, Tenant, TenantId, TenantStatus};
use cognate_core::user::User;
use cognate_core::webhook::WebhookEvent;

use crate::AppState;

/// The tenant attributes a user carries for their home tenant (the third, the role, is
/// only ever a token claim).
pub const TENANT_ID_ATTR: &str = "custom:tenantId";
pub const TENANT_NAME_ATTR: &str = "custom:tenantName";
pub const TENANT_TIER_ATTR: &str = "custom:tenantTier";

/// Where a pool's settings keep SetUserPoolMfaConfig's `SoftwareTokenMfaConfiguration`.
pub const SOFTWARE_TOKEN_MFA_CONFIGURATION: &str = "SoftwareTokenMfaConfiguration";

/// Every role, for mirroring and hiding role groups.
pub const ROLES: [Role; 3] = [Role::Admin, Role::Member, Role::ReadOnly];

/// Whether an attribute is one only the control plane may write.
pub fn is_tenant_attribute(name: &str) -> bool {
    name.starts_with("custom:tenant")
}

/// Whether a group name has the shape of a role group, `{tenantId}-{role}`.
pub fn is_role_group(name: &str) -> bool {
    ROLES.iter().any(|role| {
        name.strip_suffix(role.as_str())
            .and_then(|rest| rest.strip_suffix('-'))
            .is_some_and(|tenant| TenantId::parse(tenant).is_some())
    })
}

/// How a pool takes part in tenancy.
#[derive(Debug, Clone)]
pub enum Placement {
    /// The shared pool: basic and standard tenants.
    Shared,
    /// A platinum tenant's own pool.
    Dedicated(Box<Tenant>),
}

/// The shared pool's id, if it was created.
pub async fn shared_pool_id(state: &AppState) -> Result<Option<PoolId>, StoreError> {
    if let Some(id) = state.ids.shared_pool.get() {
        return Ok(Some(id.clone()));
    }
    let id = state.directory.shared_pool(state).await?;
    if let Some(id) = &id {
        state.ids.remember_shared_pool(id);
    }
    Ok(id)
}

/// Ids that never change once recorded — the shared pool's, each placement pool's default
/// client — cached on this node so sign-in, discovery and tenant views do not read them
/// from the database on every request.
#[derive(Debug, Default)]
pub struct IdCache {
    shared_pool: std::sync::OnceLock<PoolId>,
    default_clients: std::sync::RwLock<std::collections::HashMap<PoolId, ClientId>>,
}

impl IdCache {
    /// Records the shared pool's id, which never changes once chosen.
    pub(crate) fn remember_shared_pool(&self, id: &PoolId) {
        let _ = self.shared_pool.set(id.clone());
    }
    fn default_client(&self, pool: &PoolId) -> Option<ClientId> {
        self.default_clients.read().ok()?.get(pool).cloned()
    }

    fn remember_default_client(&self, pool: &PoolId, client: &ClientId) {
        if let Ok(mut map) = self.default_clients.write() {
            map.insert(pool.clone(), client.clone());
        }
    }
}

/// Whether (and how) `pool` is managed by the tenancy control plane. Whether a pool is
/// dedicated to a tenant comes from this node's directory (most pools are not, and a
/// refresh and the audit trail ask on every call); a dedicated pool's tenant is read
/// afresh, its status and tier being what callers decide on.
pub async fn placement(state: &AppState, pool: &PoolId) -> Result<Option<Placement>, StoreError> {
    if shared_pool_id(state).await?.as_ref() == Some(pool) {
        return Ok(Some(Placement::Shared));
    }
    if state.directory.dedicated_tenant(state, pool).await?.is_none() {
        return Ok(None);
    }
    Ok(state.store.get_tenant_by_pool(pool).await?.map(|t| Placement::Dedicated(Box::new(t))))
}

/// The tenant a session acts for, with the member's current role.
#[derive(Debug, Clone)]
pub struct ActiveTenant {
    pub tenant: Tenant,
    pub role: Role,
    /// The member is a federated user of one of this tenant's own SSO connections: the
    /// tenant chose that IdP and relies on it for MFA. Only for this tenant — the same user
    /// entering another tenant meets that tenant's policy like anyone else.
    pub idp_mfa: bool,
}

impl ActiveTenant {
    pub fn claims(&self) -> TenantClaims<'_> {
        TenantClaims {
            id: self.tenant.id.as_str(),
            name: &self.tenant.name,
            tier: self.tenant.tier.as_str(),
            role: self.role.as_str(),
        }
    }

    /// The role group this session's tokens list.
    pub fn role_group(&self) -> String {
        self.role.group_name(&self.tenant.id)
    }

    /// Whether the tenant's MFA policy applies to this member's role.
    pub fn requires_mfa(&self) -> bool {
        !self.idp_mfa && self.tenant.mfa.requires(self.role)
    }
}

/// The tenant context chosen for a session.
#[derive(Debug, Clone)]
pub enum Selection {
    /// The pool is outside tenancy.
    Unmanaged,
    /// A managed pool; `None` for a user without any active membership.
    Managed(Option<ActiveTenant>),
}

impl Selection {
    pub fn active(&self) -> Option<&ActiveTenant> {
        match self {
            Self::Managed(Some(active)) => Some(active),
            _ => None,
        }
    }

    pub fn context(&self) -> TenantContext<'_> {
        match self {
            Self::Unmanaged => TenantContext::Unmanaged,
            Self::Managed(active) => TenantContext::Managed(active.as_ref().map(ActiveTenant::claims)),
        }
    }

    pub fn tenant_id(&self) -> Option<&TenantId> {
        self.active().map(|a| &a.tenant.id)
    }
}

/// Why no token can be issued for the tenant asked for.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the user is not an active member of the tenant")]
    NotMember,
    #[error("the tenant is suspended")]
    Suspended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user's active memberships in their pool, each with its tenant (active or not),
/// ordered by tenant id. A membership whose tenant moved to another pool is left out.
pub async fn user_tenants(state: &AppState, user: &User) -> Result<Vec<(Membership, Tenant)>, StoreError> {
    let memberships = state.store.list_memberships_for_user(&user.pool_id, &user.sub).await?;
    let mut out = Vec::with_capacity(memberships.len());
    for m in memberships {
        if let Some(tenant) = state.store.get_tenant(&m.tenant_id).await?
            && tenant.pool_id == user.pool_id
        {
            out.push((m, tenant));
        }
    }
    Ok(out)
}

async fn active_from(
    state: &AppState,
    user: &User,
    all: &[(Membership, Tenant)],
    index: usize,
) -> Result<ActiveTenant, StoreError> {
    let (m, tenant) = &all[index];
    Ok(ActiveTenant { tenant: tenant.clone(), role: m.role, idp_mfa: signs_in_through(state, user, tenant).await? })
}

/// Whether `user` is a federated user (`{Provider}_{subject}`, EXTERNAL_PROVIDER) of an SSO
/// connection of `tenant` (connection providers are named without `_`).
async fn signs_in_through(state: &AppState, user: &User, tenant: &Tenant) -> Result<bool, StoreError> {
    if user.status != cognate_core::user::UserStatus::ExternalProvider {
        return Ok(false);
    }
    let Some((provider, _)) = user.username.split_once('_') else {
        return Ok(false);
    };
    Ok(state
        .store
        .connection_for_provider(&user.pool_id, provider)
        .await?
        .is_some_and(|c| c.tenant_id == tenant.id && c.pool_id == tenant.pool_id))
}

/// Chooses the session's tenant at sign-in: `requested` (ClientMetadata `tenantId`) when
/// given, else the tenant used last, else the first active one. Refused when the user is
/// not an active member of the requested tenant, or when it (or every tenant of the user)
/// is suspended. In a pool outside tenancy `requested` is ordinary client metadata and
/// is ignored. The chosen membership is recorded as used now (see [`touch`]).
pub async fn choose(state: &AppState, user: &User, requested: Option<&str>) -> Result<Selection, Refusal> {
    let selection = pick(state, user, requested).await?;
    touch(state, user, &selection).await?;
    Ok(selection)
}

/// Records that the user made the selection's tenant their active one now (the default
/// tenant of their next sign-in); nothing for a session without a tenant.
pub async fn touch(state: &AppState, user: &User, selection: &Selection) -> Result<(), StoreError> {
    match selection.tenant_id() {
        Some(tenant) => state.store.touch_membership(tenant, &user.sub, state.clock.now_millis()).await,
        None => Ok(()),
    }
}

/// [`choose`] without recording the use: for a sign-in that must still pass a challenge
/// (MFA) before it counts.
pub async fn pick(state: &AppState, user: &User, requested: Option<&str>) -> Result<Selection, Refusal> {
    let all = user_tenants(state, user).await?;
    if all.is_empty() {
        return match placement(state, &user.pool_id).await? {
            None => Ok(Selection::Unmanaged),
            Some(_) if requested.is_some() => Err(Refusal::NotMember),
            Some(_) => Ok(Selection::Managed(None)),
        };
    }
    let index = match requested {
        Some(id) => {
            let i = all.iter().position(|(m, _)| m.tenant_id.as_str() == id).ok_or(Refusal::NotMember)?;
            if all[i].1.status != TenantStatus::Active {
                return Err(Refusal::Suspended);
            }
            i
        }
        None => all
            .iter()
            .enumerate()
            .filter(|(_, (_, t))| t.status == TenantStatus::Active)
            // Latest use wins; among never-used ones the first by id (max_by_key keeps the
            // last maximum, so compare the reversed position too).
            .max_by_key(|(i, (m, _))| (m.last_used_at, std::cmp::Reverse(*i)))
            .map(|(i, _)| i)
            .ok_or(Refusal::Suspended)?,
    };
    Ok(Selection::Managed(Some(active_from(state, user, &all, index).await?)))
}

/// The selection of a session bound to no tenant: outside tenancy, or a managed pool's
/// user without one.
pub async fn unbound(state: &AppState, pool: &PoolId) -> Result<Selection, StoreError> {
    Ok(match placement(state, pool).await? {
        Some(_) => Selection::Managed(None),
        None => Selection::Unmanaged,
    })
}

/// The session context for exactly `tenant` (refresh of a family bound to it, switching):
/// the user must be an active member and the tenant active.
pub async fn for_tenant(state: &AppState, user: &User, tenant: &TenantId) -> Result<ActiveTenant, Refusal> {
    let all = user_tenants(state, user).await?;
    let index = all.iter().position(|(m, _)| &m.tenant_id == tenant).ok_or(Refusal::NotMember)?;
    if all[index].1.status != TenantStatus::Active {
        return Err(Refusal::Suspended);
    }
    Ok(active_from(state, user, &all, index).await?)
}

/// Whether a Cognito-surface write of `names` must be refused: in a managed pool only the
/// control plane writes tenant attributes. Returns the first offending name.
pub async fn reserved_write<'a>(
    state: &AppState,
    pool: &PoolId,
    mut names: impl Iterator<Item = &'a str>,
) -> Result<Option<&'a str>, StoreError> {
    let Some(name) = names.find(|n| is_tenant_attribute(n)) else {
        return Ok(None);
    };
    Ok(placement(state, pool).await?.map(|_| name))
}

/// The tenant a new user of `pool` joins as a member when created: the tenant of a
/// dedicated pool, or — for a self sign-up in the shared pool — the active tenant whose
/// verified, auto-join domain matches the user's email. Existing users are never moved.
pub async fn home_for_new_user(
    state: &AppState,
    pool: &PoolId,
    email: Option<&str>,
    self_sign_up: bool,
) -> Result<Option<Tenant>, StoreError> {
    let found = match placement(state, pool).await? {
        None => None,
        Some(Placement::Dedicated(tenant)) => Some(*tenant),
        Some(Placement::Shared) if self_sign_up => {
            let Some(domain) = email.and_then(cognate_core::tenant::DomainName::of_email) else {
                return Ok(None);
            };
            match state.store.get_domain(&domain).await? {
                Some(d) if d.verified && d.auto_join => state.store.get_tenant(&d.tenant_id).await?,
                _ => None,
            }
        }
        Some(Placement::Shared) => None,
    };
    Ok(found.filter(|t| t.status == TenantStatus::Active && &t.pool_id == pool))
}

/// Creates a new user of the Cognito surface, joining `home` (see [`home_for_new_user`])
/// as a member in the same transaction when there is one.
pub async fn create_user(
    state: &AppState,
    user: &mut User,
    keys: &cognate_core::user::UserKeys,
    home: Option<&Tenant>,
) -> Result<(), StoreError> {
    match home {
        Some(tenant) => {
            join(state, tenant, user, Role::Member, true).await?;
            tracing::info!(tenant = %tenant.id, sub = %user.sub, "new user joined their tenant");
        }
        None => {
            let event = crate::services::webhooks::user_event(state, "user.created", user);
            state.store.create_user_with(user, keys, &[event]).await?;
        }
    }
    crate::facts::user(user);
    Ok(())
}

/// Sets the user's home tenant attributes to `tenant`'s.
pub fn set_home_attributes(user: &mut User, tenant: &Tenant) {
    user.attributes.insert(TENANT_ID_ATTR.into(), tenant.id.to_string());
    user.attributes.insert(TENANT_NAME_ATTR.into(), tenant.name.clone());
    user.attributes.insert(TENANT_TIER_ATTR.into(), tenant.tier.as_str().into());
}

fn clear_home_attributes(user: &mut User) {
    for name in [TENANT_ID_ATTR, TENANT_NAME_ATTR, TENANT_TIER_ATTR] {
        user.attributes.remove(name);
    }
}

/// Makes `user` an active member of `tenant` with `role` (a new membership, a changed
/// role, or a removed member re-added), mirroring the role group and, for a user without
/// a home tenant, the tenant attributes — one unit of work. With `create`, the user is
/// created in the same transaction (a new account from an invitation).
pub async fn join(
    state: &AppState,
    tenant: &Tenant,
    user: &mut User,
    role: Role,
    create: bool,
) -> Result<(), StoreError> {
    let pool = load_pool(state, &tenant.pool_id).await?;
    let mut work = state.store.begin_tenant(&tenant.id).await?;
    let done = match enter(work.as_mut(), &pool, tenant, user, role, create, state.clock.now_millis()).await {
        Ok(m) => work.emit_events(&joined_events(state, tenant, user, &m, create)).await,
        Err(e) => Err(e),
    };
    settle(work, done).await
}

/// The webhook events of a user entering a tenant: `membership.added` (and `user.created`
/// for an account created with it), owned by the tenant.
fn joined_events(state: &AppState, tenant: &Tenant, user: &User, m: &Membership, create: bool) -> Vec<WebhookEvent> {
    use crate::services::webhooks as wh;
    let mut events = Vec::with_capacity(2);
    if create {
        events.push(wh::event(state, tenant.id.as_str(), "user.created", wh::user_data(user)));
    }
    events.push(wh::membership_event(state, "membership.added", m));
    events
}

/// Commits `work` when `done` succeeded; otherwise rolls it back at once (releasing the
/// tenant's lock) and returns `done`'s error.
pub async fn settle<T>(work: Box<dyn TenantWork>, done: Result<T, StoreError>) -> Result<T, StoreError> {
    match done {
        Ok(value) => {
            work.commit().await?;
            Ok(value)
        }
        Err(e) => {
            discard(work).await;
            Err(e)
        }
    }
}

/// Rolls `work` back at once (releasing the tenant's lock).
pub async fn discard(work: Box<dyn TenantWork>) {
    if let Err(e) = work.rollback().await {
        tracing::warn!(error = %e, "could not roll back a unit of work; dropping it rolls back");
    }
}

/// Accepts an invitation for `user` (created in the same transaction with `create`):
/// false, writing nothing, when the invitation was no longer pending.
pub async fn accept(
    state: &AppState,
    invitation: &cognate_core::tenant::Invitation,
    tenant: &Tenant,
    user: &mut User,
    create: bool,
) -> Result<bool, StoreError> {
    let pool = load_pool(state, &tenant.pool_id).await?;
    let now = state.clock.now_millis();
    let mut work = state.store.begin_tenant(&tenant.id).await?;
    // The acceptance first: when another request accepted it, nothing else is written.
    let accepted = match work.accept_invitation(&invitation.id, &user.sub, now).await {
        Ok(accepted) => accepted,
        Err(e) => return settle(work, Err(e)).await,
    };
    if !accepted {
        // Accepted (or revoked) by another request meanwhile: nothing is written.
        discard(work).await;
        return Ok(false);
    }
    let done = match enter(work.as_mut(), &pool, tenant, user, invitation.role, create, now).await {
        Ok(m) => {
            let mut accepted = invitation.clone();
            accepted.accepted_at = Some(now);
            accepted.accepted_sub = Some(user.sub.clone());
            let mut events = vec![crate::services::webhooks::invitation_event(state, "invitation.accepted", &accepted)];
            events.extend(joined_events(state, tenant, user, &m, create));
            work.emit_events(&events).await.map(|()| true)
        }
        Err(e) => Err(e),
    };
    settle(work, done).await
}

/// The writes of [`join`] inside `work`: the user (created, or given the tenant as home
/// when they have none — read again inside the work, so a concurrent change of theirs is
/// kept), the active membership, and the role group that mirrors it. An active admin
/// whose role would change keeps the tenant's last-admin rule.
async fn enter(
    work: &mut dyn TenantWork,
    pool: &UserPool,
    tenant: &Tenant,
    user: &mut User,
    role: Role,
    create: bool,
    now: i64,
) -> Result<Membership, StoreError> {
    if user.pool_id != tenant.pool_id {
        return Err(StoreError::Corrupt(format!("user {} is not in the pool of tenant {}", user.sub, tenant.id)));
    }
    if create {
        if !user.attributes.contains_key(TENANT_ID_ATTR) {
            set_home_attributes(user, tenant);
        }
        work.create_user(user, &user.keys(&pool.settings)).await?;
    } else {
        *user = work.get_user(&user.pool_id, &user.sub).await?.ok_or(StoreError::NotFound("user"))?;
        if !user.attributes.contains_key(TENANT_ID_ATTR) {
            set_home_attributes(user, tenant);
            user.updated_at = now;
            work.set_attributes(user).await?;
        }
        if let Some(existing) = work.membership(&user.sub).await?
            && existing.status == MembershipStatus::Active
            && existing.role == Role::Admin
            && role != Role::Admin
            && work.other_admins(&user.sub).await? == 0
        {
            return Err(StoreError::LastAdmin);
        }
    }
    let m = Membership {
        tenant_id: tenant.id.clone(),
        pool_id: tenant.pool_id.clone(),
        sub: user.sub.clone(),
        role,
        status: MembershipStatus::Active,
        created_at: now,
        last_used_at: None,
    };
    work.put_membership(&m).await?;
    work.mirror_role(&m.pool_id, &m.sub, Some(role), now).await?;
    Ok(m)
}

/// Ends `sub`'s membership of `tenant`: the row is kept as removed, the role group left,
/// the home tenant attributes moved to another active tenant (or cleared), and the
/// member's refresh tokens for the tenant revoked. The tenant's last admin cannot leave
/// ([`StoreError::LastAdmin`]).
pub async fn leave(state: &AppState, tenant: &Tenant, existing: &Membership) -> Result<(), StoreError> {
    let mut m = existing.clone();
    m.status = MembershipStatus::Removed;
    // Where the user's home moves if this tenant is it: their next active tenant, or none.
    let next_home = match state.store.get_user_by_sub(&m.pool_id, &m.sub).await? {
        Some(user) if user.attributes.get(TENANT_ID_ATTR).map(String::as_str) == Some(tenant.id.as_str()) => {
            let next = user_tenants(state, &user).await?.into_iter().find(|(other, _)| other.tenant_id != tenant.id);
            Some(next.map(|(_, t)| t))
        }
        _ => None,
    };
    // One unit of work: the last-admin rule, the removal, the home attributes and the
    // revocation of the member's tokens for this tenant.
    let now = state.clock.now_millis();
    change_member(state, &m, next_home.as_ref().map(|h| (tenant, h.as_ref())), Some(now)).await
}

/// Gives an active member another role, keeping the tenant's last admin
/// ([`StoreError::LastAdmin`]) — checked and written in one unit of work, so two admins
/// demoting each other at once cannot leave the tenant without one.
pub async fn change_role(
    state: &AppState,
    tenant: &Tenant,
    existing: &Membership,
    role: Role,
) -> Result<(), StoreError> {
    let mut m = existing.clone();
    m.role = role;
    m.tenant_id = tenant.id.clone();
    change_member(state, &m, None, None).await
}

/// Changes an existing member to `m` (a new role, or removal), keeping the tenant's last
/// admin: under the tenant's membership lock, an active admin who would stop being one is
/// refused ([`StoreError::LastAdmin`], nothing written) when no other active admin exists.
/// With `home` = (this tenant, the next one), a user whose home is still this tenant gets
/// the next one's attributes (none: cleared). With `revoke_at`, the member's token families
/// bound to the tenant are revoked in the same transaction.
async fn change_member(
    state: &AppState,
    m: &Membership,
    home: Option<(&Tenant, Option<&Tenant>)>,
    revoke_at: Option<i64>,
) -> Result<(), StoreError> {
    let mut work = state.store.begin_tenant(&m.tenant_id).await?;
    let kind = if m.status == MembershipStatus::Removed { "membership.removed" } else { "membership.role_changed" };
    let event = crate::services::webhooks::membership_event(state, kind, m);
    let done = match change_member_in(work.as_mut(), m, home, revoke_at, state.clock.now_millis()).await {
        Ok(revoked) => work.emit_events(&[event]).await.map(|()| revoked),
        Err(e) => Err(e),
    };
    let revoked = settle(work, done).await?;
    state.metrics.families_revoked(crate::metrics::FamilyEnd::Tenant, revoked);
    Ok(())
}

async fn change_member_in(
    work: &mut dyn TenantWork,
    m: &Membership,
    home: Option<(&Tenant, Option<&Tenant>)>,
    revoke_at: Option<i64>,
    now: i64,
) -> Result<u64, StoreError> {
    let current = work.membership(&m.sub).await?.ok_or(StoreError::NotFound("membership"))?;
    let was_admin = current.status == MembershipStatus::Active && current.role == Role::Admin;
    let stays_admin = m.status == MembershipStatus::Active && m.role == Role::Admin;
    if was_admin && !stays_admin && work.other_admins(&m.sub).await? == 0 {
        return Err(StoreError::LastAdmin);
    }
    if let Some((tenant, next)) = home
        && let Some(mut user) = work.get_user(&m.pool_id, &m.sub).await?
        && user.attributes.get(TENANT_ID_ATTR).map(String::as_str) == Some(tenant.id.as_str())
    {
        match next {
            Some(next) => set_home_attributes(&mut user, next),
            None => clear_home_attributes(&mut user),
        }
        user.updated_at = now;
        work.set_attributes(&user).await?;
    }
    work.put_membership(m).await?;
    let active = m.status == MembershipStatus::Active;
    work.mirror_role(&m.pool_id, &m.sub, active.then_some(m.role), m.created_at).await?;
    match revoke_at {
        Some(at) => work.revoke_families(Some(&m.sub), at).await,
        None => Ok(0),
    }
}

/// Writes `tenant` (version-checked) inside `work` and keeps its users' tenant attributes
/// in step: every user of its pool whose home tenant it is gets `custom:tenantName` and
/// `custom:tenantTier` rewritten (attributes only: a concurrent password or status change
/// of theirs is kept).
pub async fn write_tenant(work: &mut dyn TenantWork, tenant: &Tenant) -> Result<(), StoreError> {
    work.write_tenant(tenant).await?;
    for mut user in work.home_users(&tenant.pool_id).await? {
        let mut changed = false;
        for (name, value) in [(TENANT_NAME_ATTR, tenant.name.as_str()), (TENANT_TIER_ATTR, tenant.tier.as_str())] {
            if user.attributes.get(name).map(String::as_str) != Some(value) {
                user.attributes.insert(name.to_owned(), value.to_owned());
                changed = true;
            }
        }
        if changed {
            user.updated_at = tenant.updated_at;
            work.set_attributes(&user).await?;
        }
    }
    Ok(())
}

async fn load_pool(state: &AppState, id: &PoolId) -> Result<UserPool, StoreError> {
    state.store.get_pool(id).await?.ok_or(StoreError::NotFound("user pool"))
}

/// The settings of a pool the control plane manages: usernames fold case, email is a
/// verified sign-in alias, and the schema carries the tenant attributes.
pub fn managed_pool_settings() -> Result<PoolSettings, StoreError> {
    let tenant_attr = |name: &str| {
        let limits = StringConstraints { min_length: Some("0".into()), max_length: Some("256".into()) };
        RequestedAttribute::string(name, Some(limits))
    };
    let schema = attributes::build_schema(&[
        tenant_attr("tenantId"),
        tenant_attr("tenantName"),
        tenant_attr("tenantTier"),
        tenant_attr("tenantRole"),
    ])
    .map_err(StoreError::Corrupt)?;
    // MFA is OPTIONAL with software tokens on: a user who turns TOTP on is asked for it,
    // and tenants' MFA policies (off | admins | all) require it of the members they name.
    let mut extra = serde_json::Map::new();
    extra.insert(SOFTWARE_TOKEN_MFA_CONFIGURATION.into(), serde_json::json!({"Enabled": true}));
    Ok(PoolSettings {
        schema,
        username_configuration: Some(UsernameConfiguration { case_sensitive: false }),
        alias_attributes: vec!["email".into()],
        auto_verified_attributes: vec!["email".into()],
        mfa_configuration: "OPTIONAL".into(),
        // The control plane owns managed pools: they are deleted with their tenant through
        // `/v1`, never through DeleteUserPool.
        deletion_protection: "ACTIVE".into(),
        extra,
        ..PoolSettings::default()
    })
}

/// Mirrors a platinum tenant's MFA requirement as its dedicated pool's MFA setting: `all`
/// makes the pool's MfaConfiguration `ON`, otherwise `OPTIONAL` (the `admins` policy is
/// enforced per role at sign-in, which a pool setting cannot express). No-op for shared
/// placement.
pub async fn sync_dedicated_mfa(state: &AppState, tenant: &Tenant) -> Result<(), StoreError> {
    if !tenant.tier.is_dedicated() {
        return Ok(());
    }
    let mut pool = load_pool(state, &tenant.pool_id).await?;
    let wanted = if tenant.mfa == cognate_core::tenant::MfaRequirement::All { "ON" } else { "OPTIONAL" };
    if pool.settings.mfa_configuration != wanted {
        pool.settings.mfa_configuration = wanted.to_owned();
        pool.updated_at = state.clock.now_millis();
        state.store.update_pool(&pool).await?;
    }
    Ok(())
}

/// Creates a platinum tenant's dedicated pool and its default client.
pub async fn provision_dedicated_pool(state: &AppState, tenant: &TenantId) -> Result<PoolId, StoreError> {
    let now = state.clock.now_millis();
    let pool = UserPool {
        id: PoolId::generate(&state.settings.region, state.rng.as_ref()),
        name: format!("cognate-{tenant}"),
        settings: managed_pool_settings()?,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    state.store.create_pool(&pool).await?;
    default_client(state, &pool.id).await?;
    tracing::info!(pool = %pool.id, tenant = %tenant, "created a dedicated user pool");
    Ok(pool.id)
}

fn default_client_key(pool: &PoolId) -> String {
    format!("default_client:{pool}")
}

/// The placement pool's default app client (public, password sign-in and refresh), the
/// one discovery hands to login pages; created on first use, once even with several nodes.
pub async fn default_client(state: &AppState, pool: &PoolId) -> Result<ClientId, StoreError> {
    if let Some(id) = state.ids.default_client(pool) {
        return Ok(id);
    }
    let key = default_client_key(pool);
    let parse = |id: String| ClientId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("default client {id}")));
    if let Some(id) = state.store.get_meta(&key).await? {
        let id = parse(id)?;
        state.ids.remember_default_client(pool, &id);
        return Ok(id);
    }
    let now = state.clock.now_millis();
    let client = AppClient {
        pool_id: pool.clone(),
        id: ClientId::generate(state.rng.as_ref()),
        name: "cognate-default".into(),
        secret_sealed: None,
        secrets: Vec::new(),
        secrets_version: 0,
        settings: ClientSettings {
            explicit_auth_flows: vec!["ALLOW_USER_PASSWORD_AUTH".into(), "ALLOW_REFRESH_TOKEN_AUTH".into()],
            ..ClientSettings::default()
        },
        created_at: now,
        updated_at: now,
    };
    state.store.create_client(&client).await?;
    let winner = state.store.put_meta_if_absent(&key, client.id.as_str()).await?;
    if winner != client.id.as_str() {
        // Another node won the race; keep one default client.
        state.store.delete_client(pool, &client.id).await?;
    }
    let id = parse(winner)?;
    state.ids.remember_default_client(pool, &id);
    Ok(id)
}

/// The DNS verification challenge of a domain claim (256 bits, base64url): an HMAC under a key
/// derived from the master key, so it can be shown on every read without being stored.
pub fn domain_challenge(
    state: &AppState,
    tenant: &TenantId,
    domain: &cognate_core::tenant::DomainName,
    created_at: i64,
) -> String {
    let key = state.master_key.mac_key(CHALLENGE_KEY_LABEL);
    let input = format!("{tenant}\n{domain}\n{created_at}");
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cognate_core::crypto::hmac_sha256(&key, input.as_bytes()))
}

/// The stored form of a claim's challenge (SHA-256, hex), for lookups by a DNS checker.
pub fn domain_challenge_hash(
    state: &AppState,
    tenant: &TenantId,
    domain: &cognate_core::tenant::DomainName,
    created_at: i64,
) -> String {
    hex::encode(cognate_core::crypto::sha256(domain_challenge(state, tenant, domain, created_at).as_bytes()))
}

/// The master-key derivation label of domain challenges.
const CHALLENGE_KEY_LABEL: &str = "domain-challenge-v1";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_groups_are_recognised_by_shape() {
        assert!(is_role_group("acme-admin"));
        assert!(is_role_group("acme-corp-read_only"));
        assert!(is_role_group("globex-member"));
        assert!(!is_role_group("admins"));
        assert!(!is_role_group("-admin"));
        assert!(!is_role_group("ab-admin"));
        assert!(!is_role_group("Acme-admin"));
        assert!(!is_role_group("acme-owner"));
    }

    #[test]
    fn only_tenant_attributes_are_reserved() {
        assert!(is_tenant_attribute("custom:tenantId"));
        assert!(is_tenant_attribute("custom:tenantRole"));
        assert!(!is_tenant_attribute("custom:team"));
        assert!(!is_tenant_attribute("email"));
    }
}

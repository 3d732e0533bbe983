//! The membership engine: invitations (invite, accept, revoke) and members (add, change
//! role, remove) of a tenant, for every surface (`/v1` today; the invitation page and the
//! consoles next). Callers decide who may act (the surface's authorisation); the rules of
//! the act itself live here:
//! - an invitation's token (256 random bits) travels only in the sealed invitation message
//!   and is stored as its SHA-256; acceptance is single-use under concurrency;
//! - an existing account accepts only for its own pool and its own email, and never as an
//!   active member already (that would silently change their role);
//! - a new account from an invitation is confirmed with its email verified (the token
//!   reached it) and is created in the same transaction as the membership;
//! - a tenant keeps an active admin: the check and the write are one locked transaction;
//! - removing a member revokes their tokens for the tenant in the same transaction.

use cognate_core::StoreError;
use cognate_core::ids::generate_sub;
use cognate_core::page::PageRequest;
use cognate_core::tenant::{
    Invitation, Membership, MembershipStatus, Role, Tenant, TenantId, TenantStatus, invitation_token_hash,
};
use cognate_core::user::{User, UserStatus};

use crate::AppState;
use crate::tenancy;

/// What a user needs to act in a tenant: their active membership (in the tenant's pool)
/// and the tenant, which must be active.
pub async fn acting_member(
    state: &AppState,
    tenant: &TenantId,
    user: &User,
) -> Result<(Tenant, Membership), tenancy::Refusal> {
    let membership = state
        .store
        .get_membership(tenant, &user.sub)
        .await?
        .filter(|m| m.status == MembershipStatus::Active && m.pool_id == user.pool_id)
        .ok_or(tenancy::Refusal::NotMember)?;
    let t = state.store.get_tenant(tenant).await?.ok_or(tenancy::Refusal::NotMember)?;
    if t.status != TenantStatus::Active {
        return Err(tenancy::Refusal::Suspended);
    }
    Ok((t, membership))
}

/// Where an invitation stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationState {
    /// The state of `inv` at `now` (ms). An acceptance or revocation is final, so it wins
    /// over expiry.
    pub fn of(inv: &Invitation, now: i64) -> Self {
        if inv.accepted_at.is_some() {
            Self::Accepted
        } else if inv.revoked_at.is_some() {
            Self::Revoked
        } else if now >= inv.expires_at {
            Self::Expired
        } else {
            Self::Pending
        }
    }
}

/// Why a membership change was refused. Every variant means one thing.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    #[error("no such tenant")]
    TenantNotFound,
    #[error("the tenant is suspended")]
    TenantSuspended,
    #[error("not a valid email address")]
    InvalidEmail,
    #[error("no such invitation")]
    InvitationNotFound,
    /// Accepted, revoked or expired (`Pending`: another request accepted it first).
    #[error("the invitation is not pending")]
    InvitationNotPending(InvitationState),
    /// The accepting account lives in another pool than the tenant's.
    #[error("the account is in another pool")]
    PoolMismatch,
    /// The accepting account's email is not the invited address.
    #[error("the invitation is for another address")]
    EmailMismatch,
    #[error("already an active member")]
    AlreadyMember,
    /// The invited address has an account already: accept with it.
    #[error("an account with this email exists")]
    AccountExists,
    /// A new account needs a password.
    #[error("a password is required")]
    PasswordRequired,
    /// A password the pool refuses (the policy's message).
    #[error("password refused: {0}")]
    PasswordPolicy(String),
    #[error("no such member")]
    MemberNotFound,
    /// No user with that sub lives in the tenant's pool.
    #[error("no such user in the tenant's pool")]
    UserNotInPool,
    /// The change would leave the tenant without an active admin.
    #[error("the tenant's last admin")]
    LastAdmin,
    #[error(transparent)]
    Store(StoreError),
    #[error("internal: {0}")]
    Fault(String),
}

impl From<StoreError> for MembershipError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::LastAdmin => Self::LastAdmin,
            other => Self::Store(other),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invitations
// ---------------------------------------------------------------------------------------

/// Invites `email` to `tenant` as `role` for `lifetime_ms` (default 7 days) on behalf of
/// `actor`; the token is mailed (sealed in the outbox), never returned.
pub async fn invite(
    state: &AppState,
    tenant: &Tenant,
    actor: &str,
    email: &str,
    role: Role,
    lifetime_ms: Option<i64>,
) -> Result<Invitation, MembershipError> {
    let (email, _) = cognate_core::tenant::email_address(email).ok_or(MembershipError::InvalidEmail)?;
    let now = state.clock.now_millis();
    let (mut inv, token) = Invitation::new(tenant.id.clone(), &email, role, actor, now, state.rng.as_ref());
    if let Some(ms) = lifetime_ms {
        inv.expires_at = now.saturating_add(ms);
    }
    let event = crate::services::webhooks::invitation_event(state, "invitation.created", &inv);
    state.store.create_invitation_with(&inv, &[event]).await.map_err(|e| match e {
        StoreError::NotFound(_) => MembershipError::TenantNotFound,
        other => other.into(),
    })?;
    send_invitation(state, tenant, &inv, &token).await?;
    tracing::info!(tenant = %inv.tenant_id, invitation = %inv.id, role = %inv.role, by = %actor, "invitation sent");
    Ok(inv)
}

/// The message carrying the token. The line `Invitation token: {token}` is what a reader
/// (or a test) looks for.
fn message_body(tenant: &Tenant, inv: &Invitation, token: &str, page_url: &str, accept_url: &str) -> String {
    let expires = time::OffsetDateTime::from_unix_timestamp(inv.expires_at.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{} (epoch seconds)", inv.expires_at.div_euclid(1000)));
    format!(
        "You are invited to join {name} with the role {role}.\n\
         \n\
         Accept in your browser: {page_url}\n\
         \n\
         Invitation token: {token}\n\
         \n\
         From a program, POST {{\"token\": \"…\"}} to {accept_url}: with your access token \
         (Authorization: Bearer …) if you already have an account with this address, or \
         without credentials and with a \"password\" to create one.\n\
         \n\
         The invitation expires at {expires}. If you did not expect it, ignore this message.\n",
        name = tenant.name,
        role = inv.role,
    )
}

/// Queues the invitation email; the token travels only in the message body (sealed at
/// rest, blanked once delivered or expired: see [`crate::outbox`]).
async fn send_invitation(state: &AppState, tenant: &Tenant, inv: &Invitation, token: &str) -> Result<(), StoreError> {
    let accept_url = format!("{}/v1/invitations/accept", state.settings.public_url);
    let page_url = format!("{}/console/invite?token={token}", state.settings.public_url);
    let subject = format!("You are invited to join {}", tenant.name);
    let body = message_body(tenant, inv, token, &page_url, &accept_url);
    crate::outbox::enqueue(
        state,
        crate::outbox::Outgoing {
            pool_id: &tenant.pool_id,
            username: &inv.email,
            medium: "EMAIL",
            destination: &inv.email,
            subject: &subject,
            body: &body,
            secret_expires_at: Some(inv.expires_at),
        },
    )
    .await
}

/// Sends a pending (or expired) invitation again: the old one revoked first, then a new
/// invitation for the same address and role (a new token, a new week), so only the newest
/// link works — two resends racing revoke once, and only one of them mails a new link.
pub async fn resend_invitation(
    state: &AppState,
    tenant: &Tenant,
    actor: &str,
    id: &str,
) -> Result<Invitation, MembershipError> {
    let old = get_invitation(state, &tenant.id, id).await?;
    let now = InvitationState::of(&old, state.clock.now_millis());
    if !matches!(now, InvitationState::Pending | InvitationState::Expired) {
        return Err(MembershipError::InvitationNotPending(now));
    }
    if now == InvitationState::Pending {
        revoke_invitation(state, &tenant.id, id, actor).await?;
    }
    invite(state, tenant, actor, &old.email, old.role, None).await
}

/// A tenant's invitations (every state), ordered by id.
pub async fn list_invitations(
    state: &AppState,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<Invitation>, MembershipError> {
    Ok(state.store.list_invitations(tenant, page).await?)
}

pub async fn get_invitation(state: &AppState, tenant: &TenantId, id: &str) -> Result<Invitation, MembershipError> {
    state.store.get_invitation(tenant, id).await?.ok_or(MembershipError::InvitationNotFound)
}

/// Revokes a pending invitation; an accepted, revoked or expired one is
/// `InvitationNotPending`.
pub async fn revoke_invitation(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    actor: &str,
) -> Result<(), MembershipError> {
    let now = state.clock.now_millis();
    let event = crate::services::webhooks::event(
        state,
        tenant.as_str(),
        "invitation.revoked",
        serde_json::json!({"tenantId": tenant.as_str(), "invitationId": id}),
    );
    let revoked = state.store.revoke_invitation_with(tenant, id, now, &[event]).await.map_err(|e| match e {
        StoreError::NotFound(_) => MembershipError::InvitationNotFound,
        other => other.into(),
    })?;
    if !revoked {
        return Err(MembershipError::InvitationNotPending(InvitationState::Pending));
    }
    tracing::info!(tenant = %tenant, invitation = %id, by = %actor, "invitation revoked");
    Ok(())
}

/// The invitation whose token is `token`, with its tenant and state (for the page that
/// offers to accept it). Unknown tokens are `InvitationNotFound`.
pub async fn invitation_by_token(
    state: &AppState,
    token: &str,
) -> Result<(Invitation, Tenant, InvitationState), MembershipError> {
    if token.is_empty() || token.len() > 256 {
        return Err(MembershipError::InvitationNotFound);
    }
    let inv = state
        .store
        .get_invitation_by_token_hash(&invitation_token_hash(token))
        .await?
        .ok_or(MembershipError::InvitationNotFound)?;
    let tenant = state.store.get_tenant(&inv.tenant_id).await?.ok_or(MembershipError::TenantNotFound)?;
    let status = InvitationState::of(&inv, state.clock.now_millis());
    Ok((inv, tenant, status))
}

/// Who accepts an invitation.
pub enum Invitee<'a> {
    /// The holder of an existing account (signed in).
    Account(&'a User),
    /// Someone without an account yet, who gives the password of the one to create.
    NewAccount { password: Option<&'a str> },
}

/// The membership an acceptance made.
#[derive(Debug)]
pub struct Accepted {
    pub tenant_id: TenantId,
    pub sub: String,
    pub role: Role,
}

/// Accepts the invitation whose token is `token`, for an existing account or a new one
/// (created in the same transaction). Single-use under concurrency: of two acceptances
/// one wins, the other is `InvitationNotPending(Pending)`.
pub async fn accept(state: &AppState, token: &str, invitee: Invitee<'_>) -> Result<Accepted, MembershipError> {
    let now = state.clock.now_millis();
    let inv = state
        .store
        .get_invitation_by_token_hash(&invitation_token_hash(token))
        .await?
        .ok_or(MembershipError::InvitationNotFound)?;
    let status = InvitationState::of(&inv, now);
    if status != InvitationState::Pending {
        return Err(MembershipError::InvitationNotPending(status));
    }
    let tenant = state.store.get_tenant(&inv.tenant_id).await?.ok_or(MembershipError::TenantNotFound)?;
    if tenant.status != TenantStatus::Active {
        return Err(MembershipError::TenantSuspended);
    }
    let (mut user, create) = match invitee {
        Invitee::Account(user) => (existing_invitee(state, &inv, &tenant, user).await?, false),
        Invitee::NewAccount { password } => (new_invitee(state, &inv, &tenant, password, now).await?, true),
    };
    let accepted = tenancy::accept(state, &inv, &tenant, &mut user, create).await.map_err(|e| match e {
        StoreError::Conflict("email") => MembershipError::AccountExists,
        other => other.into(),
    })?;
    if !accepted {
        return Err(MembershipError::InvitationNotPending(InvitationState::Pending));
    }
    tracing::info!(tenant = %tenant.id, invitation = %inv.id, sub = %user.sub, new_account = create, "invitation accepted");
    crate::facts::tenant(Some(tenant.id.as_str()));
    crate::facts::target(&user.sub);
    Ok(Accepted { tenant_id: tenant.id, sub: user.sub, role: inv.role })
}

/// The calling user, if they may accept `inv`: they live in the tenant's pool, their
/// email (verified or not) is the invited address, and they are not already an active
/// member (accepting would silently change their role, even demote the last admin).
async fn existing_invitee(
    state: &AppState,
    inv: &Invitation,
    tenant: &Tenant,
    user: &User,
) -> Result<User, MembershipError> {
    if user.pool_id != tenant.pool_id {
        return Err(MembershipError::PoolMismatch);
    }
    let email = user.attributes.get("email").map(|e| e.to_lowercase());
    if email.as_deref() != Some(inv.email.as_str()) {
        return Err(MembershipError::EmailMismatch);
    }
    let membership = state.store.get_membership(&tenant.id, &user.sub).await?;
    if membership.is_some_and(|m| m.status == MembershipStatus::Active) {
        return Err(MembershipError::AlreadyMember);
    }
    let mut user = user.clone();
    user.updated_at = state.clock.now_millis();
    Ok(user)
}

/// A new confirmed user of the tenant's pool for the invited address (its email
/// verified: the token reached it), not yet stored.
async fn new_invitee(
    state: &AppState,
    inv: &Invitation,
    tenant: &Tenant,
    password: Option<&str>,
    now: i64,
) -> Result<User, MembershipError> {
    let password = password.ok_or(MembershipError::PasswordRequired)?;
    let pool = state
        .store
        .get_pool(&tenant.pool_id)
        .await?
        .ok_or_else(|| MembershipError::Fault(format!("tenant {} has no pool {}", tenant.id, tenant.pool_id)))?;
    // Alias keys are lowercase emails, and invitations store the address lowercased.
    if state.store.get_user_by_alias(&pool.id, "email", &inv.email).await?.is_some() {
        return Err(MembershipError::AccountExists);
    }
    pool.settings.policies.password_policy.check(password).map_err(MembershipError::PasswordPolicy)?;
    let sub = generate_sub(state.rng.as_ref());
    let attributes = [("email", inv.email.as_str()), ("email_verified", "true")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let mut user = User {
        pool_id: pool.id,
        // Managed pools sign in by the email alias; as for SignUp with an email-shaped
        // name, the stored username is the sub.
        username: sub.clone(),
        sub,
        status: UserStatus::Confirmed,
        enabled: true,
        password_hash: None,
        temp_password_expires_at: None,
        attributes,
        created_at: now,
        updated_at: now,
        srp_verifier: None,
        tokens_valid_after: 0,
    };
    super::users::set_password(state, &mut user, password).await.map_err(MembershipError::Fault)?;
    Ok(user)
}

// ---------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------

/// A tenant's memberships (active and removed), by sub.
pub async fn list_members(
    state: &AppState,
    tenant: &TenantId,
    page: &PageRequest,
) -> Result<Vec<Membership>, MembershipError> {
    Ok(state.store.list_memberships(tenant, page).await?)
}

/// A membership (active or removed).
pub async fn get_member(state: &AppState, tenant: &TenantId, sub: &str) -> Result<Membership, MembershipError> {
    state.store.get_membership(tenant, sub).await?.ok_or(MembershipError::MemberNotFound)
}

/// The user behind a membership, if they still exist.
pub async fn member_user(state: &AppState, m: &Membership) -> Result<Option<User>, MembershipError> {
    Ok(state.store.get_user_by_sub(&m.pool_id, &m.sub).await?)
}

async fn active_member(state: &AppState, tenant: &TenantId, sub: &str) -> Result<Membership, MembershipError> {
    state
        .store
        .get_membership(tenant, sub)
        .await?
        .filter(|m| m.status == MembershipStatus::Active)
        .ok_or(MembershipError::MemberNotFound)
}

/// Makes a user of the tenant's pool a member with `role`; an active member gets the new
/// role under the last-admin rule (as [`change_role`]).
pub async fn add_member(
    state: &AppState,
    tenant: &Tenant,
    sub: &str,
    role: Role,
) -> Result<Membership, MembershipError> {
    let mut user = state.store.get_user_by_sub(&tenant.pool_id, sub).await?.ok_or(MembershipError::UserNotInPool)?;
    match state.store.get_membership(&tenant.id, sub).await?.filter(|m| m.status == MembershipStatus::Active) {
        Some(existing) if existing.role != role => tenancy::change_role(state, tenant, &existing, role).await?,
        Some(_) => {}
        None => tenancy::join(state, tenant, &mut user, role, false).await?,
    }
    get_member(state, &tenant.id, sub).await
}

/// Gives an active member another role; the tenant keeps an active admin (`LastAdmin`),
/// checked and written in one transaction.
pub async fn change_role(
    state: &AppState,
    tenant: &Tenant,
    sub: &str,
    role: Role,
) -> Result<Membership, MembershipError> {
    let m = active_member(state, &tenant.id, sub).await?;
    if m.role != role {
        tenancy::change_role(state, tenant, &m, role).await?;
    }
    get_member(state, &tenant.id, sub).await
}

/// Removes an active member (the row stays, as removed) and revokes their tokens for the
/// tenant, in one transaction; the tenant keeps an active admin (`LastAdmin`).
pub async fn remove_member(state: &AppState, tenant: &Tenant, sub: &str) -> Result<(), MembershipError> {
    let m = active_member(state, &tenant.id, sub).await?;
    Ok(tenancy::leave(state, tenant, &m).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_carries_the_token_line() {
        let acme = TenantId::parse("acme").unwrap_or_else(|| panic!("tenant id"));
        let (inv, _) =
            Invitation::new(acme.clone(), "bob@acme.com", Role::Member, "admin:AKID", 1_000, &cognate_core::SystemRng);
        let tenant = Tenant {
            id: acme,
            name: "Acme".into(),
            tier: cognate_core::tenant::Tier::Standard,
            status: TenantStatus::Active,
            pool_id: cognate_core::ids::PoolId::parse("local_abc").unwrap_or_else(|| panic!("pool id")),
            mfa: cognate_core::tenant::MfaRequirement::Off,
            created_at: 0,
            updated_at: 0,
            version: 1,
        };
        let body = message_body(
            &tenant,
            &inv,
            "TOKEN123",
            "http://x/console/invite?token=TOKEN123",
            "http://x/v1/invitations/accept",
        );
        assert!(body.contains("http://x/console/invite?token=TOKEN123"));
        assert!(body.lines().any(|l| l == "Invitation token: TOKEN123"), "{body}");
        assert!(body.contains("http://x/v1/invitations/accept"));
        assert!(body.contains("Acme"));
    }

    #[test]
    fn state_follows_acceptance_revocation_and_expiry() {
        let acme = TenantId::parse("acme").unwrap_or_else(|| panic!("tenant id"));
        let (inv, _) = Invitation::new(acme, "bob@acme.com", Role::Member, "x", 1_000, &cognate_core::SystemRng);
        assert_eq!(InvitationState::of(&inv, 1_000), InvitationState::Pending);
        assert_eq!(InvitationState::of(&inv, inv.expires_at), InvitationState::Expired);
        let revoked = Invitation { revoked_at: Some(2_000), ..inv.clone() };
        assert_eq!(InvitationState::of(&revoked, inv.expires_at), InvitationState::Revoked);
        let accepted = Invitation { accepted_at: Some(2_000), ..inv };
        assert_eq!(InvitationState::of(&accepted, i64::MAX), InvitationState::Accepted);
    }
}

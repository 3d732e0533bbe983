//! `/v1/tenants/{tenantId}/invitations` (tenant admins invite, list, revoke) and
//! `/v1/invitations/accept` (the invitee joins, with their account or a new one).
//!
//! The token (256 random bits) goes to the invited address through the outbox and is
//! stored only as its SHA-256: the API never returns it and nothing logs it.

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::StoreError;
use cognate_core::ids::generate_sub;
use cognate_core::tenant::{Invitation, Role, Tenant, TenantId, TenantStatus, invitation_token_hash};
use cognate_core::user::{User, UserStatus};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, MaybeCaller, Need, tenant_not_found};
use super::domains::email_address;
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::paging::{ListParams, Page};
use super::tenants::TenantPath;
use crate::{AppState, tenancy};

/// Shortest lifetime a caller may ask for, in seconds (short lifetimes make expiry
/// testable end to end).
const MIN_EXPIRES_IN_SECS: i64 = 1;
/// Longest lifetime a caller may ask for: 30 days, in seconds.
const MAX_EXPIRES_IN_SECS: i64 = 30 * 24 * 60 * 60;

/// Where an invitation stands at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    /// The status of `inv` at `now` (ms). An acceptance or revocation is final, so it
    /// wins over expiry.
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

/// An invitation as the API shows it (never its token). Times are epoch seconds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    id: String,
    tenant_id: String,
    email: String,
    #[schema(schema_with = super::openapi::role)]
    role: Role,
    status: InvitationStatus,
    expires_at: i64,
    created_at: i64,
    /// The inviter's sub, or `admin:{accessKeyId}` for a platform admin.
    invited_by: String,
    accepted_at: Option<i64>,
    accepted_sub: Option<String>,
}

impl InvitationView {
    fn new(inv: Invitation, now: i64) -> Self {
        Self {
            status: InvitationStatus::of(&inv, now),
            id: inv.id,
            tenant_id: inv.tenant_id.to_string(),
            email: inv.email,
            role: inv.role,
            expires_at: inv.expires_at.div_euclid(1000),
            created_at: inv.created_at.div_euclid(1000),
            invited_by: inv.invited_by,
            accepted_at: inv.accepted_at.map(|t| t.div_euclid(1000)),
            accepted_sub: inv.accepted_sub,
        }
    }
}

/// The `{tenant_id}/invitations/{id}` path. An invalid tenant id is 404 like an unknown
/// tenant.
#[derive(IntoParams)]
#[into_params(names("tenant_id", "id"), parameter_in = Path)]
pub struct InvitationPath(
    /// The tenant's id, a slug such as `acme`.
    #[param(value_type = String)]
    pub TenantId,
    /// The invitation's id.
    pub String,
);

impl<S: Send + Sync> FromRequestParts<S> for InvitationPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (tenant, id) = super::extract::tenant_and_segment(parts, state).await?;
        Ok(Self(tenant, id))
    }
}

fn invitation_not_found() -> ApiError {
    ApiError::not_found("The invitation does not exist.")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateInvitation {
    /// At most 254 characters.
    #[schema(example = "bob@acme.com", max_length = 254)]
    email: String,
    #[schema(schema_with = super::openapi::role)]
    role: Role,
    /// Defaults to 7 days ([`cognate_core::tenant::INVITATION_TTL_MS`]); 1 s to 30 days.
    #[schema(minimum = 1, maximum = 2_592_000)]
    expires_in_seconds: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AcceptInvitation {
    /// The token from the invitation message.
    token: String,
    /// Only without credentials: the password of the account to create.
    password: Option<String>,
}

/// The membership an acceptance made.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    tenant_id: String,
    sub: String,
    #[schema(schema_with = super::openapi::role)]
    role: Role,
}

/// The lifetime asked for, in ms, if it is within bounds.
fn lifetime_ms(expires_in_seconds: i64) -> Result<i64, ApiError> {
    if !(MIN_EXPIRES_IN_SECS..=MAX_EXPIRES_IN_SECS).contains(&expires_in_seconds) {
        return Err(ApiError::invalid_request(format!(
            "expiresInSeconds must be {MIN_EXPIRES_IN_SECS} to {MAX_EXPIRES_IN_SECS}."
        )));
    }
    Ok(expires_in_seconds * 1000)
}

/// The message carrying the token. The line `Invitation token: {token}` is what a reader
/// (or a test) looks for.
fn message_body(tenant: &Tenant, inv: &Invitation, token: &str, accept_url: &str) -> String {
    let expires = time::OffsetDateTime::from_unix_timestamp(inv.expires_at.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{} (epoch seconds)", inv.expires_at.div_euclid(1000)));
    format!(
        "You are invited to join {name} with the role {role}.\n\
         \n\
         Invitation token: {token}\n\
         \n\
         To accept, POST {{\"token\": \"…\"}} to {accept_url}: with your access token \
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
async fn send(state: &AppState, tenant: &Tenant, inv: &Invitation, token: &str) -> Result<(), ApiError> {
    let accept_url = format!("{}/v1/invitations/accept", state.settings.public_url);
    let subject = format!("You are invited to join {}", tenant.name);
    let body = message_body(tenant, inv, token, &accept_url);
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
    .await?;
    Ok(())
}

/// Invite an email address to a tenant; the token is mailed to it, never returned.
///
/// `POST /v1/tenants/{tenant_id}/invitations` `{"email", "role", "expiresInSeconds"?}`:
/// invites an address and mails it the token.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/invitations",
    operation_id = "createInvitation",
    tag = "invitations",
    params(TenantPath),
    request_body = CreateInvitation,
    responses(
        (status = 201, description = "The invitation, pending.", body = InvitationView),
        (status = 400, description = "A malformed body, an invalid email, role or lifetime (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(id): TenantPath,
    Json(req): Json<CreateInvitation>,
) -> Result<Response, ApiError> {
    let access = caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let (email, _) =
        email_address(&req.email).ok_or_else(|| ApiError::invalid_request("The email is not a valid address."))?;
    let lifetime = req.expires_in_seconds.map(lifetime_ms).transpose()?;
    let now = state.clock.now_millis();
    let (mut inv, token) = Invitation::new(id, &email, req.role, &access.actor, now, state.rng.as_ref());
    if let Some(ms) = lifetime {
        inv.expires_at = now.saturating_add(ms);
    }
    state.store.create_invitation(&inv).await.map_err(|e| match e {
        StoreError::NotFound(_) => tenant_not_found(),
        other => other.into(),
    })?;
    send(&state, &access.tenant, &inv, &token).await?;
    tracing::info!(tenant = %inv.tenant_id, invitation = %inv.id, role = %inv.role, by = %access.actor, "invitation sent");
    Ok((StatusCode::CREATED, axum::Json(InvitationView::new(inv, now))).into_response())
}

/// List a tenant's invitations.
///
/// `GET /v1/tenants/{tenant_id}/invitations`: every invitation, whatever its status,
/// ordered by id.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/invitations",
    operation_id = "listInvitations",
    tag = "invitations",
    params(TenantPath, ListParams),
    responses(
        (status = 200, description = "A page of invitations, whatever their status.", body = Page<InvitationView>),
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
    TenantPath(id): TenantPath,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<InvitationView>>, ApiError> {
    caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let scope = format!("invitations:{id}");
    let req = params.page(&scope)?;
    let rows = state.store.list_invitations(&id, &req).await?;
    let (rows, next_cursor) = Page::<InvitationView>::finish(rows, &req, &scope, |i| i.id.clone());
    let now = state.clock.now_millis();
    Ok(axum::Json(Page { items: rows.into_iter().map(|i| InvitationView::new(i, now)).collect(), next_cursor }))
}

/// Get an invitation.
///
/// `GET /v1/tenants/{tenant_id}/invitations/{id}`.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/invitations/{id}",
    operation_id = "getInvitation",
    tag = "invitations",
    params(InvitationPath),
    responses(
        (status = 200, description = "The invitation.", body = InvitationView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or no such invitation (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    InvitationPath(tenant, id): InvitationPath,
) -> Result<axum::Json<InvitationView>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let inv = state.store.get_invitation(&tenant, &id).await?.ok_or_else(invitation_not_found)?;
    Ok(axum::Json(InvitationView::new(inv, state.clock.now_millis())))
}

/// Revoke a pending invitation.
///
/// `DELETE /v1/tenants/{tenant_id}/invitations/{id}`: revokes a pending invitation
/// (`204`); `409 conflict` once it was accepted, revoked or expired.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/invitations/{id}",
    operation_id = "revokeInvitation",
    tag = "invitations",
    params(InvitationPath),
    responses(
        (status = 204, description = "Revoked."),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or no such invitation (`not_found`).", body = ErrorBody),
        (status = 409, description = "The invitation was already accepted, revoked or expired (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    InvitationPath(tenant, id): InvitationPath,
) -> Result<StatusCode, ApiError> {
    let access = caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let now = state.clock.now_millis();
    let revoked = state.store.revoke_invitation(&tenant, &id, now).await.map_err(|e| match e {
        StoreError::NotFound(_) => invitation_not_found(),
        other => other.into(),
    })?;
    if !revoked {
        return Err(ApiError::conflict("The invitation is no longer pending."));
    }
    tracing::info!(tenant = %tenant, invitation = %id, by = %access.actor, "invitation revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// `410 invitation_not_pending`, saying why.
fn not_pending(status: InvitationStatus) -> ApiError {
    let why = match status {
        InvitationStatus::Accepted => "The invitation was already accepted.",
        InvitationStatus::Revoked => "The invitation was revoked.",
        InvitationStatus::Expired => "The invitation has expired.",
        // Pending when read, but another request accepted it first.
        InvitationStatus::Pending => "The invitation is no longer pending.",
    };
    ApiError::new(StatusCode::GONE, "invitation_not_pending", why)
}

fn account_exists() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "account_exists",
        "An account with this email already exists; sign in and accept with its access token.",
    )
}

/// Accept an invitation, with the invitee's account or a new one.
///
/// `POST /v1/invitations/accept` `{"token", "password"?}`: with the invitee's access
/// token, adds the membership to that account; without credentials, creates the account
/// (email verified) in the tenant's pool with `password`. Answers `{"tenantId", "sub",
/// "role"}`.
#[utoipa::path(
    post,
    path = "/v1/invitations/accept",
    operation_id = "acceptInvitation",
    tag = "invitations",
    request_body = AcceptInvitation,
    responses(
        (status = 200, description = "The membership made.", body = Accepted),
        (status = 400, description = "A malformed body; a password with an access token, none without; a password the pool refuses (`invalid_request`, `invalid_password`).", body = ErrorBody),
        (status = 401, description = "Invalid credentials (`unauthorized`); none at all is allowed.", body = ErrorBody),
        (status = 403, description = "A platform admin, an account of another pool or email (`invitation_pool_mismatch`, `invitation_email_mismatch`), or a suspended tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No invitation has this token (`not_found`).", body = ErrorBody),
        (status = 409, description = "The address already has an account: sign in and accept with its token (`account_exists`); or already a member (`conflict`).", body = ErrorBody),
        (status = 410, description = "The invitation was accepted, revoked or has expired (`invitation_not_pending`).", body = ErrorBody),
    ),
    security((), ("user" = [])),
)]
pub async fn accept(
    State(state): State<AppState>,
    MaybeCaller(caller): MaybeCaller,
    Json(req): Json<AcceptInvitation>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let user_caller = match &caller {
        Some(Caller::Platform(_)) => return Err(ApiError::forbidden("Invitations are accepted by the invitee.")),
        Some(Caller::User(u)) => Some(u),
        None => None,
    };
    if user_caller.is_some() && req.password.is_some() {
        return Err(ApiError::invalid_request(
            "A password is given only to create an account; with an access token, send the token alone.",
        ));
    }
    let now = state.clock.now_millis();
    let inv = state
        .store
        .get_invitation_by_token_hash(&invitation_token_hash(&req.token))
        .await?
        .ok_or_else(|| ApiError::not_found("No invitation has this token."))?;
    let status = InvitationStatus::of(&inv, now);
    if status != InvitationStatus::Pending {
        return Err(not_pending(status));
    }
    let tenant = state.store.get_tenant(&inv.tenant_id).await?.ok_or_else(tenant_not_found)?;
    if tenant.status != TenantStatus::Active {
        return Err(ApiError::forbidden("The tenant is suspended."));
    }

    let (mut user, create) = match user_caller {
        Some(u) => (existing_invitee(&state, &inv, &tenant, &u.user).await?, false),
        None => (new_invitee(&state, &inv, &tenant, req.password.as_deref(), now).await?, true),
    };
    let accepted = tenancy::accept(&state, &inv, &tenant, &mut user, create).await.map_err(|e| match e {
        StoreError::Conflict("email") => account_exists(),
        other => other.into(),
    })?;
    if !accepted {
        return Err(not_pending(InvitationStatus::Pending));
    }
    tracing::info!(tenant = %tenant.id, invitation = %inv.id, sub = %user.sub, new_account = create, "invitation accepted");
    Ok(axum::Json(Accepted { tenant_id: tenant.id.to_string(), sub: user.sub, role: inv.role }))
}

/// The calling user, if they may accept `inv`: they live in the tenant's pool, their
/// email (verified or not) is the invited address, and they are not already an active
/// member (accepting would silently change their role, even demote the last admin).
async fn existing_invitee(state: &AppState, inv: &Invitation, tenant: &Tenant, user: &User) -> Result<User, ApiError> {
    if user.pool_id != tenant.pool_id {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invitation_pool_mismatch",
            "Your account is not in the tenant's user pool; accept without credentials to create one there.",
        ));
    }
    let email = user.attributes.get("email").map(|e| e.to_lowercase());
    if email.as_deref() != Some(inv.email.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invitation_email_mismatch",
            "The invitation is for another email address.",
        ));
    }
    let membership = state.store.get_membership(&tenant.id, &user.sub).await?;
    if membership.is_some_and(|m| m.status == cognate_core::tenant::MembershipStatus::Active) {
        return Err(ApiError::conflict("You are already a member of this tenant."));
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
) -> Result<User, ApiError> {
    let password = password.ok_or_else(|| {
        ApiError::invalid_request("A password is required to create an account; or accept with your access token.")
    })?;
    let pool = state
        .store
        .get_pool(&tenant.pool_id)
        .await?
        .ok_or_else(|| ApiError::internal(format!("tenant {} has no pool {}", tenant.id, tenant.pool_id)))?;
    // Alias keys are lowercase emails, and invitations store the address lowercased.
    if state.store.get_user_by_alias(&pool.id, "email", &inv.email).await?.is_some() {
        return Err(account_exists());
    }
    pool.settings
        .policies
        .password_policy
        .check(password)
        .map_err(|message| ApiError::new(StatusCode::BAD_REQUEST, "invalid_password", message))?;
    let password_hash = state.passwords.hash(password.to_owned()).await.map_err(ApiError::internal)?;
    let sub = generate_sub(state.rng.as_ref());
    let attributes = [("email", inv.email.as_str()), ("email_verified", "true")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(User {
        pool_id: pool.id,
        // Managed pools sign in by the email alias; as for SignUp with an email-shaped
        // name, the stored username is the sub.
        username: sub.clone(),
        sub,
        status: UserStatus::Confirmed,
        enabled: true,
        password_hash: Some(password_hash),
        temp_password_expires_at: None,
        attributes,
        created_at: now,
        updated_at: now,
        tokens_valid_after: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cognate_core::SystemRng;
    use cognate_core::tenant::INVITATION_TTL_MS;

    fn invitation() -> Invitation {
        let acme = TenantId::parse("acme").unwrap();
        Invitation::new(acme, "Bob@Acme.com", Role::Member, "admin:AKID", 1_000, &SystemRng).0
    }

    #[test]
    fn status_follows_acceptance_revocation_and_expiry() {
        let inv = invitation();
        let expiry = 1_000 + INVITATION_TTL_MS;
        assert_eq!(InvitationStatus::of(&inv, 1_000), InvitationStatus::Pending);
        assert_eq!(InvitationStatus::of(&inv, expiry - 1), InvitationStatus::Pending);
        assert_eq!(InvitationStatus::of(&inv, expiry), InvitationStatus::Expired);
        let revoked = Invitation { revoked_at: Some(2_000), ..inv.clone() };
        assert_eq!(InvitationStatus::of(&revoked, 3_000), InvitationStatus::Revoked);
        assert_eq!(InvitationStatus::of(&revoked, expiry), InvitationStatus::Revoked);
        let accepted = Invitation { accepted_at: Some(2_000), accepted_sub: Some("s".into()), ..inv };
        assert_eq!(InvitationStatus::of(&accepted, expiry), InvitationStatus::Accepted);
        assert_eq!(serde_json::to_value(InvitationStatus::Expired).unwrap(), "expired");
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert_eq!(lifetime_ms(1).unwrap(), 1_000);
        assert_eq!(lifetime_ms(MAX_EXPIRES_IN_SECS).unwrap(), 2_592_000_000);
        for bad in [-1, 0, MAX_EXPIRES_IN_SECS + 1, i64::MAX] {
            assert_eq!(lifetime_ms(bad).unwrap_err().code, "invalid_request", "{bad}");
        }
    }

    #[test]
    fn views_hide_the_token_and_use_seconds() {
        let inv = invitation();
        let hash = inv.token_hash.clone();
        let v = serde_json::to_value(InvitationView::new(inv, 1_000)).unwrap();
        assert_eq!(v["email"], "bob@acme.com");
        assert_eq!(v["status"], "pending");
        assert_eq!(v["createdAt"], 1);
        assert_eq!(v["invitedBy"], "admin:AKID");
        assert!(v["acceptedAt"].is_null() && v["acceptedSub"].is_null());
        assert!(!v.to_string().contains(&hash));
    }

    #[test]
    fn the_message_carries_the_token_line() {
        let inv = invitation();
        let tenant = Tenant {
            id: inv.tenant_id.clone(),
            name: "Acme".into(),
            tier: cognate_core::tenant::Tier::Standard,
            status: TenantStatus::Active,
            pool_id: cognate_core::ids::PoolId::parse("local_abc").unwrap(),
            mfa: cognate_core::tenant::MfaRequirement::Off,
            created_at: 0,
            updated_at: 0,
            version: 1,
        };
        let body = message_body(&tenant, &inv, "TOKEN123", "http://x/v1/invitations/accept");
        assert!(body.lines().any(|l| l == "Invitation token: TOKEN123"), "{body}");
        assert!(body.contains("http://x/v1/invitations/accept"));
        assert!(body.contains("Acme"));
    }
}

//! `/v1/tenants/{tenantId}/invitations` (tenant admins invite, list, revoke) and
//! `/v1/invitations/accept` (the invitee joins, with their account or a new one).
//!
//! The token (256 random bits) goes to the invited address through the outbox and is
//! stored only as its SHA-256: the API never returns it and nothing logs it.

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::tenant::{Invitation, Role, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, MaybeCaller, Need};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::paging::{ListParams, Page};
use super::tenants::TenantPath;
use crate::AppState;
use crate::services::members::{self, InvitationState, Invitee, MembershipError};

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
    /// The status of `inv` at `now` (ms) ([`InvitationState::of`]).
    pub fn of(inv: &Invitation, now: i64) -> Self {
        match InvitationState::of(inv, now) {
            InvitationState::Pending => Self::Pending,
            InvitationState::Accepted => Self::Accepted,
            InvitationState::Revoked => Self::Revoked,
            InvitationState::Expired => Self::Expired,
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

/// Invite an email address to a tenant; the token is mailed to it, never returned.
///
/// `POST /v1/tenants/{tenant_id}/invitations` `{"email", "role", "expiresInSeconds"?}`:
/// invites an address and mails it the token.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/invitations",
    operation_id = "createInvitation",
    extensions(("x-audit-action" = json!("invitation.create"))),
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
    let lifetime = req.expires_in_seconds.map(lifetime_ms).transpose()?;
    let inv = members::invite(&state, &access.tenant, &access.actor, &req.email, req.role, lifetime).await?;
    let now = state.clock.now_millis();
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
    let rows = members::list_invitations(&state, &id, &req).await?;
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
    let inv = members::get_invitation(&state, &tenant, &id).await?;
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
    extensions(("x-audit-action" = json!("invitation.revoke"))),
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
    members::revoke_invitation(&state, &tenant, &id, &access.actor).await.map_err(|e| match e {
        // Revoking what is no longer pending is a conflict here, not a gone token.
        MembershipError::InvitationNotPending(_) => ApiError::conflict("The invitation is no longer pending."),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
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
    extensions(("x-audit-action" = json!("invitation.accept"))),
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
    let invitee = match user_caller {
        Some(u) => Invitee::Account(&u.user),
        None => Invitee::NewAccount { password: req.password.as_deref() },
    };
    let accepted = members::accept(&state, &req.token, invitee).await.map_err(|e| match e {
        MembershipError::InvitationNotFound => ApiError::not_found("No invitation has this token."),
        other => other.into(),
    })?;
    Ok(axum::Json(Accepted { tenant_id: accepted.tenant_id.to_string(), sub: accepted.sub, role: accepted.role }))
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
}

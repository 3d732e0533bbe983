//! The invitation page: the link in an invitation email (`/console/invite?token=…`) opens
//! it; the invitee accepts as the account they are signed in with, signs in to accept
//! (the hosted login of the tenant's pool, the invitation remembered in the sealed
//! round-trip cookie), or creates their account with a password and accepts at once.
//! Every path ends in [`members::accept`], the service `/v1/invitations/accept` calls
//! (single-use under concurrency, the invited address only), and is audited as
//! `invitation.accept`.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::user::User;
use serde::Deserialize;

use super::{Anyone, bare_message, explain, set_seat};
use crate::AppState;
use crate::api::error::ApiError;
use crate::audit::{Actor, Entry, Origin};
use crate::services::console::{self, Seat};
use crate::services::members::{self, InvitationState, Invitee, MembershipError};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/invite", get(page))
        .route("/console/invite/accept", post(accept_signed_in))
        .route("/console/invite/signin", post(sign_in_to_accept))
        .route("/console/invite/create", post(create_and_accept))
}

#[derive(Template)]
#[template(path = "console/invite.html")]
struct InvitePage<'a> {
    csrf: &'a str,
    token: &'a str,
    tenant: &'a str,
    role: &'a str,
    email: &'a str,
    /// The signed-in account's address, when the browser has a console session.
    signed_in_as: Option<&'a str>,
    error: Option<&'a str>,
}

#[derive(Deserialize)]
struct TokenParam {
    token: Option<String>,
}

/// `GET /console/invite?token=…`.
async fn page(State(state): State<AppState>, anyone: Anyone, Query(q): Query<TokenParam>) -> Response {
    let token = q.token.unwrap_or_default();
    show(&state, &anyone, &token, None, StatusCode::OK).await
}

/// The invitation page for `token`, with `error` shown.
async fn show(state: &AppState, anyone: &Anyone, token: &str, error: Option<&str>, status: StatusCode) -> Response {
    let (inv, tenant, now) = match members::invitation_by_token(state, token).await {
        Ok(found) => found,
        Err(e) => return refused(e),
    };
    if now != InvitationState::Pending {
        return refused(MembershipError::InvitationNotPending(now));
    }
    let signed_in = match &anyone.seat {
        Some(seat @ Seat::User { .. }) => console::user(state, seat).await.ok(),
        _ => None,
    };
    let signed_in_as = signed_in.as_ref().and_then(|u| u.user.attributes.get("email").cloned());
    let csrf = anyone.csrf(state);
    let role = inv.role.to_string();
    let page = InvitePage {
        csrf: &csrf,
        token,
        tenant: &tenant.name,
        role: &role,
        email: &inv.email,
        signed_in_as: signed_in_as.as_deref(),
        error,
    };
    anyone.page(state, status, page.render())
}

fn refused(e: MembershipError) -> Response {
    let text = match e {
        MembershipError::InvitationNotFound => {
            "This invitation link is not valid. Ask for a new invitation.".to_owned()
        }
        MembershipError::InvitationNotPending(s) => format!(
            "This invitation can no longer be accepted (it is {}). Ask for a new invitation.",
            match s {
                InvitationState::Accepted => "already accepted",
                InvitationState::Revoked => "revoked",
                InvitationState::Expired => "expired",
                InvitationState::Pending => "pending",
            }
        ),
        other => explain(other).1,
    };
    bare_message(StatusCode::BAD_REQUEST, &text)
}

/// `POST /console/invite/accept`: as the signed-in account.
async fn accept_signed_in(State(state): State<AppState>, anyone: Anyone, headers: HeaderMap, body: Bytes) -> Response {
    let form = match anyone.form(&state, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let token = form.get("token").unwrap_or_default();
    let Some(seat @ Seat::User { .. }) = &anyone.seat else {
        return show(&state, &anyone, token, Some("Sign in first."), StatusCode::UNAUTHORIZED).await;
    };
    let user = match console::user(&state, seat).await {
        Ok(u) => u,
        Err(_) => {
            return show(
                &state,
                &anyone,
                token,
                Some("Your session has ended. Sign in again."),
                StatusCode::UNAUTHORIZED,
            )
            .await;
        }
    };
    let seat = user.renewed.clone().unwrap_or_else(|| seat.clone());
    match accept_as(&state, &anyone.origin, &seat, &user.user, token).await {
        Ok(seat) => {
            let mut resp = super::after_post("/console/home?notice=joined");
            set_seat(&state, &mut resp, &seat);
            resp
        }
        Err(page) => *page,
    }
}

/// `POST /console/invite/signin`: to the hosted login of the tenant's pool, the invitation
/// accepted on the way back.
async fn sign_in_to_accept(State(state): State<AppState>, anyone: Anyone, headers: HeaderMap, body: Bytes) -> Response {
    let form = match anyone.form(&state, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let token = form.get("token").unwrap_or_default();
    let (inv, tenant, _) = match members::invitation_by_token(&state, token).await {
        Ok(found) => found,
        Err(e) => return refused(e),
    };
    let next = "/console/home?notice=joined";
    match console::begin_in(&state, &tenant.pool_id, Some(&inv.email), None, next, Some(token.to_owned())).await {
        Ok(begun) => super::auth::go(&state, &begun.authorize_url, &begun.pending),
        Err(e) => {
            tracing::error!(error = %e, "beginning a sign-in to accept an invitation");
            bare_message(StatusCode::INTERNAL_SERVER_ERROR, "An internal error occurred. Try again later.")
        }
    }
}

/// `POST /console/invite/create`: a new account for the invited address, accepted at
/// once; then the hosted login to sign in with it.
async fn create_and_accept(State(state): State<AppState>, anyone: Anyone, headers: HeaderMap, body: Bytes) -> Response {
    let form = match anyone.form(&state, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let token = form.get("token").unwrap_or_default();
    let password = form.raw("password").unwrap_or_default();
    if form.raw("confirm") != Some(password) {
        return show(&state, &anyone, token, Some("The two passwords differ."), StatusCode::BAD_REQUEST).await;
    }
    let (inv, tenant, _) = match members::invitation_by_token(&state, token).await {
        Ok(found) => found,
        Err(e) => return refused(e),
    };
    let anonymous = Actor::Anonymous;
    match members::accept(&state, token, Invitee::NewAccount { password: Some(password) }).await {
        Ok(accepted) => record(&state, &anyone.origin, &anonymous, tenant.id.as_str(), Ok(&accepted.sub)),
        Err(e) => {
            let text = match &e {
                MembershipError::AccountExists => {
                    Some("An account with this address exists already: sign in to accept instead.")
                }
                _ => None,
            };
            let api = ApiError::from(e);
            record(&state, &anyone.origin, &anonymous, tenant.id.as_str(), Err(api.code));
            let status = if api.status.is_server_error() { api.status } else { StatusCode::BAD_REQUEST };
            let text = text.map(str::to_owned).unwrap_or_else(|| explain(api).1);
            return show(&state, &anyone, token, Some(&text), status).await;
        }
    }
    let next = format!("/console/t/{}", tenant.id);
    match console::begin_in(&state, &tenant.pool_id, Some(&inv.email), None, &next, None).await {
        Ok(begun) => super::auth::go(&state, &begun.authorize_url, &begun.pending),
        Err(e) => {
            tracing::error!(error = %e, "beginning a sign-in after accepting an invitation");
            bare_message(StatusCode::OK, "Your account is ready. Sign in to the console with your email address.")
        }
    }
}

/// Accepts `token` as `user` (signed in with `seat`) and moves the seat into the tenant.
/// An invitee already a member just moves in.
pub(super) async fn accept_as(
    state: &AppState,
    origin: &Origin,
    seat: &Seat,
    user: &User,
    token: &str,
) -> Result<Seat, Box<Response>> {
    let (_, tenant, _) = members::invitation_by_token(state, token).await.map_err(|e| Box::new(refused(e)))?;
    let result = members::accept(state, token, Invitee::Account(user)).await;
    let actor = Actor::User(user.sub.clone());
    match result {
        Ok(_) => record(state, origin, &actor, tenant.id.as_str(), Ok(&user.sub)),
        Err(MembershipError::AlreadyMember) => {}
        Err(MembershipError::EmailMismatch) => {
            record(state, origin, &actor, tenant.id.as_str(), Err("email_mismatch"));
            return Err(Box::new(bare_message(
                StatusCode::FORBIDDEN,
                "This invitation is for another email address. Sign in with the invited address.",
            )));
        }
        Err(e) => {
            let api = ApiError::from(e);
            record(state, origin, &actor, tenant.id.as_str(), Err(api.code));
            return Err(Box::new(bare_message(api.status, &api.message)));
        }
    }
    console::switch(state, seat, tenant.id.as_str()).await.map_err(|e| {
        tracing::warn!(error = %e, "moving a console session into a tenant just joined");
        Box::new(bare_message(StatusCode::OK, "Invitation accepted. Sign in to the console again to open the tenant."))
    })
}

/// Records an acceptance (`Ok(sub)`) or a refusal (`Err(code)`) as `/v1` records its twin.
fn record(state: &AppState, origin: &Origin, actor: &Actor, tenant: &str, result: Result<&str, &str>) {
    state.audit.record(
        state,
        Entry {
            tenant: Some(tenant),
            pool_id: None,
            actor,
            action: "invitation.accept",
            target: result.ok(),
            success: result.is_ok(),
            reason: result.err(),
            origin,
        },
    );
}

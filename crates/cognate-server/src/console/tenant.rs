//! The tenant admin console, `/console/t/{tenant}/…`: a tenant's admins (and platform
//! admins) manage its members, invitations, domains, SSO connections, API keys, webhooks
//! ([`super::webhooks`]) and settings, and read its usage, analytics ([`super::analytics`])
//! and audit log. Members see the overview only. Each page
//! asks [`crate::services::access`] with the need its `/v1` twin declares.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::page::PageRequest;
use cognate_core::tenant::{MembershipStatus, Role};
use serde::Deserialize;

use super::{Chrome, Visit, after_post, explain, when};
use crate::AppState;
use crate::services::access::{Need, TenantAccess};
use crate::services::members::{self, InvitationState};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}", get(overview))
        .route("/console/t/{tenant}/members", get(members_page).post(invite_member))
        .route("/console/t/{tenant}/members/{sub}/role", post(change_role))
        .route("/console/t/{tenant}/members/{sub}/remove", post(remove_member))
        .route("/console/t/{tenant}/invitations", get(invitations_page).post(invite))
        .route("/console/t/{tenant}/invitations/{id}/resend", post(resend))
        .route("/console/t/{tenant}/invitations/{id}/revoke", post(revoke))
        .merge(super::tenant_keys::routes())
        .merge(super::tenant_setup::routes())
        .merge(super::tenant_audit::routes())
}

/// A page's optional notice, named by a fixed code (never free text from the URL).
#[derive(Deserialize, Default)]
pub(super) struct Notice {
    pub done: Option<String>,
}

impl Notice {
    pub fn text(&self) -> Option<String> {
        let text = match self.done.as_deref()? {
            "invited" => "Invitation sent.",
            "resent" => "Invitation sent again; the previous link no longer works.",
            "revoked" => "Invitation revoked.",
            "role" => "Role changed.",
            "removed" => "Member removed; their sessions in this tenant are revoked.",
            "domain-added" => "Domain added. Publish the TXT record below, then verify.",
            "verified" => "Domain verified: its TXT record was found in DNS.",
            "attested" => "Domain verified on a platform admin's word (no DNS lookup).",
            "domain-removed" => "Domain removed.",
            "domain-updated" => "Domain updated.",
            "key-revoked" => "API key revoked.",
            "key-updated" => "API key updated.",
            "client-deleted" => "App client deleted.",
            "saved" => "Settings saved.",
            "retention" => "Audit retention saved.",
            "connection-created" => "Connection created.",
            "connection-updated" => "Connection updated.",
            "connection-deleted" => "Connection deleted.",
            _ => return None,
        };
        Some(text.to_owned())
    }
}

// ---------------------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/tenant.html")]
struct OverviewPage {
    chrome: Chrome,
    tier: String,
    status: String,
    mfa: String,
    pool: String,
    role: String,
    created: String,
}

/// `GET /console/t/{tenant}`: any member.
async fn overview(State(state): State<AppState>, visit: Visit, Path(tenant): Path<String>) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::Member).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    let t = &access.tenant;
    let page = OverviewPage {
        tier: t.tier.to_string(),
        status: t.status.to_string(),
        mfa: t.mfa.to_string(),
        pool: t.pool_id.to_string(),
        role: access.membership.as_ref().map_or_else(|| "platform admin".to_owned(), |m| m.role.to_string()),
        created: when(t.created_at),
        chrome: visit.chrome(&state, &t.name, Some(&access)),
    };
    visit.page(&state, StatusCode::OK, page.render())
}

// ---------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    chrome: Chrome,
    tenant: String,
    members: Vec<MemberRow>,
    query: String,
    next: Option<String>,
}

struct MemberRow {
    sub: String,
    email: String,
    role: String,
    active: bool,
    /// The only active admin: the page says so and offers no demotion or removal.
    last_admin: bool,
    since: String,
}

#[derive(Deserialize, Default)]
struct MembersQuery {
    q: Option<String>,
    after: Option<String>,
    done: Option<String>,
}

/// Members shown per page; a search reads at most [`SEARCH_SCAN`] members.
const PER_PAGE: u32 = 50;
const SEARCH_SCAN: usize = 1_000;

async fn members_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(q): Query<MembersQuery>,
) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::TenantAdmin).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    let notice = Notice { done: q.done.clone() }.text();
    render_members(&state, &visit, &access, &q, notice, None, StatusCode::OK).await
}

async fn render_members(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    q: &MembersQuery,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let query = q.q.as_deref().map(str::trim).unwrap_or_default().to_lowercase();
    let listed = if query.is_empty() {
        one_page(state, access, q.after.clone()).await
    } else {
        search(state, access, &query).await
    };
    let (members, next) = match listed {
        Ok(found) => found,
        Err((status, text)) => return visit.refusal(state, status, &text),
    };
    let admins = members.iter().filter(|m| m.active && m.role == "admin").count();
    let members = members
        .into_iter()
        .map(|m| MemberRow { last_admin: admins == 1 && m.role == "admin" && m.active, ..m })
        .collect();
    let chrome = visit.chrome(state, "Members", Some(access)).with_notice(notice).with_error(error);
    let page = MembersPage { chrome, tenant: access.tenant.id.to_string(), members, query, next };
    visit.page(state, status, page.render())
}

type Listed = Result<(Vec<MemberRow>, Option<String>), (StatusCode, String)>;

async fn one_page(state: &AppState, access: &TenantAccess, after: Option<String>) -> Listed {
    let req = PageRequest { after, limit: PER_PAGE };
    let rows = members::list_members(state, &access.tenant.id, &req).await.map_err(explain)?;
    let (rows, next) = cognate_core::page::finish(rows, &req, |m| m.sub.clone());
    let mut out = Vec::with_capacity(rows.len());
    for m in rows {
        out.push(row(state, m).await?);
    }
    Ok((out, next))
}

/// Members whose email or username contains `query` (case-insensitive).
async fn search(state: &AppState, access: &TenantAccess, query: &str) -> Listed {
    let mut out = Vec::new();
    let mut req = PageRequest { after: None, limit: 200 };
    let mut scanned = 0;
    loop {
        let rows = members::list_members(state, &access.tenant.id, &req).await.map_err(explain)?;
        let (rows, next) = cognate_core::page::finish(rows, &req, |m| m.sub.clone());
        scanned += rows.len();
        for m in rows {
            let r = row(state, m).await?;
            if r.email.to_lowercase().contains(query) || r.sub.contains(query) {
                out.push(r);
            }
        }
        match next {
            Some(after) if scanned < SEARCH_SCAN => req.after = Some(after),
            _ => return Ok((out, None)),
        }
    }
}

async fn row(state: &AppState, m: cognate_core::tenant::Membership) -> Result<MemberRow, (StatusCode, String)> {
    let user = members::member_user(state, &m).await.map_err(explain)?;
    let email = user
        .as_ref()
        .map(|u| u.attributes.get("email").cloned().unwrap_or_else(|| u.username.clone()))
        .unwrap_or_else(|| "(deleted user)".to_owned());
    Ok(MemberRow {
        email,
        role: m.role.to_string(),
        active: m.status == MembershipStatus::Active,
        last_admin: false,
        since: when(m.created_at),
        sub: m.sub,
    })
}

/// `POST /console/t/{tenant}/members`: the invite form on the members page.
async fn invite_member(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send_invitation(&state, &visit, &tenant, &headers, &body, "members").await
}

/// `POST /console/t/{tenant}/invitations`.
async fn invite(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    send_invitation(&state, &visit, &tenant, &headers, &body, "invitations").await
}

/// Invites the form's address with its role; back to `page` (members or invitations).
async fn send_invitation(
    state: &AppState,
    visit: &Visit,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
    page: &str,
) -> Response {
    let form = match visit.form(state, headers, body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let access = match visit.tenant(state, tenant, Need::TenantAdmin).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    let email = form.get("email").unwrap_or_default();
    let Some(role) = form.get("role").and_then(|r| r.parse::<Role>().ok()) else {
        return refused_on(state, visit, &access, page, StatusCode::BAD_REQUEST, "Choose a role.".into()).await;
    };
    let result = members::invite(state, &access.tenant, &access.actor, email, role, None).await;
    let id = result.as_ref().ok().map(|i| i.id.clone());
    match result {
        Ok(_) => {
            visit.record(state, "invitation.create", Some(access.tenant.id.as_str()), id.as_deref(), Ok(()));
            after_post(&format!("/console/t/{}/{page}?done=invited", access.tenant.id))
        }
        Err(e) => {
            let api = crate::api::error::ApiError::from(e);
            visit.record(state, "invitation.create", Some(access.tenant.id.as_str()), None, Err(api.code));
            let (status, text) = explain(api);
            refused_on(state, visit, &access, page, status, text).await
        }
    }
}

/// `page` (members or invitations) again, with a refusal shown.
async fn refused_on(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    page: &str,
    status: StatusCode,
    text: String,
) -> Response {
    if page == "members" {
        render_members(state, visit, access, &MembersQuery::default(), None, Some(text), status).await
    } else {
        render_invitations(state, visit, access, None, Some(text), status).await
    }
}

/// `POST /console/t/{tenant}/members/{sub}/role`.
async fn change_role(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, sub)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, access) = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let Some(role) = form.get("role").and_then(|r| r.parse::<Role>().ok()) else {
        return refused_on(&state, &visit, &access, "members", StatusCode::BAD_REQUEST, "Choose a role.".into()).await;
    };
    let result = members::change_role(&state, &access.tenant, &sub, role).await.map(|_| ());
    member_change(&state, &visit, &access, "member.role", &sub, result, "role").await
}

/// `POST /console/t/{tenant}/members/{sub}/remove`.
async fn remove_member(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, sub)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let access = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok((_, access)) => access,
        Err(page) => return *page,
    };
    let result = members::remove_member(&state, &access.tenant, &sub).await;
    member_change(&state, &visit, &access, "member.remove", &sub, result, "removed").await
}

/// Records a member change and answers: back to the list, or the list with the refusal
/// (the last-admin rule in the service's words).
async fn member_change(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    action: &str,
    sub: &str,
    result: Result<(), members::MembershipError>,
    done: &str,
) -> Response {
    let tenant = access.tenant.id.as_str();
    match result {
        Ok(()) => {
            visit.record(state, action, Some(tenant), Some(sub), Ok(()));
            after_post(&format!("/console/t/{tenant}/members?done={done}"))
        }
        Err(e) => {
            let api = crate::api::error::ApiError::from(e);
            visit.record(state, action, Some(tenant), Some(sub), Err(api.code));
            let (status, text) = explain(api);
            refused_on(state, visit, access, "members", status, text).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invitations
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/invitations.html")]
struct InvitationsPage {
    chrome: Chrome,
    tenant: String,
    invitations: Vec<InvitationRow>,
}

struct InvitationRow {
    id: String,
    email: String,
    role: String,
    state: &'static str,
    pending: bool,
    /// Pending or expired: may be sent again.
    resendable: bool,
    expires: String,
}

async fn invitations_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::TenantAdmin).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    render_invitations(&state, &visit, &access, notice.text(), None, StatusCode::OK).await
}

/// The newest invitations shown.
const INVITATIONS_SHOWN: u32 = 200;

async fn render_invitations(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let req = PageRequest { after: None, limit: INVITATIONS_SHOWN };
    let rows = match members::list_invitations(state, &access.tenant.id, &req).await {
        Ok(rows) => rows,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(state, status, &text);
        }
    };
    let now = state.clock.now_millis();
    let mut invitations: Vec<InvitationRow> = rows
        .into_iter()
        .take(INVITATIONS_SHOWN as usize)
        .map(|i| {
            let s = InvitationState::of(&i, now);
            InvitationRow {
                state: match s {
                    InvitationState::Pending => "pending",
                    InvitationState::Accepted => "accepted",
                    InvitationState::Revoked => "revoked",
                    InvitationState::Expired => "expired",
                },
                pending: s == InvitationState::Pending,
                resendable: matches!(s, InvitationState::Pending | InvitationState::Expired),
                expires: when(i.expires_at),
                id: i.id,
                email: i.email,
                role: i.role.to_string(),
            }
        })
        .collect();
    // Pending first, then the rest.
    invitations.sort_by_key(|i| !i.pending);
    let chrome = visit.chrome(state, "Invitations", Some(access)).with_notice(notice).with_error(error);
    let page = InvitationsPage { chrome, tenant: access.tenant.id.to_string(), invitations };
    visit.page(state, status, page.render())
}

/// `POST /console/t/{tenant}/invitations/{id}/resend`.
async fn resend(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let access = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok((_, access)) => access,
        Err(page) => return *page,
    };
    let result = members::resend_invitation(&state, &access.tenant, &access.actor, &id).await;
    if let Ok(new) = &result {
        // The old invitation was revoked and a new one made: both recorded.
        visit.record(&state, "invitation.revoke", Some(access.tenant.id.as_str()), Some(&id), Ok(()));
        visit.record(&state, "invitation.create", Some(access.tenant.id.as_str()), Some(&new.id), Ok(()));
        return after_post(&format!("/console/t/{}/invitations?done=resent", access.tenant.id));
    }
    invitation_change(&state, &visit, &access, "invitation.create", &id, result.map(|_| ()), "resent").await
}

/// `POST /console/t/{tenant}/invitations/{id}/revoke`.
async fn revoke(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let access = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok((_, access)) => access,
        Err(page) => return *page,
    };
    let result = members::revoke_invitation(&state, &access.tenant.id, &id, &access.actor).await;
    invitation_change(&state, &visit, &access, "invitation.revoke", &id, result, "revoked").await
}

async fn invitation_change(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    action: &str,
    id: &str,
    result: Result<(), members::MembershipError>,
    done: &str,
) -> Response {
    let tenant = access.tenant.id.as_str();
    match result {
        Ok(()) => {
            visit.record(state, action, Some(tenant), Some(id), Ok(()));
            after_post(&format!("/console/t/{tenant}/invitations?done={done}"))
        }
        Err(e) => {
            let api = crate::api::error::ApiError::from(e);
            visit.record(state, action, Some(tenant), Some(id), Err(api.code));
            let (status, text) = explain(api);
            render_invitations(state, visit, access, None, Some(text), status).await
        }
    }
}

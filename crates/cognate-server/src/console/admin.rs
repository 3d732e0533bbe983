//! The platform admin portal, `/console/admin/…`: the operators who run Cognate see the
//! installation's health and figures, manage tenants ([`tenants`]), look at pools and their
//! app clients, manage admin credentials and rotate or retire signing keys; the platform's
//! webhook endpoints ([`super::webhooks`]) and its analytics, cost shares and price model
//! ([`super::analytics`]) are pages of the portal too.
//!
//! Only a platform admin (signed in with an admin credential) may open these pages; a
//! signed-in user gets 403 on every one ([`platform`]). Each page calls the service the
//! `/v1` API or the `cognate` CLI calls for the same operation, and records mutations in
//! the platform's audit chain (tenant changes in the tenant's) under the same action names.

mod tenants;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use serde::Deserialize;

use super::{Chrome, Visit, Who, after_post, explain, when};
use crate::AppState;
use crate::api::error::ApiError;
use crate::services::admins::{self, Revoked};
use crate::services::signing_keys::{self, KeyState};
use crate::services::{clients, pools};
use crate::tenancy::{self, Placement};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/admin", get(overview))
        .route("/console/admin/pools", get(pools_page))
        .route("/console/admin/credentials", get(credentials_page).post(create_credential))
        .route("/console/admin/credentials/{id}/revoke", post(revoke_credential))
        .route("/console/admin/keys", get(keys_page))
        .route("/console/admin/keys/{pool}/rotate", post(rotate_key))
        .route("/console/admin/keys/{pool}/{kid}/retire", post(retire_key))
        .merge(tenants::routes())
}

/// The access key id of a platform admin's visit; anyone else gets the 403 page.
pub(super) fn platform<'a>(state: &AppState, visit: &'a Visit) -> Result<&'a str, Box<Response>> {
    match &visit.who {
        Who::Platform(key) => Ok(key),
        Who::User(_) => Err(Box::new(visit.refusal(
            state,
            StatusCode::FORBIDDEN,
            "Only platform administrators may open the platform portal.",
        ))),
    }
}

/// A platform admin's form, CSRF checked: the visitor is checked first, so a user is
/// refused with 403 whatever they send.
fn admin_form(state: &AppState, visit: &Visit, headers: &HeaderMap, body: &[u8]) -> Result<super::Form, Box<Response>> {
    platform(state, visit)?;
    visit.form(state, headers, body)
}

/// The notice a redirect names by a fixed code (never free text from the URL).
#[derive(Deserialize, Default)]
pub(super) struct Done {
    pub done: Option<String>,
    pub after: Option<String>,
}

impl Done {
    pub fn text(&self) -> Option<String> {
        let text = match self.done.as_deref()? {
            "created" => "Tenant created.",
            "suspended" => "Tenant suspended; its users' refresh tokens are revoked.",
            "reactivated" => "Tenant reactivated. Revoked sessions stay revoked: users sign in again.",
            "renamed" => "Tenant renamed.",
            "tier" => "Tier changed.",
            "revoked" => "Credential revoked: its signatures and sessions are refused from now on.",
            "already-revoked" => "That credential was already revoked.",
            "rotated" => "New signing key created: it signs from now on (other nodes within 5 seconds).",
            "retired" => "Key retired: it left the JWKS and tokens it signed no longer verify.",
            "already-retired" => "That key was already retired.",
            _ => return None,
        };
        Some(text.to_owned())
    }
}

/// A page cursor from the query: a valid id, or the first page. An invalid cursor is
/// refused (400) rather than sent to the database.
fn cursor<T>(
    visit: &Visit,
    state: &AppState,
    raw: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<String>, Box<Response>> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r) if parse(r).is_some() => Ok(Some(r.to_owned())),
        Some(_) => Err(Box::new(visit.refusal(state, StatusCode::BAD_REQUEST, "That page link is not valid."))),
    }
}

/// A service refusal as its own page.
fn failed(state: &AppState, visit: &Visit, e: impl Into<ApiError>) -> Response {
    let (status, text) = explain(e);
    visit.refusal(state, status, &text)
}

// ---------------------------------------------------------------------------------------
// Overview
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/admin_overview.html")]
struct OverviewPage {
    chrome: Chrome,
    database: bool,
    backend: &'static str,
    version: &'static str,
    region: String,
    public_url: String,
    tenants: Option<TenantFigures>,
    pools: Option<i64>,
    outbox_pending: Option<i64>,
    outbox_given_up: Option<i64>,
    audit_pending: usize,
    audit_lag_seconds: i64,
}

struct TenantFigures {
    total: i64,
    by_tier: Vec<(&'static str, i64)>,
    active: i64,
    suspended: i64,
}

/// `GET /console/admin`: health and figures. A figure the database cannot give now is
/// shown as unavailable (the page itself still answers, to say the database is down).
async fn overview(State(state): State<AppState>, visit: Visit, Query(done): Query<Done>) -> Response {
    if let Err(page) = platform(&state, &visit) {
        return *page;
    }
    let database = state.store.ping().await.is_ok();
    let tenants = match crate::services::tenants::census(&state).await {
        Ok(rows) => {
            use cognate_core::tenant::{TenantStatus, Tier};
            let of = |f: &dyn Fn(&cognate_core::repo::TenantCount) -> bool| {
                rows.iter().filter(|r| f(r)).map(|r| r.count).sum::<i64>()
            };
            Some(TenantFigures {
                total: of(&|_| true),
                by_tier: [Tier::Basic, Tier::Standard, Tier::Platinum]
                    .into_iter()
                    .map(|t| (t.as_str(), of(&|r| r.tier == t)))
                    .collect(),
                active: of(&|r| r.status == TenantStatus::Active),
                suspended: of(&|r| r.status == TenantStatus::Suspended),
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "portal: cannot count tenants");
            None
        }
    };
    let pools = pools::count(&state).await.ok();
    let backlog = state.store.outbox_backlog().await.ok();
    let (audit_pending, oldest) = state.audit.backlog();
    let page = OverviewPage {
        chrome: visit.chrome(&state, "Platform overview", None).with_notice(done.text()),
        database,
        backend: state.store.backend(),
        version: env!("CARGO_PKG_VERSION"),
        region: state.settings.region.clone(),
        public_url: state.settings.public_url.clone(),
        tenants,
        pools,
        outbox_pending: backlog.as_ref().map(|b| b.iter().map(|r| r.pending).sum()),
        outbox_given_up: backlog.as_ref().map(|b| b.iter().map(|r| r.given_up).sum()),
        audit_pending,
        audit_lag_seconds: oldest.map_or(0, |at| (state.clock.now_millis() - at).max(0) / 1000),
    };
    visit.page(&state, StatusCode::OK, page.render())
}

// ---------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------

/// Pools per page (each shows its clients and user count).
const POOLS_PER_PAGE: u32 = 20;
/// App clients shown per pool.
const CLIENTS_SHOWN: u32 = 50;

#[derive(Template)]
#[template(path = "console/admin_pools.html")]
struct PoolsPage {
    chrome: Chrome,
    pools: Vec<PoolRow>,
    next: Option<String>,
}

struct PoolRow {
    id: String,
    name: String,
    /// `shared`, `dedicated` or `standalone` (a pool made through the Cognito API).
    placement: &'static str,
    /// The tenant of a dedicated pool.
    tenant: Option<String>,
    users: i64,
    clients: Vec<ClientRow>,
    /// More clients than shown.
    more_clients: bool,
}

struct ClientRow {
    id: String,
    name: String,
    flows: String,
    callbacks: Vec<String>,
}

/// A page of pools, by id; `Err` is the page to answer.
async fn pool_page(
    state: &AppState,
    visit: &Visit,
    after: Option<&str>,
) -> Result<(Vec<cognate_core::pool::UserPool>, Option<String>), Box<Response>> {
    let after = cursor(visit, state, after, PoolId::parse)?;
    let req = PageRequest { after, limit: POOLS_PER_PAGE };
    let rows = pools::list(state, &req).await.map_err(|e| Box::new(failed(state, visit, pool_error(e))))?;
    Ok(cognate_core::page::finish(rows, &req, |p| p.id.to_string()))
}

/// A pool read's failure (the Cognito surface maps these; reads here fail only so).
fn pool_error(e: pools::PoolError) -> ApiError {
    match e {
        pools::PoolError::Store(e) => e.into(),
        other => ApiError::internal(other),
    }
}

fn placement_of(p: Option<Placement>) -> (&'static str, Option<String>) {
    match p {
        Some(Placement::Shared) => ("shared", None),
        Some(Placement::Dedicated(t)) => ("dedicated", Some(t.id.to_string())),
        None => ("standalone", None),
    }
}

/// `GET /console/admin/pools`: pools at a glance with their app clients (read-only).
async fn pools_page(State(state): State<AppState>, visit: Visit, Query(q): Query<Done>) -> Response {
    if let Err(page) = platform(&state, &visit) {
        return *page;
    }
    let (rows, next) = match pool_page(&state, &visit, q.after.as_deref()).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let mut pools = Vec::with_capacity(rows.len());
    for p in rows {
        match pool_row(&state, p).await {
            Ok(row) => pools.push(row),
            Err(e) => return failed(&state, &visit, e),
        }
    }
    let page = PoolsPage { chrome: visit.chrome(&state, "User pools", None), pools, next };
    visit.page(&state, StatusCode::OK, page.render())
}

async fn pool_row(state: &AppState, p: cognate_core::pool::UserPool) -> Result<PoolRow, ApiError> {
    let (placement, tenant) = placement_of(tenancy::placement(state, &p.id).await?);
    let users = pools::user_count(state, &p.id).await.map_err(pool_error)?;
    let req = PageRequest { after: None, limit: CLIENTS_SHOWN };
    let listed = clients::list(state, &p.id, &req).await.map_err(|e| match e {
        clients::ClientError::Store(e) => e.into(),
        other => ApiError::internal(other),
    })?;
    let more_clients = listed.len() > CLIENTS_SHOWN as usize;
    let clients = listed
        .into_iter()
        .take(CLIENTS_SHOWN as usize)
        .map(|c| {
            let s = &c.settings;
            let flows: Vec<&str> =
                s.allowed_oauth_flows.iter().chain(s.explicit_auth_flows.iter()).map(String::as_str).collect();
            ClientRow {
                id: c.id.to_string(),
                name: c.name.clone(),
                flows: if flows.is_empty() { "none".to_owned() } else { flows.join(", ") },
                callbacks: s.callback_urls.clone(),
            }
        })
        .collect();
    Ok(PoolRow { id: p.id.to_string(), name: p.name, placement, tenant, users, clients, more_clients })
}

// ---------------------------------------------------------------------------------------
// Admin credentials
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/admin_credentials.html")]
struct CredentialsPage {
    chrome: Chrome,
    credentials: Vec<CredentialRow>,
    description: String,
}

struct CredentialRow {
    id: String,
    description: String,
    created: String,
    revoked: Option<String>,
    /// The credential this visit is signed in with (it cannot be revoked here).
    current: bool,
}

#[derive(Template)]
#[template(path = "console/admin_credential_new.html")]
struct NewCredentialPage {
    chrome: Chrome,
    access_key_id: String,
    secret: String,
}

/// `GET /console/admin/credentials`.
async fn credentials_page(State(state): State<AppState>, visit: Visit, Query(done): Query<Done>) -> Response {
    render_credentials(&state, &visit, done.text(), None, "", StatusCode::OK).await
}

async fn render_credentials(
    state: &AppState,
    visit: &Visit,
    notice: Option<String>,
    error: Option<String>,
    description: &str,
    status: StatusCode,
) -> Response {
    let me = match platform(state, visit) {
        Ok(k) => k,
        Err(page) => return *page,
    };
    let rows = match admins::list(state.store.as_ref()).await {
        Ok(rows) => rows,
        Err(e) => return failed(state, visit, e),
    };
    let credentials = rows
        .into_iter()
        .rev()
        .map(|c| CredentialRow {
            current: c.access_key_id == me,
            id: c.access_key_id,
            description: c.description,
            created: when(c.created_at),
            revoked: c.revoked_at.map(when),
        })
        .collect();
    let chrome = visit.chrome(state, "Admin credentials", None).with_notice(notice).with_error(error);
    let page = CredentialsPage { chrome, credentials, description: description.to_owned() };
    visit.page(state, status, page.render())
}

/// `POST /console/admin/credentials`: a new credential, its secret shown on this answer
/// only (the page is `no-store`; the list shows the id alone from now on).
async fn create_credential(State(state): State<AppState>, visit: Visit, headers: HeaderMap, body: Bytes) -> Response {
    let form = match admin_form(&state, &visit, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let description = form.get("description").unwrap_or("created in the platform portal");
    let now = state.clock.now_millis();
    match admins::create(state.store.as_ref(), &state.master_key, state.rng.as_ref(), now, description).await {
        Ok(cred) => {
            visit.record(&state, "admin_credential.create", None, Some(&cred.access_key_id), Ok(()));
            let page = NewCredentialPage {
                chrome: visit.chrome(&state, "New admin credential", None),
                access_key_id: cred.access_key_id,
                secret: cred.secret_access_key,
            };
            visit.page(&state, StatusCode::OK, page.render())
        }
        Err(e) => {
            let api = ApiError::from(e);
            visit.record(&state, "admin_credential.create", None, None, Err(api.code));
            let (status, text) = explain(api);
            render_credentials(&state, &visit, None, Some(text), description, status).await
        }
    }
}

/// `POST /console/admin/credentials/{id}/revoke`. The credential this session signed in
/// with is refused: revoking it would end the session mid-task, and a portal always keeps
/// one working credential; another admin (or `cognate admin-key revoke`) revokes it.
async fn revoke_credential(
    State(state): State<AppState>,
    visit: Visit,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(page) = admin_form(&state, &visit, &headers, &body) {
        return *page;
    }
    let me = platform(&state, &visit).ok();
    match admins::revoke(state.store.as_ref(), &id, state.clock.now_millis(), me).await {
        Ok(done) => {
            visit.record(&state, "admin_credential.revoke", None, Some(&id), Ok(()));
            after_post(match done {
                Revoked::Now => "/console/admin/credentials?done=revoked",
                Revoked::Already => "/console/admin/credentials?done=already-revoked",
            })
        }
        Err(e) => {
            let api = ApiError::from(e);
            let target = id.escape_default().to_string();
            visit.record(&state, "admin_credential.revoke", None, Some(&target), Err(api.code));
            let (status, text) = explain(api);
            render_credentials(&state, &visit, None, Some(text), "", status).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Signing keys
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/admin_keys.html")]
struct KeysPage {
    chrome: Chrome,
    pools: Vec<PoolKeys>,
    next: Option<String>,
}

struct PoolKeys {
    id: String,
    name: String,
    placement: &'static str,
    tenant: Option<String>,
    keys: Vec<KeyRow>,
    /// More than one key is published: one may be retired.
    retirable: bool,
}

struct KeyRow {
    kid: String,
    created: String,
    state: &'static str,
    retired: Option<String>,
    live: bool,
}

/// `GET /console/admin/keys`: each pool's signing keys, with rotate and retire.
async fn keys_page(State(state): State<AppState>, visit: Visit, Query(q): Query<Done>) -> Response {
    render_keys(&state, &visit, &q, None, StatusCode::OK).await
}

async fn render_keys(state: &AppState, visit: &Visit, q: &Done, error: Option<String>, status: StatusCode) -> Response {
    if let Err(page) = platform(state, visit) {
        return *page;
    }
    let (rows, next) = match pool_page(state, visit, q.after.as_deref()).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let mut pools = Vec::with_capacity(rows.len());
    for p in rows {
        let placement = match tenancy::placement(state, &p.id).await {
            Ok(pl) => placement_of(pl),
            Err(e) => return failed(state, visit, e),
        };
        let keys = match signing_keys::list(state.store.as_ref(), &p.id).await {
            Ok(keys) => keys,
            Err(e) => return failed(state, visit, e),
        };
        let live = keys.iter().filter(|k| k.state != KeyState::Retired).count();
        pools.push(PoolKeys {
            id: p.id.to_string(),
            name: p.name,
            placement: placement.0,
            tenant: placement.1,
            retirable: live > 1,
            keys: keys
                .into_iter()
                .rev()
                .map(|k| KeyRow {
                    live: k.state != KeyState::Retired,
                    state: k.state.as_str(),
                    created: when(k.created_at),
                    retired: k.retired_at.map(when),
                    kid: k.kid,
                })
                .collect(),
        });
    }
    let chrome = visit.chrome(state, "Signing keys", None).with_notice(q.text()).with_error(error);
    visit.page(state, status, KeysPage { chrome, pools, next }.render())
}

/// A pool id from the path; an invalid one names no pool (the service says so).
fn pool_path(raw: &str) -> Result<PoolId, signing_keys::SigningKeyError> {
    PoolId::parse(raw).ok_or_else(|| signing_keys::SigningKeyError::PoolNotFound(raw.escape_default().to_string()))
}

/// `POST /console/admin/keys/{pool}/rotate`.
async fn rotate_key(
    State(state): State<AppState>,
    visit: Visit,
    Path(pool): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(page) = admin_form(&state, &visit, &headers, &body) {
        return *page;
    }
    let result = match pool_path(&pool) {
        Ok(id) => signing_keys::rotate_here(&state, &id).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(kid) => {
            visit.record(&state, "signing_key.rotate", None, Some(&kid), Ok(()));
            after_post("/console/admin/keys?done=rotated")
        }
        Err(e) => key_refused(&state, &visit, "signing_key.rotate", e).await,
    }
}

/// `POST /console/admin/keys/{pool}/{kid}/retire`.
async fn retire_key(
    State(state): State<AppState>,
    visit: Visit,
    Path((pool, kid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(page) = admin_form(&state, &visit, &headers, &body) {
        return *page;
    }
    let result = match pool_path(&pool) {
        Ok(id) => signing_keys::retire_here(&state, &id, &kid).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(done) => {
            visit.record(&state, "signing_key.retire", None, Some(&kid), Ok(()));
            after_post(match done {
                signing_keys::Retired::Now => "/console/admin/keys?done=retired",
                signing_keys::Retired::Already => "/console/admin/keys?done=already-retired",
            })
        }
        Err(e) => key_refused(&state, &visit, "signing_key.retire", e).await,
    }
}

async fn key_refused(state: &AppState, visit: &Visit, action: &str, e: signing_keys::SigningKeyError) -> Response {
    let api = ApiError::from(e);
    visit.record(state, action, None, None, Err(api.code));
    let (status, text) = explain(api);
    render_keys(state, visit, &Done::default(), Some(text), status).await
}

//! The portal's tenant pages, `/console/admin/tenants[/{tenant}]`: the list (paged by id)
//! with the creation form, and one tenant's page with its placement, domains and actions —
//! rename, suspend or reactivate, and a tier move behind a confirmation page that names
//! what moves (the members, between the shared pool and a dedicated one). The services
//! are `/v1`'s (`services::tenants`), audited under the same action names.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::page::PageRequest;
use cognate_core::tenant::{MembershipStatus, Tenant, TenantId, TenantStatus, Tier};

use super::{Done, admin_form, cursor, failed, platform};
use crate::AppState;
use crate::api::error::ApiError;
use crate::console::{Chrome, Form, Visit, after_post, explain, when};
use crate::services::{domains, members, tenants};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/admin/tenants", get(list_page).post(create))
        .route("/console/admin/tenants/{tenant}", get(detail))
        .route("/console/admin/tenants/{tenant}/rename", post(rename))
        .route("/console/admin/tenants/{tenant}/suspend", post(suspend))
        .route("/console/admin/tenants/{tenant}/reactivate", post(reactivate))
        .route("/console/admin/tenants/{tenant}/tier", post(confirm_tier))
        .route("/console/admin/tenants/{tenant}/tier/confirm", post(move_tier))
}

/// Tenants per page.
const PER_PAGE: u32 = 50;
/// Members counted for a tier move's confirmation page (a bigger tenant says "more than").
const MEMBERS_COUNTED: usize = 10_000;

// ---------------------------------------------------------------------------------------
// The list and creation
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/admin_tenants.html")]
struct ListPage {
    chrome: Chrome,
    tenants: Vec<TenantRow>,
    next: Option<String>,
    /// The creation form's values (kept when it is refused).
    name: String,
    id: String,
    tier: String,
}

struct TenantRow {
    id: String,
    name: String,
    tier: String,
    status: String,
    active: bool,
    placement: &'static str,
    created: String,
}

fn placement(t: &Tenant) -> &'static str {
    if t.tier.is_dedicated() { "dedicated" } else { "shared" }
}

/// `GET /console/admin/tenants`.
async fn list_page(State(state): State<AppState>, visit: Visit, Query(q): Query<Done>) -> Response {
    let values = NewValues::default();
    render_list(&state, &visit, &q, None, &values, StatusCode::OK).await
}

#[derive(Default)]
struct NewValues {
    name: String,
    id: String,
    tier: String,
}

async fn render_list(
    state: &AppState,
    visit: &Visit,
    q: &Done,
    error: Option<String>,
    values: &NewValues,
    status: StatusCode,
) -> Response {
    if let Err(page) = platform(state, visit) {
        return *page;
    }
    let after = match cursor(visit, state, q.after.as_deref(), TenantId::parse) {
        Ok(a) => a,
        Err(page) => return *page,
    };
    let req = PageRequest { after, limit: PER_PAGE };
    let rows = match tenants::list(state, &req).await {
        Ok(rows) => rows,
        Err(e) => return failed(state, visit, e),
    };
    let (rows, next) = cognate_core::page::finish(rows, &req, |t| t.id.to_string());
    let tenants = rows
        .into_iter()
        .map(|t| TenantRow {
            placement: placement(&t),
            active: t.status == TenantStatus::Active,
            id: t.id.to_string(),
            name: t.name,
            tier: t.tier.to_string(),
            status: t.status.to_string(),
            created: when(t.created_at),
        })
        .collect();
    let chrome = visit.chrome(state, "Tenants", None).with_notice(q.text()).with_error(error);
    let page =
        ListPage { chrome, tenants, next, name: values.name.clone(), id: values.id.clone(), tier: values.tier.clone() };
    visit.page(state, status, page.render())
}

/// A tier from a form; `None` when missing or unknown.
fn tier_of(form: &Form) -> Option<Tier> {
    form.get("tier").and_then(|t| t.parse().ok())
}

/// `POST /console/admin/tenants`: name, optional id, tier (`POST /v1/tenants`).
async fn create(State(state): State<AppState>, visit: Visit, headers: HeaderMap, body: Bytes) -> Response {
    let form = match admin_form(&state, &visit, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let values = NewValues {
        name: form.get("name").unwrap_or_default().to_owned(),
        id: form.get("id").unwrap_or_default().to_owned(),
        tier: form.get("tier").unwrap_or_default().to_owned(),
    };
    let first = Done::default();
    let refused = |status, text: String| render_list(&state, &visit, &first, Some(text), &values, status);
    let Some(tier) = tier_of(&form) else {
        return refused(StatusCode::BAD_REQUEST, "Choose a tier: basic, standard or platinum.".into()).await;
    };
    let new = tenants::NewTenant {
        id: form.get("id"),
        name: form.raw("name").unwrap_or_default(),
        tier,
        domains: Vec::new(),
    };
    match tenants::create(&state, new).await {
        Ok(t) => {
            visit.record(&state, "tenant.create", Some(t.id.as_str()), Some(t.id.as_str()), Ok(()));
            after_post(&format!("/console/admin/tenants/{}?done=created", t.id))
        }
        Err(e) => {
            let api = ApiError::from(e);
            visit.record(&state, "tenant.create", None, None, Err(api.code));
            let (status, text) = explain(api);
            refused(status, text).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// One tenant
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/admin_tenant.html")]
struct DetailPage {
    chrome: Chrome,
    id: String,
    name: String,
    tier: String,
    status: String,
    active: bool,
    placement: &'static str,
    pool: String,
    client: String,
    issuer: String,
    mfa: String,
    created: String,
    domains: Vec<DomainRow>,
    tiers: [&'static str; 3],
}

struct DomainRow {
    domain: String,
    verified: bool,
    auto_join: bool,
}

/// The tenant named by the path; `Err` is the 404 page.
async fn tenant_of(state: &AppState, visit: &Visit, raw: &str) -> Result<Tenant, Box<Response>> {
    let Some(id) = TenantId::parse(raw) else {
        return Err(Box::new(visit.refusal(state, StatusCode::NOT_FOUND, "No such tenant.")));
    };
    tenants::get(state, &id).await.map_err(|e| Box::new(failed(state, visit, e)))
}

/// `GET /console/admin/tenants/{tenant}`.
async fn detail(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    if let Err(page) = platform(&state, &visit) {
        return *page;
    }
    let t = match tenant_of(&state, &visit, &tenant).await {
        Ok(t) => t,
        Err(page) => return *page,
    };
    render_detail(&state, &visit, t, q.text(), None, StatusCode::OK).await
}

async fn render_detail(
    state: &AppState,
    visit: &Visit,
    t: Tenant,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let claims = match domains::list(state, &t.id).await {
        Ok(d) => d,
        Err(e) => return failed(state, visit, e),
    };
    let client = match crate::tenancy::default_client(state, &t.pool_id).await {
        Ok(c) => c.to_string(),
        Err(e) => return failed(state, visit, e),
    };
    let chrome = visit.chrome(state, &t.name, None).with_notice(notice).with_error(error);
    let page = DetailPage {
        chrome,
        id: t.id.to_string(),
        tier: t.tier.to_string(),
        status: t.status.to_string(),
        active: t.status == TenantStatus::Active,
        placement: placement(&t),
        issuer: crate::services::tokens::issuer(state, &t.pool_id),
        pool: t.pool_id.to_string(),
        client,
        mfa: t.mfa.to_string(),
        created: when(t.created_at),
        name: t.name,
        domains: claims
            .into_iter()
            .map(|d| DomainRow { domain: d.domain.to_string(), verified: d.verified, auto_join: d.auto_join })
            .collect(),
        tiers: ["basic", "standard", "platinum"],
    };
    visit.page(state, status, page.render())
}

/// Records a tenant change and answers: back to its page with `done`, or its page with
/// the refusal in `/v1`'s words.
async fn changed(
    state: &AppState,
    visit: &Visit,
    id: &TenantId,
    action: &str,
    result: Result<Tenant, tenants::TenantError>,
    done: &str,
) -> Response {
    match result {
        Ok(t) => {
            visit.record(state, action, Some(t.id.as_str()), Some(t.id.as_str()), Ok(()));
            after_post(&format!("/console/admin/tenants/{}?done={done}", t.id))
        }
        Err(e) => {
            let api = ApiError::from(e);
            visit.record(state, action, Some(id.as_str()), Some(id.as_str()), Err(api.code));
            let (status, text) = explain(api);
            match tenants::get(state, id).await {
                Ok(t) => render_detail(state, visit, t, None, Some(text), status).await,
                Err(_) => visit.refusal(state, status, &text),
            }
        }
    }
}

/// The form and the tenant of a POST on a tenant; `Err` is the page to answer.
async fn posted(
    state: &AppState,
    visit: &Visit,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Form, Tenant), Box<Response>> {
    let form = admin_form(state, visit, headers, body)?;
    Ok((form, tenant_of(state, visit, tenant).await?))
}

/// `POST /console/admin/tenants/{tenant}/rename` (`PATCH /v1/tenants/{id}`).
async fn rename(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, t) = match posted(&state, &visit, &tenant, &headers, &body).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let name = form.raw("name").unwrap_or_default();
    let result = tenants::update(&state, &t.id, Some(name), None).await;
    changed(&state, &visit, &t.id, "tenant.update", result, "renamed").await
}

/// `POST /console/admin/tenants/{tenant}/suspend`.
async fn suspend(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = match posted(&state, &visit, &tenant, &headers, &body).await {
        Ok((_, t)) => t,
        Err(page) => return *page,
    };
    let result = tenants::suspend(&state, &t.id).await;
    changed(&state, &visit, &t.id, "tenant.suspend", result, "suspended").await
}

/// `POST /console/admin/tenants/{tenant}/reactivate`.
async fn reactivate(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = match posted(&state, &visit, &tenant, &headers, &body).await {
        Ok((_, t)) => t,
        Err(page) => return *page,
    };
    let result = tenants::reactivate(&state, &t.id).await;
    changed(&state, &visit, &t.id, "tenant.reactivate", result, "reactivated").await
}

// ---------------------------------------------------------------------------------------
// Tier moves
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/admin_tier.html")]
struct ConfirmPage {
    chrome: Chrome,
    id: String,
    from: String,
    to: String,
    /// Whether the placement changes (members move between pools).
    moves: bool,
    /// `shared` → `dedicated` or back.
    from_placement: &'static str,
    to_placement: &'static str,
    from_pool: String,
    /// Active members that move, and whether there are more than counted.
    members: usize,
    more: bool,
}

/// Active members of `t`, counted up to [`MEMBERS_COUNTED`] (`true`: there are more).
async fn count_members(state: &AppState, t: &Tenant) -> Result<(usize, bool), members::MembershipError> {
    let mut req = PageRequest { after: None, limit: 500 };
    let mut count = 0;
    loop {
        let rows = members::list_members(state, &t.id, &req).await?;
        let (rows, next) = cognate_core::page::finish(rows, &req, |m| m.sub.clone());
        count += rows.iter().filter(|m| m.status == MembershipStatus::Active).count();
        match next {
            Some(after) if count < MEMBERS_COUNTED => req.after = Some(after),
            Some(_) => return Ok((count, true)),
            None => return Ok((count, false)),
        }
    }
}

/// `POST /console/admin/tenants/{tenant}/tier`: the confirmation page of a tier move
/// (nothing changes yet).
async fn confirm_tier(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, t) = match posted(&state, &visit, &tenant, &headers, &body).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let Some(tier) = tier_of(&form) else {
        let text = "Choose a tier: basic, standard or platinum.".to_owned();
        return render_detail(&state, &visit, t, None, Some(text), StatusCode::BAD_REQUEST).await;
    };
    if tier == t.tier {
        let text = format!("The tenant is already on the {tier} tier.");
        return render_detail(&state, &visit, t, None, Some(text), StatusCode::BAD_REQUEST).await;
    }
    let (members, more) = match count_members(&state, &t).await {
        Ok(counted) => counted,
        Err(e) => return failed(&state, &visit, e),
    };
    let to_placement = if tier.is_dedicated() { "dedicated" } else { "shared" };
    let page = ConfirmPage {
        chrome: visit.chrome(&state, &format!("Move {} to {tier}?", t.name), None),
        id: t.id.to_string(),
        from: t.tier.to_string(),
        to: tier.to_string(),
        moves: t.tier.is_dedicated() != tier.is_dedicated(),
        from_placement: placement(&t),
        to_placement,
        from_pool: t.pool_id.to_string(),
        members,
        more,
    };
    visit.page(&state, StatusCode::OK, page.render())
}

/// `POST /console/admin/tenants/{tenant}/tier/confirm` (`PUT /v1/tenants/{id}/tier`):
/// the move itself, in one transaction; the answer comes when it is done.
async fn move_tier(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, t) = match posted(&state, &visit, &tenant, &headers, &body).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let Some(tier) = tier_of(&form) else {
        let text = "Choose a tier: basic, standard or platinum.".to_owned();
        return render_detail(&state, &visit, t, None, Some(text), StatusCode::BAD_REQUEST).await;
    };
    let result = tenants::set_tier(&state, &t.id, tier).await;
    changed(&state, &visit, &t.id, "tenant.tier", result, "tier").await
}

//! Webhook endpoints in the consoles: a tenant's at `/console/t/{tenant}/webhooks` (its
//! admins and platform admins, as `/v1/tenants/{t}/webhooks`) and the platform's at
//! `/console/admin/webhooks` (platform admins, as `/v1/webhooks`). The same pages serve
//! both: the path says whose endpoints they are, and the visitor's right is the `/v1`
//! decision for that owner ([`Scope`]).
//!
//! List, create (the secret shown once), edit the URL, description and event filter,
//! enable or disable, rotate the secret (the new one shown once), send a test event,
//! delete behind a confirmation page, and the delivery log of each endpoint (newest first,
//! paged) with a replay button. Every change goes through [`crate::services::webhooks`],
//! the functions `/v1` calls, and is recorded under `/v1`'s actions (`webhook.create`,
//! `webhook.update`, `webhook.rotate_secret`, `webhook.test`, `webhook.delete`,
//! `webhook.replay`). An endpoint id from the path is looked up within the page's owner
//! only: another tenant's id is "not found" and nothing changes.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::page::{self, PageRequest};
use cognate_core::webhook::{DeliveryStatus, WebhookDelivery, WebhookEndpoint};
use serde::Deserialize;

use super::{Chrome, Form, Visit, after_post, explain, when};
use crate::AppState;
use crate::api::error::ApiError;
use crate::services::access::{Need, TenantAccess};
use crate::services::webhooks::{self, EndpointChanges, LoggedDelivery, NewEndpoint, WebhookError};

pub(super) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for base in ["/console/t/{tenant}/webhooks", "/console/admin/webhooks"] {
        router = router
            .route(base, get(list_page).post(create))
            .route(&format!("{base}/{{id}}"), get(endpoint_page))
            .route(&format!("{base}/{{id}}/update"), post(update))
            .route(&format!("{base}/{{id}}/enable"), post(enable))
            .route(&format!("{base}/{{id}}/disable"), post(disable))
            .route(&format!("{base}/{{id}}/rotate"), post(rotate))
            .route(&format!("{base}/{{id}}/test"), post(test))
            .route(&format!("{base}/{{id}}/delete"), get(confirm_delete).post(delete))
            .route(&format!("{base}/{{id}}/deliveries/{{delivery}}/replay"), post(replay));
    }
    router
}

/// Endpoints per page of the list.
const ENDPOINTS_PER_PAGE: u32 = 50;
/// Deliveries per page of the log.
const DELIVERIES_PER_PAGE: u32 = 20;
/// The longest error excerpt the log shows (characters).
const EXCERPT_CHARS: usize = 160;

// ---------------------------------------------------------------------------------------
// Whose endpoints
// ---------------------------------------------------------------------------------------

/// Whose endpoints a page shows, once the visitor's right to them is established.
enum Scope {
    /// A tenant's, for its admins and platform admins (`Need::TenantAdmin`, as `/v1`).
    Tenant(Box<TenantAccess>),
    /// The platform's, for platform admins only.
    Platform,
}

impl Scope {
    fn owner(&self) -> String {
        match self {
            Scope::Tenant(a) => webhooks::owner_of(Some(&a.tenant.id)),
            Scope::Platform => webhooks::owner_of(None),
        }
    }

    /// The path of the list.
    fn base(&self) -> String {
        match self {
            Scope::Tenant(a) => format!("/console/t/{}/webhooks", a.tenant.id),
            Scope::Platform => "/console/admin/webhooks".to_owned(),
        }
    }

    fn access(&self) -> Option<&TenantAccess> {
        match self {
            Scope::Tenant(a) => Some(a.as_ref()),
            Scope::Platform => None,
        }
    }

    /// The audit chain of its changes: the tenant's, or the platform's (`None`).
    fn chain(&self) -> Option<&str> {
        self.access().map(|a| a.tenant.id.as_str())
    }
}

type Params = HashMap<String, String>;

fn param<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map_or("", String::as_str)
}

/// The visitor's right to read the endpoints the path names.
async fn scope(state: &AppState, visit: &Visit, params: &Params) -> Result<Scope, Box<Response>> {
    match params.get("tenant") {
        Some(tenant) => visit.tenant(state, tenant, Need::TenantAdmin).await.map(|a| Scope::Tenant(Box::new(a))),
        None => super::admin::platform(state, visit).map(|_| Scope::Platform),
    }
}

/// A form's fields (CSRF checked) and the visitor's right to change the endpoints the
/// path names. On the platform's pages a user is refused (403) whatever they send.
async fn act(
    state: &AppState,
    visit: &Visit,
    params: &Params,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Form, Scope), Box<Response>> {
    match params.get("tenant") {
        Some(tenant) => {
            let (form, access) = visit.act(state, tenant, Need::TenantAdmin, headers, body).await?;
            Ok((form, Scope::Tenant(Box::new(access))))
        }
        None => {
            super::admin::platform(state, visit)?;
            Ok((visit.form(state, headers, body)?, Scope::Platform))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------

/// An endpoint as the pages show it (never its secret).
struct EndpointRow {
    id: String,
    url: String,
    description: String,
    /// The event filter in words: the types, or "every event".
    events: String,
    enabled: bool,
    /// "enabled", or "disabled" and why.
    state: String,
    /// The newest delivery's outcome, or "none yet".
    last: String,
    created: String,
}

impl EndpointRow {
    fn new(e: &WebhookEndpoint, last: Option<&WebhookDelivery>) -> Self {
        let state = match (e.enabled, &e.disabled_reason) {
            (true, _) => "enabled".to_owned(),
            (false, Some(reason)) => format!("disabled by Cognate: {reason}"),
            (false, None) => "disabled by an admin".to_owned(),
        };
        Self {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            events: if e.event_types.is_empty() { "every event".to_owned() } else { e.event_types.join(", ") },
            enabled: e.enabled,
            state,
            last: last.map_or_else(|| "none yet".to_owned(), outcome),
            created: when(e.created_at),
        }
    }
}

/// A delivery's outcome in words: "delivered (204) at …", "failed (500) after 3 attempts", …
fn outcome(d: &WebhookDelivery) -> String {
    let code = d.last_status_code.map(|c| format!(" ({c})")).unwrap_or_default();
    match d.status {
        DeliveryStatus::Delivered => format!("delivered{code}, {}", when(d.delivered_at.unwrap_or(d.created_at))),
        DeliveryStatus::Failed => format!("failed{code} after {} attempts, {}", d.attempts, when(d.created_at)),
        DeliveryStatus::Pending if d.attempts == 0 => format!("pending, {}", when(d.created_at)),
        DeliveryStatus::Pending => format!("retrying{code} after {} attempts", d.attempts),
    }
}

/// One line of the delivery log.
struct DeliveryRow {
    id: String,
    event_type: String,
    created: String,
    status: &'static str,
    ok: bool,
    attempts: i64,
    /// The last attempt's HTTP status, or "none".
    code: String,
    /// The last attempt's latency, or empty.
    latency: String,
    /// The last attempt's error or the start of its answer, cut short.
    excerpt: String,
}

impl DeliveryRow {
    fn new(d: &LoggedDelivery) -> Self {
        let last = d.attempts.last();
        let excerpt = last
            .and_then(|a| a.error.clone().or_else(|| a.excerpt.clone()))
            .or_else(|| d.delivery.last_error.clone())
            .unwrap_or_default();
        let code = last.and_then(|a| a.status_code).or(d.delivery.last_status_code);
        Self {
            id: d.delivery.id.clone(),
            event_type: d.delivery.event_type.clone(),
            created: when(d.delivery.created_at),
            status: d.delivery.status.as_str(),
            ok: d.delivery.status == DeliveryStatus::Delivered,
            attempts: d.delivery.attempts,
            code: code.map_or_else(|| "none".to_owned(), |c| c.to_string()),
            latency: last.map(|a| format!("{} ms", a.latency_ms)).unwrap_or_default(),
            excerpt: cut(&excerpt, EXCERPT_CHARS),
        }
    }
}

fn cut(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(chars).collect();
    out.push('…');
    out
}

/// The event filter's choices: each type, and whether `chosen` has it.
fn event_choices(chosen: &[String]) -> Vec<(&'static str, bool)> {
    webhooks::subscribable_types().map(|t| (t, chosen.iter().any(|c| c == t))).collect()
}

/// The checked event types of a form (boxes named `event_{type}`); none: every event.
fn events_of(form: &Form) -> Vec<String> {
    form.flagged("event_").into_iter().map(str::to_owned).collect()
}

/// A page cursor: an id of the expected shape (`{prefix}` and letters or digits), or
/// `Err` (refused rather than sent to the database).
fn cursor(raw: Option<&str>, prefix: &str) -> Result<Option<String>, ()> {
    match raw.filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(r)
            if r.len() <= 64
                && r.strip_prefix(prefix).is_some_and(|rest| rest.chars().all(|c| c.is_ascii_alphanumeric())) =>
        {
            Ok(Some(r.to_owned()))
        }
        Some(_) => Err(()),
    }
}

/// The query of the pages: a notice by fixed code, a page cursor, a status filter.
#[derive(Deserialize, Default)]
struct PageQuery {
    done: Option<String>,
    after: Option<String>,
    status: Option<String>,
}

impl PageQuery {
    fn notice(&self) -> Option<String> {
        let text = match self.done.as_deref()? {
            "updated" => "Endpoint saved.",
            "enabled" => "Endpoint enabled: events are sent to it again.",
            "disabled" => "Endpoint disabled: no events are sent to it until it is enabled.",
            "tested" => "Test event queued; its delivery appears in the log below.",
            "replayed" => "Delivery queued again, with the same webhook-id.",
            "deleted" => "Endpoint deleted, with its delivery log.",
            _ => return None,
        };
        Some(text.to_owned())
    }
}

// ---------------------------------------------------------------------------------------
// The list, and create
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    platform: bool,
    endpoints: Vec<EndpointRow>,
    next: Option<String>,
    /// The create form, as sent when it was refused.
    url: String,
    description: String,
    events: Vec<(&'static str, bool)>,
}

/// What the create form held, to offer it again after a refusal.
#[derive(Default)]
struct Draft {
    url: String,
    description: String,
    events: Vec<String>,
}

/// `GET …/webhooks`: the endpoints, each with its newest delivery.
async fn list_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    Query(q): Query<PageQuery>,
) -> Response {
    let scope = match scope(&state, &visit, &params).await {
        Ok(s) => s,
        Err(page) => return *page,
    };
    render_list(&state, &visit, &scope, &q, None, Draft::default(), StatusCode::OK).await
}

async fn render_list(
    state: &AppState,
    visit: &Visit,
    scope: &Scope,
    q: &PageQuery,
    error: Option<String>,
    draft: Draft,
    status: StatusCode,
) -> Response {
    let Ok(after) = cursor(q.after.as_deref(), "whep_") else {
        return visit.refusal(state, StatusCode::BAD_REQUEST, "That page link is not valid.");
    };
    let req = PageRequest { after, limit: ENDPOINTS_PER_PAGE };
    let rows = match webhooks::overview(state, &scope.owner(), &req).await {
        Ok(rows) => rows,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(state, status, &text);
        }
    };
    let (rows, next) = page::finish(rows, &req, |s| s.endpoint.id.clone());
    let title = if scope.access().is_some() { "Webhooks" } else { "Platform webhooks" };
    let page = ListPage {
        chrome: visit.chrome(state, title, scope.access()).with_notice(q.notice()).with_error(error),
        base: scope.base(),
        platform: scope.access().is_none(),
        endpoints: rows.iter().map(|s| EndpointRow::new(&s.endpoint, s.last_delivery.as_ref())).collect(),
        next,
        url: draft.url,
        description: draft.description,
        events: event_choices(&draft.events),
    };
    visit.page(state, status, page.render())
}

#[derive(Template)]
#[template(path = "console/webhook_secret.html")]
struct SecretPage {
    chrome: Chrome,
    base: String,
    endpoint: EndpointRow,
    secret: String,
    /// For a rotation: until when the previous secret still signs.
    previous_until: Option<String>,
}

fn shown_once(
    state: &AppState,
    visit: &Visit,
    scope: &Scope,
    endpoint: &WebhookEndpoint,
    secret: String,
    title: &str,
) -> Response {
    let page = SecretPage {
        chrome: visit.chrome(state, title, scope.access()),
        base: scope.base(),
        endpoint: EndpointRow::new(endpoint, None),
        secret,
        previous_until: endpoint.previous_until.map(when),
    };
    visit.page(state, StatusCode::OK, page.render())
}

/// `POST …/webhooks`: a new endpoint; the answer shows its secret, once.
async fn create(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, scope) = match act(&state, &visit, &params, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let draft = Draft {
        url: form.get("url").unwrap_or_default().to_owned(),
        description: form.get("description").unwrap_or_default().to_owned(),
        events: events_of(&form),
    };
    let new = NewEndpoint {
        url: draft.url.clone(),
        description: draft.description.clone(),
        event_types: draft.events.clone(),
        enabled: true,
    };
    match webhooks::create(&state, &scope.owner(), new).await {
        Ok((endpoint, secret)) => {
            visit.record(&state, "webhook.create", scope.chain(), Some(&endpoint.id), Ok(()));
            shown_once(&state, &visit, &scope, &endpoint, secret, "Webhook endpoint created")
        }
        Err(e) => {
            let api = ApiError::from(e);
            visit.record(&state, "webhook.create", scope.chain(), None, Err(api.code));
            let (status, text) = explain(api);
            render_list(&state, &visit, &scope, &PageQuery::default(), Some(text), draft, status).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// One endpoint and its delivery log
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/webhook.html")]
struct EndpointPage {
    chrome: Chrome,
    base: String,
    endpoint: EndpointRow,
    events: Vec<(&'static str, bool)>,
    /// While a rotated-out secret still signs: until when.
    previous_until: Option<String>,
    deliveries: Vec<DeliveryRow>,
    /// The status the log is filtered by ("" for all).
    status: String,
    /// The next page's query (`after=…&status=…`).
    next: Option<String>,
    paged: bool,
}

/// `GET …/webhooks/{id}`: the endpoint, its forms and its delivery log.
async fn endpoint_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    Query(q): Query<PageQuery>,
) -> Response {
    let scope = match scope(&state, &visit, &params).await {
        Ok(s) => s,
        Err(page) => return *page,
    };
    render_endpoint(&state, &visit, &scope, param(&params, "id"), &q, None, StatusCode::OK).await
}

async fn render_endpoint(
    state: &AppState,
    visit: &Visit,
    scope: &Scope,
    id: &str,
    q: &PageQuery,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let refuse = |e: WebhookError| {
        let (status, text) = explain(e);
        visit.refusal(state, status, &text)
    };
    let filter = match q.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match DeliveryStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                return visit.refusal(
                    state,
                    StatusCode::BAD_REQUEST,
                    "The status must be pending, delivered or failed.",
                );
            }
        },
    };
    let Ok(after) = cursor(q.after.as_deref(), "msg_") else {
        return visit.refusal(state, StatusCode::BAD_REQUEST, "That page link is not valid.");
    };
    let owner = scope.owner();
    let endpoint = match webhooks::get(state, &owner, id).await {
        Ok(e) => e,
        Err(e) => return refuse(e),
    };
    let req = PageRequest { after, limit: DELIVERIES_PER_PAGE };
    let log = match webhooks::delivery_log(state, &owner, id, filter, &req).await {
        Ok(log) => log,
        Err(e) => return refuse(e),
    };
    let (log, next) = page::finish(log, &req, |d| d.delivery.id.clone());
    let status_text = filter.map_or("", DeliveryStatus::as_str);
    let page = EndpointPage {
        chrome: visit
            .chrome(state, &format!("Webhook endpoint {}", endpoint.id), scope.access())
            .with_notice(q.notice())
            .with_error(error),
        base: scope.base(),
        events: event_choices(&endpoint.event_types),
        previous_until: endpoint.previous_until.filter(|u| *u > state.clock.now_millis()).map(when),
        endpoint: EndpointRow::new(
            &endpoint,
            log.first().map(|d| &d.delivery).filter(|_| !q.paged() && filter.is_none()),
        ),
        deliveries: log.iter().map(DeliveryRow::new).collect(),
        status: status_text.to_owned(),
        next: next.map(|n| format!("after={n}&status={status_text}")),
        paged: q.paged(),
    };
    visit.page(state, status, page.render())
}

impl PageQuery {
    fn paged(&self) -> bool {
        self.after.as_deref().is_some_and(|a| !a.is_empty())
    }
}

/// Records a refused change and shows the endpoint's page with the refusal in `/v1`'s
/// words (an unknown endpoint: the refusal page, 404).
async fn refused(state: &AppState, visit: &Visit, scope: &Scope, action: &str, id: &str, e: WebhookError) -> Response {
    let api = ApiError::from(e);
    let target = id.escape_default().to_string();
    visit.record(state, action, scope.chain(), Some(&target), Err(api.code));
    let (status, text) = explain(api);
    if status == StatusCode::NOT_FOUND {
        return visit.refusal(state, status, &text);
    }
    render_endpoint(state, visit, scope, id, &PageQuery::default(), Some(text), status).await
}

/// After a change: back to the endpoint's page with a notice.
fn done(scope: &Scope, id: &str, code: &str) -> Response {
    after_post(&format!("{}/{}?done={code}", scope.base(), super::urlencoding(id)))
}

/// Applies `changes` as `PATCH /v1/…/webhooks/{id}` does.
async fn change(
    state: &AppState,
    visit: &Visit,
    scope: &Scope,
    id: &str,
    changes: EndpointChanges,
    code: &str,
) -> Response {
    match webhooks::update(state, &scope.owner(), id, changes).await {
        Ok(_) => {
            visit.record(state, "webhook.update", scope.chain(), Some(id), Ok(()));
            done(scope, id, code)
        }
        Err(e) => refused(state, visit, scope, "webhook.update", id, e).await,
    }
}

/// `POST …/webhooks/{id}/update`: URL, description and event filter (the form sends them
/// all; no event checked is every event).
async fn update(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, scope) = match act(&state, &visit, &params, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let changes = EndpointChanges {
        url: Some(form.get("url").unwrap_or_default().to_owned()),
        description: Some(form.get("description").unwrap_or_default().to_owned()),
        event_types: Some(events_of(&form)),
        enabled: None,
    };
    change(&state, &visit, &scope, param(&params, "id"), changes, "updated").await
}

/// `POST …/webhooks/{id}/enable` (clears the reason Cognate disabled it for).
async fn enable(
    state: State<AppState>,
    visit: Visit,
    params: Path<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    switch(state, visit, params, headers, body, true).await
}

/// `POST …/webhooks/{id}/disable`.
async fn disable(
    state: State<AppState>,
    visit: Visit,
    params: Path<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    switch(state, visit, params, headers, body, false).await
}

/// Turns an endpoint on or off.
async fn switch(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    headers: HeaderMap,
    body: Bytes,
    enabled: bool,
) -> Response {
    let scope = match act(&state, &visit, &params, &headers, &body).await {
        Ok((_, scope)) => scope,
        Err(page) => return *page,
    };
    let changes = EndpointChanges { enabled: Some(enabled), ..EndpointChanges::default() };
    change(&state, &visit, &scope, param(&params, "id"), changes, if enabled { "enabled" } else { "disabled" }).await
}

/// `POST …/webhooks/{id}/rotate`: the new secret, shown once (the old one signs beside it
/// for 24 hours).
async fn rotate(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = match act(&state, &visit, &params, &headers, &body).await {
        Ok((_, scope)) => scope,
        Err(page) => return *page,
    };
    let id = param(&params, "id");
    match webhooks::rotate_secret(&state, &scope.owner(), id).await {
        Ok((endpoint, secret)) => {
            visit.record(&state, "webhook.rotate_secret", scope.chain(), Some(id), Ok(()));
            shown_once(&state, &visit, &scope, &endpoint, secret, "Webhook secret rotated")
        }
        Err(e) => refused(&state, &visit, &scope, "webhook.rotate_secret", id, e).await,
    }
}

/// `POST …/webhooks/{id}/test`: a `webhook.test` event to this endpoint now.
async fn test(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = match act(&state, &visit, &params, &headers, &body).await {
        Ok((_, scope)) => scope,
        Err(page) => return *page,
    };
    let id = param(&params, "id");
    match webhooks::send_test(&state, &scope.owner(), id).await {
        Ok(_) => {
            visit.record(&state, "webhook.test", scope.chain(), Some(id), Ok(()));
            done(&scope, id, "tested")
        }
        Err(e) => refused(&state, &visit, &scope, "webhook.test", id, e).await,
    }
}

/// `POST …/webhooks/{id}/deliveries/{delivery}/replay`: the delivery again, with the same
/// `webhook-id`.
async fn replay(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = match act(&state, &visit, &params, &headers, &body).await {
        Ok((_, scope)) => scope,
        Err(page) => return *page,
    };
    let (id, delivery) = (param(&params, "id"), param(&params, "delivery"));
    match webhooks::replay(&state, &scope.owner(), id, delivery).await {
        Ok(_) => {
            visit.record(&state, "webhook.replay", scope.chain(), Some(delivery), Ok(()));
            done(&scope, id, "replayed")
        }
        Err(e) => {
            let api = ApiError::from(e);
            let target = delivery.escape_default().to_string();
            visit.record(&state, "webhook.replay", scope.chain(), Some(&target), Err(api.code));
            let (status, text) = explain(api);
            if status == StatusCode::NOT_FOUND {
                return visit.refusal(&state, status, &text);
            }
            render_endpoint(&state, &visit, &scope, id, &PageQuery::default(), Some(text), status).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Delete, behind a confirmation
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/webhook_delete.html")]
struct DeletePage {
    chrome: Chrome,
    base: String,
    endpoint: EndpointRow,
}

/// `GET …/webhooks/{id}/delete`: what deleting removes, and the button that does it.
async fn confirm_delete(State(state): State<AppState>, visit: Visit, Path(params): Path<Params>) -> Response {
    let scope = match scope(&state, &visit, &params).await {
        Ok(s) => s,
        Err(page) => return *page,
    };
    match webhooks::get(&state, &scope.owner(), param(&params, "id")).await {
        Ok(endpoint) => {
            let page = DeletePage {
                chrome: visit.chrome(&state, "Delete a webhook endpoint", scope.access()),
                base: scope.base(),
                endpoint: EndpointRow::new(&endpoint, None),
            };
            visit.page(&state, StatusCode::OK, page.render())
        }
        Err(e) => {
            let (status, text) = explain(e);
            visit.refusal(&state, status, &text)
        }
    }
}

/// `POST …/webhooks/{id}/delete`: the endpoint and its delivery log go.
async fn delete(
    State(state): State<AppState>,
    visit: Visit,
    Path(params): Path<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let scope = match act(&state, &visit, &params, &headers, &body).await {
        Ok((_, scope)) => scope,
        Err(page) => return *page,
    };
    let id = param(&params, "id");
    match webhooks::delete(&state, &scope.owner(), id).await {
        Ok(()) => {
            visit.record(&state, "webhook.delete", scope.chain(), Some(id), Ok(()));
            after_post(&format!("{}?done=deleted", scope.base()))
        }
        Err(e) => refused(&state, &visit, &scope, "webhook.delete", id, e).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_ids_of_the_list() {
        assert_eq!(cursor(None, "msg_"), Ok(None));
        assert_eq!(cursor(Some(""), "msg_"), Ok(None));
        assert_eq!(cursor(Some("msg_01ab"), "msg_"), Ok(Some("msg_01ab".into())));
        for bad in ["whep_x", "msg_a'b", "msg_\0", "msg_a/b", &format!("msg_{}", "a".repeat(80))] {
            assert_eq!(cursor(Some(bad), "msg_"), Err(()), "{bad:?}");
        }
    }

    #[test]
    fn excerpts_are_cut_short() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("abcdef", 3), "abc…");
    }

    #[test]
    fn the_filter_never_offers_the_test_event() {
        let choices = event_choices(&["user.created".to_owned()]);
        assert!(choices.iter().all(|(t, _)| *t != "webhook.test"));
        assert!(choices.contains(&("user.created", true)));
        assert!(choices.contains(&("user.deleted", false)));
    }
}

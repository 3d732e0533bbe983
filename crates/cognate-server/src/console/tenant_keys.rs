//! A tenant's API keys and their usage in the tenant console:
//! `/console/t/{tenant}/keys` (list, create, update, rotate, revoke) and
//! `/console/t/{tenant}/usage` (calls per key per day over 30 days).
//!
//! Tenant admins only, as `/v1` (`Need::TenantAdmin`). Every change goes through
//! [`crate::services::api_keys`], the functions `/v1` calls, so the same input is refused
//! with the same words, and is recorded under `/v1`'s audit actions (`api_key.create`,
//! `api_key.update`, `api_key.rotate`, `api_key.revoke`). A key id from the path is looked
//! up within the page's tenant only: another tenant's id is "not found" and nothing changes.
//! A new key's plaintext is in the answer to the form that made it, and nowhere else.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::apikey::{self, ApiKey, KeyStatus, RateLimit};
use cognate_core::page::PageRequest;

use super::chart::{self, Bar};
use super::tenant::Notice;
use super::{Chrome, Form, Visit, after_post, explain, when};
use crate::AppState;
use crate::api::error::ApiError;
use crate::services::access::{Need, TenantAccess};
use crate::services::api_keys::{self, ApiKeyError, KeyChanges, KeyInputError, NewKey};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/keys", get(keys_page).post(create))
        .route("/console/t/{tenant}/keys/{id}/update", post(update))
        .route("/console/t/{tenant}/keys/{id}/rotate", post(rotate))
        .route("/console/t/{tenant}/keys/{id}/revoke", post(revoke))
        .route("/console/t/{tenant}/usage", get(usage_page))
}

/// The most keys a page lists (newest ids are not ordered by time: the list is by id).
const KEYS_SHOWN: u32 = 200;
/// Days the usage page covers, today included.
const USAGE_DAYS: i64 = 30;

/// Grace periods a rotation offers (seconds, label): `/v1` accepts 0 to 30 days.
pub(super) const GRACE_CHOICES: &[(i64, &str)] = &[
    (0, "none: the old key stops now"),
    (3_600, "1 hour"),
    (api_keys::DEFAULT_GRACE_SECS, "24 hours"),
    (7 * 86_400, "7 days"),
    (api_keys::MAX_GRACE_SECS, "30 days"),
];

// ---------------------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    chrome: Chrome,
    tenant: String,
    keys: Vec<KeyRow>,
    graces: Vec<(i64, &'static str)>,
    default_grace: i64,
}

/// A key as the list shows it (never the key itself).
pub(super) struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub service_account: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    pub state: &'static str,
    pub active: bool,
    pub revocable: bool,
    pub rate_limit: String,
    pub rate_requests: String,
    pub rate_per: String,
}

impl KeyRow {
    pub(super) fn new(k: &ApiKey, now: i64) -> Self {
        let status = k.status(now);
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            prefix: k.display_prefix.clone(),
            scopes: k.scopes.join(" "),
            service_account: k.service_account.clone().unwrap_or_default(),
            created: when(k.created_at),
            expires: k.expires_at.map_or_else(|| "never".to_owned(), when),
            last_used: k.last_used_at.map_or_else(|| "never".to_owned(), when),
            state: state_name(status),
            active: status == KeyStatus::Active,
            revocable: status != KeyStatus::Revoked,
            rate_limit: rate_text(k.rate_limit),
            rate_requests: k.rate_limit.map(|r| r.requests.to_string()).unwrap_or_default(),
            rate_per: k.rate_limit.map(|r| r.per_seconds.to_string()).unwrap_or_default(),
        }
    }
}

/// A key's state in words: a rotated key still accepted is "rotated-in-grace".
fn state_name(status: KeyStatus) -> &'static str {
    match status {
        KeyStatus::Active => "active",
        KeyStatus::Rotating => "rotated-in-grace",
        KeyStatus::Rotated => "rotated",
        KeyStatus::Revoked => "revoked",
        KeyStatus::Expired => "expired",
    }
}

/// "100 per 60 s", or "none".
pub(super) fn rate_text(limit: Option<RateLimit>) -> String {
    limit.map_or_else(|| "none".to_owned(), |r| format!("{} per {} s", r.requests, r.per_seconds))
}

async fn keys_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::TenantAdmin).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    render_keys(&state, &visit, &access, notice.text(), None, StatusCode::OK).await
}

/// The tenant's keys (the first [`KEYS_SHOWN`]), as rows.
pub(super) async fn key_rows(state: &AppState, access: &TenantAccess) -> Result<Vec<KeyRow>, (StatusCode, String)> {
    let req = PageRequest { after: None, limit: KEYS_SHOWN };
    let keys = api_keys::list(state, &access.tenant.id, &req).await.map_err(explain)?;
    let now = state.clock.now_millis();
    let mut rows: Vec<KeyRow> = keys.iter().take(KEYS_SHOWN as usize).map(|k| KeyRow::new(k, now)).collect();
    // Usable keys first.
    rows.sort_by_key(|r| !matches!(r.state, "active" | "rotated-in-grace"));
    Ok(rows)
}

async fn render_keys(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let keys = match key_rows(state, access).await {
        Ok(rows) => rows,
        Err((status, text)) => return visit.refusal(state, status, &text),
    };
    let chrome = visit.chrome(state, "API keys", Some(access)).with_notice(notice).with_error(error);
    let page = KeysPage {
        chrome,
        tenant: access.tenant.id.to_string(),
        keys,
        graces: GRACE_CHOICES.to_vec(),
        default_grace: api_keys::DEFAULT_GRACE_SECS,
    };
    visit.page(state, status, page.render())
}

// ---------------------------------------------------------------------------------------
// Reading the forms
// ---------------------------------------------------------------------------------------

/// Scopes as typed: separated by spaces, commas or new lines.
fn scopes_of(form: &Form) -> Vec<String> {
    form.raw("scopes")
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The rate limit fields: both empty is no limit; anything not a pair of numbers is the
/// service's own refusal.
fn rate_limit_of(form: &Form) -> Result<Option<RateLimit>, KeyInputError> {
    match (form.get("rate_requests"), form.get("rate_per_seconds")) {
        (None, None) => Ok(None),
        (Some(r), Some(p)) => match (r.parse::<u32>(), p.parse::<u32>()) {
            (Ok(requests), Ok(per_seconds)) => Ok(Some(RateLimit { requests, per_seconds })),
            _ => Err(KeyInputError::RateLimit),
        },
        _ => Err(KeyInputError::RateLimit),
    }
}

/// The lifetime in seconds: empty is "never expires"; anything not a number is the
/// service's own refusal.
fn expiry_of(form: &Form) -> Result<Option<i64>, KeyInputError> {
    form.get("expires_in_seconds").map(|s| s.parse::<i64>().map_err(|_| KeyInputError::Expiry)).transpose()
}

fn label_of(form: &Form) -> Option<String> {
    form.raw("service_account").filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------
// Create, rotate: the answer shows the key once
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/key_created.html")]
struct KeyCreatedPage {
    chrome: Chrome,
    tenant: String,
    key: KeyRow,
    secret: String,
    /// For a rotation: when the old key stops working.
    old_until: Option<String>,
}

/// `POST /console/t/{tenant}/keys`: a new key, shown once.
async fn create(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, access) = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let read = || -> Result<NewKey, KeyInputError> {
        Ok(NewKey {
            name: form.raw("name").unwrap_or_default().to_owned(),
            scopes: scopes_of(&form),
            expires_in_seconds: expiry_of(&form)?,
            rate_limit: rate_limit_of(&form)?,
            service_account: label_of(&form),
        })
    };
    let result = match read() {
        Ok(new) => api_keys::create(&state, &access.tenant.id, &access.actor, new).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok((record, secret)) => {
            visit.record(&state, "api_key.create", Some(access.tenant.id.as_str()), Some(&record.id), Ok(()));
            shown_once(&state, &visit, &access, &record, secret, None, "API key created")
        }
        Err(e) => refused(&state, &visit, &access, "api_key.create", None, e).await,
    }
}

/// `POST /console/t/{tenant}/keys/{id}/rotate`: the successor, shown once.
async fn rotate(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, access) = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let grace = match form.get("grace_period_seconds").map(str::parse::<i64>).transpose() {
        Ok(g) => g,
        Err(_) => {
            let e = ApiKeyError::Invalid(KeyInputError::Grace);
            return refused(&state, &visit, &access, "api_key.rotate", Some(&id), e).await;
        }
    };
    match api_keys::rotate(&state, &access.tenant.id, &id, grace, &access.actor).await {
        Ok((record, secret)) => {
            visit.record(&state, "api_key.rotate", Some(access.tenant.id.as_str()), Some(&id), Ok(()));
            let until = api_keys::get(&state, &access.tenant.id, &id).await.ok().and_then(|old| old.grace_until);
            shown_once(&state, &visit, &access, &record, secret, until.map(when), "API key rotated")
        }
        Err(e) => refused(&state, &visit, &access, "api_key.rotate", Some(&id), e).await,
    }
}

fn shown_once(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    record: &ApiKey,
    secret: String,
    old_until: Option<String>,
    title: &str,
) -> Response {
    let page = KeyCreatedPage {
        chrome: visit.chrome(state, title, Some(access)),
        tenant: access.tenant.id.to_string(),
        key: KeyRow::new(record, state.clock.now_millis()),
        secret,
        old_until,
    };
    visit.page(state, StatusCode::OK, page.render())
}

/// Records a refused change and shows the list with the refusal in `/v1`'s words (an
/// unknown key: the list answered 404).
async fn refused(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    action: &str,
    target: Option<&str>,
    e: ApiKeyError,
) -> Response {
    let api = ApiError::from(e);
    visit.record(state, action, Some(access.tenant.id.as_str()), target, Err(api.code));
    let (status, text) = explain(api);
    render_keys(state, visit, access, None, Some(text), status).await
}

// ---------------------------------------------------------------------------------------
// Update, revoke
// ---------------------------------------------------------------------------------------

/// `POST /console/t/{tenant}/keys/{id}/update`: name, scopes, rate limit, label (the form
/// sends them all; an empty rate limit or label removes it).
async fn update(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (form, access) = match visit.act(&state, &tenant, Need::TenantAdmin, &headers, &body).await {
        Ok(both) => both,
        Err(page) => return *page,
    };
    let changes = rate_limit_of(&form).map(|limit| KeyChanges {
        name: Some(form.raw("name").unwrap_or_default().to_owned()),
        scopes: Some(scopes_of(&form)),
        rate_limit: Some(limit),
        service_account: Some(label_of(&form)),
    });
    let result = match changes {
        Ok(changes) => api_keys::update(&state, &access.tenant.id, &id, changes).await.map(|_| ()),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => {
            visit.record(&state, "api_key.update", Some(access.tenant.id.as_str()), Some(&id), Ok(()));
            after_post(&format!("/console/t/{}/keys?done=key-updated", access.tenant.id))
        }
        Err(e) => refused(&state, &visit, &access, "api_key.update", Some(&id), e).await,
    }
}

/// `POST /console/t/{tenant}/keys/{id}/revoke`.
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
    match api_keys::revoke(&state, &access.tenant.id, &id, &access.actor).await {
        Ok(()) => {
            visit.record(&state, "api_key.revoke", Some(access.tenant.id.as_str()), Some(&id), Ok(()));
            after_post(&format!("/console/t/{}/keys?done=key-revoked", access.tenant.id))
        }
        Err(e) => refused(&state, &visit, &access, "api_key.revoke", Some(&id), e).await,
    }
}

// ---------------------------------------------------------------------------------------
// Usage
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/usage.html")]
struct UsagePage {
    chrome: Chrome,
    tenant: String,
    from: String,
    to: String,
    total: i64,
    /// The total per day, as an SVG chart (its labels escaped by [`chart::bars`]).
    total_chart: String,
    keys: Vec<KeyUsage>,
    /// Every (day, key, count) with a count, for the table.
    days: Vec<(String, String, i64)>,
}

/// One key's usage over the period.
pub(super) struct KeyUsage {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub rate_limit: String,
    pub state: &'static str,
    pub total: i64,
    pub chart: String,
}

/// The tenant's usage per key per day over the last [`USAGE_DAYS`] days: (from, to, per key,
/// the days table, the total per day).
pub(super) struct Usage {
    pub from: String,
    pub to: String,
    pub keys: Vec<KeyUsage>,
    pub days: Vec<(String, String, i64)>,
    pub per_day: Vec<Bar>,
}

/// Reads the usage of the tenant's keys (the listed ones, and any other id the counts name).
pub(super) async fn usage_of(state: &AppState, access: &TenantAccess) -> Result<Usage, (StatusCode, String)> {
    let to = apikey::day_of(state.clock.now_millis());
    let from = to - (USAGE_DAYS - 1);
    let rows = api_keys::usage(state, &access.tenant.id, from, to).await.map_err(explain)?;
    let req = PageRequest { after: None, limit: KEYS_SHOWN };
    let keys = api_keys::list(state, &access.tenant.id, &req).await.map_err(explain)?;
    let now = state.clock.now_millis();
    let series = |key: Option<&str>| -> Vec<Bar> {
        (from..=to)
            .map(|day| Bar {
                label: api_keys::format_day(day),
                value: rows.iter().filter(|r| r.day == day && key.is_none_or(|k| k == r.key_id)).map(|r| r.count).sum(),
            })
            .collect()
    };
    let mut out: Vec<KeyUsage> = keys
        .iter()
        .map(|k| {
            let bars = series(Some(&k.id));
            KeyUsage {
                id: k.id.clone(),
                name: k.name.clone(),
                prefix: k.display_prefix.clone(),
                rate_limit: rate_text(k.rate_limit),
                state: state_name(k.status(now)),
                total: bars.iter().map(|b| b.value).sum(),
                chart: chart::bars(&format!("Requests per day with key {}", k.name), &bars),
            }
        })
        .collect();
    // Keys with use first, the busiest first.
    out.sort_by_key(|k| std::cmp::Reverse(k.total));
    let name_of = |id: &str| keys.iter().find(|k| k.id == id).map_or_else(|| id.to_owned(), |k| k.name.clone());
    let mut days: Vec<(String, String, i64)> = rows
        .iter()
        .filter(|r| r.count > 0)
        .map(|r| (api_keys::format_day(r.day), name_of(&r.key_id), r.count))
        .collect();
    days.sort();
    Ok(Usage { from: api_keys::format_day(from), to: api_keys::format_day(to), keys: out, days, per_day: series(None) })
}

/// `GET /console/t/{tenant}/usage`.
async fn usage_page(State(state): State<AppState>, visit: Visit, Path(tenant): Path<String>) -> Response {
    let access = match visit.tenant(&state, &tenant, Need::TenantAdmin).await {
        Ok(a) => a,
        Err(page) => return *page,
    };
    let usage = match usage_of(&state, &access).await {
        Ok(u) => u,
        Err((status, text)) => return visit.refusal(&state, status, &text),
    };
    let page = UsagePage {
        chrome: visit.chrome(&state, "Usage", Some(&access)),
        tenant: access.tenant.id.to_string(),
        total: usage.per_day.iter().map(|b| b.value).sum(),
        total_chart: chart::bars("Requests per day, all keys", &usage.per_day),
        from: usage.from,
        to: usage.to,
        keys: usage.keys,
        days: usage.days,
    };
    visit.page(&state, StatusCode::OK, page.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_keys_in_grace_say_so() {
        assert_eq!(state_name(KeyStatus::Rotating), "rotated-in-grace");
        assert_eq!(rate_text(Some(RateLimit { requests: 5, per_seconds: 60 })), "5 per 60 s");
        assert_eq!(rate_text(None), "none");
    }

    #[test]
    fn grace_choices_stay_within_v1_bounds() {
        assert!(GRACE_CHOICES.iter().all(|(s, _)| api_keys::valid_grace(Some(*s)).is_ok()));
    }
}

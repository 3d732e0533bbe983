//! The tenant console's setup pages: email domains (`/console/t/{tenant}/domains`: the TXT
//! record to publish, verification by DNS, auto-join), SSO connections (`…/connections`)
//! and tenant settings (`…/settings`: name, MFA requirement, audit retention).
//!
//! Every page asks [`crate::services::access`] with its `/v1` twin's need (tenant admins
//! and platform admins; attesting a domain and the audit retention are the platform's),
//! acts on the tenant that decision established (ids from the path or the form are looked
//! up within it, so another tenant's domain or connection is "not found"), and records
//! each change under the `/v1` twin's action name.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::tenant::{DomainName, MfaRequirement};

use super::tenant::Notice;
use super::{Chrome, Visit, after_post, explain, when};
use crate::AppState;
use crate::api::error::ApiError;
use crate::services::access::{Need, TenantAccess};
use crate::services::audit_trail;
use crate::services::domains::{self, DomainError};
use crate::services::tenants;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/domains", get(domains_page).post(add_domain))
        .route("/console/t/{tenant}/domains/{domain}/verify", post(verify_domain))
        .route("/console/t/{tenant}/domains/{domain}/attest", post(attest_domain))
        .route("/console/t/{tenant}/domains/{domain}/auto-join", post(auto_join))
        .route("/console/t/{tenant}/domains/{domain}/remove", post(remove_domain))
        .route("/console/t/{tenant}/settings", get(settings_page).post(save_settings))
        .route("/console/t/{tenant}/settings/retention", post(save_retention))
        .merge(sso::routes())
}

/// The visitor's access to `tenant` with `need`, or the refusal page to answer.
macro_rules! access_or_refuse {
    ($visit:expr, $state:expr, $tenant:expr, $need:expr) => {
        match $visit.tenant($state, $tenant, $need).await {
            Ok(a) => a,
            Err(page) => return *page,
        }
    };
}

/// A posted form (CSRF checked), or the refusal page to answer.
macro_rules! form_or_refuse {
    ($visit:expr, $state:expr, $headers:expr, $body:expr) => {
        match $visit.form($state, $headers, $body) {
            Ok(f) => f,
            Err(page) => return *page,
        }
    };
}

mod sso;

/// Records a change's outcome under `action`; `Err` carries the refusal's `/v1` code.
fn record(state: &AppState, visit: &Visit, access: &TenantAccess, action: &str, target: &str, code: Option<&str>) {
    let outcome = code.map_or(Ok(()), Err);
    visit.record(state, action, Some(access.tenant.id.as_str()), Some(target), outcome);
}

// ---------------------------------------------------------------------------------------
// Domains
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/domains.html")]
struct DomainsPage {
    chrome: Chrome,
    tenant: String,
    domains: Vec<DomainRow>,
    /// Platform admins may attest a domain without DNS.
    platform: bool,
    /// The add form's values after a refusal.
    entered: String,
    entered_auto_join: bool,
}

struct DomainRow {
    domain: String,
    verified: bool,
    auto_join: bool,
    added: String,
    /// The TXT record to publish while unverified.
    record: Option<RecordRow>,
}

struct RecordRow {
    name: String,
    value: String,
    /// A command that shows what DNS answers for the record.
    dig: String,
}

async fn domains_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let shown = Shown { notice: notice.text(), ..Shown::default() };
    render_domains(&state, &visit, &access, shown).await
}

/// What a page shows besides its data: a notice or a refusal (with its status), and the
/// form values to offer again.
#[derive(Default)]
struct Shown {
    notice: Option<String>,
    error: Option<(StatusCode, String)>,
    entered: Vec<(&'static str, String)>,
}

impl Shown {
    fn refusal(status: StatusCode, text: String) -> Self {
        Self { error: Some((status, text)), ..Self::default() }
    }

    fn entered(&self, field: &str) -> String {
        self.entered.iter().find(|(f, _)| *f == field).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    fn status(&self) -> StatusCode {
        self.error.as_ref().map_or(StatusCode::OK, |(s, _)| *s)
    }

    fn chrome(&self, chrome: Chrome) -> Chrome {
        chrome.with_notice(self.notice.clone()).with_error(self.error.as_ref().map(|(_, t)| t.clone()))
    }
}

async fn render_domains(state: &AppState, visit: &Visit, access: &TenantAccess, shown: Shown) -> Response {
    let claims = match domains::list(state, &access.tenant.id).await {
        Ok(c) => c,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(state, status, &text);
        }
    };
    let domains = claims
        .into_iter()
        .map(|d| {
            let record = (!d.verified).then(|| {
                let r = domains::challenge_record(state, &d);
                RecordRow { dig: format!("dig +short TXT {}", r.name), name: r.name, value: r.value }
            });
            DomainRow {
                domain: d.domain.to_string(),
                verified: d.verified,
                auto_join: d.auto_join,
                added: when(d.created_at),
                record,
            }
        })
        .collect();
    let page = DomainsPage {
        chrome: shown.chrome(visit.chrome(state, "Domains", Some(access))),
        tenant: access.tenant.id.to_string(),
        domains,
        platform: visit.is_platform(),
        entered: shown.entered("domain"),
        entered_auto_join: !shown.entered("auto_join").is_empty(),
    };
    visit.page(state, shown.status(), page.render())
}

/// `POST /console/t/{tenant}/domains`: claims a domain (`domain.add`).
async fn add_domain(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let raw = form.get("domain").unwrap_or_default();
    let auto_join = form.checked("auto_join");
    match domains::add(&state, &access.tenant.id, raw, auto_join).await {
        Ok(claim) => {
            record(&state, &visit, &access, "domain.add", claim.domain.as_str(), None);
            after_post(&format!("/console/t/{}/domains?done=domain-added", access.tenant.id))
        }
        Err(e) => {
            let api = ApiError::from(e);
            // No target: the value was refused, and may be anything the form carried.
            visit.record(&state, "domain.add", Some(access.tenant.id.as_str()), None, Err(api.code));
            let (status, text) = explain(api);
            let mut shown = Shown::refusal(status, text);
            shown.entered = vec![("domain", raw.to_owned())];
            if auto_join {
                shown.entered.push(("auto_join", "on".into()));
            }
            render_domains(&state, &visit, &access, shown).await
        }
    }
}

/// The domain named in a path, within the tenant; a value that is not a domain name
/// cannot name a claim ("not found", as `/v1` answers).
fn path_domain(raw: &str) -> Result<DomainName, DomainError> {
    DomainName::parse(raw).ok_or(DomainError::NotFound)
}

/// A DNS check's refusal in words for the page (`None`: the `/v1` message will do).
fn dns_words(e: &DomainError) -> Option<String> {
    Some(match e {
        DomainError::RecordMissing { name } => format!(
            "Record missing: DNS has no TXT record at {name} yet. Publish the record below; \
             DNS changes can take a few minutes to appear. Then verify again."
        ),
        DomainError::RecordMismatch { name } => format!(
            "Record mismatch: there are TXT records at {name}, but none holds this domain's value. \
             Copy the value below exactly (without extra quotes or spaces), then verify again."
        ),
        DomainError::DnsUnavailable { name, .. } => format!(
            "DNS unavailable: the lookup of {name} failed or timed out, so nothing is known about the \
             record yet. Try again in a moment."
        ),
        DomainError::RateLimited(wait) => {
            format!("Rate limited: this domain was checked too often; try again in {wait} seconds.")
        }
        _ => return None,
    })
}

/// `POST …/domains/{domain}/verify`: looks the claim's TXT record up now (`domain.verify`).
async fn verify_domain(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, domain)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let result = match path_domain(&domain) {
        Ok(d) => domains::check_dns(&state, &access.tenant.id, &d, &access.actor).await,
        Err(e) => Err(e),
    };
    domain_change(&state, &visit, &access, "domain.verify", &domain, result.map(|_| ()), "verified").await
}

/// `POST …/domains/{domain}/attest`: a platform admin vouches for the domain without DNS
/// (`domain.verify`, as `/v1`'s `{"method": "attest"}`).
async fn attest_domain(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, domain)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::Platform);
    let result = match path_domain(&domain) {
        Ok(d) => domains::attest(&state, &access.tenant.id, &d, &access.actor).await,
        Err(e) => Err(e),
    };
    domain_change(&state, &visit, &access, "domain.verify", &domain, result.map(|_| ()), "attested").await
}

/// `POST …/domains/{domain}/auto-join` with `auto_join=on|off` (`domain.update`).
async fn auto_join(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, domain)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let on = match form.get("auto_join") {
        Some("on") => true,
        Some("off") => false,
        _ => {
            let shown = Shown::refusal(StatusCode::BAD_REQUEST, "Choose whether auto-join is on or off.".into());
            return render_domains(&state, &visit, &access, shown).await;
        }
    };
    let result = match path_domain(&domain) {
        Ok(d) => domains::set_auto_join(&state, &access.tenant.id, &d, on).await,
        Err(e) => Err(e),
    };
    domain_change(&state, &visit, &access, "domain.update", &domain, result.map(|_| ()), "domain-updated").await
}

/// `POST …/domains/{domain}/remove`: releases the claim (`domain.remove`).
async fn remove_domain(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, domain)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let result = match path_domain(&domain) {
        Ok(d) => domains::release(&state, &access.tenant.id, &d).await,
        Err(e) => Err(e),
    };
    domain_change(&state, &visit, &access, "domain.remove", &domain, result, "domain-removed").await
}

/// Records a domain change and answers: back to the list with `done`, or the list with
/// the refusal (a DNS outcome in plain words).
async fn domain_change(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    action: &str,
    domain: &str,
    result: Result<(), DomainError>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => {
            record(state, visit, access, action, domain, None);
            after_post(&format!("/console/t/{}/domains?done={done}", access.tenant.id))
        }
        Err(e) => {
            let words = dns_words(&e);
            let api = ApiError::from(e);
            record(state, visit, access, action, domain, Some(api.code));
            let (status, text) = explain(api);
            render_domains(state, visit, access, Shown::refusal(status, words.unwrap_or(text))).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/settings.html")]
struct SettingsPage {
    chrome: Chrome,
    tenant: String,
    name: String,
    mfa: String,
    retention: u32,
    /// Platform admins set the retention.
    platform: bool,
}

async fn settings_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let shown = Shown { notice: notice.text(), ..Shown::default() };
    render_settings(&state, &visit, &access, shown).await
}

async fn render_settings(state: &AppState, visit: &Visit, access: &TenantAccess, shown: Shown) -> Response {
    let retention = match audit_trail::retention(state, access.tenant.id.as_str()).await {
        Ok(days) => days,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(state, status, &text);
        }
    };
    let entered = shown.entered("name");
    let page = SettingsPage {
        chrome: shown.chrome(visit.chrome(state, "Settings", Some(access))),
        tenant: access.tenant.id.to_string(),
        name: if entered.is_empty() { access.tenant.name.clone() } else { entered },
        mfa: access.tenant.mfa.to_string(),
        retention,
        platform: visit.is_platform(),
    };
    visit.page(state, shown.status(), page.render())
}

/// `POST /console/t/{tenant}/settings`: name and MFA requirement (`tenant.update`).
async fn save_settings(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let name = form.raw("name");
    let mfa = match form.get("mfa").map(str::parse::<MfaRequirement>) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(_)) => {
            let shown = Shown::refusal(StatusCode::BAD_REQUEST, "Choose off, admins or all for MFA.".into());
            return render_settings(&state, &visit, &access, shown).await;
        }
    };
    let target = access.tenant.id.to_string();
    match tenants::update(&state, &access.tenant.id, name, mfa).await {
        Ok(_) => {
            record(&state, &visit, &access, "tenant.update", &target, None);
            after_post(&format!("/console/t/{target}/settings?done=saved"))
        }
        Err(e) => {
            let api = ApiError::from(e);
            record(&state, &visit, &access, "tenant.update", &target, Some(api.code));
            let (status, text) = explain(api);
            let mut shown = Shown::refusal(status, text);
            shown.entered = vec![("name", name.unwrap_or_default().to_owned())];
            render_settings(&state, &visit, &access, shown).await
        }
    }
}

/// `POST /console/t/{tenant}/settings/retention`: platform admins only, as `/v1`'s
/// `PUT …/audit/retention` (`audit.retention`).
async fn save_retention(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::Platform);
    let target = access.tenant.id.to_string();
    let result = match form.get("days").and_then(|d| d.parse::<u32>().ok()) {
        Some(days) => audit_trail::set_retention(&state, &target, days).await,
        None => Err(audit_trail::TrailError::InvalidRetention),
    };
    match result {
        Ok(()) => {
            record(&state, &visit, &access, "audit.retention", &target, None);
            after_post(&format!("/console/t/{target}/settings?done=retention"))
        }
        Err(e) => {
            let api = ApiError::from(e);
            record(&state, &visit, &access, "audit.retention", &target, Some(api.code));
            let (status, text) = explain(api);
            render_settings(&state, &visit, &access, Shown::refusal(status, text)).await
        }
    }
}

//! The SSO connections page, `/console/t/{tenant}/connections`: a tenant's OIDC and SAML
//! providers with what to enter at each, create (the `/v1` request's rules, from the
//! service), test (the service's probe, shown), enable/disable and delete. A client secret
//! is written, never shown again: pages say only whether one is set, and a refused form is
//! offered again without it.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::page::PageRequest;
use cognate_core::tenant::Role;

use super::super::tenant::Notice;
use super::super::{Chrome, Form, Visit, after_post, explain, when};
use super::{Shown, record};
use crate::AppState;
use crate::api::error::ApiError;
use crate::services::access::{Need, TenantAccess};
use crate::services::connections::{self, ConnectionChange, NewConnection, OidcSettings, ProviderSetup, SamlSettings};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/t/{tenant}/connections", get(connections_page).post(create_connection))
        .route("/console/t/{tenant}/connections/{id}/test", post(test_connection))
        .route("/console/t/{tenant}/connections/{id}/enable", post(enable_connection))
        .route("/console/t/{tenant}/connections/{id}/disable", post(disable_connection))
        .route("/console/t/{tenant}/connections/{id}/delete", post(delete_connection))
}

// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "console/connections.html")]
struct ConnectionsPage {
    chrome: Chrome,
    tenant: String,
    connections: Vec<ConnectionRow>,
    /// The result of "Test", when one was asked for.
    test: Option<TestResult>,
    /// The create form's values after a refusal (never the client secret).
    form: ConnectionForm,
}

struct ConnectionRow {
    id: String,
    name: String,
    kind: &'static str,
    enabled: bool,
    domains: String,
    /// What to enter at the provider: (label, value).
    setup: Vec<(&'static str, String)>,
    /// The provider's settings as shown: (label, value); never the client secret.
    settings: Vec<(&'static str, String)>,
    updated: String,
}

#[derive(Default)]
struct ConnectionForm {
    saml: bool,
    name: String,
    domains: String,
    issuer: String,
    client_id: String,
    scopes: String,
    metadata_url: String,
    metadata_xml: String,
}

struct TestResult {
    name: String,
    ok: bool,
    error: Option<String>,
    warnings: Vec<String>,
    /// What the provider publishes, as the `/v1` answer has it.
    details: String,
}

async fn connections_page(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    Query(notice): Query<Notice>,
) -> Response {
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let shown = Shown { notice: notice.text(), ..Shown::default() };
    render_connections(&state, &visit, &access, shown, None, ConnectionForm::default()).await
}

/// The connections shown (a tenant has a handful).
const CONNECTIONS_SHOWN: u32 = 100;

async fn render_connections(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    shown: Shown,
    test: Option<TestResult>,
    form: ConnectionForm,
) -> Response {
    let req = PageRequest { after: None, limit: CONNECTIONS_SHOWN };
    let rows = match connections::list(state, &access.tenant.id, &req).await {
        Ok(rows) => rows,
        Err(e) => {
            let (status, text) = explain(e);
            return visit.refusal(state, status, &text);
        }
    };
    let connections = rows
        .into_iter()
        .take(CONNECTIONS_SHOWN as usize)
        .map(|d| {
            let detail = |key: &str| d.provider.details.get(key).cloned().unwrap_or_default();
            let (setup, settings) = match connections::setup(state, &d) {
                ProviderSetup::Oidc { redirect_uri } => (
                    vec![("Redirect URI", redirect_uri)],
                    vec![
                        ("Issuer", detail("oidc_issuer")),
                        ("Client id", detail("client_id")),
                        (
                            "Client secret",
                            if detail("client_secret").is_empty() { "not set" } else { "set (never shown)" }.to_owned(),
                        ),
                        ("Scopes", detail("authorize_scopes")),
                    ],
                ),
                ProviderSetup::Saml { sp_entity_id, acs_url, sp_metadata_url } => (
                    vec![
                        ("Entity id (audience)", sp_entity_id),
                        ("ACS URL", acs_url),
                        ("Cognate's SAML metadata", sp_metadata_url),
                    ],
                    vec![(
                        "Metadata",
                        match d.provider.details.get("MetadataURL") {
                            Some(url) => url.clone(),
                            None => "given as XML".to_owned(),
                        },
                    )],
                ),
            };
            ConnectionRow {
                name: d.connection.name.clone(),
                kind: d.connection.kind.as_str(),
                enabled: d.connection.enabled,
                domains: d.domains().join(", "),
                setup,
                settings,
                updated: when(d.connection.updated_at),
                id: d.connection.id,
            }
        })
        .collect();
    let page = ConnectionsPage {
        chrome: shown.chrome(visit.chrome(state, "SSO connections", Some(access))),
        tenant: access.tenant.id.to_string(),
        connections,
        test,
        form,
    };
    visit.page(state, shown.status(), page.render())
}

/// The create form as entered (the secret is not kept).
fn connection_form(form: &Form) -> ConnectionForm {
    let text = |name: &str| form.get(name).unwrap_or_default().to_owned();
    ConnectionForm {
        saml: form.get("type") == Some("saml"),
        name: text("name"),
        domains: text("domains"),
        issuer: text("issuer"),
        client_id: text("client_id"),
        scopes: text("scopes"),
        metadata_url: text("metadata_url"),
        metadata_xml: text("metadata_xml"),
    }
}

/// The new connection the form asks for, shaped by the service's rules (the same as
/// `/v1`'s create).
fn new_connection(form: &Form) -> Result<NewConnection, ApiError> {
    let field = |name: &str| form.get(name).map(str::to_owned);
    let (oidc, saml) = match form.get("type") {
        Some("oidc") => (
            Some(OidcSettings {
                issuer: field("issuer"),
                client_id: field("client_id"),
                // Sent as typed: a secret's spaces count.
                client_secret: form.raw("client_secret").filter(|s| !s.is_empty()).map(str::to_owned),
                scopes: field("scopes"),
                attributes_request_method: None,
            }),
            None,
        ),
        Some("saml") => (
            None,
            Some(SamlSettings {
                metadata_url: field("metadata_url"),
                metadata_xml: field("metadata_xml"),
                ..SamlSettings::default()
            }),
        ),
        _ => return Err(ApiError::invalid_request("Choose OIDC or SAML.")),
    };
    let domains: Vec<&str> =
        form.get("domains").unwrap_or_default().split([',', ' ', '\n', '\r', '\t']).filter(|d| !d.is_empty()).collect();
    let default_role = match form.get("default_role") {
        None => Role::Member,
        Some(r) => r.parse::<Role>().map_err(|_| ApiError::invalid_request("Choose a default role."))?,
    };
    Ok(NewConnection {
        name: form.raw("name").unwrap_or_default().to_owned(),
        domains: connections::domain_names(&domains)?,
        provider: connections::new_provider(oidc, saml)?,
        attribute_mapping: Default::default(),
        enabled: form.checked("enabled"),
        default_role,
        role_claim: None,
        role_mapping: Default::default(),
    })
}

/// `POST /console/t/{tenant}/connections`: creates a connection (`connection.create`).
async fn create_connection(
    State(state): State<AppState>,
    visit: Visit,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    let created = match new_connection(&form) {
        Ok(new) => connections::create(&state, &access.tenant.id, new).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match created {
        Ok(d) => {
            record(&state, &visit, &access, "connection.create", &d.connection.id, None);
            after_post(&format!("/console/t/{}/connections?done=connection-created", access.tenant.id))
        }
        Err(api) => {
            visit.record(&state, "connection.create", Some(access.tenant.id.as_str()), None, Err(api.code));
            let (status, text) = explain(api);
            render_connections(&state, &visit, &access, Shown::refusal(status, text), None, connection_form(&form))
                .await
        }
    }
}

/// `POST …/connections/{id}/test`: reads the provider now and shows what it publishes
/// (`connection.test`).
async fn test_connection(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    match connections::test(&state, &access.tenant.id, &id).await {
        Ok((found, probe)) => {
            record(&state, &visit, &access, "connection.test", &id, None);
            let pretty = |v: serde_json::Result<String>| v.unwrap_or_default();
            let (ok, error, warnings, details) = match probe {
                connections::Probe::Oidc(r) => {
                    (r.warnings.is_empty(), None, r.warnings.clone(), pretty(serde_json::to_string_pretty(&r)))
                }
                connections::Probe::Saml(r) => {
                    (r.warnings.is_empty(), None, r.warnings.clone(), pretty(serde_json::to_string_pretty(&r)))
                }
                connections::Probe::Failed(reason) => (false, Some(reason), Vec::new(), String::new()),
            };
            let test = TestResult { name: found.connection.name, ok, error, warnings, details };
            render_connections(&state, &visit, &access, Shown::default(), Some(test), ConnectionForm::default()).await
        }
        Err(e) => connection_refused(&state, &visit, &access, "connection.test", &id, e).await,
    }
}

/// `POST …/connections/{id}/enable` (`connection.update`).
async fn enable_connection(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    switch_connection(&state, &visit, &tenant, &id, &headers, &body, true).await
}

/// `POST …/connections/{id}/disable` (`connection.update`).
async fn disable_connection(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    switch_connection(&state, &visit, &tenant, &id, &headers, &body, false).await
}

async fn switch_connection(
    state: &AppState,
    visit: &Visit,
    tenant: &str,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
    enabled: bool,
) -> Response {
    form_or_refuse!(visit, state, headers, body);
    let access = access_or_refuse!(visit, state, tenant, Need::TenantAdmin);
    let change = ConnectionChange { enabled: Some(enabled), ..ConnectionChange::default() };
    match connections::update(state, &access.tenant.id, id, change).await {
        Ok(_) => {
            record(state, visit, &access, "connection.update", id, None);
            after_post(&format!("/console/t/{}/connections?done=connection-updated", access.tenant.id))
        }
        Err(e) => connection_refused(state, visit, &access, "connection.update", id, e).await,
    }
}

/// `POST …/connections/{id}/delete` (`connection.delete`).
async fn delete_connection(
    State(state): State<AppState>,
    visit: Visit,
    Path((tenant, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    form_or_refuse!(visit, &state, &headers, &body);
    let access = access_or_refuse!(visit, &state, &tenant, Need::TenantAdmin);
    match connections::delete(&state, &access.tenant.id, &id).await {
        Ok(()) => {
            record(&state, &visit, &access, "connection.delete", &id, None);
            after_post(&format!("/console/t/{}/connections?done=connection-deleted", access.tenant.id))
        }
        Err(e) => connection_refused(&state, &visit, &access, "connection.delete", &id, e).await,
    }
}

async fn connection_refused(
    state: &AppState,
    visit: &Visit,
    access: &TenantAccess,
    action: &str,
    id: &str,
    e: connections::ConnectionError,
) -> Response {
    let api = ApiError::from(e);
    record(state, visit, access, action, id, Some(api.code));
    let (status, text) = explain(api);
    render_connections(state, visit, access, Shown::refusal(status, text), None, ConnectionForm::default()).await
}

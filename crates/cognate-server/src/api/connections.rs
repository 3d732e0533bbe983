//! `/v1/tenants/{tenantId}/connections`: a tenant's SSO connections — its own OIDC or
//! SAML identity provider, which signs its people in through the hosted login and makes
//! them members (services::connections). Tenant admins and platform admins only.
//!
//! Answers carry what the tenant's admin enters in their provider (the redirect URI, or
//! the SAML entity id, ACS URL and metadata URL), never the OIDC client secret (only
//! whether one is set).

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::idp::ProviderType;
use cognate_core::tenant::{Role, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Need, tenant_not_found};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::paging::{ListParams, Page};
use super::tenants::TenantPath;
use crate::AppState;
use crate::services::connections::{
    self, ConnectionChange, ConnectionError, Detailed, NewConnection, OidcSettings, ProviderSetup, SamlSettings,
};

/// OIDC settings of a connection. On `PATCH`, members given replace the stored ones.
/// Request bodies have no `Debug`: this one carries a secret.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OidcBody {
    /// The provider's issuer URL (`https`, or `http` on loopback). Required to create.
    #[schema(example = "https://acme.okta.com")]
    issuer: Option<String>,
    /// The client id Cognate has at the provider. Required to create.
    client_id: Option<String>,
    /// Kept sealed; never shown again (answers say only whether one is set).
    client_secret: Option<String>,
    /// Space-separated, with `openid`. Defaults to `openid email profile`.
    scopes: Option<String>,
    /// How Cognate calls the userinfo endpoint: `GET` (the default) or `POST`.
    attributes_request_method: Option<String>,
}

/// SAML settings of a connection: the provider's metadata by URL or as XML (one of the
/// two), and its flags. On `PATCH`, members given replace the stored ones.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SamlBody {
    /// Where Cognate reads the provider's metadata.
    metadata_url: Option<String>,
    /// The provider's metadata document itself (at most 128 KiB).
    metadata_xml: Option<String>,
    /// Whether signing out of Cognate signs out of the provider too. Defaults to false.
    idp_signout: Option<bool>,
    /// Whether the provider may start sign-ins (IdP-initiated). Defaults to false.
    idp_init: Option<bool>,
    /// Whether the provider encrypts its assertions. Defaults to false.
    encrypted_responses: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateConnection {
    /// What the tenant calls it, shown on sign-in pages: 1 to 128 characters.
    #[schema(example = "Okta", min_length = 1, max_length = 128)]
    name: String,
    /// Email domains that sign in through this connection, each a verified domain of the
    /// tenant, unused by its other connections. Defaults to none.
    #[serde(default)]
    #[schema(example = json!(["acme.com"]))]
    domains: Vec<String>,
    /// An OIDC provider (give this or `saml`).
    oidc: Option<OidcBody>,
    /// A SAML provider (give this or `oidc`).
    saml: Option<SamlBody>,
    /// Pool attribute → provider claim or SAML attribute, over the default (`email` from
    /// `email` for OIDC, from the WS-Federation email claim URI for SAML).
    #[serde(default)]
    attribute_mapping: BTreeMap<String, String>,
    /// A disabled connection signs nobody in. Defaults to true.
    #[serde(default = "yes")]
    enabled: bool,
    /// The role of a new member when no mapping applies. Defaults to `member`.
    #[serde(default = "member")]
    #[schema(schema_with = super::openapi::role)]
    default_role: Role,
    /// The claim (OIDC) or attribute (SAML) that lists the user's groups.
    role_claim: Option<String>,
    /// Group → role (`admin`, `member`, `read_only`); the most privileged role of the
    /// user's groups wins. Needs `roleClaim`.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, String>, example = json!({"it-admins": "admin"}))]
    role_mapping: BTreeMap<String, Role>,
}

fn yes() -> bool {
    true
}

fn member() -> Role {
    Role::Member
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateConnection {
    /// Absent: unchanged; `null` is refused.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::extract::not_null")]
    enabled: Option<bool>,
    /// Replaces the domains.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    domains: Option<Vec<String>>,
    /// For an OIDC connection: settings to replace.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    oidc: Option<OidcBody>,
    /// For a SAML connection: settings to replace.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    saml: Option<SamlBody>,
    /// Replaces the whole mapping.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    attribute_mapping: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "super::extract::not_null")]
    #[schema(schema_with = super::openapi::role)]
    default_role: Option<Role>,
    /// `null` stops mapping roles (the mapping must then be emptied too).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    role_claim: Option<Option<String>>,
    /// Replaces the whole mapping.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    role_mapping: Option<BTreeMap<String, Role>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The OIDC settings as shown: never the secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcView {
    issuer: Option<String>,
    client_id: Option<String>,
    /// Whether a client secret is set (its value is never shown).
    client_secret_set: bool,
    scopes: Option<String>,
    attributes_request_method: Option<String>,
    /// Enter this as the redirect (callback) URI at the provider.
    redirect_uri: String,
}

/// The SAML settings as shown, with what to enter at the provider.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SamlView {
    metadata_url: Option<String>,
    /// Whether the metadata was given as XML (the document itself is not repeated).
    metadata_xml_set: bool,
    idp_signout: bool,
    idp_init: bool,
    encrypted_responses: bool,
    /// The service provider's entity id (audience): `urn:amazon:cognito:sp:{poolId}`.
    sp_entity_id: String,
    /// The assertion consumer service URL.
    acs_url: String,
    /// Cognate's service provider metadata for this pool.
    sp_metadata_url: String,
}

/// A connection as the API shows it. Times are epoch seconds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    /// `conn_` and 20 characters.
    id: String,
    tenant_id: String,
    name: String,
    /// `OIDC` or `SAML`.
    #[serde(rename = "type")]
    #[schema(example = "OIDC")]
    kind: &'static str,
    enabled: bool,
    domains: Vec<String>,
    /// The pool the provider lives in.
    pool_id: String,
    /// The provider's name in the pool: `identity_provider=` of an authorization request.
    provider_name: String,
    attribute_mapping: BTreeMap<String, String>,
    #[schema(schema_with = super::openapi::role)]
    default_role: Role,
    role_claim: Option<String>,
    #[schema(value_type = BTreeMap<String, String>)]
    role_mapping: BTreeMap<String, Role>,
    /// Present for OIDC connections.
    oidc: Option<OidcView>,
    /// Present for SAML connections.
    saml: Option<SamlView>,
    created_at: i64,
    updated_at: i64,
}

impl ConnectionView {
    fn new(state: &AppState, d: Detailed) -> Self {
        let pool = d.connection.pool_id.as_str();
        let detail = |key: &str| d.provider.details.get(key).cloned();
        let flag = |key: &str| d.provider.details.get(key).is_some_and(|v| v == "true");
        let (oidc, saml) = match connections::setup(state, &d) {
            ProviderSetup::Saml { sp_entity_id, acs_url, sp_metadata_url } => (
                None,
                Some(SamlView {
                    metadata_url: detail("MetadataURL"),
                    metadata_xml_set: d.provider.details.contains_key("MetadataFile"),
                    idp_signout: flag("IDPSignout"),
                    idp_init: flag("IDPInit"),
                    encrypted_responses: flag("EncryptedResponses"),
                    sp_entity_id,
                    acs_url,
                    sp_metadata_url,
                }),
            ),
            ProviderSetup::Oidc { redirect_uri } => (
                Some(OidcView {
                    issuer: detail("oidc_issuer"),
                    client_id: detail("client_id"),
                    client_secret_set: d.provider.details.get("client_secret").is_some_and(|s| !s.is_empty()),
                    scopes: detail("authorize_scopes"),
                    attributes_request_method: detail("attributes_request_method"),
                    redirect_uri,
                }),
                None,
            ),
        };
        let mut attribute_mapping = d.provider.attribute_mapping.clone();
        // Cognate fills `username` from the subject itself; showing it would invite edits.
        if d.connection.kind == ProviderType::Oidc && attribute_mapping.get("username").is_some_and(|c| c == "sub") {
            attribute_mapping.remove("username");
        }
        Self {
            domains: d.domains().to_vec(),
            id: d.connection.id,
            tenant_id: d.connection.tenant_id.to_string(),
            name: d.connection.name,
            kind: d.connection.kind.as_str(),
            enabled: d.connection.enabled,
            pool_id: pool.to_owned(),
            provider_name: d.connection.provider_name,
            attribute_mapping,
            default_role: d.connection.default_role,
            role_claim: d.connection.role_claim,
            role_mapping: d.connection.role_mapping,
            oidc,
            saml,
            created_at: d.connection.created_at.div_euclid(1000),
            updated_at: d.connection.updated_at.div_euclid(1000),
        }
    }
}

/// The `{tenant_id}/connections/{connection_id}` path. An invalid tenant id is 404.
#[derive(IntoParams)]
#[into_params(names("tenant_id", "connection_id"), parameter_in = Path)]
pub struct ConnectionPath(
    /// The tenant's id, a slug such as `acme`.
    #[param(value_type = String)]
    pub TenantId,
    /// The connection's id (`conn_…`).
    pub String,
);

impl<S: Send + Sync> FromRequestParts<S> for ConnectionPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (tenant, id) = super::extract::tenant_and_segment(parts, state).await?;
        Ok(Self(tenant, id))
    }
}

fn connection_not_found() -> ApiError {
    ApiError::not_found("The connection does not exist.")
}

impl From<ConnectionError> for ApiError {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::TenantNotFound => tenant_not_found(),
            ConnectionError::NotFound => connection_not_found(),
            ConnectionError::Invalid(message) => ApiError::invalid_request(message),
            ConnectionError::DomainNotVerified(domain) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "domain_not_verified",
                format!("{domain} is not a verified domain of this tenant: claim it and have it verified first."),
            ),
            ConnectionError::DomainInUse(domain) => {
                ApiError::conflict(format!("{domain} already signs in through another connection."))
            }
            ConnectionError::InUse(clients) => ApiError::conflict(format!(
                "The connection's provider is enabled on app clients {}; remove it from their \
                 SupportedIdentityProviders first.",
                clients.join(", ")
            )),
            // Admission refusals are for the federation sign-in, not for /v1; should one
            // reach here it is a fault.
            e @ (ConnectionError::TenantSuspended
            | ConnectionError::Disabled
            | ConnectionError::WrongPool
            | ConnectionError::Fault(_)) => ApiError::internal(e),
            ConnectionError::Store(e) => e.into(),
        }
    }
}

fn oidc(body: OidcBody) -> OidcSettings {
    OidcSettings {
        issuer: body.issuer,
        client_id: body.client_id,
        client_secret: body.client_secret,
        scopes: body.scopes,
        attributes_request_method: body.attributes_request_method,
    }
}

fn saml(body: SamlBody) -> SamlSettings {
    SamlSettings {
        metadata_url: body.metadata_url,
        metadata_xml: body.metadata_xml,
        idp_signout: body.idp_signout,
        idp_init: body.idp_init,
        encrypted_responses: body.encrypted_responses,
    }
}

/// Create an SSO connection.
///
/// `POST /v1/tenants/{tenant_id}/connections`: creates the tenant's OIDC or SAML provider
/// in its pool, routing the given (verified) domains to it.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/connections",
    operation_id = "createConnection",
    extensions(("x-audit-action" = json!("connection.create"))),
    tag = "connections",
    params(TenantPath),
    request_body = CreateConnection,
    responses(
        (status = 201, description = "The connection, with what to enter at the provider.", body = ConnectionView),
        (status = 400, description = "A malformed body or a setting Cognate refuses (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
        (status = 409, description = "A domain already signs in through another connection (`conflict`).", body = ErrorBody),
        (status = 422, description = "A domain that is not a verified domain of this tenant (`domain_not_verified`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
    Json(req): Json<CreateConnection>,
) -> Result<Response, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let new = NewConnection {
        name: req.name,
        domains: connections::domain_names(&req.domains)?,
        provider: connections::new_provider(req.oidc.map(oidc), req.saml.map(saml))?,
        attribute_mapping: req.attribute_mapping,
        enabled: req.enabled,
        default_role: req.default_role,
        role_claim: req.role_claim,
        role_mapping: req.role_mapping,
    };
    let created = connections::create(&state, &tenant, new).await?;
    Ok((StatusCode::CREATED, axum::Json(ConnectionView::new(&state, created))).into_response())
}

/// List a tenant's SSO connections.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/connections",
    operation_id = "listConnections",
    tag = "connections",
    params(TenantPath, ListParams),
    responses(
        (status = 200, description = "A page of the tenant's connections, by id.", body = Page<ConnectionView>),
        (status = 400, description = "An invalid `limit` or `cursor` (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<ConnectionView>>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let scope = format!("connections:{tenant}");
    let req = params.page(&scope)?;
    let rows = connections::list(&state, &tenant, &req).await?;
    let (rows, next_cursor) = Page::<ConnectionView>::finish(rows, &req, &scope, |d| d.connection.id.clone());
    Ok(axum::Json(Page { items: rows.into_iter().map(|d| ConnectionView::new(&state, d)).collect(), next_cursor }))
}

/// Get an SSO connection.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    operation_id = "getConnection",
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, description = "The connection (never its client secret).", body = ConnectionView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or connection (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ConnectionPath(tenant, id): ConnectionPath,
) -> Result<axum::Json<ConnectionView>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let found = connections::get(&state, &tenant, &id).await?;
    Ok(axum::Json(ConnectionView::new(&state, found)))
}

/// Change an SSO connection.
///
/// `PATCH …/connections/{connection_id}`: members given replace the stored ones; the
/// provider's settings are merged (its type cannot change).
#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    operation_id = "updateConnection",
    extensions(("x-audit-action" = json!("connection.update"))),
    tag = "connections",
    params(ConnectionPath),
    request_body = UpdateConnection,
    responses(
        (status = 200, description = "The connection.", body = ConnectionView),
        (status = 400, description = "A malformed body or a setting Cognate refuses (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or connection (`not_found`).", body = ErrorBody),
        (status = 409, description = "A domain already signs in through another connection (`conflict`).", body = ErrorBody),
        (status = 422, description = "A domain that is not a verified domain of this tenant (`domain_not_verified`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ConnectionPath(tenant, id): ConnectionPath,
    Json(req): Json<UpdateConnection>,
) -> Result<axum::Json<ConnectionView>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let provider = connections::changed_provider(req.oidc.map(oidc), req.saml.map(saml))?;
    let change = ConnectionChange {
        name: req.name,
        enabled: req.enabled,
        domains: req.domains.as_deref().map(connections::domain_names).transpose()?,
        provider,
        attribute_mapping: req.attribute_mapping,
        default_role: req.default_role,
        role_claim: req.role_claim,
        role_mapping: req.role_mapping,
    };
    let changed = connections::update(&state, &tenant, &id, change).await?;
    Ok(axum::Json(ConnectionView::new(&state, changed)))
}

/// Delete an SSO connection.
///
/// `DELETE …/connections/{connection_id}`: removes the connection and its provider
/// (`204`). Members it admitted stay members.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}",
    operation_id = "deleteConnection",
    extensions(("x-audit-action" = json!("connection.delete"))),
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or connection (`not_found`).", body = ErrorBody),
        (status = 409, description = "An app client lists the provider (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ConnectionPath(tenant, id): ConnectionPath,
) -> Result<StatusCode, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    connections::delete(&state, &tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The result of testing a connection.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTest {
    /// Whether the provider could be read and nothing in it will make sign-ins fail.
    ok: bool,
    /// `OIDC` or `SAML`.
    #[serde(rename = "type")]
    #[schema(example = "OIDC")]
    kind: &'static str,
    /// Why the provider could not be read.
    error: Option<String>,
    /// What will make sign-ins fail or surprise.
    warnings: Vec<String>,
    /// OIDC: the issuer's endpoints, keys and capabilities.
    #[schema(value_type = Option<Object>)]
    oidc: Option<serde_json::Value>,
    /// SAML: what the metadata publishes.
    #[schema(value_type = Option<Object>)]
    saml: Option<serde_json::Value>,
}

/// Test an SSO connection.
///
/// `POST …/connections/{connection_id}/test` reads the provider now, as the next sign-in
/// would: an OIDC issuer's discovery document and keys, a SAML provider's metadata. A
/// provider that cannot be read is `ok: false` with the reason (the answer is still 200).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/connections/{connection_id}/test",
    operation_id = "testConnection",
    extensions(("x-audit-action" = json!("connection.test"))),
    tag = "connections",
    params(ConnectionPath),
    responses(
        (status = 200, description = "What the provider publishes, and what will fail.", body = ConnectionTest),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or connection (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    ConnectionPath(tenant, id): ConnectionPath,
) -> Result<axum::Json<ConnectionTest>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let (found, probe) = connections::test(&state, &tenant, &id).await?;
    let kind = found.provider.kind.as_str();
    let json = |v: serde_json::Result<serde_json::Value>| v.map_err(ApiError::internal);
    let answer = match probe {
        connections::Probe::Oidc(report) => ConnectionTest {
            ok: report.warnings.is_empty(),
            kind,
            error: None,
            warnings: report.warnings.clone(),
            oidc: Some(json(serde_json::to_value(&report))?),
            saml: None,
        },
        connections::Probe::Saml(report) => ConnectionTest {
            ok: report.warnings.is_empty(),
            kind,
            error: None,
            warnings: report.warnings.clone(),
            oidc: None,
            saml: Some(json(serde_json::to_value(&report))?),
        },
        connections::Probe::Failed(reason) => {
            ConnectionTest { ok: false, kind, error: Some(reason), warnings: Vec::new(), oidc: None, saml: None }
        }
    };
    Ok(axum::Json(answer))
}

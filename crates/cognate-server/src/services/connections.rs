//! Tenants' SSO connections, for every surface (`/v1` today; the tenant console next), and
//! the tenant rules a federated sign-in through one of them obeys. The rules:
//! - a connection is an OIDC or SAML identity provider of the tenant's pool, named by
//!   Cognate (`conn-…`, [`cognate_core::connection::provider_name`]) so that tenants sharing
//!   a pool never collide; its IdpIdentifiers are the connection's email domains, each a
//!   **verified** domain of this tenant;
//! - the provider and the connection row change together: a provider is created before
//!   its row and removed if the row cannot be written; an update writes the provider
//!   first and puts it back if the row cannot follow; a deletion removes the provider,
//!   then the row;
//! - a connection may not map provider claims to the tenant attributes
//!   (`custom:tenant…`): only the control plane writes those;
//! - [`admit`]: a sign-in through a disabled connection, or into a suspended tenant, is
//!   refused; otherwise the user becomes (or stays) a member, with the role the
//!   connection's mapping gives their groups (the most privileged), else its default role
//!   for a new member; a later sign-in changes the role only when the mapping yields one,
//!   and never demotes the tenant's last admin.
//!
//! Every change is recorded in the tenant's audit chain: by the `/v1` trail for the
//! management calls, here for admissions (`sso.*`).

use std::collections::BTreeMap;

use cognate_core::StoreError;
use cognate_core::connection::{self, Connection};
use cognate_core::idp::{ExternalIdentity, IdentityProvider, ProviderType};
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;
use cognate_core::tenant::{DomainName, MembershipStatus, Role, Tenant, TenantId, TenantStatus};
use cognate_core::user::User;

use super::identity_providers::{self as idps, IdpError, NewProvider, ProviderChange};
use crate::AppState;
use crate::audit::{Actor, Entry, Origin};
use crate::tenancy;

/// The SAML attribute an email usually arrives in (the claim URI of WS-Federation, which
/// Entra ID, ADFS, Okta and Google Workspace all send).
pub const SAML_EMAIL_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress";

/// The OIDC scopes asked for when the request gives none.
pub const DEFAULT_SCOPES: &str = "openid email profile";

/// Most domains on one connection (a pool provider's identifier limit).
pub const MAX_DOMAINS: usize = cognate_core::idp::MAX_IDENTIFIERS;
/// Most attribute mappings on one connection.
pub const MAX_ATTRIBUTE_MAPPINGS: usize = 50;

/// Why a connection operation or an admission was refused. Each variant means one thing.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("no such tenant")]
    TenantNotFound,
    /// The tenant has no such connection.
    #[error("no such connection")]
    NotFound,
    /// A request value Cognate refuses; the message says which and why.
    #[error("{0}")]
    Invalid(String),
    /// The domain is not a verified domain of this tenant (unclaimed, unverified, or
    /// another tenant's: the message does not say which).
    #[error("{0} is not a verified domain of this tenant")]
    DomainNotVerified(String),
    /// Another connection of the pool routes this domain already.
    #[error("{0} is used by another connection")]
    DomainInUse(String),
    /// An app client lists the connection's provider: it cannot be deleted.
    #[error("the connection's provider is used by app clients {0:?}")]
    InUse(Vec<String>),
    /// Admission: the tenant is suspended.
    #[error("the tenant is suspended")]
    TenantSuspended,
    /// Admission: the connection is disabled.
    #[error("the connection is disabled")]
    Disabled,
    /// Admission: the user does not live in the connection's pool (a caller's mistake).
    #[error("the user is not in the connection's pool")]
    WrongPool,
    #[error("internal: {0}")]
    Fault(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<IdpError> for ConnectionError {
    fn from(e: IdpError) -> Self {
        match e {
            IdpError::Invalid(message) => Self::Invalid(message),
            IdpError::IdentifierTaken(domain) => Self::DomainInUse(domain),
            IdpError::InUse { clients, .. } => Self::InUse(clients),
            IdpError::Store(e) => Self::Store(e),
            // The provider name is Cognate's own and the provider belongs to the row:
            // anything else is a broken invariant, not the caller's doing.
            other => Self::Fault(other.to_string()),
        }
    }
}

/// OIDC provider settings as a tenant gives them. Their `Debug` hides the client secret.
#[derive(Clone, Default)]
pub struct OidcSettings {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    /// Kept sealed; never shown again.
    pub client_secret: Option<String>,
    /// Space-separated; defaults to [`DEFAULT_SCOPES`].
    pub scopes: Option<String>,
    /// `GET` (the default) or `POST`.
    pub attributes_request_method: Option<String>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "<redacted>"))
            .field("scopes", &self.scopes)
            .field("attributes_request_method", &self.attributes_request_method)
            .finish()
    }
}

/// SAML provider settings as a tenant gives them.
#[derive(Debug, Clone, Default)]
pub struct SamlSettings {
    pub metadata_url: Option<String>,
    pub metadata_xml: Option<String>,
    pub idp_signout: Option<bool>,
    pub idp_init: Option<bool>,
    pub encrypted_responses: Option<bool>,
}

/// The provider behind a connection.
#[derive(Debug, Clone)]
pub enum ProviderSettings {
    Oidc(OidcSettings),
    Saml(SamlSettings),
}

impl ProviderSettings {
    fn kind(&self) -> ProviderType {
        match self {
            Self::Oidc(_) => ProviderType::Oidc,
            Self::Saml(_) => ProviderType::Saml,
        }
    }

    /// Writes these settings over `details` (a PATCH: absent settings keep their value).
    fn apply(&self, details: &mut BTreeMap<String, String>) {
        fn put(details: &mut BTreeMap<String, String>, key: &str, value: Option<String>) {
            if let Some(v) = value {
                details.insert(key.to_owned(), v);
            }
        }
        match self {
            Self::Oidc(o) => {
                put(details, "oidc_issuer", o.issuer.clone());
                put(details, "client_id", o.client_id.clone());
                put(details, "client_secret", o.client_secret.clone());
                put(details, "authorize_scopes", o.scopes.clone());
                put(details, "attributes_request_method", o.attributes_request_method.clone());
            }
            Self::Saml(s) => {
                // One metadata source at a time: giving one replaces the other.
                if s.metadata_url.is_some() {
                    details.remove("MetadataFile");
                }
                if s.metadata_xml.is_some() {
                    details.remove("MetadataURL");
                }
                put(details, "MetadataURL", s.metadata_url.clone());
                put(details, "MetadataFile", s.metadata_xml.clone());
                put(details, "IDPSignout", s.idp_signout.map(|b| b.to_string()));
                put(details, "IDPInit", s.idp_init.map(|b| b.to_string()));
                put(details, "EncryptedResponses", s.encrypted_responses.map(|b| b.to_string()));
            }
        }
    }
}

/// A request's domains, as every surface takes them: valid names, at most [`MAX_DOMAINS`].
pub fn domain_names<S: AsRef<str>>(raw: &[S]) -> Result<Vec<DomainName>, ConnectionError> {
    if raw.len() > MAX_DOMAINS {
        return Err(ConnectionError::Invalid(format!("A connection may have at most {MAX_DOMAINS} domains.")));
    }
    raw.iter()
        .map(|d| {
            let d = d.as_ref();
            DomainName::parse(d).ok_or_else(|| ConnectionError::Invalid(format!("{d:?} is not a valid domain name.")))
        })
        .collect()
}

/// The provider of a new connection: exactly one of `oidc` and `saml`, with what each
/// kind needs (an OIDC issuer and client id; SAML metadata by URL or as XML, not both).
pub fn new_provider(
    oidc: Option<OidcSettings>,
    saml: Option<SamlSettings>,
) -> Result<ProviderSettings, ConnectionError> {
    match (oidc, saml) {
        (Some(o), None) => {
            let missing = |v: &Option<String>| v.as_deref().is_none_or(|s| s.trim().is_empty());
            if missing(&o.issuer) || missing(&o.client_id) {
                return Err(ConnectionError::Invalid("An OIDC connection needs oidc.issuer and oidc.clientId.".into()));
            }
            Ok(ProviderSettings::Oidc(o))
        }
        (None, Some(s)) => {
            if s.metadata_url.is_none() && s.metadata_xml.is_none() {
                return Err(ConnectionError::Invalid(
                    "A SAML connection needs saml.metadataUrl or saml.metadataXml.".into(),
                ));
            }
            Ok(ProviderSettings::Saml(one_metadata(s)?))
        }
        _ => Err(ConnectionError::Invalid("Give exactly one of oidc and saml.".into())),
    }
}

/// The provider settings a change replaces: at most one of `oidc` and `saml`.
pub fn changed_provider(
    oidc: Option<OidcSettings>,
    saml: Option<SamlSettings>,
) -> Result<Option<ProviderSettings>, ConnectionError> {
    match (oidc, saml) {
        (Some(o), None) => Ok(Some(ProviderSettings::Oidc(o))),
        (None, Some(s)) => Ok(Some(ProviderSettings::Saml(one_metadata(s)?))),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ConnectionError::Invalid("Give at most one of oidc and saml.".into())),
    }
}

fn one_metadata(s: SamlSettings) -> Result<SamlSettings, ConnectionError> {
    if s.metadata_url.is_some() && s.metadata_xml.is_some() {
        return Err(ConnectionError::Invalid("Give saml.metadataUrl or saml.metadataXml, not both.".into()));
    }
    Ok(s)
}

fn check_mapping_size(m: &BTreeMap<String, String>) -> Result<(), ConnectionError> {
    if m.len() > MAX_ATTRIBUTE_MAPPINGS {
        return Err(ConnectionError::Invalid(format!(
            "The attributeMapping may have at most {MAX_ATTRIBUTE_MAPPINGS} entries."
        )));
    }
    Ok(())
}

/// The default attribute mapping: the user's email from the provider's usual claim.
fn default_mapping(kind: ProviderType) -> BTreeMap<String, String> {
    let claim = if kind == ProviderType::Saml { SAML_EMAIL_CLAIM } else { "email" };
    [("email".to_owned(), claim.to_owned())].into()
}

/// A new connection.
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub name: String,
    pub domains: Vec<DomainName>,
    pub provider: ProviderSettings,
    /// Pool attribute → provider claim, over the default (`email` from the usual claim).
    pub attribute_mapping: BTreeMap<String, String>,
    pub enabled: bool,
    pub default_role: Role,
    pub role_claim: Option<String>,
    pub role_mapping: BTreeMap<String, Role>,
}

/// A PATCH: each member given replaces the stored one.
#[derive(Debug, Clone, Default)]
pub struct ConnectionChange {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub domains: Option<Vec<DomainName>>,
    /// Settings given are written over the provider's (the type cannot change).
    pub provider: Option<ProviderSettings>,
    /// Replaces the whole mapping (the default `email` mapping is kept unless replaced).
    pub attribute_mapping: Option<BTreeMap<String, String>>,
    pub default_role: Option<Role>,
    /// `Some(None)` clears it (and requires the mapping to be cleared too).
    pub role_claim: Option<Option<String>>,
    pub role_mapping: Option<BTreeMap<String, Role>>,
}

/// A connection with its pool provider (secrets in the clear, in memory only: surfaces
/// show whether one is set, never its value). No `Debug`, so it cannot be logged whole.
#[derive(Clone)]
pub struct Detailed {
    pub connection: Connection,
    pub provider: IdentityProvider,
}

impl Detailed {
    /// The connection's email domains (its provider's identifiers).
    pub fn domains(&self) -> &[String] {
        &self.provider.identifiers
    }
}

/// What a tenant's admin enters at their provider for a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSetup {
    Oidc {
        /// The redirect (callback) URI.
        redirect_uri: String,
    },
    Saml {
        /// The service provider's entity id (audience): `urn:amazon:cognito:sp:{poolId}`.
        sp_entity_id: String,
        /// The assertion consumer service URL.
        acs_url: String,
        /// Cognate's service provider metadata for the connection's pool.
        sp_metadata_url: String,
    },
}

/// The values `d`'s provider must be configured with, from this server's public URL.
pub fn setup(state: &AppState, d: &Detailed) -> ProviderSetup {
    let public = state.settings.public_url.trim_end_matches('/');
    let pool = d.connection.pool_id.as_str();
    match d.connection.kind {
        ProviderType::Saml => ProviderSetup::Saml {
            sp_entity_id: format!("urn:amazon:cognito:sp:{pool}"),
            acs_url: format!("{public}/saml2/idpresponse"),
            sp_metadata_url: format!("{public}/saml2/metadata/{pool}"),
        },
        _ => ProviderSetup::Oidc { redirect_uri: format!("{public}/oauth2/idpresponse") },
    }
}

async fn active_tenant_pool(state: &AppState, tenant: &TenantId) -> Result<(Tenant, UserPool), ConnectionError> {
    let t = state.store.get_tenant(tenant).await?.ok_or(ConnectionError::TenantNotFound)?;
    let pool = state
        .store
        .get_pool(&t.pool_id)
        .await?
        .ok_or_else(|| ConnectionError::Fault(format!("tenant {} has no pool {}", t.id, t.pool_id)))?;
    Ok((t, pool))
}

/// Each domain must be a verified claim of `tenant`.
async fn check_domains(state: &AppState, tenant: &TenantId, domains: &[DomainName]) -> Result<(), ConnectionError> {
    for domain in domains {
        match state.store.get_domain(domain).await? {
            Some(claim) if &claim.tenant_id == tenant && claim.verified => {}
            _ => return Err(ConnectionError::DomainNotVerified(domain.to_string())),
        }
    }
    Ok(())
}

fn check_settings(
    name: &str,
    claim: Option<&str>,
    mapping: &BTreeMap<String, Role>,
    attributes: &BTreeMap<String, String>,
) -> Result<(), ConnectionError> {
    connection::check_name(name).map_err(ConnectionError::Invalid)?;
    connection::check_roles(claim, mapping).map_err(ConnectionError::Invalid)?;
    for attribute in attributes.keys() {
        // Checked as stored (`dev:custom:x` is kept as `custom:x`).
        let stored = super::users::stored_name(attribute);
        if tenancy::is_tenant_attribute(&stored) {
            return Err(ConnectionError::Invalid(format!(
                "{attribute} cannot be mapped from an identity provider: only Cognate sets tenant attributes"
            )));
        }
        // A tenant's IdP speaks for that tenant's people only: it may not vouch for an
        // address (a verified email at any domain would be trusted by every app of the
        // pool) nor write what only the pool's developers may.
        if stored.ends_with("_verified") || attribute.starts_with("dev:") {
            return Err(ConnectionError::Invalid(format!(
                "{attribute} cannot be mapped from a tenant's identity provider: its users' addresses stay \
                 unverified, and developer-only attributes are the pool's"
            )));
        }
    }
    Ok(())
}

fn identifiers(domains: &[DomainName]) -> Vec<String> {
    domains.iter().map(ToString::to_string).collect()
}

/// Creates a connection and its pool provider.
pub async fn create(state: &AppState, tenant: &TenantId, new: NewConnection) -> Result<Detailed, ConnectionError> {
    check_mapping_size(&new.attribute_mapping)?;
    let (t, pool) = active_tenant_pool(state, tenant).await?;
    let kind = new.provider.kind();
    let mut attribute_mapping = default_mapping(kind);
    attribute_mapping.extend(new.attribute_mapping);
    let name = new.name.trim().to_owned();
    check_settings(&name, new.role_claim.as_deref(), &new.role_mapping, &attribute_mapping)?;
    check_domains(state, tenant, &new.domains).await?;

    let id = connection::generate_id(state.rng.as_ref());
    let mut details = BTreeMap::new();
    if kind == ProviderType::Oidc {
        details.insert("authorize_scopes".to_owned(), DEFAULT_SCOPES.to_owned());
        details.insert("attributes_request_method".to_owned(), "GET".to_owned());
    }
    new.provider.apply(&mut details);
    let provider = idps::create(
        state,
        &pool,
        NewProvider {
            name: connection::provider_name(&id),
            kind,
            details,
            attribute_mapping,
            identifiers: identifiers(&new.domains),
            acr_mapping: BTreeMap::new(),
        },
    )
    .await?;
    let now = state.clock.now_millis();
    let row = Connection {
        id,
        tenant_id: t.id.clone(),
        pool_id: pool.id.clone(),
        provider_name: provider.name.clone(),
        kind,
        name,
        enabled: new.enabled,
        default_role: new.default_role,
        role_claim: new.role_claim,
        role_mapping: new.role_mapping,
        created_at: now,
        updated_at: now,
    };
    if let Err(e) = state.store.create_connection(&row).await {
        // The provider must not outlive a connection that was never made.
        if let Err(undo) = idps::delete(state, &pool.id, &provider.name).await {
            tracing::error!(provider = %provider.name, error = %undo, "could not remove the provider of a failed connection");
        }
        return Err(match e {
            StoreError::NotFound(_) => ConnectionError::TenantNotFound,
            other => other.into(),
        });
    }
    tracing::info!(tenant = %t.id, connection = %row.id, provider = %row.provider_name, "connection created");
    crate::facts::target(&row.id);
    Ok(Detailed { connection: row, provider })
}

/// The tenant's connection `id` with its provider.
pub async fn get(state: &AppState, tenant: &TenantId, id: &str) -> Result<Detailed, ConnectionError> {
    if !connection::is_id(id) {
        return Err(ConnectionError::NotFound);
    }
    let row = state.store.get_connection(tenant, id).await?.ok_or(ConnectionError::NotFound)?;
    detailed(state, row).await
}

async fn detailed(state: &AppState, row: Connection) -> Result<Detailed, ConnectionError> {
    let provider = match idps::get(state, &row.pool_id, &row.provider_name).await {
        Ok(p) => p,
        Err(IdpError::NotFound(name)) => {
            return Err(ConnectionError::Fault(format!("connection {} has lost its provider {name}", row.id)));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Detailed { connection: row, provider })
}

/// A page of the tenant's connections by id, with their providers.
pub async fn list(state: &AppState, tenant: &TenantId, page: &PageRequest) -> Result<Vec<Detailed>, ConnectionError> {
    if state.store.get_tenant(tenant).await?.is_none() {
        return Err(ConnectionError::TenantNotFound);
    }
    let rows = state.store.list_connections(tenant, page).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(detailed(state, row).await?);
    }
    Ok(out)
}

/// Changes a connection and its provider together.
pub async fn update(
    state: &AppState,
    tenant: &TenantId,
    id: &str,
    change: ConnectionChange,
) -> Result<Detailed, ConnectionError> {
    if let Some(m) = &change.attribute_mapping {
        check_mapping_size(m)?;
    }
    let current = get(state, tenant, id).await?;
    let mut row = current.connection.clone();
    if let Some(name) = change.name {
        row.name = name.trim().to_owned();
    }
    if let Some(enabled) = change.enabled {
        row.enabled = enabled;
    }
    if let Some(role) = change.default_role {
        row.default_role = role;
    }
    if let Some(claim) = change.role_claim {
        row.role_claim = claim;
    }
    if let Some(mapping) = change.role_mapping {
        row.role_mapping = mapping;
    }
    let attribute_mapping =
        change.attribute_mapping.clone().unwrap_or_else(|| current.provider.attribute_mapping.clone());
    check_settings(&row.name, row.role_claim.as_deref(), &row.role_mapping, &attribute_mapping)?;
    if let Some(domains) = &change.domains {
        check_domains(state, tenant, domains).await?;
    }

    let provider_changes = change.domains.is_some() || change.provider.is_some() || change.attribute_mapping.is_some();
    let mut provider = current.provider.clone();
    if provider_changes {
        let details = match &change.provider {
            Some(settings) if settings.kind() != row.kind => {
                return Err(ConnectionError::Invalid(format!(
                    "This is a {} connection; its type cannot change (create another connection).",
                    row.kind.as_str()
                )));
            }
            Some(settings) => {
                let mut details = current.provider.details.clone();
                settings.apply(&mut details);
                Some(details)
            }
            None => None,
        };
        let (_, pool) = active_tenant_pool(state, tenant).await?;
        provider = idps::update(
            state,
            &pool,
            &row.provider_name,
            ProviderChange {
                details,
                attribute_mapping: change.attribute_mapping,
                identifiers: change.domains.as_deref().map(identifiers),
                acr_mapping: None,
            },
        )
        .await?;
    }
    row.updated_at = state.clock.now_millis().max(row.created_at);
    if let Err(e) = state.store.update_connection(&row).await {
        if provider_changes {
            restore_provider(state, &current.provider).await;
        }
        return Err(match e {
            StoreError::NotFound(_) => ConnectionError::NotFound,
            other => other.into(),
        });
    }
    tracing::info!(tenant = %tenant, connection = %row.id, "connection updated");
    Ok(Detailed { connection: row, provider })
}

/// Puts a provider back as it was before an update whose row could not follow.
async fn restore_provider(state: &AppState, before: &IdentityProvider) {
    let pool = match state.store.get_pool(&before.pool_id).await {
        Ok(Some(pool)) => pool,
        _ => return,
    };
    let back = ProviderChange {
        details: Some(before.details.clone()),
        attribute_mapping: Some(before.attribute_mapping.clone()),
        identifiers: Some(before.identifiers.clone()),
        acr_mapping: Some(before.acr_mapping.clone()),
    };
    if let Err(e) = idps::update(state, &pool, &before.name, back).await {
        tracing::error!(provider = %before.name, error = %e, "could not restore a provider after a failed connection update");
    }
}

/// Deletes a connection and its provider.
pub async fn delete(state: &AppState, tenant: &TenantId, id: &str) -> Result<(), ConnectionError> {
    if !connection::is_id(id) {
        return Err(ConnectionError::NotFound);
    }
    let row = state.store.get_connection(tenant, id).await?.ok_or(ConnectionError::NotFound)?;
    match idps::delete(state, &row.pool_id, &row.provider_name).await {
        // Gone already (a deletion interrupted between provider and row): finish it.
        Ok(()) | Err(IdpError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    state.store.delete_connection(tenant, id).await.map_err(|e| match e {
        StoreError::NotFound(_) => ConnectionError::NotFound,
        other => other.into(),
    })?;
    tracing::info!(tenant = %tenant, connection = %id, "connection deleted");
    Ok(())
}

/// Deletes every connection's provider of a tenant that is being deleted (the rows go
/// with the tenant). Providers already gone are skipped.
pub async fn remove_all(state: &AppState, tenant: &TenantId) -> Result<(), ConnectionError> {
    let mut page = PageRequest { after: None, limit: 100 };
    loop {
        let rows = state.store.list_connections(tenant, &page).await?;
        let (rows, next) = cognate_core::page::finish(rows, &page, |c| c.id.clone());
        for row in rows {
            match idps::delete(state, &row.pool_id, &row.provider_name).await {
                Ok(()) | Err(IdpError::NotFound(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match next {
            Some(after) => page.after = Some(after),
            None => return Ok(()),
        }
    }
}

/// Takes a domain the tenant releases off the connection that routes it, if any, so that
/// no provider of this tenant keeps routing a domain it no longer holds.
pub async fn release_domain(state: &AppState, tenant: &TenantId, domain: &DomainName) -> Result<(), ConnectionError> {
    let t = state.store.get_tenant(tenant).await?.ok_or(ConnectionError::TenantNotFound)?;
    let Some(provider) = state.store.find_identity_provider(&t.pool_id, domain.as_str()).await? else {
        return Ok(());
    };
    let Some(conn) = state.store.connection_for_provider(&t.pool_id, &provider.name).await? else {
        return Ok(());
    };
    if &conn.tenant_id != tenant {
        return Ok(());
    }
    let current = detailed(state, conn).await?;
    let left: Vec<DomainName> = current
        .domains()
        .iter()
        .filter(|d| !d.eq_ignore_ascii_case(domain.as_str()))
        .filter_map(|d| DomainName::parse(d))
        .collect();
    let (_, pool) = active_tenant_pool(state, tenant).await?;
    let change = ProviderChange { identifiers: Some(identifiers(&left)), ..ProviderChange::default() };
    idps::update(state, &pool, &current.connection.provider_name, change).await?;
    tracing::info!(tenant = %tenant, connection = %current.connection.id, domain = %domain, "released domain taken off its connection");
    Ok(())
}

/// The tenant connection behind pool IdP `provider`, if any.
pub async fn for_provider(
    state: &AppState,
    pool: &PoolId,
    provider: &str,
) -> Result<Option<Connection>, ConnectionError> {
    Ok(state.store.connection_for_provider(pool, provider).await?)
}

/// The enabled connection of `tenant` that routes email domain `domain`, with its
/// provider type, if any (home-realm discovery).
pub async fn for_domain(
    state: &AppState,
    tenant: &Tenant,
    domain: &DomainName,
) -> Result<Option<Connection>, ConnectionError> {
    let Some(provider) = state.store.find_identity_provider(&tenant.pool_id, domain.as_str()).await? else {
        return Ok(None);
    };
    let found = state.store.connection_for_provider(&tenant.pool_id, &provider.name).await?;
    Ok(found.filter(|c| c.tenant_id == tenant.id && c.enabled))
}

/// What an admission did to the membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A new member (or a removed one back) with this role.
    Joined(Role),
    /// The mapping gave an existing member another role.
    RoleChanged { from: Role, to: Role },
    /// The membership stays as it was (no mapping applies, the same role, or the last
    /// admin kept).
    Unchanged(Role),
}

/// JIT: after a federated sign-in through `conn` by `user` (already created/updated in the
/// pool), refuse when the tenant is suspended or the connection disabled; ensure the
/// membership (create with the role from role_mapping applied to
/// `identity.attributes[role_claim]` — highest privilege wins, else default_role; on later
/// sign-ins update the role when a mapping is set and yields a different role, never
/// demoting the tenant's last admin); audited in the tenant's chain; returns the tenant id
/// the sign-in enters.
pub async fn admit(
    state: &AppState,
    conn: &Connection,
    user: &User,
    identity: &ExternalIdentity,
) -> Result<TenantId, ConnectionError> {
    let outcome = admit_member(state, conn, user, identity).await;
    let (action, success, reason) = match &outcome {
        Ok(Admission::Joined(role)) => ("sso.join", true, format!("{} joined as {role}", conn.id)),
        Ok(Admission::RoleChanged { from, to }) => {
            ("sso.role_change", true, format!("{} mapped {from} to {to}", conn.id))
        }
        Ok(Admission::Unchanged(role)) => ("sso.sign_in", true, format!("{} as {role}", conn.id)),
        Err(ConnectionError::TenantSuspended) => ("sso.sign_in", false, "tenant_suspended".to_owned()),
        Err(ConnectionError::Disabled) => ("sso.sign_in", false, "connection_disabled".to_owned()),
        Err(ConnectionError::WrongPool) => ("sso.sign_in", false, "wrong_pool".to_owned()),
        Err(_) => ("sso.sign_in", false, "internal_error".to_owned()),
    };
    state.audit.record(
        state,
        Entry {
            tenant: Some(conn.tenant_id.as_str()),
            pool_id: Some(conn.pool_id.as_str()),
            actor: &Actor::User(user.sub.clone()),
            action,
            target: Some(&user.sub),
            success,
            // The outcome, with the connection; never an asserted value.
            reason: Some(&reason),
            origin: &Origin::default(),
        },
    );
    outcome.map(|_| conn.tenant_id.clone())
}

async fn admit_member(
    state: &AppState,
    conn: &Connection,
    user: &User,
    identity: &ExternalIdentity,
) -> Result<Admission, ConnectionError> {
    // The row as stored now: a connection disabled since the caller read it admits nobody.
    let conn = state.store.get_connection(&conn.tenant_id, &conn.id).await?.ok_or(ConnectionError::Disabled)?;
    if !conn.enabled {
        return Err(ConnectionError::Disabled);
    }
    let tenant = state.store.get_tenant(&conn.tenant_id).await?.ok_or(ConnectionError::TenantNotFound)?;
    if tenant.status != TenantStatus::Active {
        return Err(ConnectionError::TenantSuspended);
    }
    if user.pool_id != tenant.pool_id || user.pool_id != conn.pool_id {
        return Err(ConnectionError::WrongPool);
    }
    let existing =
        state.store.get_membership(&tenant.id, &user.sub).await?.filter(|m| m.status == MembershipStatus::Active);
    let Some(member) = existing else {
        let role = conn.role_for(&identity.attributes);
        let mut joining = user.clone();
        joining.updated_at = state.clock.now_millis().max(joining.updated_at);
        tenancy::join(state, &tenant, &mut joining, role, false).await?;
        tracing::info!(tenant = %tenant.id, connection = %conn.id, sub = %user.sub, role = %role, "federated user joined");
        return Ok(Admission::Joined(role));
    };
    let mapped = if conn.maps_roles() { conn.mapped_role_of(&identity.attributes) } else { None };
    match mapped {
        Some(role) if role != member.role => match tenancy::change_role(state, &tenant, &member, role).await {
            Ok(()) => {
                tracing::info!(tenant = %tenant.id, connection = %conn.id, sub = %user.sub, from = %member.role, to = %role, "federated member's role mapped");
                Ok(Admission::RoleChanged { from: member.role, to: role })
            }
            // The tenant keeps its admin; the sign-in goes on with the role they have.
            Err(StoreError::LastAdmin) => {
                tracing::warn!(tenant = %tenant.id, connection = %conn.id, sub = %user.sub, "mapping would demote the last admin; role kept");
                Ok(Admission::Unchanged(member.role))
            }
            Err(e) => Err(e.into()),
        },
        _ => Ok(Admission::Unchanged(member.role)),
    }
}

/// What "test connection" found: the provider's published configuration, or why it could
/// not be read.
#[derive(Debug)]
pub enum Probe {
    Oidc(crate::federation_oidc::ProbeReport),
    Saml(super::federation_saml::SamlProbe),
    /// The provider could not be read or is unusable; the message says why.
    Failed(String),
}

/// Tests a connection: reads its provider's discovery document and keys (OIDC) or metadata
/// (SAML) now, as the next sign-in would.
pub async fn test(state: &AppState, tenant: &TenantId, id: &str) -> Result<(Detailed, Probe), ConnectionError> {
    let found = get(state, tenant, id).await?;
    let probe = match found.provider.kind {
        ProviderType::Saml => match super::federation_saml::probe(state, &found.provider).await {
            Ok(report) => Probe::Saml(report),
            Err(e) => Probe::Failed(e.to_string()),
        },
        _ => match state.oidc.probe(&found.provider.details).await {
            Ok(report) => Probe::Oidc(report),
            Err(e) => Probe::Failed(e.to_string()),
        },
    };
    Ok((found, probe))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc(issuer: Option<&str>) -> OidcSettings {
        OidcSettings { issuer: issuer.map(str::to_owned), client_id: Some("abc".into()), ..OidcSettings::default() }
    }

    fn saml(url: Option<&str>, xml: Option<&str>) -> SamlSettings {
        SamlSettings {
            metadata_url: url.map(str::to_owned),
            metadata_xml: xml.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn a_new_connection_needs_exactly_one_complete_provider() {
        assert!(new_provider(Some(oidc(Some("https://idp.example"))), None).is_ok());
        assert!(new_provider(Some(oidc(None)), None).is_err());
        assert!(new_provider(Some(oidc(Some("  "))), None).is_err());
        assert!(new_provider(None, None).is_err());
        assert!(new_provider(None, Some(saml(Some("https://idp.example/md"), None))).is_ok());
        assert!(new_provider(None, Some(saml(None, None))).is_err());
        assert!(new_provider(None, Some(saml(Some("https://x"), Some("<x/>")))).is_err());
        assert!(new_provider(Some(oidc(Some("https://idp.example"))), Some(saml(None, Some("<x/>")))).is_err());
        assert!(changed_provider(None, None).unwrap().is_none());
        assert!(changed_provider(Some(oidc(None)), Some(saml(None, None))).is_err());
        assert!(changed_provider(None, Some(saml(Some("https://x"), Some("<x/>")))).is_err());
    }

    #[test]
    fn domains_are_parsed_and_bounded() {
        assert_eq!(domain_names(&["Acme.COM"]).unwrap()[0].as_str(), "acme.com");
        assert!(domain_names(&["not a domain"]).is_err());
        assert!(domain_names(&vec!["acme.com"; MAX_DOMAINS + 1]).is_err());
    }
}

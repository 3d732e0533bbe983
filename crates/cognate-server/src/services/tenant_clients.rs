//! App clients a tenant owns: machine-to-machine clients its admins make for their
//! integration (the developer portal), used with the OAuth `client_credentials` grant.
//!
//! Ownership is the client's `CognateTenantId` setting ([`ClientSettings::tenant_id`]):
//! stored with the client (no table of its own, no migration), read where the client is
//! already loaded (issuing a machine token costs no extra lookup for unowned clients), and
//! never settable through the Cognito surface. A tenant's client lives in the tenant's
//! placement pool, has a secret (shown once) and only the `client_credentials` flow, and its
//! tokens carry `custom:tenantId` ([`super::client_tokens`]), so a resource server treats the
//! program as acting in that tenant. Tokens stop when the tenant is suspended or moved to
//! another pool (a tier move leaves its clients behind: they must be made again).
//!
//! Listing reads the pool's clients and keeps the tenant's ([`MAX_SCANNED`] at most): the
//! shared pool holds few clients besides tenants' own, and a tenant may own at most
//! [`MAX_PER_TENANT`].

use cognate_core::StoreError;
use cognate_core::client::{AppClient, ClientSettings, valid_client_name};
use cognate_core::ids::ClientId;
use cognate_core::page::PageRequest;
use cognate_core::tenant::{Tenant, TenantId, TenantStatus};

use super::clients::{self, ClientError};
use super::resource_servers;
use crate::AppState;

/// Most clients one tenant may own.
pub const MAX_PER_TENANT: usize = 20;
/// Most clients of a pool read to list a tenant's.
pub const MAX_SCANNED: usize = 20_000;
/// Most scopes on one client.
pub const MAX_SCOPES: usize = 50;

/// Why a tenant client operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantClientError {
    /// No such client of this tenant (another tenant's is not found either).
    #[error("no such app client")]
    NotFound,
    /// Input the operation refuses (the message says why).
    #[error("{0}")]
    Invalid(String),
    #[error("a tenant may own at most {MAX_PER_TENANT} app clients")]
    TooMany,
    #[error("internal error: {0}")]
    Fault(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ClientError> for TenantClientError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::NotFound => Self::NotFound,
            ClientError::Invalid(m) => Self::Invalid(m),
            ClientError::Store(e) => Self::Store(e),
            other => Self::Fault(other.to_string()),
        }
    }
}

/// A machine client to make, as asked (unchecked).
#[derive(Debug, Clone, Default)]
pub struct NewTenantClient {
    /// 1 to 128 characters of letters, digits, spaces and `+=,.@-` (Cognito's client names).
    pub name: String,
    /// Resource-server scopes (`{identifier}/{scope}`) of the tenant's pool; at least one.
    pub scopes: Vec<String>,
}

/// Makes a machine client owned by `tenant` in its pool; returns it and its secret (the
/// only time the secret is shown by the console).
pub async fn create(
    state: &AppState,
    tenant: &Tenant,
    req: NewTenantClient,
) -> Result<(AppClient, String), TenantClientError> {
    let name = req.name.trim().to_owned();
    if !valid_client_name(&name) {
        return Err(TenantClientError::Invalid(
            "The client name must be 1 to 128 letters, digits, spaces or any of + = , . @ -.".into(),
        ));
    }
    let scopes = offered(state, tenant, req.scopes).await?;
    if list(state, tenant).await?.len() >= MAX_PER_TENANT {
        return Err(TenantClientError::TooMany);
    }
    let settings = ClientSettings {
        allowed_oauth_flows: vec!["client_credentials".into()],
        allowed_oauth_flows_user_pool_client: true,
        allowed_oauth_scopes: scopes,
        tenant_id: Some(tenant.id.to_string()),
        ..ClientSettings::default()
    };
    let client = clients::create(state, &tenant.pool_id, name, settings, true).await?;
    let secret = clients::secret(state, &client)?.ok_or_else(|| TenantClientError::Fault("no secret".into()))?;
    tracing::info!(tenant = %tenant.id, client = %client.id, "tenant app client created");
    Ok((client, secret))
}

/// The requested scopes, each defined by a resource server of the tenant's pool; repeats
/// dropped. At least one (a machine token needs a scope).
async fn offered(state: &AppState, tenant: &Tenant, scopes: Vec<String>) -> Result<Vec<String>, TenantClientError> {
    if scopes.is_empty() {
        return Err(TenantClientError::Invalid("Choose at least one scope.".into()));
    }
    if scopes.len() > MAX_SCOPES {
        return Err(TenantClientError::Invalid(format!("At most {MAX_SCOPES} scopes.")));
    }
    let mut defined = resource_servers::Scopes::of(state, &tenant.pool_id);
    let mut out: Vec<String> = Vec::with_capacity(scopes.len());
    for scope in scopes {
        if scope.len() > 512 || !scope.contains('/') || !defined.defines(&scope).await? {
            return Err(TenantClientError::Invalid(format!(
                "Unknown scope {scope:?}: choose scopes of this tenant's resource servers."
            )));
        }
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out)
}

/// The scopes a tenant's client may be given: every scope of its pool's resource servers.
pub async fn scopes_on_offer(state: &AppState, tenant: &Tenant) -> Result<Vec<String>, TenantClientError> {
    let mut out = Vec::new();
    let mut page = PageRequest { after: None, limit: 60 };
    loop {
        let servers = resource_servers::list(state, &tenant.pool_id, &page)
            .await
            .map_err(|e| TenantClientError::Fault(e.to_string()))?;
        let (servers, next) = cognate_core::page::finish(servers, &page, |rs| rs.identifier.clone());
        for rs in servers {
            out.extend(rs.scopes.iter().map(|s| format!("{}/{}", rs.identifier, s.scope_name)));
        }
        match next {
            Some(after) if out.len() < 1_000 => page.after = Some(after),
            _ => return Ok(out),
        }
    }
}

/// The clients `tenant` owns in its pool, oldest first.
pub async fn list(state: &AppState, tenant: &Tenant) -> Result<Vec<AppClient>, TenantClientError> {
    let mut out = Vec::new();
    let mut page = PageRequest { after: None, limit: 200 };
    let mut scanned = 0;
    loop {
        let rows = clients::list(state, &tenant.pool_id, &page).await?;
        let (rows, next) = cognate_core::page::finish(rows, &page, |c| c.id.to_string());
        scanned += rows.len();
        out.extend(rows.into_iter().filter(|c| owned_by(c, &tenant.id)));
        match next {
            Some(after) if scanned < MAX_SCANNED => page.after = Some(after),
            _ => break,
        }
    }
    out.sort_by_key(|c| c.created_at);
    Ok(out)
}

/// Deletes the client `id` if `tenant` owns it; any other id (another tenant's client, the
/// pool's own clients, garbage) is `NotFound` and nothing changes.
pub async fn delete(state: &AppState, tenant: &Tenant, id: &str) -> Result<(), TenantClientError> {
    let id = ClientId::parse(id).ok_or(TenantClientError::NotFound)?;
    let client = clients::get(state, &tenant.pool_id, &id).await?;
    if !owned_by(&client, &tenant.id) {
        return Err(TenantClientError::NotFound);
    }
    clients::delete(state, &tenant.pool_id, &id).await?;
    tracing::info!(tenant = %tenant.id, client = %id, "tenant app client deleted");
    Ok(())
}

fn owned_by(client: &AppClient, tenant: &TenantId) -> bool {
    client.settings.tenant_id.as_deref() == Some(tenant.as_str())
}

/// Why a tenant's client may not get tokens now.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    /// Its tenant is suspended, deleted, or placed in another pool.
    #[error("the client's tenant is not active in its pool")]
    Inactive,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The tenant a client's tokens speak for: `None` for a client no tenant owns; a refusal
/// when its tenant is not active in the client's pool.
pub async fn owner(state: &AppState, client: &AppClient) -> Result<Option<TenantId>, OwnerError> {
    let Some(raw) = client.settings.tenant_id.as_deref() else { return Ok(None) };
    let id = TenantId::parse(raw).ok_or(OwnerError::Inactive)?;
    let tenant = state.store.get_tenant(&id).await?.ok_or(OwnerError::Inactive)?;
    if tenant.status != TenantStatus::Active || tenant.pool_id != client.pool_id {
        return Err(OwnerError::Inactive);
    }
    Ok(Some(id))
}

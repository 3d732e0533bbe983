//! App clients of a user pool, and how a client proves who it is. Callers validate the
//! settings against the pool (the surface's rules and messages); the lifecycle lives here:
//! a client's secret is generated once, sealed with the master key at rest and never
//! changes; ids are unique across pools, so a client id alone finds its pool.

use cognate_core::StoreError;
use cognate_core::client::{AppClient, ClientSettings, SECRET_LABEL};
use cognate_core::crypto::constant_time_eq;
use cognate_core::ids::{self, ClientId, PoolId};
use cognate_core::page::PageRequest;

use crate::AppState;

/// Why a client operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no such app client")]
    NotFound,
    /// Unknown client, wrong secret, a secret missing or one sent by a public client.
    #[error("bad client credentials")]
    BadCredentials,
    #[error("internal error: {0}")]
    Fault(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new client of `pool`, with a generated secret when `with_secret`.
pub async fn create(
    state: &AppState,
    pool: &PoolId,
    name: String,
    settings: ClientSettings,
    with_secret: bool,
) -> Result<AppClient, ClientError> {
    let rng = state.rng.as_ref();
    let secret_sealed = with_secret.then(|| {
        let secret = ids::generate_client_secret(rng);
        state.master_key.seal(rng, SECRET_LABEL, secret.as_bytes())
    });
    let now = state.clock.now_millis();
    let client = AppClient {
        pool_id: pool.clone(),
        id: ClientId::generate(rng),
        name,
        secret_sealed,
        settings,
        created_at: now,
        updated_at: now,
    };
    state.store.create_client(&client).await?;
    tracing::info!(pool = %pool, client = %client.id, "app client created");
    Ok(client)
}

/// The client `id` of `pool`.
pub async fn get(state: &AppState, pool: &PoolId, id: &ClientId) -> Result<AppClient, ClientError> {
    state.store.get_client(pool, id).await?.ok_or(ClientError::NotFound)
}

/// The client `id`, whichever pool it is in; the pool becomes the call's (for the record).
pub async fn find(state: &AppState, id: &ClientId) -> Result<AppClient, ClientError> {
    lookup(state, id).await?.ok_or(ClientError::NotFound)
}

/// [`find`], `None` for an unknown id.
pub async fn lookup(state: &AppState, id: &ClientId) -> Result<Option<AppClient>, StoreError> {
    let client = state.store.find_client(id).await?;
    if let Some(c) = &client {
        crate::facts::pool(&c.pool_id);
    }
    Ok(client)
}

/// A page of the pool's clients, by id.
pub async fn list(state: &AppState, pool: &PoolId, page: &PageRequest) -> Result<Vec<AppClient>, ClientError> {
    Ok(state.store.list_clients(pool, page).await?)
}

/// Stores a client's new name and settings (its id, pool and secret never change).
pub async fn update(state: &AppState, client: &AppClient) -> Result<(), ClientError> {
    match state.store.update_client(client).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound(_)) => Err(ClientError::NotFound),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(state: &AppState, pool: &PoolId, id: &ClientId) -> Result<(), ClientError> {
    match state.store.delete_client(pool, id).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(ClientError::NotFound),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool, client = %id, "app client deleted");
    Ok(())
}

/// The client's secret in the clear, if it has one.
pub fn secret(state: &AppState, client: &AppClient) -> Result<Option<String>, ClientError> {
    let Some(sealed) = &client.secret_sealed else { return Ok(None) };
    let raw = state.master_key.open(SECRET_LABEL, sealed).map_err(|e| ClientError::Fault(e.to_string()))?;
    String::from_utf8(raw).map(Some).map_err(|e| ClientError::Fault(e.to_string()))
}

/// A client that proved who it is.
#[derive(Debug)]
pub struct Authenticated {
    pub client: AppClient,
    /// It has a secret and presented it (a confidential client).
    pub confidential: bool,
}

/// Authenticates client `id` by its secret (OAuth endpoints, services verifying API keys):
/// a client with a secret must present it, a public client must present none. Unknown ids
/// answer exactly like a wrong secret.
pub async fn authenticate(state: &AppState, id: &str, presented: Option<&str>) -> Result<Authenticated, ClientError> {
    let id = ClientId::parse(id).ok_or(ClientError::BadCredentials)?;
    let client = state.store.find_client(&id).await?.ok_or(ClientError::BadCredentials)?;
    let confidential = match (&client.secret_sealed, presented.filter(|s| !s.is_empty())) {
        (Some(sealed), Some(presented)) => {
            let secret = state.master_key.open(SECRET_LABEL, sealed).map_err(|e| ClientError::Fault(e.to_string()))?;
            if !constant_time_eq(&secret, presented.as_bytes()) {
                return Err(ClientError::BadCredentials);
            }
            true
        }
        (Some(_), None) | (None, Some(_)) => return Err(ClientError::BadCredentials),
        (None, None) => false,
    };
    crate::facts::pool(&client.pool_id);
    crate::facts::actor(crate::audit::Actor::Client(client.id.to_string()));
    Ok(Authenticated { client, confidential })
}

//! App clients of a user pool, and how a client proves who it is. Callers validate the
//! settings against the pool (the surface's rules and messages); the lifecycle lives here:
//! a client's secret is generated once, sealed with the master key at rest and never
//! changes; ids are unique across pools, so a client id alone finds its pool.

use cognate_core::StoreError;
use cognate_core::client::{AppClient, ClientSecret, ClientSettings, MAX_CLIENT_SECRETS, SECRET_LABEL};
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
    /// Input the operation refuses (its message).
    #[error("{0}")]
    Invalid(String),
    /// The client already has [`MAX_CLIENT_SECRETS`] secrets.
    #[error("too many client secrets")]
    SecretLimit,
    /// No such secret of this client.
    #[error("no such client secret")]
    SecretNotFound,
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
    let id = ClientId::generate(state.rng.as_ref());
    insert(state, pool, id, name, settings, with_secret).await
}

/// A new client of `pool` with a given id (the console's, derived from the pool's), no
/// secret. `Store(Conflict)` when the id exists.
pub async fn create_with_id(
    state: &AppState,
    pool: &PoolId,
    id: ClientId,
    name: String,
    settings: ClientSettings,
) -> Result<AppClient, ClientError> {
    insert(state, pool, id, name, settings, false).await
}

async fn insert(
    state: &AppState,
    pool: &PoolId,
    id: ClientId,
    name: String,
    settings: ClientSettings,
    with_secret: bool,
) -> Result<AppClient, ClientError> {
    check_providers(state, pool, &settings).await?;
    let rng = state.rng.as_ref();
    let now = state.clock.now_millis();
    let secrets: Vec<ClientSecret> = if with_secret {
        let secret = ids::generate_client_secret(rng);
        vec![new_secret(state, &secret, now)]
    } else {
        Vec::new()
    };
    let client = AppClient {
        pool_id: pool.clone(),
        id,
        name,
        secret_sealed: secrets.first().map(|s| s.sealed.clone()),
        secrets,
        secrets_version: 0,
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

/// [`find`], `None` for an unknown id (this node's copy, see [`crate::directory`]; writes
/// start from [`get`], which reads the database).
pub async fn lookup(state: &AppState, id: &ClientId) -> Result<Option<AppClient>, StoreError> {
    let client = state.directory.client(state, id).await?;
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
    check_providers(state, &client.pool_id, &client.settings).await?;
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

/// A client may list `COGNITO` and the pool's identity providers in
/// SupportedIdentityProviders, nothing else.
async fn check_providers(state: &AppState, pool: &PoolId, settings: &ClientSettings) -> Result<(), ClientError> {
    use crate::services::identity_providers::{self, IdpError};
    match identity_providers::check_supported(state, pool, &settings.supported_identity_providers).await {
        Ok(()) => Ok(()),
        Err(IdpError::Store(e)) => Err(e.into()),
        Err(e) => Err(ClientError::Invalid(e.to_string())),
    }
}

/// The client's secret in the clear (the one DescribeUserPoolClient shows), if it has one.
pub fn secret(state: &AppState, client: &AppClient) -> Result<Option<String>, ClientError> {
    client.secret_sealed.as_deref().map(|sealed| open(state, sealed)).transpose()
}

/// Every secret the client accepts, in the clear (one, or two during a rotation).
pub fn secrets(state: &AppState, client: &AppClient) -> Result<Vec<String>, ClientError> {
    client.accepted_secrets().into_iter().map(|sealed| open(state, sealed)).collect()
}

fn open(state: &AppState, sealed: &str) -> Result<String, ClientError> {
    let raw = state.master_key.open(SECRET_LABEL, sealed).map_err(|e| ClientError::Fault(e.to_string()))?;
    String::from_utf8(raw).map_err(|e| ClientError::Fault(e.to_string()))
}

fn new_secret(state: &AppState, secret: &str, at: i64) -> ClientSecret {
    let rng = state.rng.as_ref();
    ClientSecret {
        id: ids::generate_client_secret(rng)[..26].to_owned(),
        sealed: state.master_key.seal(rng, SECRET_LABEL, secret.as_bytes()),
        created_at: at,
    }
}

/// A secret added to a client: its id, value (shown once) and creation time.
#[derive(Debug)]
pub struct AddedSecret {
    pub id: String,
    pub value: String,
    pub created_at: i64,
}

/// How many times a secret change is retried when concurrent changes keep winning.
const SECRET_CHANGE_ATTEMPTS: usize = 5;

/// AddUserPoolClientSecret: a second secret for a confidential client (`chosen`, or a
/// generated one), so its callers can move to it before the old one is deleted.
pub async fn add_secret(
    state: &AppState,
    pool: &PoolId,
    id: &ClientId,
    chosen: Option<&str>,
) -> Result<AddedSecret, ClientError> {
    if let Some(s) = chosen
        && !(24..=64).contains(&s.len())
    {
        return Err(ClientError::Invalid("ClientSecret must be 24 to 64 characters long.".into()));
    }
    if let Some(s) = chosen
        && !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'+')
    {
        return Err(ClientError::Invalid("ClientSecret may contain only letters, digits, _ and +.".into()));
    }
    let value = chosen.map_or_else(|| ids::generate_client_secret(state.rng.as_ref()), str::to_owned);
    for _ in 0..SECRET_CHANGE_ATTEMPTS {
        let client = get(state, pool, id).await?;
        if client.secrets.is_empty() {
            return Err(ClientError::Invalid(format!("Client {id} has no secret: it is a public client.")));
        }
        if client.secrets.len() >= MAX_CLIENT_SECRETS {
            return Err(ClientError::SecretLimit);
        }
        let added = new_secret(state, &value, state.clock.now_millis());
        let mut secrets = client.secrets.clone();
        secrets.push(added.clone());
        if state.store.replace_client_secrets(&client, &secrets).await? {
            tracing::info!(pool = %pool, client = %id, secret = %added.id, "client secret added");
            return Ok(AddedSecret { id: added.id, value, created_at: added.created_at });
        }
    }
    Err(ClientError::Fault("client secrets kept changing concurrently".into()))
}

/// ListUserPoolClientSecrets: the client's secrets, without their values.
pub async fn list_secrets(state: &AppState, pool: &PoolId, id: &ClientId) -> Result<Vec<ClientSecret>, ClientError> {
    Ok(get(state, pool, id).await?.secrets)
}

/// DeleteUserPoolClientSecret: stops accepting one of the client's secrets; the last one
/// cannot be deleted.
pub async fn delete_secret(state: &AppState, pool: &PoolId, id: &ClientId, secret: &str) -> Result<(), ClientError> {
    for _ in 0..SECRET_CHANGE_ATTEMPTS {
        let client = get(state, pool, id).await?;
        if !client.secrets.iter().any(|s| s.id == secret) {
            return Err(ClientError::SecretNotFound);
        }
        if client.secrets.len() == 1 {
            return Err(ClientError::Invalid("The last secret of an app client cannot be deleted.".into()));
        }
        let kept: Vec<ClientSecret> = client.secrets.iter().filter(|s| s.id != secret).cloned().collect();
        if state.store.replace_client_secrets(&client, &kept).await? {
            tracing::info!(pool = %pool, client = %id, secret = %secret, "client secret deleted");
            return Ok(());
        }
    }
    Err(ClientError::Fault("client secrets kept changing concurrently".into()))
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
    let client = state.directory.client(state, &id).await?.ok_or(ClientError::BadCredentials)?;
    let accepted = secrets(state, &client)?;
    let confidential = match (accepted.is_empty(), presented.filter(|s| !s.is_empty())) {
        (false, Some(presented)) => {
            // Every secret is compared, so the time does not tell which one matched.
            let matched = accepted.iter().fold(false, |m, s| constant_time_eq(s.as_bytes(), presented.as_bytes()) | m);
            if !matched {
                return Err(ClientError::BadCredentials);
            }
            true
        }
        (false, None) | (true, Some(_)) => return Err(ClientError::BadCredentials),
        (true, None) => false,
    };
    crate::facts::pool(&client.pool_id);
    crate::facts::actor(crate::audit::Actor::Client(client.id.to_string()));
    Ok(Authenticated { client, confidential })
}

//! A pool's token signing keys, for the `cognate keys` commands and the platform admin
//! portal alike: listing them with their state, rotating (a new key signs from now on,
//! older ones stay published until retired) and retiring (the key leaves the JWKS and the
//! tokens it signed stop verifying). The rules:
//! - a rotation first proves the master key opens the pool's current keys: a key sealed
//!   under another master key would break signing on every node;
//! - the last active key of a pool cannot be retired (the next request would silently make
//!   a new one); rotate first, so the operator knows the new kid.
//!
//! These functions take the store, master key, randomness and time rather than the whole
//! application state, because the CLI runs them without a server; [`rotate_here`] and
//! [`retire_here`] also make this node switch at once.

use cognate_core::ids::PoolId;
use cognate_core::jwt::{self, Signer, SigningKeyRecord};
use cognate_core::repo::Store;
use cognate_core::{Clock, Rng, StoreError};

use crate::AppState;
use crate::keys::KeyRingError;

/// Why a key operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    /// No such pool (the id as given).
    #[error("no user pool {0}")]
    PoolNotFound(String),
    #[error("pool {pool} has no signing key {kid}")]
    KeyNotFound { pool: PoolId, kid: String },
    /// Retiring the pool's only active key; rotate first.
    #[error("{kid} is the only active key of {pool}")]
    LastActive { pool: PoolId, kid: String },
    /// The master key in use does not open the pool's current key.
    #[error("the master key does not open this pool's signing keys")]
    WrongMasterKey,
    #[error(transparent)]
    Key(#[from] jwt::KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<KeyRingError> for SigningKeyError {
    fn from(e: KeyRingError) -> Self {
        match e {
            KeyRingError::Store(e) => e.into(),
            KeyRingError::Key(e) => e.into(),
        }
    }
}

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// The newest key not retired: it signs.
    Active,
    /// Published (tokens it signed still verify) but no longer signing: retire it once
    /// those tokens have expired.
    Retiring,
    /// Gone from the JWKS; tokens it signed are refused.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

/// A key as operators see it (never its private part).
#[derive(Debug, Clone)]
pub struct KeyView {
    pub kid: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub state: KeyState,
}

/// What a retirement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retired {
    Now,
    Already,
}

async fn existing_pool(store: &dyn Store, pool: &PoolId) -> Result<(), SigningKeyError> {
    match store.get_pool(pool).await? {
        Some(_) => Ok(()),
        None => Err(SigningKeyError::PoolNotFound(pool.to_string())),
    }
}

/// The key that signs: the newest not retired (as the key ring picks it).
fn signing(records: &[SigningKeyRecord]) -> Option<&SigningKeyRecord> {
    records.iter().filter(|r| r.retired_at.is_none()).max_by_key(|r| (r.created_at, r.kid.clone()))
}

/// The pool's keys, oldest first, with their states.
pub async fn list(store: &dyn Store, pool: &PoolId) -> Result<Vec<KeyView>, SigningKeyError> {
    existing_pool(store, pool).await?;
    let records = store.list_signing_keys(pool).await?;
    let active = signing(&records).map(|r| r.kid.clone());
    Ok(records
        .into_iter()
        .map(|r| KeyView {
            state: match (&r.retired_at, active.as_deref() == Some(r.kid.as_str())) {
                (Some(_), _) => KeyState::Retired,
                (None, true) => KeyState::Active,
                (None, false) => KeyState::Retiring,
            },
            kid: r.kid,
            created_at: r.created_at,
            retired_at: r.retired_at,
        })
        .collect())
}

/// Adds a new key to `pool`; it signs from now on (other nodes switch as soon as they hear
/// of it, or at their next poll: see [`crate::keys`]). Returns the new kid.
pub async fn rotate(
    store: &dyn Store,
    master: &cognate_core::crypto::MasterKey,
    rng: &dyn Rng,
    clock: &dyn Clock,
    pool: &PoolId,
) -> Result<String, SigningKeyError> {
    existing_pool(store, pool).await?;
    if let Some(current) = signing(&store.list_signing_keys(pool).await?) {
        Signer::open(current, master).map_err(|_| SigningKeyError::WrongMasterKey)?;
    }
    let (record, _) = jwt::generate_key(pool, rng, master, clock.now_millis())?;
    store.create_signing_key(&record).await?;
    tracing::info!(pool = %pool, kid = %record.kid, "signing key rotated");
    Ok(record.kid)
}

/// Retires `kid` of `pool`: it leaves the JWKS and tokens it signed stop verifying on
/// Cognate's endpoints at once. Refused for the pool's last active key.
pub async fn retire(store: &dyn Store, pool: &PoolId, kid: &str, now: i64) -> Result<Retired, SigningKeyError> {
    existing_pool(store, pool).await?;
    let keys = store.list_signing_keys(pool).await?;
    let Some(key) = keys.iter().find(|k| k.kid == kid) else {
        return Err(SigningKeyError::KeyNotFound { pool: pool.clone(), kid: kid.to_owned() });
    };
    if key.retired_at.is_some() {
        return Ok(Retired::Already);
    }
    if !keys.iter().any(|k| k.kid != kid && k.retired_at.is_none()) {
        return Err(SigningKeyError::LastActive { pool: pool.clone(), kid: kid.to_owned() });
    }
    store.retire_signing_key(pool, kid, now).await?;
    tracing::info!(pool = %pool, kid = %kid, "signing key retired");
    Ok(Retired::Now)
}

/// [`rotate`] from a running server: this node signs with the new key at once.
pub async fn rotate_here(state: &AppState, pool: &PoolId) -> Result<String, SigningKeyError> {
    let kid = rotate(state.store.as_ref(), &state.master_key, state.rng.as_ref(), state.clock.as_ref(), pool).await?;
    state.keys.forget(pool);
    Ok(kid)
}

/// [`retire`] from a running server: this node stops signing with the key at once.
pub async fn retire_here(state: &AppState, pool: &PoolId, kid: &str) -> Result<Retired, SigningKeyError> {
    let done = retire(state.store.as_ref(), pool, kid, state.clock.now_millis()).await?;
    state.keys.forget(pool);
    Ok(done)
}

//! Per-pool signing key rings, cached in memory.
//!
//! The newest key that is not retired signs. Several nodes share the keys through the
//! database: a node refreshes its view after [`CACHE_TTL_MS`], so after `cognate keys
//! rotate` (see [`crate::services::signing_keys`]) every node signs with the new key within that time, and the JWKS (read from the
//! database on each request) already lists it. No lock is held across database I/O.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::jwt::{self, Signer, SigningKeyRecord};

use crate::AppState;

/// How long a node signs with its cached view of a pool's keys: 5 s. (Verification always
/// reads the published keys, so a retired key is refused at once.)
pub const CACHE_TTL_MS: i64 = 5_000;

/// A pool's keys as one node sees them.
pub struct PoolKeys {
    /// Every key, retired ones included (verification refuses those).
    pub records: Vec<SigningKeyRecord>,
    pub signer: Arc<Signer>,
    loaded_at: i64,
}

#[derive(Default)]
pub struct KeyRing {
    pools: RwLock<HashMap<PoolId, Arc<PoolKeys>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] jwt::KeyError),
}

impl KeyRing {
    fn cached(&self, pool: &PoolId, now: i64) -> Option<Arc<PoolKeys>> {
        let map = self.pools.read().ok()?;
        map.get(pool).filter(|k| now - k.loaded_at < CACHE_TTL_MS).cloned()
    }

    /// The pool's keys, creating the first one if the pool has none.
    pub async fn get(&self, state: &AppState, pool: &PoolId) -> Result<Arc<PoolKeys>, KeyRingError> {
        let now = state.clock.now_millis();
        if let Some(keys) = self.cached(pool, now) {
            return Ok(keys);
        }
        self.reload(state, pool).await
    }

    /// Reloads a pool's keys from the database (on expiry, or when a token names a kid
    /// this node has not seen yet).
    pub async fn reload(&self, state: &AppState, pool: &PoolId) -> Result<Arc<PoolKeys>, KeyRingError> {
        let now = state.clock.now_millis();
        let mut records = state.store.list_signing_keys(pool).await?;
        if !records.iter().any(|r| r.retired_at.is_none()) {
            // First use of the pool (or every key retired): make a key. Two nodes racing
            // here each add one; both are published and either may sign.
            let (record, _) = jwt::generate_key(pool, state.rng.as_ref(), &state.master_key, now)?;
            state.store.create_signing_key(&record).await?;
            tracing::info!(pool = %pool, kid = %record.kid, "created a signing key");
            records.push(record);
        }
        let newest = records
            .iter()
            .filter(|r| r.retired_at.is_none())
            .max_by_key(|r| (r.created_at, r.kid.clone()))
            .ok_or(StoreError::NotFound("signing_key"))?;
        let signer = Arc::new(Signer::open(newest, &state.master_key)?);
        let keys = Arc::new(PoolKeys { records, signer, loaded_at: now });
        if let Ok(mut map) = self.pools.write() {
            map.insert(pool.clone(), keys.clone());
        }
        Ok(keys)
    }

    /// Forgets a pool (after rotation in this process, or when a pool is deleted).
    pub fn forget(&self, pool: &PoolId) {
        if let Ok(mut map) = self.pools.write() {
            map.remove(pool);
        }
    }
}

/// The pool's published keys, read from the database so a key rotated in or retired by
/// any node shows at once: every key not retired. A pool that never signed anything gets
/// its first key here.
pub async fn published(state: &AppState, pool: &PoolId) -> Result<Vec<SigningKeyRecord>, KeyRingError> {
    state.keys.get(state, pool).await?;
    let mut records = state.store.list_signing_keys(pool).await?;
    records.retain(|k| k.retired_at.is_none());
    Ok(records)
}

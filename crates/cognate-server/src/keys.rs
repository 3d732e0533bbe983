//! Per-pool signing key rings, and the keys that verify tokens, cached in memory.
//!
//! The newest key that is not retired signs. Several nodes share the keys through the
//! database and hear of each other's changes through [`crate::propagation`]: a key added or
//! retired anywhere (`cognate keys rotate`, the admin portal; see
//! [`crate::services::signing_keys`]) makes every listening node drop its view of that pool
//! at once. A node that does not hear changes (SQLite, `COGNATE_NOTIFY=off`, a listener that
//! is down) re-reads a pool's signing keys once they are older than
//! [`crate::propagation::Propagation::cache_ttl_ms`] (5 s by default), and reads the
//! verification keys on every verification, as a key retired a moment ago must not verify.
//! No lock is held across database I/O.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::jwt::{self, Signer, SigningKeyRecord};

use crate::AppState;

/// A pool's keys as one node sees them.
pub struct PoolKeys {
    /// Every key, retired ones included (verification refuses those).
    pub records: Vec<SigningKeyRecord>,
    pub signer: Arc<Signer>,
    loaded_at: i64,
}

/// A pool's keys as verification uses them (public parts; retired ones included so a token
/// of a retired key is refused without another read).
struct Published {
    records: Arc<Vec<SigningKeyRecord>>,
    loaded_at: i64,
}

#[derive(Default)]
pub struct KeyRing {
    pools: RwLock<HashMap<PoolId, Arc<PoolKeys>>>,
    verifying: RwLock<HashMap<PoolId, Arc<Published>>>,
    /// Bumped by every [`Self::forget`] and [`Self::clear`]: a load that began before one
    /// (it may have read the keys before the change) is not cached.
    generation: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] jwt::KeyError),
}

impl KeyRing {
    fn cached(&self, pool: &PoolId, now: i64, ttl: i64) -> Option<Arc<PoolKeys>> {
        let map = self.pools.read().ok()?;
        map.get(pool).filter(|k| now - k.loaded_at < ttl).cloned()
    }

    /// The pool's keys, creating the first one if the pool has none.
    pub async fn get(&self, state: &AppState, pool: &PoolId) -> Result<Arc<PoolKeys>, KeyRingError> {
        let now = state.clock.now_millis();
        if let Some(keys) = self.cached(pool, now, state.propagation.cache_ttl_ms()) {
            return Ok(keys);
        }
        self.reload(state, pool).await
    }

    /// Reloads a pool's keys from the database (on expiry, or when a token names a kid
    /// this node has not seen yet).
    pub async fn reload(&self, state: &AppState, pool: &PoolId) -> Result<Arc<PoolKeys>, KeyRingError> {
        let generation = self.generation.load(Ordering::Acquire);
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
        if let Ok(mut map) = self.pools.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            map.insert(pool.clone(), keys.clone());
        }
        Ok(keys)
    }

    /// The keys that verify a token of `pool` naming `kid`, retired ones included (the
    /// caller refuses those). Cached only while this node hears other nodes' changes; a
    /// `kid` missing from the cached keys (a key added a moment ago elsewhere) reads them
    /// again, as does every verification when nothing is heard.
    pub async fn verification_keys(
        &self,
        state: &AppState,
        pool: &PoolId,
        kid: &str,
    ) -> Result<Arc<Vec<SigningKeyRecord>>, StoreError> {
        let propagation = &state.propagation;
        if !propagation.listening() {
            return Ok(Arc::new(state.store.list_signing_keys(pool).await?));
        }
        let now = state.clock.now_millis();
        if let Ok(map) = self.verifying.read()
            && let Some(p) = map.get(pool)
            && now - p.loaded_at < propagation.cache_ttl_ms()
            && p.records.iter().any(|r| r.kid == kid)
        {
            return Ok(p.records.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let records = Arc::new(state.store.list_signing_keys(pool).await?);
        // Only pools with keys are remembered: a token may name any pool id, and a cache
        // keyed by what strangers send would grow without bound.
        if !records.is_empty()
            && let Ok(mut map) = self.verifying.write()
            && self.generation.load(Ordering::Acquire) == generation
        {
            map.insert(pool.clone(), Arc::new(Published { records: records.clone(), loaded_at: now }));
        }
        Ok(records)
    }

    /// Forgets a pool (after rotation in this process or on another node, or when a pool is
    /// deleted).
    pub fn forget(&self, pool: &PoolId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut map) = self.pools.write() {
            map.remove(pool);
        }
        if let Ok(mut map) = self.verifying.write() {
            map.remove(pool);
        }
    }

    /// Forgets every pool (when changes may have been missed: the change listener
    /// reconnected).
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut map) = self.pools.write() {
            map.clear();
        }
        if let Ok(mut map) = self.verifying.write() {
            map.clear();
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

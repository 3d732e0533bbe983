//! This node's copies of the app clients, user pools and resource servers that nearly every
//! request reads (a sign-in, a refresh, a token request each name a client and its pool; a
//! machine token's scopes are checked against the pool's resource servers), and of how a
//! pool is placed in tenancy — which tenant it is dedicated to, whether the shared pool
//! exists yet (a refresh outside any tenant and the audit trail ask) —, so those requests
//! do not each ask the database for them. Writes start from the database, not
//! from these copies.
//!
//! Kept exact by changes, not by time:
//! - a change this node makes reaches [`Directory::forget`] synchronously as the store
//!   commits it ([`cognate_core::repo::Store::on_local_change`]), so this node never serves
//!   what it has just changed (an updated client's next request sees the update);
//! - another node's change arrives through the change listener
//!   ([`crate::propagation::apply`]), within milliseconds;
//! - an entry is trusted for [`crate::propagation::Propagation::cache_ttl_ms`] at most: 60 s
//!   while the listener is up, the polling interval (5 s by default) while it is down or on
//!   SQLite — the bound on how long another node's change (or a write made outside
//!   Cognate) can go unseen.
//!
//! A load that raced a change is not kept (a generation counter moves with every change);
//! clients, pools and resource servers are cached only when found (a pool's placement both
//! ways: "no tenant", "no shared pool yet" are answers too); and the cache holds at most
//! [`MAX_ENTRIES`] of each kind.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

use cognate_core::StoreError;
use cognate_core::change::Change;
use cognate_core::client::AppClient;
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::pool::UserPool;
use cognate_core::resource_server::ResourceServer;
use cognate_core::tenant::TenantId;

use crate::AppState;
use crate::bootstrap::SHARED_POOL_KEY;

/// Entries of each kind kept at most; past it the kind starts afresh.
pub const MAX_ENTRIES: usize = 10_000;

/// App clients, user pools, resource servers and pools' dedicated tenants, as last read.
#[derive(Debug, Default)]
pub struct Directory {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Moves with every change heard: a load that started before one is not kept.
    generation: u64,
    clients: HashMap<ClientId, Entry<AppClient>>,
    pools: HashMap<PoolId, Entry<UserPool>>,
    resource_servers: HashMap<(PoolId, String), Entry<ResourceServer>>,
    /// The tenant each pool is dedicated to, or none (both answers kept).
    dedicated: HashMap<PoolId, Entry<Option<TenantId>>>,
    /// The shared pool's id, or that there is none yet (one entry, under `()`).
    shared_pool: HashMap<(), Entry<Option<PoolId>>>,
}

#[derive(Debug)]
struct Entry<T> {
    value: T,
    loaded_at_ms: i64,
}

impl Directory {
    /// The app client `id`, whichever pool it is in.
    pub async fn client(&self, state: &AppState, id: &ClientId) -> Result<Option<AppClient>, StoreError> {
        let generation = match self.fresh(state, |inner| &inner.clients, id) {
            Ok(found) => return Ok(Some(found)),
            Err(generation) => generation,
        };
        let loaded = state.store.find_client(id).await?;
        if let Some(client) = &loaded {
            self.keep(state, generation, |inner| &mut inner.clients, id, client);
        }
        Ok(loaded)
    }

    /// The user pool `id`.
    pub async fn pool(&self, state: &AppState, id: &PoolId) -> Result<Option<UserPool>, StoreError> {
        let generation = match self.fresh(state, |inner| &inner.pools, id) {
            Ok(found) => return Ok(Some(found)),
            Err(generation) => generation,
        };
        let loaded = state.store.get_pool(id).await?;
        if let Some(pool) = &loaded {
            self.keep(state, generation, |inner| &mut inner.pools, id, pool);
        }
        Ok(loaded)
    }

    /// The resource server `identifier` of `pool`.
    pub async fn resource_server(
        &self,
        state: &AppState,
        pool: &PoolId,
        identifier: &str,
    ) -> Result<Option<ResourceServer>, StoreError> {
        let key = (pool.clone(), identifier.to_owned());
        let generation = match self.fresh(state, |inner| &inner.resource_servers, &key) {
            Ok(found) => return Ok(Some(found)),
            Err(generation) => generation,
        };
        let loaded = state.store.get_resource_server(pool, identifier).await?;
        if let Some(rs) = &loaded {
            self.keep(state, generation, |inner| &mut inner.resource_servers, &key, rs);
        }
        Ok(loaded)
    }

    /// The tenant `pool` is dedicated to, if any (by id only: the tenant's record itself is
    /// read where it matters).
    pub async fn dedicated_tenant(&self, state: &AppState, pool: &PoolId) -> Result<Option<TenantId>, StoreError> {
        let generation = match self.fresh(state, |inner| &inner.dedicated, pool) {
            Ok(found) => return Ok(found),
            Err(generation) => generation,
        };
        let loaded = state.store.get_tenant_by_pool(pool).await?.map(|t| t.id);
        self.keep(state, generation, |inner| &mut inner.dedicated, pool, &loaded);
        Ok(loaded)
    }

    /// The shared pool's id, if it was created. That there is none is kept like any other
    /// answer: any node may create it at any moment, and the first shared tenant's
    /// creation, right after, is a tenant change that drops the answer.
    pub async fn shared_pool(&self, state: &AppState) -> Result<Option<PoolId>, StoreError> {
        let generation = match self.fresh(state, |inner| &inner.shared_pool, &()) {
            Ok(found) => return Ok(found),
            Err(generation) => generation,
        };
        let loaded = state.store.get_meta(SHARED_POOL_KEY).await?.and_then(|id| PoolId::parse(&id));
        self.keep(state, generation, |inner| &mut inner.shared_pool, &(), &loaded);
        Ok(loaded)
    }

    /// Drops what `change` makes stale: a client, a pool with every client and resource
    /// server in it, or — for any tenant's change, which may move it between pools — every
    /// pool's dedicated tenant and whether the shared pool exists.
    pub fn forget(&self, change: &Change) {
        let mut inner = self.lock();
        inner.generation += 1;
        match change {
            Change::Client(_, id) => {
                inner.clients.remove(id);
            }
            Change::Pool(pool) => {
                inner.pools.remove(pool);
                inner.clients.retain(|_, e| e.value.pool_id != *pool);
                inner.resource_servers.retain(|(p, _), _| p != pool);
                inner.dedicated.remove(pool);
            }
            Change::Tenant(_) => {
                inner.dedicated.clear();
                inner.shared_pool.clear();
            }
            Change::Keys(_) | Change::Revoked(_) | Change::User(_) => {}
        }
    }

    /// Drops everything (the change listener reconnected: changes may have been missed).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.clients.clear();
        inner.pools.clear();
        inner.resource_servers.clear();
        inner.dedicated.clear();
        inner.shared_pool.clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry for `key` if still trusted, else the generation to load under.
    fn fresh<K: Eq + Hash, T: Clone>(
        &self,
        state: &AppState,
        map: impl Fn(&Inner) -> &HashMap<K, Entry<T>>,
        key: &K,
    ) -> Result<T, u64> {
        let inner = self.lock();
        let now = state.clock.now_millis();
        match map(&inner).get(key) {
            Some(e) if now.saturating_sub(e.loaded_at_ms) < state.propagation.cache_ttl_ms() => Ok(e.value.clone()),
            _ => Err(inner.generation),
        }
    }

    /// Keeps `value`, loaded under `generation`, unless a change came in meanwhile.
    fn keep<K: Eq + Hash + Clone, T: Clone>(
        &self,
        state: &AppState,
        generation: u64,
        map: impl Fn(&mut Inner) -> &mut HashMap<K, Entry<T>>,
        key: &K,
        value: &T,
    ) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let entries = map(&mut inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(key) {
            entries.clear();
        }
        entries.insert(key.clone(), Entry { value: value.clone(), loaded_at_ms: state.clock.now_millis() });
    }
}

//! User pools, for every surface: creating, reading, changing and deleting them. The rules:
//! - a change reads the pool, edits it and writes it with its version; a concurrent write
//!   makes it read and edit again (up to three attempts), so no change is lost;
//! - a pool the tenancy control plane manages (the shared pool, a dedicated pool) cannot be
//!   deleted here, and neither can a pool with deletion protection on;
//! - a pool's tags are its `UserPoolTags` setting, whichever call writes them (CreateUserPool,
//!   UpdateUserPool, TagResource, UntagResource): at most 50, keys of 1 to 128 characters,
//!   values of up to 256.

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use std::collections::BTreeMap;

use cognate_core::pool::{PoolSettings, UserPool, check_tag_key};

use crate::AppState;
use crate::tenancy::{self, Placement};

/// Attempts of a change before a concurrent writer wins.
const CHANGE_ATTEMPTS: usize = 3;

/// Why a pool operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("no user pool {0}")]
    NotFound(PoolId),
    /// The tenancy control plane manages the pool.
    #[error("the pool is managed by the tenancy control plane")]
    Managed(Placement),
    #[error("deletion protection is on")]
    DeletionProtected,
    /// Tags past Cognito's limits (the message says which).
    #[error("{0}")]
    InvalidTags(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new pool.
pub async fn create(state: &AppState, name: String, settings: PoolSettings) -> Result<UserPool, PoolError> {
    let now = state.clock.now_millis();
    let pool = UserPool {
        id: PoolId::generate(&state.settings.region, state.rng.as_ref()),
        name,
        settings,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    state.store.create_pool(&pool).await?;
    tracing::info!(pool = %pool.id, "user pool created");
    Ok(pool)
}

/// The pool `id` (this node's copy, see [`crate::directory`]); it becomes the call's pool
/// (for the record).
pub async fn get(state: &AppState, id: &PoolId) -> Result<UserPool, PoolError> {
    let pool = state.directory.pool(state, id).await?.ok_or_else(|| PoolError::NotFound(id.clone()))?;
    crate::facts::pool(&pool.id);
    Ok(pool)
}

/// How many users the pool has.
pub async fn user_count(state: &AppState, pool: &PoolId) -> Result<i64, PoolError> {
    Ok(state.store.count_users(pool).await?)
}

/// How many pools there are.
pub async fn count(state: &AppState) -> Result<i64, PoolError> {
    Ok(state.store.count_pools().await?)
}

/// A page of pools, by id.
pub async fn list(state: &AppState, page: &PageRequest) -> Result<Vec<UserPool>, PoolError> {
    Ok(state.store.list_pools(page).await?)
}

/// Changes the pool `id` with `edit`, which sees the current pool and its placement (when
/// the control plane manages it) and may refuse; retried from a fresh read when another
/// writer changed the pool meanwhile. Returns the pool as written.
pub async fn change<E>(
    state: &AppState,
    id: &PoolId,
    mut edit: impl FnMut(&mut UserPool, Option<&Placement>) -> Result<(), E>,
) -> Result<UserPool, E>
where
    E: From<PoolError>,
{
    for attempt in 1..=CHANGE_ATTEMPTS {
        // From the database, not this node's copy: a write starts from what is stored.
        let mut pool =
            state.store.get_pool(id).await.map_err(PoolError::from)?.ok_or_else(|| PoolError::NotFound(id.clone()))?;
        crate::facts::pool(&pool.id);
        let placement = tenancy::placement(state, &pool.id).await.map_err(PoolError::from)?;
        edit(&mut pool, placement.as_ref())?;
        pool.updated_at = state.clock.now_millis();
        match state.store.update_pool(&pool).await {
            Ok(()) => return Ok(pool),
            Err(StoreError::Conflict("version")) if attempt < CHANGE_ATTEMPTS => {}
            Err(e) => return Err(PoolError::from(e).into()),
        }
    }
    Err(PoolError::from(StoreError::Conflict("version")).into())
}

/// Adds `tags` to the pool `id`'s, replacing the values of keys it already has.
pub async fn tag(state: &AppState, id: &PoolId, tags: &BTreeMap<String, String>) -> Result<UserPool, PoolError> {
    change(state, id, |pool, _| {
        let mut all = pool.settings.tags();
        all.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        pool.settings.set_tags(all).map_err(PoolError::InvalidTags)
    })
    .await
}

/// Removes the tags with `keys` from the pool `id` (keys it does not have are ignored).
pub async fn untag(state: &AppState, id: &PoolId, keys: &[String]) -> Result<UserPool, PoolError> {
    for key in keys {
        check_tag_key(key).map_err(PoolError::InvalidTags)?;
    }
    change(state, id, |pool, _| {
        let mut all = pool.settings.tags();
        all.retain(|k, _| !keys.contains(k));
        pool.settings.set_tags(all).map_err(PoolError::InvalidTags)
    })
    .await
}

/// Deletes the pool with everything in it.
pub async fn delete(state: &AppState, pool: &UserPool) -> Result<(), PoolError> {
    if let Some(placement) = tenancy::placement(state, &pool.id).await? {
        return Err(PoolError::Managed(placement));
    }
    // The stored setting decides, not this node's copy of the pool.
    let stored = state.store.get_pool(&pool.id).await?.ok_or_else(|| PoolError::NotFound(pool.id.clone()))?;
    if stored.settings.deletion_protection == "ACTIVE" {
        return Err(PoolError::DeletionProtected);
    }
    state.store.delete_pool(&pool.id).await?;
    tracing::info!(pool = %pool.id, "user pool deleted");
    Ok(())
}

//! First-start bootstrap: the shared pool and the first admin credential.

use cognate_core::StoreError;
use cognate_core::ids::PoolId;
use cognate_core::pool::UserPool;

use crate::AppState;
pub use crate::services::admins::NewCredential;
use crate::services::admins::{self, AdminCredentialError};

/// The meta key that records which pool is the shared pool.
pub const SHARED_POOL_KEY: &str = "shared_pool_id";

/// Creates an admin credential and stores it sealed (see [`admins::create`]).
pub async fn create_admin_credential(state: &AppState, description: &str) -> Result<NewCredential, StoreError> {
    admins::create(state.store.as_ref(), &state.master_key, state.rng.as_ref(), state.clock.now_millis(), description)
        .await
        .map_err(|e| match e {
            AdminCredentialError::Store(e) => e,
            other => StoreError::Corrupt(other.to_string()),
        })
}

/// Ensures the shared pool exists (once, even with several nodes starting together) and
/// returns its id. Its schema carries the tenant attributes of the hybrid model.
pub async fn ensure_shared_pool(state: &AppState) -> Result<PoolId, StoreError> {
    if let Some(id) = crate::tenancy::shared_pool_id(state).await? {
        return Ok(id);
    }
    let candidate = PoolId::generate(&state.settings.region, state.rng.as_ref());
    let winner = state.store.put_meta_if_absent(SHARED_POOL_KEY, candidate.as_str()).await?;
    let id = PoolId::parse(&winner).ok_or_else(|| StoreError::Corrupt(format!("shared pool id {winner}")))?;
    // Known here at once, whatever this node's directory last heard.
    state.ids.remember_shared_pool(&id);
    if id == candidate {
        let now = state.clock.now_millis();
        let pool = UserPool {
            id: id.clone(),
            name: "cognate-shared".into(),
            settings: crate::tenancy::managed_pool_settings()?,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        state.store.create_pool(&pool).await?;
        crate::tenancy::default_client(state, &id).await?;
        tracing::info!(pool = %id, "created the shared user pool");
    }
    Ok(id)
}

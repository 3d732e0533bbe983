//! First-start bootstrap: the shared pool and the first admin credential.

use cognate_core::admin::{self, AdminCredential, SECRET_LABEL};
use cognate_core::attributes::{self, AttributeDataType, SchemaAttribute, StringConstraints};
use cognate_core::ids::PoolId;
use cognate_core::pool::{PoolSettings, UserPool, UsernameConfiguration};
use cognate_core::{StoreError, crypto::MasterKey};

use crate::AppState;

/// The meta key that records which pool is the shared pool.
pub const SHARED_POOL_KEY: &str = "shared_pool_id";

/// A freshly created admin credential; the secret exists in plaintext only here.
pub struct NewCredential {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Creates an admin credential and stores it sealed.
pub async fn create_admin_credential(state: &AppState, description: &str) -> Result<NewCredential, StoreError> {
    create_credential(
        state.store.as_ref(),
        &state.master_key,
        state.rng.as_ref(),
        state.clock.now_millis(),
        description,
    )
    .await
}

pub async fn create_credential(
    store: &dyn cognate_core::repo::Store,
    key: &MasterKey,
    rng: &dyn cognate_core::Rng,
    now: i64,
    description: &str,
) -> Result<NewCredential, StoreError> {
    let (id, secret) = admin::generate_pair(rng);
    store
        .create_admin_credential(&AdminCredential {
            access_key_id: id.clone(),
            secret_sealed: key.seal(rng, SECRET_LABEL, secret.as_bytes()),
            description: description.to_owned(),
            created_at: now,
            revoked_at: None,
        })
        .await?;
    Ok(NewCredential { access_key_id: id, secret_access_key: secret })
}

/// Ensures the shared pool exists (once, even with several nodes starting together) and
/// returns its id. Its schema carries the tenant attributes of the hybrid model.
pub async fn ensure_shared_pool(state: &AppState) -> Result<PoolId, StoreError> {
    if let Some(id) = state.store.get_meta(SHARED_POOL_KEY).await? {
        return PoolId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("shared pool id {id}")));
    }
    let candidate = PoolId::generate(&state.settings.region, state.rng.as_ref());
    let winner = state.store.put_meta_if_absent(SHARED_POOL_KEY, candidate.as_str()).await?;
    let id = PoolId::parse(&winner).ok_or_else(|| StoreError::Corrupt(format!("shared pool id {winner}")))?;
    if id == candidate {
        let tenant_attr = |name: &str| SchemaAttribute {
            name: name.into(),
            attribute_data_type: AttributeDataType::String,
            developer_only_attribute: false,
            mutable: true,
            required: false,
            number_attribute_constraints: None,
            string_attribute_constraints: Some(StringConstraints {
                min_length: Some("0".into()),
                max_length: Some("256".into()),
            }),
        };
        let schema = attributes::build_schema(&[
            tenant_attr("tenantId"),
            tenant_attr("tenantName"),
            tenant_attr("tenantTier"),
            tenant_attr("tenantRole"),
        ])
        .map_err(StoreError::Corrupt)?;
        let now = state.clock.now_millis();
        let pool = UserPool {
            id: id.clone(),
            name: "cognate-shared".into(),
            settings: PoolSettings {
                schema,
                username_configuration: Some(UsernameConfiguration { case_sensitive: false }),
                alias_attributes: vec!["email".into()],
                auto_verified_attributes: vec!["email".into()],
                ..PoolSettings::default()
            },
            created_at: now,
            updated_at: now,
            version: 1,
        };
        state.store.create_pool(&pool).await?;
        tracing::info!(pool = %id, "created the shared user pool");
    }
    Ok(id)
}

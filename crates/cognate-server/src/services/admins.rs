//! Platform admin credentials (an access key id and a secret, sealed at rest): how the
//! Cognito surface's SigV4 signatures and `/v1`'s `Bearer {id}:{secret}` prove an admin.
//! Unknown and revoked ids are refused exactly like a wrong secret.

use cognate_core::StoreError;
use cognate_core::admin::SECRET_LABEL;
use cognate_core::crypto::constant_time_eq;

use crate::AppState;

/// The secret of the active credential `key_id`, to check a signature with; `None` when
/// there is no such credential or it was revoked.
pub async fn active_secret(state: &AppState, key_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(cred) = state.store.get_admin_credential(key_id).await? else { return Ok(None) };
    if cred.revoked_at.is_some() {
        return Ok(None);
    }
    state
        .master_key
        .open(SECRET_LABEL, &cred.secret_sealed)
        .map(Some)
        .map_err(|e| StoreError::Corrupt(format!("admin credential {key_id}: {e}")))
}

/// Whether `secret` is the secret of the active credential `key_id`.
pub async fn check(state: &AppState, key_id: &str, secret: &str) -> Result<bool, StoreError> {
    Ok(active_secret(state, key_id).await?.is_some_and(|stored| constant_time_eq(&stored, secret.as_bytes())))
}

//! Platform admin credentials (an access key id and a secret, sealed at rest): how the
//! Cognito surface's SigV4 signatures and `/v1`'s `Bearer {id}:{secret}` prove an admin,
//! and how credentials are made, listed and revoked — by the `cognate admin-key` commands
//! and the platform admin portal alike (both call [`create`], [`list`] and [`revoke`]).
//! Unknown and revoked ids are refused exactly like a wrong secret.
//!
//! These functions take the store, master key, randomness and time rather than the whole
//! application state, because the CLI runs them without a server.

use cognate_core::admin::{self, AdminCredential, SECRET_LABEL};
use cognate_core::crypto::{MasterKey, constant_time_eq};
use cognate_core::repo::Store;
use cognate_core::{Rng, StoreError};

use crate::AppState;

/// Longest credential description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 256;

/// Why a credential change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminCredentialError {
    #[error("no admin credential {0}")]
    NotFound(String),
    /// The caller is signed in with this credential: revoking it would cut the branch they
    /// sit on. Another admin (or the CLI) revokes it.
    #[error("the credential {0} is the one in use")]
    InUse(String),
    /// A description over [`MAX_DESCRIPTION_CHARS`] characters or with control characters.
    #[error("invalid description")]
    InvalidDescription,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A freshly created admin credential; the secret exists in plaintext only here.
pub struct NewCredential {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// What a revocation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Now,
    /// It was revoked before (its first revocation time stays).
    Already,
}

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

/// A description: trimmed, at most [`MAX_DESCRIPTION_CHARS`] characters, no control
/// characters (it is shown in terminals and pages).
pub fn valid_description(description: &str) -> Result<String, AdminCredentialError> {
    let d = description.trim();
    if d.chars().count() > MAX_DESCRIPTION_CHARS || d.chars().any(char::is_control) {
        return Err(AdminCredentialError::InvalidDescription);
    }
    Ok(d.to_owned())
}

/// Creates a credential, its secret sealed under `key`; the secret is returned once.
pub async fn create(
    store: &dyn Store,
    key: &MasterKey,
    rng: &dyn Rng,
    now: i64,
    description: &str,
) -> Result<NewCredential, AdminCredentialError> {
    let description = valid_description(description)?;
    let (id, secret) = admin::generate_pair(rng);
    store
        .create_admin_credential(&AdminCredential {
            access_key_id: id.clone(),
            secret_sealed: key.seal(rng, SECRET_LABEL, secret.as_bytes()),
            description,
            created_at: now,
            revoked_at: None,
        })
        .await?;
    tracing::info!(access_key_id = %id, "admin credential created");
    Ok(NewCredential { access_key_id: id, secret_access_key: secret })
}

/// Every credential, oldest first (never their secrets: callers show ids, times and
/// descriptions only). An installation has a handful, so there is no paging.
pub async fn list(store: &dyn Store) -> Result<Vec<AdminCredential>, AdminCredentialError> {
    Ok(store.list_admin_credentials().await?)
}

/// Revokes `key_id`: every signature, bearer header and console session made with it is
/// refused from now on. `in_use` is the credential the caller signed in with (the portal),
/// which it may not revoke.
pub async fn revoke(
    store: &dyn Store,
    key_id: &str,
    now: i64,
    in_use: Option<&str>,
) -> Result<Revoked, AdminCredentialError> {
    if in_use == Some(key_id) {
        return Err(AdminCredentialError::InUse(key_id.to_owned()));
    }
    // No access key id is long or holds control characters (PostgreSQL refuses NUL).
    if key_id.len() > 128 || key_id.chars().any(char::is_control) {
        return Err(AdminCredentialError::NotFound(key_id.escape_default().to_string()));
    }
    let Some(cred) = store.get_admin_credential(key_id).await? else {
        return Err(AdminCredentialError::NotFound(key_id.to_owned()));
    };
    if cred.revoked_at.is_some() {
        return Ok(Revoked::Already);
    }
    store.revoke_admin_credential(key_id, now).await.map_err(|e| match e {
        StoreError::NotFound(_) => AdminCredentialError::NotFound(key_id.to_owned()),
        other => other.into(),
    })?;
    tracing::info!(access_key_id = %key_id, "admin credential revoked");
    Ok(Revoked::Now)
}

//! `/v1` authentication. This slice admits platform admins only:
//! `Authorization: Bearer {accessKeyId}:{secretAccessKey}` with an unrevoked admin
//! credential (the same pair that signs Cognito API calls).

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use cognate_core::admin::SECRET_LABEL;
use cognate_core::crypto::constant_time_eq;

use super::error::ApiError;
use crate::AppState;

/// A caller proven to hold an active platform admin credential.
#[derive(Debug, Clone)]
pub struct PlatformAdmin {
    /// The credential's access key id (for audit; never the secret).
    pub access_key_id: String,
}

impl FromRequestParts<AppState> for PlatformAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(false));
        };
        let invalid = || ApiError::unauthorized(true);
        let value = value.to_str().map_err(|_| invalid())?;
        let (scheme, token) = value.split_once(' ').ok_or_else(invalid)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(invalid());
        }
        let (key_id, secret) = token.trim().split_once(':').ok_or_else(invalid)?;
        // Unknown and revoked ids answer exactly like a wrong secret.
        let cred = state.store.get_admin_credential(key_id).await?.ok_or_else(invalid)?;
        if cred.revoked_at.is_some() {
            return Err(invalid());
        }
        let stored = state
            .master_key
            .open(SECRET_LABEL, &cred.secret_sealed)
            .map_err(|e| ApiError::internal(format!("admin credential {}: {e}", cred.access_key_id)))?;
        if !constant_time_eq(&stored, secret.as_bytes()) {
            return Err(invalid());
        }
        Ok(Self { access_key_id: cred.access_key_id })
    }
}

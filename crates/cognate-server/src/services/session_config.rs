//! Session tracking (Cognito's Get/SetUserPoolSessionConfiguration and
//! Get/SetUserPoolClientSessionConfiguration). The rules:
//! - a pool never configured has tracking off and 20 token sessions per user; a client
//!   never configured reuses the browser session for 60 minutes;
//! - setting either needs a pool on the Essentials or Plus feature plan: Cognate keeps a
//!   pool's `UserPoolTier` as given (absent means Cognito's default, `ESSENTIALS`), and a
//!   `LITE` pool is refused ([`SessionConfigError::Tier`]);
//! - a client's setting needs tracking on in its pool ([`SessionConfigError::NotTracking`]);
//!   turning tracking off keeps clients' settings, dormant until it is on again;
//! - with tracking on, a user holds at most `MaxPerUser` live token sessions: a sign-in that
//!   would exceed it first ends the user's least recently active sessions, in the
//!   transaction that starts the new one ([`token_cap`], used by `services::tokens`);
//!   lowering the cap ends nothing until the user's next sign-in;
//! - with tracking on, a client reuses the hosted login's browser session silently only
//!   within its `MaxValidityMinutes` of the user's last fresh authentication
//!   ([`sso_reuse_secs`], used by `services::authorize`); 0 always asks again.

use cognate_core::StoreError;
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::pool::UserPool;
use cognate_core::session_config::{
    ClientSessionConfig, MAX_PER_USER_RANGE, MAX_VALIDITY_MINUTES_RANGE, PoolSessionConfig,
};

use crate::AppState;

/// Why a session configuration was not set.
#[derive(Debug, thiserror::Error)]
pub enum SessionConfigError {
    /// The pool's feature plan (`LITE`) has no session tracking.
    #[error("session tracking is not available in the {0} feature plan")]
    Tier(String),
    /// A client's setting while the pool does not track sessions.
    #[error("session tracking is not enabled for the user pool")]
    NotTracking,
    #[error("no such app client")]
    ClientNotFound,
    /// A value out of range (its message).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cognito's feature plan of a pool, as its settings name it (`ESSENTIALS` when unset).
pub fn tier(pool: &UserPool) -> &str {
    pool.settings.extra.get("UserPoolTier").and_then(serde_json::Value::as_str).unwrap_or("ESSENTIALS")
}

fn check_tier(pool: &UserPool) -> Result<(), SessionConfigError> {
    match tier(pool) {
        "ESSENTIALS" | "PLUS" => Ok(()),
        other => Err(SessionConfigError::Tier(other.to_owned())),
    }
}

/// The pool's configuration, or the defaults.
pub async fn pool_config(state: &AppState, pool: &PoolId) -> Result<PoolSessionConfig, StoreError> {
    Ok(state.store.get_pool_session_config(pool).await?.unwrap_or_default())
}

/// Replaces the pool's configuration.
pub async fn set_pool_config(
    state: &AppState,
    pool: &UserPool,
    config: PoolSessionConfig,
) -> Result<PoolSessionConfig, SessionConfigError> {
    if !MAX_PER_USER_RANGE.contains(&config.max_per_user) {
        return Err(SessionConfigError::Invalid(format!(
            "1 validation error detected: Value '{}' at 'tokenSession.maxPerUser' failed to satisfy constraint: \
             Member must have value between {} and {}",
            config.max_per_user,
            MAX_PER_USER_RANGE.start(),
            MAX_PER_USER_RANGE.end()
        )));
    }
    check_tier(pool)?;
    match state.store.put_pool_session_config(&pool.id, &config, state.clock.now_millis()).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(StoreError::NotFound("pool").into()),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, tracking = config.tracking, max_per_user = config.max_per_user, "session tracking set");
    Ok(config)
}

/// The client's configuration, or the default (the client must be in the pool).
pub async fn client_config(
    state: &AppState,
    pool: &PoolId,
    client: &ClientId,
) -> Result<ClientSessionConfig, SessionConfigError> {
    state.store.get_client(pool, client).await?.ok_or(SessionConfigError::ClientNotFound)?;
    Ok(state.store.get_client_session_config(pool, client).await?.unwrap_or_default())
}

/// Replaces the client's configuration; the pool must track sessions.
pub async fn set_client_config(
    state: &AppState,
    pool: &UserPool,
    client: &ClientId,
    config: ClientSessionConfig,
) -> Result<ClientSessionConfig, SessionConfigError> {
    if !MAX_VALIDITY_MINUTES_RANGE.contains(&config.max_validity_minutes) {
        return Err(SessionConfigError::Invalid(format!(
            "1 validation error detected: Value '{}' at 'sSOSession.maxValidityMinutes' failed to satisfy \
             constraint: Member must have value between {} and {}",
            config.max_validity_minutes,
            MAX_VALIDITY_MINUTES_RANGE.start(),
            MAX_VALIDITY_MINUTES_RANGE.end()
        )));
    }
    check_tier(pool)?;
    state.store.get_client(&pool.id, client).await?.ok_or(SessionConfigError::ClientNotFound)?;
    if !pool_config(state, &pool.id).await?.tracking {
        return Err(SessionConfigError::NotTracking);
    }
    match state.store.put_client_session_config(&pool.id, client, &config, state.clock.now_millis()).await {
        Ok(()) => {}
        Err(StoreError::NotFound(_)) => return Err(SessionConfigError::ClientNotFound),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, client = %client, minutes = config.max_validity_minutes, "SSO session bound set");
    Ok(config)
}

/// How many live token sessions a user of `pool` may hold, when the pool tracks sessions.
pub async fn token_cap(state: &AppState, pool: &PoolId) -> Result<Option<u32>, StoreError> {
    Ok(pool_config(state, pool).await?.token_cap())
}

/// How long after the user's last fresh authentication `client` may silently reuse the
/// hosted login's browser session, in seconds, when its pool tracks sessions; `None`
/// when only the browser session's own lifetime bounds it.
pub async fn sso_reuse_secs(state: &AppState, pool: &PoolId, client: &ClientId) -> Result<Option<i64>, StoreError> {
    if !pool_config(state, pool).await?.tracking {
        return Ok(None);
    }
    let config = state.store.get_client_session_config(pool, client).await?.unwrap_or_default();
    Ok(Some(i64::from(config.max_validity_minutes) * 60))
}

//! Users' authentication histories (AdminListUserAuthEvents) and the feedback an
//! administrator gives on an event (AdminUpdateAuthEventFeedback). As in Cognito, only
//! pools with threat protection on (`UserPoolAddOns.AdvancedSecurityMode` `AUDIT` or
//! `ENFORCED`) keep them. Cognate assesses no risk: events carry no risk rating, and
//! feedback is kept for the operator, not fed to a model.

use cognate_core::StoreError;
use cognate_core::auth_event::{AuthEvent, ChallengeResult, Feedback};
use cognate_core::ids::PoolId;
use cognate_core::page::PageRequest;
use cognate_core::pool::UserPool;

use crate::AppState;

/// Why an auth event operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthEventError {
    #[error("threat protection is not on for this user pool")]
    NotEnabled,
    #[error("user not found")]
    UserNotFound,
    #[error("no auth event {0}")]
    EventNotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether the pool keeps its users' authentication histories.
pub fn enabled(pool: &UserPool) -> bool {
    let mode = pool.settings.extra.get("UserPoolAddOns").and_then(|a| a.get("AdvancedSecurityMode"));
    matches!(mode.and_then(|m| m.as_str()), Some("AUDIT" | "ENFORCED"))
}

/// What happened, for [`record`].
pub struct Happened<'a> {
    /// `SignIn`, `SignUp`, `ForgotPassword`, `PasswordChange`.
    pub kind: &'a str,
    /// `Pass`, `Fail` or `InProgress`.
    pub response: &'a str,
    /// The challenge answered (`Password` or `Mfa`), with whether it succeeded.
    pub challenge: Option<(&'a str, bool)>,
    pub ip: Option<&'a str>,
    pub device: Option<&'a str>,
}

/// Adds an event to the history of user `sub` of pool `pool`, when the pool keeps them.
/// A history is a record of what happened, never a reason to fail the call that did it:
/// a failure to write is logged.
pub async fn record(state: &AppState, pool: &str, sub: &str, happened: Happened<'_>) {
    let Some(pool_id) = PoolId::parse(pool) else { return };
    let pool = match state.store.get_pool(&pool_id).await {
        Ok(Some(pool)) if enabled(&pool) => pool,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(pool = %pool_id, error = %e, "auth event not recorded");
            return;
        }
    };
    let mut id = [0u8; 16];
    state.rng.fill(&mut id);
    let event = AuthEvent {
        pool_id: pool.id,
        sub: sub.to_owned(),
        id: hex::encode(id),
        at: state.clock.now_millis(),
        kind: happened.kind.to_owned(),
        response: happened.response.to_owned(),
        challenges: happened
            .challenge
            .map(|(name, ok)| ChallengeResult {
                challenge_name: name.to_owned(),
                challenge_response: if ok { "Success" } else { "Failure" }.to_owned(),
            })
            .into_iter()
            .collect(),
        ip: happened.ip.map(str::to_owned),
        device: happened.device.map(str::to_owned),
        feedback: None,
    };
    match state.store.add_auth_event(&event).await {
        Ok(()) | Err(StoreError::NotFound(_)) => {}
        Err(e) => tracing::warn!(pool = %event.pool_id, error = %e, "auth event not recorded"),
    }
}

async fn user_sub(state: &AppState, pool: &UserPool, username: &str) -> Result<String, AuthEventError> {
    if !enabled(pool) {
        return Err(AuthEventError::NotEnabled);
    }
    let user = crate::services::users::find(state, pool, username).await?.ok_or(AuthEventError::UserNotFound)?;
    Ok(user.sub)
}

/// A page of the user's events, newest first.
pub async fn list(
    state: &AppState,
    pool: &UserPool,
    username: &str,
    page: &PageRequest,
) -> Result<Vec<AuthEvent>, AuthEventError> {
    let sub = user_sub(state, pool, username).await?;
    Ok(state.store.list_auth_events(&pool.id, &sub, page).await?)
}

/// Records an administrator's feedback (`Valid` or `Invalid`) on one of the user's events.
pub async fn feedback(
    state: &AppState,
    pool: &UserPool,
    username: &str,
    event_id: &str,
    value: &str,
) -> Result<(), AuthEventError> {
    let sub = user_sub(state, pool, username).await?;
    let feedback = Feedback { value: value.to_owned(), provider: "Admin".into(), at: state.clock.now_millis() };
    match state.store.set_auth_event_feedback(&pool.id, &sub, event_id, &feedback).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound(_)) => Err(AuthEventError::EventNotFound(event_id.to_owned())),
        Err(e) => Err(e.into()),
    }
}

/// How long a user's history is kept.
pub const KEEP_DAYS: i64 = 90;

/// How often older events are deleted.
const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes events older than [`KEEP_DAYS`] every hour until `stop` turns true.
pub fn spawn_purger(state: AppState, stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    crate::periodic::spawn(PURGE_INTERVAL, stop, move || {
        let state = state.clone();
        async move {
            let before = state.clock.now_millis() - KEEP_DAYS * 86_400_000;
            match state.store.purge_auth_events(before).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "auth events past their retention deleted"),
                Err(e) => tracing::error!(error = %e, "could not delete old auth events; trying again later"),
            }
        }
    })
}

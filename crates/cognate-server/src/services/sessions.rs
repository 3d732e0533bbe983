//! A user's sessions, one by one, for every surface (Cognito's ListUserSessions,
//! RevokeUserSession and their Admin forms today). A session is a live token family of
//! the user: one sign-in and everything refreshed from it, not revoked, with a refresh
//! token that has not expired. The rules:
//! - a session is named by [`token::session_id`] of its family (Cognito's `tkn…` ids);
//!   the family's id, the `origin_jti` of its tokens, is never shown;
//! - revoking a session revokes its family, as RevokeToken does: its refresh tokens and
//!   every access and ID token of the sign-in stop working, and the pool's revocation feed
//!   says so; the user's other sessions are untouched;
//! - a user cannot revoke the session they call with (GlobalSignOut ends every session);
//! - only the user's own sessions can be named: another user's session id is unknown.
//!
//! Cognate keeps no browser-session (`SSO`) records in this list: the hosted login's
//! browser sessions end with /logout or a global sign-out.

use cognate_core::StoreError;
use cognate_core::token::{self, LiveFamily};
use cognate_core::user::User;

use crate::AppState;

/// Sessions listed at most (Cognito returns all of a user's sessions, up to 125, in one page).
pub const MAX_SESSIONS: u32 = 125;

/// One of a user's sessions.
#[derive(Debug, Clone)]
pub struct Session {
    /// Cognito's `SessionId`: `tkn` and 25 lowercase letters or digits.
    pub id: String,
    pub live: LiveFamily,
}

impl Session {
    /// Whether the session is the one whose token made the call (its family is `origin`).
    pub fn is(&self, origin: Option<&str>) -> bool {
        origin == Some(self.live.family.id.as_str())
    }
}

/// Why a session was not revoked.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No live session of the user has this id.
    #[error("no such session")]
    NotFound,
    /// The caller's own session: sign out instead.
    #[error("the session of the calling token")]
    Current,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The user's live sessions, newest first (at most [`MAX_SESSIONS`]).
pub async fn list(state: &AppState, user: &User) -> Result<Vec<Session>, StoreError> {
    let live = state.store.live_families(&user.pool_id, &user.sub, state.clock.now_millis(), MAX_SESSIONS).await?;
    Ok(live
        .into_iter()
        // A global sign-out revokes every family; this also holds for families its
        // transaction could not see.
        .filter(|l| l.family.created_at >= user.tokens_valid_after)
        .map(|live| Session { id: token::session_id(&live.family.id), live })
        .collect())
}

/// Revokes the user's session `id`, unless it is the caller's (`current`: the family of
/// the calling token, for a user calling with their own token).
pub async fn revoke(state: &AppState, user: &User, id: &str, current: Option<&str>) -> Result<(), SessionError> {
    if !token::valid_session_id(id) {
        return Err(SessionError::NotFound);
    }
    let session = list(state, user).await?.into_iter().find(|s| s.id == id).ok_or(SessionError::NotFound)?;
    if session.is(current) {
        return Err(SessionError::Current);
    }
    let family = &session.live.family;
    if state.store.revoke_family(&family.pool_id, &family.id, state.clock.now_millis()).await? {
        state.metrics.families_revoked(crate::metrics::FamilyEnd::Revoked, 1);
        tracing::info!(pool = %family.pool_id, sub = %user.sub, session = %session.id, "session revoked");
    }
    Ok(())
}

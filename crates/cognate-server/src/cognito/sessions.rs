//! A user's sessions one by one: ListUserSessions and RevokeUserSession (access token),
//! AdminListUserSessions and AdminRevokeUserSession (signed). A session is a live token
//! family ([`crate::services::sessions`]); all of a user's sessions come in one page.

use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::token_user;
use super::input::{epoch, load_pool, parse};
use super::users::{find_user, missing};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::sessions::{self, Session, SessionError};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "ListUserSessions" => list(state, input).await,
        "AdminListUserSessions" => admin_list(state, input).await,
        "RevokeUserSession" => revoke(state, input).await,
        "AdminRevokeUserSession" => admin_revoke(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SessionsInput {
    access_token: Option<String>,
    user_pool_id: Option<String>,
    username: Option<String>,
    next_token: Option<String>,
    session_id: Option<String>,
    revoke_associated_sessions: Option<String>,
}

impl SessionsInput {
    fn access_token(&self) -> Result<&str, CognitoError> {
        self.access_token.as_deref().ok_or_else(|| missing("accessToken"))
    }

    /// The user an Admin call names (UserPoolId and Username required, as Cognito's shape says).
    async fn admin_user(&self, state: &AppState) -> Result<cognate_core::user::User, CognitoError> {
        let pool_id = self.user_pool_id.as_deref().ok_or_else(|| missing("userPoolId"))?;
        let username = self.username.as_deref().ok_or_else(|| missing("username"))?;
        let pool = load_pool(state, pool_id).await?;
        find_user(state, &pool, username).await
    }

    /// Cognate answers every session in one page and so hands out no NextToken: any one
    /// sent is not one of ours.
    fn no_next_token(&self) -> Result<(), CognitoError> {
        match &self.next_token {
            None => Ok(()),
            Some(_) => Err(CognitoError::invalid("Invalid pagination token.")),
        }
    }

    /// SessionId (required, of Cognito's `SessionIdType`) and
    /// RevokeAssociatedSessions (`NONE` or `LINKED`; Cognate's token sessions have no
    /// linked session to revoke with them, so both revoke the one session).
    fn session_id(&self) -> Result<&str, CognitoError> {
        if let Some(v) = self.revoke_associated_sessions.as_deref().filter(|v| *v != "NONE" && *v != "LINKED") {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{v}' at 'revokeAssociatedSessions' failed to satisfy \
                 constraint: Member must satisfy enum value set: [NONE, LINKED]"
            )));
        }
        let id = self.session_id.as_deref().ok_or_else(|| missing("sessionId"))?;
        if !cognate_core::token::valid_session_id(id) {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{id}' at 'sessionId' failed to satisfy constraint: Member must \
                 satisfy regular expression pattern: ^(tkn|sso)[a-z0-9]{{25}}$"
            )));
        }
        Ok(id)
    }
}

/// Cognito's `SessionDescriptionType`. Where the session was used from is not recorded, so
/// DeviceType, LastIPAddress and LastLocation are left out.
fn session_type(s: &Session, current: Option<&str>) -> Value {
    let f = &s.live.family;
    json!({
        "SessionId": s.id,
        "SessionType": "TOKEN",
        "ClientId": f.client_id,
        "CreateDate": epoch(f.created_at),
        "LastActiveDate": epoch(s.live.last_active_at),
        "IsCurrentSession": s.is(current),
    })
}

fn listed(sessions: &[Session], current: Option<&str>) -> Value {
    json!({"Sessions": sessions.iter().map(|s| session_type(s, current)).collect::<Vec<_>>()})
}

fn session_error(e: SessionError) -> CognitoError {
    match e {
        SessionError::NotFound => CognitoError::not_found("Session not found."),
        SessionError::Current => CognitoError::invalid(
            "The session of the access token in the request cannot be revoked; use GlobalSignOut or RevokeToken.",
        ),
        SessionError::Store(e) => e.into(),
    }
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: SessionsInput = parse(input)?;
    let (_, user, claims) = token_user(state, req.access_token()?).await?;
    req.no_next_token()?;
    let current = claims.get("origin_jti").and_then(Value::as_str);
    Ok(listed(&sessions::list(state, &user).await?, current))
}

async fn admin_list(state: &AppState, input: Value) -> OpResult {
    let req: SessionsInput = parse(input)?;
    let user = req.admin_user(state).await?;
    req.no_next_token()?;
    Ok(listed(&sessions::list(state, &user).await?, None))
}

async fn revoke(state: &AppState, input: Value) -> OpResult {
    let req: SessionsInput = parse(input)?;
    let id = req.session_id()?;
    let (_, user, claims) = token_user(state, req.access_token()?).await?;
    let current = claims.get("origin_jti").and_then(Value::as_str);
    sessions::revoke(state, &user, id, current).await.map_err(session_error)?;
    Ok(json!({}))
}

async fn admin_revoke(state: &AppState, input: Value) -> OpResult {
    let req: SessionsInput = parse(input)?;
    let id = req.session_id()?;
    let user = req.admin_user(state).await?;
    sessions::revoke(state, &user, id, None).await.map_err(session_error)?;
    Ok(json!({}))
}

//! `GET|POST /oauth2/userInfo` (OIDC Core 5.3): the signed-in user's attributes for a
//! Cognate access token.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cognate_core::ids::ClientId;
use serde_json::{Map, Value, json};

use super::common::{OAuthError, bearer_token, no_store};
use crate::AppState;
use crate::services::tokens::{self, Rejection};

/// Answers for the user of `Authorization: Bearer <access token>`: `sub`, `username` and
/// every attribute the token's client may read. Unlike in the ID token, every value is a
/// string (`"email_verified": "true"`), as Cognito's userInfo returns them. Any problem
/// with the token is 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
pub(super) async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match run(&state, &headers).await {
        Ok(body) => no_store(StatusCode::OK, body),
        Err(e) => e.into_response(),
    }
}

async fn run(state: &AppState, headers: &HeaderMap) -> Result<Value, OAuthError> {
    let token = bearer_token(headers).ok_or_else(OAuthError::invalid_token)?;
    let (_, user, claims) = tokens::verify_user_access(state, token).await.map_err(|e| match e {
        Rejection::Fault(cause) => OAuthError::internal(cause),
        _ => OAuthError::invalid_token(),
    })?;
    let client_id = claims.get("client_id").and_then(Value::as_str).and_then(ClientId::parse);
    let client = match client_id {
        Some(id) => crate::services::clients::lookup(state, &id).await?,
        None => None,
    };
    let client = client.filter(|c| c.pool_id == user.pool_id).ok_or_else(OAuthError::invalid_token)?;
    let readable = &client.settings.read_attributes;
    let mut out = Map::new();
    for (name, value) in &user.attributes {
        if (readable.is_empty() || readable.contains(name)) && !name.starts_with("dev:") {
            out.insert(name.clone(), json!(value));
        }
    }
    out.insert("sub".into(), json!(user.sub));
    out.insert("username".into(), json!(user.username));
    Ok(Value::Object(out))
}

//! `POST /oauth2/introspect` (RFC 7662): lets a resource server ask whether a token is
//! still good, including revocations that a signature check alone cannot see.
//!
//! The caller must be a confidential client (HTTP Basic or `client_secret_post`) and only
//! learns about tokens of its own pool: a token of another pool is `{"active": false}`,
//! the same as garbage, so introspection cannot probe other tenants.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cognate_core::client::AppClient;
use serde_json::{Map, Value, json};

use super::common::{OAuthError, OAuthForm, authenticate_client, no_store};
use crate::AppState;
use crate::services::tokens;

pub(super) async fn introspect(State(state): State<AppState>, headers: HeaderMap, form: OAuthForm) -> Response {
    match run(&state, &headers, &form).await {
        Ok(body) => no_store(StatusCode::OK, body),
        Err(e) => e.into_response(),
    }
}

fn inactive() -> Value {
    json!({"active": false})
}

async fn run(state: &AppState, headers: &HeaderMap, form: &OAuthForm) -> Result<Value, OAuthError> {
    let caller = authenticate_client(state, headers, Some(form), true).await?.client;
    let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    // `token_type_hint` is optional and only a hint (RFC 7662 section 2.1): the token's
    // shape says what it is, so the hint is ignored.
    if token.contains('.') { jwt(state, &caller, token).await } else { refresh(state, &caller, token).await }
}

async fn jwt(state: &AppState, caller: &AppClient, token: &str) -> Result<Value, OAuthError> {
    let Some(claims) = tokens::live_jwt(state, &caller.pool_id, token).await.map_err(OAuthError::internal)? else {
        return Ok(inactive());
    };
    let mut out = Map::new();
    out.insert("active".into(), json!(true));
    // ID tokens name their client in `aud`.
    let client_id = claims.get("client_id").or_else(|| claims.get("aud"));
    let username = claims.get("username").or_else(|| claims.get("cognito:username"));
    let fields = [
        ("sub", claims.get("sub")),
        ("client_id", client_id),
        ("username", username),
        ("token_use", claims.get("token_use")),
        ("scope", claims.get("scope")),
        ("exp", claims.get("exp")),
        ("iat", claims.get("iat")),
        ("iss", claims.get("iss")),
        ("jti", claims.get("jti")),
        ("origin_jti", claims.get("origin_jti")),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            out.insert(name.into(), v.clone());
        }
    }
    out.insert("token_type".into(), json!("Bearer"));
    Ok(Value::Object(out))
}

/// An opaque refresh token: active while its family stands, it has not expired or been
/// rotated out, and its user still may sign in.
async fn refresh(state: &AppState, caller: &AppClient, token: &str) -> Result<Value, OAuthError> {
    let Some((stored, family)) = tokens::live_refresh_token(state, &caller.pool_id, token).await? else {
        return Ok(inactive());
    };
    Ok(json!({
        "active": true,
        "client_id": family.client_id,
        "sub": family.sub,
        "token_type": "refresh_token",
        "exp": stored.expires_at.div_euclid(1000),
        "iat": stored.created_at.div_euclid(1000),
        "iss": tokens::issuer(state, &family.pool_id),
        "origin_jti": family.id,
    }))
}

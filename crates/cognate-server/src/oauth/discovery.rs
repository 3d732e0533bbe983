//! `/{poolId}/.well-known/openid-configuration` and `/{poolId}/.well-known/jwks.json`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cognate_core::ids::PoolId;
use serde_json::{Value, json};

use crate::AppState;
use crate::services::tokens::issuer;

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not_found", "error_description": "No such user pool."})))
        .into_response()
}

async fn known_pool(state: &AppState, id: &str) -> Result<Option<PoolId>, Response> {
    let Some(pool) = PoolId::parse(id) else { return Ok(None) };
    match crate::services::pools::get(state, &pool).await {
        Ok(_) => Ok(Some(pool)),
        Err(crate::services::pools::PoolError::NotFound(_)) => Ok(None),
        Err(e) => {
            tracing::error!(error = %e, "loading a pool for discovery");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

/// The pool's published keys, read from the database so a key rotated in by any node is
/// listed at once. Retired keys are left out.
pub(super) async fn jwks(State(state): State<AppState>, Path(pool_id): Path<String>) -> Response {
    let pool = match known_pool(&state, &pool_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return not_found(),
        Err(r) => return r,
    };
    match crate::keys::published(&state, &pool).await {
        Ok(keys) => {
            let keys: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
            (
                [(header::CACHE_CONTROL, "public, max-age=300"), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")],
                Json(json!({"keys": keys})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "listing signing keys");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub(super) async fn openid_configuration(State(state): State<AppState>, Path(pool_id): Path<String>) -> Response {
    let pool = match known_pool(&state, &pool_id).await {
        Ok(Some(p)) => p,
        Ok(None) => return not_found(),
        Err(r) => return r,
    };
    let base = &state.settings.public_url;
    let iss = issuer(&state, &pool);
    // A public document: any web app may read it (oidc-client-ts and Amplify fetch it).
    let cors = [(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
    (cors, Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "end_session_endpoint": format!("{base}/logout"),
        "jwks_uri": format!("{iss}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "userinfo_endpoint": format!("{base}/oauth2/userInfo"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "response_types_supported": ["code", "token"],
        "response_modes_supported": ["query", "fragment"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "phone", "profile", "aws.cognito.signin.user.admin"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "client_credentials"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "email", "email_verified", "cognito:username", "cognito:groups"],
    })))
    .into_response()
}

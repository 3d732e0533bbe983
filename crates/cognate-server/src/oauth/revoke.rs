//! `POST /oauth2/revoke` (RFC 7009): revokes a refresh token's whole family, so the access
//! and ID tokens refreshed from the same sign-in stop working too.
//!
//! Decisions, following Cognito's `RevokeToken` where RFC 7009 leaves room:
//! - only refresh tokens are revocable; a JWT (access or ID token) is 400
//!   `unsupported_token_type`, as Cognito answers `UnsupportedTokenTypeException`;
//! - a client with `EnableTokenRevocation` false gets 400 `unsupported_token_type`
//!   (Cognito: "token revocation is not enabled"); nothing is revoked;
//! - a refresh token issued to another client is 400 `unauthorized_client` (RFC 7009
//!   section 2.1: the server checks the token was issued to the caller); it stays valid;
//! - an unknown, expired or already revoked token is 200: the caller's goal is met and
//!   the answer reveals nothing (RFC 7009 section 2.2).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::common::{OAuthError, OAuthForm, authenticate_client};
use crate::AppState;
use crate::services::tokens::{self, RevokeError};

pub(super) async fn revoke(
    State(state): State<AppState>,
    crate::net::ClientIp(ip): crate::net::ClientIp,
    request_id: crate::metrics::RequestId,
    headers: HeaderMap,
    form: OAuthForm,
) -> Response {
    let (result, facts) = crate::facts::collect(run(&state, &headers, &form)).await;
    let origin = crate::audit::Origin::from_request(ip, &headers, &request_id.0);
    let outcome = result.as_ref().map(|_| ()).map_err(|e| e.error);
    crate::audit::record_token_use(&state, &origin, "token.revoke", facts, outcome);
    match result {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => e.into_response(),
    }
}

async fn run(state: &AppState, headers: &HeaderMap, form: &OAuthForm) -> Result<(), OAuthError> {
    let token = form.get("token").ok_or_else(|| OAuthError::invalid_request("token is required."))?;
    let client = authenticate_client(state, headers, Some(form), false).await?.client;
    tokens::revoke_refresh_token(state, &client, token).await.map_err(|e| match e {
        RevokeError::NotEnabled => {
            OAuthError::bad("unsupported_token_type", "Token revocation is not enabled for this client.")
        }
        RevokeError::NotRefreshToken => {
            OAuthError::bad("unsupported_token_type", "Only refresh tokens can be revoked.")
        }
        RevokeError::OtherClient => OAuthError::bad("unauthorized_client", "The token was not issued to this client."),
        RevokeError::Store(e) => e.into(),
    })
}

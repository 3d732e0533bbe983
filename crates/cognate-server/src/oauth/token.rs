//! `POST /oauth2/token` (RFC 6749): the `authorization_code` grant of the hosted login
//! (with PKCE), the `client_credentials` grant for machine clients with resource-server
//! scopes, and the `refresh_token` grant.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use cognate_core::claims::SDK_SCOPE;
use cognate_core::client::AppClient;
use serde_json::json;

use super::common::{OAuthError, OAuthForm, authenticate_client, no_store};
use crate::AppState;
use crate::services::authorize::{self, ExchangeError};
use crate::services::client_tokens::{self, ClientTokenError};
use crate::services::clients;
use crate::services::tokens::{self, Rejection};

pub(super) async fn token(
    State(state): State<AppState>,
    crate::net::ClientIp(ip): crate::net::ClientIp,
    request_id: crate::metrics::RequestId,
    headers: HeaderMap,
    form: OAuthForm,
) -> Response {
    let (result, facts) = crate::facts::collect(grant(&state, ip, &headers, &form)).await;
    // Refreshes are recorded in the audit trail like REFRESH_TOKEN_AUTH, code exchanges as
    // what completes a browser sign-in (client_credentials grants are machine sign-ins,
    // counted by neither).
    let action = match form.get("grant_type") {
        Some("refresh_token") => Some("auth.refresh"),
        Some("authorization_code") => Some("auth.code_exchange"),
        _ => None,
    };
    if let Some(action) = action {
        let origin = crate::audit::Origin::from_request(ip, &headers, &request_id.0);
        let outcome = result.as_ref().map(|_| ()).map_err(|e| e.error);
        crate::audit::record_token_use(&state, &origin, action, facts, outcome);
    }
    let mut resp = match result {
        Ok(resp) => resp,
        Err(e) => axum::response::IntoResponse::into_response(e),
    };
    allow_origin(&state, &headers, &form, &mut resp).await;
    resp
}

/// CORS for a browser app exchanging a code with `fetch` (Amplify, oidc-client-ts): the
/// response is readable by the origin of one of the client's callback or sign-out URLs,
/// and by no other.
async fn allow_origin(state: &AppState, headers: &HeaderMap, form: &OAuthForm, resp: &mut Response) {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return };
    let Some(client) = form.get("client_id").and_then(cognate_core::ids::ClientId::parse) else { return };
    let Ok(Some(client)) = clients::lookup(state, &client).await else { return };
    let settings = &client.settings;
    let allowed = settings
        .callback_urls
        .iter()
        .chain(&settings.logout_urls)
        .filter_map(|u| url::Url::parse(u).ok())
        .any(|u| u.origin().is_tuple() && u.origin().ascii_serialization() == origin);
    if allowed && let Ok(value) = HeaderValue::from_str(origin) {
        resp.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// `OPTIONS /oauth2/token`: the CORS preflight of a browser app. What the response may be
/// read by is decided on the actual request ([`allow_origin`]).
pub(super) async fn preflight(headers: HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(origin) = headers.get(header::ORIGIN).cloned() {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("authorization, content-type"));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    resp
}

async fn grant(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<Response, OAuthError> {
    let grant_type = form.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required."))?;
    let caller = authenticate_client(state, headers, Some(form), false).await?;
    match grant_type {
        "client_credentials" => {
            let token = client_tokens::grant(state, ip, &caller.client, caller.confidential, form.get("scope"))
                .await
                .map_err(|e| match e {
                ClientTokenError::NotAllowed(m) => OAuthError::bad("unauthorized_client", m),
                ClientTokenError::BadCredentials => OAuthError::invalid_client(false),
                ClientTokenError::InvalidScope(m) => OAuthError::bad("invalid_scope", m),
                e @ ClientTokenError::NoScopes => OAuthError::bad("invalid_scope", e.to_string()),
                ClientTokenError::Throttled(wait) => {
                    let mut e = OAuthError::invalid_request(format!("Too many requests; retry in {wait} s."));
                    e.status = StatusCode::TOO_MANY_REQUESTS;
                    e
                }
                ClientTokenError::Fault(cause) => OAuthError::internal(cause),
            })?;
            let body =
                json!({"access_token": token.access_token, "token_type": "Bearer", "expires_in": token.expires_in});
            Ok(no_store(StatusCode::OK, body))
        }
        "refresh_token" => refresh_token(state, &caller.client, form).await,
        "authorization_code" => authorization_code(state, &caller.client, form).await,
        other => Err(OAuthError::bad("unsupported_grant_type", format!("Unsupported grant_type {other}."))),
    }
}

/// Whether the client may refresh: `ALLOW_REFRESH_TOKEN_AUTH`, or a client with legacy
/// (or no) explicit flows, for which Cognito always allowed refresh.
fn refresh_allowed(client: &AppClient) -> bool {
    let flows = &client.settings.explicit_auth_flows;
    client.settings.allows_flow("ALLOW_REFRESH_TOKEN_AUTH", None) || !flows.iter().any(|f| f.starts_with("ALLOW_"))
}

async fn refresh_token(state: &AppState, client: &AppClient, form: &OAuthForm) -> Result<Response, OAuthError> {
    let presented =
        form.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required."))?;
    if !refresh_allowed(client) {
        return Err(OAuthError::bad("unauthorized_client", "The client may not refresh tokens."));
    }
    let (_, issued) = tokens::refresh(state, client, presented, SDK_SCOPE, None).await.map_err(|e| match e {
        Rejection::Fault(cause) => OAuthError::internal(cause),
        // One answer for unknown, expired, revoked, reused tokens and disabled users.
        other => {
            tracing::debug!(reason = %other, "refresh_token grant refused");
            OAuthError::bad("invalid_grant", "The refresh token is invalid, expired or revoked.")
        }
    })?;
    let mut body = json!({
        "access_token": issued.access_token,
        "id_token": issued.id_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    });
    if let Some(rotated) = issued.refresh_token {
        body["refresh_token"] = json!(rotated);
    }
    Ok(no_store(StatusCode::OK, body))
}

/// The authorization code grant (RFC 6749 section 4.1.3, RFC 7636 section 4.5).
async fn authorization_code(state: &AppState, client: &AppClient, form: &OAuthForm) -> Result<Response, OAuthError> {
    let code = form.get("code").ok_or_else(|| OAuthError::invalid_request("code is required."))?;
    let issued = authorize::exchange(state, client, code, form.get("redirect_uri"), form.get("code_verifier"))
        .await
        .map_err(|e| match e {
            ExchangeError::Fault(cause) => OAuthError::internal(cause),
            other => {
                tracing::debug!(reason = %other, "authorization_code grant refused");
                OAuthError::bad("invalid_grant", other.to_string())
            }
        })?;
    let mut body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    });
    if let Some(id_token) = issued.id_token {
        body["id_token"] = json!(id_token);
    }
    if let Some(refresh) = issued.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    Ok(no_store(StatusCode::OK, body))
}

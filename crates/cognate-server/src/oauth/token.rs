//! `POST /oauth2/token` (RFC 6749): the `authorization_code` grant of the hosted login
//! (with PKCE), the `client_credentials` grant for machine clients with resource-server
//! scopes, and the `refresh_token` grant.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use cognate_core::claims::{SDK_SCOPE, m2m_access_token_claims};
use cognate_core::client::AppClient;
use cognate_core::ids::generate_sub;
use serde_json::json;

use super::common::{OAuthError, OAuthForm, authenticate_client, no_store};
use crate::AppState;
use crate::services::authorize::{self, ExchangeError};
use crate::services::tokens::{self, Rejection};
use crate::services::{clients, resource_servers};

/// Most scopes one request may name; more is refused before any lookup.
const MAX_REQUESTED_SCOPES: usize = 100;

pub(super) async fn token(
    State(state): State<AppState>,
    crate::net::ClientIp(ip): crate::net::ClientIp,
    headers: HeaderMap,
    form: OAuthForm,
) -> Response {
    let (result, facts) = crate::facts::collect(grant(&state, &headers, &form)).await;
    // Refreshes are recorded in the audit trail like REFRESH_TOKEN_AUTH, code exchanges as
    // what completes a browser sign-in (client_credentials grants are machine sign-ins,
    // counted by neither).
    let action = match form.get("grant_type") {
        Some("refresh_token") => Some("auth.refresh"),
        Some("authorization_code") => Some("auth.code_exchange"),
        _ => None,
    };
    if let Some(action) = action {
        let origin =
            crate::audit::Origin::from_request(ip, &headers, &cognate_core::ids::generate_sub(state.rng.as_ref()));
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

async fn grant(state: &AppState, headers: &HeaderMap, form: &OAuthForm) -> Result<Response, OAuthError> {
    let grant_type = form.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required."))?;
    let caller = authenticate_client(state, headers, Some(form), false).await?;
    match grant_type {
        "client_credentials" => {
            if !caller.confidential {
                return Err(OAuthError::bad("unauthorized_client", "Only a client with a secret may use this grant."));
            }
            client_credentials(state, &caller.client, form.get("scope")).await
        }
        "refresh_token" => refresh_token(state, &caller.client, form).await,
        "authorization_code" => authorization_code(state, &caller.client, form).await,
        other => Err(OAuthError::bad("unsupported_grant_type", format!("Unsupported grant_type {other}."))),
    }
}

async fn client_credentials(state: &AppState, client: &AppClient, scope: Option<&str>) -> Result<Response, OAuthError> {
    let settings = &client.settings;
    if !settings.allowed_oauth_flows_user_pool_client
        || !settings.allowed_oauth_flows.iter().any(|f| f == "client_credentials")
    {
        return Err(OAuthError::bad("unauthorized_client", "The client may not use the client_credentials grant."));
    }
    let scopes = granted_scopes(state, client, scope).await?;
    let now = state.clock.now_secs();
    let ttl = i64::try_from(settings.access_token_secs()).unwrap_or(3600);
    let issuer = tokens::issuer(state, &client.pool_id);
    let jti = generate_sub(state.rng.as_ref());
    let claims = m2m_access_token_claims(&issuer, client.id.as_str(), &scopes.join(" "), now, ttl, &jti);
    let keys = state.keys.get(state, &client.pool_id).await.map_err(OAuthError::internal)?;
    let access_token = keys.signer.sign(&claims).map_err(OAuthError::internal)?;
    tracing::info!(pool = %client.pool_id, client = %client.id, "client_credentials token issued");
    Ok(no_store(StatusCode::OK, json!({"access_token": access_token, "token_type": "Bearer", "expires_in": ttl})))
}

/// The scopes a client_credentials token gets: the requested ones, each allowed to the
/// client and defined by a resource server of the pool; by default every resource-server
/// scope the client is allowed. Order is kept, repeats dropped.
async fn granted_scopes(
    state: &AppState,
    client: &AppClient,
    requested: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let allowed = &client.settings.allowed_oauth_scopes;
    let explicit = requested.is_some();
    let candidates: Vec<String> = match requested {
        Some(s) => split_scopes(s),
        None => allowed.iter().filter(|s| s.contains('/')).cloned().collect(),
    };
    if candidates.len() > MAX_REQUESTED_SCOPES {
        return Err(OAuthError::bad("invalid_scope", "Too many scopes requested."));
    }
    let mut defined = resource_servers::Scopes::of(state, &client.pool_id);
    let mut granted = Vec::new();
    for scope in candidates {
        let ok = scope.contains('/') && allowed.contains(&scope) && defined.defines(&scope).await?;
        if ok {
            granted.push(scope);
        } else if explicit {
            return Err(OAuthError::bad("invalid_scope", format!("Invalid scope: {scope}")));
        }
        // A default scope whose resource server is gone is left out quietly.
    }
    if granted.is_empty() {
        return Err(OAuthError::bad("invalid_scope", "The client has no resource-server scopes to grant."));
    }
    Ok(granted)
}

/// Space-separated scopes (RFC 6749 section 3.3) without empties or repeats.
fn split_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in s.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == scope) {
            out.push(scope.to_owned());
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_drop_empties_and_repeats() {
        assert_eq!(split_scopes(" a/b  c/d a/b "), ["a/b", "c/d"]);
        assert!(split_scopes("").is_empty());
    }
}

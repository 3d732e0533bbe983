//! The hosted login's federation endpoints: sending the browser to a pool's external
//! identity provider (`/oauth2/authorize?identity_provider=…|idp_identifier=…`, the login
//! page's provider buttons and corporate email form) and taking it back: the OIDC callback
//! `/oauth2/idpresponse`, the SAML assertion consumer `/saml2/idpresponse` (HTTP-POST), the
//! pool's SAML service-provider metadata and single logout. Each handler parses, calls
//! [`crate::services::federation`] and answers with the login's pages and redirects.
//!
//! A SAML response arrives as a cross-site POST, which carries no `SameSite=Lax` cookie:
//! the ACS verifies it, leaves the identity on the pending request and sends the browser
//! to `GET /saml2/idpresponse?RelayState=…` on this origin, where the binding cookie is
//! checked before anyone is signed in.

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::messages::{self, Messages};
use super::page::{self, Cookies, Page};
use super::{Flow, answer, flow, form, param, query_params, record_outcome};
use crate::AppState;
use crate::metrics::http::RequestId;
use crate::net::ClientIp;
use crate::services::authorize::Outcome;
use crate::services::federation::{self, FederationError};
use crate::services::federation_saml::{self, Accepted};
use crate::services::tokens::Rejection;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/idpresponse", get(oidc_callback))
        .route("/saml2/idpresponse", post(saml_acs).get(saml_continue))
        .route("/saml2/metadata/{pool}", get(saml_metadata))
        .route("/saml2/logout", get(saml_logout))
        .route("/login/sso", post(sso_submit))
}

/// Sends the browser to the external provider the checked request names (by name or
/// identifier), with the cookie that binds the trip to this browser.
pub(super) async fn send_to_provider(
    state: &AppState,
    flow: &Flow,
    name: Option<&str>,
    identifier: Option<&str>,
) -> Response {
    let auth = &flow.auth;
    let provider = match federation::provider_for(state, auth, name, identifier).await {
        Ok(p) => p,
        Err(FederationError::UnknownProvider(_)) => {
            let description =
                if name.is_some() { "No such identity provider." } else { "No identity provider has this identifier." };
            return page::redirect_error(&auth.redirect_uri, auth.state.as_deref(), "invalid_request", description);
        }
        Err(e) => return failed(flow.t, &e),
    };
    go_to(state, flow, &provider).await
}

/// Sends the browser to `provider` (already resolved for the checked request).
async fn go_to(state: &AppState, flow: &Flow, provider: &cognate_core::idp::IdentityProvider) -> Response {
    match federation::begin(state, &flow.auth, &flow.query, provider).await {
        Ok(started) => {
            let mut resp = page::see_other(&started.location);
            page::set_federation_cookie(state, &mut resp, &started.binding);
            resp
        }
        Err(e) => failed(flow.t, &e),
    }
}

/// A federation step that failed before the client could be told: a page.
fn failed(t: &'static Messages, e: &FederationError) -> Response {
    match e {
        FederationError::InvalidRequest => Page::message(t, StatusCode::BAD_REQUEST, t.sso_expired),
        FederationError::Provider(_) | FederationError::UnknownProvider(_) => {
            Page::message(t, StatusCode::BAD_REQUEST, t.sso_failed)
        }
        FederationError::Account(m) => Page::message(t, StatusCode::BAD_REQUEST, &format!("{} {m}", t.sso_account)),
        FederationError::Refused(Rejection::Suspended) => Page::message(t, StatusCode::FORBIDDEN, t.suspended),
        FederationError::Refused(Rejection::NotMember) => Page::message(t, StatusCode::FORBIDDEN, t.not_member),
        FederationError::Refused(Rejection::Disabled) => Page::message(t, StatusCode::FORBIDDEN, t.disabled),
        FederationError::Refused(Rejection::MfaRequired) => Page::message(t, StatusCode::FORBIDDEN, t.mfa_required),
        other => {
            tracing::error!(error = %other, "federated sign-in failed");
            Page::message(t, StatusCode::INTERNAL_SERVER_ERROR, t.server_error)
        }
    }
}

/// The end of a federated sign-in: the session cookie and the client's redirect, or the
/// refusal on the client's redirect URI (its request was checked again, so it is trusted).
fn finish(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    request: &RequestId,
    flow: &Flow,
    facts: crate::facts::Facts,
    result: Result<Outcome, FederationError>,
) -> Response {
    let outcome = result.as_ref().map(|_| ()).map_err(reason);
    record_outcome(state, ip, headers, request, "auth.federated_sign_in", facts, outcome);
    let auth = &flow.auth;
    let refuse = |error: &str, description: &str| {
        page::redirect_error(&auth.redirect_uri, auth.state.as_deref(), error, description)
    };
    match result {
        Ok(outcome) => {
            let csrf = Cookies::of(headers).csrf_or_new(state);
            answer(state, flow, &csrf, outcome)
        }
        Err(FederationError::Provider(m) | FederationError::Account(m)) => refuse("invalid_request", &m),
        Err(FederationError::Refused(r)) => refuse("access_denied", &r.to_string()),
        Err(e @ (FederationError::InvalidRequest | FederationError::UnknownProvider(_))) => failed(flow.t, &e),
        Err(e) => {
            tracing::error!(error = %e, "federated sign-in failed");
            refuse("server_error", "An internal error occurred.")
        }
    }
}

fn reason(e: &FederationError) -> &'static str {
    match e {
        FederationError::UnknownProvider(_) => "unknown_provider",
        FederationError::InvalidRequest => "invalid_request",
        FederationError::Provider(_) => "provider_refused",
        FederationError::Account(_) => "account_refused",
        FederationError::Refused(_) => "not_authorized",
        FederationError::Fault(_) | FederationError::Store(_) => "internal_error",
    }
}

/// A browser back from its provider: the query's parameters, the pending trip its `relay`
/// parameter names (used up, and only for the browser that began it) and the client's
/// authorization request checked again. `Err` is the page that answers instead.
async fn came_back(
    state: &AppState,
    headers: &HeaderMap,
    raw: Option<String>,
    relay: &str,
) -> Result<(HashMap<String, String>, federation::Returned, Flow), Box<Response>> {
    let t = &messages::EN;
    let params = query_params(raw.as_deref()).map_err(|m| Box::new(Page::message(t, StatusCode::BAD_REQUEST, &m)))?;
    let binding = Cookies::of(headers).federation(state);
    let returned = federation::take(state, param(&params, relay).unwrap_or_default(), binding)
        .await
        .map_err(|e| Box::new(failed(t, &e)))?;
    let flow = flow(state, headers, Some(returned.query.clone())).await?;
    Ok((params, returned, flow))
}

/// `GET /oauth2/idpresponse`: an OIDC provider sends the browser back with `code` and
/// `state` (or `error`).
async fn oidc_callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (params, returned, flow) = match came_back(&state, &headers, raw, "state").await {
        Ok(back) => back,
        Err(page) => return *page,
    };
    if let Some(error) = param(&params, "error") {
        let description: String = param(&params, "error_description").unwrap_or(error).chars().take(300).collect();
        tracing::info!(pool = %flow.auth.pool.id, provider = %returned.provider, error, "identity provider answered an error");
        let error = if error == "access_denied" { "access_denied" } else { "invalid_request" };
        return page::redirect_error(&flow.auth.redirect_uri, flow.auth.state.as_deref(), error, &description);
    }
    let Some(code) = param(&params, "code").filter(|c| c.len() <= 4096) else {
        return page::redirect_error(
            &flow.auth.redirect_uri,
            flow.auth.state.as_deref(),
            "invalid_request",
            "The identity provider sent no code.",
        );
    };
    let (result, facts) =
        crate::facts::collect(federation::complete_oidc(&state, &flow.auth, &returned, code, param(&params, "iss")))
            .await;
    finish(&state, ip, &headers, &request, &flow, facts, result)
}

/// The fields of a POSTed form (no CSRF token: the IdP posts it).
fn posted_fields(body: &Bytes) -> Result<HashMap<String, String>, String> {
    std::str::from_utf8(body)
        .map_err(|_| "The form is not UTF-8.".to_owned())
        .and_then(crate::oauth::common::parse_form)
}

/// `POST /saml2/idpresponse`: the SAML assertion consumer (HTTP-POST binding).
async fn saml_acs(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t = &messages::EN;
    let fields = match posted_fields(&body) {
        Ok(f) => f,
        Err(m) => return Page::message(t, StatusCode::BAD_REQUEST, &m),
    };
    let Some(response) = param(&fields, "SAMLResponse") else {
        return Page::message(t, StatusCode::BAD_REQUEST, "SAMLResponse is required.");
    };
    let relay = param(&fields, "RelayState").or_else(|| param(&fields, "Relaystate")).unwrap_or_default();
    match federation_saml::accept(&state, response, relay).await {
        Ok(Accepted::Pending { relay }) => {
            let query: String =
                url::form_urlencoded::Serializer::new(String::new()).append_pair("RelayState", &relay).finish();
            page::see_other_303(&format!("/saml2/idpresponse?{query}"))
        }
        Ok(Accepted::IdpInitiated { query, provider, identity }) => {
            let flow = match flow(&state, &headers, Some(query)).await {
                Ok(f) => f,
                Err(page) => return *page,
            };
            let (result, facts) =
                crate::facts::collect(federation::sign_in(&state, &flow.auth, &provider, *identity)).await;
            finish(&state, ip, &headers, &request, &flow, facts, result)
        }
        Err(e) => {
            tracing::warn!(error = %e, "SAML response refused");
            match e {
                FederationError::Provider(m) => {
                    Page::message(t, StatusCode::BAD_REQUEST, &format!("{} {m}", t.sso_failed))
                }
                other => failed(t, &other),
            }
        }
    }
}

/// `GET /saml2/idpresponse?RelayState=…`: the browser back on this origin after the ACS,
/// with its binding cookie.
async fn saml_continue(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let (_, returned, flow) = match came_back(&state, &headers, raw, "RelayState").await {
        Ok(back) => back,
        Err(page) => return *page,
    };
    let (result, facts) = crate::facts::collect(federation::complete_saml(&state, &flow.auth, returned)).await;
    finish(&state, ip, &headers, &request, &flow, facts, result)
}

/// `GET /saml2/metadata/{poolId}`: the pool's service-provider metadata, what a tenant
/// admin uploads to their IdP.
async fn saml_metadata(State(state): State<AppState>, Path(pool): Path<String>) -> Response {
    match federation_saml::sp_metadata(&state, &pool).await {
        Ok(Some(xml)) => {
            let mut resp = xml.into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
            resp
        }
        Ok(None) => (StatusCode::NOT_FOUND, "No such user pool.").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "SAML metadata");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// `GET /saml2/logout`: single logout with the IdP (HTTP-Redirect binding): an IdP's
/// LogoutRequest ends the user's sessions here and is answered; a LogoutResponse to ours
/// ends the trip at the sign-out URL it was started for.
async fn saml_logout(State(state): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let t = &messages::EN;
    let query = raw.unwrap_or_default();
    match federation_saml::logout(&state, &query).await {
        Ok(Some(location)) => page::see_other(&location),
        Ok(None) => Page::message(t, StatusCode::OK, t.signed_out),
        Err(FederationError::Provider(m)) => Page::message(t, StatusCode::BAD_REQUEST, &m),
        Err(e) => failed(t, &e),
    }
}

/// `POST /login/sso`: the login page's corporate email form: the provider whose
/// identifier is the email's domain.
async fn sso_submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let flow = match flow(&state, &headers, raw).await {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let fields = match form(&state, &headers, &body, flow.t) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let email = param(&fields, "email").unwrap_or_default().trim();
    let domain = email.rsplit_once('@').map(|(_, d)| d).filter(|d| !d.is_empty()).unwrap_or(email);
    match federation::provider_for(&state, &flow.auth, None, Some(&domain.to_ascii_lowercase())).await {
        Ok(provider) => go_to(&state, &flow, &provider).await,
        Err(FederationError::UnknownProvider(_)) => {
            Page::login(&state, &flow, &csrf, Some(flow.t.sso_unknown), "", StatusCode::BAD_REQUEST)
        }
        Err(e) => failed(flow.t, &e),
    }
}

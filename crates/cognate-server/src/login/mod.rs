//! The hosted login (Cognito's managed login): `GET /oauth2/authorize`, the sign-in pages
//! under `/login`, and `/logout`. Each handler parses the request, calls one
//! [`authorize`](crate::services::authorize) service function and renders its answer;
//! the sign-in is the same state machine as InitiateAuth (throttling,
//! PreventUserExistenceErrors, challenges, the tenant pick, audit events).
//!
//! Browser safety: every form carries a CSRF token (an HMAC, under the master key, of a
//! random cookie); over https the cookies are `__Host-` cookies, which a sibling domain
//! cannot plant, and a cookie sent twice counts as absent; pages are sent with a strict
//! Content-Security-Policy (no scripts at all, `frame-ancestors 'none'`, forms only to
//! this origin and the validated redirect URI), `no-store` and `no-referrer`; nothing is
//! redirected anywhere but a registered callback or sign-out URL.

mod federation;
mod managed;
mod messages;
mod page;

pub(crate) use page::origin_of;

use std::collections::HashMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use cognate_core::totp;

use self::messages::Messages;
use self::page::{Challenge, Cookies, Page};
use crate::AppState;
use crate::audit::{self, Origin};
use crate::metrics::http::RequestId;
use crate::net::ClientIp;
use crate::services::accounts::{AccountError, SignUpError};
use crate::services::authorize::{self, Authorization, AuthorizeError, Outcome, Reply, Resume, StepError};
use crate::services::sign_in::{self, Attempt, SignInError};
use crate::services::terms::SignUpLinks;

/// Routes of the hosted login.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/authorize", get(authorize_endpoint))
        .route("/login", get(login_page).post(login_submit))
        .route("/login/challenge", post(challenge_submit))
        .route("/forgotPassword", get(forgot_page).post(forgot_submit))
        .route("/confirmForgotPassword", post(reset_submit))
        .route("/signup", get(sign_up_page).post(sign_up_submit))
        .route("/confirmUser", post(confirm_submit))
        .route("/logout", get(logout))
        .route("/login/assets/login.css", get(page::stylesheet))
        .route("/login/assets/{kind}/{pool}/{file}", get(page::custom_asset))
        .merge(federation::routes())
}

/// The query string's parameters (each at most once, as RFC 6749 requires).
fn query_params(raw: Option<&str>) -> Result<HashMap<String, String>, String> {
    crate::oauth::common::parse_form(raw.unwrap_or_default())
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params.get(name).map(String::as_str).filter(|v| !v.is_empty())
}

fn authorization_request<'a>(params: &'a HashMap<String, String>, headers: &'a HeaderMap) -> authorize::Request<'a> {
    authorize::Request {
        host: headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()),
        login_hint: param(params, "login_hint"),
        response_type: param(params, "response_type"),
        client_id: param(params, "client_id"),
        redirect_uri: param(params, "redirect_uri"),
        state: param(params, "state"),
        scope: param(params, "scope"),
        nonce: param(params, "nonce"),
        code_challenge: param(params, "code_challenge"),
        code_challenge_method: param(params, "code_challenge_method"),
        identity_provider: param(params, "identity_provider"),
        idp_identifier: param(params, "idp_identifier"),
        prompt: param(params, "prompt"),
    }
}

/// What every page handler starts with: the request's parameters and language, checked
/// as an authorization request. `Err` is the page (or redirect) that answers instead.
struct Flow {
    t: &'static Messages,
    query: String,
    auth: Authorization,
    /// The client's managed login style, else its (or its pool's) classic customization.
    brand: page::Brand,
}

async fn flow(state: &AppState, headers: &HeaderMap, raw: Option<String>) -> Result<Flow, Box<Response>> {
    let query = raw.unwrap_or_default();
    let params =
        query_params(Some(&query)).map_err(|m| Box::new(Page::message(&messages::EN, StatusCode::BAD_REQUEST, &m)))?;
    let t = messages::for_lang(param(&params, "lang"));
    match authorize::check(state, &authorization_request(&params, headers)).await {
        Ok(mut auth) => {
            let fault = |e: cognate_core::StoreError| {
                tracing::error!(error = %e, "loading the login customization");
                Box::new(Page::message(t, StatusCode::INTERNAL_SERVER_ERROR, t.server_error))
            };
            // A client's managed login branding style wins over the classic customization.
            let brand = match crate::services::managed_login::for_client(state, &auth.client).await.map_err(fault)? {
                Some(style) => page::Brand::managed(&style),
                None => {
                    let ui = crate::services::branding::for_client(state, &auth.client).await.map_err(fault)?;
                    page::Brand::of(ui.as_ref())
                }
            };
            if !auth.external_providers().is_empty() {
                auth.provider_origins =
                    crate::services::federation::provider_origins(state, &auth).await.map_err(fault)?;
            }
            Ok(Flow { t, query, auth, brand })
        }
        Err(e) => Err(Box::new(refused(t, e))),
    }
}

/// An authorization request refused: a page when no redirect URI can be trusted, else
/// the error on the redirect URI.
fn refused(t: &'static Messages, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(message) => Page::message(t, StatusCode::BAD_REQUEST, &message),
        AuthorizeError::Redirect { redirect_uri, state, error, description } => {
            page::redirect_error(&redirect_uri, state.as_deref(), error, &description)
        }
        AuthorizeError::Store(e) => {
            tracing::error!(error = %e, "checking an authorization request");
            Page::message(t, StatusCode::INTERNAL_SERVER_ERROR, t.server_error)
        }
    }
}

/// `GET /oauth2/authorize`: a browser already signed in to the pool gets its code (or
/// tokens) at once; others go to the login page with the same parameters.
async fn authorize_endpoint(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let flow = match flow(&state, &headers, raw).await {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let auth = &flow.auth;
    if auth.federated() {
        let (name, identifier) = (auth.identity_provider.as_deref(), auth.idp_identifier.as_deref());
        return federation::send_to_provider(&state, &flow, name, identifier).await;
    }
    let cookies = Cookies::of(&headers);
    let (resumed, facts) =
        crate::facts::collect(authorize::resume(&state, auth, cookies.session(&state, &auth.pool.id))).await;
    if matches!(resumed, Ok(Resume::Granted(_))) {
        // A sign-in from the browser's session (single sign-on), recorded like any other.
        record_outcome(&state, ip, &headers, &request, "auth.sign_in", facts, Ok(()));
    }
    match resumed {
        Ok(Resume::Granted(granted)) => page::redirect_granted(auth, granted),
        Ok(Resume::Login) => page::see_other(&format!("/login?{}", flow.query)),
        Ok(Resume::LoginRequired) => {
            page::redirect_error(&auth.redirect_uri, auth.state.as_deref(), "login_required", "The user must sign in.")
        }
        Err(e) => {
            tracing::error!(error = %e, "resuming a browser session");
            page::redirect_error(
                &auth.redirect_uri,
                auth.state.as_deref(),
                "server_error",
                "An internal error occurred.",
            )
        }
    }
}

/// `GET /login`: the sign-in form.
async fn login_page(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let flow = match flow(&state, &headers, raw).await {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let hint = flow.auth.login_hint.clone().unwrap_or_default();
    Page::login(&state, &flow, &csrf, None, &hint, StatusCode::OK)
}

/// A submitted form: its fields, once the CSRF token is checked.
fn form(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    t: &'static Messages,
) -> Result<HashMap<String, String>, Box<Response>> {
    let fields = std::str::from_utf8(body)
        .map_err(|_| "The form is not UTF-8.".to_owned())
        .and_then(crate::oauth::common::parse_form)
        .map_err(|m| Box::new(Page::message(t, StatusCode::BAD_REQUEST, &m)))?;
    if !Cookies::of(headers).csrf_matches(state, fields.get("_csrf").map(String::as_str)) {
        return Err(Box::new(Page::message(t, StatusCode::FORBIDDEN, t.csrf)));
    }
    Ok(fields)
}

/// `POST /login`: username and password, through the sign-in state machine.
async fn login_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (flow, fields) = match posted(&state, &headers, raw, &body).await {
        Ok(posted) => posted,
        Err(page) => return *page,
    };
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let username = param(&fields, "username").unwrap_or_default();
    let (Some(_), Some(password)) = (param(&fields, "username"), param(&fields, "password")) else {
        return Page::login(&state, &flow, &csrf, Some(flow.t.missing), username, StatusCode::BAD_REQUEST);
    };
    if let Err(page) = admitted(&state, ip, &flow, Some(username)).await {
        return *page;
    }
    let attempt = Attempt { ip: ip.map(crate::net::counted_as) };
    let (result, facts) =
        crate::facts::collect(authorize::password(&state, attempt, &flow.auth, username, password)).await;
    record(&state, ip, &headers, &request, "auth.sign_in", facts, &result);
    match result {
        Ok(outcome) => answer(&state, &flow, &csrf, outcome),
        Err(e) => {
            let (status, message) = explain(flow.t, &e);
            Page::login(&state, &flow, &csrf, Some(&message), username, status)
        }
    }
}

/// `POST /login/challenge`: the answer to a challenge page.
async fn challenge_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (flow, fields) = match posted(&state, &headers, raw, &body).await {
        Ok(posted) => posted,
        Err(page) => return *page,
    };
    let t = flow.t;
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let (Some(challenge), Some(session), Some(username)) =
        (param(&fields, "challenge"), param(&fields, "session"), param(&fields, "username"))
    else {
        return Page::login(&state, &flow, &csrf, Some(t.session_expired), "", StatusCode::BAD_REQUEST);
    };
    let again = |error: &str, status: StatusCode| {
        let challenge = Challenge { name: challenge, session, username, secret: None, tenants: &[] };
        Page::challenge(&state, &flow, &csrf, &challenge, Some(error), status)
    };
    let reply = match challenge {
        sign_in::NEW_PASSWORD_REQUIRED => match (param(&fields, "new_password"), param(&fields, "confirm_password")) {
            (Some(p), Some(c)) if p == c => Reply::NewPassword(p),
            (Some(_), Some(_)) => return again(t.passwords_differ, StatusCode::BAD_REQUEST),
            _ => return again(t.missing, StatusCode::BAD_REQUEST),
        },
        cognate_core::mfa::SOFTWARE_TOKEN_MFA | sign_in::MFA_SETUP => {
            let Some(code) = param(&fields, "code").filter(|c| c.len() == totp::DIGITS as usize) else {
                return again(t.code_mismatch, StatusCode::BAD_REQUEST);
            };
            if challenge == sign_in::MFA_SETUP {
                let device_name = param(&fields, "device_name").map(|d| d.chars().take(256).collect());
                Reply::Setup { code, device_name }
            } else {
                Reply::Code(code)
            }
        }
        sign_in::SELECT_TENANT => match param(&fields, "tenant") {
            Some(tenant) => Reply::Tenant(tenant),
            None => return again(t.missing, StatusCode::BAD_REQUEST),
        },
        _ => return Page::login(&state, &flow, &csrf, Some(t.session_expired), "", StatusCode::BAD_REQUEST),
    };
    if let Err(page) = admitted(&state, ip, &flow, Some(username)).await {
        return *page;
    }
    let attempt = Attempt { ip: ip.map(crate::net::counted_as) };
    let (result, facts) =
        crate::facts::collect(authorize::answer(&state, attempt, &flow.auth, challenge, session, username, reply))
            .await;
    record(&state, ip, &headers, &request, "auth.challenge", facts, &result);
    match result {
        Ok(outcome) => answer(&state, &flow, &csrf, outcome),
        Err(StepError::SignIn(SignInError::InvalidSession | SignInError::SessionExpired)) => {
            Page::login(&state, &flow, &csrf, Some(t.session_expired), "", StatusCode::BAD_REQUEST)
        }
        Err(e) => {
            let (status, message) = explain(t, &e);
            again(&message, status)
        }
    }
}

/// Counts the request in the per-address and per-username windows the Cognito API's
/// authentication operations share; `Err` is the 429 page.
async fn admitted(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    flow: &Flow,
    username: Option<&str>,
) -> Result<(), Box<Response>> {
    let user = username.map(|name| (flow.auth.client.id.as_str(), name));
    crate::throttle::admit_auth(state, ip, user).await.map_err(|limited| {
        let wait = match limited {
            crate::throttle::AuthRate::Address(w) | crate::throttle::AuthRate::User(w) => w,
        };
        let mut page = Page::message(flow.t, StatusCode::TOO_MANY_REQUESTS, flow.t.throttled);
        if let Ok(v) = axum::http::HeaderValue::from_str(&wait.to_string()) {
            page.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
        }
        Box::new(page)
    })
}

/// What every form post starts with: the checked authorization request and the form's
/// fields, its CSRF token verified. `Err` is the page that answers instead.
async fn posted(
    state: &AppState,
    headers: &HeaderMap,
    raw: Option<String>,
    body: &Bytes,
) -> Result<(Flow, HashMap<String, String>), Box<Response>> {
    let flow = flow(state, headers, raw).await?;
    let fields = form(state, headers, body, flow.t)?;
    Ok((flow, fields))
}

/// The response to a sign-in step: the next page, or (signed in) the session cookie and
/// the redirect back to the client.
fn answer(state: &AppState, flow: &Flow, csrf: &str, outcome: Outcome) -> Response {
    let page = |name: &str, session: &str, username: &str, secret: Option<&[u8]>, tenants| {
        let challenge = Challenge { name, session, username, secret, tenants };
        Page::challenge(state, flow, csrf, &challenge, None, StatusCode::OK)
    };
    match outcome {
        Outcome::Done { session_id, granted } => {
            let mut resp = page::redirect_granted(&flow.auth, granted);
            page::set_session_cookie(state, &mut resp, &flow.auth.pool.id, &session_id);
            resp
        }
        Outcome::NewPassword { session, username } => {
            page(sign_in::NEW_PASSWORD_REQUIRED, &session, &username, None, &[])
        }
        Outcome::Mfa { session, username } => {
            page(cognate_core::mfa::SOFTWARE_TOKEN_MFA, &session, &username, None, &[])
        }
        Outcome::MfaSetup { session, username, secret } => {
            page(sign_in::MFA_SETUP, &session, &username, Some(&secret), &[])
        }
        Outcome::SelectTenant { session, username, tenants } => {
            page(sign_in::SELECT_TENANT, &session, &username, None, &tenants)
        }
    }
}

/// The status and message of a refused step, in the page's language.
fn explain(t: &'static Messages, e: &StepError) -> (StatusCode, String) {
    use crate::services::mfa::MfaError;
    use crate::services::tokens::Rejection;
    use crate::tenancy::Refusal;
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_owned());
    let sign_in_error = match e {
        StepError::SignIn(e) | StepError::Mfa(MfaError::SignIn(e)) => e,
        StepError::Mfa(MfaError::CodeMismatch) => return bad(t.code_mismatch),
        StepError::Mfa(MfaError::NothingPending | MfaError::SetupCannotReplace) => return bad(t.session_expired),
        StepError::Grant(Rejection::NotMember) => return bad(t.not_member),
        StepError::Grant(Rejection::Suspended) => return bad(t.suspended),
        StepError::Grant(Rejection::MfaRequired) => return bad(t.mfa_required),
        StepError::Grant(Rejection::Disabled) => return bad(t.disabled),
        other => {
            tracing::error!(error = %other, "hosted login step failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, t.server_error.to_owned());
        }
    };
    match sign_in_error {
        SignInError::InvalidCredentials => bad(t.invalid_credentials),
        SignInError::UserNotFound => bad(t.user_not_found),
        SignInError::Locked => bad(t.locked),
        SignInError::AddressThrottled { .. } => (StatusCode::TOO_MANY_REQUESTS, t.throttled.to_owned()),
        SignInError::Disabled => bad(t.disabled),
        SignInError::NotConfirmed => bad(t.not_confirmed),
        SignInError::ResetRequired => bad(t.reset_required),
        SignInError::TemporaryPasswordExpired => bad(t.temporary_expired),
        SignInError::InvalidSession | SignInError::SessionExpired => bad(t.session_expired),
        SignInError::Missing(_) => bad(t.missing),
        SignInError::PasswordPolicy(m) => bad(&format!("{} {m}", t.password_policy)),
        SignInError::Attributes(m) => bad(m),
        SignInError::ReservedAttribute(name) => bad(&format!("{name}: {}", t.missing)),
        SignInError::CodeMismatch => bad(t.code_mismatch),
        SignInError::CodeReused => bad(t.code_reused),
        SignInError::Tenant(Refusal::NotMember) => bad(t.not_member),
        SignInError::Tenant(Refusal::Suspended) => bad(t.suspended),
        // SRP and choice-based sign-in are API flows: the pages never begin one.
        SignInError::SecretHashMissing { .. }
        | SignInError::CodeExpired
        | SignInError::TooManyCodes
        | SignInError::UnknownChallenge(_)
        | SignInError::ChallengeNotAvailable(_)
        | SignInError::InvalidAnswer(_)
        | SignInError::PasskeysUnconfigured
        | SignInError::SecretHashMismatch { .. }
        | SignInError::SrpUnavailable
        | SignInError::DeviceNotFound
        | SignInError::SrpInvalid
        | SignInError::SrpTimestamp
        | SignInError::Tenant(Refusal::Store(_))
        | SignInError::Token(_)
        | SignInError::Store(_)
        | SignInError::Fault(_) => {
            tracing::error!(error = %sign_in_error, "hosted login step failed");
            (StatusCode::INTERNAL_SERVER_ERROR, t.server_error.to_owned())
        }
    }
}

/// The audit reason of a refused step (snake_case, like `/v1`'s error codes).
fn reason(e: &StepError) -> &'static str {
    match e {
        StepError::SignIn(SignInError::InvalidCredentials) => "invalid_credentials",
        StepError::SignIn(SignInError::UserNotFound) => "user_not_found",
        StepError::SignIn(SignInError::Locked) => "locked",
        StepError::SignIn(SignInError::AddressThrottled { .. }) => "throttled",
        StepError::SignIn(SignInError::Disabled) | StepError::Grant(_) => "not_authorized",
        StepError::SignIn(SignInError::CodeMismatch) | StepError::Mfa(_) => "code_mismatch",
        StepError::SignIn(SignInError::InvalidSession | SignInError::SessionExpired) => "invalid_session",
        StepError::SignIn(_) => "refused",
        StepError::Store(_) => "internal_error",
    }
}

/// Records a sign-in step in the audit trail, as InitiateAuth / RespondToAuthChallenge.
fn record<T>(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    request: &RequestId,
    action: &str,
    facts: crate::facts::Facts,
    result: &Result<T, StepError>,
) {
    record_outcome(state, ip, headers, request, action, facts, result.as_ref().map(|_| ()).map_err(reason));
}

/// Records one page action in the audit trail (`outcome`: `Err` names the reason), under
/// the request's id (the access log's and the answer's `x-request-id`).
fn record_outcome(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    request: &RequestId,
    action: &str,
    facts: crate::facts::Facts,
    outcome: Result<(), &str>,
) {
    let origin = Origin::from_request(ip, headers, &request.0);
    let history = match action {
        "auth.sign_in" => Some(("SignIn", Some("Password"))),
        "auth.federated_sign_in" => Some(("SignIn", None)),
        "auth.challenge" => Some(("SignIn", Some("Mfa"))),
        "user.sign_up" => Some(("SignUp", None)),
        "auth.forgot_password" => Some(("ForgotPassword", None)),
        "auth.confirm_forgot_password" => Some(("PasswordChange", None)),
        _ => None,
    };
    if let (Some((kind, challenge)), Some(pool), Some(sub)) = (history, facts.pool.clone(), facts.user.clone()) {
        // The user's history (pools with threat protection on), as the Cognito API's
        // sign-ins leave it; written beside the page's answer, never delaying it.
        let (state, origin, ok) = (state.clone(), origin.clone(), outcome.is_ok());
        tokio::spawn(async move {
            let happened = crate::services::auth_events::Happened {
                kind,
                response: if ok { "Pass" } else { "Fail" },
                challenge: challenge.map(|c| (c, ok)),
                ip: origin.source_ip.as_deref(),
                device: origin.user_agent.as_deref(),
            };
            crate::services::auth_events::record(&state, &pool, &sub, happened).await;
        });
    }
    audit::record_token_use(state, &origin, action, facts, outcome);
}

/// `GET /forgotPassword`: the username form of password recovery.
async fn forgot_page(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let flow = match flow(&state, &headers, raw).await {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    Page::forgot(&state, &flow, &csrf, None, "", StatusCode::OK)
}

/// `POST /forgotPassword`: sends a reset code (ForgotPassword's rules), then the reset form.
async fn forgot_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (flow, fields) = match posted(&state, &headers, raw, &body).await {
        Ok(posted) => posted,
        Err(page) => return *page,
    };
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let Some(username) = param(&fields, "username") else {
        return Page::forgot(&state, &flow, &csrf, Some(flow.t.missing), "", StatusCode::BAD_REQUEST);
    };
    if let Err(page) = admitted(&state, ip, &flow, Some(username)).await {
        return *page;
    }
    let (result, facts) = crate::facts::collect(authorize::forgot_password(&state, &flow.auth, username)).await;
    record_outcome(
        &state,
        ip,
        &headers,
        &request,
        "auth.forgot_password",
        facts,
        result.as_ref().map(|_| ()).map_err(account_reason),
    );
    match result {
        Ok(delivery) => Page::reset(&state, &flow, &csrf, None, Some(&delivery.destination), username, StatusCode::OK),
        Err(e) => {
            let (status, message) = explain_account(flow.t, &e);
            Page::forgot(&state, &flow, &csrf, Some(&message), username, status)
        }
    }
}

/// `POST /confirmForgotPassword`: the code and the new password (ConfirmForgotPassword's
/// rules); then the login page.
async fn reset_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (flow, fields) = match posted(&state, &headers, raw, &body).await {
        Ok(posted) => posted,
        Err(page) => return *page,
    };
    let t = flow.t;
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let username = param(&fields, "username").unwrap_or_default();
    let again = |error: &str, status| Page::reset(&state, &flow, &csrf, Some(error), None, username, status);
    let (Some(code), Some(password), Some(confirm)) =
        (param(&fields, "code"), param(&fields, "new_password"), param(&fields, "confirm_password"))
    else {
        return again(t.missing, StatusCode::BAD_REQUEST);
    };
    if password != confirm {
        return again(t.passwords_differ, StatusCode::BAD_REQUEST);
    }
    if let Err(page) = admitted(&state, ip, &flow, Some(username)).await {
        return *page;
    }
    let attempt = Attempt { ip: ip.map(crate::net::counted_as) };
    let (result, facts) =
        crate::facts::collect(authorize::reset_password(&state, attempt, &flow.auth, username, code, password)).await;
    let outcome = result.as_ref().map(|_| ()).map_err(account_reason);
    record_outcome(&state, ip, &headers, &request, "auth.confirm_forgot_password", facts, outcome);
    match result {
        Ok(()) => Page::login_with(&state, &flow, &csrf, None, Some(t.reset_done), username, StatusCode::OK),
        Err(e) => {
            let (status, message) = explain_account(t, &e);
            again(&message, status)
        }
    }
}

/// `GET /signup`: the sign-up form, where the pool lets users sign themselves up.
async fn sign_up_page(State(state): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let flow = match flow(&state, &headers, raw).await {
        Ok(f) => f,
        Err(page) => return *page,
    };
    if !authorize::offers_sign_up(&flow.auth) {
        return Page::message(flow.t, StatusCode::FORBIDDEN, flow.t.sign_up_refused);
    }
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let terms = match sign_up_terms(&state, &flow).await {
        Ok(terms) => terms,
        Err(page) => return *page,
    };
    Page::sign_up(&state, &flow, &csrf, None, ("", ""), terms.as_ref(), StatusCode::OK)
}

/// The client's terms documents for the sign-up page's language.
async fn sign_up_terms(state: &AppState, flow: &Flow) -> Result<Option<SignUpLinks>, Box<Response>> {
    crate::services::terms::for_sign_up(state, &flow.auth.client, flow.t.terms_language).await.map_err(|e| {
        tracing::error!(error = %e, "loading the client's terms documents");
        Box::new(Page::message(flow.t, StatusCode::INTERNAL_SERVER_ERROR, flow.t.server_error))
    })
}

/// `POST /signup`: SignUp's rules; then the confirmation form (or, with nowhere to send a
/// code, the login page saying an administrator must confirm).
async fn sign_up_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (flow, fields) = match posted(&state, &headers, raw, &body).await {
        Ok(posted) => posted,
        Err(page) => return *page,
    };
    let t = flow.t;
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let email = param(&fields, "email");
    let username = if authorize::email_is_username(&flow.auth) { email } else { param(&fields, "username") };
    let typed = (username.unwrap_or_default(), email.unwrap_or_default());
    let terms = match sign_up_terms(&state, &flow).await {
        Ok(terms) => terms,
        Err(page) => return *page,
    };
    let again = |error: &str, status| Page::sign_up(&state, &flow, &csrf, Some(error), typed, terms.as_ref(), status);
    let (Some(username), Some(password), Some(confirm)) =
        (username, param(&fields, "password"), param(&fields, "confirm_password"))
    else {
        return again(t.missing, StatusCode::BAD_REQUEST);
    };
    if password != confirm {
        return again(t.passwords_differ, StatusCode::BAD_REQUEST);
    }
    if let Err(page) = admitted(&state, ip, &flow, Some(username)).await {
        return *page;
    }
    let email = email.filter(|_| !authorize::email_is_username(&flow.auth));
    let (result, facts) =
        crate::facts::collect(authorize::sign_up(&state, &flow.auth, username, password, email)).await;
    record_outcome(
        &state,
        ip,
        &headers,
        &request,
        "user.sign_up",
        facts,
        result.as_ref().map(|_| ()).map_err(sign_up_reason),
    );
    match result {
        Ok(signed_up) => match signed_up.delivery {
            Some(d) => Page::confirm(&state, &flow, &csrf, None, Some(&d.destination), username, StatusCode::OK),
            None => Page::login_with(&state, &flow, &csrf, None, Some(t.created_unconfirmed), username, StatusCode::OK),
        },
        Err(e) => {
            let (status, message) = explain_sign_up(t, &e);
            again(&message, status)
        }
    }
}

/// `POST /confirmUser`: the sign-up code (ConfirmSignUp's rules); then the login page.
async fn confirm_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let (flow, fields) = match posted(&state, &headers, raw, &body).await {
        Ok(posted) => posted,
        Err(page) => return *page,
    };
    let t = flow.t;
    let csrf = Cookies::of(&headers).csrf_or_new(&state);
    let username = param(&fields, "username").unwrap_or_default();
    let Some(code) = param(&fields, "code") else {
        return Page::confirm(&state, &flow, &csrf, Some(t.missing), None, username, StatusCode::BAD_REQUEST);
    };
    if let Err(page) = admitted(&state, ip, &flow, Some(username)).await {
        return *page;
    }
    let (result, facts) = crate::facts::collect(authorize::confirm_sign_up(&state, &flow.auth, username, code)).await;
    record_outcome(
        &state,
        ip,
        &headers,
        &request,
        "user.confirm",
        facts,
        result.as_ref().map(|_| ()).map_err(sign_up_reason),
    );
    match result {
        Ok(()) => Page::login_with(&state, &flow, &csrf, None, Some(t.confirmed), username, StatusCode::OK),
        Err(e) => {
            let (status, message) = explain_sign_up(t, &e);
            Page::confirm(&state, &flow, &csrf, Some(&message), None, username, status)
        }
    }
}

/// The status and message of a refused sign-up or confirmation.
fn explain_sign_up(t: &'static Messages, e: &SignUpError) -> (StatusCode, String) {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_owned());
    match e {
        SignUpError::NotPermitted | SignUpError::NotWritable | SignUpError::Reserved(_) => {
            (StatusCode::FORBIDDEN, t.sign_up_refused.to_owned())
        }
        SignUpError::InvalidUsername => bad(t.missing),
        SignUpError::Attributes(m) => bad(m),
        SignUpError::PasswordPolicy(m) => bad(&format!("{} {m}", t.password_policy)),
        SignUpError::Write(crate::services::users::UserWriteError::Taken(_)) => bad(t.account_exists),
        SignUpError::Write(other) => {
            tracing::error!(error = %other, "sign-up failed");
            (StatusCode::INTERNAL_SERVER_ERROR, t.server_error.to_owned())
        }
        SignUpError::NotUnconfirmed(_) => bad(t.cannot_confirm),
        SignUpError::Account(e) => explain_account(t, e),
    }
}

fn sign_up_reason(e: &SignUpError) -> &'static str {
    match e {
        SignUpError::NotPermitted | SignUpError::NotWritable | SignUpError::Reserved(_) => "not_authorized",
        SignUpError::InvalidUsername | SignUpError::Attributes(_) => "invalid_parameter",
        SignUpError::PasswordPolicy(_) => "invalid_password",
        SignUpError::Write(crate::services::users::UserWriteError::Taken(_)) => "username_exists",
        SignUpError::Write(_) => "internal_error",
        SignUpError::NotUnconfirmed(_) => "not_authorized",
        SignUpError::Account(e) => account_reason(e),
    }
}

/// The status and message of a refused recovery step.
fn explain_account(t: &'static Messages, e: &AccountError) -> (StatusCode, String) {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_owned());
    match e {
        AccountError::UserNotFound => bad(t.user_not_found),
        AccountError::Disabled => bad(t.disabled),
        AccountError::NoRecoveryDestination => bad(t.no_recovery),
        AccountError::AdminOnly => (StatusCode::FORBIDDEN, t.admin_recovery_only.to_owned()),
        AccountError::CodeMismatch => bad(t.code_mismatch),
        AccountError::CodeExpired => bad(t.code_expired),
        AccountError::AttemptsExceeded => (StatusCode::TOO_MANY_REQUESTS, t.locked.to_owned()),
        AccountError::PasswordPolicy(m) => bad(&format!("{} {m}", t.password_policy)),
        AccountError::Store(_) | AccountError::Fault(_) => {
            tracing::error!(error = %e, "password recovery failed");
            (StatusCode::INTERNAL_SERVER_ERROR, t.server_error.to_owned())
        }
    }
}

fn account_reason(e: &AccountError) -> &'static str {
    match e {
        AccountError::UserNotFound => "user_not_found",
        AccountError::Disabled => "not_authorized",
        AccountError::NoRecoveryDestination => "no_recovery_destination",
        AccountError::AdminOnly => "not_authorized",
        AccountError::CodeMismatch => "code_mismatch",
        AccountError::CodeExpired => "code_expired",
        AccountError::AttemptsExceeded => "limit_exceeded",
        AccountError::PasswordPolicy(_) => "invalid_password",
        AccountError::Store(_) | AccountError::Fault(_) => "internal_error",
    }
}

/// `GET /logout`: ends the browser's session in the client's pool and sends it to a
/// registered sign-out URL (Cognito's `logout_uri`, or OIDC's `post_logout_redirect_uri`
/// with `state`); without one, a signed-out page.
async fn logout(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    request: RequestId,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = match query_params(raw.as_deref()) {
        Ok(p) => p,
        Err(m) => return Page::message(&messages::EN, StatusCode::BAD_REQUEST, &m),
    };
    let t = messages::for_lang(param(&params, "lang"));
    let req = authorize::LogoutRequest {
        client_id: param(&params, "client_id"),
        logout_uri: param(&params, "logout_uri").or(param(&params, "post_logout_redirect_uri")),
        id_token_hint: param(&params, "id_token_hint"),
        host: headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()),
    };
    let cookies = Cookies::of(&headers);
    let (result, facts) =
        crate::facts::collect(authorize::logout(&state, &req, |pool| cookies.session(&state, pool).map(str::to_owned)))
            .await;
    let outcome = result.as_ref().map(|_| ()).map_err(|_| "refused");
    record_outcome(&state, ip, &headers, &request, "auth.sign_out", facts, outcome);
    match result {
        Ok(done) => {
            if let Some(location) = &done.idp_logout {
                // The IdP ends its session too, then sends the browser on through /saml2/logout.
                let mut resp = page::see_other(location);
                page::clear_session_cookie(&state, &mut resp, &done.pool);
                return resp;
            }
            let mut resp = match done.redirect {
                Some(uri) => {
                    let app_state =
                        param(&params, "state").filter(|_| param(&params, "post_logout_redirect_uri").is_some());
                    page::redirect_with(&uri, &[("state", app_state)], false)
                }
                None => Page::message(t, StatusCode::OK, t.signed_out),
            };
            page::clear_session_cookie(&state, &mut resp, &done.pool);
            resp
        }
        Err(e) => refused(t, e),
    }
}

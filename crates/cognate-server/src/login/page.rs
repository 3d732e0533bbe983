//! Rendering the hosted login: templates, the headers every page carries, cookies (the
//! browser session and the CSRF token) and redirects back to the client.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cognate_core::ids::PoolId;
use cognate_core::totp;

use super::Flow;
use super::messages::Messages;
use crate::services::authorize::{self, Authorization, Granted, ResponseType};
use crate::services::sign_in::{self, TenantChoice};
use crate::services::terms::SignUpLinks;
use crate::{AppState, web};

/// The cookie binding a trip to an external identity provider to the browser that began it.
const FEDERATION_COOKIE: &str = "cognate-federation";
const STYLESHEET: &str = include_str!("../../assets/login.css");

#[derive(Template)]
#[template(path = "login/login.html")]
struct LoginTemplate<'a> {
    t: &'a Messages,
    app: &'a str,
    brand: &'a Brand,
    query: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    username: &'a str,
    sign_up: bool,
    /// The pool's own users sign in here (the username and password form).
    cognito: bool,
    /// The client's external providers: a button each, and the corporate email form.
    providers: &'a [(String, String)],
}

#[derive(Template)]
#[template(path = "login/signup.html")]
struct SignUpTemplate<'a> {
    t: &'a Messages,
    app: &'a str,
    brand: &'a Brand,
    query: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    email_only: bool,
    username: &'a str,
    email: &'a str,
    /// The client's terms documents in the page's language, when it has both.
    terms: Option<&'a SignUpLinks>,
}

#[derive(Template)]
#[template(path = "login/confirm.html")]
struct ConfirmTemplate<'a> {
    t: &'a Messages,
    app: &'a str,
    brand: &'a Brand,
    query: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    destination: Option<&'a str>,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "login/forgot.html")]
struct ForgotTemplate<'a> {
    t: &'a Messages,
    app: &'a str,
    brand: &'a Brand,
    query: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "login/reset.html")]
struct ResetTemplate<'a> {
    t: &'a Messages,
    app: &'a str,
    brand: &'a Brand,
    query: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    destination: Option<&'a str>,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "login/challenge.html")]
struct ChallengeTemplate<'a> {
    t: &'a Messages,
    app: &'a str,
    brand: &'a Brand,
    title: &'a str,
    help: Option<&'a str>,
    query: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
    challenge: &'a str,
    session: &'a str,
    username: &'a str,
    qr_svg: Option<String>,
    secret: String,
    tenants: &'a [TenantChoice],
}

#[derive(Template)]
#[template(path = "login/message.html")]
struct MessageTemplate<'a> {
    t: &'a Messages,
    app: &'a str,
    brand: &'a Brand,
    title: &'a str,
    message: &'a str,
    error: bool,
}

/// A client's branding, as the pages link it: its stylesheet, logo and favicon URLs.
#[derive(Debug, Default)]
pub(super) struct Brand {
    pub css: Option<String>,
    pub logo: Option<String>,
    /// (URL, media type) of each favicon.
    pub favicons: Vec<(String, &'static str)>,
}

impl Brand {
    /// The classic customization (SetUICustomization) of the client or its pool.
    pub fn of(ui: Option<&cognate_core::login::UiCustomization>) -> Self {
        let Some(ui) = ui else { return Self::default() };
        let (pool, client, v) = (&ui.pool_id, &ui.client_id, ui.updated_at);
        Self {
            css: ui.css.as_ref().map(|_| format!("/login/assets/custom/{pool}/{client}.css?v={v}")),
            logo: ui.image.as_ref().map(|_| format!("/login/assets/logo/{pool}/{client}?v={v}")),
            favicons: Vec::new(),
        }
    }

    /// The client's managed login branding style (which wins over the classic one).
    pub fn managed(style: &cognate_core::managed_login::ManagedLogin) -> Self {
        Self {
            css: Some(super::managed::stylesheet_url(style)),
            logo: super::managed::logo(style),
            favicons: super::managed::favicons(style),
        }
    }
}

/// `GET /login/assets/custom/{pool}/{client}.css` and `GET /login/assets/logo/{pool}/{client}`:
/// a customization's stylesheet and logo; `GET /login/assets/managed/…`: a managed login
/// branding style's ([`super::managed`]).
pub(super) async fn custom_asset(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path((kind, pool, file)): axum::extract::Path<(String, String, String)>,
) -> Response {
    if kind == "managed" {
        return super::managed::asset(&state, &pool, &file).await;
    }
    let (client, css) = match (kind.as_str(), file.strip_suffix(".css")) {
        ("custom", Some(client)) => (client, true),
        ("logo", None) => (file.as_str(), false),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let ui = match crate::services::branding::asset(&state, &pool, client).await {
        Ok(Some(ui)) => ui,
        Ok(None) => return StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "loading a login customization");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let (kind, body) = if css {
        match ui.css {
            Some(css) => ("text/css; charset=utf-8".to_owned(), css.into_bytes()),
            None => return StatusCode::NOT_FOUND.into_response(),
        }
    } else {
        match (crate::services::branding::image_bytes(&ui), ui.image_type) {
            (Some(bytes), Some(kind)) => (kind, bytes),
            _ => return StatusCode::NOT_FOUND.into_response(),
        }
    };
    let mut resp = ([(header::CONTENT_TYPE, kind)], body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

/// A challenge page to show.
pub(super) struct Challenge<'a> {
    pub name: &'a str,
    pub session: &'a str,
    pub username: &'a str,
    /// MFA_SETUP: the new authenticator's secret (shown as a QR code and text).
    pub secret: Option<&'a [u8]>,
    pub tenants: &'a [TenantChoice],
}

pub(super) struct Page;

impl Page {
    pub fn login(
        state: &AppState,
        flow: &Flow,
        csrf: &str,
        error: Option<&str>,
        username: &str,
        status: StatusCode,
    ) -> Response {
        Self::login_with(state, flow, csrf, error, None, username, status)
    }

    /// The login page with a notice (the password was reset).
    pub fn login_with(
        state: &AppState,
        flow: &Flow,
        csrf: &str,
        error: Option<&str>,
        notice: Option<&str>,
        username: &str,
        status: StatusCode,
    ) -> Response {
        let form_token = web::csrf_token(state, csrf);
        // Each provider's button goes through /oauth2/authorize with the request as it is.
        let kept: Vec<(String, String)> = url::form_urlencoded::parse(flow.query.as_bytes())
            .filter(|(k, _)| k != "identity_provider" && k != "idp_identifier")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let providers: Vec<(String, String)> = flow
            .auth
            .external_providers()
            .into_iter()
            .map(|name| {
                let link = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&kept)
                    .append_pair("identity_provider", &name)
                    .finish();
                (name, format!("/oauth2/authorize?{link}"))
            })
            .collect();
        let page = LoginTemplate {
            t: flow.t,
            app: &flow.auth.client.name,
            brand: &flow.brand,
            query: &flow.query,
            csrf: &form_token,
            error,
            notice,
            username,
            sign_up: authorize::offers_sign_up(&flow.auth) && flow.auth.offers_cognito(),
            cognito: flow.auth.offers_cognito(),
            providers: &providers,
        };
        respond(page.render(), status, Some(&flow.auth), Some(&web::csrf_cookie(state, csrf)))
    }

    /// The sign-up form (`username`, `email`: what was typed, on a refusal), with links to
    /// the client's terms documents (`terms`) when it has them.
    #[allow(clippy::too_many_arguments)]
    pub fn sign_up(
        state: &AppState,
        flow: &Flow,
        csrf: &str,
        error: Option<&str>,
        (username, email): (&str, &str),
        terms: Option<&SignUpLinks>,
        status: StatusCode,
    ) -> Response {
        let form_token = web::csrf_token(state, csrf);
        let page = SignUpTemplate {
            t: flow.t,
            app: &flow.auth.client.name,
            brand: &flow.brand,
            query: &flow.query,
            csrf: &form_token,
            error,
            email_only: authorize::email_is_username(&flow.auth),
            username,
            email,
            terms,
        };
        respond(page.render(), status, Some(&flow.auth), Some(&web::csrf_cookie(state, csrf)))
    }

    /// The confirmation form: the code sent to `destination`.
    pub fn confirm(
        state: &AppState,
        flow: &Flow,
        csrf: &str,
        error: Option<&str>,
        destination: Option<&str>,
        username: &str,
        status: StatusCode,
    ) -> Response {
        let form_token = web::csrf_token(state, csrf);
        let page = ConfirmTemplate {
            t: flow.t,
            app: &flow.auth.client.name,
            brand: &flow.brand,
            query: &flow.query,
            csrf: &form_token,
            error,
            destination,
            username,
        };
        respond(page.render(), status, Some(&flow.auth), Some(&web::csrf_cookie(state, csrf)))
    }

    /// "Forgot your password?": the username form.
    pub fn forgot(
        state: &AppState,
        flow: &Flow,
        csrf: &str,
        error: Option<&str>,
        username: &str,
        status: StatusCode,
    ) -> Response {
        let form_token = web::csrf_token(state, csrf);
        let page = ForgotTemplate {
            t: flow.t,
            app: &flow.auth.client.name,
            brand: &flow.brand,
            query: &flow.query,
            csrf: &form_token,
            error,
            username,
        };
        respond(page.render(), status, Some(&flow.auth), Some(&web::csrf_cookie(state, csrf)))
    }

    /// The reset form: the code sent to `destination` and the new password.
    pub fn reset(
        state: &AppState,
        flow: &Flow,
        csrf: &str,
        error: Option<&str>,
        destination: Option<&str>,
        username: &str,
        status: StatusCode,
    ) -> Response {
        let form_token = web::csrf_token(state, csrf);
        let page = ResetTemplate {
            t: flow.t,
            app: &flow.auth.client.name,
            brand: &flow.brand,
            query: &flow.query,
            csrf: &form_token,
            error,
            destination,
            username,
        };
        respond(page.render(), status, Some(&flow.auth), Some(&web::csrf_cookie(state, csrf)))
    }

    pub fn challenge(
        state: &AppState,
        flow: &Flow,
        csrf: &str,
        challenge: &Challenge<'_>,
        error: Option<&str>,
        status: StatusCode,
    ) -> Response {
        let t = flow.t;
        let (title, help) = match challenge.name {
            sign_in::NEW_PASSWORD_REQUIRED => (t.new_password_title, Some(t.new_password_help)),
            sign_in::MFA_SETUP => (t.setup_title, Some(t.setup_help)),
            sign_in::SELECT_TENANT => (t.tenant_title, None),
            _ => (t.mfa_title, Some(t.mfa_help)),
        };
        let (qr_svg, secret) = match challenge.secret {
            Some(secret) => {
                let uri = totp::otpauth_uri(&flow.auth.pool.name, challenge.username, secret);
                (qr_svg(&uri), totp::base32_encode(secret))
            }
            None => (None, String::new()),
        };
        let form_token = web::csrf_token(state, csrf);
        let page = ChallengeTemplate {
            t,
            app: &flow.auth.client.name,
            brand: &flow.brand,
            title,
            help,
            query: &flow.query,
            csrf: &form_token,
            error,
            challenge: challenge.name,
            session: challenge.session,
            username: challenge.username,
            qr_svg,
            secret,
            tenants: challenge.tenants,
        };
        respond(page.render(), status, Some(&flow.auth), Some(&web::csrf_cookie(state, csrf)))
    }

    /// A page with one message: an error, or (status 200) a notice such as "signed out".
    pub fn message(t: &Messages, status: StatusCode, message: &str) -> Response {
        let error = !status.is_success();
        let title = if error { t.error_title } else { t.signed_out_title };
        let page = MessageTemplate { t, app: "Cognate", brand: &Brand::default(), title, message, error };
        respond(page.render(), status, None, None)
    }
}

/// The otpauth URI as an inline SVG QR code (no scripts, no external image).
fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(192, 192).build())
}

/// A rendered page with the headers every page carries. `auth`: the request whose
/// redirect URI forms may lead to (CSP `form-action`); `csrf`: the CSRF cookie to set
/// (its `Set-Cookie` value).
fn respond(
    html: askama::Result<String>,
    status: StatusCode,
    auth: Option<&Authorization>,
    csrf: Option<&str>,
) -> Response {
    let html = match html {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "rendering a login page");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut resp = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let mut form_action = "'self'".to_owned();
    if let Some(auth) = auth {
        let origins = origin_of(&auth.redirect_uri).into_iter().chain(auth.provider_origins.iter().cloned());
        for origin in origins {
            form_action.push(' ');
            form_action.push_str(&origin);
        }
    }
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let headers = resp.headers_mut();
    match HeaderValue::from_str(&csp) {
        Ok(v) => {
            headers.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        // Never a page without its policy.
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    }
    web::security_headers(headers);
    if let Some(cookie) = csrf
        && let Ok(v) = HeaderValue::from_str(cookie)
    {
        headers.append(header::SET_COOKIE, v);
    }
    resp
}

/// `scheme://host[:port]` of a URL, or `scheme:` for one without a host (an app's custom
/// scheme), as a CSP source.
pub(crate) fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    Some(match url.host_str() {
        Some(host) => match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        },
        None => format!("{}:", url.scheme()),
    })
}

/// `GET /login/assets/login.css`.
pub(super) async fn stylesheet() -> Response {
    let mut resp = ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

// ---------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------

/// A 302 to `uri` with `params` added to its query (or, `fragment`, as its fragment).
pub(super) fn redirect_with(uri: &str, params: &[(&str, Option<&str>)], fragment: bool) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        tracing::error!("a registered redirect URI does not parse");
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    let present: Vec<(&str, &str)> = params.iter().filter_map(|(k, v)| v.map(|v| (*k, v))).collect();
    if present.is_empty() {
        // Nothing to add: the registered URI exactly.
    } else if fragment {
        let encoded: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(present).finish();
        url.set_fragment(Some(&encoded));
    } else {
        let mut pairs = url.query_pairs_mut();
        pairs.extend_pairs(present);
        drop(pairs);
    }
    web::see_other(url.as_str(), StatusCode::FOUND)
}

/// The authorization request's error on its redirect URI (RFC 6749 section 4.1.2.1).
pub(super) fn redirect_error(redirect_uri: &str, state: Option<&str>, error: &str, description: &str) -> Response {
    redirect_with(
        redirect_uri,
        &[("error", Some(error)), ("error_description", Some(description)), ("state", state)],
        false,
    )
}

/// The browser sent back with what was granted: `code` and `state` in the query, or
/// (implicit flow) the tokens in the fragment.
pub(super) fn redirect_granted(auth: &Authorization, granted: Granted) -> Response {
    let state = auth.state.as_deref();
    match (granted, auth.response_type) {
        (Granted::Code(code), _) => {
            redirect_with(&auth.redirect_uri, &[("code", Some(&code)), ("state", state)], false)
        }
        (Granted::Tokens(issued), ResponseType::Token | ResponseType::Code) => {
            let expires_in = issued.expires_in.to_string();
            redirect_with(
                &auth.redirect_uri,
                &[
                    ("access_token", Some(&issued.access_token)),
                    ("id_token", issued.id_token.as_deref()),
                    ("token_type", Some("Bearer")),
                    ("expires_in", Some(&expires_in)),
                    ("state", state),
                ],
                true,
            )
        }
    }
}

/// A redirect within the hosted login.
pub(super) fn see_other(location: &str) -> Response {
    web::see_other(location, StatusCode::FOUND)
}

/// A 303 (the browser follows a POST's answer with a GET).
pub(super) fn see_other_303(location: &str) -> Response {
    web::see_other(location, StatusCode::SEE_OTHER)
}

// ---------------------------------------------------------------------------------------
// Cookies
// ---------------------------------------------------------------------------------------

pub(super) use crate::web::Cookies;

impl<'a> Cookies<'a> {
    /// The browser-session id for `pool`.
    pub fn session(&self, state: &AppState, pool: &PoolId) -> Option<&'a str> {
        self.get(state, &session_cookie(pool))
    }

    /// The value binding a trip to an external identity provider to this browser.
    pub fn federation(&self, state: &AppState) -> Option<&'a str> {
        self.get(state, FEDERATION_COOKIE)
    }
}

fn session_cookie(pool: &PoolId) -> String {
    format!("cognate-session-{pool}")
}

pub(super) fn set_session_cookie(state: &AppState, resp: &mut Response, pool: &PoolId, id: &str) {
    web::set_cookie(state, resp, &session_cookie(pool), id, i64::from(state.settings.login_session_secs));
}

/// The cookie binding a trip to an external identity provider to this browser (ten
/// minutes, as long as the trip may last).
pub(super) fn set_federation_cookie(state: &AppState, resp: &mut Response, value: &str) {
    web::set_cookie(state, resp, FEDERATION_COOKIE, value, cognate_core::login::FEDERATION_TTL_MS / 1000);
}

pub(super) fn clear_session_cookie(state: &AppState, resp: &mut Response, pool: &PoolId) {
    web::clear_cookie(state, resp, &session_cookie(pool));
}

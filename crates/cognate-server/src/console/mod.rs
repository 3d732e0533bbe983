//! The web consoles, served by the `cognate` binary under `/console`: the tenant admin
//! console (`/console/t/{tenant}/…`), the platform admin portal (`/console/admin/…`), the
//! developer portal (`/console/dev/…`) and the invitation page (`/console/invite`).
//!
//! Server-rendered (askama), with htmx for a few partial updates; every page works without
//! JavaScript. Like every surface, a console handler parses the form, calls one service,
//! and renders the answer; who may do what is decided by [`crate::services::access`], the
//! decision `/v1` makes, so a console can never do what `/v1` would refuse. Mutations are
//! recorded in the audit trail under the same action names as their `/v1` twins.
//!
//! Browser safety: sessions are sealed cookies ([`crate::services::console::Seat`]);
//! every form carries a CSRF token (the hosted login's: an HMAC of a random cookie);
//! pages carry a strict Content-Security-Policy (scripts and styles only from this
//! origin, `frame-ancestors 'none'`), `no-store` and `no-referrer`; redirects go only to
//! console paths.

mod admin;
mod analytics;
mod auth;
mod chart;
mod developer;
mod invite;
mod tenant;
mod tenant_audit;
mod tenant_keys;
mod tenant_setup;
mod webhooks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cognate_core::tenant::TenantId;

use crate::AppState;
use crate::api::error::ApiError;
use crate::audit::{Actor, Entry, Origin};
use crate::services::access::{self, AccessError, Need, Principal, TenantAccess};
use crate::services::console::{Seat, SignedInUser};
use crate::web::{self, Cookies};

/// The cookie holding the sealed console session.
const SEAT_COOKIE: &str = "cognate-console";
/// The cookie holding a sign-in round trip under way.
const PENDING_COOKIE: &str = "cognate-console-pending";
const STYLESHEET: &str = include_str!("../../assets/console.css");
const SCRIPT: &str = include_str!("../../assets/console.js");
/// htmx 2.0.4 (0BSD), unmodified: see `assets/vendor/README.md`.
const HTMX: &str = include_str!("../../assets/vendor/htmx-2.0.4.min.js");
/// The longest form a console accepts (bytes).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Routes of the consoles.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/console/assets/console.css", get(|| asset(STYLESHEET, "text/css; charset=utf-8")))
        .route("/console/assets/console.js", get(|| asset(SCRIPT, "text/javascript; charset=utf-8")))
        .route("/console/assets/htmx.min.js", get(|| asset(HTMX, "text/javascript; charset=utf-8")))
        .merge(auth::routes())
        .merge(tenant::routes())
        .merge(admin::routes())
        .merge(developer::routes())
        .merge(invite::routes())
        .merge(webhooks::routes())
        .merge(analytics::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), keep_renewed))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
}

/// A seat whose tokens a visit refreshed, to store again whatever the answer is (a page,
/// a redirect after a form, a refusal).
#[derive(Clone, Default)]
struct Renewal(Arc<Mutex<Option<Seat>>>);

async fn keep_renewed(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let renewal = Renewal::default();
    request.extensions_mut().insert(renewal.clone());
    let mut resp = next.run(request).await;
    let renewed = renewal.0.lock().ok().and_then(|mut seat| seat.take());
    // A handler that set or cleared the seat itself (switching tenant, signing out) wins.
    if let Some(seat) = renewed
        && !web::sets_cookie(&state, &resp, SEAT_COOKIE)
    {
        set_seat(&state, &mut resp, &seat);
    }
    resp
}

async fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, kind)], body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

// ---------------------------------------------------------------------------------------
// Who is visiting
// ---------------------------------------------------------------------------------------

/// The signed-in visitor of a console page.
pub(crate) enum Who {
    User(Box<SignedInUser>),
    /// A platform admin, by their credential's access key id.
    Platform(String),
}

/// A visit of a console page by a signed-in visitor: who, their CSRF cookie, where from.
/// A visitor without a (live) session is sent to the sign-in page and comes back after.
pub(crate) struct Visit {
    pub who: Who,
    /// The browser's CSRF cookie; `new_csrf`: set by this answer.
    csrf_cookie: String,
    new_csrf: bool,
    /// The seat as this visit refreshed it (stored again by [`keep_renewed`]).
    renewed: Option<Seat>,
    pub origin: Origin,
}

/// A visitor who may be anonymous (sign-in pages, the invitation page).
pub(crate) struct Anyone {
    pub seat: Option<Seat>,
    csrf_cookie: String,
    new_csrf: bool,
    pub origin: Origin,
}

fn origin_of(state: &AppState, parts: &Parts) -> Origin {
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let ip = crate::net::client_ip(&state.settings.trusted_proxies, peer, &parts.headers);
    // The id the access log and the `x-request-id` header carry.
    let request_id = crate::metrics::RequestId::of(&parts.extensions, state).0;
    Origin::from_request(ip, &parts.headers, &request_id)
}

impl FromRequestParts<AppState> for Anyone {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let cookies = Cookies::of(&parts.headers);
        let csrf_cookie = cookies.csrf_or_new(state);
        let new_csrf = cookies.get(state, "cognate-csrf") != Some(csrf_cookie.as_str());
        let seat = cookies.get(state, SEAT_COOKIE).and_then(|s| Seat::open(state, s));
        Ok(Self { seat, csrf_cookie, new_csrf, origin: origin_of(state, parts) })
    }
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let anyone = Anyone::from_request_parts(parts, state).await?;
        let back = || {
            // Back here after signing in again; a form's target is no page to come back to.
            let next = match parts.method {
                axum::http::Method::GET => parts.uri.path_and_query().map_or("/console", |p| p.as_str()),
                _ => "/console/home",
            };
            let mut resp = web::see_other(&format!("/console?next={}", urlencoding(next)), StatusCode::SEE_OTHER);
            web::clear_cookie(state, &mut resp, SEAT_COOKIE);
            resp
        };
        let Some(seat) = anyone.seat else { return Err(back()) };
        let (who, renewed) = match &seat {
            Seat::User { .. } => match crate::services::console::user(state, &seat).await {
                Ok(mut user) => {
                    let renewed = user.renewed.take();
                    (Who::User(Box::new(user)), renewed)
                }
                Err(crate::services::console::ConsoleError::Fault(e)) => {
                    tracing::error!(error = %e, "checking a console session");
                    return Err(message(StatusCode::INTERNAL_SERVER_ERROR, "An internal error occurred."));
                }
                Err(_) => return Err(back()),
            },
            Seat::Platform { .. } => match crate::services::console::admin(state, &seat).await {
                Ok(key) => (Who::Platform(key), None),
                Err(_) => return Err(back()),
            },
        };
        if let (Some(seat), Some(renewal)) = (&renewed, parts.extensions.get::<Renewal>())
            && let Ok(mut slot) = renewal.0.lock()
        {
            *slot = Some(seat.clone());
        }
        match &who {
            Who::User(u) => crate::facts::actor(Actor::User(u.user.sub.clone())),
            Who::Platform(k) => crate::facts::actor(Actor::Admin(k.clone())),
        }
        Ok(Self { who, csrf_cookie: anyone.csrf_cookie, new_csrf: anyone.new_csrf, renewed, origin: anyone.origin })
    }
}

impl Visit {
    pub fn principal(&self) -> Principal<'_> {
        match &self.who {
            Who::User(u) => Principal::User { user: &u.user, session_tenant: u.tenant.as_ref() },
            Who::Platform(key) => Principal::Platform { access_key_id: key },
        }
    }

    pub fn is_platform(&self) -> bool {
        matches!(self.who, Who::Platform(_))
    }

    /// The visitor's right to act in `tenant` as `need` requires (the `/v1` decision);
    /// a refusal is the page to answer.
    pub async fn tenant(&self, state: &AppState, tenant: &str, need: Need) -> Result<TenantAccess, Box<Response>> {
        let Some(id) = TenantId::parse(tenant) else {
            return Err(Box::new(self.refusal(state, StatusCode::NOT_FOUND, "No such tenant.")));
        };
        access::tenant(state, self.principal(), &id, need).await.map_err(|e| {
            let (status, text) = match e {
                AccessError::Store(e) => {
                    tracing::error!(error = %e, "deciding console access");
                    (StatusCode::INTERNAL_SERVER_ERROR, "An internal error occurred.".to_owned())
                }
                AccessError::TenantNotFound => (StatusCode::NOT_FOUND, "No such tenant.".to_owned()),
                AccessError::RateLimited { .. } => {
                    (StatusCode::TOO_MANY_REQUESTS, "Too many requests; retry in a minute.".to_owned())
                }
                AccessError::NotYourTenant => (
                    StatusCode::FORBIDDEN,
                    "You cannot act in this tenant. Switch to it from the menu if you are a member.".to_owned(),
                ),
                other => (StatusCode::FORBIDDEN, sentence(&other.to_string())),
            };
            Box::new(self.refusal(state, status, &text))
        })
    }

    /// What every tenant form starts with: its fields, once the CSRF token is checked, and
    /// the visitor's right to act in `tenant` as `need` requires.
    pub async fn act(
        &self,
        state: &AppState,
        tenant: &str,
        need: Need,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(Form, TenantAccess), Box<Response>> {
        let form = self.form(state, headers, body)?;
        let access = self.tenant(state, tenant, need).await?;
        Ok((form, access))
    }

    /// A form's fields, once its CSRF token is checked.
    pub fn form(&self, state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Form, Box<Response>> {
        read_form(state, headers, body).map_err(|(status, m)| Box::new(self.refusal(state, status, m)))
    }

    /// The token forms of this page carry.
    pub fn csrf(&self, state: &AppState) -> String {
        web::csrf_token(state, &self.csrf_cookie)
    }

    /// The layout of a page titled `title` in section `section`.
    pub fn chrome(&self, state: &AppState, title: &str, tenant: Option<&TenantAccess>) -> Chrome {
        let (who, platform) = match &self.who {
            Who::User(u) => (u.user.attributes.get("email").cloned().unwrap_or_else(|| u.user.username.clone()), false),
            Who::Platform(k) => (format!("Platform admin {k}"), true),
        };
        Chrome {
            title: title.to_owned(),
            csrf: self.csrf(state),
            who,
            platform,
            tenant: tenant.map(|a| TenantNav {
                id: a.tenant.id.to_string(),
                name: a.tenant.name.clone(),
                admin: a.is_admin(),
            }),
            session_tenant: match &self.who {
                Who::User(u) => u.tenant.as_ref().map(ToString::to_string),
                Who::Platform(_) => None,
            },
            notice: None,
            error: None,
        }
    }

    /// A page (status `status`), with the cookies this visit must set.
    pub fn page(&self, state: &AppState, status: StatusCode, html: askama::Result<String>) -> Response {
        let mut resp = render(status, html);
        if self.new_csrf
            && let Ok(v) = HeaderValue::from_str(&web::csrf_cookie(state, &self.csrf_cookie))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    }

    /// A refusal as a page of its own.
    pub fn refusal(&self, state: &AppState, status: StatusCode, text: &str) -> Response {
        let page = MessagePage { chrome: self.chrome(state, "Not allowed", None), text };
        self.page(state, status, page.render())
    }

    /// Records a console mutation in the audit trail, as `/v1` records its twin.
    pub fn record(
        &self,
        state: &AppState,
        action: &str,
        tenant: Option<&str>,
        target: Option<&str>,
        outcome: Result<(), &str>,
    ) {
        let actor = match &self.who {
            Who::User(u) => Actor::User(u.user.sub.clone()),
            Who::Platform(k) => Actor::Admin(k.clone()),
        };
        state.audit.record(
            state,
            Entry {
                tenant,
                pool_id: None,
                actor: &actor,
                action,
                target,
                success: outcome.is_ok(),
                reason: outcome.err(),
                origin: &self.origin,
            },
        );
    }
}

impl Anyone {
    pub fn csrf(&self, state: &AppState) -> String {
        web::csrf_token(state, &self.csrf_cookie)
    }

    pub fn form(&self, state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Form, Box<Response>> {
        read_form(state, headers, body).map_err(|(status, m)| Box::new(bare_message(status, m)))
    }

    /// A page that starts a sign-in (the sign-in page, the invitation page): its forms lead
    /// through the hosted login to whichever identity provider the address uses, so the
    /// policy does not restrict where forms (and the redirects after them) go.
    pub fn page(&self, state: &AppState, status: StatusCode, html: askama::Result<String>) -> Response {
        let mut resp = render_with(status, html, SIGN_IN_CSP);
        if self.new_csrf
            && let Ok(v) = HeaderValue::from_str(&web::csrf_cookie(state, &self.csrf_cookie))
        {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
        resp
    }
}

/// "the tenant is suspended" → "The tenant is suspended."
fn sentence(s: &str) -> String {
    let mut out: String = s.chars().take(1).flat_map(char::to_uppercase).chain(s.chars().skip(1)).collect();
    out.push('.');
    out
}

/// A submitted form's fields.
pub(crate) struct Form(HashMap<String, String>);

impl Form {
    /// A field, trimmed; `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// A field as sent (passwords: spaces count).
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A checkbox.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The checked boxes of a group named `{prefix}{value}`: their values, sorted (a form
    /// keeps one value per name, so a group's boxes carry their value in the name).
    pub fn flagged(&self, prefix: &str) -> Vec<&str> {
        let mut out: Vec<&str> =
            self.0.iter().filter(|(_, v)| !v.trim().is_empty()).filter_map(|(k, _)| k.strip_prefix(prefix)).collect();
        out.sort_unstable();
        out
    }
}

fn read_form(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Form, (StatusCode, &'static str)> {
    let text = std::str::from_utf8(body).map_err(|_| (StatusCode::BAD_REQUEST, "The form is not UTF-8."))?;
    let fields =
        crate::oauth::common::parse_form(text).map_err(|_| (StatusCode::BAD_REQUEST, "The form is malformed."))?;
    if fields.values().any(|v| v.contains('\0')) {
        return Err((StatusCode::BAD_REQUEST, "The form contains a NUL character."));
    }
    if !Cookies::of(headers).csrf_matches(state, fields.get("_csrf").map(String::as_str)) {
        return Err((
            StatusCode::FORBIDDEN,
            "This form has expired or was not sent from this console. Reload the page and try again.",
        ));
    }
    Ok(Form(fields))
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// What every console page's layout shows.
pub(crate) struct Chrome {
    pub title: String,
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// Who is signed in, as shown.
    pub who: String,
    pub platform: bool,
    /// The tenant the page is about.
    pub tenant: Option<TenantNav>,
    /// The user's session tenant (the menu links there).
    pub session_tenant: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

pub(crate) struct TenantNav {
    pub id: String,
    pub name: String,
    /// Whether the visitor may manage it (the admin pages are linked).
    pub admin: bool,
}

impl Chrome {
    pub fn with_notice(mut self, notice: Option<String>) -> Self {
        self.notice = notice;
        self
    }

    pub fn with_error(mut self, error: Option<String>) -> Self {
        self.error = error;
        self
    }
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    chrome: Chrome,
    text: &'a str,
}

#[derive(Template)]
#[template(path = "console/bare.html")]
struct BarePage<'a> {
    title: &'a str,
    text: &'a str,
}

/// A page for a visitor who is not signed in.
pub(crate) fn bare_message(status: StatusCode, text: &str) -> Response {
    let title = if status.is_success() { "Cognate" } else { "Something went wrong" };
    render(status, BarePage { title, text }.render())
}

fn message(status: StatusCode, text: &str) -> Response {
    bare_message(status, text)
}

/// The Content-Security-Policy of every console page: scripts and styles from this origin
/// only (no inline code), forms only to this origin, never framed.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// [`CSP`] without `form-action`: browsers apply it to the redirects that follow a form,
/// and a sign-in's redirects end at the user's identity provider.
const SIGN_IN_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                           connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

fn render(status: StatusCode, html: askama::Result<String>) -> Response {
    render_with(status, html, CSP)
}

fn render_with(status: StatusCode, html: askama::Result<String>, csp: &'static str) -> Response {
    let html = match html {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "rendering a console page");
            return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
        }
    };
    let mut resp = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(csp));
    web::security_headers(headers);
    resp
}

/// A service's refusal as the page shows it: `/v1`'s status and message (the same words
/// for the same refusal), a server fault logged and never shown.
pub(crate) fn explain(e: impl Into<ApiError>) -> (StatusCode, String) {
    let e: ApiError = e.into();
    if e.status.is_server_error() {
        tracing::error!(code = e.code, message = %e.message, "a console request failed");
        return (e.status, "An internal error occurred. Try again later.".to_owned());
    }
    (e.status, e.message)
}

fn set_seat(state: &AppState, resp: &mut Response, seat: &Seat) {
    // A session lasts as long as its seat allows; the browser keeps the cookie for the
    // working day at most.
    web::set_cookie(state, resp, SEAT_COOKIE, &seat.seal(state), 12 * 3600);
}

/// A redirect after a form (303: the browser follows with a GET).
pub(crate) fn after_post(location: &str) -> Response {
    web::see_other(location, StatusCode::SEE_OTHER)
}

/// Percent-encodes a query value.
pub(crate) fn urlencoding(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// A console path to return to: `/console`, then segments of letters, digits, `_` and
/// `-` only (no dots, no percent-escapes, no `//`: nothing a browser could resolve outside
/// the console), and a query of the same characters with `=` and `&`. Anything else is
/// the console's home.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let ok = |n: &str| {
        let (path, query) = n.split_once('?').unwrap_or((n, ""));
        let rest = match path.strip_prefix("/console") {
            Some(rest) => rest,
            None => return false,
        };
        let segments_ok = rest.is_empty()
            || rest.strip_prefix('/').is_some_and(|r| r.split('/').all(|s| !s.is_empty() && s.chars().all(word)));
        segments_ok && query.chars().all(|c| word(c) || c == '=' || c == '&') && n.len() <= 512
    };
    match next {
        Some(n) if ok(n) => n.to_owned(),
        _ => "/console/home".to_owned(),
    }
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM UTC`.
pub(crate) fn when(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC")).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_in_the_console() {
        for bad in [
            None,
            Some("https://evil.example/console"),
            Some("//evil.example/console"),
            Some("/console//evil.example"),
            Some("/console/\\evil"),
            Some("/consolex"),
            Some("/login"),
            Some("/console/a b"),
            Some("javascript:alert(1)"),
            Some("/console/../oauth2/authorize?x=1"),
            Some("/console/%2e%2e/logout"),
            Some("/console/./x"),
            Some("/console?next=//evil"),
        ] {
            assert_eq!(safe_next(bad), "/console/home", "{bad:?}");
        }
        for good in ["/console", "/console/t/acme/members", "/console?x=1", "/console/home?notice=joined"] {
            assert_eq!(safe_next(Some(good)), good);
        }
    }

    #[test]
    fn sentences() {
        assert_eq!(sentence("the tenant is suspended"), "The tenant is suspended.");
    }
}

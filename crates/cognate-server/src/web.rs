//! What every browser surface (the hosted login, the consoles) shares: cookies, CSRF
//! tokens, the headers every page carries, redirects.
//!
//! Over https every cookie name gets the `__Host-` prefix (the browser then refuses it
//! unless Secure, host-only and for the whole site, so a sibling domain cannot plant one);
//! over plain http (development) the bare name. A cookie sent twice counts as absent.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use cognate_core::clock::random_bytes;
use cognate_core::crypto::{constant_time_eq, hmac_sha256};

use crate::AppState;

/// The CSRF cookie (a random value; forms carry its HMAC).
const CSRF_COOKIE: &str = "cognate-csrf";
/// The master-key label of the CSRF HMAC key.
const CSRF_LABEL: &str = "login-csrf";

/// The cookies a request carries.
pub(crate) struct Cookies<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Cookies<'a> {
    pub fn of(headers: &'a HeaderMap) -> Self {
        let pairs = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .collect();
        Self { pairs }
    }

    /// The cookie `name` (prefixed as [`cookie_name`] says); none when it is sent twice
    /// (one of them planted, say, for a narrower path), or empty.
    pub fn get(&self, state: &AppState, name: &str) -> Option<&'a str> {
        let name = cookie_name(state, name);
        let mut found = self.pairs.iter().filter(|(n, _)| *n == name);
        match (found.next(), found.next()) {
            (Some((_, v)), None) if !v.is_empty() => Some(v),
            _ => None,
        }
    }

    /// The CSRF cookie's value, or a new one (set by the page that shows it).
    pub fn csrf_or_new(&self, state: &AppState) -> String {
        match self.get(state, CSRF_COOKIE).filter(|v| v.len() == 43) {
            Some(v) => v.to_owned(),
            None => B64.encode(random_bytes::<32>(state.rng.as_ref())),
        }
    }

    /// Whether a form's `_csrf` is the HMAC of this browser's CSRF cookie.
    pub fn csrf_matches(&self, state: &AppState, presented: Option<&str>) -> bool {
        match (self.get(state, CSRF_COOKIE), presented) {
            (Some(cookie), Some(presented)) => {
                constant_time_eq(csrf_token(state, cookie).as_bytes(), presented.as_bytes())
            }
            _ => false,
        }
    }
}

/// The token a form carries for the CSRF cookie `cookie`.
pub(crate) fn csrf_token(state: &AppState, cookie: &str) -> String {
    B64.encode(hmac_sha256(&state.master_key.mac_key(CSRF_LABEL), cookie.as_bytes()))
}

/// The `Set-Cookie` value of the CSRF cookie.
pub(crate) fn csrf_cookie(state: &AppState, value: &str) -> String {
    format!("{}={value}; {}", cookie_name(state, CSRF_COOKIE), cookie_attributes(state))
}

fn secure(state: &AppState) -> bool {
    state.settings.public_url.starts_with("https://")
}

/// `__Host-{name}` over https, `{name}` over plain http.
fn cookie_name(state: &AppState, name: &str) -> String {
    if secure(state) { format!("__Host-{name}") } else { name.to_owned() }
}

fn cookie_attributes(state: &AppState) -> &'static str {
    if secure(state) { "Path=/; HttpOnly; Secure; SameSite=Lax" } else { "Path=/; HttpOnly; SameSite=Lax" }
}

/// Sets the cookie `name` to `value` for `max_age` seconds.
pub(crate) fn set_cookie(state: &AppState, resp: &mut Response, name: &str, value: &str, max_age: i64) {
    let cookie = format!("{}={value}; Max-Age={max_age}; {}", cookie_name(state, name), cookie_attributes(state));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Whether `resp` sets (or clears) the cookie `name`.
pub(crate) fn sets_cookie(state: &AppState, resp: &Response, name: &str) -> bool {
    let prefix = format!("{}=", cookie_name(state, name));
    resp.headers().get_all(header::SET_COOKIE).iter().any(|v| v.as_bytes().starts_with(prefix.as_bytes()))
}

/// Removes the cookie `name`.
pub(crate) fn clear_cookie(state: &AppState, resp: &mut Response, name: &str) {
    let cookie = format!("{}=; Max-Age=0; {}", cookie_name(state, name), cookie_attributes(state));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// The headers every page and redirect carries: not framed, not sniffed, not cached, no
/// referrer (URLs may carry codes).
pub(crate) fn security_headers(headers: &mut HeaderMap) {
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// A redirect to `location` (a path of this server, or a URL already checked).
pub(crate) fn see_other(location: &str, status: StatusCode) -> Response {
    let mut resp = status.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    security_headers(resp.headers_mut());
    resp
}

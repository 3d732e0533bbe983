//! Signing in and out of the consoles, and switching tenants.
//!
//! - `GET /console`: the sign-in page (an email field, sent on to the address's home pool's
//!   hosted login; a link to register; the platform admin form).
//! - `POST /console/signin`, `GET /console/register`: begin the authorization code flow
//!   (PKCE) with the pool's console client; the round trip is bound to this browser by a
//!   sealed cookie. `GET /console/callback`: its end.
//! - `POST /console/admin/signin`: a platform admin's credential.
//! - `POST /console/switch`: into another of the user's tenants. `POST /console/signout`.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Anyone, PENDING_COOKIE, SEAT_COOKIE, Visit, Who, after_post, bare_message, safe_next, set_seat};
use crate::AppState;
use crate::services::console::{self, ConsoleError, Pending, Seat};
use crate::web::{self, Cookies};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(sign_in_page))
        .route("/console/signin", post(sign_in))
        .route("/console/register", get(register))
        .route("/console/callback", get(callback))
        .route("/console/admin/signin", post(admin_sign_in))
        .route("/console/home", get(home))
        .route("/console/switch", post(switch))
        .route("/console/signout", post(sign_out))
}

#[derive(Template)]
#[template(path = "console/signin.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    admin_error: Option<&'a str>,
    key_id: &'a str,
}

#[derive(Deserialize)]
pub(super) struct NextParam {
    next: Option<String>,
}

async fn sign_in_page(State(state): State<AppState>, anyone: Anyone, Query(q): Query<NextParam>) -> Response {
    let next = safe_next(q.next.as_deref());
    // Already signed in: straight on.
    if let Some(seat) = &anyone.seat {
        let live = match seat {
            Seat::User { .. } => console::user(&state, seat).await.is_ok(),
            Seat::Platform { .. } => console::admin(&state, seat).await.is_ok(),
        };
        if live {
            return web::see_other(&next, StatusCode::SEE_OTHER);
        }
    }
    let csrf = anyone.csrf(&state);
    let page = SignInPage { csrf: &csrf, next: &next, email: "", error: None, admin_error: None, key_id: "" };
    anyone.page(&state, StatusCode::OK, page.render())
}

/// `POST /console/signin`: on to the address's hosted login.
async fn sign_in(State(state): State<AppState>, anyone: Anyone, headers: HeaderMap, body: Bytes) -> Response {
    let form = match anyone.form(&state, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let next = safe_next(form.get("next"));
    let email = form.get("email").unwrap_or_default();
    match console::begin(&state, Some(email), &next, None).await {
        Ok(begun) => go(&state, &begun.authorize_url, &begun.pending),
        Err(e) => {
            let csrf = anyone.csrf(&state);
            let (status, text) = explain(&e);
            let page =
                SignInPage { csrf: &csrf, next: &next, email, error: Some(&text), admin_error: None, key_id: "" };
            anyone.page(&state, status, page.render())
        }
    }
}

/// `GET /console/register`: the shared pool's sign-up page, then back to the console (a
/// developer registering; verified company domains join their tenant).
async fn register(State(state): State<AppState>) -> Response {
    match console::begin(&state, None, "/console/home", None).await {
        Ok(begun) => {
            let signup = begun.authorize_url.replacen("/oauth2/authorize?", "/signup?", 1);
            go(&state, &signup, &begun.pending)
        }
        Err(e) => {
            let (status, text) = explain(&e);
            bare_message(status, &text)
        }
    }
}

/// Sends the browser to the hosted login with the round trip remembered.
pub(super) fn go(state: &AppState, url: &str, pending: &Pending) -> Response {
    let mut resp = web::see_other(url, StatusCode::SEE_OTHER);
    web::set_cookie(state, &mut resp, PENDING_COOKIE, &pending.seal(state), console::PENDING_TTL_MS / 1000);
    resp
}

#[derive(Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /console/callback`: the hosted login's answer.
async fn callback(
    State(state): State<AppState>,
    anyone: Anyone,
    headers: HeaderMap,
    Query(q): Query<CallbackParams>,
) -> Response {
    let cookies = Cookies::of(&headers);
    let Some(pending) = cookies.get(&state, PENDING_COOKIE).and_then(|p| Pending::open(&state, p)) else {
        return bare_message(
            StatusCode::BAD_REQUEST,
            "This sign-in did not start in this browser, or took too long. Start again from the console.",
        );
    };
    // Whatever the answer, the round trip is over.
    let failed = |status, text: &str| {
        let mut resp = bare_message(status, text);
        web::clear_cookie(&state, &mut resp, PENDING_COOKIE);
        resp
    };
    // Nothing the answer says counts before its state is the one this browser sent.
    let round = q.state.as_deref().unwrap_or_default();
    if !console::same_round(&state, &pending, round) {
        let (status, text) = explain(&ConsoleError::Stale);
        return failed(status, &text);
    }
    if let Some(error) = q.error {
        let text = match error.as_str() {
            "access_denied" => "The sign-in was cancelled or refused.",
            "login_required" => "You need to sign in.",
            _ => "The sign-in did not complete. Start again from the console.",
        };
        return failed(StatusCode::BAD_REQUEST, text);
    }
    let Some(code) = q.code else {
        return failed(StatusCode::BAD_REQUEST, "The sign-in answer is missing its code.");
    };
    let seat = match console::finish(&state, &pending, &code, round).await {
        Ok((seat, user)) => match &pending.invitation {
            Some(token) => match super::invite::accept_as(&state, &anyone.origin, &seat, &user, token).await {
                Ok(seat) => seat,
                Err(page) => {
                    // Not signed in to the console after all: the tokens just issued go.
                    console::sign_out(&state, &seat).await;
                    let mut resp = *page;
                    web::clear_cookie(&state, &mut resp, PENDING_COOKIE);
                    return resp;
                }
            },
            None => seat,
        },
        Err(e) => {
            let (status, text) = explain(&e);
            return failed(status, &text);
        }
    };
    let mut resp = web::see_other(&safe_next(Some(&pending.next)), StatusCode::SEE_OTHER);
    web::clear_cookie(&state, &mut resp, PENDING_COOKIE);
    set_seat(&state, &mut resp, &seat);
    resp
}

/// `POST /console/admin/signin`: a platform admin's access key id and secret.
async fn admin_sign_in(State(state): State<AppState>, anyone: Anyone, headers: HeaderMap, body: Bytes) -> Response {
    let form = match anyone.form(&state, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let key_id = form.get("accessKeyId").unwrap_or_default();
    let secret = form.get("secretAccessKey").unwrap_or_default();
    let ip = anyone.origin.source_ip.as_deref().and_then(|i| i.parse().ok());
    match console::admin_sign_in(&state, key_id, secret, ip).await {
        Ok(seat) => {
            let mut resp = after_post("/console/admin");
            set_seat(&state, &mut resp, &seat);
            resp
        }
        Err(e) => {
            let csrf = anyone.csrf(&state);
            let (status, text) = explain(&e);
            let page = SignInPage {
                csrf: &csrf,
                next: "/console/admin",
                email: "",
                error: None,
                admin_error: Some(&text),
                key_id,
            };
            anyone.page(&state, status, page.render())
        }
    }
}

/// A console sign-in refusal in words.
fn explain(e: &ConsoleError) -> (StatusCode, String) {
    match e {
        ConsoleError::Fault(cause) => {
            tracing::error!(error = %cause, "console sign-in");
            (StatusCode::INTERNAL_SERVER_ERROR, "An internal error occurred. Try again later.".into())
        }
        ConsoleError::Throttled(wait) => {
            (StatusCode::TOO_MANY_REQUESTS, format!("Too many attempts. Try again in {wait} seconds."))
        }
        ConsoleError::BadCredential => (StatusCode::UNAUTHORIZED, "Wrong access key id or secret.".into()),
        ConsoleError::InvalidEmail => (StatusCode::BAD_REQUEST, "Enter a valid email address.".into()),
        ConsoleError::Stale => (
            StatusCode::BAD_REQUEST,
            "This sign-in did not start in this browser, or took too long. Start again from the console.".into(),
        ),
        ConsoleError::Refused(why) => (StatusCode::BAD_REQUEST, format!("The sign-in was refused ({why}).")),
        ConsoleError::Ended => (StatusCode::UNAUTHORIZED, "Your session has ended. Sign in again.".into()),
        ConsoleError::Switch(why) => (StatusCode::FORBIDDEN, format!("You cannot switch to that tenant: {why}.")),
    }
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    chrome: super::Chrome,
    tenants: Vec<HomeTenant>,
}

struct HomeTenant {
    id: String,
    name: String,
    role: String,
    status: String,
    active: bool,
}

/// `GET /console/home`: a platform admin goes to the portal; a user with an active tenant
/// to its console; anyone else sees their tenants to switch into (and the developer portal).
async fn home(State(state): State<AppState>, visit: Visit, Query(q): Query<NoticeParam>) -> Response {
    let user = match &visit.who {
        Who::Platform(_) => return web::see_other("/console/admin", StatusCode::SEE_OTHER),
        Who::User(u) => u,
    };
    if q.notice.is_none()
        && q.list.is_none()
        && let Some(t) = &user.tenant
    {
        return web::see_other(&format!("/console/t/{t}"), StatusCode::SEE_OTHER);
    }
    let tenants = match crate::tenancy::user_tenants(&state, &user.user).await {
        Ok(list) => list,
        Err(e) => {
            let (status, text) = super::explain(e);
            return visit.refusal(&state, status, &text);
        }
    };
    let tenants = tenants
        .into_iter()
        .map(|(m, t)| HomeTenant {
            active: user.tenant.as_ref() == Some(&t.id),
            id: t.id.to_string(),
            name: t.name,
            role: m.role.to_string(),
            status: t.status.to_string(),
        })
        .collect();
    let chrome = visit.chrome(&state, "Your tenants", None).with_notice(q.notice.and_then(notice_text));
    visit.page(&state, StatusCode::OK, HomePage { chrome, tenants }.render())
}

#[derive(Deserialize)]
pub(super) struct NoticeParam {
    notice: Option<String>,
    /// Show the tenant list even when the session has a tenant.
    list: Option<String>,
}

/// The fixed notices a redirect may name (never free text from the URL).
fn notice_text(code: String) -> Option<String> {
    Some(
        match code.as_str() {
            "joined" => "Invitation accepted: you are now a member.",
            "no-tenant" => "You are not a member of any tenant yet. Ask an admin for an invitation.",
            _ => return None,
        }
        .to_owned(),
    )
}

/// `POST /console/switch`: into another of the user's tenants.
async fn switch(State(state): State<AppState>, visit: Visit, headers: HeaderMap, body: Bytes) -> Response {
    let form = match visit.form(&state, &headers, &body) {
        Ok(f) => f,
        Err(page) => return *page,
    };
    let target = form.get("tenant").unwrap_or_default();
    let Some(seat) = Cookies::of(&headers).get(&state, SEAT_COOKIE).and_then(|s| Seat::open(&state, s)) else {
        return after_post("/console");
    };
    // The seat as this visit renewed it, if it did.
    let seat = visit.renewed.clone().unwrap_or(seat);
    match console::switch(&state, &seat, target).await {
        Ok(seat) => {
            let mut resp = after_post(&format!("/console/t/{}", super::urlencoding(target)));
            set_seat(&state, &mut resp, &seat);
            resp
        }
        Err(e) => {
            let (status, text) = explain(&e);
            visit.refusal(&state, status, &text)
        }
    }
}

/// `POST /console/signout`: the refresh token revoked, the cookie gone; a user also leaves
/// the hosted login's session of their pool.
async fn sign_out(State(state): State<AppState>, anyone: Anyone, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(page) = anyone.form(&state, &headers, &body) {
        return *page;
    }
    let mut location = "/console".to_owned();
    if let Some(seat) = &anyone.seat {
        console::sign_out(&state, seat).await;
        if let Seat::User { pool, .. } = seat
            && let Some(pool) = cognate_core::ids::PoolId::parse(pool)
            && let Ok(client) = console::client_for(&state, &pool).await
        {
            let back = format!("{}/console", state.settings.public_url);
            location = format!("/logout?client_id={}&logout_uri={}", client.id, super::urlencoding(&back));
        }
    }
    let mut resp = after_post(&location);
    web::clear_cookie(&state, &mut resp, SEAT_COOKIE);
    resp
}

//! Cognate's HTTP surfaces. [`build_router`] assembles them over an [`AppState`] so the
//! binary serves it and tests drive it in-process or on port 0.

pub mod api;
pub mod audit;
pub mod bootstrap;
pub mod cognito;
mod console;
pub mod delivery;
pub mod directory;
pub mod dns;
pub mod facts;
mod fallback;
pub mod federation_oidc;
mod health;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod net;
pub mod oauth;
pub mod outbound;
pub mod outbox;
pub mod periodic;
pub mod propagation;
pub mod services;
pub mod state;
pub mod tenancy;
pub mod throttle;
pub mod uploads;
mod web;
pub mod webhook_delivery;

use axum::Router;
use axum::routing::{get, post, put};

pub use state::{AppState, ServerSettings};

/// The whole application: the Cognito JSON 1.1 endpoint, OIDC/OAuth, the `/v1` tenancy
/// API, user import upload URLs, health checks, metrics (platform admins only here; see
/// [`metrics::http::listener_routes`] for the separate listener). Every request passes
/// through [`metrics::http::observe`], which counts, times and logs it.
pub fn build_router(state: AppState) -> Router {
    Router::new()
        .route("/", post(cognito::handle))
        .route("/metrics", get(metrics::http::guarded))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/user-import/{job_id}/{capability}", put(uploads::put))
        .merge(oauth::routes())
        .merge(login::routes())
        .merge(console::routes(&state))
        .merge(api::routes(&state))
        .layer(axum::middleware::from_fn(fallback::json_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::http::observe))
        .layer(axum::middleware::from_fn_with_state(state.clone(), health::close_when_draining))
        .with_state(state)
}

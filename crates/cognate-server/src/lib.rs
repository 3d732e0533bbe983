//! Cognate's HTTP surfaces. [`build_router`] assembles them over an [`AppState`] so the
//! binary serves it and tests drive it in-process or on port 0.

pub mod bootstrap;
pub mod cognito;
mod health;
pub mod state;

use axum::Router;
use axum::routing::{get, post};

pub use state::{AppState, ServerSettings};

/// The whole application: the Cognito JSON 1.1 endpoint and health checks.
pub fn build_router(state: AppState) -> Router {
    Router::new()
        .route("/", post(cognito::handle))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(state)
}

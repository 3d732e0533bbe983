//! OIDC discovery, JWKS and the OAuth 2.0 endpoints.

mod discovery;

use axum::Router;
use axum::routing::get;

use crate::AppState;

/// Routes of the OIDC/OAuth surface.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{pool_id}/.well-known/jwks.json", get(discovery::jwks))
        .route("/{pool_id}/.well-known/openid-configuration", get(discovery::openid_configuration))
}

//! OIDC discovery, JWKS, the OAuth 2.0 endpoints and the revocation feed.

pub(crate) mod common;
mod discovery;
mod introspect;
mod revocations;
mod revoke;
mod token;
mod userinfo;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;

/// Routes of the OIDC/OAuth surface.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/{pool_id}/.well-known/jwks.json", get(discovery::jwks))
        .route("/{pool_id}/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/{pool_id}/revocations", get(revocations::revocations))
        .route("/oauth2/token", post(token::token).options(token::preflight))
        .route("/oauth2/revoke", post(revoke::revoke))
        .route("/oauth2/userInfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .route("/oauth2/introspect", post(introspect::introspect))
}

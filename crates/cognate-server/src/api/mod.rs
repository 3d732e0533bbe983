//! The tenancy REST API `/v1` (DESIGN.md, surface 3): JSON, cursor pagination and
//! `{"error": {"code", "message"}}` errors.
//!
//! This first slice covers tenant CRUD with suspend/reactivate for platform admins
//! (`Authorization: Bearer {accessKeyId}:{secretAccessKey}`). Basic and standard tenants
//! are placed in the shared pool; platinum tenants are refused with 422 `unsupported_tier`
//! until dedicated pools are provisioned. Suspension here records the status only; sign-in
//! and refresh enforcement follow with memberships.

mod auth;
mod error;
mod extract;
mod tenants;

use axum::Router;
use axum::routing::{any, get, post};

use crate::AppState;
pub use auth::PlatformAdmin;
pub use error::ApiError;
pub use extract::{Json, Query};

/// Routes of the `/v1` surface.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route("/v1/tenants/{tenant_id}", get(tenants::get).patch(tenants::update).delete(tenants::delete))
        .route("/v1/tenants/{tenant_id}/suspend", post(tenants::suspend))
        .route("/v1/tenants/{tenant_id}/reactivate", post(tenants::reactivate))
        // Any other `/v1` path answers in the surface's error shape, not with an empty 404.
        .route("/v1", any(unknown_path))
        .route("/v1/{*rest}", any(unknown_path))
}

async fn unknown_path() -> ApiError {
    ApiError::not_found("No such /v1 resource.")
}

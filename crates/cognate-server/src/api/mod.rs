//! The tenancy REST API `/v1` (DESIGN.md, surface 3; docs/tenancy.md): JSON, cursor
//! pagination and `{"error": {"code", "message"}}` errors, for platform admins
//! (`Authorization: Bearer {accessKeyId}:{secretAccessKey}`) and users (their access
//! token, acting in their session's tenant).

mod auth;
mod domains;
mod error;
mod extract;
mod invitations;
mod me;
mod members;
mod paging;
mod tenants;

use axum::Router;
use axum::routing::{any, get, patch, post, put};

use crate::AppState;
pub use auth::{Caller, PlatformAdmin};
pub use error::ApiError;
pub use extract::{Json, Query};

/// Routes of the `/v1` surface.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route("/v1/tenants/{tenant_id}", get(tenants::get).patch(tenants::update).delete(tenants::delete))
        .route("/v1/tenants/{tenant_id}/suspend", post(tenants::suspend))
        .route("/v1/tenants/{tenant_id}/reactivate", post(tenants::reactivate))
        .route("/v1/tenants/{tenant_id}/tier", put(tenants::set_tier))
        .route("/v1/tenants/{tenant_id}/domains", post(domains::create).get(domains::list))
        .route("/v1/tenants/{tenant_id}/domains/{domain}", patch(domains::update).delete(domains::delete))
        .route("/v1/tenants/{tenant_id}/domains/{domain}/verify", post(domains::verify))
        .route("/v1/discovery", get(domains::discovery))
        .route("/v1/tenants/{tenant_id}/members", get(members::list).post(members::add))
        .route(
            "/v1/tenants/{tenant_id}/members/{sub}",
            get(members::get).patch(members::change_role).delete(members::remove),
        )
        .route("/v1/tenants/{tenant_id}/invitations", post(invitations::create).get(invitations::list))
        .route("/v1/tenants/{tenant_id}/invitations/{id}", get(invitations::get).delete(invitations::revoke))
        .route("/v1/invitations/accept", post(invitations::accept))
        .route("/v1/me", get(me::get))
        .route("/v1/me/switch-tenant", post(me::switch_tenant))
        // Any other `/v1` path answers in the surface's error shape, not with an empty 404.
        .route("/v1", any(unknown_path))
        .route("/v1/{*rest}", any(unknown_path))
}

async fn unknown_path() -> ApiError {
    ApiError::not_found("No such /v1 resource.")
}

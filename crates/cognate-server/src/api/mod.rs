//! The tenancy REST API `/v1` (docs/tenancy.md): JSON, cursor
//! pagination and `{"error": {"code", "message"}}` errors, for platform admins
//! (`Authorization: Bearer {accessKeyId}:{secretAccessKey}`) and users (their access
//! token, acting in their session's tenant).

mod analytics;
mod api_keys;
mod audit;
mod auth;
mod connections;
mod domains;
pub(crate) mod error;
mod extract;
mod invitations;
mod me;
mod members;
mod openapi;
mod paging;
mod tenants;
mod trail;
mod webhooks;

use axum::Router;
use axum::routing::any;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
pub use auth::{Caller, PlatformAdmin};
pub use error::ApiError;
pub use extract::{Json, Query};
pub use trail::AUDIT_ACTION;

/// Routes of the `/v1` surface, and its OpenAPI document at `GET /v1/openapi.json`.
/// Endpoints that declare an audit action are recorded ([`trail`]).
///
/// Every endpoint is registered with `routes!`, which takes each handler's method and path
/// from its `#[utoipa::path]` and adds the same operation to the document: add endpoints
/// that way, never with a bare `.route()`, so none is served undocumented.
pub fn routes(state: &AppState) -> Router<AppState> {
    let (router, api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::get, tenants::update, tenants::delete))
        .routes(routes!(tenants::suspend))
        .routes(routes!(tenants::reactivate))
        .routes(routes!(tenants::set_tier))
        .routes(routes!(domains::create, domains::list))
        .routes(routes!(domains::get, domains::update, domains::delete))
        .routes(routes!(domains::verify))
        .routes(routes!(domains::discovery))
        .routes(routes!(connections::create, connections::list))
        .routes(routes!(connections::get, connections::update, connections::delete))
        .routes(routes!(connections::test))
        .routes(routes!(members::list, members::add))
        .routes(routes!(members::get, members::change_role, members::remove))
        .routes(routes!(invitations::create, invitations::list))
        .routes(routes!(invitations::get, invitations::revoke))
        .routes(routes!(invitations::accept))
        .routes(routes!(me::get))
        .routes(routes!(me::switch_tenant))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::get, api_keys::update, api_keys::revoke))
        .routes(routes!(api_keys::rotate))
        .routes(routes!(api_keys::verify))
        .routes(routes!(api_keys::report_usage))
        .routes(routes!(api_keys::usage))
        .routes(routes!(audit::list))
        .routes(routes!(audit::export))
        .routes(routes!(audit::set_retention))
        .routes(routes!(audit::list_platform))
        .routes(routes!(audit::export_platform))
        .routes(routes!(analytics::tenant_report))
        .routes(routes!(analytics::tenant_costs))
        .routes(routes!(analytics::platform_report))
        .routes(routes!(analytics::platform_costs))
        .routes(routes!(analytics::get_price_model, analytics::set_price_model))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate))
        .routes(routes!(webhooks::test))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay))
        .routes(routes!(webhooks::create_platform, webhooks::list_platform))
        .routes(routes!(webhooks::get_platform, webhooks::update_platform, webhooks::delete_platform))
        .routes(routes!(webhooks::rotate_platform))
        .routes(routes!(webhooks::test_platform))
        .routes(routes!(webhooks::deliveries_platform))
        .routes(routes!(webhooks::replay_platform))
        .split_for_parts();
    let trail = trail::Trail { state: state.clone(), actions: std::sync::Arc::new(trail::Actions::of(&api)) };
    router
        .route("/v1/openapi.json", openapi::serve(&api))
        // Any other `/v1` path answers in the surface's error shape, not with an empty 404.
        .route("/v1", any(unknown_path))
        .route("/v1/{*rest}", any(unknown_path))
        .layer(axum::middleware::from_fn(extract::refuse_control_characters))
        // Outermost, so refusals by the layers inside are recorded too.
        .route_layer(axum::middleware::from_fn_with_state(trail, trail::record_mutations))
}

async fn unknown_path() -> ApiError {
    ApiError::not_found("No such /v1 resource.")
}

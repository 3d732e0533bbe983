//! Webhook endpoints: `/v1/tenants/{tenantId}/webhooks` (tenant admins: the tenant's
//! events) and `/v1/webhooks` (platform admins: every tenant's events and the platform's).
//! Create, list, get, update, delete, rotate the secret, send a test event, read the
//! delivery log and replay a delivery. A secret is shown once, in the answer that creates
//! or rotates it; it is stored sealed with the master key.

use axum::extract::{FromRequestParts, RawPathParams, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::tenant::TenantId;
use cognate_core::webhook::{DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Need, PlatformAdmin};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::paging::{ListParams, Page};
use super::tenants::TenantPath;
use crate::AppState;
use crate::services::webhooks::{self, EndpointChanges, NewEndpoint, WebhookError, owner_of};

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Url(reason) => ApiError::invalid_request(format!("The url is refused: {reason}.")),
            WebhookError::UrlTooLong => {
                ApiError::invalid_request(format!("The url must be at most {} characters.", webhooks::MAX_URL_CHARS))
            }
            WebhookError::DescriptionTooLong => ApiError::invalid_request(format!(
                "The description must be at most {} characters.",
                webhooks::MAX_DESCRIPTION_CHARS
            )),
            WebhookError::UnknownEventType(t) => ApiError::invalid_request(format!(
                "Unknown event type {t:?}; see the webhook events in docs/operations.md."
            )),
            WebhookError::NotFound => ApiError::not_found("No such webhook endpoint."),
            WebhookError::DeliveryNotFound => ApiError::not_found("No such delivery."),
            WebhookError::Disabled => ApiError::conflict("The endpoint is disabled; enable it first."),
            WebhookError::Sealed(_) => ApiError::internal(e),
            WebhookError::Store(e) => e.into(),
        }
    }
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

/// An endpoint as the API shows it: never its secret. Times are epoch seconds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    id: String,
    /// The owning tenant; `null` for a platform endpoint.
    tenant_id: Option<String>,
    url: String,
    description: String,
    /// Event types heard; empty: every event.
    event_types: Vec<String>,
    enabled: bool,
    /// Why Cognate disabled it (410 Gone, sustained failure), if it did.
    disabled_reason: Option<String>,
    /// While a rotated-out secret still signs beside the new one: until when.
    previous_secret_until: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl WebhookView {
    fn new(e: WebhookEndpoint) -> Self {
        Self {
            tenant_id: TenantId::parse(&e.owner).map(|t| t.to_string()),
            id: e.id,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            previous_secret_until: e.previous_until.map(secs),
            created_at: secs(e.created_at),
            updated_at: secs(e.updated_at),
        }
    }
}

/// An endpoint with its secret, answered once (creation, rotation).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    endpoint: WebhookView,
    /// `whsec_` + base64: the Standard Webhooks signing secret. Shown only now.
    secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateWebhook {
    /// `http` or `https`; must reach a public address unless the operator allows others.
    url: String,
    #[serde(default)]
    description: String,
    /// Event types to hear (e.g. `user.created`); empty or absent: every event.
    #[serde(default)]
    event_types: Vec<String>,
    /// Defaults to true.
    #[serde(default)]
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateWebhook {
    #[serde(default, deserialize_with = "super::extract::not_null")]
    url: Option<String>,
    #[serde(default, deserialize_with = "super::extract::not_null")]
    description: Option<String>,
    #[serde(default, deserialize_with = "super::extract::not_null")]
    event_types: Option<Vec<String>>,
    /// Enabling an endpoint Cognate disabled clears the reason.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    enabled: Option<bool>,
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptView {
    /// Epoch milliseconds.
    at: i64,
    /// The HTTP status answered; `null` when none came (connection refused, timeout…).
    status_code: Option<i64>,
    error: Option<String>,
    /// The first characters of the answer (at most 256 bytes).
    excerpt: Option<String>,
    latency_ms: i64,
}

impl From<DeliveryAttempt> for AttemptView {
    fn from(a: DeliveryAttempt) -> Self {
        Self { at: a.at, status_code: a.status_code, error: a.error, excerpt: a.excerpt, latency_ms: a.latency_ms }
    }
}

/// A delivery: one event to one endpoint, and its attempts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    /// The `webhook-id` header of every attempt (and replay) of this delivery.
    id: String,
    webhook_id: String,
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `failed`.
    status: String,
    attempts: i64,
    /// Epoch seconds; for a pending delivery, when the next attempt is due.
    next_attempt_at: Option<i64>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
    /// The JSON body sent.
    payload: serde_json::Value,
    /// Oldest first (only in the answer of a replay or a single delivery).
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt_log: Option<Vec<AttemptView>>,
}

impl DeliveryView {
    fn new(d: WebhookDelivery, log: Option<Vec<DeliveryAttempt>>) -> Self {
        Self {
            payload: serde_json::from_str(&d.body).unwrap_or(serde_json::Value::Null),
            next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(secs(d.next_attempt_at)),
            id: d.id,
            webhook_id: d.endpoint_id,
            event_id: d.event_id,
            event_type: d.event_type,
            status: d.status.as_str().to_owned(),
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: secs(d.created_at),
            delivered_at: d.delivered_at.map(secs),
            attempt_log: log.map(|l| l.into_iter().map(AttemptView::from).collect()),
        }
    }
}

/// Filters of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveryParams {
    /// `pending`, `delivered` or `failed`.
    status: Option<String>,
    /// 1 to 100, default 20.
    limit: Option<u32>,
    /// The previous page's `nextCursor`.
    cursor: Option<String>,
}

/// `{webhook_id}` and `{delivery_id}` of a path, whichever it has (after `{tenant_id}`).
pub struct Ids {
    tenant: Option<TenantId>,
    webhook: String,
    delivery: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Ids {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_request(e.body_text()))?;
        let mut ids = Ids { tenant: None, webhook: String::new(), delivery: String::new() };
        for (name, value) in &params {
            match name {
                "tenant_id" => {
                    ids.tenant = Some(TenantId::parse(value).ok_or_else(super::auth::tenant_not_found)?);
                }
                "webhook_id" => ids.webhook = value.to_owned(),
                "delivery_id" => ids.delivery = value.to_owned(),
                _ => {}
            }
        }
        Ok(ids)
    }
}

/// The owner named by a tenant path, once the caller may administer that tenant.
async fn tenant_owner(state: &AppState, caller: &Caller, ids: &Ids) -> Result<String, ApiError> {
    let tenant = ids.tenant.as_ref().ok_or_else(|| ApiError::not_found("No such tenant."))?;
    caller.tenant(state, tenant, Need::TenantAdmin).await?;
    Ok(owner_of(Some(tenant)))
}

fn platform() -> String {
    owner_of(None)
}

async fn do_create(state: &AppState, owner: &str, req: CreateWebhook) -> Result<Response, ApiError> {
    let new = NewEndpoint {
        url: req.url,
        description: req.description,
        event_types: req.event_types,
        enabled: req.enabled.unwrap_or(true),
    };
    let (endpoint, secret) = webhooks::create(state, owner, new).await?;
    let body = WebhookWithSecret { endpoint: WebhookView::new(endpoint), secret };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn do_list(state: &AppState, owner: &str, params: ListParams) -> Result<axum::Json<Page<WebhookView>>, ApiError> {
    let scope = format!("webhooks:{owner}");
    let req = params.page(&scope)?;
    let rows = webhooks::list(state, owner, &req).await?;
    let (rows, next_cursor) = Page::<WebhookView>::finish(rows, &req, &scope, |e| e.id.clone());
    Ok(axum::Json(Page { items: rows.into_iter().map(WebhookView::new).collect(), next_cursor }))
}

async fn do_update(state: &AppState, owner: &str, id: &str, req: UpdateWebhook) -> Result<WebhookView, ApiError> {
    let changes = EndpointChanges {
        url: req.url,
        description: req.description,
        event_types: req.event_types,
        enabled: req.enabled,
    };
    Ok(WebhookView::new(webhooks::update(state, owner, id, changes).await?))
}

async fn do_rotate(state: &AppState, owner: &str, id: &str) -> Result<axum::Json<WebhookWithSecret>, ApiError> {
    let (endpoint, secret) = webhooks::rotate_secret(state, owner, id).await?;
    Ok(axum::Json(WebhookWithSecret { endpoint: WebhookView::new(endpoint), secret }))
}

async fn do_test(state: &AppState, owner: &str, id: &str) -> Result<Response, ApiError> {
    let d = webhooks::send_test(state, owner, id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(DeliveryView::new(d, None))).into_response())
}

async fn do_deliveries(
    state: &AppState,
    owner: &str,
    id: &str,
    p: DeliveryParams,
) -> Result<axum::Json<Page<DeliveryView>>, ApiError> {
    let status = match p.status.as_deref() {
        None => None,
        Some(s) => Some(
            DeliveryStatus::parse(s)
                .ok_or_else(|| ApiError::invalid_request("status must be pending, delivered or failed."))?,
        ),
    };
    let scope = format!("deliveries:{owner}:{id}:{}", p.status.as_deref().unwrap_or(""));
    let req = ListParams { limit: p.limit, cursor: p.cursor }.page(&scope)?;
    let rows = webhooks::delivery_log(state, owner, id, status, &req).await?;
    let (rows, next_cursor) = Page::<DeliveryView>::finish(rows, &req, &scope, |d| d.delivery.id.clone());
    let items = rows.into_iter().map(|d| DeliveryView::new(d.delivery, Some(d.attempts))).collect();
    Ok(axum::Json(Page { items, next_cursor }))
}

async fn do_replay(state: &AppState, owner: &str, id: &str, delivery: &str) -> Result<Response, ApiError> {
    let d = webhooks::replay(state, owner, id, delivery).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(DeliveryView::new(d.delivery, Some(d.attempts)))).into_response())
}

// ---- tenant endpoints ----------------------------------------------------------------

/// Create a webhook endpoint of the tenant; the answer carries its secret, once.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/webhooks",
    operation_id = "createWebhook",
    extensions(("x-audit-action" = json!("webhook.create"))),
    tag = "webhooks",
    params(TenantPath),
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "The endpoint, with its `secret` (shown only now).", body = WebhookWithSecret),
        (status = 400, description = "A malformed body, an unknown event type, or a refused URL: not http(s), with a user name, or reaching a private, loopback or link-local address (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    Json(req): Json<CreateWebhook>,
) -> Result<Response, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    do_create(&state, &owner, req).await
}

/// List the tenant's webhook endpoints.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/webhooks",
    operation_id = "listWebhooks",
    tag = "webhooks",
    params(TenantPath, ListParams),
    responses(
        (status = 200, description = "A page of endpoints, by id.", body = Page<WebhookView>),
        (status = 400, description = "An invalid `limit` or `cursor` (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<WebhookView>>, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    do_list(&state, &owner, params).await
}

/// Get one of the tenant's webhook endpoints.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/webhooks/{webhook_id}",
    operation_id = "getWebhook",
    tag = "webhooks",
    params(TenantPath, ("webhook_id" = String, Path, description = "The endpoint's id (`whep_…`).")),
    responses(
        (status = 200, description = "The endpoint.", body = WebhookView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn get(State(state): State<AppState>, caller: Caller, ids: Ids) -> Result<axum::Json<WebhookView>, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    Ok(axum::Json(WebhookView::new(webhooks::get(&state, &owner, &ids.webhook).await?)))
}

/// Change a webhook endpoint's URL, description, event types or enabled flag.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}/webhooks/{webhook_id}",
    operation_id = "updateWebhook",
    extensions(("x-audit-action" = json!("webhook.update"))),
    tag = "webhooks",
    params(TenantPath, ("webhook_id" = String, Path, description = "The endpoint's id.")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The endpoint.", body = WebhookView),
        (status = 400, description = "A malformed body, an unknown event type or a refused URL (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    Json(req): Json<UpdateWebhook>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    Ok(axum::Json(do_update(&state, &owner, &ids.webhook, req).await?))
}

/// Delete a webhook endpoint with its delivery log.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/webhooks/{webhook_id}",
    operation_id = "deleteWebhook",
    extensions(("x-audit-action" = json!("webhook.delete"))),
    tag = "webhooks",
    params(TenantPath, ("webhook_id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn delete(State(state): State<AppState>, caller: Caller, ids: Ids) -> Result<StatusCode, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    webhooks::delete(&state, &owner, &ids.webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate the endpoint's secret.
///
/// The new secret is answered once; the old one keeps signing beside it for 24 hours (two
/// `v1,` signatures in `webhook-signature`).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/rotate-secret",
    operation_id = "rotateWebhookSecret",
    extensions(("x-audit-action" = json!("webhook.rotate_secret"))),
    tag = "webhooks",
    params(TenantPath, ("webhook_id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint with its new `secret` (shown only now).", body = WebhookWithSecret),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
) -> Result<axum::Json<WebhookWithSecret>, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    do_rotate(&state, &owner, &ids.webhook).await
}

/// Send a `webhook.test` event to this endpoint now.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/test",
    operation_id = "testWebhook",
    extensions(("x-audit-action" = json!("webhook.test"))),
    tag = "webhooks",
    params(TenantPath, ("webhook_id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 202, description = "The delivery, queued; its outcome appears in the delivery log.", body = DeliveryView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or endpoint (`not_found`).", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn test(State(state): State<AppState>, caller: Caller, ids: Ids) -> Result<Response, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    do_test(&state, &owner, &ids.webhook).await
}

/// The endpoint's delivery log, newest first, with each delivery's attempts.
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries",
    operation_id = "listWebhookDeliveries",
    tag = "webhooks",
    params(TenantPath, ("webhook_id" = String, Path, description = "The endpoint's id."), DeliveryParams),
    responses(
        (status = 200, description = "A page of deliveries, newest first.", body = Page<DeliveryView>),
        (status = 400, description = "An invalid status, limit or cursor (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    ids: Ids,
    Query(params): Query<DeliveryParams>,
) -> Result<axum::Json<Page<DeliveryView>>, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    do_deliveries(&state, &owner, &ids.webhook, params).await
}

/// Replay a delivery now, with the same `webhook-id`.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    operation_id = "replayWebhookDelivery",
    extensions(("x-audit-action" = json!("webhook.replay"))),
    tag = "webhooks",
    params(
        TenantPath,
        ("webhook_id" = String, Path, description = "The endpoint's id."),
        ("delivery_id" = String, Path, description = "The delivery's id (`msg_…`, its `webhook-id`)."),
    ),
    responses(
        (status = 202, description = "The delivery, pending again.", body = DeliveryView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, endpoint or delivery (`not_found`).", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn replay(State(state): State<AppState>, caller: Caller, ids: Ids) -> Result<Response, ApiError> {
    let owner = tenant_owner(&state, &caller, &ids).await?;
    do_replay(&state, &owner, &ids.webhook, &ids.delivery).await
}

// ---- platform endpoints --------------------------------------------------------------

/// Create a platform webhook endpoint: it hears every tenant's events and the platform's.
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    operation_id = "createPlatformWebhook",
    extensions(("x-audit-action" = json!("webhook.create"))),
    tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "The endpoint, with its `secret` (shown only now).", body = WebhookWithSecret),
        (status = 400, description = "A malformed body, an unknown event type or a refused URL (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn create_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Json(req): Json<CreateWebhook>,
) -> Result<Response, ApiError> {
    do_create(&state, &platform(), req).await
}

/// List the platform's webhook endpoints.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    operation_id = "listPlatformWebhooks",
    tag = "webhooks",
    params(ListParams),
    responses(
        (status = 200, description = "A page of endpoints, by id.", body = Page<WebhookView>),
        (status = 400, description = "An invalid `limit` or `cursor` (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn list_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<WebhookView>>, ApiError> {
    do_list(&state, &platform(), params).await
}

/// Get a platform webhook endpoint.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{webhook_id}",
    operation_id = "getPlatformWebhook",
    tag = "webhooks",
    params(("webhook_id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint.", body = WebhookView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn get_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    ids: Ids,
) -> Result<axum::Json<WebhookView>, ApiError> {
    Ok(axum::Json(WebhookView::new(webhooks::get(&state, &platform(), &ids.webhook).await?)))
}

/// Change a platform webhook endpoint.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{webhook_id}",
    operation_id = "updatePlatformWebhook",
    extensions(("x-audit-action" = json!("webhook.update"))),
    tag = "webhooks",
    params(("webhook_id" = String, Path, description = "The endpoint's id.")),
    request_body = UpdateWebhook,
    responses(
        (status = 200, description = "The endpoint.", body = WebhookView),
        (status = 400, description = "A malformed body, an unknown event type or a refused URL (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn update_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    ids: Ids,
    Json(req): Json<UpdateWebhook>,
) -> Result<axum::Json<WebhookView>, ApiError> {
    Ok(axum::Json(do_update(&state, &platform(), &ids.webhook, req).await?))
}

/// Delete a platform webhook endpoint.
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{webhook_id}",
    operation_id = "deletePlatformWebhook",
    extensions(("x-audit-action" = json!("webhook.delete"))),
    tag = "webhooks",
    params(("webhook_id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn delete_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    ids: Ids,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state, &platform(), &ids.webhook).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate a platform endpoint's secret (the old one signs beside it for 24 hours).
#[utoipa::path(
    post,
    path = "/v1/webhooks/{webhook_id}/rotate-secret",
    operation_id = "rotatePlatformWebhookSecret",
    extensions(("x-audit-action" = json!("webhook.rotate_secret"))),
    tag = "webhooks",
    params(("webhook_id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 200, description = "The endpoint with its new `secret` (shown only now).", body = WebhookWithSecret),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn rotate_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    ids: Ids,
) -> Result<axum::Json<WebhookWithSecret>, ApiError> {
    do_rotate(&state, &platform(), &ids.webhook).await
}

/// Send a `webhook.test` event to a platform endpoint now.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{webhook_id}/test",
    operation_id = "testPlatformWebhook",
    extensions(("x-audit-action" = json!("webhook.test"))),
    tag = "webhooks",
    params(("webhook_id" = String, Path, description = "The endpoint's id.")),
    responses(
        (status = 202, description = "The delivery, queued.", body = DeliveryView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such endpoint (`not_found`).", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn test_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    ids: Ids,
) -> Result<Response, ApiError> {
    do_test(&state, &platform(), &ids.webhook).await
}

/// A platform endpoint's delivery log, newest first.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{webhook_id}/deliveries",
    operation_id = "listPlatformWebhookDeliveries",
    tag = "webhooks",
    params(("webhook_id" = String, Path, description = "The endpoint's id."), DeliveryParams),
    responses(
        (status = 200, description = "A page of deliveries, newest first.", body = Page<DeliveryView>),
        (status = 400, description = "An invalid status, limit or cursor (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such endpoint (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn deliveries_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    ids: Ids,
    Query(params): Query<DeliveryParams>,
) -> Result<axum::Json<Page<DeliveryView>>, ApiError> {
    do_deliveries(&state, &platform(), &ids.webhook, params).await
}

/// Replay a platform endpoint's delivery now, with the same `webhook-id`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay",
    operation_id = "replayPlatformWebhookDelivery",
    extensions(("x-audit-action" = json!("webhook.replay"))),
    tag = "webhooks",
    params(
        ("webhook_id" = String, Path, description = "The endpoint's id."),
        ("delivery_id" = String, Path, description = "The delivery's id."),
    ),
    responses(
        (status = 202, description = "The delivery, pending again.", body = DeliveryView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such endpoint or delivery (`not_found`).", body = ErrorBody),
        (status = 409, description = "The endpoint is disabled (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
pub async fn replay_platform(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    ids: Ids,
) -> Result<Response, ApiError> {
    do_replay(&state, &platform(), &ids.webhook, &ids.delivery).await
}

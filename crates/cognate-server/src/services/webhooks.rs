//! Webhooks: endpoints of a tenant (or of the platform), their secrets, test events, the
//! delivery log and replays; and the events services emit.
//!
//! # How events reach the outbox (the transactional outbox)
//!
//! An event is a row of `webhook_events`, written in the SAME database transaction as the
//! change it reports, so a change that rolls back leaves no event and a committed change
//! always has its event. The services already make each change through one store write (or
//! one unit of work), so the smallest honest mechanism is to hand the events to that write:
//! - changes made in a tenant's unit of work (memberships, invitation acceptance, a tenant's
//!   status and tier) call [`cognate_core::repo::TenantWork::emit_events`] before commit;
//! - single-write changes use the store's `*_with(…, events)` variant of the write
//!   (`create_api_key_with`, `revoke_invitation_with`, `set_user_enabled_with`, …), which
//!   inserts the events inside the write's own transaction (the plain method is the same
//!   write with no events);
//! - events that report no table change (a failed or locked sign-in) are written on their
//!   own ([`emit`]).
//!
//! Services emit, never surfaces: the Cognito API, `/v1` and the consoles call the same
//! services, so they produce the same events. The delivery worker
//! ([`crate::webhook_delivery`]) fans events out to endpoints and sends them.
//!
//! Event names are `{resource}.{past_tense}` (see [`cognate_core::webhook::EVENT_TYPES`]);
//! data carries ids and non-secret facts only. An event belongs to a tenant when it is
//! about one (a user belongs to their home tenant, `custom:tenantId`), else to the platform.

use cognate_core::StoreError;
use cognate_core::page::PageRequest;
use cognate_core::tenant::{Invitation, Membership, Tenant, TenantId};
use cognate_core::user::User;
use cognate_core::webhook::{
    self, DeliveryAttempt, DeliveryStatus, PLATFORM_OWNER, WebhookDelivery, WebhookEndpoint, WebhookEvent,
};
use serde_json::{Value, json};

use crate::AppState;
use crate::outbound::OutboundError;

/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_GRACE_MS: i64 = 24 * 60 * 60 * 1000;
/// Longest endpoint URL.
pub const MAX_URL_CHARS: usize = 2048;
/// Longest description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
/// The sealing label of endpoint secrets.
const SECRET_LABEL: &str = "webhook-secret";

/// Why a webhook request was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The URL is malformed or may not be reached (SSRF protection).
    #[error("the endpoint URL is refused: {0}")]
    Url(#[from] OutboundError),
    #[error("the URL must be at most {MAX_URL_CHARS} characters")]
    UrlTooLong,
    #[error("the description must be at most {MAX_DESCRIPTION_CHARS} characters")]
    DescriptionTooLong,
    #[error("unknown event type {0:?}")]
    UnknownEventType(String),
    #[error("no such webhook endpoint")]
    NotFound,
    #[error("no such delivery")]
    DeliveryNotFound,
    /// The endpoint is disabled: enable it before testing it.
    #[error("the endpoint is disabled")]
    Disabled,
    /// A stored secret cannot be opened with this master key.
    #[error("the endpoint's secret cannot be opened: {0}")]
    Sealed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The owner string of a tenant, or of the platform (`None`).
pub fn owner_of(tenant: Option<&TenantId>) -> String {
    tenant.map_or_else(|| PLATFORM_OWNER.to_owned(), |t| t.as_str().to_owned())
}

/// The owner of events about `user`: their home tenant, else the platform.
pub fn user_owner(user: &User) -> String {
    user.attributes
        .get(crate::tenancy::TENANT_ID_ATTR)
        .and_then(|t| TenantId::parse(t))
        .map_or_else(|| PLATFORM_OWNER.to_owned(), |t| t.as_str().to_owned())
}

/// An event of `owner` happening now.
pub fn event(state: &AppState, owner: &str, event_type: &str, data: Value) -> WebhookEvent {
    WebhookEvent::new(state.rng.as_ref(), owner, event_type, state.clock.now_millis(), data)
}

/// The facts of a user events carry: ids, username, email, status (no secrets).
pub fn user_data(user: &User) -> Value {
    json!({
        "userPoolId": user.pool_id.as_str(),
        "sub": user.sub,
        "username": user.username,
        "email": user.attributes.get("email"),
        "status": user.status.as_str(),
        "enabled": user.enabled,
        "tenantId": user.attributes.get(crate::tenancy::TENANT_ID_ATTR),
    })
}

/// A `user.*` event about `user`.
pub fn user_event(state: &AppState, event_type: &str, user: &User) -> WebhookEvent {
    event(state, &user_owner(user), event_type, user_data(user))
}

/// A `membership.*` event.
pub fn membership_event(state: &AppState, event_type: &str, m: &Membership) -> WebhookEvent {
    event(
        state,
        m.tenant_id.as_str(),
        event_type,
        json!({"tenantId": m.tenant_id.as_str(), "userPoolId": m.pool_id.as_str(), "sub": m.sub, "role": m.role.as_str(), "status": m.status.as_str()}),
    )
}

/// An `invitation.*` event (never the token).
pub fn invitation_event(state: &AppState, event_type: &str, inv: &Invitation) -> WebhookEvent {
    event(
        state,
        inv.tenant_id.as_str(),
        event_type,
        json!({"tenantId": inv.tenant_id.as_str(), "invitationId": inv.id, "email": inv.email, "role": inv.role.as_str(), "acceptedSub": inv.accepted_sub}),
    )
}

/// A `tenant.*` event.
pub fn tenant_event(state: &AppState, event_type: &str, t: &Tenant) -> WebhookEvent {
    event(
        state,
        t.id.as_str(),
        event_type,
        json!({"tenantId": t.id.as_str(), "name": t.name, "tier": t.tier.as_str(), "status": t.status.as_str(), "userPoolId": t.pool_id.as_str()}),
    )
}

/// Writes events that report no table change (a failed sign-in), on their own. A failure
/// is logged, not returned: the request they describe has its own answer.
pub async fn emit(state: &AppState, events: &[WebhookEvent]) {
    if let Err(e) = state.store.emit_webhook_events(events).await {
        tracing::warn!(error = %e, "could not write webhook events");
    }
}

/// What a new endpoint is.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

async fn check_url(state: &AppState, url: &str) -> Result<(), WebhookError> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(WebhookError::UrlTooLong);
    }
    state.outbound.check_url_resolving(url, state.outbound_lookup.as_ref()).await?;
    Ok(())
}

fn check_description(d: &str) -> Result<(), WebhookError> {
    if d.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(WebhookError::DescriptionTooLong);
    }
    Ok(())
}

/// Known, without duplicates, and never the test event (sent only on request).
fn check_types(types: &[String]) -> Result<Vec<String>, WebhookError> {
    let mut out: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        if !webhook::is_event_type(t) || t == "webhook.test" {
            return Err(WebhookError::UnknownEventType(t.chars().take(64).collect()));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn seal(state: &AppState, secret: &str) -> String {
    state.master_key.seal(state.rng.as_ref(), SECRET_LABEL, secret.as_bytes())
}

fn open(state: &AppState, sealed: &str) -> Result<String, WebhookError> {
    let bytes = state.master_key.open(SECRET_LABEL, sealed).map_err(|e| WebhookError::Sealed(e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| WebhookError::Sealed("not UTF-8".into()))
}

/// The signing keys of `endpoint` at `now`: the current secret's, then the rotated-out
/// one's while its grace period lasts.
pub fn signing_keys(state: &AppState, endpoint: &WebhookEndpoint, now: i64) -> Result<Vec<Vec<u8>>, WebhookError> {
    let mut keys = Vec::with_capacity(2);
    let current = open(state, &endpoint.secret_sealed)?;
    keys.push(webhook::secret_key(&current).ok_or_else(|| WebhookError::Sealed("not a whsec_ secret".into()))?);
    if let (Some(previous), Some(until)) = (&endpoint.previous_secret_sealed, endpoint.previous_until)
        && until > now
        && let Some(key) = webhook::secret_key(&open(state, previous)?)
    {
        keys.push(key);
    }
    Ok(keys)
}

/// Creates an endpoint; returns it with its secret, shown this once.
pub async fn create(
    state: &AppState,
    owner: &str,
    new: NewEndpoint,
) -> Result<(WebhookEndpoint, String), WebhookError> {
    check_url(state, &new.url).await?;
    check_description(&new.description)?;
    let event_types = check_types(&new.event_types)?;
    let secret = webhook::generate_secret(state.rng.as_ref());
    let now = state.clock.now_millis();
    let endpoint = WebhookEndpoint {
        id: format!("whep_{}", webhook::random_id(state.rng.as_ref())),
        owner: owner.to_owned(),
        url: new.url,
        description: new.description,
        event_types,
        enabled: new.enabled,
        disabled_reason: None,
        secret_sealed: seal(state, &secret),
        previous_secret_sealed: None,
        previous_until: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    state.store.create_webhook_endpoint(&endpoint).await?;
    tracing::info!(owner, webhook = %endpoint.id, "webhook endpoint created");
    Ok((endpoint, secret))
}

pub async fn list(state: &AppState, owner: &str, page: &PageRequest) -> Result<Vec<WebhookEndpoint>, WebhookError> {
    Ok(state.store.list_webhook_endpoints(owner, page).await?)
}

pub async fn get(state: &AppState, owner: &str, id: &str) -> Result<WebhookEndpoint, WebhookError> {
    state.store.get_webhook_endpoint(owner, id).await?.ok_or(WebhookError::NotFound)
}

fn not_found(e: StoreError) -> WebhookError {
    match e {
        StoreError::NotFound(_) => WebhookError::NotFound,
        other => other.into(),
    }
}

/// Applies `changes`; enabling an endpoint Cognate disabled clears the reason and the
/// failure streak.
pub async fn update(
    state: &AppState,
    owner: &str,
    id: &str,
    changes: EndpointChanges,
) -> Result<WebhookEndpoint, WebhookError> {
    let mut e = get(state, owner, id).await?;
    if let Some(url) = changes.url {
        check_url(state, &url).await?;
        e.url = url;
    }
    if let Some(d) = changes.description {
        check_description(&d)?;
        e.description = d;
    }
    if let Some(types) = changes.event_types {
        e.event_types = check_types(&types)?;
    }
    if let Some(enabled) = changes.enabled {
        if enabled && !e.enabled {
            e.disabled_reason = None;
            e.failing_since = None;
        }
        e.enabled = enabled;
    }
    e.updated_at = state.clock.now_millis();
    state.store.update_webhook_endpoint(&e).await.map_err(not_found)?;
    Ok(e)
}

pub async fn delete(state: &AppState, owner: &str, id: &str) -> Result<(), WebhookError> {
    state.store.delete_webhook_endpoint(owner, id).await.map_err(not_found)
}

/// Rotates the secret: the new one is returned (shown once); the old one keeps signing
/// beside it for [`ROTATION_GRACE_MS`], so receivers can switch without losing messages.
pub async fn rotate_secret(state: &AppState, owner: &str, id: &str) -> Result<(WebhookEndpoint, String), WebhookError> {
    let mut e = get(state, owner, id).await?;
    let secret = webhook::generate_secret(state.rng.as_ref());
    let now = state.clock.now_millis();
    e.previous_secret_sealed = Some(std::mem::replace(&mut e.secret_sealed, seal(state, &secret)));
    e.previous_until = Some(now + ROTATION_GRACE_MS);
    e.updated_at = now;
    state.store.update_webhook_endpoint(&e).await.map_err(not_found)?;
    tracing::info!(owner, webhook = %e.id, "webhook secret rotated");
    Ok((e, secret))
}

/// A new delivery id: `msg_`, the creation time (so ids sort by age) and 15 random
/// characters.
pub fn delivery_id(state: &AppState) -> String {
    let random: String = webhook::random_id(state.rng.as_ref()).chars().take(15).collect();
    format!("msg_{:011x}{random}", state.clock.now_millis().max(0))
}

/// Sends a `webhook.test` event to this endpoint only; the delivery to follow in the log.
pub async fn send_test(state: &AppState, owner: &str, id: &str) -> Result<WebhookDelivery, WebhookError> {
    let e = get(state, owner, id).await?;
    if !e.enabled {
        return Err(WebhookError::Disabled);
    }
    let ev = event(state, owner, "webhook.test", json!({"endpointId": e.id}));
    let now = state.clock.now_millis();
    let d = WebhookDelivery {
        id: delivery_id(state),
        owner: owner.to_owned(),
        endpoint_id: e.id,
        event_id: ev.id,
        event_type: ev.event_type,
        body: ev.body,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        last_status_code: None,
        last_error: None,
        created_at: now,
        delivered_at: None,
    };
    state.store.create_webhook_delivery(&d).await?;
    state.webhook_wake.notify_one();
    Ok(d)
}

/// An endpoint with its newest delivery (none yet: `None`), as lists show it.
#[derive(Debug, Clone)]
pub struct EndpointSummary {
    pub endpoint: WebhookEndpoint,
    pub last_delivery: Option<WebhookDelivery>,
}

/// A page of endpoints (by id), each with its newest delivery.
pub async fn overview(state: &AppState, owner: &str, page: &PageRequest) -> Result<Vec<EndpointSummary>, WebhookError> {
    let endpoints = list(state, owner, page).await?;
    let newest = PageRequest { after: None, limit: 1 };
    let mut out = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let last_delivery =
            state.store.list_webhook_deliveries(owner, &endpoint.id, None, &newest).await?.into_iter().next();
        out.push(EndpointSummary { endpoint, last_delivery });
    }
    Ok(out)
}

/// The event types an endpoint may choose to hear (every type but the test event, which
/// is sent only on request).
pub fn subscribable_types() -> impl Iterator<Item = &'static str> {
    webhook::EVENT_TYPES.iter().copied().filter(|t| *t != "webhook.test")
}

/// A delivery with its attempts, oldest first: one line of the delivery log.
#[derive(Debug, Clone)]
pub struct LoggedDelivery {
    pub delivery: WebhookDelivery,
    pub attempts: Vec<DeliveryAttempt>,
}

/// An endpoint's delivery log: its deliveries, newest first, each with its attempts.
pub async fn delivery_log(
    state: &AppState,
    owner: &str,
    id: &str,
    status: Option<DeliveryStatus>,
    page: &PageRequest,
) -> Result<Vec<LoggedDelivery>, WebhookError> {
    let rows = deliveries(state, owner, id, status, page).await?;
    let mut out = Vec::with_capacity(rows.len());
    for delivery in rows {
        let attempts = attempts(state, owner, &delivery.id).await?;
        out.push(LoggedDelivery { delivery, attempts });
    }
    Ok(out)
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    state: &AppState,
    owner: &str,
    id: &str,
    status: Option<DeliveryStatus>,
    page: &PageRequest,
) -> Result<Vec<WebhookDelivery>, WebhookError> {
    get(state, owner, id).await?;
    Ok(state.store.list_webhook_deliveries(owner, id, status, page).await?)
}

/// A delivery's attempts, oldest first.
pub async fn attempts(state: &AppState, owner: &str, delivery: &str) -> Result<Vec<DeliveryAttempt>, WebhookError> {
    Ok(state.store.webhook_attempts(owner, delivery).await?)
}

/// Replays a delivery now, with the same `webhook-id` (receivers de-duplicate on it);
/// answers the delivery, pending again, with its attempts so far.
pub async fn replay(state: &AppState, owner: &str, id: &str, delivery: &str) -> Result<LoggedDelivery, WebhookError> {
    let e = get(state, owner, id).await?;
    if !e.enabled {
        return Err(WebhookError::Disabled);
    }
    let now = state.clock.now_millis();
    state.store.replay_webhook_delivery(owner, id, delivery, now).await.map_err(|e| match e {
        StoreError::NotFound(_) => WebhookError::DeliveryNotFound,
        other => other.into(),
    })?;
    state.webhook_wake.notify_one();
    let delivery =
        state.store.get_webhook_delivery(owner, id, delivery).await?.ok_or(WebhookError::DeliveryNotFound)?;
    let attempts = attempts(state, owner, &delivery.id).await?;
    Ok(LoggedDelivery { delivery, attempts })
}

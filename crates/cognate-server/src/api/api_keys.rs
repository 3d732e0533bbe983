//! `/v1/tenants/{tenantId}/api-keys` (tenant admins create, list, update, rotate, revoke),
//! `/v1/api-keys/verify` and `/v1/api-keys/usage` (services verify keys and report usage),
//! and `/v1/tenants/{tenantId}/usage` (calls per key per day, for billing).
//!
//! The plaintext key is in the answer that creates (or rotates) it and nowhere else: only
//! its SHA-256 is stored and nothing logs it.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::apikey::{self, ApiKey, KeyStatus, RateLimit, UsageDelta};
use cognate_core::tenant::TenantId;
use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, KeyVerifier, Need};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, OptionalJson, Query};
use super::paging::{ListParams, Page};
use super::tenants::TenantPath;
use crate::AppState;
use crate::services::api_keys::{self, ApiKeyError, KeyChanges, NewKey, VerifyFailure, format_day};

/// Most items in one usage report.
const MAX_USAGE_ITEMS: usize = 1000;
/// Longest usage query, in days.
const MAX_USAGE_DAYS: i64 = 366;

/// A key as the API shows it: never the key itself. Times are epoch seconds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    id: String,
    tenant_id: String,
    /// The key's first characters (`cog_` + 8), to recognise it.
    prefix: String,
    name: String,
    scopes: Vec<String>,
    service_account: Option<String>,
    created_by: String,
    created_at: i64,
    expires_at: Option<i64>,
    /// Updated from aggregated usage, at most every few seconds.
    last_used_at: Option<i64>,
    #[schema(schema_with = super::openapi::key_status)]
    status: KeyStatus,
    revoked_at: Option<i64>,
    /// The key this one replaced by rotation.
    rotated_from: Option<String>,
    /// For a rotated key: when it stops working.
    grace_until: Option<i64>,
    rate_limit: Option<RateLimitBody>,
}

fn secs(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

impl ApiKeyView {
    fn new(k: ApiKey, now: i64) -> Self {
        Self {
            status: k.status(now),
            id: k.id,
            tenant_id: k.tenant_id.to_string(),
            prefix: k.display_prefix,
            name: k.name,
            scopes: k.scopes,
            service_account: k.service_account,
            created_by: k.created_by,
            created_at: secs(k.created_at),
            expires_at: k.expires_at.map(secs),
            last_used_at: k.last_used_at.map(secs),
            revoked_at: k.revoked_at.map(secs),
            rotated_from: k.rotated_from,
            grace_until: k.grace_until.map(secs),
            rate_limit: k.rate_limit.map(RateLimitBody::from),
        }
    }
}

/// A created or rotated key: the view plus the key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewApiKey {
    /// The API key. Store it now: Cognate keeps only its hash.
    key: String,
    #[serde(flatten)]
    api_key: ApiKeyView,
}

/// A rate limit: at most `requests` per `perSeconds`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RateLimitBody {
    /// 1 to 1,000,000.
    #[schema(minimum = 1, maximum = 1_000_000)]
    requests: u32,
    /// 1 to 86,400.
    #[schema(minimum = 1, maximum = 86_400)]
    per_seconds: u32,
}

impl From<RateLimit> for RateLimitBody {
    fn from(r: RateLimit) -> Self {
        Self { requests: r.requests, per_seconds: r.per_seconds }
    }
}

impl From<RateLimitBody> for RateLimit {
    /// Unchecked: the service checks the bounds.
    fn from(r: RateLimitBody) -> Self {
        Self { requests: r.requests, per_seconds: r.per_seconds }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateApiKey {
    /// 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128)]
    name: String,
    /// Up to 20 scopes such as `notes:read` (1 to 128 printable ASCII characters without
    /// spaces each).
    #[serde(default)]
    #[schema(max_items = 20)]
    scopes: Vec<String>,
    /// Lifetime in seconds (1 to 10 years); none means the key does not expire.
    #[schema(minimum = 1, maximum = 316_224_000)]
    expires_in_seconds: Option<i64>,
    rate_limit: Option<RateLimitBody>,
    /// A label for the program using the key.
    service_account: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateApiKey {
    /// 1 to 128 characters. Absent: unchanged; `null` is refused.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    #[schema(min_length = 1, max_length = 128)]
    name: Option<String>,
    /// Up to 20 scopes. Absent: unchanged; `null` is refused.
    #[serde(default, deserialize_with = "super::extract::not_null")]
    #[schema(max_items = 20)]
    scopes: Option<Vec<String>>,
    /// `null` removes the limit.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<RateLimitBody>)]
    rate_limit: Option<Option<RateLimitBody>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    service_account: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateApiKey {
    /// How long the old key keeps working, in seconds: 0 (immediately replaced) to 30
    /// days; default 24 hours.
    #[schema(minimum = 0, maximum = 2_592_000)]
    grace_period_seconds: Option<i64>,
}

/// The `{tenant_id}/api-keys/{api_key_id}` path. An invalid tenant id is 404.
#[derive(IntoParams)]
#[into_params(names("tenant_id", "api_key_id"), parameter_in = Path)]
pub struct KeyPath(
    /// The tenant's id, a slug such as `acme`.
    #[param(value_type = String)]
    pub TenantId,
    /// The key's id (`ak_…`).
    pub String,
);

impl<S: Send + Sync> FromRequestParts<S> for KeyPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (tenant, id) = super::extract::tenant_and_segment(parts, state).await?;
        Ok(Self(tenant, id))
    }
}

fn key_not_found() -> ApiError {
    ApiError::not_found("The API key does not exist.")
}

#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/api-keys",
    operation_id = "createApiKey",
    extensions(("x-audit-action" = json!("api_key.create"))),
    tag = "api-keys",
    params(TenantPath),
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The key, with its plaintext shown this once.", body = NewApiKey),
        (status = 400, description = "An invalid name, scope, lifetime or rate limit (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// Create an API key.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
    Json(req): Json<CreateApiKey>,
) -> Result<Response, ApiError> {
    let access = caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let new = NewKey {
        name: req.name,
        scopes: req.scopes,
        expires_in_seconds: req.expires_in_seconds,
        rate_limit: req.rate_limit.map(RateLimit::from),
        service_account: req.service_account,
    };
    let (record, key) = api_keys::create(&state, &tenant, &access.actor, new).await?;
    let now = state.clock.now_millis();
    let body = NewApiKey { key, api_key: ApiKeyView::new(record, now) };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/api-keys",
    operation_id = "listApiKeys",
    tag = "api-keys",
    params(TenantPath, ListParams),
    responses(
        (status = 200, description = "A page of the tenant's keys, revoked and rotated ones included.", body = Page<ApiKeyView>),
        (status = 400, description = "An invalid `limit` or `cursor` (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// List a tenant's API keys.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<ApiKeyView>>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let scope = format!("api-keys:{tenant}");
    let req = params.page(&scope)?;
    let rows = api_keys::list(&state, &tenant, &req).await?;
    let (rows, next_cursor) = Page::<ApiKeyView>::finish(rows, &req, &scope, |k| k.id.clone());
    let now = state.clock.now_millis();
    Ok(axum::Json(Page { items: rows.into_iter().map(|k| ApiKeyView::new(k, now)).collect(), next_cursor }))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/api-keys/{api_key_id}",
    operation_id = "getApiKey",
    tag = "api-keys",
    params(KeyPath),
    responses(
        (status = 200, description = "The key (never the key itself).", body = ApiKeyView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or key (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// Get an API key.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    KeyPath(tenant, id): KeyPath,
) -> Result<axum::Json<ApiKeyView>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let key = api_keys::get(&state, &tenant, &id).await?;
    Ok(axum::Json(ApiKeyView::new(key, state.clock.now_millis())))
}

#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}/api-keys/{api_key_id}",
    operation_id = "updateApiKey",
    extensions(("x-audit-action" = json!("api_key.update"))),
    tag = "api-keys",
    params(KeyPath),
    request_body = UpdateApiKey,
    responses(
        (status = 200, description = "The updated key.", body = ApiKeyView),
        (status = 400, description = "An invalid name, scope or rate limit (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or key (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// Rename an API key or change its scopes, rate limit or service account.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    KeyPath(tenant, id): KeyPath,
    Json(req): Json<UpdateApiKey>,
) -> Result<axum::Json<ApiKeyView>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let changes = KeyChanges {
        name: req.name,
        scopes: req.scopes,
        rate_limit: req.rate_limit.map(|l| l.map(RateLimit::from)),
        service_account: req.service_account,
    };
    let key = api_keys::update(&state, &tenant, &id, changes).await?;
    Ok(axum::Json(ApiKeyView::new(key, state.clock.now_millis())))
}

#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/api-keys/{api_key_id}",
    operation_id = "revokeApiKey",
    extensions(("x-audit-action" = json!("api_key.revoke"))),
    tag = "api-keys",
    params(KeyPath),
    responses(
        (status = 204, description = "The key is revoked (also when it already was)."),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or key (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// Revoke an API key.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    KeyPath(tenant, id): KeyPath,
) -> Result<StatusCode, ApiError> {
    let access = caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    api_keys::revoke(&state, &tenant, &id, &access.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/api-keys/{api_key_id}/rotate",
    operation_id = "rotateApiKey",
    extensions(("x-audit-action" = json!("api_key.rotate"))),
    tag = "api-keys",
    params(KeyPath),
    request_body(content = Option<RotateApiKey>, description = "Optional; the default grace period is 24 hours."),
    responses(
        (status = 201, description = "The new key, with its plaintext shown this once; the old one works until its `graceUntil`.", body = NewApiKey),
        (status = 400, description = "An invalid grace period (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant or key (`not_found`).", body = ErrorBody),
        (status = 409, description = "The key is revoked, expired or already rotated (`conflict`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// Rotate an API key.
///
/// The new key has the same name, scopes and limits; the old one keeps working for the
/// grace period.
pub async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    KeyPath(tenant, id): KeyPath,
    OptionalJson(body): OptionalJson<RotateApiKey>,
) -> Result<Response, ApiError> {
    let access = caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let grace = body.and_then(|b| b.grace_period_seconds);
    let (record, key) = api_keys::rotate(&state, &tenant, &id, grace, &access.actor).await?;
    let now = state.clock.now_millis();
    let body = NewApiKey { key, api_key: ApiKeyView::new(record, now) };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyRequest {
    /// The presented API key.
    key: String,
    /// Count this verification as one accepted request (and apply the key's rate limit).
    /// Default true; a verifier that counts and reports usage itself sends false.
    #[serde(default = "yes")]
    count_usage: bool,
}

fn yes() -> bool {
    true
}

/// The outcome of a verification.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum VerifyAnswer {
    Valid(ValidKey),
    Refused(RefusedKey),
}

/// A valid key: its tenant, scopes and limits.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidKey {
    /// Always true.
    valid: bool,
    key_id: String,
    tenant_id: String,
    name: String,
    scopes: Vec<String>,
    service_account: Option<String>,
    /// Epoch seconds.
    expires_at: Option<i64>,
    rate_limit: Option<RateLimitBody>,
}

/// A refused key.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedKey {
    /// Always false.
    valid: bool,
    /// Why: `malformed`, `unknown_key`, `revoked`, `expired`, `rotated` or `tenant_suspended`.
    code: &'static str,
}

#[utoipa::path(
    post,
    path = "/v1/api-keys/verify",
    operation_id = "verifyApiKey",
    tag = "api-keys",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "Whether the key is valid, with its tenant and scopes, or the refusal code.", body = VerifyAnswer),
        (status = 400, description = "A malformed body (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid verifier credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user token; verifiers are app clients or platform admins (`forbidden`).", body = ErrorBody),
        (status = 429, description = "The key's rate limit is used up (`rate_limited`); see `Retry-After`.", body = ErrorBody),
    ),
    security(("client" = []), ("platform_admin" = [])),
)]
/// Verify an API key (for services).
pub async fn verify(
    State(state): State<AppState>,
    verifier: KeyVerifier,
    Json(req): Json<VerifyRequest>,
) -> Result<axum::Json<VerifyAnswer>, ApiError> {
    let key = match api_keys::verify(&state, &req.key, verifier.pool.as_ref(), verifier.tenant.as_ref()).await {
        Ok(key) => key,
        Err(VerifyFailure::Refused(refusal)) => {
            tracing::debug!(code = refusal.code(), "API key refused");
            return Ok(axum::Json(VerifyAnswer::Refused(RefusedKey { valid: false, code: refusal.code() })));
        }
        Err(VerifyFailure::Store(e)) => return Err(e.into()),
    };
    if req.count_usage {
        let now = state.clock.now_millis();
        if let Some(limit) = key.rate_limit
            && let Err(retry) =
                state.rates.admit(&format!("key:{}", key.id), limit.requests, limit.per_seconds, now).await
        {
            state.metrics.rate_limited(crate::metrics::RateWindow::ApiKey);
            return Err(ApiError::rate_limited(retry, "The API key's rate limit is used up."));
        }
        state.usage.record(&key.tenant_id, &key.id, now, 1);
    }
    Ok(axum::Json(VerifyAnswer::Valid(ValidKey {
        valid: true,
        key_id: key.id,
        tenant_id: key.tenant_id.to_string(),
        name: key.name,
        scopes: key.scopes,
        service_account: key.service_account,
        expires_at: key.expires_at.map(secs),
        rate_limit: key.rate_limit.map(RateLimitBody::from),
    })))
}

/// Accepted requests a verifier counted for one key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UsageItem {
    #[schema(value_type = String)]
    tenant_id: TenantId,
    key_id: String,
    /// 1 to 1,000,000,000.
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    count: i64,
    /// The latest use counted (epoch seconds); defaults to now.
    last_used_at: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageReport {
    /// At most 1,000 items.
    #[schema(max_items = 1000)]
    items: Vec<UsageItem>,
}

#[utoipa::path(
    post,
    path = "/v1/api-keys/usage",
    operation_id = "reportApiKeyUsage",
    tag = "api-keys",
    request_body = UsageReport,
    responses(
        (status = 204, description = "The counts are recorded (for today, UTC); items of tenants outside the client's pool (or deleted) are dropped."),
        (status = 400, description = "A malformed report (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid verifier credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user token (`forbidden`).", body = ErrorBody),
    ),
    security(("client" = []), ("platform_admin" = [])),
)]
/// Report API key usage counted by a verifier (e.g. cognate-guard).
pub async fn report_usage(
    State(state): State<AppState>,
    verifier: KeyVerifier,
    Json(report): Json<UsageReport>,
) -> Result<StatusCode, ApiError> {
    if report.items.len() > MAX_USAGE_ITEMS {
        return Err(ApiError::invalid_request(format!("At most {MAX_USAGE_ITEMS} items per report.")));
    }
    let now = state.clock.now_millis();
    let mut deltas = Vec::with_capacity(report.items.len());
    for item in report.items {
        if !(1..=1_000_000_000).contains(&item.count) {
            return Err(ApiError::invalid_request("count must be 1 to 1000000000."));
        }
        let last = item.last_used_at.map_or(now, |s| s.saturating_mul(1000).min(now));
        deltas.push(UsageDelta {
            tenant_id: item.tenant_id,
            key_id: item.key_id,
            day: apikey::day_of(now),
            count: item.count,
            last_used_at: last,
        });
    }
    let total: i64 = deltas.iter().map(|d| d.count).sum();
    let items = deltas.len();
    let skipped = api_keys::report_usage(&state, deltas, |tenant, pool| verifier.serves(tenant, pool)).await?;
    tracing::debug!(by = %verifier.actor, items, total, skipped, "API key usage reported");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// First day (`YYYY-MM-DD`, UTC); default 29 days before `to`.
    from: Option<String>,
    /// Last day, included (`YYYY-MM-DD`, UTC); default today.
    to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageDay {
    /// `YYYY-MM-DD` (UTC).
    date: String,
    key_id: String,
    count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    tenant_id: String,
    from: String,
    to: String,
    /// Accepted requests per key per day, days with none left out.
    items: Vec<UsageDay>,
    /// Each key's total over the range.
    totals: BTreeMap<String, i64>,
}

fn parse_day(raw: &str, what: &str) -> Result<i64, ApiError> {
    let date = Date::parse(raw, api_keys::DAY_FORMAT)
        .map_err(|_| ApiError::invalid_request(format!("{what} must be a date as YYYY-MM-DD.")))?;
    Ok(i64::from(
        date.to_julian_day() - Date::from_calendar_date(1970, time::Month::January, 1).map_or(0, Date::to_julian_day),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/usage",
    operation_id = "getUsage",
    tag = "api-keys",
    params(TenantPath, UsageParams),
    responses(
        (status = 200, description = "Accepted API key requests per key per day.", body = Usage),
        (status = 400, description = "Invalid dates, or a range over 366 days (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
/// API key usage of a tenant, for billing.
pub async fn usage(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(tenant): TenantPath,
    Query(params): Query<UsageParams>,
) -> Result<axum::Json<Usage>, ApiError> {
    caller.tenant(&state, &tenant, Need::TenantAdmin).await?;
    let to = match params.to.as_deref() {
        Some(raw) => parse_day(raw, "to")?,
        None => apikey::day_of(state.clock.now_millis()),
    };
    let from = match params.from.as_deref() {
        Some(raw) => parse_day(raw, "from")?,
        None => to - 29,
    };
    if from > to || to - from >= MAX_USAGE_DAYS {
        return Err(ApiError::invalid_request(format!(
            "from must not be after to, and the range is at most {MAX_USAGE_DAYS} days."
        )));
    }
    let rows = api_keys::usage(&state, &tenant, from, to).await?;
    let mut totals = BTreeMap::new();
    for row in &rows {
        *totals.entry(row.key_id.clone()).or_insert(0) += row.count;
    }
    let items =
        rows.into_iter().map(|r| UsageDay { date: format_day(r.day), key_id: r.key_id, count: r.count }).collect();
    Ok(axum::Json(Usage { tenant_id: tenant.to_string(), from: format_day(from), to: format_day(to), items, totals }))
}

impl From<ApiKeyError> for ApiError {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::NotFound => key_not_found(),
            ApiKeyError::NotActive => ApiError::conflict("Only an active key can be rotated."),
            ApiKeyError::Invalid(e) => ApiError::invalid_request(e.to_string()),
            ApiKeyError::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cognate_core::apikey::KeyRefusal;

    #[test]
    fn days_round_trip_through_dates() {
        assert_eq!(parse_day("1970-01-01", "d").unwrap(), 0);
        assert_eq!(parse_day("2026-11-28", "d").unwrap(), apikey::day_of(1_795_824_000_000));
        assert_eq!(format_day(parse_day("2024-02-29", "d").unwrap()), "2024-02-29");
        assert!(parse_day("2024-02-30", "d").is_err());
        assert!(parse_day("yesterday", "d").is_err());
    }

    #[test]
    fn refusals_have_stable_codes() {
        assert_eq!(KeyRefusal::Rotated.code(), "rotated");
        assert_eq!(KeyRefusal::TenantSuspended.code(), "tenant_suspended");
    }
}

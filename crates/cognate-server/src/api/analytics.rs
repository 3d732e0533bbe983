//! Analytics and cost allocation (docs/operations.md, "Analytics and cost allocation"):
//! `GET /v1/tenants/{tenantId}/analytics` and `…/analytics/costs` (tenant admins, a
//! tenant's own M2M client, platform admins), `GET /v1/analytics`, `GET /v1/analytics/costs`
//! and `GET|PUT /v1/analytics/price-model` (platform admins).
//!
//! Money is exact: amounts are decimal strings with six decimals, computed in integer
//! micro-units ([`cognate_core::analytics`]). A cost statement is JSON by default, CSV with
//! `?format=csv` or `Accept: text/csv`; both carry the same lines and figures.

use axum::extract::{FromRequestParts, State};
use axum::http::{HeaderMap, header, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::analytics::format_month;
use cognate_core::tenant::TenantId;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::{Caller, Need, PlatformAdmin};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, Query};
use super::tenants::TenantPath;
use crate::AppState;
use crate::services::analytics::{self, AnalyticsError, PriceModelBody, Report, StatementView};

impl From<AnalyticsError> for ApiError {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::Invalid(message) => ApiError::invalid_request(message),
            AnalyticsError::Store(e) => e.into(),
        }
    }
}

/// Who may read a tenant's analytics: a caller of `/v1` (platform admin, or a tenant
/// admin in their tenant), or a confidential app client the tenant owns (HTTP Basic), for
/// that tenant only.
pub enum Reader {
    Caller(Caller),
    /// The tenant that owns the client.
    Client(TenantId),
}

impl FromRequestParts<AppState> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !super::auth::presents_basic(&parts.headers) {
            return Caller::from_request_parts(parts, state).await.map(Reader::Caller);
        }
        let client =
            crate::oauth::common::authenticate_client(state, &parts.headers, None, true).await.map_err(|e| {
                if e.status.is_server_error() {
                    ApiError::internal(e.description)
                } else {
                    ApiError::unauthorized_client()
                }
            })?;
        match client.client.settings.tenant_id.as_deref().and_then(TenantId::parse) {
            Some(tenant) => Ok(Reader::Client(tenant)),
            None => Err(ApiError::forbidden("Only an app client that a tenant owns may read that tenant's analytics.")),
        }
    }
}

impl Reader {
    /// Establishes the right to read `tenant`'s analytics.
    async fn check(&self, state: &AppState, tenant: &TenantId) -> Result<(), ApiError> {
        match self {
            Reader::Caller(caller) => caller.tenant(state, tenant, Need::TenantAdmin).await.map(|_| ()),
            Reader::Client(own) if own == tenant => Ok(()),
            // The same answer as for a user, whether the tenant exists or not.
            Reader::Client(_) => Err(ApiError::forbidden("You cannot act in this tenant with this token.")),
        }
    }
}

/// A range of days.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RangeParams {
    /// First day, `YYYY-MM-DD` (UTC). Defaults to 29 days before `to`.
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC). Defaults to today. At most 366 days in all.
    to: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/analytics",
    operation_id = "getTenantAnalytics",
    tag = "analytics",
    params(TenantPath, RangeParams),
    responses(
        (status = 200, description = "The tenant's figures per day with totals, monthly active users of the months the range touches, API calls per key and MFA adoption.", body = Report),
        (status = 400, description = "Invalid dates, or a range over 366 days (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant, nor its client (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = []), ("client" = [])),
)]
/// A tenant's analytics.
pub async fn tenant_report(
    State(state): State<AppState>,
    reader: Reader,
    TenantPath(tenant): TenantPath,
    Query(params): Query<RangeParams>,
) -> Result<axum::Json<Report>, ApiError> {
    reader.check(&state, &tenant).await?;
    let (from, to) = analytics::range(&state, params.from.as_deref(), params.to.as_deref())?;
    Ok(axum::Json(analytics::tenant_report(&state, &tenant, from, to).await?))
}

#[utoipa::path(
    get,
    path = "/v1/analytics",
    operation_id = "getPlatformAnalytics",
    tag = "analytics",
    params(RangeParams),
    responses(
        (status = 200, description = "Every tenant's and the platform line's figures summed per day, with each line's totals (`lines`, the platform line under `\"\"`).", body = Report),
        (status = 400, description = "Invalid dates, or a range over 366 days (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
/// Platform-wide analytics.
pub async fn platform_report(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Query(params): Query<RangeParams>,
) -> Result<axum::Json<Report>, ApiError> {
    let (from, to) = analytics::range(&state, params.from.as_deref(), params.to.as_deref())?;
    Ok(axum::Json(analytics::platform_report(&state, from, to).await?))
}

#[utoipa::path(
    get,
    path = "/v1/analytics/price-model",
    operation_id = "getPriceModel",
    tag = "analytics",
    responses(
        (status = 200, description = "The price model (all prices 0 USD until one is set).", body = PriceModelBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
/// The price model of cost allocation.
pub async fn get_price_model(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
) -> Result<axum::Json<PriceModelBody>, ApiError> {
    Ok(axum::Json(PriceModelBody::of(&analytics::price_model(&state).await?)))
}

#[utoipa::path(
    put,
    path = "/v1/analytics/price-model",
    operation_id = "setPriceModel",
    extensions(("x-audit-action" = json!("analytics.price_model"))),
    tag = "analytics",
    request_body = PriceModelBody,
    responses(
        (status = 200, description = "The price model as stored.", body = PriceModelBody),
        (status = 400, description = "An amount that is not a non-negative decimal with at most 6 decimals, or a currency that is not 3 capital letters (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
/// Replace the price model. Amounts are decimal strings (`"0.0055"`), kept exactly.
pub async fn set_price_model(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    Json(body): Json<PriceModelBody>,
) -> Result<axum::Json<PriceModelBody>, ApiError> {
    let model = analytics::replace_price_model(&state, &body).await?;
    Ok(axum::Json(PriceModelBody::of(&model)))
}

/// A month and a format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CostParams {
    /// The month, `YYYY-MM` (UTC). Required.
    month: Option<String>,
    /// `json` (the default) or `csv`; without it, `Accept: text/csv` asks for CSV.
    format: Option<String>,
}

/// Whether the statement is asked for as CSV: `format` first, then the `Accept` header.
fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match format {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(ApiError::invalid_request("format must be csv or json.")),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.split(',').any(|t| t.trim().starts_with("text/csv")))),
    }
}

async fn statement(
    state: &AppState,
    params: CostParams,
    headers: &HeaderMap,
    only: Option<&TenantId>,
) -> Result<Response, ApiError> {
    let csv = wants_csv(params.format.as_deref(), headers)?;
    let month = params.month.ok_or_else(|| ApiError::invalid_request("month is required, as YYYY-MM."))?;
    let statement = analytics::costs(state, &month, only).await?;
    if csv {
        let name = format!("attachment; filename=\"costs-{}.csv\"", format_month(statement.month));
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, name)],
            analytics::statement_csv(&statement),
        )
            .into_response());
    }
    Ok(axum::Json(StatementView::of(&statement)).into_response())
}

#[utoipa::path(
    get,
    path = "/v1/analytics/costs",
    operation_id = "getPlatformCosts",
    tag = "analytics",
    params(CostParams),
    responses(
        (status = 200, description = "Every tenant's cost line for the month and the platform line, with the total (JSON; or CSV with the columns of docs/operations.md).", body = StatementView),
        (status = 400, description = "A missing or invalid month, or an unknown format (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not a platform admin (`forbidden`).", body = ErrorBody),
    ),
    security(("platform_admin" = [])),
)]
/// A month's cost allocation over every tenant.
pub async fn platform_costs(
    State(state): State<AppState>,
    _admin: PlatformAdmin,
    headers: HeaderMap,
    Query(params): Query<CostParams>,
) -> Result<Response, ApiError> {
    statement(&state, params, &headers, None).await
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/analytics/costs",
    operation_id = "getTenantCosts",
    tag = "analytics",
    params(TenantPath, CostParams),
    responses(
        (status = 200, description = "The tenant's own cost line for the month (JSON or CSV).", body = StatementView),
        (status = 400, description = "A missing or invalid month, or an unknown format (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not an admin of this tenant, nor its client (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = []), ("client" = [])),
)]
/// A tenant's cost share for a month.
pub async fn tenant_costs(
    State(state): State<AppState>,
    reader: Reader,
    TenantPath(tenant): TenantPath,
    headers: HeaderMap,
    Query(params): Query<CostParams>,
) -> Result<Response, ApiError> {
    reader.check(&state, &tenant).await?;
    statement(&state, params, &headers, Some(&tenant)).await
}

//! `/v1/tenants/{tenantId}/domains`: the email domains a tenant claims, and
//! `/v1/discovery`: where an email address signs in.
//!
//! A claim starts unverified, with a DNS TXT challenge (`_cognate.{domain}` =
//! `cognate-verification={value}`) shown on every read until it is verified. The value is
//! public by nature (it is meant for DNS): it is derived from the master key, the tenant,
//! the domain and the claim's creation time, so each claim has its own and a claim made
//! again after a release gets a new one. `POST …/domains/{domain}/verify` looks the record
//! up in DNS (the tenant's admins and platform admins); with `{"method": "attest"}` a
//! platform admin vouches for the domain without a lookup. Only verified domains route
//! discovery and auto-join sign-ups.

use axum::extract::{FromRequestParts, State};
use axum::http::{StatusCode, request::Parts};
use axum::response::{IntoResponse, Response};
use cognate_core::tenant::{DomainName, EmailDomain, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{Caller, Need, tenant_not_found};
use super::error::{ApiError, ErrorBody};
use super::extract::{Json, OptionalJson, Query};
use super::paging::Page;
use super::tenants::TenantPath;
use crate::services::connections;
use crate::services::domains::{self, DomainError};
use crate::{AppState, tenancy};

/// Discovery's `idp` for addresses that sign in with the pool's own directory.
const COGNITO_IDP: &str = "cognito";

/// The DNS record that proves control of a domain.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerificationRecord {
    /// Always `TXT`.
    #[serde(rename = "type")]
    #[schema(example = "TXT")]
    kind: &'static str,
    /// `_cognate.{domain}`.
    name: String,
    /// `cognate-verification={value}`, the same on every read of this claim.
    value: String,
}

/// A domain claim as the API shows it. Times are epoch seconds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainView {
    domain: String,
    tenant_id: String,
    verified: bool,
    auto_join: bool,
    /// The record to publish while the domain is unverified; `null` once verified.
    verification_record: Option<VerificationRecord>,
    created_at: i64,
}

impl DomainView {
    /// The view of a stored claim, with its TXT record while it is unverified.
    fn new(state: &AppState, d: EmailDomain) -> Self {
        let verification_record = (!d.verified).then(|| {
            let record = domains::challenge_record(state, &d);
            VerificationRecord { kind: "TXT", name: record.name, value: record.value }
        });
        Self {
            domain: d.domain.to_string(),
            tenant_id: d.tenant_id.to_string(),
            verified: d.verified,
            auto_join: d.auto_join,
            verification_record,
            created_at: d.created_at.div_euclid(1000),
        }
    }
}

/// The `{tenant_id}/domains/{domain}` path. An invalid tenant id is 404 like an unknown
/// tenant; a value that is not a domain name cannot name a claim, so it is 404 too.
#[derive(IntoParams)]
#[into_params(names("tenant_id", "domain"), parameter_in = Path)]
pub struct DomainPath(
    /// The tenant's id, a slug such as `acme`.
    #[param(value_type = String)]
    pub TenantId,
    /// The domain name, such as `acme.com`.
    #[param(value_type = String)]
    pub DomainName,
);

impl<S: Send + Sync> FromRequestParts<S> for DomainPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (tenant, domain) = super::extract::tenant_and_segment(parts, state).await?;
        let domain = DomainName::parse(&domain).ok_or_else(domain_not_found)?;
        Ok(Self(tenant, domain))
    }
}

fn domain_not_found() -> ApiError {
    ApiError::not_found("The domain does not exist.")
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::TenantNotFound => tenant_not_found(),
            DomainError::InvalidName(raw) => ApiError::invalid_request(format!("{raw:?} is not a valid domain name.")),
            DomainError::ConsumerDomain(domain) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "consumer_domain",
                format!("{domain} is a consumer mail domain; a tenant cannot claim it."),
            ),
            DomainError::NotFound => domain_not_found(),
            DomainError::Claimed => ApiError::conflict("The domain is already claimed."),
            DomainError::RecordMissing { name } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "dns_record_missing",
                format!("DNS has no TXT record at {name}; publish the domain's verificationRecord and retry."),
            ),
            DomainError::RecordMismatch { name } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "dns_record_mismatch",
                format!(
                    "No TXT record at {name} holds this claim's value; publish the domain's verificationRecord and retry."
                ),
            ),
            DomainError::DnsUnavailable { name, cause } => {
                tracing::warn!(record = %name, cause = %cause, "domain DNS check: resolver failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "dns_unavailable",
                    format!("The DNS lookup of {name} failed or timed out; retry later."),
                )
            }
            DomainError::RateLimited(wait) => {
                ApiError::rate_limited(wait, "Too many DNS checks of this domain; retry later.")
            }
            e @ DomainError::Fault(_) => ApiError::internal(e),
            DomainError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateDomain {
    /// A DNS name (at most 253 characters, punycode for international names).
    #[schema(example = "acme.com", max_length = 253)]
    domain: String,
    /// Defaults to false.
    #[serde(default)]
    auto_join: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateDomain {
    auto_join: bool,
}

/// The optional body of `POST …/domains/{domain}/verify`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyDomain {
    /// Defaults to `dns`.
    #[serde(default)]
    method: VerifyMethod,
}

/// How a claim is verified.
#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerifyMethod {
    /// Look the claim's TXT record up in DNS (tenant admins and platform admins).
    #[default]
    Dns,
    /// A platform admin vouches for the domain; DNS is not asked.
    Attest,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiscoveryParams {
    /// The address to route, such as `ann@acme.com`.
    #[param(required = true, value_type = String)]
    email: Option<String>,
}

/// Where an address signs in. `tenantId` and `tenantName` are `null` for the shared pool.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryView {
    email: String,
    tenant_id: Option<String>,
    tenant_name: Option<String>,
    pool_id: String,
    client_id: String,
    issuer: String,
    /// `"cognito"` (sign in with the pool's own directory), or the tenant's SSO connection
    /// for this domain when it has an enabled one.
    idp: DiscoveryIdp,
}

/// How a discovered address signs in.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum DiscoveryIdp {
    /// Always `cognito`.
    #[schema(example = "cognito")]
    Cognito(String),
    /// The tenant's SSO connection routing this domain.
    Connection(ConnectionHint),
}

/// The SSO connection a discovered address signs in through.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionHint {
    connection_id: String,
    /// What the tenant calls it ("Okta").
    name: String,
    /// `OIDC` or `SAML`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// The provider's name in the pool.
    provider_name: String,
    /// Add to the authorization request (`/oauth2/authorize?…&identity_provider=…`) to
    /// go straight to the provider.
    #[schema(example = "identity_provider=conn-abcdefghijklmnopqrst")]
    authorize_hint: String,
}

/// An email address, lowercased, with its domain ([`cognate_core::tenant::email_address`]).
pub(super) fn email_address(raw: &str) -> Option<(String, DomainName)> {
    cognate_core::tenant::email_address(raw)
}

/// Claim an email domain for a tenant.
///
/// `POST /v1/tenants/{tenant_id}/domains`: claims a domain for the tenant, unverified,
/// and answers the TXT record to publish (every read shows it again until it is verified).
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/domains",
    operation_id = "createDomain",
    extensions(("x-audit-action" = json!("domain.add"))),
    tag = "domains",
    params(TenantPath),
    request_body = CreateDomain,
    responses(
        (status = 201, description = "The claim, unverified, with the TXT record to publish.", body = DomainView),
        (status = 400, description = "A malformed body or an invalid domain name (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
        (status = 409, description = "Another tenant already claims the domain (`conflict`).", body = ErrorBody),
        (status = 422, description = "A consumer mail domain, such as gmail.com (`consumer_domain`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(id): TenantPath,
    Json(req): Json<CreateDomain>,
) -> Result<Response, ApiError> {
    caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let claim = domains::add(&state, &id, &req.domain, req.auto_join).await?;
    Ok((StatusCode::CREATED, axum::Json(DomainView::new(&state, claim))).into_response())
}

/// List a tenant's domains.
///
/// `GET /v1/tenants/{tenant_id}/domains`: every claim of the tenant, ordered by domain, in
/// one page (a tenant has few domains).
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/domains",
    operation_id = "listDomains",
    tag = "domains",
    params(TenantPath),
    responses(
        (status = 200, description = "All of the tenant's claims, in one page (`nextCursor` is `null`).", body = Page<DomainView>),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant (`not_found`, answered to platform admins).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    TenantPath(id): TenantPath,
) -> Result<axum::Json<Page<DomainView>>, ApiError> {
    caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let rows = domains::list(&state, &id).await?;
    Ok(axum::Json(Page::all(rows.into_iter().map(|d| DomainView::new(&state, d)).collect())))
}

/// Read one domain claim.
///
/// `GET /v1/tenants/{tenant_id}/domains/{domain}`: the claim, with the TXT record to
/// publish while it is unverified (the console's domain page).
#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant_id}/domains/{domain}",
    operation_id = "getDomain",
    tag = "domains",
    params(DomainPath),
    responses(
        (status = 200, description = "The domain claim.", body = DomainView),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or the tenant does not claim this domain (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    DomainPath(id, domain): DomainPath,
) -> Result<axum::Json<DomainView>, ApiError> {
    caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let claim = domains::get(&state, &id, &domain).await?;
    Ok(axum::Json(DomainView::new(&state, claim)))
}

/// Turn auto-join on or off for a domain.
///
/// `PATCH /v1/tenants/{tenant_id}/domains/{domain}` `{"autoJoin": bool}`.
#[utoipa::path(
    patch,
    path = "/v1/tenants/{tenant_id}/domains/{domain}",
    operation_id = "updateDomain",
    extensions(("x-audit-action" = json!("domain.update"))),
    tag = "domains",
    params(DomainPath),
    request_body = UpdateDomain,
    responses(
        (status = 200, description = "The domain claim.", body = DomainView),
        (status = 400, description = "A malformed body (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or the tenant does not claim this domain (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    DomainPath(id, domain): DomainPath,
    Json(req): Json<UpdateDomain>,
) -> Result<axum::Json<DomainView>, ApiError> {
    caller.tenant(&state, &id, Need::TenantAdmin).await?;
    let claim = domains::set_auto_join(&state, &id, &domain, req.auto_join).await?;
    Ok(axum::Json(DomainView::new(&state, claim)))
}

/// Release a domain claim.
///
/// `DELETE /v1/tenants/{tenant_id}/domains/{domain}`: gives up the claim (`204`).
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/domains/{domain}",
    operation_id = "deleteDomain",
    extensions(("x-audit-action" = json!("domain.remove"))),
    tag = "domains",
    params(DomainPath),
    responses(
        (status = 204, description = "Released."),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or whose token is for another tenant (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or the tenant does not claim this domain (`not_found`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    DomainPath(id, domain): DomainPath,
) -> Result<StatusCode, ApiError> {
    caller.tenant(&state, &id, Need::TenantAdmin).await?;
    domains::release(&state, &id, &domain).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Verify a domain: look its TXT record up in DNS, or (platform admins) attest it.
///
/// `POST /v1/tenants/{tenant_id}/domains/{domain}/verify`, with no body or
/// `{"method": "dns"}` (the tenant's admins and platform admins): Cognate looks up the TXT
/// records at the claim's `verificationRecord.name` and verifies the claim when one of them
/// is its `verificationRecord.value`. A claim already verified is answered as it is. At most
/// 10 lookups per claim per minute (`429`). `{"method": "attest"}` (platform admins only):
/// the operator vouches that the tenant controls the domain, and DNS is not asked.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant_id}/domains/{domain}/verify",
    operation_id = "verifyDomain",
    extensions(("x-audit-action" = json!("domain.verify"))),
    tag = "domains",
    params(DomainPath),
    request_body(content = Option<VerifyDomain>, description = "Optional; `{\"method\": \"dns\"}` by default."),
    responses(
        (status = 200, description = "The domain claim, verified.", body = DomainView),
        (status = 400, description = "A malformed body or an unknown method (`invalid_request`).", body = ErrorBody),
        (status = 401, description = "No or invalid credentials (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A user who is not an admin of this tenant, or (`attest`) not a platform admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such tenant, or the tenant does not claim this domain (`not_found`).", body = ErrorBody),
        (status = 422, description = "DNS has no TXT record at the record name (`dns_record_missing`), or none with this claim's value (`dns_record_mismatch`).", body = ErrorBody),
        (status = 429, description = "Too many DNS checks of this domain (`rate_limited`, with `Retry-After`).", body = ErrorBody),
        (status = 503, description = "The DNS resolver failed or did not answer in time (`dns_unavailable`).", body = ErrorBody),
    ),
    security(("platform_admin" = []), ("user" = [])),
)]
pub async fn verify(
    State(state): State<AppState>,
    caller: Caller,
    DomainPath(id, domain): DomainPath,
    OptionalJson(req): OptionalJson<VerifyDomain>,
) -> Result<axum::Json<DomainView>, ApiError> {
    let claim = match req.unwrap_or_default().method {
        VerifyMethod::Dns => {
            let access = caller.tenant(&state, &id, Need::TenantAdmin).await?;
            domains::check_dns(&state, &id, &domain, &access.actor).await?
        }
        VerifyMethod::Attest => {
            let access = caller.tenant(&state, &id, Need::Platform).await?;
            domains::attest(&state, &id, &domain, &access.actor).await?
        }
    };
    Ok(axum::Json(DomainView::new(&state, claim)))
}

/// Find where an email address signs in.
///
/// `GET /v1/discovery?email=` (no credentials): the pool, client and issuer an address
/// signs in with. A verified domain of an active tenant routes to that tenant's placement;
/// anything else (unknown, unverified, suspended) to the shared pool. When the tenant has
/// an enabled SSO connection for the domain, `idp` names it (else it is `"cognito"`).
#[utoipa::path(
    get,
    path = "/v1/discovery",
    operation_id = "discover",
    tag = "discovery",
    params(DiscoveryParams),
    responses(
        (status = 200, description = "The pool, app client and issuer to sign in with.", body = DiscoveryView),
        (status = 400, description = "The `email` parameter is missing or not an address (`invalid_request`).", body = ErrorBody),
    ),
)]
pub async fn discovery(
    State(state): State<AppState>,
    Query(params): Query<DiscoveryParams>,
) -> Result<axum::Json<DiscoveryView>, ApiError> {
    let raw = params.email.ok_or_else(|| ApiError::invalid_request("The email parameter is required."))?;
    let (email, domain) =
        email_address(&raw).ok_or_else(|| ApiError::invalid_request("The email parameter is not a valid address."))?;
    let (tenant, pool) = domains::route(&state, &domain).await?;
    let connection = match &tenant {
        Some(t) => connections::for_domain(&state, t, &domain).await?,
        None => None,
    };
    let idp = match connection {
        Some(c) => DiscoveryIdp::Connection(ConnectionHint {
            authorize_hint: format!("identity_provider={}", c.provider_name),
            connection_id: c.id,
            name: c.name,
            kind: c.kind.as_str(),
            provider_name: c.provider_name,
        }),
        None => DiscoveryIdp::Cognito(COGNITO_IDP.to_owned()),
    };
    let (tenant_id, tenant_name) = tenant.map(|t| (t.id.to_string(), t.name)).unzip();
    let client_id = tenancy::default_client(&state, &pool).await?;
    Ok(axum::Json(DiscoveryView {
        email,
        tenant_id,
        tenant_name,
        client_id: client_id.to_string(),
        issuer: crate::services::tokens::issuer(&state, &pool),
        pool_id: pool.as_str().to_owned(),
        idp,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_addresses_are_lowercased_and_checked() {
        let (email, domain) = email_address("Ann@Acme.COM").unwrap();
        assert_eq!((email.as_str(), domain.as_str()), ("ann@acme.com", "acme.com"));
        for bad in ["", "ann", "@acme.com", "ann@", "a@b@acme.com", "an n@acme.com", "ann@acme", "ann@10.0.0.1"] {
            assert!(email_address(bad).is_none(), "{bad}");
        }
        let long = format!("{}@acme.com", "a".repeat(cognate_core::tenant::MAX_EMAIL_LEN));
        assert!(email_address(&long).is_none());
    }

    #[test]
    fn claims_refuse_invalid_and_consumer_domains() {
        let claimable = |raw: &str| domains::claimable(raw).map_err(ApiError::from);
        assert_eq!(claimable("Acme.com.").unwrap().as_str(), "acme.com");
        assert_eq!(claimable("not a domain").unwrap_err().status, StatusCode::BAD_REQUEST);
        let e = claimable("mail.GMAIL.com").unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::UNPROCESSABLE_ENTITY, "consumer_domain"));
    }
}

//! The OpenAPI 3.1 description of `/v1`, served at `GET /v1/openapi.json` without
//! credentials.
//!
//! Its paths come from `#[utoipa::path]` on each handler, registered together with the
//! handler's route by utoipa-axum's `routes!` in [`super::routes`], so a route cannot be
//! served undocumented or documented unserved. This module adds what no handler carries:
//! the document's info and tags, the two security schemes, and schemas for cognate-core's
//! word enums (which do not depend on utoipa).

use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get};
use cognate_core::tenant::{MembershipStatus, MfaRequirement, Role, TenantStatus, Tier};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::ApiError;
use crate::AppState;

/// The security scheme of platform admin credentials (`Bearer {accessKeyId}:{secret}`).
pub const PLATFORM_ADMIN: &str = "platform_admin";
/// The security scheme of users' access tokens.
pub const USER: &str = "user";
/// The security scheme of services verifying API keys: a confidential app client.
pub const CLIENT: &str = "client";

/// The document without paths; `routes!` adds each handler's path and schemas to it.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cognate tenancy API",
        version = env!("CARGO_PKG_VERSION"),
        description = "Cognate's control plane for B2B SaaS: tenants with tiers and placement, \
email domains, memberships with roles, invitations, and the active tenant carried in tokens.

Bodies are JSON and times are epoch seconds.

**Errors** answer `{\"error\": {\"code\": \"snake_case_code\", \"message\": \"…\"}}` (schema \
`ErrorBody`) with the HTTP status; a `401` carries `WWW-Authenticate: Bearer`. Codes include \
`invalid_request`, `unauthorized`, `forbidden`, `not_found`, `conflict`, `last_admin`, \
`consumer_domain`, `domain_not_verified`, `account_exists`, `invitation_not_pending`, `internal`.

**Pagination**: lists take `?limit=` (1 to 100, default 20) and `?cursor=` (the previous \
page's `nextCursor`, opaque and valid only for the list it came from) and answer \
`{\"items\": […], \"nextCursor\": \"…\" | null}`.

**Callers**: platform admins (`Bearer {accessKeyId}:{secretAccessKey}`) may do everything; \
users (`Bearer {accessToken}`) act in the tenant their token is for, with their current role \
there. A user gets `403` for any tenant they cannot act in, existing or not."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "tenants", description = "Tenants: tier and placement, suspension, MFA requirement."),
        (name = "domains", description = "Email domains a tenant claims, their verification and auto-join."),
        (name = "discovery", description = "Where an email address signs in; no credentials needed."),
        (name = "connections", description = "A tenant's SSO connections: its own OIDC or SAML identity provider, with the roles its people get."),
        (name = "members", description = "Memberships and roles (`admin`, `member`, `read_only`)."),
        (name = "invitations", description = "Invitations by email, and their acceptance."),
        (name = "me", description = "The calling user's tenants, and switching the active tenant."),
        (name = "api-keys", description = "Tenant API keys: lifecycle, verification by services, usage for billing."),
        (name = "audit", description = "The hash-chained audit trail of each tenant, and of the platform."),
        (name = "analytics", description = "Figures per tenant (sign-ins, tokens, monthly active users, API calls, MFA adoption) and each tenant's cost share for a month under the platform's price model."),
        (name = "webhooks", description = "Webhook endpoints (Standard Webhooks signatures), their delivery log and replays; per tenant and platform-wide."),
    )
)]
pub struct ApiDoc;

/// Declares the two bearer schemes the handlers' `security(...)` name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            PLATFORM_ADMIN,
            bearer(
                "{accessKeyId}:{secretAccessKey}",
                "A platform admin credential (`cognate admin-key create`); may do everything.",
            ),
        );
        components.add_security_scheme(
            CLIENT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A confidential app client (`client_id:client_secret`), as a resource server \
                         uses for the revocation feed; verifies API keys and reports their usage.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            USER,
            bearer(
                "JWT",
                "An access token Cognate issued; the user acts in the token's tenant \
                 (`custom:tenantId`) with their current role there.",
            ),
        );
    }
}

/// `GET /v1/openapi.json`: `api` serialized once, when the router is built.
pub fn serve(api: &utoipa::openapi::OpenApi) -> MethodRouter<AppState> {
    let doc = serde_json::to_vec(api).map(Bytes::from).map_err(|e| e.to_string());
    get(move || {
        let doc = doc.clone();
        async move {
            match doc {
                Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
                Err(e) => ApiError::internal(format!("cannot serialize the OpenAPI document: {e}")).into_response(),
            }
        }
    })
}

/// The state of an API key.
pub fn key_status() -> Object {
    use cognate_core::apikey::KeyStatus;
    let _exhaustive = |v: KeyStatus| match v {
        KeyStatus::Active | KeyStatus::Rotating | KeyStatus::Rotated | KeyStatus::Revoked | KeyStatus::Expired => (),
    };
    words(
        "The key's state: `rotating` keys were replaced and work until `graceUntil`.",
        &["active", "rotating", "rotated", "revoked", "expired"],
    )
}

/// A string schema that admits only `words`.
fn words(description: &str, words: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.iter().copied()))
        .description(Some(description))
        .build()
}

/// Schema functions (`#[schema(schema_with = …)]`) for the core's `word_enum!` types, which
/// serialize as their `as_str()` word. The exhaustive `match` makes a variant added in
/// cognate-core a compile error here instead of a value missing from the document.
macro_rules! word_schema {
    ($(#[doc = $doc:literal])+ $fn:ident: $ty:ident { $($variant:ident),+ $(,)? }) => {
        $(#[doc = $doc])+
        pub fn $fn() -> Object {
            let _exhaustive = |v: $ty| match v {
                $($ty::$variant)|+ => (),
            };
            words(concat!($($doc),+).trim(), &[$($ty::$variant.as_str()),+])
        }
    };
}

word_schema!(
    /// The tenant's tier: basic and standard tenants share a pool, platinum ones get a dedicated pool.
    tier: Tier { Basic, Standard, Platinum }
);
word_schema!(
    /// Whether the tenant's users may sign in to it.
    tenant_status: TenantStatus { Active, Suspended }
);
word_schema!(
    /// Which of the tenant's users must use MFA: nobody, members with the `admin` role, or all.
    mfa: MfaRequirement { Off, Admins, All }
);
word_schema!(
    /// A role in a tenant, mirrored as the pool group `{tenantId}-{role}`.
    role: Role { Admin, Member, ReadOnly }
);
word_schema!(
    /// A membership's state; a removed membership no longer gives access.
    membership_status: MembershipStatus { Active, Removed }
);

/// The placement of a tenant (`TenantView.placement`).
pub fn placement() -> Object {
    words(
        "`shared` (basic, standard) or `dedicated` (platinum): the pool the tenant's users live in.",
        &["shared", "dedicated"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_schemas_list_the_serialized_words() {
        let json = |o: Object| serde_json::to_value(o).unwrap();
        assert_eq!(json(role())["enum"], serde_json::json!(["admin", "member", "read_only"]));
        assert_eq!(json(tier())["enum"], serde_json::json!(["basic", "standard", "platinum"]));
        assert_eq!(json(tier())["type"], "string");
        assert!(json(mfa())["description"].as_str().unwrap().starts_with("Which of"));
        // The words are the serde names, not the variant names.
        assert_eq!(serde_json::to_value(Role::ReadOnly).unwrap(), "read_only");
    }
}

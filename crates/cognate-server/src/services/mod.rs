//! Surface-neutral application services: the rules every surface (the Cognito API, `/v1`,
//! OAuth, and next the hosted login pages, federation callbacks and consoles) shares. A
//! service takes plain request values, returns typed outcomes and typed errors, and knows
//! nothing of HTTP, JSON or any surface's error names; each surface parses its input, calls
//! one service and maps the answer to its own shape. The code that acts also notes what
//! the audit trail needs ([`crate::facts`]).
//!
//! - [`sign_in`]: the sign-in state machine (password, challenges, MFA, tenant pick,
//!   brute-force counters).
//! - [`authorize`]: browser sign-in for OAuth: authorization requests, the hosted
//!   login's browser sessions, authorization codes and their exchange.
//! - [`tokens`]: issuing, refreshing (rotation, reuse), verifying, introspecting and
//!   revoking tokens; switching a session's tenant; signing out everywhere.
//! - [`sessions`]: a user's sessions (live token families) listed and revoked one by one;
//!   [`session_config`]: session tracking (sessions per user, the SSO session bound).
//! - [`client_tokens`]: machine tokens (the `client_credentials` grant and GetClientToken).
//! - [`accounts`]: one-time codes (where they go, stored, sent, checked) and password
//!   recovery.
//! - [`mfa`]: software token enrolment and the user's MFA preference; [`devices`]:
//!   remembered devices; [`passkeys`]: WebAuthn passkeys (registration, listing, the two
//!   halves of an assertion).
//! - [`users`]: finding users by any sign-in name; saving, disabling, deleting them, with
//!   typed conflicts on sign-in names.
//! - [`members`]: invitations and memberships (join, roles, the last admin, removal), and
//!   what a user needs to act in a tenant.
//! - [`tenants`]: tenants (create, rename, MFA policy, suspend, delete, tier moves).
//! - [`domains`]: email domains a tenant claims, and where an address signs in.
//! - [`api_keys`]: tenant API keys (lifecycle, field rules, verification, usage metering).
//! - [`tenant_clients`]: machine app clients a tenant owns (their tokens carry the tenant).
//! - [`connections`]: tenants' SSO connections (their OIDC or SAML providers) and the
//!   membership a federated sign-in through one gets (JIT, role mapping).
//! - [`pools`], [`clients`], [`groups`], [`resource_servers`]: the user-pool directory;
//!   [`pool_domains`]: the host names a pool's hosted login answers at; [`branding`]: its
//!   CSS and logo; [`managed_login`]: its managed login branding styles (settings and
//!   assets per app client); [`terms`]: the terms documents its sign-up page links to.
//! - [`user_imports`]: bulk user import jobs (the CSV upload URL, the background worker).
//! - [`admins`]: platform admin credentials (checked, created, listed, revoked);
//!   [`signing_keys`]: pools' token signing keys (listed, rotated, retired).

pub mod access;
pub mod accounts;
pub mod admins;
pub mod analytics;
pub mod api_keys;
pub mod audit_trail;
pub mod auth_events;
pub mod authorize;
pub mod branding;
pub mod client_tokens;
pub mod clients;
pub mod connections;
pub mod console;
pub mod devices;
pub mod domains;
pub mod federation;
pub mod federation_saml;
pub mod groups;
pub mod identity_providers;
pub mod managed_login;
pub mod members;
pub mod mfa;
pub mod passkeys;
pub mod pool_domains;
pub mod pools;
pub mod resource_servers;
pub mod session_config;
pub mod sessions;
pub mod sign_in;
pub mod signing_keys;
pub mod tenant_clients;
pub mod tenants;
pub mod terms;
pub mod tokens;
pub mod user_imports;
pub mod users;
pub mod webhooks;

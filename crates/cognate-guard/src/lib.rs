//! `cognate-guard`: the resource-server side of Cognate. Put a [`GuardLayer`] in front of
//! axum handlers and they receive a verified [`TenantContext`] for every request.
//!
//! Verifies RS256 JWTs issued by Cognate or Amazon Cognito user pools, secure by default:
//! issuers and accepted clients are required ([`dangerous`] holds the opt-outs), only
//! allowlisted RSA algorithms are accepted, `iss` is checked before any key lookup, keys come
//! only from the issuer's configured JWKS URL (never from `jku`/`x5u`/`jwk`), and `exp`,
//! `nbf`, `iat`, `token_use` and the client are checked. Optional revocation feeds let it
//! refuse revoked tokens before `exp`.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use cognate_guard::{Guard, GuardConfig, GuardLayer, Issuer, TenantContext};
//! let guard = Guard::new(
//!     GuardConfig::new().issuer(Issuer::cognate("https://auth.example.com", "local_abc").client_ids(["app"])),
//! )?;
//! guard.hydrate().await?;
//! let _refresh = guard.spawn_refresh();
//! let app: axum::Router = axum::Router::new()
//!     .route("/me", axum::routing::get(|ctx: TenantContext| async move { ctx.tenant_id.unwrap_or_default() }))
//!     .layer(GuardLayer::new(guard));
//! # let _ = app; Ok(()) }
//! ```
//!
//! API keys (`X-API-Key: cog_…`) are verified by [`CognateApiKeys`] when installed with
//! [`GuardLayer::api_keys`]: shape and checksum locally, then Cognate's verify endpoint,
//! with answers cached (a revoked key may pass for up to `cache_ttl`, 30 s by default;
//! refusals are cached for `negative_ttl`, 10 s), per-key rate limits enforced in this
//! process (429 with `Retry-After`), and usage counted in memory and flushed to Cognate every
//! `flush_interval` and on [`CognateApiKeys::flush`] — call it on graceful shutdown, or the
//! counts since the last flush are lost. Details on [`CognateApiKeys`].
//!
//! With the `sqlx` feature, [`TenantTx`] hands handlers a database transaction already
//! scoped to the caller's tenant (PostgreSQL row-level security), and [`TenantPool`] refuses
//! at start-up a connection role that could bypass it.
//!
//! This crate depends on no other Cognate crate.

mod apikeys;
mod cache;
pub mod clock;
mod config;
mod context;
mod error;
mod guard;
mod http;
mod jose;
mod jwks;
mod layer;
mod revocation;
#[cfg(feature = "sqlx")]
mod tenant_tx;

pub use apikeys::{ApiKeyConfig, CognateApiKeys};
pub use config::{Algorithm, ConfigError, GuardConfig, Issuer, TokenUse, dangerous};
pub use context::{Principal, TenantContext};
pub use error::{ApiKeyRefusal, FetchError, VerifyError};
pub use guard::Guard;
pub use jwks::{HttpJwksSource, JwksSource, MAX_JWKS_BYTES};
pub use layer::{
    API_KEY_HEADER, ApiKeyVerifier, AuthRejection, Authenticated, GuardFuture, GuardLayer, GuardService, Name,
    RequireRole, RequireScope,
};
#[cfg(feature = "sqlx")]
pub use tenant_tx::{
    RlsCheckError, TenantDatabase, TenantPool, TenantScope, TenantTx, TenantTxRejection, check_rls_role,
};

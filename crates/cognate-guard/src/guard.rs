//! [`Guard`]: verifies a JWT against the configured issuers, in an order that never lets
//! an unauthenticated part of the token choose what is trusted.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use serde_json::{Map, Value};
use tokio::task::JoinHandle;

use crate::cache::{Entry, TokenCache};
use crate::config::{ConfigError, GuardConfig, TokenUse};
use crate::context::TenantContext;
use crate::error::{FetchError, VerifyError};
use crate::jose;
use crate::jwks::{HttpJwksSource, JwksSource, KeyStore};
use crate::revocation::{RevocationKey, Revocations};

/// A token verifier for one or more issuers; cheap to clone (shared state).
///
/// Verification order: length, three strict base64url parts, header JSON without duplicate
/// members, `alg` in the allowlist and no `jku`/`x5u`/`x5c`/`jwk`/`crit`/`zip`, payload JSON
/// without duplicate members, `iss` a configured issuer (before any key lookup), the key by
/// `kid` from that issuer's JWKS only, the signature, `exp` (required) / `nbf` / `iat`
/// with leeway, `token_use`, the client (`client_id` or `aud`), then revocation.
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

struct Inner {
    config: GuardConfig,
    by_issuer: HashMap<String, usize>,
    keys: KeyStore,
    cache: TokenCache,
    revocations: Vec<Option<Revocations>>,
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard fetching JWKS over HTTP(S). Fails if the config is not secure and complete.
    pub fn new(config: GuardConfig) -> Result<Self, ConfigError> {
        let source = HttpJwksSource::new(config.http_timeout)?;
        Self::with_source(config, Arc::new(source))
    }

    /// A guard taking keys from `source` (tests, or keys shipped another way).
    pub fn with_source(config: GuardConfig, source: Arc<dyn JwksSource>) -> Result<Self, ConfigError> {
        config.validate()?;
        let by_issuer = config.issuers.iter().enumerate().map(|(i, iss)| (iss.issuer.clone(), i)).collect();
        let keys = KeyStore::new(
            config.issuers.iter().map(|i| i.jwks_url.clone()).collect(),
            source,
            Arc::clone(&config.clock),
            config.algorithms.clone(),
            config.min_refresh_interval_secs,
            config.unknown_kid_penalty_secs,
        );
        let revocations: Vec<Option<Revocations>> =
            config.issuers.iter().map(|i| i.revocation.clone().map(Revocations::new)).collect();
        let http = match revocations.iter().any(Option::is_some) {
            true => Some(crate::http::client(config.http_timeout)?),
            false => None,
        };
        let cache = TokenCache::new(config.cache_capacity);
        Ok(Self { inner: Arc::new(Inner { config, by_issuer, keys, cache, revocations, http }) })
    }

    /// Fetches every issuer's JWKS (concurrently); call once at start-up so the first
    /// requests do not wait on a fetch. Returns the first failure; the other issuers are
    /// still loaded.
    pub async fn hydrate(&self) -> Result<(), FetchError> {
        let tasks: Vec<_> = (0..self.inner.keys.issuers.len())
            .map(|i| {
                let guard = self.clone();
                tokio::spawn(async move { guard.inner.keys.refresh(i).await })
            })
            .collect();
        let mut first_error = Ok(());
        for task in tasks {
            if let (Ok(Err(e)), true) = (task.await, first_error.is_ok()) {
                first_error = Err(e);
            }
        }
        first_error
    }

    /// Spawns a task refetching every JWKS each `refresh_interval` (default 15 min). It
    /// ends by itself once every clone of the guard is dropped.
    pub fn spawn_refresh(&self) -> JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.config.refresh_interval;
        spawn_periodic(weak, every, |inner| async move {
            for i in 0..inner.keys.issuers.len() {
                let _ = inner.keys.refresh(i).await;
            }
        })
    }

    /// Reads every configured revocation feed once. Returns the first failure.
    pub async fn poll_revocations(&self) -> Result<(), FetchError> {
        poll_all(&self.inner).await
    }

    /// Spawns a task polling the revocation feeds each `revocation_poll_interval`
    /// (default 30 s): the bound on how long a revoked token can still pass. Ends once
    /// every clone of the guard is dropped.
    pub fn spawn_revocation_poller(&self) -> JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.config.revocation_poll_interval;
        spawn_periodic(weak, every, |inner| async move {
            if let Err(e) = poll_all(&inner).await {
                tracing::warn!(error = %e, "revocation feed poll failed");
            }
        })
    }

    /// Verified tokens currently cached.
    pub fn cached_tokens(&self) -> usize {
        self.inner.cache.len()
    }

    /// Verifies `token` and returns its caller's context.
    pub async fn verify(&self, token: &str) -> Result<Arc<TenantContext>, VerifyError> {
        if let Some(verdict) = self.cached(token.as_bytes()) {
            return verdict;
        }
        let now = self.inner.config.clock.now_secs();
        let entry = self.verify_uncached(token, now).await?;
        let ctx = Arc::clone(&entry.ctx);
        if let Some((key, _)) = TokenCache::key(token.as_bytes()) {
            self.inner.cache.insert(key, entry, now);
        }
        Ok(ctx)
    }

    /// The verdict on `token` when it needs no waiting: too large, or verified before and
    /// still remembered (then checked again for expiry, key removal and revocation).
    /// `None`: it must be verified in full ([`Guard::verify`]). Takes the raw bytes: a hit
    /// is byte for byte a token that was checked in full, so nothing else need be checked.
    pub(crate) fn cached(&self, token: &[u8]) -> Option<Result<Arc<TenantContext>, VerifyError>> {
        let inner = &*self.inner;
        if token.len() > inner.config.max_token_len {
            return Some(Err(VerifyError::TooLarge));
        }
        let now = inner.config.clock.now_secs();
        let (key, signing_input) = TokenCache::key(token)?;
        let hit = inner.cache.get(&key, signing_input, now)?;
        if inner.keys.issuers.get(hit.issuer).is_none_or(|k| k.epoch() != hit.epoch) {
            return None;
        }
        let rkey = RevocationKey { sub: hit.sub.as_deref(), origin_jti: hit.origin_jti.as_deref(), iat: hit.iat };
        if inner.is_revoked(hit.issuer, &rkey) {
            return Some(Err(VerifyError::Revoked));
        }
        Some(Ok(Arc::clone(&hit.ctx)))
    }

    async fn verify_uncached(&self, token: &str, now: i64) -> Result<Entry, VerifyError> {
        let inner = &*self.inner;
        let config = &inner.config;
        let parsed = jose::parse(token, config.max_token_len, &config.algorithms)?;
        let claims = parsed.claims;
        let iss = claims.get("iss").and_then(Value::as_str).ok_or(VerifyError::UnknownIssuer)?;
        let idx = *inner.by_issuer.get(iss).ok_or(VerifyError::UnknownIssuer)?;
        let issuer = &config.issuers[idx];
        let keys = &inner.keys.issuers[idx];
        // Read before the key: if a key is dropped meanwhile, the entry is born stale.
        let epoch = keys.epoch();
        let key = inner.keys.key(idx, &parsed.kid).await?;
        key.verify(parsed.alg, parsed.signing_input, &parsed.signature)?;

        let leeway = config.leeway_secs;
        let exp = int_claim(&claims, "exp")?.ok_or(VerifyError::MissingClaim)?;
        if now >= exp.saturating_add(leeway) {
            return Err(VerifyError::Expired);
        }
        if int_claim(&claims, "nbf")?.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
            return Err(VerifyError::NotYetValid);
        }
        let iat = int_claim(&claims, "iat")?;
        if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(VerifyError::IssuedInFuture);
        }
        let token_use = match (claims.get("token_use").and_then(Value::as_str), issuer.token_use) {
            (Some("access"), TokenUse::Access | TokenUse::Both) => TokenUse::Access,
            (Some("id"), TokenUse::Id | TokenUse::Both) => TokenUse::Id,
            _ => return Err(VerifyError::WrongTokenUse),
        };
        if !issuer.any_client && !client_accepted(&claims, token_use, &issuer.client_ids) {
            return Err(VerifyError::WrongClient);
        }
        let string = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        let (sub, origin_jti) = (string("sub"), string("origin_jti"));
        let rkey = RevocationKey { sub: sub.as_deref(), origin_jti: origin_jti.as_deref(), iat };
        if inner.is_revoked(idx, &rkey) {
            return Err(VerifyError::Revoked);
        }
        let signing_input = String::from_utf8_lossy(parsed.signing_input).into();
        let ctx = Arc::new(TenantContext::from_claims(claims, token_use)?);
        Ok(Entry { ctx, signing_input, exp, issuer: idx, epoch, sub, origin_jti, iat })
    }
}

impl Inner {
    fn is_revoked(&self, issuer: usize, key: &RevocationKey<'_>) -> bool {
        self.revocations.get(issuer).and_then(Option::as_ref).is_some_and(|r| r.is_revoked(key))
    }
}

/// A numeric date claim: absent is `None`, anything but an integer is malformed.
fn int_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or(VerifyError::MissingClaim),
    }
}

/// Access tokens name their client in `client_id`, ID tokens in `aud` (a string or an
/// array, any element of which may match).
fn client_accepted(
    claims: &Map<String, Value>,
    token_use: TokenUse,
    accepted: &std::collections::HashSet<String>,
) -> bool {
    match token_use {
        TokenUse::Id => match claims.get("aud") {
            Some(Value::String(aud)) => accepted.contains(aud),
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str().is_some_and(|a| accepted.contains(a))),
            _ => false,
        },
        _ => claims.get("client_id").and_then(Value::as_str).is_some_and(|c| accepted.contains(c)),
    }
}

async fn poll_all(inner: &Inner) -> Result<(), FetchError> {
    let Some(client) = &inner.http else { return Ok(()) };
    let config = &inner.config;
    let mut first_error = Ok(());
    for feed in inner.revocations.iter().flatten() {
        let now = config.clock.now_secs();
        let result = feed.poll(client, now, config.max_token_lifetime_secs, config.max_revocations).await;
        if let (Err(e), true) = (result, first_error.is_ok()) {
            first_error = Err(e);
        }
    }
    first_error
}

fn spawn_periodic<F, Fut>(weak: Weak<Inner>, every: std::time::Duration, run: F) -> JoinHandle<()>
where
    F: Fn(Arc<Inner>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            let Some(inner) = weak.upgrade() else { return };
            run(inner).await;
        }
    })
}

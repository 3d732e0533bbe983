//! [`CognateApiKeys`]: verifies `X-API-Key` values against Cognate, caching the answers.
//!
//! See [`CognateApiKeys`].

mod cache;
mod config;
mod format;
mod usage;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use secrecy::ExposeSecret as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use self::cache::{KeyCache, ValidKey, Verdict};
use self::format::Digest;
use self::usage::{RateLimit, UsageBook};
use crate::config::ConfigError;
use crate::context::{Principal, TenantContext};
use crate::error::{ApiKeyRefusal, FetchError, VerifyError};
use crate::layer::ApiKeyVerifier;

pub use self::config::ApiKeyConfig;

/// Largest verify answer read, in bytes.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Usage items sent per request (Cognate takes at most 1,000).
const USAGE_BATCH: usize = 1000;
/// Largest count Cognate takes in one usage item; more waits for the next flush.
const MAX_ITEM_COUNT: u64 = 1_000_000_000;

/// Verifies Cognate API keys; install with [`crate::GuardLayer::api_keys`]. Cheap to clone
/// (shared state).
///
/// A key (`cog_` + 40 base62 characters + a 6-character CRC-32 checksum) goes through:
///
/// 1. **Shape and checksum**, locally. A mistyped or made-up key is refused
///    ([`ApiKeyRefusal::Malformed`]) without any network call.
/// 2. **The cache**, keyed by the key's SHA-256 (the plaintext is never kept). A valid key is
///    remembered for `cache_ttl` (default 30 s) but never past its `expiresAt`, which is also
///    enforced locally. **`cache_ttl` is the staleness bound**: a key revoked, rotated past its
///    grace period, or whose tenant was suspended, can still be accepted by this process for
///    up to `cache_ttl` after the change. A refused key (`unknown_key`, `revoked`, …) is
///    remembered for `negative_ttl` (default 10 s), so repeating a bad key costs nothing, and a
///    key refused once becomes usable at most `negative_ttl` later. The cache holds at most
///    about `max_entries` verdicts; when full, stale entries go first, then refusals, then
///    the valid key that would have been re-checked soonest.
/// 3. **A miss** asks `POST {base_url}/v1/api-keys/verify` once (concurrent misses of the same
///    key share one request), authenticated with HTTP Basic as a confidential Cognate app
///    client. If Cognate cannot answer (network, 401 for these credentials, 5xx), the request
///    is refused ([`VerifyError::ApiKeyVerifierUnavailable`]) and nothing is cached.
/// 4. **The rate limit** of the key (`rateLimit` in Cognate's answer), enforced **per
///    process** with fixed windows aligned on the epoch: N processes behind a load balancer
///    together admit up to N times the limit. Over it, [`VerifyError::RateLimited`], which
///    [`crate::GuardLayer`] answers with 429 and `Retry-After`.
/// 5. **Usage**: each accepted request adds one to the key's count in memory (an atomic).
///    [`CognateApiKeys::flush`] sends the counts with `POST {base_url}/v1/api-keys/usage`;
///    [`CognateApiKeys::spawn_flusher`] does so every `flush_interval` (default 10 s). A failed
///    flush keeps its counts for the next one; a successful one sends each count once. Counts
///    since the last flush are lost if the process dies, so call `flush` on graceful shutdown.
///    (A flush whose answer is lost after Cognate applied it is retried, and then counted
///    twice: usage is for reporting, not billing-grade.)
///
/// The caller's [`TenantContext`]: `tenant_id` is the key's tenant, the principal
/// [`crate::Principal::ApiKey`] with the key id, no role, the key's scopes, no groups, and
/// claims `tenantId`, `keyId`, `scope` (space-separated, so [`crate::RequireScope`] works),
/// `name`, and `serviceAccount` / `expiresAt` when set.
///
/// ```no_run
/// # async fn run(guard: cognate_guard::Guard) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use cognate_guard::{ApiKeyConfig, CognateApiKeys, GuardLayer};
/// let keys = CognateApiKeys::new(ApiKeyConfig::new(
///     "https://auth.example.com",
///     "verifier-client-id",
///     std::env::var("VERIFIER_SECRET")?.into(),
/// ))?;
/// let _flusher = keys.spawn_flusher();
/// let layer = GuardLayer::new(guard).api_keys(Arc::new(keys.clone()));
/// // … serve with `layer`; on graceful shutdown:
/// keys.flush().await?;
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct CognateApiKeys {
    inner: Arc<Inner>,
}

struct Inner {
    config: ApiKeyConfig,
    verify_url: String,
    usage_url: String,
    http: reqwest::Client,
    cache: KeyCache,
    usage: UsageBook,
    /// One verify request per key at a time; waiters share its outcome.
    inflight: Mutex<HashMap<Digest, Arc<OnceCell<Outcome>>>>,
}

/// What one verify request concluded.
#[derive(Clone)]
enum Outcome {
    Valid(Arc<ValidKey>),
    Refused(ApiKeyRefusal),
    Unavailable,
}

impl std::fmt::Debug for CognateApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CognateApiKeys").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl CognateApiKeys {
    /// A verifier for `config`. Fails if the base URL is not http(s), the client id is empty,
    /// or the HTTP client cannot be built. Makes no request.
    pub fn new(config: ApiKeyConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let http = crate::http::client(config.http_timeout)?;
        let inner = Inner {
            verify_url: format!("{}/v1/api-keys/verify", config.base_url),
            usage_url: format!("{}/v1/api-keys/usage", config.base_url),
            http,
            cache: KeyCache::new(config.max_entries),
            usage: UsageBook::default(),
            inflight: Mutex::new(HashMap::new()),
            config,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Verifies `key` and returns its caller's context (what the layer calls).
    pub async fn verify(&self, key: &str) -> Result<Arc<TenantContext>, VerifyError> {
        if !format::well_formed(key) {
            return Err(VerifyError::ApiKeyRefused(ApiKeyRefusal::Malformed));
        }
        let digest = format::digest(key);
        let now = self.inner.config.clock.now_secs();
        let hit = self.inner.cache.with(&digest, |verdict| match verdict {
            Verdict::Valid(valid) if now < valid.fresh_until || expired(valid, now) => Some(admit(valid, now)),
            Verdict::Refused { code, until } if now < *until => Some(Err(VerifyError::ApiKeyRefused(*code))),
            _ => None,
        });
        match hit.flatten() {
            Some(answer) => answer,
            // Boxed so the cached path's future stays small.
            None => Box::pin(self.verify_miss(key, digest)).await,
        }
    }

    async fn verify_miss(&self, key: &str, digest: Digest) -> Result<Arc<TenantContext>, VerifyError> {
        let inner = &*self.inner;
        let cell = {
            let mut inflight = inner.inflight.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(inflight.entry(digest).or_default())
        };
        let _done = InflightDone { inflight: &inner.inflight, digest, cell: &cell };
        let outcome = cell.get_or_init(|| inner.fetch(key, digest)).await.clone();
        match outcome {
            Outcome::Valid(valid) => admit(&valid, inner.config.clock.now_secs()),
            Outcome::Refused(code) => Err(VerifyError::ApiKeyRefused(code)),
            Outcome::Unavailable => Err(VerifyError::ApiKeyVerifierUnavailable),
        }
    }

    /// Sends every usage count gathered since the last successful flush; sends nothing (and
    /// makes no request) when there is none. On failure the counts not acknowledged are kept
    /// for the next flush. Call it on graceful shutdown: counts gathered since the last flush
    /// are otherwise lost with the process.
    pub async fn flush(&self) -> Result<(), FetchError> {
        let inner = &*self.inner;
        let mut taken = inner.usage.take();
        for (usage, count) in &mut taken {
            if *count > MAX_ITEM_COUNT {
                usage.restore(*count - MAX_ITEM_COUNT);
                *count = MAX_ITEM_COUNT;
            }
        }
        let mut rest = taken.as_slice();
        while !rest.is_empty() {
            let (batch, after) = rest.split_at(rest.len().min(USAGE_BATCH));
            let items: Vec<Value> = batch
                .iter()
                .map(|(usage, count)| {
                    json!({
                        "tenantId": usage.tenant_id, "keyId": usage.key_id,
                        "count": count, "lastUsedAt": usage.last_used(),
                    })
                })
                .collect();
            let body = serde_json::to_vec(&json!({ "items": items })).unwrap_or_default();
            if let Err(e) =
                crate::http::post_json(&inner.http, &inner.usage_url, inner.basic(), body, MAX_ANSWER_BYTES).await
            {
                for (usage, count) in rest {
                    usage.restore(*count);
                }
                return Err(e);
            }
            rest = after;
        }
        Ok(())
    }

    /// Spawns a task calling [`CognateApiKeys::flush`] every `flush_interval` (default 10 s),
    /// logging failures. It ends by itself once every clone of the verifier is dropped —
    /// without a last flush, so call `flush` yourself on shutdown.
    pub fn spawn_flusher(&self) -> JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.config.flush_interval;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = (Self { inner }).flush().await {
                    tracing::warn!(error = %e, "API-key usage flush failed; the counts are kept for the next one");
                }
            }
        })
    }

    /// Key verdicts currently cached (valid and refused).
    pub fn cached_keys(&self) -> usize {
        self.inner.cache.len()
    }

    /// Keys with usage records (pending counts or a cached verdict).
    pub fn tracked_keys(&self) -> usize {
        self.inner.usage.len()
    }
}

#[async_trait]
impl ApiKeyVerifier for CognateApiKeys {
    async fn verify(&self, key: &str) -> Result<Arc<TenantContext>, VerifyError> {
        CognateApiKeys::verify(self, key).await
    }
}

fn expired(valid: &ValidKey, now: i64) -> bool {
    valid.expires_at.is_some_and(|at| now >= at)
}

/// The answer for a valid key at `now`: expired, over its rate limit, or admitted (counted).
fn admit(valid: &ValidKey, now: i64) -> Result<Arc<TenantContext>, VerifyError> {
    if expired(valid, now) {
        return Err(VerifyError::ApiKeyRefused(ApiKeyRefusal::Expired));
    }
    valid
        .usage
        .admit(valid.rate_limit, now)
        .map_err(|retry_after_secs| VerifyError::RateLimited { retry_after_secs })?;
    Ok(Arc::clone(&valid.ctx))
}

/// Removes a finished (or abandoned) verify request from the in-flight map, unless a newer
/// one replaced it.
struct InflightDone<'a> {
    inflight: &'a Mutex<HashMap<Digest, Arc<OnceCell<Outcome>>>>,
    digest: Digest,
    cell: &'a Arc<OnceCell<Outcome>>,
}

impl Drop for InflightDone<'_> {
    fn drop(&mut self) {
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if inflight.get(&self.digest).is_some_and(|c| Arc::ptr_eq(c, self.cell)) {
            inflight.remove(&self.digest);
        }
    }
}

/// `POST /v1/api-keys/verify`'s answer. Unknown fields are ignored so Cognate can add some.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerifyAnswer {
    valid: bool,
    code: Option<String>,
    key_id: Option<String>,
    tenant_id: Option<String>,
    name: Option<String>,
    scopes: Option<Vec<String>>,
    service_account: Option<String>,
    expires_at: Option<i64>,
    rate_limit: Option<WireRateLimit>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireRateLimit {
    requests: u32,
    per_seconds: u32,
}

impl Inner {
    fn basic(&self) -> (&str, &str) {
        (&self.config.client_id, self.config.client_secret.expose_secret())
    }

    /// Asks Cognate about `key` and caches the verdict (failures are not cached).
    async fn fetch(&self, key: &str, digest: Digest) -> Outcome {
        let answer = match self.ask(key).await {
            Ok(answer) => answer,
            Err(e) => {
                tracing::warn!(error = %e, "API-key verification failed; refusing the request");
                return Outcome::Unavailable;
            }
        };
        let now = self.config.clock.now_secs();
        if !answer.valid {
            let code = answer.code.as_deref().map_or(ApiKeyRefusal::Unrecognized, ApiKeyRefusal::from_code);
            let until = now.saturating_add(self.config.negative_ttl_secs);
            self.cache.insert(digest, Verdict::Refused { code, until }, now);
            return Outcome::Refused(code);
        }
        let (Some(key_id), Some(tenant_id)) = (answer.key_id, answer.tenant_id) else {
            tracing::warn!(url = %self.verify_url, "API-key verify answer without keyId or tenantId; refusing");
            return Outcome::Unavailable;
        };
        let scopes = answer.scopes.unwrap_or_default();
        let mut claims = Map::new();
        claims.insert("tenantId".into(), json!(tenant_id));
        claims.insert("keyId".into(), json!(key_id));
        claims.insert("scope".into(), json!(scopes.join(" ")));
        claims.insert("name".into(), json!(answer.name.unwrap_or_default()));
        if let Some(account) = answer.service_account {
            claims.insert("serviceAccount".into(), json!(account));
        }
        if let Some(at) = answer.expires_at {
            claims.insert("expiresAt".into(), json!(at));
        }
        let usage = self.usage.key(&tenant_id, &key_id);
        let ctx = TenantContext {
            tenant_id: Some(tenant_id),
            principal: Principal::ApiKey { id: key_id },
            role: None,
            scopes,
            groups: Vec::new(),
            claims: Arc::new(claims),
        };
        let fresh_until = now.saturating_add(self.config.cache_ttl_secs).min(answer.expires_at.unwrap_or(i64::MAX));
        let valid = Arc::new(ValidKey {
            ctx: Arc::new(ctx),
            fresh_until,
            expires_at: answer.expires_at,
            rate_limit: answer
                .rate_limit
                .map(|r| RateLimit { requests: r.requests, per_seconds: r.per_seconds.max(1) }),
            usage,
        });
        self.cache.insert(digest, Verdict::Valid(Arc::clone(&valid)), now);
        Outcome::Valid(valid)
    }

    async fn ask(&self, key: &str) -> Result<VerifyAnswer, FetchError> {
        // `countUsage: false`: this guard counts and flushes usage itself.
        let body = serde_json::to_vec(&json!({ "key": key, "countUsage": false })).unwrap_or_default();
        let bytes = crate::http::post_json(&self.http, &self.verify_url, self.basic(), body, MAX_ANSWER_BYTES).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| FetchError::Body { url: self.verify_url.clone(), reason: format!("not a verify answer: {e}") })
    }
}

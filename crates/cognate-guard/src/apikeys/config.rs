//! [`ApiKeyConfig`]: where Cognate is, the verifier's credentials, and the cache bounds.

use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::clock::{Clock, SystemClock};
use crate::config::ConfigError;

/// Settings of [`super::CognateApiKeys`]. Build with [`ApiKeyConfig::new`] and the setters.
#[derive(Clone)]
pub struct ApiKeyConfig {
    pub(crate) base_url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
    pub(crate) cache_ttl_secs: i64,
    pub(crate) negative_ttl_secs: i64,
    pub(crate) max_entries: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) http_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret's own Debug is redacted; it is left out anyway.
        f.debug_struct("ApiKeyConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("cache_ttl_secs", &self.cache_ttl_secs)
            .field("negative_ttl_secs", &self.negative_ttl_secs)
            .field("max_entries", &self.max_entries)
            .field("flush_interval", &self.flush_interval)
            .finish_non_exhaustive()
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl ApiKeyConfig {
    /// Verify keys with the Cognate at `base_url` (e.g. `https://auth.example.com`; a
    /// trailing `/` is ignored) as the confidential app client `client_id` — the same
    /// credentials a revocation feed uses. Defaults: 30 s cache, 10 s negative cache,
    /// 10,000 entries, usage flushed every 10 s, 10 s HTTP timeout, the system clock.
    pub fn new(base_url: impl Into<String>, client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            client_id: client_id.into(),
            client_secret,
            cache_ttl_secs: 30,
            negative_ttl_secs: 10,
            max_entries: 10_000,
            flush_interval: Duration::from_secs(10),
            http_timeout: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
        }
    }

    /// How long a key Cognate accepted is accepted without asking again (never past its
    /// `expiresAt`). This is the bound on how long a revoked, rotated or suspended key can
    /// still get in. Whole seconds. Defaults to 30 s.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl_secs = secs(ttl);
        self
    }

    /// How long a key Cognate refused is refused without asking again (a new key is usable
    /// at most this long after a refusal of it was cached). Whole seconds. Defaults to 10 s.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl_secs = secs(ttl);
        self
    }

    /// Verdicts remembered (valid and refused keys together; 0 asks Cognate on every
    /// request). Defaults to 10,000.
    pub fn max_entries(mut self, max: usize) -> Self {
        self.max_entries = max;
        self
    }

    /// How often [`super::CognateApiKeys::spawn_flusher`] sends usage counts. Defaults to
    /// 10 s.
    pub fn flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval;
        self
    }

    /// Timeout of each verify or usage request. Defaults to 10 s.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The time source; tests pass a manual clock. Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Cognate's base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The positive cache lifetime in seconds ([`ApiKeyConfig::cache_ttl`]).
    pub fn cache_ttl_secs(&self) -> u64 {
        u64::try_from(self.cache_ttl_secs).unwrap_or(0)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !(self.base_url.starts_with("https://") || self.base_url.starts_with("http://")) {
            return Err(ConfigError::InvalidApiKeyBaseUrl(self.base_url.clone()));
        }
        if self.client_id.is_empty() {
            return Err(ConfigError::NoApiKeyClientId);
        }
        Ok(())
    }
}

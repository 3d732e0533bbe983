//! What a guard accepts: issuers, clients, token use, algorithms and clock leeway.
//!
//! Secure by default, as `aws-jwt-verify` is: every issuer must name the client ids it
//! accepts, and only RS256 is allowed. Opting out of the client check is an explicit call
//! from [`dangerous`].

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;

use crate::clock::{Clock, SystemClock};

/// Which Cognito token types an issuer's tokens may be. Defaults to [`TokenUse::Access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenUse {
    /// Access tokens only (`token_use: "access"`, client checked against `client_id`).
    #[default]
    Access,
    /// ID tokens only (`token_use: "id"`, client checked against `aud`).
    Id,
    /// Either kind, each checked by its own rule.
    Both,
}

/// A JWS algorithm the guard may accept. `none` and the HMAC family cannot be expressed,
/// so a configuration can never allow them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: what Cognito and Cognate sign with.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
}

impl Algorithm {
    /// The JOSE `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::RS256),
            "RS384" => Some(Self::RS384),
            "RS512" => Some(Self::RS512),
            _ => None,
        }
    }

    pub(crate) fn params(self) -> &'static aws_lc_rs::signature::RsaParameters {
        use aws_lc_rs::signature as s;
        match self {
            Self::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &s::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
        }
    }
}

/// Polling settings for an issuer's revocation feed (`GET {issuer}/revocations`).
#[derive(Debug, Clone)]
pub struct RevocationFeedConfig {
    pub(crate) url: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: SecretString,
}

/// One trusted token issuer (a Cognate or Cognito user pool).
#[derive(Debug, Clone)]
pub struct Issuer {
    pub(crate) issuer: String,
    pub(crate) jwks_url: String,
    pub(crate) client_ids: HashSet<String>,
    pub(crate) any_client: bool,
    pub(crate) token_use: TokenUse,
    pub(crate) revocation: Option<RevocationFeedConfig>,
}

impl Issuer {
    /// A Cognate pool: issuer `{base_url}/{pool_id}`, JWKS `{issuer}/.well-known/jwks.json`.
    /// A trailing `/` on `base_url` is ignored.
    pub fn cognate(base_url: impl AsRef<str>, pool_id: impl AsRef<str>) -> Self {
        Self::new(format!("{}/{}", base_url.as_ref().trim_end_matches('/'), pool_id.as_ref()))
    }

    /// An Amazon Cognito user pool: issuer `https://cognito-idp.{region}.amazonaws.com/{pool_id}`.
    pub fn aws_cognito(region: impl AsRef<str>, pool_id: impl AsRef<str>) -> Self {
        Self::new(format!("https://cognito-idp.{}.amazonaws.com/{}", region.as_ref(), pool_id.as_ref()))
    }

    /// Any issuer by its exact `iss` value; JWKS at `{issuer}/.well-known/jwks.json`.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            issuer,
            client_ids: HashSet::new(),
            any_client: false,
            token_use: TokenUse::default(),
            revocation: None,
        }
    }

    /// Fetch keys from `url` instead of `{issuer}/.well-known/jwks.json`.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = url.into();
        self
    }

    /// The client ids accepted: `client_id` of access tokens, `aud` of ID tokens. Required
    /// unless [`dangerous::accept_any_client`] is applied.
    pub fn client_ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.client_ids.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Which token type is accepted. Defaults to [`TokenUse::Access`].
    pub fn token_use(mut self, token_use: TokenUse) -> Self {
        self.token_use = token_use;
        self
    }

    /// Poll this issuer's revocation feed (`GET {issuer}/revocations`, Cognate only) as the
    /// confidential client `client_id`, so revoked tokens are refused before `exp`.
    pub fn revocation_feed(mut self, client_id: impl Into<String>, client_secret: SecretString) -> Self {
        self.revocation = Some(RevocationFeedConfig {
            url: format!("{}/revocations", self.issuer),
            client_id: client_id.into(),
            client_secret,
        });
        self
    }

    /// Skip the client check for this issuer. Prefer [`dangerous::accept_any_client`],
    /// which says what it does at the call site.
    pub fn dangerous_accept_any_client(mut self) -> Self {
        self.any_client = true;
        self
    }

    /// The exact `iss` value this issuer's tokens carry.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// Opt-outs of secure defaults. Each one widens what the guard accepts.
pub mod dangerous {
    use super::Issuer;

    /// Accept tokens of any client of `issuer`: anyone holding a token from any app of
    /// that pool gets in. Only for a pool that has one client, or for tests.
    pub fn accept_any_client(issuer: Issuer) -> Issuer {
        issuer.dangerous_accept_any_client()
    }
}

/// Why a [`GuardConfig`] cannot become a guard. Each variant names the setting at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("no issuer configured")]
    NoIssuers,
    #[error("issuer {0} names no client ids (call client_ids, or dangerous::accept_any_client)")]
    NoClientIds(String),
    #[error("issuer {0} is configured twice")]
    DuplicateIssuer(String),
    #[error("issuer {0} is not an http(s) URL")]
    InvalidIssuer(String),
    #[error("the algorithm allowlist is empty")]
    NoAlgorithms,
    #[error("HTTP client could not be built: {0}")]
    Http(String),
    #[error("API keys: the Cognate base URL {0} is not an http(s) URL")]
    InvalidApiKeyBaseUrl(String),
    #[error("API keys: the verifier client id is empty")]
    NoApiKeyClientId,
}

/// Everything a [`crate::Guard`] checks. Build with [`GuardConfig::new`] and the setters.
#[derive(Clone)]
pub struct GuardConfig {
    pub(crate) issuers: Vec<Issuer>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) leeway_secs: i64,
    pub(crate) max_token_len: usize,
    pub(crate) cache_capacity: usize,
    pub(crate) refresh_interval: Duration,
    pub(crate) min_refresh_interval_secs: i64,
    pub(crate) unknown_kid_penalty_secs: i64,
    pub(crate) revocation_poll_interval: Duration,
    pub(crate) max_token_lifetime_secs: i64,
    pub(crate) max_revocations: usize,
    pub(crate) http_timeout: Duration,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for GuardConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardConfig")
            .field("issuers", &self.issuers)
            .field("algorithms", &self.algorithms)
            .field("leeway_secs", &self.leeway_secs)
            .finish_non_exhaustive()
    }
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl GuardConfig {
    /// No issuers yet; RS256 only, 60 s leeway, 8 KiB tokens, 10,000 cached tokens, JWKS
    /// refreshed every 15 min.
    pub fn new() -> Self {
        Self {
            issuers: Vec::new(),
            algorithms: vec![Algorithm::RS256],
            leeway_secs: 60,
            max_token_len: 8 * 1024,
            cache_capacity: 10_000,
            refresh_interval: Duration::from_secs(15 * 60),
            min_refresh_interval_secs: 10,
            unknown_kid_penalty_secs: 60,
            revocation_poll_interval: Duration::from_secs(30),
            max_token_lifetime_secs: 24 * 3600,
            max_revocations: 100_000,
            http_timeout: Duration::from_secs(10),
            clock: Arc::new(SystemClock),
        }
    }

    /// Trust `issuer`. At least one is required.
    pub fn issuer(mut self, issuer: Issuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// The accepted signature algorithms. Defaults to RS256 only.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Defaults to 60 s.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway_secs = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Longest token accepted, in bytes; longer ones are refused unparsed. Defaults to 8 KiB.
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Verified tokens remembered (0 disables the cache). Defaults to 10,000.
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// How often [`crate::Guard::spawn_refresh`] refetches every JWKS. Defaults to 15 min.
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Fewest seconds between two unknown-`kid` refreshes of one issuer. Defaults to 10 s.
    pub fn min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval_secs = i64::try_from(interval.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// How long a `kid` that a refresh did not find is refused without refetching.
    /// Defaults to 60 s.
    pub fn unknown_kid_penalty(mut self, penalty: Duration) -> Self {
        self.unknown_kid_penalty_secs = i64::try_from(penalty.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// How often revocation feeds are polled; this is how long a revoked token may still be
    /// accepted. Defaults to 30 s.
    pub fn revocation_poll_interval(mut self, interval: Duration) -> Self {
        self.revocation_poll_interval = interval;
        self
    }

    /// The longest lifetime of any accepted token; revocations older than this are
    /// forgotten because every token they cover has expired. Defaults to 24 h.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime_secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Revocations remembered per issuer before the oldest are dropped. Defaults to 100,000.
    pub fn max_revocations(mut self, max: usize) -> Self {
        self.max_revocations = max;
        self
    }

    /// Timeout of each JWKS or feed request. Defaults to 10 s.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// The time source; tests pass a manual clock. Defaults to the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::NoIssuers);
        }
        if self.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        let mut seen = HashSet::new();
        for issuer in &self.issuers {
            if !(issuer.issuer.starts_with("https://") || issuer.issuer.starts_with("http://")) {
                return Err(ConfigError::InvalidIssuer(issuer.issuer.clone()));
            }
            if !seen.insert(issuer.issuer.as_str()) {
                return Err(ConfigError::DuplicateIssuer(issuer.issuer.clone()));
            }
            if issuer.client_ids.is_empty() && !issuer.any_client {
                return Err(ConfigError::NoClientIds(issuer.issuer.clone()));
            }
        }
        Ok(())
    }
}

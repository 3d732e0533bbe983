//! Shared application state, passed to handlers through axum's `State`.

use std::sync::Arc;

use cognate_core::crypto::MasterKey;
use cognate_core::password::PasswordHasher;
use cognate_core::repo::Store;
use cognate_core::{Clock, Rng};
use tokio::sync::Semaphore;

/// The account id in ARNs unless `COGNATE_ACCOUNT_ID` says otherwise: Cognate has no AWS
/// accounts.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

/// How long a node uses cached shared state while it hears no changes from the others
/// (see [`crate::propagation`]): 5 s.
pub const DEFAULT_CACHE_REFRESH_MS: i64 = 5_000;

/// Settings the surfaces need at run time.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Region used in new pool ids and ARNs. Defaults to `local`.
    pub region: String,
    /// The 12-digit account id in ARNs (a pool's `Arn`, TagResource's `ResourceArn`) and
    /// DescribeUserPoolDomain's `AWSAccountId`. Defaults to [`DEFAULT_ACCOUNT_ID`].
    pub account_id: String,
    /// The externally visible base URL (token issuers, discovery documents).
    pub public_url: String,
    /// The parent host of user pool domain prefixes (`{prefix}.{auth_domain}`), if any.
    pub auth_domain: Option<String>,
    /// How long a hosted-login browser session lasts, in seconds. Defaults to one hour.
    pub login_session_secs: u32,
    /// Largest request body read, in bytes. Defaults to 1 MiB.
    pub max_body_bytes: usize,
    /// How far a SigV4 `X-Amz-Date` may be from the server's clock. Defaults to 15 minutes.
    pub signature_window_secs: i64,
    /// Reverse proxies whose `X-Forwarded-For` names the client (see [`crate::net`]).
    pub trusted_proxies: Vec<crate::net::Network>,
    /// Largest user import CSV file accepted at a job's upload URL, in bytes. Defaults to
    /// 100 MiB (Cognito's limit).
    pub max_import_bytes: u64,
    /// The nameserver that domain verification asks for TXT records (`COGNATE_DNS_NAMESERVER`);
    /// `None`, the default, asks the system's (`/etc/resolv.conf`).
    pub dns_nameserver: Option<std::net::SocketAddr>,
    /// Networks outbound requests (webhooks, identity providers) may reach although they
    /// are not public (`COGNATE_OUTBOUND_ALLOW`); none by default (see [`crate::outbound`]).
    pub outbound_allow: Vec<crate::net::Network>,
    /// The first webhook retry's wait in ms, which scales the whole schedule
    /// (`COGNATE_WEBHOOK_RETRY_BASE_MS`). Defaults to 5000 (5 s, 5 min, 30 min, … ≈ 3 days).
    pub webhook_retry_base_ms: i64,
    /// Days webhook deliveries and their attempts are kept. Defaults to 30.
    pub webhook_retention_days: i64,
    /// How long cached shared state (signing keys) is used while this node hears no changes
    /// from other nodes, in milliseconds (`COGNATE_CACHE_REFRESH_SECS`). Defaults to
    /// [`DEFAULT_CACHE_REFRESH_MS`].
    pub cache_refresh_ms: i64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            region: "local".into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            public_url: "http://127.0.0.1:9229".into(),
            auth_domain: None,
            login_session_secs: crate::services::authorize::SESSION_TTL_SECS,
            max_body_bytes: 1024 * 1024,
            signature_window_secs: 15 * 60,
            trusted_proxies: Vec::new(),
            max_import_bytes: 100 * 1024 * 1024,
            dns_nameserver: None,
            outbound_allow: Vec::new(),
            webhook_retry_base_ms: 5_000,
            webhook_retention_days: 30,
            cache_refresh_ms: DEFAULT_CACHE_REFRESH_MS,
        }
    }
}

/// Everything a handler may use. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub master_key: Arc<MasterKey>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Rng>,
    pub passwords: Arc<Passwords>,
    pub settings: Arc<ServerSettings>,
    pub keys: Arc<crate::keys::KeyRing>,
    /// Whether this node hears other nodes' changes (see [`crate::propagation`]).
    pub propagation: Arc<crate::propagation::Propagation>,
    /// Failed sign-in counting (see [`crate::throttle`]): in this process, or in Redis
    /// shared by every node ([`AppState::with_shared_limits`]).
    pub limiter: Arc<dyn crate::throttle::Limiter>,
    pub limits: crate::throttle::Limits,
    /// API key usage counted in memory until the next flush.
    pub usage: Arc<crate::services::api_keys::UsageMeter>,
    /// Analytics figures and monthly active users counted in memory until the next flush.
    pub analytics: Arc<crate::services::analytics::Meter>,
    /// Request rates: auth per IP and username, `/v1` per tenant, API keys per key.
    pub rates: Arc<dyn crate::throttle::RateLimiter>,
    /// Audit events recorded but not yet written.
    pub audit: Arc<crate::audit::AuditLog>,
    /// Immutable ids (shared pool, default clients) cached on this node.
    pub ids: Arc<crate::tenancy::IdCache>,
    /// App clients and user pools as last read (see [`crate::directory`]).
    pub directory: Arc<crate::directory::Directory>,
    /// Wakes this node's user import worker when a job starts (it also polls).
    pub import_wake: Arc<tokio::sync::Notify>,
    /// SAML providers' metadata documents fetched from their MetadataURL.
    pub saml_metadata: Arc<crate::services::federation_saml::MetadataCache>,
    /// The relying party of OIDC federation, with its discovery and JWKS caches.
    pub oidc: Arc<crate::federation_oidc::OidcClients>,
    /// This node's Prometheus metrics (its own registry: nothing process-global).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// TXT lookups of domain verification (see [`crate::dns`]).
    pub dns: Arc<dyn crate::dns::TxtResolver>,
    /// What outbound requests may reach (see [`crate::outbound`]).
    pub outbound: Arc<crate::outbound::OutboundPolicy>,
    /// How outbound requests resolve names (the system's resolver; a table in tests).
    pub outbound_lookup: Arc<dyn crate::outbound::HostLookup>,
    /// Wakes this node's webhook worker (a test event, a replay); it also polls.
    pub webhook_wake: Arc<tokio::sync::Notify>,
    /// Set when this node received a stop signal and is draining: readiness answers 503
    /// and responses ask clients to close their connections (see [`crate::health`]).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

impl AppState {
    /// State with the default key ring cache and an in-process sign-in limiter.
    pub fn new(
        store: Arc<dyn Store>,
        master_key: MasterKey,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Rng>,
        passwords: Passwords,
        settings: ServerSettings,
    ) -> Self {
        let limits = crate::throttle::Limits::default();
        let outbound = Arc::new(crate::outbound::OutboundPolicy::allowing(settings.outbound_allow.clone()));
        let oidc = Arc::new(crate::federation_oidc::OidcClients::with_policy(clock.clone(), outbound.clone()));
        let dns = Arc::new(crate::dns::HickoryTxt::new(settings.dns_nameserver));
        let propagation = Arc::new(crate::propagation::Propagation::new(settings.cache_refresh_ms));
        let directory = Arc::new(crate::directory::Directory::default());
        let forget = Arc::clone(&directory);
        store.on_local_change(Arc::new(move |change| forget.forget(change)));
        Self {
            store,
            master_key: Arc::new(master_key),
            limiter: Arc::new(crate::throttle::MemoryLimiter::new(clock.clone(), limits.max_delay_secs)),
            clock,
            rng,
            passwords: Arc::new(passwords),
            settings: Arc::new(settings),
            keys: Arc::default(),
            propagation,
            limits,
            usage: Arc::default(),
            analytics: Arc::default(),
            rates: Arc::new(crate::throttle::WindowLimiter::default()),
            audit: Arc::default(),
            ids: Arc::default(),
            directory,
            import_wake: Arc::default(),
            saml_metadata: Arc::default(),
            oidc,
            metrics: Arc::default(),
            dns,
            outbound,
            outbound_lookup: Arc::new(crate::outbound::SystemLookup),
            webhook_wake: Arc::default(),
            draining: Arc::default(),
        }
    }
}

impl AppState {
    /// Replaces what outbound requests may reach and how they resolve names (the identity
    /// providers' client included).
    pub fn with_outbound(
        mut self,
        policy: crate::outbound::OutboundPolicy,
        lookup: Arc<dyn crate::outbound::HostLookup>,
    ) -> Self {
        let policy = Arc::new(policy);
        self.oidc = Arc::new(crate::federation_oidc::OidcClients::with_policy(self.clock.clone(), policy.clone()));
        self.outbound = policy;
        self.outbound_lookup = lookup;
        self
    }

    /// Replaces the sign-in throttling thresholds (and the limiter, for its delay cap).
    pub fn with_limits(mut self, limits: crate::throttle::Limits) -> Self {
        self.limiter = Arc::new(crate::throttle::MemoryLimiter::new(self.clock.clone(), limits.max_delay_secs));
        self.limits = limits;
        self
    }

    /// Counts failures and request rates in the Redis every node shares instead of in this
    /// process (call after [`AppState::with_limits`], whose delay cap it takes). No I/O:
    /// the connection is made on first use, so a node starts with Redis down.
    pub fn with_shared_limits(
        mut self,
        redis: &crate::throttle::shared::RedisSettings,
    ) -> Result<(Self, Arc<crate::throttle::shared::RedisLimits>), crate::throttle::shared::SharedLimitsError> {
        let shared = Arc::new(crate::throttle::shared::RedisLimits::new(
            redis,
            &self.master_key,
            self.clock.clone(),
            self.limits.max_delay_secs,
            self.metrics.clone(),
        )?);
        self.limiter = shared.clone();
        self.rates = shared.clone();
        Ok((self, shared))
    }
}

/// argon2id hashing off the async runtime, with at most `permits` hashes at once so a
/// burst of sign-ups cannot starve every other request of CPU.
pub struct Passwords {
    hasher: PasswordHasher,
    rng: Arc<dyn Rng>,
    permits: Semaphore,
    /// A hash of a random password, verified when the user does not exist so that an
    /// unknown username costs the same time as a wrong password.
    decoy: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl Passwords {
    pub fn new(hasher: PasswordHasher, rng: Arc<dyn Rng>, concurrency: usize) -> Self {
        let decoy = hasher.hash(rng.as_ref(), &cognate_core::ids::generate_sub(rng.as_ref())).ok();
        Self { hasher, rng, permits: Semaphore::new(concurrency.max(1)), decoy }
    }

    /// Spends the time of a failed verification without a real hash.
    pub async fn verify_decoy(&self, password: String) {
        if let Some(decoy) = self.decoy.clone() {
            let _ = self.verify(password, decoy).await;
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self.permits.acquire().await.map_err(|e| PasswordError::Hash(e.to_string()))?;
        let hasher = self.hasher.clone();
        let rng = self.rng.clone();
        tokio::task::spawn_blocking(move || hasher.hash(rng.as_ref(), &password))
            .await
            .map_err(|e| PasswordError::Hash(e.to_string()))?
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    pub async fn verify(&self, password: String, phc: String) -> Result<bool, PasswordError> {
        let _permit = self.permits.acquire().await.map_err(|e| PasswordError::Hash(e.to_string()))?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || hasher.verify(&password, &phc))
            .await
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }
}

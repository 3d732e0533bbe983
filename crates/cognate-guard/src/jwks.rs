//! Per-issuer JWKS caches.
//!
//! Reads are lock-free (`ArcSwap`). A `kid` the cache does not know triggers a refresh, but
//! at most one is in flight per issuer (later callers wait on it), refreshes for unknown
//! `kid`s start at most once per `min_refresh_interval`, and a `kid` a refresh did not find
//! sits in a penalty box for `unknown_kid_penalty` (refused without refetching). The
//! refresh runs in its own task, so a cancelled request cannot leave it half done, and no
//! lock is held while it talks to the network. Keys come only from the configured JWKS
//! URL of the issuer the token names; nothing in a token chooses where keys come from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use aws_lc_rs::signature::{ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Algorithm;
use crate::error::{FetchError, VerifyError};

/// Largest JWKS document read, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Keys beyond this many in one JWKS are ignored.
const MAX_KEYS: usize = 100;
/// Distinct unknown `kid`s remembered per issuer; past this, new ones are not boxed (the
/// refresh rate limit still applies to them).
const MAX_PENALTY_ENTRIES: usize = 1024;

/// Where JWKS documents come from. The default is HTTPS via reqwest; tests feed keys
/// directly. `url` is always a configured JWKS URL, never one named by a token.
#[async_trait]
pub trait JwksSource: Send + Sync + 'static {
    /// The raw JWKS document (`{"keys": [...]}`) at `url`.
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError>;
}

/// Fetches JWKS over HTTP(S) with reqwest.
#[derive(Debug, Clone)]
pub struct HttpJwksSource {
    client: reqwest::Client,
}

impl HttpJwksSource {
    /// A source with its own client; `timeout` bounds each request.
    pub fn new(timeout: std::time::Duration) -> Result<Self, crate::ConfigError> {
        Ok(Self { client: crate::http::client(timeout)? })
    }
}

#[async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        crate::http::get_limited(&self.client, url, None, MAX_JWKS_BYTES).await
    }
}

/// One RSA public key, parsed once per algorithm it may verify.
pub(crate) struct VerifyKey {
    by_alg: Vec<(Algorithm, ParsedPublicKey)>,
}

impl VerifyKey {
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
        let (_, key) = self.by_alg.iter().find(|(a, _)| *a == alg).ok_or(VerifyError::Algorithm)?;
        key.verify_sig(message, signature).map_err(|_| VerifyError::Signature)
    }
}

type KeySet = HashMap<String, Arc<VerifyKey>>;

/// Parses a JWKS, keeping the RSA signing keys usable with `allowed`. Keys that are not
/// RSA, are for encryption, name another algorithm or do not parse are skipped.
pub(crate) fn parse_jwks(body: &[u8], allowed: &[Algorithm]) -> Result<KeySet, String> {
    let doc = crate::jose::parse_strict_object(body).map_err(|e| e.to_string())?;
    let keys = doc.get("keys").and_then(Value::as_array).ok_or("no \"keys\" array")?;
    let mut out = KeySet::new();
    for jwk in keys.iter().take(MAX_KEYS) {
        let Some((kid, key)) = parse_jwk(jwk, allowed) else { continue };
        // The first key with a kid wins; a JWKS repeating a kid is ambiguous past that.
        out.entry(kid).or_insert_with(|| Arc::new(key));
    }
    Ok(out)
}

fn parse_jwk(jwk: &Value, allowed: &[Algorithm]) -> Option<(String, VerifyKey)> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("kty") != Some("RSA") || !matches!(jwk.get("use"), None | Some(Value::String(_))) {
        return None;
    }
    if field("use").is_some_and(|u| u != "sig") {
        return None;
    }
    let kid = field("kid")?.to_owned();
    let algs: Vec<Algorithm> = match jwk.get("alg") {
        None => allowed.to_vec(),
        Some(Value::String(name)) => vec![Algorithm::from_name(name).filter(|a| allowed.contains(a))?],
        Some(_) => return None,
    };
    let n = B64.decode(field("n")?).ok()?;
    let e = B64.decode(field("e")?).ok()?;
    let strip = |b: &[u8]| b.iter().position(|x| *x != 0).map(|i| b[i..].to_vec());
    let components = RsaPublicKeyComponents { n: strip(&n)?, e: strip(&e)? };
    let by_alg =
        algs.into_iter().filter_map(|a| Some((a, components.to_parsed_public_key(a.params()).ok()?))).collect();
    Some((kid, VerifyKey { by_alg }))
}

type RefreshResult = Option<Result<(), FetchError>>;

#[derive(Default)]
struct RefreshState {
    in_flight: Option<watch::Receiver<RefreshResult>>,
    /// When the last refresh for an unknown kid started. Scheduled refreshes (start-up,
    /// periodic) do not count: no token can trigger them.
    last_on_demand: Option<i64>,
    penalty: HashMap<String, i64>,
}

/// One issuer's key cache.
pub(crate) struct IssuerKeys {
    jwks_url: String,
    keys: ArcSwap<KeySet>,
    /// Bumped whenever a refresh drops a kid, so cached verdicts made with it lapse.
    epoch: AtomicU64,
    refresh: Mutex<RefreshState>,
}

impl IssuerKeys {
    pub(crate) fn new(jwks_url: String) -> Self {
        Self {
            jwks_url,
            keys: ArcSwap::from_pointee(KeySet::new()),
            epoch: AtomicU64::new(0),
            refresh: Mutex::new(RefreshState::default()),
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, RefreshState> {
        // The state stays consistent under every early return, so a poisoned lock is usable.
        self.refresh.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn install(&self, new: KeySet) {
        let old = self.keys.swap(Arc::new(new));
        let current = self.keys.load();
        if old.keys().any(|kid| !current.contains_key(kid)) {
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Every issuer's key cache plus how to fill them.
pub(crate) struct KeyStore {
    pub(crate) issuers: Vec<Arc<IssuerKeys>>,
    source: Arc<dyn JwksSource>,
    clock: Arc<dyn Clock>,
    algorithms: Vec<Algorithm>,
    min_refresh_interval_secs: i64,
    penalty_secs: i64,
}

impl KeyStore {
    pub(crate) fn new(
        jwks_urls: Vec<String>,
        source: Arc<dyn JwksSource>,
        clock: Arc<dyn Clock>,
        algorithms: Vec<Algorithm>,
        min_refresh_interval_secs: i64,
        penalty_secs: i64,
    ) -> Self {
        Self {
            issuers: jwks_urls.into_iter().map(|url| Arc::new(IssuerKeys::new(url))).collect(),
            source,
            clock,
            algorithms,
            min_refresh_interval_secs,
            penalty_secs,
        }
    }

    /// The key `kid` of issuer `idx`, refreshing that issuer's JWKS if the kid is new to
    /// us and the penalty box and rate limit allow it.
    pub(crate) async fn key(&self, idx: usize, kid: &str) -> Result<Arc<VerifyKey>, VerifyError> {
        let issuer = self.issuers.get(idx).ok_or(VerifyError::UnknownIssuer)?;
        if let Some(key) = issuer.keys.load().get(kid) {
            return Ok(Arc::clone(key));
        }
        let rx = {
            let mut state = issuer.state();
            let now = self.clock.now_secs();
            if state.penalty.get(kid).is_some_and(|until| *until > now) {
                return Err(VerifyError::UnknownKey);
            }
            match state.in_flight.clone() {
                Some(rx) => rx,
                None => {
                    if state.last_on_demand.is_some_and(|t| now < t.saturating_add(self.min_refresh_interval_secs)) {
                        return Err(VerifyError::UnknownKey);
                    }
                    state.last_on_demand = Some(now);
                    self.start_refresh(issuer, &mut state)
                }
            }
        };
        let _ = wait(rx).await;
        if let Some(key) = issuer.keys.load().get(kid) {
            return Ok(Arc::clone(key));
        }
        let mut state = issuer.state();
        let now = self.clock.now_secs();
        state.penalty.retain(|_, until| *until > now);
        if state.penalty.len() < MAX_PENALTY_ENTRIES {
            state.penalty.insert(kid.to_owned(), now.saturating_add(self.penalty_secs));
        }
        Err(VerifyError::UnknownKey)
    }

    /// Refetches issuer `idx`'s JWKS now (joining a refresh already in flight), ignoring
    /// the unknown-kid rate limit. Used at start-up and by the periodic refresh.
    pub(crate) async fn refresh(&self, idx: usize) -> Result<(), FetchError> {
        let Some(issuer) = self.issuers.get(idx) else { return Ok(()) };
        let rx = {
            let mut state = issuer.state();
            match state.in_flight.clone() {
                Some(rx) => rx,
                None => self.start_refresh(issuer, &mut state),
            }
        };
        wait(rx).await
    }

    /// Spawns the fetch; the caller holds the state lock, which is released before any I/O
    /// because the fetch runs in another task.
    fn start_refresh(&self, issuer: &Arc<IssuerKeys>, state: &mut RefreshState) -> watch::Receiver<RefreshResult> {
        let (tx, rx) = watch::channel(None);
        state.in_flight = Some(rx.clone());
        let issuer = Arc::clone(issuer);
        let source = Arc::clone(&self.source);
        let algorithms = self.algorithms.clone();
        tokio::spawn(async move {
            let url = issuer.jwks_url.clone();
            let result = match source.fetch(&url).await {
                Ok(body) => parse_jwks(&body, &algorithms)
                    .map(|keys| issuer.install(keys))
                    .map_err(|reason| FetchError::Body { url: url.clone(), reason }),
                Err(e) => Err(e),
            };
            if let Err(e) = &result {
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the previous keys");
            }
            issuer.state().in_flight = None;
            let _ = tx.send(Some(result));
        });
        rx
    }
}

async fn wait(mut rx: watch::Receiver<RefreshResult>) -> Result<(), FetchError> {
    match rx.wait_for(Option::is_some).await {
        Ok(done) => done.clone().unwrap_or(Ok(())),
        // The refresh task ended without an answer (runtime shutting down).
        Err(_) => Ok(()),
    }
}

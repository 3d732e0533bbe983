//! The relying party of OIDC federation: what Cognate does as a client of a pool's OIDC
//! identity provider (Cognito's `ProviderType` OIDC). Federation's service calls it at four
//! moments:
//!
//! * [`OidcClients::discover`] when a provider is created or updated: the provider's
//!   `/.well-known/openid-configuration` fills the details Cognito shows (`authorize_url`,
//!   `token_url`, `attributes_url`, `jwks_uri`), explicit ones winning;
//! * [`OidcClients::authorization_url`] when a user picks the provider: the URL to send the
//!   browser to (code flow, PKCE S256, state and nonce the caller keeps);
//! * [`OidcClients::complete`] at the callback: the code exchanged, the ID token verified
//!   (signature from the provider's JWKS, issuer, audience, expiry, nonce), userinfo read,
//!   every claim returned as an [`ExternalIdentity`];
//! * [`OidcClients::probe`] for a tenant admin's "test connection".
//!
//! The callback's `iss` parameter, when the provider sends one, is checked with
//! [`OidcClients::check_callback_issuer`] before the code is redeemed.
//!
//! Protocol work is openidconnect's; HTTP is reqwest's through its async client trait
//! (`http.rs`: timeouts, bounded bodies, no redirects). What openidconnect leaves to its
//! callers lives in `claims.rs`: `azp`, flattening every claim, the PKCE verifier's shape.
//!
//! Discovery documents and JWKS are cached per issuer and per JWKS URL for
//! [`DISCOVERY_TTL_SECS`]. An ID token signed with a key the cache does not hold makes one
//! JWKS re-fetch (the provider rotated its keys), at most once per
//! [`JWKS_REFRESH_MIN_SECS`] per JWKS URL, so a stream of forged `kid`s cannot turn Cognate
//! into a load generator against the provider. The caches' locks are held only to copy an
//! entry in or out, never across network I/O.

mod claims;
mod error;
pub(crate) mod http;
mod probe;

pub use error::OidcError;
pub use http::HttpError;
pub use probe::{ProbeKey, ProbeReport};

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use cognate_core::clock::{Clock, SystemClock};
use cognate_core::idp::ExternalIdentity;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreIdToken, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
    CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AuthType, AuthUrl, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, DiscoveryError,
    EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, JsonWebKeySetUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse as _, TokenUrl,
};
use serde_json::{Map, Value};

use self::error::{id_token_error, token_error};
use self::http::Http;
use self::probe::{probe_key, warnings};

/// How long a discovery document and a JWKS are trusted before they are fetched again:
/// 3600 s. Key rotation inside that hour is handled by the unknown-`kid` re-fetch.
pub const DISCOVERY_TTL_SECS: i64 = 3600;

/// The least time between two JWKS re-fetches caused by an unknown `kid`, per JWKS URL: 60 s.
pub const JWKS_REFRESH_MIN_SECS: i64 = 60;

/// Clock difference tolerated between Cognate and the provider on `exp` and `iat`: 60 s.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// The oldest `iat` accepted: 600 s. The ID token is minted at the code exchange a moment
/// ago; an older one is a replay or a badly wrong clock.
pub const MAX_ID_TOKEN_AGE_SECS: i64 = 600;

/// Entries kept per cache before stale ones are dropped (one per provider in use).
const MAX_CACHED: usize = 4096;

/// The signatures accepted on ID tokens. Never `none`; no HMAC either: with `HS256` the
/// "signature" is made with the client secret, which Cognate holds, so it proves nothing
/// about the provider's keys and cannot survive a leaked secret.
const ALLOWED_ALGS: [CoreJwsSigningAlgorithm; 2] =
    [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, CoreJwsSigningAlgorithm::EcdsaP256Sha256];

/// A provider client able to build authorization URLs and exchange codes.
type RpClient = CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointNotSet>;

/// A provider's discovery document, the parts federation uses.
#[derive(Debug, Clone)]
struct Discovered {
    authorize_url: String,
    token_url: Option<String>,
    userinfo_url: Option<String>,
    jwks_uri: String,
    token_auth_methods: Vec<String>,
    id_token_signing_algs: Vec<String>,
    scopes_supported: Vec<String>,
    fetched_at: i64,
}

/// A JWKS as last fetched.
#[derive(Clone)]
struct Keys {
    set: CoreJsonWebKeySet,
    fetched_at: i64,
    /// When an unknown `kid` last forced a fetch, if ever.
    forced_at: Option<i64>,
}

/// The endpoints one sign-in uses: the provider's details, discovery filling the gaps.
struct Endpoints {
    issuer: IssuerUrl,
    token_url: String,
    userinfo_url: Option<String>,
    jwks_uri: String,
    token_auth_methods: Vec<String>,
}

/// Cognate's OIDC relying party: one per process, shared by every pool's providers.
pub struct OidcClients {
    http: Http,
    clock: Arc<dyn Clock>,
    issuers: RwLock<HashMap<String, Arc<Discovered>>>,
    keys: RwLock<HashMap<String, Keys>>,
}

impl Default for OidcClients {
    fn default() -> Self {
        Self::new()
    }
}

impl OidcClients {
    /// A relying party on the system clock that reaches public addresses only.
    pub fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    /// A relying party reading time from `clock` (ID token expiry, cache ages) that
    /// reaches public addresses only.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::with_policy(clock, Arc::default())
    }

    /// A relying party whose requests `policy` guards (see [`crate::outbound`]).
    pub fn with_policy(clock: Arc<dyn Clock>, policy: Arc<crate::outbound::OutboundPolicy>) -> Self {
        Self { http: Http::new(policy), clock, issuers: RwLock::default(), keys: RwLock::default() }
    }

    /// At CreateIdentityProvider/UpdateIdentityProvider: reads `oidc_issuer`'s discovery
    /// document (always fresh; its `issuer` must equal `oidc_issuer` exactly) and its JWKS,
    /// and returns `details` with `authorize_url`, `token_url`, `attributes_url` (userinfo)
    /// and `jwks_uri` filled in as Cognito shows them. Explicit values win.
    pub async fn discover(&self, details: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, OidcError> {
        let issuer = detail(details, "oidc_issuer")?;
        let found = self.fetch_discovery(issuer).await?;
        let mut out = details.clone();
        let discovered = [
            ("authorize_url", Some(&found.authorize_url)),
            ("token_url", found.token_url.as_ref()),
            ("attributes_url", found.userinfo_url.as_ref()),
            ("jwks_uri", Some(&found.jwks_uri)),
        ];
        for (key, value) in discovered {
            if let Some(value) = value.filter(|_| !has(details, key)) {
                out.insert(key.to_owned(), value.clone());
            }
        }
        if !has(&out, "token_url") {
            return Err(OidcError::Discovery {
                issuer: issuer.to_owned(),
                reason: "it names no token_endpoint and no token_url is set".into(),
            });
        }
        if has(details, "jwks_uri") {
            // The explicit JWKS is the one ID tokens are checked against: reach it now, so a
            // wrong URL is refused here rather than at the first sign-in.
            self.keys_at(&out["jwks_uri"], false).await?;
        }
        Ok(out)
    }

    /// The provider's authorization URL for one sign-in: `response_type=code`, the
    /// provider's `client_id`, `redirect_uri`, `scope` (`authorize_scopes`, `openid`
    /// always included), `state`, `nonce` and the S256 `code_challenge` of `pkce_verifier`
    /// (which the caller keeps for [`OidcClients::complete`]). Uses the stored
    /// `authorize_url` when set, so no network call; else discovery (cached).
    pub async fn authorization_url(
        &self,
        details: &BTreeMap<String, String>,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        pkce_verifier: &str,
    ) -> Result<String, OidcError> {
        claims::check_pkce_verifier(pkce_verifier).map_err(OidcError::InvalidRequest)?;
        let issuer = issuer_url(details)?;
        let authorize = match details.get("authorize_url").filter(|v| !v.is_empty()) {
            Some(url) => url.clone(),
            None => self.discovered(issuer.as_str()).await?.authorize_url.clone(),
        };
        let auth_url = AuthUrl::new(authorize.clone()).map_err(|e| invalid_url("authorize_url", e))?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| OidcError::InvalidRequest(format!("The redirect URI is not a URL: {e}")))?;
        let client =
            CoreClient::new(ClientId::new(detail(details, "client_id")?.to_owned()), issuer, JsonWebKeySet::default())
                .set_auth_uri(auth_url)
                .set_redirect_uri(redirect)
                .disable_openid_scope();
        let (state, nonce) = (state.to_owned(), nonce.to_owned());
        let scopes = claims::scopes(details.get("authorize_scopes").map(String::as_str).unwrap_or_default());
        let (url, _, _) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                move || Nonce::new(nonce),
            )
            .add_scopes(scopes.into_iter().map(Scope::new))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
                pkce_verifier.to_owned(),
            )))
            .url();
        Ok(url.into())
    }

    /// The callback: exchanges `code` at the token endpoint (with `pkce_verifier`; the
    /// client authenticates with `client_secret_basic` or `client_secret_post` as the
    /// provider advertises, or not at all when there is no secret), verifies the ID token
    /// (RS256/ES256 signature from the provider's JWKS, re-fetched once on an unknown `kid`;
    /// `iss` exactly `oidc_issuer`; `aud` containing `client_id`, `azp` being it when there
    /// are several; `exp` and `iat` within [`CLOCK_SKEW_SECS`]; `nonce`), then reads
    /// userinfo at `attributes_url` when there is one (GET, or POST when
    /// `attributes_request_method` says so; its `sub` must be the ID token's). Returns the
    /// ID token's claims merged with userinfo's (userinfo wins on a shared user claim, the ID
    /// token on protocol claims such as `iss` and `aud`).
    pub async fn complete(
        &self,
        details: &BTreeMap<String, String>,
        client_secret: Option<&str>,
        redirect_uri: &str,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ExternalIdentity, OidcError> {
        claims::check_pkce_verifier(pkce_verifier).map_err(OidcError::InvalidRequest)?;
        let client_id = detail(details, "client_id")?;
        let client_secret = client_secret.filter(|s| !s.is_empty());
        let endpoints = self.endpoints(details).await?;
        let auth = auth_type(&endpoints.token_auth_methods, client_secret.is_some())?;
        let redirect = RedirectUrl::new(redirect_uri.to_owned())
            .map_err(|e| OidcError::InvalidRequest(format!("The redirect URI is not a URL: {e}")))?;
        let token_url = TokenUrl::new(endpoints.token_url.clone()).map_err(|e| invalid_url("token_url", e))?;
        let build = |keys: CoreJsonWebKeySet, auth_type: AuthType| -> RpClient {
            let mut client = CoreClient::new(ClientId::new(client_id.to_owned()), endpoints.issuer.clone(), keys)
                // Never used to build a URL here: the client type wants one for the code flow.
                .set_auth_uri(AuthUrl::from_url(endpoints.issuer.url().clone()))
                .set_token_uri(token_url.clone())
                .set_redirect_uri(redirect.clone())
                .set_auth_type(auth_type);
            if let Some(secret) = client_secret {
                client = client.set_client_secret(ClientSecret::new(secret.to_owned()));
            }
            client
        };
        let keys = self.keys_at(&endpoints.jwks_uri, false).await?;
        let mut client = build(keys.clone(), auth.clone());
        let mut exchanged = self.exchange(&client, code, pkce_verifier).await;
        // Discovery lists the methods the provider supports, not the one this client was
        // registered with: a client registered for client_secret_post is refused with
        // invalid_client under Basic. Client authentication is checked before the code is
        // looked at, so the code is still unused and one retry in the body is safe.
        let refused_basic = matches!(&exchanged, Err(OidcError::TokenRejected { error, .. }) if error == "invalid_client")
            && matches!(auth, AuthType::BasicAuth)
            && endpoints.token_auth_methods.iter().any(|m| m == CoreClientAuthMethod::ClientSecretPost.as_ref());
        if refused_basic {
            client = build(keys, AuthType::RequestBody);
            exchanged = self.exchange(&client, code, pkce_verifier).await;
        }
        let response = exchanged?;
        let id_token = response.id_token().ok_or(OidcError::NoIdToken)?;
        match self.verify(&client, id_token, nonce) {
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                let keys = self.keys_at(&endpoints.jwks_uri, true).await?;
                self.verify(&build(keys, client.auth_type().clone()), id_token, nonce).map_err(id_token_error)?;
            }
            verified => verified.map_err(id_token_error)?,
        }
        let mut claims = claims::jwt_payload(&id_token.to_string()).map_err(OidcError::InvalidIdToken)?;
        claims::check_authorized_party(&claims, client_id).map_err(OidcError::InvalidIdToken)?;
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(OidcError::InvalidIdToken("it has no sub".into())),
        };
        if let Some(url) = &endpoints.userinfo_url {
            let post = details.get("attributes_request_method").is_some_and(|m| m.eq_ignore_ascii_case("POST"));
            let info = self.userinfo(url, post, response.access_token().secret()).await?;
            match info.get("sub") {
                Some(Value::String(sub)) if *sub == subject => {}
                _ => return Err(OidcError::UserInfo("its sub is not the ID token's".into())),
            }
            claims::merge_userinfo(&mut claims, info);
        }
        Ok(ExternalIdentity {
            subject,
            attributes: claims::flatten(&claims),
            session_index: None,
            name_id_format: None,
        })
    }

    /// The callback's `iss` parameter (RFC 9207, sent by providers that advertise
    /// `authorization_response_iss_parameter_supported`): when present it must be this
    /// provider's issuer exactly, else the code may come from another provider the user was
    /// sent to (a mix-up attack) and must not be redeemed here. Absent, there is nothing to
    /// check.
    pub fn check_callback_issuer(details: &BTreeMap<String, String>, iss: Option<&str>) -> Result<(), OidcError> {
        let issuer = detail(details, "oidc_issuer")?;
        match iss {
            Some(iss) if iss != issuer => {
                Err(OidcError::IssuerMismatch { expected: issuer.to_owned(), got: iss.to_owned() })
            }
            _ => Ok(()),
        }
    }

    /// For a tenant admin's "test connection": fetches the discovery document and the JWKS
    /// afresh and reports what was found, with warnings for what would break sign-ins.
    pub async fn probe(&self, details: &BTreeMap<String, String>) -> Result<ProbeReport, OidcError> {
        let issuer = detail(details, "oidc_issuer")?;
        let found = self.fetch_discovery(issuer).await?;
        let pick =
            |key: &str, discovered: Option<&String>| details.get(key).filter(|v| !v.is_empty()).or(discovered).cloned();
        let jwks_uri = pick("jwks_uri", Some(&found.jwks_uri)).unwrap_or_default();
        let keys = self.fetch_keys(&jwks_uri).await?;
        let keys: Vec<ProbeKey> = keys.keys().iter().map(probe_key).collect();
        let report = ProbeReport {
            issuer: issuer.to_owned(),
            authorize_url: pick("authorize_url", Some(&found.authorize_url)).unwrap_or_default(),
            token_url: pick("token_url", found.token_url.as_ref()),
            attributes_url: pick("attributes_url", found.userinfo_url.as_ref()),
            jwks_uri,
            keys,
            token_auth_methods: found.token_auth_methods.clone(),
            id_token_signing_algs: found.id_token_signing_algs.clone(),
            scopes_supported: found.scopes_supported.clone(),
            warnings: Vec::new(),
        };
        let warnings = warnings(&report, has(details, "client_secret"));
        Ok(ProbeReport { warnings, ..report })
    }

    /// Redeems `code` at the token endpoint with `client`'s authentication.
    async fn exchange(
        &self,
        client: &RpClient,
        code: &str,
        pkce_verifier: &str,
    ) -> Result<CoreTokenResponse, OidcError> {
        client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(token_error)
    }

    /// Verifies `id_token` with `client`'s keys, issuer and id, on Cognate's clock.
    fn verify(&self, client: &RpClient, id_token: &CoreIdToken, nonce: &str) -> Result<(), ClaimsVerificationError> {
        let now = self.clock.now_secs();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALLOWED_ALGS)
            // Other audiences are allowed here only because `azp` must then name this
            // client, which claims::check_authorized_party enforces right after.
            .set_other_audience_verifier_fn(|_| true)
            .set_time_fn(move || chrono::DateTime::from_timestamp(now - CLOCK_SKEW_SECS, 0).unwrap_or_default())
            .set_issue_time_verifier_fn(move |iat| {
                let iat = iat.timestamp();
                if iat > now + CLOCK_SKEW_SECS {
                    Err(format!("issued in the future ({}s ahead)", iat.saturating_sub(now)))
                } else if iat < now - MAX_ID_TOKEN_AGE_SECS - CLOCK_SKEW_SECS {
                    Err(format!("issued {}s ago", now.saturating_sub(iat)))
                } else {
                    Ok(())
                }
            });
        id_token.claims(&verifier, &Nonce::new(nonce.to_owned())).map(|_| ())
    }

    /// The endpoints of one sign-in: the stored details, discovery (cached) for the rest
    /// and for the token endpoint's client authentication methods.
    async fn endpoints(&self, details: &BTreeMap<String, String>) -> Result<Endpoints, OidcError> {
        let issuer = issuer_url(details)?;
        let found = self.discovered(issuer.as_str()).await?;
        let pick =
            |key: &str, discovered: Option<&String>| details.get(key).filter(|v| !v.is_empty()).or(discovered).cloned();
        Ok(Endpoints {
            token_url: pick("token_url", found.token_url.as_ref()).ok_or(OidcError::MissingDetail("token_url"))?,
            userinfo_url: pick("attributes_url", found.userinfo_url.as_ref()),
            jwks_uri: pick("jwks_uri", Some(&found.jwks_uri)).unwrap_or_default(),
            token_auth_methods: found.token_auth_methods.clone(),
            issuer,
        })
    }

    /// The issuer's discovery document from the cache, or fetched when absent or older
    /// than [`DISCOVERY_TTL_SECS`].
    async fn discovered(&self, issuer: &str) -> Result<Arc<Discovered>, OidcError> {
        let now = self.clock.now_secs();
        let cached = read(&self.issuers).get(issuer).cloned();
        match cached {
            Some(found) if now - found.fetched_at < DISCOVERY_TTL_SECS => Ok(found),
            _ => self.fetch_discovery(issuer).await,
        }
    }

    /// Fetches `issuer`'s discovery document and JWKS, checks them, and caches both.
    async fn fetch_discovery(&self, issuer: &str) -> Result<Arc<Discovered>, OidcError> {
        let issuer_url = IssuerUrl::new(issuer.to_owned()).map_err(|e| invalid_url("oidc_issuer", e))?;
        let bad = |reason: String| OidcError::Discovery { issuer: issuer.to_owned(), reason };
        let metadata = CoreProviderMetadata::discover_async(issuer_url, &self.http).await.map_err(|e| match e {
            DiscoveryError::Request(e) => OidcError::Unreachable(e),
            DiscoveryError::Response(_, _, reason)
            | DiscoveryError::Validation(reason)
            | DiscoveryError::Other(reason) => bad(reason),
            DiscoveryError::Parse(e) => bad(format!("not OpenID provider metadata: {e}")),
            DiscoveryError::UrlParse(e) => bad(format!("no discovery URL can be made from it: {e}")),
            _ => bad(e.to_string()),
        })?;
        let now = self.clock.now_secs();
        let found = Discovered {
            authorize_url: metadata.authorization_endpoint().to_string(),
            token_url: metadata.token_endpoint().map(|u| u.to_string()),
            userinfo_url: metadata.userinfo_endpoint().map(|u| u.to_string()),
            jwks_uri: metadata.jwks_uri().to_string(),
            token_auth_methods: metadata
                .token_endpoint_auth_methods_supported()
                .map(|methods| methods.iter().map(|m| m.as_ref().to_owned()).collect())
                .unwrap_or_default(),
            id_token_signing_algs: metadata.id_token_signing_alg_values_supported().iter().map(alg_name).collect(),
            scopes_supported: metadata
                .scopes_supported()
                .map(|scopes| scopes.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default(),
            fetched_at: now,
        };
        for (key, url) in [
            ("authorization_endpoint", Some(&found.authorize_url)),
            ("token_endpoint", found.token_url.as_ref()),
            ("userinfo_endpoint", found.userinfo_url.as_ref()),
            ("jwks_uri", Some(&found.jwks_uri)),
        ] {
            if let Some(url) = url {
                check_web_url(url).map_err(|reason| bad(format!("its {key} {reason}")))?;
            }
        }
        let found = Arc::new(found);
        store(&self.issuers, issuer.to_owned(), found.clone(), |d| now - d.fetched_at >= DISCOVERY_TTL_SECS);
        let forced_at = read(&self.keys).get(&found.jwks_uri).and_then(|k| k.forced_at);
        let keys = Keys { set: metadata.jwks().clone(), fetched_at: now, forced_at };
        store(&self.keys, found.jwks_uri.clone(), keys, |k| now - k.fetched_at >= DISCOVERY_TTL_SECS);
        Ok(found)
    }

    /// The JWKS at `url`: cached, or fetched when absent or stale. `unknown_kid` asks for a
    /// fetch whatever the cache holds, at most once per [`JWKS_REFRESH_MIN_SECS`]; sooner,
    /// the key is simply unknown.
    async fn keys_at(&self, url: &str, unknown_kid: bool) -> Result<CoreJsonWebKeySet, OidcError> {
        let now = self.clock.now_secs();
        let cached = read(&self.keys).get(url).cloned();
        if let Some(keys) = &cached {
            if !unknown_kid && now - keys.fetched_at < DISCOVERY_TTL_SECS {
                return Ok(keys.set.clone());
            }
            if unknown_kid && refreshed_lately(keys.forced_at, now) {
                return Err(OidcError::UnknownSigningKey);
            }
        }
        if unknown_kid {
            // Claim the refresh before fetching, so concurrent sign-ins with unknown kids
            // make one request between them.
            let mut map = write(&self.keys);
            if let Some(keys) = map.get_mut(url) {
                if refreshed_lately(keys.forced_at, now) {
                    return Err(OidcError::UnknownSigningKey);
                }
                keys.forced_at = Some(now);
            }
        }
        self.fetch_keys(url).await
    }

    /// Fetches the JWKS at `url` and caches it (keeping the last forced refresh's time).
    async fn fetch_keys(&self, url: &str) -> Result<CoreJsonWebKeySet, OidcError> {
        let jwks_url = JsonWebKeySetUrl::new(url.to_owned()).map_err(|e| invalid_url("jwks_uri", e))?;
        let set = CoreJsonWebKeySet::fetch_async(&jwks_url, &self.http).await.map_err(|e| match e {
            DiscoveryError::Request(e) => OidcError::Unreachable(e),
            DiscoveryError::Parse(e) => OidcError::Keys { url: url.to_owned(), reason: format!("not a JWKS: {e}") },
            other => OidcError::Keys { url: url.to_owned(), reason: other.to_string() },
        })?;
        let now = self.clock.now_secs();
        let forced_at = read(&self.keys).get(url).and_then(|k| k.forced_at);
        let keys = Keys { set: set.clone(), fetched_at: now, forced_at };
        store(&self.keys, url.to_owned(), keys, |k| now - k.fetched_at >= DISCOVERY_TTL_SECS);
        Ok(set)
    }

    /// Reads userinfo with the access token as a Bearer credential in the Authorization
    /// header (OIDC Core 5.3.1's recommendation, for GET and POST alike; a POST has an empty
    /// body, and no form content type, which some providers refuse when empty). Only JSON
    /// answers: a signed or encrypted userinfo JWT is refused.
    async fn userinfo(&self, url: &str, post: bool, access_token: &str) -> Result<Map<String, Value>, OidcError> {
        use openidconnect::http::{Method, Request, StatusCode, header};
        let request = Request::builder()
            .method(if post { Method::POST } else { Method::GET })
            .uri(url)
            .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
            .header(header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| invalid_url("attributes_url", e))?;
        let response = self.http.send(request).await?;
        if response.status() != StatusCode::OK {
            let why = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(|v| format!(" ({v})"))
                .unwrap_or_default();
            return Err(OidcError::UserInfo(format!("it answered HTTP {}{why}", response.status().as_u16())));
        }
        let content_type =
            response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if content_type.to_ascii_lowercase().starts_with("application/jwt") {
            return Err(OidcError::UserInfo("it answers signed or encrypted JWTs, which Cognate does not read".into()));
        }
        match serde_json::from_slice::<Value>(response.body()) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(OidcError::UserInfo("its answer is not a JSON object".into())),
        }
    }
}

/// Whether an unknown `kid` already forced a JWKS fetch less than
/// [`JWKS_REFRESH_MIN_SECS`] ago.
fn refreshed_lately(forced_at: Option<i64>, now: i64) -> bool {
    forced_at.is_some_and(|at| now.saturating_sub(at) < JWKS_REFRESH_MIN_SECS)
}

/// The token endpoint's client authentication, from the provider's advertised methods
/// (none advertised means `client_secret_basic`, OIDC Discovery's default). Without a
/// secret the client is public: its id in the body, PKCE as its proof.
fn auth_type(methods: &[String], has_secret: bool) -> Result<AuthType, OidcError> {
    let offers = |m: CoreClientAuthMethod| methods.iter().any(|x| x == m.as_ref());
    if !has_secret {
        Ok(AuthType::RequestBody)
    } else if methods.is_empty() || offers(CoreClientAuthMethod::ClientSecretBasic) {
        Ok(AuthType::BasicAuth)
    } else if offers(CoreClientAuthMethod::ClientSecretPost) {
        Ok(AuthType::RequestBody)
    } else {
        Err(OidcError::UnsupportedClientAuth(methods.join(", ")))
    }
}

/// An algorithm's JOSE name (`RS256`), as the discovery document spells it.
fn alg_name(alg: &CoreJwsSigningAlgorithm) -> String {
    match serde_json::to_value(alg) {
        Ok(Value::String(name)) => name,
        _ => format!("{alg:?}"),
    }
}

/// `https` with a host, or `http` on the loopback interface (a test provider): the rule
/// Cognate applies to provider URLs a tenant types, applied to the discovered ones too.
fn check_web_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL ({e})"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("must be an https URL (http only on the loopback interface): {text}")),
    }
}

fn has(details: &BTreeMap<String, String>, key: &str) -> bool {
    details.get(key).is_some_and(|v| !v.is_empty())
}

fn detail<'a>(details: &'a BTreeMap<String, String>, key: &'static str) -> Result<&'a str, OidcError> {
    details.get(key).map(String::as_str).filter(|v| !v.is_empty()).ok_or(OidcError::MissingDetail(key))
}

fn issuer_url(details: &BTreeMap<String, String>) -> Result<IssuerUrl, OidcError> {
    IssuerUrl::new(detail(details, "oidc_issuer")?.to_owned()).map_err(|e| invalid_url("oidc_issuer", e))
}

fn invalid_url(key: &str, e: impl std::fmt::Display) -> OidcError {
    OidcError::InvalidUrl { key: key.to_owned(), reason: e.to_string() }
}

fn read<K, V>(lock: &RwLock<HashMap<K, V>>) -> std::sync::RwLockReadGuard<'_, HashMap<K, V>> {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<K, V>(lock: &RwLock<HashMap<K, V>>) -> std::sync::RwLockWriteGuard<'_, HashMap<K, V>> {
    lock.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Caches `value` under `key`; past [`MAX_CACHED`] entries the stale ones go first, and
/// if all are fresh the map is emptied (a flood of providers, not a steady state).
fn store<V>(lock: &RwLock<HashMap<String, V>>, key: String, value: V, stale: impl Fn(&V) -> bool) {
    let mut map = write(lock);
    if map.len() >= MAX_CACHED && !map.contains_key(&key) {
        map.retain(|_, v| !stale(v));
        if map.len() >= MAX_CACHED {
            map.clear();
        }
    }
    map.insert(key, value);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn client_authentication_follows_discovery() {
        let m = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(matches!(auth_type(&m(&[]), true), Ok(AuthType::BasicAuth)));
        assert!(matches!(auth_type(&m(&["client_secret_post", "client_secret_basic"]), true), Ok(AuthType::BasicAuth)));
        assert!(matches!(auth_type(&m(&["client_secret_post"]), true), Ok(AuthType::RequestBody)));
        assert!(matches!(auth_type(&m(&["private_key_jwt"]), true), Err(OidcError::UnsupportedClientAuth(_))));
        assert!(matches!(auth_type(&m(&["private_key_jwt"]), false), Ok(AuthType::RequestBody)));
    }

    #[test]
    fn provider_urls_are_https_or_loopback_http() {
        assert!(check_web_url("https://idp.example.com/auth").is_ok());
        assert!(check_web_url("http://127.0.0.1:9000/auth").is_ok());
        assert!(check_web_url("http://[::1]:9000/auth").is_ok());
        assert!(check_web_url("http://localhost/auth").is_ok());
        assert!(check_web_url("http://idp.example.com/auth").is_err());
        assert!(check_web_url("ftp://idp.example.com/").is_err());
        assert!(check_web_url("not a url").is_err());
    }

    #[test]
    fn error_messages_name_the_problem() {
        let e = OidcError::TokenRejected { error: "invalid_grant".into(), description: Some("code expired".into()) };
        assert_eq!(e.to_string(), "The identity provider refused the authorization code: invalid_grant (code expired)");
        let e = OidcError::TokenRejected { error: "invalid_client".into(), description: None };
        assert_eq!(e.to_string(), "The identity provider refused the authorization code: invalid_client");
    }
}

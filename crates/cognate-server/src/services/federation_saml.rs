//! SAML 2.0 for [`super::federation`]: the pool as a service provider (entity id
//! `urn:amazon:cognito:sp:{poolId}`, as Cognito names it; the ACS `/saml2/idpresponse`;
//! AuthnRequests signed RSA-SHA256 with the pool's signing key, whose certificate
//! GetSigningCertificate hands out), the IdP's metadata (a MetadataFile, or a MetadataURL
//! fetched and kept ten minutes), the response checks of [`cognate_saml::verify_response`],
//! a replay cache of assertion ids, and single logout.
//!
//! An SP-initiated response must answer one of our pending requests (InResponseTo) and
//! carry its RelayState; an IdP-initiated one (no InResponseTo) is taken only from a
//! provider with `IDPInit` on, its RelayState being the authorization request's parameters
//! (as Cognito's).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cognate_core::idp::{ExternalIdentity, IdentityProvider, ProviderType};
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::login;
use cognate_saml::{IdpMetadata, ServiceProvider};

use super::federation::{self, FederationError};
use crate::AppState;

/// How long a used LogoutRequest's id is remembered: a day (the crate checks the request's
/// times within the skew; the id guards the rest).
const LOGOUT_REPLAY_SECS: i64 = 24 * 60 * 60;
/// Clock skew allowed on the response's times.
const SKEW_SECS: i64 = 120;
/// How long a fetched MetadataURL document is used before it is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(600);
/// Largest SAMLResponse taken (Cognito: 100,000 characters; base64 of a larger document).
const MAX_RESPONSE: usize = 200_000;

/// What the ACS made of a response.
#[derive(Debug)]
pub enum Accepted {
    /// An answer to our request: the identity waits on it for the browser that began it.
    Pending { relay: String },
    /// An IdP-initiated sign-in (the provider allows it) for the authorization request in
    /// the RelayState.
    IdpInitiated { query: String, provider: IdentityProvider, identity: Box<ExternalIdentity> },
}

/// Fetched metadata documents by URL.
#[derive(Default)]
pub struct MetadataCache {
    documents: Mutex<HashMap<String, (Instant, String)>>,
}

fn provider_error(e: impl std::fmt::Display) -> FederationError {
    FederationError::Provider(e.to_string())
}

/// The IdP metadata document of a SAML provider: its MetadataFile, or its MetadataURL's.
async fn metadata_document(
    state: &AppState,
    details: &std::collections::BTreeMap<String, String>,
) -> Result<String, FederationError> {
    if let Some(file) = details.get("MetadataFile") {
        return Ok(file.clone());
    }
    let url = details.get("MetadataURL").ok_or_else(|| provider_error("The provider has no metadata."))?;
    if let Ok(cache) = state.saml_metadata.documents.lock()
        && let Some((at, doc)) = cache.get(url)
        && at.elapsed() < METADATA_TTL
    {
        return Ok(doc.clone());
    }
    let doc = fetch_metadata(state, url).await?;
    if let Ok(mut cache) = state.saml_metadata.documents.lock() {
        cache.insert(url.clone(), (Instant::now(), doc.clone()));
    }
    Ok(doc)
}

async fn fetch_metadata(state: &AppState, url: &str) -> Result<String, FederationError> {
    // The relying party's HTTP client: no redirects followed (a metadata URL that answers
    // with one is refused, not followed to wherever it points), a timeout, and the body
    // read in chunks up to 1 MiB.
    let request = openidconnect::http::Request::builder()
        .method("GET")
        .uri(url)
        .header("accept", "application/samlmetadata+xml, application/xml, text/xml")
        .body(Vec::new())
        .map_err(|e| provider_error(format!("The metadata URL is not usable: {e}")))?;
    let resp = crate::federation_oidc::http::Http::new(state.outbound.clone())
        .send(request)
        .await
        .map_err(|e| provider_error(format!("The metadata URL cannot be read: {e}")))?;
    if !resp.status().is_success() {
        return Err(provider_error(format!("The metadata URL answered HTTP {}.", resp.status().as_u16())));
    }
    String::from_utf8(resp.into_body()).map_err(|_| provider_error("The metadata document is not UTF-8."))
}

async fn idp_metadata(state: &AppState, provider: &IdentityProvider) -> Result<IdpMetadata, FederationError> {
    let doc = metadata_document(state, &provider.details).await?;
    cognate_saml::parse_metadata(&doc).map_err(provider_error)
}

/// What "test connection" found in a SAML provider's metadata.
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SamlProbe {
    pub entity_id: String,
    pub sso_redirect_url: Option<String>,
    pub slo_redirect_url: Option<String>,
    pub signing_certificates: usize,
    pub want_authn_requests_signed: bool,
    /// What will make sign-ins (or single logout) fail.
    pub warnings: Vec<String>,
}

/// Reads the provider's metadata afresh (a MetadataURL is fetched now, and the cache
/// refreshed) and reports what sign-ins will use.
pub async fn probe(state: &AppState, provider: &IdentityProvider) -> Result<SamlProbe, FederationError> {
    if let Some(url) = provider.details.get("MetadataURL")
        && let Ok(mut cache) = state.saml_metadata.documents.lock()
    {
        cache.remove(url);
    }
    let metadata = idp_metadata(state, provider).await?;
    let mut warnings = Vec::new();
    if metadata.sso_redirect.is_none() {
        warnings.push("The metadata has no HTTP-Redirect SingleSignOnService: Cognate cannot send users there.".into());
    }
    if provider.details.get("IDPSignout").is_some_and(|v| v == "true") && metadata.slo_redirect.is_none() {
        warnings.push("IDPSignout is on but the metadata has no HTTP-Redirect SingleLogoutService.".into());
    }
    Ok(SamlProbe {
        entity_id: metadata.entity_id,
        sso_redirect_url: metadata.sso_redirect,
        slo_redirect_url: metadata.slo_redirect,
        signing_certificates: metadata.signing_certificates.len(),
        want_authn_requests_signed: metadata.want_authn_requests_signed,
        warnings,
    })
}

/// The IdP's sign-in URL (HTTP-Redirect SingleSignOnService), when its metadata can be read.
pub async fn sign_in_url(state: &AppState, provider: &IdentityProvider) -> Option<String> {
    if let Some(url) = provider.details.get("SSORedirectBindingURI") {
        return Some(url.clone());
    }
    idp_metadata(state, provider).await.ok().and_then(|m| m.sso_redirect)
}

/// At CreateIdentityProvider / UpdateIdentityProvider with a MetadataFile: the endpoints
/// Cognito describes (`SSORedirectBindingURI`, `SLORedirectBindingURI`) filled in from it.
/// A MetadataURL is read at the first sign-in (and then every ten minutes), not here.
pub fn derive_details(details: &mut std::collections::BTreeMap<String, String>) {
    let Some(metadata) = details.get("MetadataFile").and_then(|doc| cognate_saml::parse_metadata(doc).ok()) else {
        return;
    };
    if let Some(url) = &metadata.sso_redirect {
        details.insert("SSORedirectBindingURI".into(), url.clone());
    }
    if let Some(url) = &metadata.slo_redirect {
        details.insert("SLORedirectBindingURI".into(), url.clone());
    }
}

/// The pool as a service provider, with its signing key (made at first use).
async fn service_provider(
    state: &AppState,
    pool: &PoolId,
    encryption: bool,
) -> Result<ServiceProvider, FederationError> {
    use base64::Engine as _;
    super::identity_providers::signing_certificate(state, pool)
        .await
        .map_err(|e| FederationError::Fault(e.to_string()))?;
    let (certificate, key_sealed) =
        state.store.signing_certificate(pool).await?.ok_or_else(|| FederationError::Fault("no signing key".into()))?;
    let signing_certificate = base64::engine::general_purpose::STANDARD
        .decode(certificate)
        .map_err(|e| FederationError::Fault(e.to_string()))?;
    let signing_key_pkcs8 = super::identity_providers::open_signing_key(state, &key_sealed)
        .map_err(|e| FederationError::Fault(e.to_string()))?;
    let base = state.settings.public_url.trim_end_matches('/');
    Ok(ServiceProvider {
        entity_id: entity_id(pool),
        acs_url: format!("{base}/saml2/idpresponse"),
        slo_url: format!("{base}/saml2/logout?pool={pool}"),
        signing_certificate,
        signing_key_pkcs8,
        encryption,
    })
}

/// The pool's SAML entity id, as Cognito's.
pub fn entity_id(pool: &PoolId) -> String {
    format!("urn:amazon:cognito:sp:{pool}")
}

/// The pool's service-provider metadata; `None` when there is no such pool.
pub async fn sp_metadata(state: &AppState, pool: &str) -> Result<Option<String>, FederationError> {
    let Some(pool) = PoolId::parse(pool) else { return Ok(None) };
    if state.store.get_pool(&pool).await?.is_none() {
        return Ok(None);
    }
    let sp = service_provider(state, &pool, true).await?;
    Ok(Some(cognate_saml::sp_metadata(&sp)))
}

/// The AuthnRequest redirect for a new trip: the IdP's sign-in URL and the request's ID.
pub(super) async fn request(
    state: &AppState,
    auth: &super::authorize::Authorization,
    provider: &IdentityProvider,
    relay: &str,
) -> Result<(String, Option<String>), FederationError> {
    let idp = idp_metadata(state, provider).await?;
    let sso = idp
        .sso_redirect
        .clone()
        .ok_or_else(|| provider_error("The metadata has no HTTP-Redirect SingleSignOnService."))?;
    let sp = service_provider(state, &auth.pool.id, encrypted(provider)).await?;
    let request_id = format!("_{}", hex::encode(cognate_core::clock::random_bytes::<20>(state.rng.as_ref())));
    let now = state.clock.now_millis() / 1000;
    let url = cognate_saml::authn_request_url(&sp, &sso, &request_id, relay, now, true).map_err(provider_error)?;
    Ok((url, Some(request_id)))
}

fn encrypted(provider: &IdentityProvider) -> bool {
    provider.details.get("EncryptedResponses").is_some_and(|v| v == "true")
}

/// Verifies a response with the provider's certificates and rules, and records its
/// assertion as used (a replayed assertion is refused).
async fn verify(
    state: &AppState,
    pool: &PoolId,
    provider: &IdentityProvider,
    in_response_to: Option<&str>,
    response: &str,
) -> Result<ExternalIdentity, FederationError> {
    let idp = idp_metadata(state, provider).await?;
    let sp = service_provider(state, pool, encrypted(provider)).await?;
    let now = state.clock.now_millis() / 1000;
    let expected = cognate_saml::Expected { sp: &sp, idp: &idp, now_secs: now, skew_secs: SKEW_SECS, in_response_to };
    // The reason goes to the log only: the browser learns nothing that would tell a failed
    // decryption from a later check (a padding oracle on encrypted assertions).
    let assertion = cognate_saml::verify_response(response, &expected).map_err(|e| {
        tracing::warn!(pool = %pool, provider = %provider.name, error = %e, "SAML response refused");
        provider_error("The identity provider's SAML response was refused.")
    })?;
    let key = login::secret_hash(&format!("saml-assertion\n{pool}\n{}\n{}", assertion.issuer, assertion.id));
    let keep_until = (assertion.expires_at_secs.max(now) + SKEW_SECS) * 1000;
    if !state.store.spend(&key, keep_until).await? {
        tracing::warn!(pool = %pool, provider = %provider.name, "replayed SAML assertion refused");
        return Err(provider_error("This SAML assertion was used already."));
    }
    Ok(ExternalIdentity {
        subject: assertion.name_id,
        attributes: assertion.attributes,
        session_index: assertion.session_index,
        name_id_format: assertion.name_id_format,
    })
}

/// The ACS: checks a posted response against the request it answers (or, IdP-initiated,
/// the provider's IDPInit) and leaves the identity for the browser.
pub async fn accept(state: &AppState, response: &str, relay: &str) -> Result<Accepted, FederationError> {
    if response.len() > MAX_RESPONSE {
        return Err(provider_error("The SAML response is too large."));
    }
    let in_response_to = cognate_saml::response_in_response_to(response).map_err(provider_error)?;
    match in_response_to {
        Some(id) => {
            let request = state
                .store
                .federation_request_by_id(&id)
                .await?
                .ok_or_else(|| provider_error("The SAML response answers no sign-in request of this server."))?;
            let now = state.clock.now_millis();
            if request.state_hash != login::secret_hash(relay) {
                return Err(provider_error("The SAML response's RelayState is not its request's."));
            }
            if request.used_at.is_some() || request.result.is_some() || request.expires_at <= now {
                return Err(FederationError::InvalidRequest);
            }
            let provider = match super::identity_providers::get(state, &request.pool_id, &request.provider).await {
                Ok(p) if p.kind == ProviderType::Saml => p,
                _ => return Err(FederationError::InvalidRequest),
            };
            let identity = verify(state, &request.pool_id, &provider, Some(&id), response).await?;
            if !federation::attach(state, &request.state_hash, &identity).await? {
                return Err(FederationError::InvalidRequest);
            }
            Ok(Accepted::Pending { relay: relay.to_owned() })
        }
        None => idp_initiated(state, response, relay).await,
    }
}

/// An unsolicited response: only from a provider with IDPInit on, for the client its
/// RelayState names.
async fn idp_initiated(state: &AppState, response: &str, relay: &str) -> Result<Accepted, FederationError> {
    let refuse = || provider_error("Unsolicited SAML responses are not accepted for this identity provider.");
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(relay.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let client = match params.get("client_id").and_then(|c| ClientId::parse(c)) {
        Some(id) => super::clients::lookup(state, &id).await?.ok_or_else(refuse)?,
        None => return Err(refuse()),
    };
    let provider = match (params.get("identity_provider"), params.get("idp_identifier")) {
        (Some(name), _) => super::identity_providers::get(state, &client.pool_id, name).await,
        (None, Some(identifier)) => super::identity_providers::by_identifier(state, &client.pool_id, identifier).await,
        (None, None) => return Err(refuse()),
    }
    .map_err(|_| refuse())?;
    if provider.kind != ProviderType::Saml || provider.details.get("IDPInit").is_none_or(|v| v != "true") {
        return Err(refuse());
    }
    let identity = verify(state, &client.pool_id, &provider, None, response).await?;
    Ok(Accepted::IdpInitiated { query: relay.to_owned(), provider, identity: Box::new(identity) })
}

/// Who a SAML provider signed in, as a browser session keeps it for single logout.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SamlSession {
    provider: String,
    name_id: String,
    name_id_format: Option<String>,
    session_index: Option<String>,
}

/// The session record of a SAML sign-in (JSON).
pub fn session_of(provider: &IdentityProvider, identity: &ExternalIdentity) -> String {
    let session = SamlSession {
        provider: provider.name.clone(),
        name_id: identity.subject.clone(),
        name_id_format: identity.name_id_format.clone(),
        session_index: identity.session_index.clone(),
    };
    serde_json::to_string(&session).unwrap_or_default()
}

/// Where a sign-out started at Cognate returns after the IdP's single logout.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LogoutTrip {
    redirect: Option<String>,
}

/// The master-key label of a pending single logout's payload.
const LOGOUT_LABEL: &str = "federation-logout";

/// Sign-out of a session begun at a SAML provider with IDPSignout on: a pending logout
/// (single use, ten minutes) and the signed LogoutRequest URL at the IdP's
/// SingleLogoutService. `None` (logged) when the provider does not sign users out or
/// cannot be reached: the local sign-out stands alone then.
pub async fn start_logout(state: &AppState, pool: &PoolId, session: &str, redirect: Option<&str>) -> Option<String> {
    let session: SamlSession = serde_json::from_str(session).ok()?;
    let provider = super::identity_providers::get(state, pool, &session.provider).await.ok()?;
    if provider.kind != ProviderType::Saml || provider.details.get("IDPSignout").is_none_or(|v| v != "true") {
        return None;
    }
    let started = async {
        let idp = idp_metadata(state, &provider).await?;
        let slo = idp.slo_redirect.clone().ok_or_else(|| provider_error("no SingleLogoutService"))?;
        let sp = service_provider(state, pool, false).await?;
        let request_id = format!("_{}", hex::encode(cognate_core::clock::random_bytes::<20>(state.rng.as_ref())));
        let (relay, state_hash) = login::new_secret(state.rng.as_ref());
        let now = state.clock.now_millis();
        let trip = serde_json::to_vec(&LogoutTrip { redirect: redirect.map(str::to_owned) })
            .map_err(|e| FederationError::Fault(e.to_string()))?;
        let request = cognate_core::login::FederationRequest {
            state_hash,
            pool_id: pool.clone(),
            provider: provider.name.clone(),
            // The IdP answers whichever browser it has: nothing to bind to.
            binding_hash: String::new(),
            request_id: Some(request_id.clone()),
            payload: state.master_key.seal(state.rng.as_ref(), LOGOUT_LABEL, &trip),
            result: None,
            created_at: now,
            expires_at: now + cognate_core::login::FEDERATION_TTL_MS,
            used_at: None,
        };
        state.store.save_federation_request(&request).await?;
        cognate_saml::logout_request_url(
            &sp,
            &slo,
            &request_id,
            &session.name_id,
            session.name_id_format.as_deref(),
            session.session_index.as_deref(),
            &relay,
            now / 1000,
        )
        .map_err(provider_error)
    };
    match started.await {
        Ok(url) => Some(url),
        Err(e) => {
            tracing::warn!(pool = %pool, provider = %provider.name, error = %e, "single logout at the identity provider skipped");
            None
        }
    }
}

/// `/saml2/logout` (HTTP-Redirect). A LogoutRequest from a SAML provider of the pool with
/// IDPSignout on (signed) signs the user out here — every browser session and token of
/// theirs, as a global sign-out — and is answered with a signed LogoutResponse at the
/// IdP's SingleLogoutService. A LogoutResponse answers a sign-out begun here: the browser
/// goes on to the sign-out URL it asked for (`None`: the signed-out page). The pool is the
/// `pool` parameter of the logout URL in the SP metadata.
pub async fn logout(state: &AppState, query: &str) -> Result<Option<String>, FederationError> {
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    };
    if param("SAMLResponse").is_some() {
        return finish_logout(state, query, &param("RelayState").unwrap_or_default()).await;
    }
    let pool_id = param("pool")
        .and_then(|p| PoolId::parse(&p))
        .ok_or_else(|| provider_error("The logout request names no user pool."))?;
    let pool = super::pools::get(state, &pool_id).await.map_err(|_| provider_error("No such user pool."))?;
    let sp = service_provider(state, &pool.id, false).await?;
    let now = state.clock.now_millis() / 1000;
    for stored in saml_providers(state, &pool.id).await? {
        if stored.details.get("IDPSignout").is_none_or(|v| v != "true") {
            continue;
        }
        let Ok(idp) = idp_metadata(state, &stored).await else { continue };
        let Ok(request) = cognate_saml::parse_logout_request(query, &idp, &sp, now, SKEW_SECS) else {
            continue;
        };
        let slo =
            idp.slo_redirect.clone().ok_or_else(|| provider_error("The IdP's metadata has no SingleLogoutService."))?;
        // A logout request is acted on once (a captured URL replayed signs nobody out).
        let key = login::secret_hash(&format!("saml-logout\n{}\n{}\n{}", pool.id, idp.entity_id, request.id));
        if !state.store.spend(&key, (now + LOGOUT_REPLAY_SECS) * 1000).await? {
            return Err(provider_error("This logout request was used already."));
        }
        sign_out(state, &pool, &stored, &request.name_id).await?;
        let response_id = format!("_{}", hex::encode(cognate_core::clock::random_bytes::<20>(state.rng.as_ref())));
        let relay = request.relay_state.clone().unwrap_or_default();
        return cognate_saml::logout_response_url(&sp, &slo, &response_id, &request.id, &relay, now)
            .map(Some)
            .map_err(provider_error);
    }
    Err(provider_error(
        "The logout request is not a signed request of an identity provider of this pool that may sign users out.",
    ))
}

/// Every SAML provider of the pool, page after page.
async fn saml_providers(state: &AppState, pool: &PoolId) -> Result<Vec<IdentityProvider>, FederationError> {
    let mut out = Vec::new();
    let mut page = cognate_core::page::PageRequest { after: None, limit: 60 };
    loop {
        let rows = state.store.list_identity_providers(pool, &page).await?;
        let (rows, next) = cognate_core::page::finish(rows, &page, |p| p.name.clone());
        out.extend(rows.into_iter().filter(|p| p.kind == ProviderType::Saml));
        match next {
            Some(after) => page.after = Some(after),
            None => return Ok(out),
        }
    }
}

/// The IdP's LogoutResponse to a sign-out begun here: it must answer that very request
/// (RelayState and InResponseTo), once, and be signed by the provider when signed at all.
async fn finish_logout(state: &AppState, query: &str, relay: &str) -> Result<Option<String>, FederationError> {
    let request = federation::take_request(state, relay).await?;
    let trip: LogoutTrip = state
        .master_key
        .open(LOGOUT_LABEL, &request.payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(FederationError::InvalidRequest)?;
    let provider = super::identity_providers::get(state, &request.pool_id, &request.provider)
        .await
        .map_err(|_| FederationError::InvalidRequest)?;
    let idp = idp_metadata(state, &provider).await?;
    let sp = service_provider(state, &request.pool_id, false).await?;
    let response = cognate_saml::parse_logout_response(query, &idp, &sp).map_err(provider_error)?;
    if response.in_response_to.is_none() || response.in_response_to != request.request_id {
        return Err(provider_error("The logout response answers another request."));
    }
    Ok(trip.redirect)
}

/// Signs out the user the provider knows as `name_id` (their federated user, or the user
/// the identity is linked to): every browser session and token family ends.
async fn sign_out(
    state: &AppState,
    pool: &cognate_core::pool::UserPool,
    provider: &IdentityProvider,
    name_id: &str,
) -> Result<(), FederationError> {
    // Only the user the identity is linked to (every federated user is linked to its own).
    let linked =
        state.store.linked_user(&pool.id, &provider.name, cognate_core::idp::SUBJECT_ATTRIBUTE, name_id).await?;
    let user = match linked {
        Some(sub) => super::users::by_sub(state, &pool.id, &sub).await?,
        None => None,
    };
    if let Some(mut user) = user {
        super::users::save_signed_out(state, pool, &mut user)
            .await
            .map_err(|e| FederationError::Fault(e.to_string()))?;
        tracing::info!(pool = %pool.id, provider = %provider.name, sub = %user.sub, "signed out by the identity provider");
    }
    Ok(())
}

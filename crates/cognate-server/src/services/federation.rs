//! Browser sign-in through an external identity provider (a pool's OIDC or SAML provider,
//! Cognito's federation): the hosted login sends the browser to the provider, the provider
//! sends it back with proof of who signed in, and the proof becomes a pool user, a browser
//! session and the client's code — the same session and grant as a password sign-in.
//!
//! Rules:
//! - a client federates only through providers in its SupportedIdentityProviders;
//! - each trip is a stored request (`federation_requests`) keyed by the hash of the
//!   `state`/`RelayState` value, used once, ten minutes at most, and bound to the browser
//!   that began it by a cookie (its hash is stored): a callback carried to another browser
//!   signs nobody in there (login CSRF);
//! - the client's authorization request is kept sealed with the request and checked again
//!   when the browser comes back (the client may have changed meanwhile);
//! - users are Cognito's federated users: `{Provider}_{subject}`, status EXTERNAL_PROVIDER,
//!   the `identities` attribute (from their links), the `{poolId}_{Provider}` group, and the
//!   provider's attribute mapping applied at every sign-in; an identity linked to an
//!   existing user (AdminLinkProviderForUser) signs in as that user, whose sub and tenants
//!   are kept;
//! - a provider behind a tenant's SSO connection admits its users to that tenant (just in
//!   time) and the sign-in enters it; the tenant chose its IdP and that IdP's factors, so
//!   its federated users meet that tenant's MFA policy (and no other tenant's:
//!   `tenancy::ActiveTenant::idp_mfa`).

use std::collections::BTreeMap;

use cognate_core::StoreError;
use cognate_core::idp::{ExternalIdentity, IdentityProvider, ProviderLink, SUBJECT_ATTRIBUTE};
use cognate_core::ids::generate_sub;
use cognate_core::login::{self, FEDERATION_TTL_MS, FederationRequest};
use cognate_core::pool::UserPool;
use cognate_core::user::{User, UserStatus};
use serde::{Deserialize, Serialize};

use super::authorize::{self, Authorization, Outcome};
use super::sign_in::SignedIn;
use super::tokens::Rejection;
use crate::AppState;
use crate::tenancy::{self, Selection};

/// The master-key label of a pending request's payload and result.
const REQUEST_LABEL: &str = "federation-request";
/// Longest provider subject kept: the username `{Provider}_{subject}` stays within
/// Cognito's 128 characters.
const MAX_USERNAME: usize = 128;
/// Longest mapped attribute value kept (Cognito's attribute limit).
const MAX_VALUE: usize = 2048;

/// Why a federated sign-in did not complete.
#[derive(Debug, thiserror::Error)]
pub enum FederationError {
    /// The client does not list the provider, or the pool has no such provider.
    #[error("no identity provider {0} for this client")]
    UnknownProvider(String),
    /// The callback names no pending request of this browser (unknown, used, expired,
    /// or begun in another browser).
    #[error("the sign-in request is unknown, used, expired or from another browser")]
    InvalidRequest,
    /// The provider's answer was refused (signature, audience, nonce, …) or it reported an
    /// error; the message is safe to show.
    #[error("{0}")]
    Provider(String),
    /// The identity cannot become a user here (a name too long, an email another user holds).
    #[error("{0}")]
    Account(String),
    /// The user, their tenant or the tenant's connection cannot sign in.
    #[error("refused: {0}")]
    Refused(Rejection),
    #[error("{0}")]
    Fault(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<tenancy::Refusal> for FederationError {
    fn from(e: tenancy::Refusal) -> Self {
        match e {
            tenancy::Refusal::NotMember => Self::Refused(Rejection::NotMember),
            tenancy::Refusal::Suspended => Self::Refused(Rejection::Suspended),
            tenancy::Refusal::Store(e) => Self::Store(e),
        }
    }
}

/// What a pending request keeps (sealed) for the browser's return.
#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    /// The client's authorization request (the `/oauth2/authorize` query string).
    query: String,
    /// OIDC: the nonce and PKCE verifier sent to the provider.
    nonce: String,
    verifier: String,
}

/// A pending request, back from the provider and used up.
#[derive(Debug)]
pub struct Returned {
    /// The client's authorization request, to check again.
    pub query: String,
    pub provider: String,
    pub pool_id: cognate_core::ids::PoolId,
    nonce: String,
    verifier: String,
    /// SAML: the identity the ACS verified.
    result: Option<ExternalIdentity>,
}

/// Where to send the browser, and the cookie that binds the trip to it.
#[derive(Debug)]
pub struct Started {
    pub location: String,
    pub binding: String,
}

/// The provider a request names (`identity_provider`) or routes to (`idp_identifier`, an
/// email domain), which the client must list in SupportedIdentityProviders.
pub async fn provider_for(
    state: &AppState,
    auth: &Authorization,
    name: Option<&str>,
    identifier: Option<&str>,
) -> Result<IdentityProvider, FederationError> {
    use super::identity_providers::{self as idps, IdpError};
    let found = match (name, identifier) {
        (Some(name), _) => idps::get(state, &auth.pool.id, name).await,
        (None, Some(identifier)) => idps::by_identifier(state, &auth.pool.id, identifier).await,
        (None, None) => return Err(FederationError::UnknownProvider(String::new())),
    };
    let provider = match found {
        Ok(p) => p,
        Err(IdpError::NotFound(n)) => return Err(FederationError::UnknownProvider(n)),
        Err(IdpError::Store(e)) => return Err(e.into()),
        Err(e) => return Err(FederationError::Fault(e.to_string())),
    };
    if !auth.client.settings.supported_identity_providers.iter().any(|p| p == &provider.name) {
        return Err(FederationError::UnknownProvider(provider.name));
    }
    Ok(provider)
}

/// The origins of the sign-in pages of the providers `auth`'s client lists, for the login
/// page's CSP: an OIDC provider's `authorize_url` (else its issuer's origin, where
/// providers keep their authorization endpoint), a SAML provider's SSO URL from its
/// metadata. A provider whose page cannot be known is left out (its button still works:
/// a link is no form).
pub async fn provider_origins(state: &AppState, auth: &Authorization) -> Result<Vec<String>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    for name in auth.external_providers() {
        let Some(provider) = state.store.get_identity_provider(&auth.pool.id, &name).await? else {
            continue;
        };
        let url = match provider.kind {
            cognate_core::idp::ProviderType::Saml => super::federation_saml::sign_in_url(state, &provider).await,
            _ => provider.details.get("authorize_url").or_else(|| provider.details.get("oidc_issuer")).cloned(),
        };
        let origin = url
            .and_then(|u| crate::login::origin_of(&u))
            .filter(|o| o.starts_with("https://") || o.starts_with("http://"))
            .filter(|o| !o.contains([';', ' ', '\'', ',']));
        if let Some(origin) = origin.filter(|o| !out.contains(o)) {
            out.push(origin);
        }
    }
    Ok(out)
}

/// Stores a pending request for `auth` (whose query string is `query`) and answers the
/// provider's sign-in URL with the browser's binding cookie.
pub async fn begin(
    state: &AppState,
    auth: &Authorization,
    query: &str,
    provider: &IdentityProvider,
) -> Result<Started, FederationError> {
    let (relay, state_hash) = login::new_secret(state.rng.as_ref());
    let (binding, binding_hash) = login::new_secret(state.rng.as_ref());
    let (nonce, _) = login::new_secret(state.rng.as_ref());
    let (verifier, _) = login::new_secret(state.rng.as_ref());
    let now = state.clock.now_millis();
    let (location, request_id) = match provider.kind {
        cognate_core::idp::ProviderType::Saml => super::federation_saml::request(state, auth, provider, &relay).await?,
        _ => {
            let url = state
                .oidc
                .authorization_url(&provider.details, &callback_url(state), &relay, &nonce, &verifier)
                .await
                .map_err(|e| FederationError::Provider(e.to_string()))?;
            (url, None)
        }
    };
    let payload = Payload { query: query.to_owned(), nonce, verifier };
    let payload = serde_json::to_vec(&payload).map_err(|e| FederationError::Fault(e.to_string()))?;
    let request = FederationRequest {
        state_hash,
        pool_id: auth.pool.id.clone(),
        provider: provider.name.clone(),
        binding_hash,
        request_id,
        payload: state.master_key.seal(state.rng.as_ref(), REQUEST_LABEL, &payload),
        result: None,
        created_at: now,
        expires_at: now + FEDERATION_TTL_MS,
        used_at: None,
    };
    state.store.save_federation_request(&request).await?;
    tracing::info!(pool = %auth.pool.id, provider = %provider.name, "browser sent to identity provider");
    Ok(Started { location, binding })
}

/// The OIDC redirect URI registered at providers: `{public URL}/oauth2/idpresponse`.
pub fn callback_url(state: &AppState) -> String {
    format!("{}/oauth2/idpresponse", state.settings.public_url.trim_end_matches('/'))
}

/// Uses up the pending request (sign-in or single logout) `relay` names: the first caller
/// gets it, while it is unexpired.
pub(super) async fn take_request(state: &AppState, relay: &str) -> Result<FederationRequest, FederationError> {
    if relay.is_empty() || relay.len() > 100 {
        return Err(FederationError::InvalidRequest);
    }
    let now = state.clock.now_millis();
    state.store.take_federation_request(&login::secret_hash(relay), now).await?.ok_or(FederationError::InvalidRequest)
}

/// Uses up the pending request `relay` names, if the browser holding `binding` began it.
pub async fn take(state: &AppState, relay: &str, binding: Option<&str>) -> Result<Returned, FederationError> {
    let request = take_request(state, relay).await?;
    let bound =
        binding.is_some_and(|b| !b.is_empty() && b.len() <= 100 && login::secret_hash(b) == request.binding_hash);
    if !bound {
        tracing::warn!(pool = %request.pool_id, provider = %request.provider, "identity provider callback from another browser refused");
        return Err(FederationError::InvalidRequest);
    }
    let open = |sealed: &str| -> Result<Vec<u8>, FederationError> {
        state.master_key.open(REQUEST_LABEL, sealed).map_err(|e| FederationError::Fault(e.to_string()))
    };
    let payload: Payload =
        serde_json::from_slice(&open(&request.payload)?).map_err(|e| FederationError::Fault(e.to_string()))?;
    let result = match &request.result {
        Some(sealed) => Some(identity_from_json(&open(sealed)?)?),
        None => None,
    };
    Ok(Returned {
        query: payload.query,
        provider: request.provider,
        pool_id: request.pool_id,
        nonce: payload.nonce,
        verifier: payload.verifier,
        result,
    })
}

/// An identity as a pending request keeps it.
#[derive(Serialize, Deserialize)]
struct StoredIdentity {
    subject: String,
    attributes: BTreeMap<String, Vec<String>>,
    session_index: Option<String>,
    #[serde(default)]
    name_id_format: Option<String>,
}

fn identity_to_json(identity: &ExternalIdentity) -> Result<Vec<u8>, FederationError> {
    let stored = StoredIdentity {
        subject: identity.subject.clone(),
        attributes: identity.attributes.clone(),
        session_index: identity.session_index.clone(),
        name_id_format: identity.name_id_format.clone(),
    };
    serde_json::to_vec(&stored).map_err(|e| FederationError::Fault(e.to_string()))
}

fn identity_from_json(bytes: &[u8]) -> Result<ExternalIdentity, FederationError> {
    let stored: StoredIdentity = serde_json::from_slice(bytes).map_err(|e| FederationError::Fault(e.to_string()))?;
    Ok(ExternalIdentity {
        subject: stored.subject,
        attributes: stored.attributes,
        session_index: stored.session_index,
        name_id_format: stored.name_id_format,
    })
}

/// Leaves the identity a SAML response proved on its pending request, for the browser's
/// next request (the ACS is a cross-site POST, which carries no binding cookie).
pub(super) async fn attach(
    state: &AppState,
    state_hash: &str,
    identity: &ExternalIdentity,
) -> Result<bool, FederationError> {
    let sealed = state.master_key.seal(state.rng.as_ref(), REQUEST_LABEL, &identity_to_json(identity)?);
    Ok(state.store.attach_federation_result(state_hash, &sealed, state.clock.now_millis()).await?)
}

/// Completes an OIDC trip: the code is exchanged and the ID token checked by the provider's
/// rules, then the identity signs in.
pub async fn complete_oidc(
    state: &AppState,
    auth: &Authorization,
    returned: &Returned,
    code: &str,
    iss: Option<&str>,
) -> Result<Outcome, FederationError> {
    let provider = returned_provider(state, auth, returned).await?;
    if provider.kind == cognate_core::idp::ProviderType::Saml {
        return Err(FederationError::InvalidRequest);
    }
    // RFC 9207: a provider that names itself at the callback must be the one we sent the
    // browser to (mix-up defence).
    crate::federation_oidc::OidcClients::check_callback_issuer(&provider.details, iss)
        .map_err(|e| FederationError::Provider(e.to_string()))?;
    let secret = provider.details.get("client_secret").map(String::as_str);
    let identity = state
        .oidc
        .complete(&provider.details, secret, &callback_url(state), code, &returned.verifier, &returned.nonce)
        .await
        .map_err(|e| {
            tracing::warn!(pool = %auth.pool.id, provider = %provider.name, error = %e, "OIDC sign-in refused");
            FederationError::Provider(e.to_string())
        })?;
    sign_in(state, auth, &provider, identity).await
}

/// Completes a SAML trip whose response the ACS verified.
pub async fn complete_saml(
    state: &AppState,
    auth: &Authorization,
    returned: Returned,
) -> Result<Outcome, FederationError> {
    let provider = returned_provider(state, auth, &returned).await?;
    let identity = returned.result.ok_or(FederationError::InvalidRequest)?;
    sign_in(state, auth, &provider, identity).await
}

/// The provider of a returned request, which the (re-checked) client must still list.
async fn returned_provider(
    state: &AppState,
    auth: &Authorization,
    returned: &Returned,
) -> Result<IdentityProvider, FederationError> {
    if auth.pool.id != returned.pool_id {
        return Err(FederationError::InvalidRequest);
    }
    provider_for(state, auth, Some(&returned.provider), None).await
}

/// Signs in the user `identity` is at `provider`: the browser session and the grant.
pub async fn sign_in(
    state: &AppState,
    auth: &Authorization,
    provider: &IdentityProvider,
    identity: ExternalIdentity,
) -> Result<Outcome, FederationError> {
    let pool = &auth.pool;
    if provider.pool_id != pool.id
        || !auth.client.settings.supported_identity_providers.iter().any(|p| p == &provider.name)
    {
        return Err(FederationError::UnknownProvider(provider.name.clone()));
    }
    let user = external_user(state, pool, provider, &identity).await?;
    let connection = super::connections::for_provider(state, &pool.id, &provider.name)
        .await
        .map_err(|e| FederationError::Fault(e.to_string()))?;
    let (selection, mfa) = match connection {
        Some(connection) => {
            let tenant =
                super::connections::admit(state, &connection, &user, &identity).await.map_err(connection_refused)?;
            // The tenant's own IdP stands in for its MFA policy (`ActiveTenant::idp_mfa`), for
            // this tenant only: the session itself has not passed MFA.
            let active = tenancy::for_tenant(state, &user, &tenant).await?;
            (Selection::Managed(Some(active)), false)
        }
        None => (tenancy::pick(state, &user, None).await?, false),
    };
    tenancy::touch(state, &user, &selection).await?;
    // A completed sign-in, counted as a password one is (sign_in::finish): the code
    // exchange that follows counts its tokens.
    super::analytics::count(state, selection.tenant_id(), cognate_core::analytics::Figure::SignIn);
    super::analytics::active_user(state, selection.tenant_id(), &user);
    crate::facts::user(&user);
    crate::facts::tenant(selection.tenant_id().map(cognate_core::tenant::TenantId::as_str));
    let saml_session = match provider.kind {
        cognate_core::idp::ProviderType::Saml => Some(super::federation_saml::session_of(provider, &identity)),
        _ => None,
    };
    let signed_in = SignedIn { user, selection, mfa };
    let session_id = authorize::start_session_from(state, pool, &signed_in, saml_session).await?;
    let browser = authorize::Browser {
        session: state
            .store
            .get_login_session(&login::secret_hash(&session_id))
            .await?
            .ok_or_else(|| FederationError::Fault("the new browser session is gone".into()))?,
        user: signed_in.user,
    };
    let granted = authorize::grant(state, auth, &browser).await.map_err(FederationError::Refused)?;
    tracing::info!(pool = %pool.id, provider = %provider.name, sub = %browser.user.sub, "federated sign-in");
    Ok(Outcome::Done { session_id, granted })
}

fn connection_refused(e: super::connections::ConnectionError) -> FederationError {
    use super::connections::ConnectionError as E;
    match e {
        E::TenantSuspended => FederationError::Refused(Rejection::Suspended),
        E::Disabled => FederationError::Provider("This SSO connection is turned off.".into()),
        other => FederationError::Fault(other.to_string()),
    }
}

/// The user `identity` signs in as: the user it is linked to, else the federated user
/// `{Provider}_{subject}` — made at the first sign-in, its mapped attributes refreshed at
/// every one.
async fn external_user(
    state: &AppState,
    pool: &UserPool,
    provider: &IdentityProvider,
    identity: &ExternalIdentity,
) -> Result<User, FederationError> {
    if identity.subject.is_empty() || identity.subject.contains('\0') {
        return Err(FederationError::Provider("The identity provider named no user.".into()));
    }
    let username = format!("{}_{}", provider.name, identity.subject);
    if username.chars().count() > MAX_USERNAME {
        return Err(FederationError::Account(format!(
            "The identity provider's user id is longer than {} characters.",
            MAX_USERNAME - provider.name.chars().count() - 1
        )));
    }
    let mapped = mapped_attributes(pool, provider, identity);
    let now = state.clock.now_millis();
    let existing = match linked_user(state, pool, provider, identity).await? {
        Some(user) => Some(user),
        None => federated_user(state, pool, provider, identity, &username).await?,
    };
    // The mapping is applied at every sign-in, to a linked account too (as Cognito does).
    if let Some(mut user) = existing {
        let mut changed = false;
        for (name, value) in mapped {
            if user.attributes.get(&name) != Some(&value) {
                user.attributes.insert(name, value);
                changed = true;
            }
        }
        if changed {
            user.updated_at = now;
            super::users::save(state, pool, &user).await.map_err(write_refused)?;
        }
        return usable(user);
    }
    let mut user = User {
        pool_id: pool.id.clone(),
        sub: generate_sub(state.rng.as_ref()),
        username: username.clone(),
        status: UserStatus::ExternalProvider,
        enabled: true,
        password_hash: None,
        srp_verifier: None,
        temp_password_expires_at: None,
        attributes: mapped,
        created_at: now,
        updated_at: now,
        tokens_valid_after: 0,
    };
    let home = tenancy::home_for_new_user(state, &pool.id, None, false).await?;
    let keys = user.keys(&pool.settings);
    match tenancy::create_user(state, &mut user, &keys, home.as_ref()).await {
        Ok(()) => {}
        // A concurrent first sign-in of the same identity made the user: use theirs.
        Err(StoreError::Conflict("username")) => {
            let user = federated_user(state, pool, provider, identity, &username)
                .await?
                .ok_or(FederationError::InvalidRequest)?;
            return usable(user);
        }
        Err(StoreError::Conflict(key)) => {
            return Err(FederationError::Account(format!(
                "Another user of this pool has this {key}: link the identity to them (AdminLinkProviderForUser)."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    // The federated user's own identity: the `identities` attribute and claim follow links.
    match state.store.link_provider(&own_link(pool, provider, identity, &user.sub, now), usize::MAX).await {
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    super::groups::join_provider_group(state, pool, &provider.name, &user)
        .await
        .map_err(|e| FederationError::Fault(e.to_string()))?;
    tracing::info!(pool = %pool.id, provider = %provider.name, sub = %user.sub, "federated user created");
    let user = super::users::by_sub(state, &pool.id, &user.sub).await?.ok_or(FederationError::InvalidRequest)?;
    Ok(user)
}

/// The federated user `username` (`{Provider}_{subject}`) made from this very identity:
/// looked up by the exact username only (never an email or preferred-username alias), and
/// only an EXTERNAL_PROVIDER user counts — a pool user who merely took that name (sign-up
/// is open to any name) must never receive the identity, nor the tenant it is admitted to.
/// A federated user left without its link by an interrupted first sign-in gets it back.
async fn federated_user(
    state: &AppState,
    pool: &UserPool,
    provider: &IdentityProvider,
    identity: &ExternalIdentity,
    username: &str,
) -> Result<Option<User>, FederationError> {
    let key = cognate_core::user::username_key(&pool.settings, username);
    let Some(user) = state.store.get_user(&pool.id, &key).await? else {
        return Ok(None);
    };
    // A federated user with links has its own identity among them; this one's link was not
    // found, so such a user is another identity's (`A_b` + `c` and `A` + `b_c` make the same
    // name): only a user left without any link is this identity's, its link lost.
    let linked_elsewhere = user.attributes.get("identities").is_some_and(|v| v != "[]");
    if user.status != UserStatus::ExternalProvider || user.username != username || linked_elsewhere {
        tracing::warn!(pool = %pool.id, provider = %provider.name, sub = %user.sub, "a pool user holds a federated user's name");
        return Err(FederationError::Account(
            "A user of this pool already has this identity's user name; an administrator can link the identity to \
             them (AdminLinkProviderForUser)."
                .into(),
        ));
    }
    let link = own_link(pool, provider, identity, &user.sub, state.clock.now_millis());
    match state.store.link_provider(&link, usize::MAX).await {
        Ok(()) => {
            tracing::info!(pool = %pool.id, provider = %provider.name, sub = %user.sub, "federated user's link restored");
            Ok(super::users::by_sub(state, &pool.id, &user.sub).await?)
        }
        // Linked already (to this user: the lookup by link ran first and found none, so a
        // concurrent sign-in made it just now).
        Err(StoreError::Conflict(_)) => Ok(Some(user)),
        Err(e) => Err(e.into()),
    }
}

/// The link of a federated user to the identity it was made from (`now` in milliseconds).
fn own_link(
    pool: &UserPool,
    provider: &IdentityProvider,
    identity: &ExternalIdentity,
    sub: &str,
    now: i64,
) -> ProviderLink {
    ProviderLink {
        pool_id: pool.id.clone(),
        provider: provider.name.clone(),
        provider_type: provider.kind.as_str().to_owned(),
        attribute: SUBJECT_ATTRIBUTE.to_owned(),
        value: identity.subject.clone(),
        user_sub: sub.to_owned(),
        created: now / 1000,
    }
}

fn write_refused(e: super::users::UserWriteError) -> FederationError {
    match e {
        super::users::UserWriteError::Store(e) => e.into(),
        other => FederationError::Account(format!("The identity provider's attributes cannot be kept: {other}.")),
    }
}

/// A user may sign in only while enabled.
fn usable(user: User) -> Result<User, FederationError> {
    if !user.enabled {
        return Err(FederationError::Refused(Rejection::Disabled));
    }
    Ok(user)
}

/// The existing user the identity is linked to: by its subject, or by a mapped attribute
/// an administrator linked it by.
async fn linked_user(
    state: &AppState,
    pool: &UserPool,
    provider: &IdentityProvider,
    identity: &ExternalIdentity,
) -> Result<Option<User>, FederationError> {
    let mut candidates = vec![(SUBJECT_ATTRIBUTE.to_owned(), identity.subject.clone())];
    for (attribute, claim) in &provider.attribute_mapping {
        if let Some(value) = identity.first(claim) {
            candidates.push((attribute.clone(), value.to_owned()));
        }
    }
    for (attribute, value) in candidates {
        if let Some(sub) = state.store.linked_user(&pool.id, &provider.name, &attribute, &value).await?
            && let Some(user) = super::users::by_sub(state, &pool.id, &sub).await?
        {
            return Ok(Some(user));
        }
    }
    Ok(None)
}

/// The pool attributes the provider's mapping gives (pool attribute ← provider claim):
/// only attributes of the pool's schema, several values joined by commas, at most 2,048
/// characters each, no NUL.
fn mapped_attributes(
    pool: &UserPool,
    provider: &IdentityProvider,
    identity: &ExternalIdentity,
) -> BTreeMap<String, String> {
    let schema = cognate_core::attributes::Schema::new(&pool.settings.schema);
    let mut out = BTreeMap::new();
    for (attribute, claim) in &provider.attribute_mapping {
        if attribute == "username" || attribute == "sub" || schema.get(attribute).is_none() {
            continue;
        }
        let Some(values) = identity.attributes.get(claim).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = values.join(",");
        if value.contains('\0') || value.chars().count() > MAX_VALUE {
            tracing::warn!(pool = %pool.id, provider = %provider.name, attribute = %attribute, "mapped value refused");
            continue;
        }
        out.insert(attribute.clone(), value);
    }
    out
}

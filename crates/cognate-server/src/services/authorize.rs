//! Browser sign-in as OAuth 2.0 sees it (RFC 6749 section 4.1, RFC 7636, OIDC Core 3.1):
//! checking an authorization request, the hosted login's browser sessions, authorization
//! codes and their exchange for tokens. The sign-in itself is [`super::sign_in`] with
//! [`Delivery::Browser`](super::sign_in::Delivery); this service turns its outcome into a
//! browser session and codes.
//!
//! Rules, as Cognito's managed login keeps them:
//! - the client must exist, allow the `code` flow (`AllowedOAuthFlowsUserPoolClient` and
//!   `AllowedOAuthFlows`), and the `redirect_uri` must equal one of its `CallbackURLs`
//!   exactly; until both hold nothing is redirected anywhere ([`AuthorizeError::Page`]);
//! - after that, errors go back to the redirect URI with `state` ([`AuthorizeError::Redirect`]);
//! - scopes are a subset of the client's `AllowedOAuthScopes` (all of them by default), and
//!   a custom scope must still be defined by a resource server;
//! - PKCE is `S256` only (plain is refused), and required of a client without a secret;
//! - a code is single use, lives five minutes, and is bound to the client, the redirect
//!   URI, the PKCE challenge and the nonce; a second exchange revokes what the first
//!   issued.

use cognate_core::StoreError;
use cognate_core::client::AppClient;
use cognate_core::ids::{ClientId, generate_sub};
use cognate_core::login::{self, AuthorizationCode, CODE_TTL_MS, LoginSession, Redemption};
use cognate_core::pool::UserPool;
use cognate_core::user::{User, UserStatus};

use super::accounts::{self, AccountError};
use super::mfa::{self, MfaError};
use super::sign_in::{self, Attempt, Delivery, SignInError, SignedIn, Step, TenantChoice};
use super::tokens::{self, Issued, Rejection};
use crate::AppState;
use crate::facts;
use crate::tenancy::{self, Selection};

/// How long a hosted-login browser session lasts by default: one hour, as Cognito's
/// (`COGNATE_LOGIN_SESSION_SECS` changes it: [`crate::ServerSettings::login_session_secs`]).
pub const SESSION_TTL_SECS: u32 = 60 * 60;
/// Most scopes one request may name.
const MAX_SCOPES: usize = 50;
/// Longest `state` and `nonce` kept (Amplify's `state` is a few hundred characters).
const MAX_STATE_LEN: usize = 4096;
/// The scope that makes the grant an OpenID Connect one (an ID token is issued).
pub const OPENID: &str = "openid";

/// What the response delivers: a code (the authorization code flow) or tokens in the
/// fragment (the implicit flow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    Code,
    Token,
}

/// `prompt` (OIDC Core 3.1.2.1): `none` never shows a page, `login` always asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prompt {
    #[default]
    Default,
    None,
    Login,
}

/// An authorization request's parameters, as received.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub response_type: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub redirect_uri: Option<&'a str>,
    pub state: Option<&'a str>,
    pub scope: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub code_challenge_method: Option<&'a str>,
    pub identity_provider: Option<&'a str>,
    pub idp_identifier: Option<&'a str>,
    pub prompt: Option<&'a str>,
    /// The request's `Host`: on a user pool domain only that pool's clients sign in.
    pub host: Option<&'a str>,
    /// OIDC's `login_hint`: a username or email the login form starts with; an email whose
    /// verified domain belongs to one of the user's tenants chooses that tenant.
    pub login_hint: Option<&'a str>,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub pool: UserPool,
    pub client: AppClient,
    pub response_type: ResponseType,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// `login_hint` (at most 256 characters).
    pub login_hint: Option<String>,
    /// An external provider to sign in with, by name (`identity_provider`, not `COGNITO`)
    /// or by identifier (`idp_identifier`, an email domain).
    pub identity_provider: Option<String>,
    pub idp_identifier: Option<String>,
    /// Origins of the client's external providers' sign-in pages: where the login page's
    /// corporate email form may lead (its CSP `form-action`); filled by
    /// [`super::federation::provider_origins`] when a page offers that form.
    pub provider_origins: Vec<String>,
}

impl Authorization {
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// Whether the grant is an OpenID Connect one (an ID token is issued).
    pub fn openid(&self) -> bool {
        self.scopes.iter().any(|s| s == OPENID)
    }

    /// Whether the request names an external provider to sign in with.
    pub fn federated(&self) -> bool {
        self.identity_provider.is_some() || self.idp_identifier.is_some()
    }

    /// Whether the client signs in the pool's own users (`COGNITO` in its
    /// SupportedIdentityProviders, or none listed).
    pub fn offers_cognito(&self) -> bool {
        let supported = &self.client.settings.supported_identity_providers;
        supported.is_empty() || supported.iter().any(|p| p == cognate_core::idp::COGNITO)
    }

    /// The external providers the client lists.
    pub fn external_providers(&self) -> Vec<String> {
        let supported = &self.client.settings.supported_identity_providers;
        supported.iter().filter(|p| *p != cognate_core::idp::COGNITO).cloned().collect()
    }
}

/// Why an authorization request is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// No trustworthy redirect URI (unknown client, unregistered or missing redirect URI,
    /// a client without the OAuth flows): the browser is shown an error page, never sent on.
    #[error("{0}")]
    Page(String),
    /// Sent back to the (registered) redirect URI as `error` with `state`.
    #[error("{error}: {description}")]
    Redirect { redirect_uri: String, state: Option<String>, error: &'static str, description: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Refuses a client whose pool is not the one the request's `Host` (a user pool domain)
/// belongs to.
async fn served_here(
    state: &AppState,
    host: Option<&str>,
    pool: &cognate_core::ids::PoolId,
) -> Result<(), AuthorizeError> {
    match super::pool_domains::pool_of_host(state, host).await? {
        Ok(Some(owner)) if &owner != pool => {
            Err(AuthorizeError::Page("The client does not belong to this domain.".into()))
        }
        Err(()) => Err(AuthorizeError::Page("No user pool has this domain.".into())),
        Ok(_) => Ok(()),
    }
}

/// Checks an authorization request: first what makes the redirect URI trustworthy, then
/// the rest (answered on the redirect URI).
pub async fn check(state: &AppState, req: &Request<'_>) -> Result<Authorization, AuthorizeError> {
    let page = |m: &str| AuthorizeError::Page(m.to_owned());
    let client_id = req.client_id.filter(|c| !c.is_empty()).ok_or_else(|| page("client_id is required."))?;
    let client = match ClientId::parse(client_id) {
        Some(id) => super::clients::lookup(state, &id).await?,
        None => None,
    }
    .ok_or_else(|| page("The client does not exist."))?;
    served_here(state, req.host, &client.pool_id).await?;
    let settings = &client.settings;
    let redirect_uri = match req.redirect_uri.filter(|r| !r.is_empty()) {
        Some(r) if settings.callback_urls.iter().any(|c| c == r) => r.to_owned(),
        Some(_) => return Err(page("redirect_uri is not one of the client's callback URLs.")),
        None => return Err(page("redirect_uri is required.")),
    };
    if !settings.allowed_oauth_flows_user_pool_client {
        return Err(page("The client is not enabled for OAuth flows."));
    }
    let pool = super::pools::get(state, &client.pool_id).await.map_err(|e| match e {
        super::pools::PoolError::Store(e) => AuthorizeError::Store(e),
        _ => page("The client's user pool does not exist."),
    })?;
    facts::pool(&pool.id);
    let app_state = req.state.map(str::to_owned);
    let refuse = |error: &'static str, description: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: app_state.clone(),
        error,
        description: description.to_owned(),
    };
    if req.state.is_some_and(|s| s.len() > MAX_STATE_LEN) || req.nonce.is_some_and(|n| n.len() > MAX_STATE_LEN) {
        return Err(AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: None,
            error: "invalid_request",
            description: "state or nonce is too long.".into(),
        });
    }
    let response_type = match req.response_type {
        Some("code") => ResponseType::Code,
        Some("token") => ResponseType::Token,
        Some(_) => return Err(refuse("unsupported_response_type", "response_type must be code or token.")),
        None => return Err(refuse("invalid_request", "response_type is required.")),
    };
    let flow = match response_type {
        ResponseType::Code => "code",
        ResponseType::Token => "implicit",
    };
    if !settings.allowed_oauth_flows.iter().any(|f| f == flow) {
        return Err(refuse("unauthorized_client", "The client may not use this response_type."));
    }
    // An external provider is resolved when the browser is sent on
    // ([`super::federation::provider_for`]); here only its shape.
    let identity_provider = req.identity_provider.filter(|p| *p != cognate_core::idp::COGNITO);
    if identity_provider.is_some_and(|p| p.len() > 128) || req.idp_identifier.is_some_and(|i| i.len() > 128) {
        return Err(refuse("invalid_request", "No such identity provider."));
    }
    let prompt = match req.prompt {
        None | Some("") => Prompt::Default,
        Some("none") => Prompt::None,
        Some("login") => Prompt::Login,
        Some(_) => return Err(refuse("invalid_request", "prompt must be none or login.")),
    };
    let code_challenge = match (req.code_challenge, req.code_challenge_method) {
        (None, None) => None,
        (Some(c), Some("S256")) if login::valid_pkce_value(c) && c.len() == 43 => Some(c.to_owned()),
        (Some(_), Some("S256")) => return Err(refuse("invalid_request", "code_challenge is malformed.")),
        (Some(_), None | Some("plain")) | (None, Some("plain")) => {
            return Err(refuse("invalid_request", "code_challenge_method must be S256."));
        }
        (_, Some(_)) => return Err(refuse("invalid_request", "code_challenge_method must be S256.")),
    };
    if response_type == ResponseType::Code && code_challenge.is_none() && client.secret_sealed.is_none() {
        return Err(refuse("invalid_request", "A client without a secret must use PKCE (code_challenge)."));
    }
    let scopes = granted_scopes(state, &client, req.scope).await?.map_err(|m| refuse("invalid_scope", &m))?;
    let mut client = client;
    if super::console::is_console_client(state, &client) {
        // The console's client offers one external provider at most: the one the signing-in
        // address's domain routes to (never a list of every tenant's providers).
        client.settings.supported_identity_providers = super::console::providers_for(state, req.login_hint).await?;
    }
    Ok(Authorization {
        pool,
        client,
        response_type,
        redirect_uri,
        state: app_state,
        scopes,
        nonce: req.nonce.map(str::to_owned),
        code_challenge,
        prompt,
        login_hint: req.login_hint.map(|h| h.chars().take(256).collect()),
        identity_provider: identity_provider.map(str::to_owned),
        idp_identifier: req.idp_identifier.map(str::to_owned),
        provider_origins: Vec::new(),
    })
}

/// The scopes granted: the requested ones (all must be allowed to the client), by default
/// every scope the client is allowed; a custom scope whose resource server is gone is
/// refused when asked for and left out by default.
async fn granted_scopes(
    state: &AppState,
    client: &AppClient,
    requested: Option<&str>,
) -> Result<Result<Vec<String>, String>, StoreError> {
    let allowed = &client.settings.allowed_oauth_scopes;
    let explicit = requested.is_some_and(|s| !s.trim().is_empty());
    let candidates: Vec<String> = match requested.filter(|_| explicit) {
        Some(s) => {
            let mut out: Vec<String> = Vec::new();
            for scope in s.split(' ').filter(|s| !s.is_empty()) {
                if !out.iter().any(|o| o == scope) {
                    out.push(scope.to_owned());
                }
            }
            out
        }
        None => allowed.clone(),
    };
    if candidates.len() > MAX_SCOPES {
        return Ok(Err("Too many scopes requested.".into()));
    }
    let mut defined = super::resource_servers::Scopes::of(state, &client.pool_id);
    let mut granted = Vec::with_capacity(candidates.len());
    for scope in candidates {
        let ok = allowed.contains(&scope) && (!scope.contains('/') || defined.defines(&scope).await?);
        if ok {
            granted.push(scope);
        } else if explicit {
            return Ok(Err(format!("The client may not ask for the scope {scope}.")));
        }
    }
    if granted.is_empty() {
        return Ok(Err("The client has no scopes to grant.".into()));
    }
    Ok(Ok(granted))
}

// ---------------------------------------------------------------------------------------
// Browser sessions
// ---------------------------------------------------------------------------------------

/// A live browser session with its user.
#[derive(Debug, Clone)]
pub struct Browser {
    pub session: LoginSession,
    pub user: User,
}

/// Starts a browser session for a completed sign-in; returns the id for the cookie.
pub async fn start_session(state: &AppState, pool: &UserPool, signed_in: &SignedIn) -> Result<String, StoreError> {
    start_session_from(state, pool, signed_in, None).await
}

/// [`start_session`] for a sign-in at a SAML provider (`federation`: who it signed in, for
/// single logout).
pub async fn start_session_from(
    state: &AppState,
    pool: &UserPool,
    signed_in: &SignedIn,
    federation: Option<String>,
) -> Result<String, StoreError> {
    let now = state.clock.now_millis();
    let (id, id_hash) = login::new_secret(state.rng.as_ref());
    let session = LoginSession {
        id_hash,
        pool_id: pool.id.clone(),
        sub: signed_in.user.sub.clone(),
        tenant_id: signed_in.selection.tenant_id().cloned(),
        auth_time: now.div_euclid(1000),
        mfa: signed_in.mfa,
        created_at: now,
        expires_at: now + i64::from(state.settings.login_session_secs) * 1000,
        ended_at: None,
        federation,
    };
    state.store.create_login_session(&session).await?;
    Ok(id)
}

/// The live session a cookie names in `pool`: not ended or expired, its user still there,
/// enabled and confirmed, and not signed out everywhere since.
pub async fn current(state: &AppState, pool: &UserPool, id: &str) -> Result<Option<Browser>, StoreError> {
    if id.is_empty() || id.len() > 100 {
        return Ok(None);
    }
    let now = state.clock.now_millis();
    let Some(session) = state.store.get_login_session(&login::secret_hash(id)).await? else {
        return Ok(None);
    };
    if session.pool_id != pool.id || session.ended_at.is_some() || session.expires_at <= now {
        return Ok(None);
    }
    let Some(user) = state.store.get_user_by_sub(&pool.id, &session.sub).await? else {
        return Ok(None);
    };
    if !user.enabled
        || !matches!(user.status, UserStatus::Confirmed | UserStatus::ExternalProvider)
        || session.created_at < user.tokens_valid_after
    {
        return Ok(None);
    }
    facts::user(&user);
    Ok(Some(Browser { session, user }))
}

/// Ends the session a cookie names (sign-out); nothing when it is not live.
pub async fn end_session(state: &AppState, id: &str) -> Result<(), StoreError> {
    if !id.is_empty() && id.len() <= 100 {
        state.store.end_login_session(&login::secret_hash(id), state.clock.now_millis()).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Codes and tokens
// ---------------------------------------------------------------------------------------

/// What the browser is sent back with.
#[derive(Debug)]
pub enum Granted {
    Code(String),
    /// The implicit flow's tokens (the ID token only for `openid`).
    Tokens(Box<Issued>),
}

/// Grants an authorization request to a signed-in browser: a code bound to the request,
/// or (implicit flow) tokens.
pub async fn grant(state: &AppState, auth: &Authorization, browser: &Browser) -> Result<Granted, Rejection> {
    let session = &browser.session;
    // The session's user must still be able to enter its tenant (a member, the tenant
    // active, its MFA policy met), or no code is worth issuing.
    selection_for(state, &browser.user, session.tenant_id.as_ref(), session.mfa).await?;
    let now = state.clock.now_millis();
    let code = AuthorizationCode {
        code_hash: String::new(),
        pool_id: auth.pool.id.clone(),
        client_id: auth.client.id.to_string(),
        sub: browser.user.sub.clone(),
        tenant_id: session.tenant_id.clone(),
        redirect_uri: auth.redirect_uri.clone(),
        scope: auth.scope(),
        nonce: auth.nonce.clone(),
        code_challenge: auth.code_challenge.clone(),
        family_id: generate_sub(state.rng.as_ref()),
        auth_time: session.auth_time,
        mfa: session.mfa,
        created_at: now,
        expires_at: now + CODE_TTL_MS,
        used_at: None,
    };
    match auth.response_type {
        ResponseType::Code => {
            let (value, code_hash) = login::new_secret(state.rng.as_ref());
            let code = AuthorizationCode { code_hash, ..code };
            state.store.save_authorization_code(&code).await.map_err(|e| Rejection::Fault(e.to_string()))?;
            facts::user(&browser.user);
            Ok(Granted::Code(value))
        }
        ResponseType::Token => {
            let mut issued = tokens_for(state, &auth.client, &browser.user, &code).await?;
            // The implicit flow never hands out a refresh token (RFC 6749 section 4.2.2).
            issued.refresh_token = None;
            Ok(Granted::Tokens(Box::new(issued)))
        }
    }
}

/// Why a code exchange is refused; all but `Fault` are `invalid_grant` on the wire.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("the code is invalid, expired or used")]
    InvalidCode,
    #[error("the code was issued to another client")]
    OtherClient,
    #[error("redirect_uri does not match the authorization request")]
    RedirectMismatch,
    #[error("code_verifier is missing or does not match")]
    Verifier,
    #[error("the user can no longer sign in: {0}")]
    User(Rejection),
    #[error("internal: {0}")]
    Fault(String),
}

impl From<StoreError> for ExchangeError {
    fn from(e: StoreError) -> Self {
        Self::Fault(e.to_string())
    }
}

/// Exchanges a code for tokens (`grant_type=authorization_code`). The code is used up by
/// the first attempt, whatever its outcome; a code presented again revokes the tokens the
/// first exchange issued.
pub async fn exchange(
    state: &AppState,
    client: &AppClient,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<Issued, ExchangeError> {
    if code.is_empty() || code.len() > 100 {
        return Err(ExchangeError::InvalidCode);
    }
    let now = state.clock.now_millis();
    let stored = match state.store.redeem_authorization_code(&login::secret_hash(code), now).await? {
        Redemption::Fresh(c) => c,
        Redemption::Replayed(c) => {
            revoke_replayed(state, &c, now).await?;
            return Err(ExchangeError::InvalidCode);
        }
        Redemption::Unknown => return Err(ExchangeError::InvalidCode),
    };
    facts::user_id(stored.pool_id.as_str(), &stored.sub);
    if stored.expires_at <= now {
        return Err(ExchangeError::InvalidCode);
    }
    if stored.client_id != client.id.as_str() || stored.pool_id != client.pool_id {
        return Err(ExchangeError::OtherClient);
    }
    if redirect_uri != Some(stored.redirect_uri.as_str()) {
        return Err(ExchangeError::RedirectMismatch);
    }
    match (&stored.code_challenge, verifier) {
        (Some(challenge), Some(v)) if login::pkce_matches(v, challenge) => {}
        (None, None) => {}
        // A verifier for a code issued without a challenge is a downgrade attempt.
        _ => return Err(ExchangeError::Verifier),
    }
    // The client may have changed since: it must still allow the flow and the callback.
    let settings = &client.settings;
    if !settings.allowed_oauth_flows_user_pool_client
        || !settings.allowed_oauth_flows.iter().any(|f| f == "code")
        || !settings.callback_urls.contains(&stored.redirect_uri)
    {
        return Err(ExchangeError::OtherClient);
    }
    let user = state
        .store
        .get_user_by_sub(&stored.pool_id, &stored.sub)
        .await?
        .ok_or(ExchangeError::User(Rejection::Invalid))?;
    if stored.created_at < user.tokens_valid_after {
        return Err(ExchangeError::User(Rejection::Revoked));
    }
    tokens_for(state, client, &user, &stored).await.map_err(|e| match e {
        Rejection::Fault(cause) => ExchangeError::Fault(cause),
        other => ExchangeError::User(other),
    })
}

/// A code presented again: the family its first exchange started is revoked. When that
/// exchange has not stored its family yet, a revoked one takes its id first, so the
/// exchange fails instead of issuing into a family nobody revoked.
async fn revoke_replayed(state: &AppState, c: &AuthorizationCode, now: i64) -> Result<(), StoreError> {
    tracing::warn!(pool = %c.pool_id, family = %c.family_id, "authorization code replayed; its tokens revoked");
    if state.store.revoke_family(&c.pool_id, &c.family_id, now).await? {
        state.metrics.families_revoked(crate::metrics::FamilyEnd::Reuse, 1);
        return Ok(());
    }
    let tombstone = cognate_core::token::TokenFamily {
        id: c.family_id.clone(),
        pool_id: c.pool_id.clone(),
        client_id: c.client_id.clone(),
        sub: c.sub.clone(),
        tenant_id: c.tenant_id.clone(),
        auth_time: c.auth_time,
        mfa: c.mfa,
        scope: Some(c.scope.clone()),
        device_key: None,
        created_at: now,
        revoked_at: Some(now),
    };
    match state.store.create_family(&tombstone, None).await {
        // Stored in between: revoke it.
        Err(StoreError::Conflict(_)) => state.store.revoke_family(&c.pool_id, &c.family_id, now).await.map(|_| ()),
        other => other,
    }
}

/// The tenant context of a browser sign-in: the user must still be an active member of an
/// active tenant whose MFA policy the sign-in met (`mfa`).
async fn selection_for(
    state: &AppState,
    user: &User,
    tenant: Option<&cognate_core::tenant::TenantId>,
    mfa: bool,
) -> Result<Selection, Rejection> {
    Ok(match tenant {
        Some(tenant) => {
            let active = tenancy::for_tenant(state, user, tenant).await?;
            if active.requires_mfa() && !mfa {
                return Err(Rejection::MfaRequired);
            }
            Selection::Managed(Some(active))
        }
        None => tenancy::unbound(state, &user.pool_id).await.map_err(|e| Rejection::Fault(e.to_string()))?,
    })
}

/// The tokens of a granted request: the user must still be enabled and an active member of
/// the session's tenant (whose MFA policy the session must satisfy).
async fn tokens_for(
    state: &AppState,
    client: &AppClient,
    user: &User,
    code: &AuthorizationCode,
) -> Result<Issued, Rejection> {
    if !user.enabled {
        return Err(Rejection::Disabled);
    }
    let selection = selection_for(state, user, code.tenant_id.as_ref(), code.mfa).await?;
    let mut issued = tokens::from_code(state, client, user, &selection, code).await?;
    if !code.scope.split(' ').any(|s| s == OPENID) {
        issued.id_token = None;
    }
    Ok(issued)
}

// ---------------------------------------------------------------------------------------
// The hosted login's steps
// ---------------------------------------------------------------------------------------

/// Where a hosted-login step leaves the browser.
#[derive(Debug)]
pub enum Outcome {
    /// Signed in: the browser session to keep (its id, for the cookie) and what to send
    /// the browser back to the client with.
    Done {
        session_id: String,
        granted: Granted,
    },
    NewPassword {
        session: String,
        username: String,
    },
    Mfa {
        session: String,
        username: String,
    },
    /// MFA must be set up first: the new authenticator's secret, to show once.
    MfaSetup {
        session: String,
        username: String,
        secret: Vec<u8>,
    },
    SelectTenant {
        session: String,
        username: String,
        tenants: Vec<TenantChoice>,
    },
}

/// Why a hosted-login step refused.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error(transparent)]
    SignIn(#[from] SignInError),
    #[error(transparent)]
    Mfa(#[from] MfaError),
    /// The sign-in completed but no code or token could be granted.
    #[error("no grant: {0}")]
    Grant(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The answer a challenge page sends.
#[derive(Debug)]
pub enum Reply<'a> {
    NewPassword(&'a str),
    Code(&'a str),
    Setup { code: &'a str, device_name: Option<String> },
    Tenant(&'a str),
}

/// The login form: a password sign-in (the same state machine as InitiateAuth), then the
/// next page or, once signed in, the grant.
pub async fn password(
    state: &AppState,
    attempt: Attempt,
    auth: &Authorization,
    username: &str,
    password: &str,
) -> Result<Outcome, StepError> {
    let typed = username;
    let req = sign_in::PasswordSignIn {
        pool: &auth.pool,
        client: &auth.client,
        username,
        password,
        secret_hash: None,
        tenant: None,
        delivery: Delivery::Browser,
        device_key: None,
    };
    let step = match sign_in::password(state, attempt, req).await? {
        // A member of several tenants whose login_hint names one of them by its email
        // domain is not asked.
        Step::SelectTenant { session, username, tenants } => match hinted_tenant(state, auth, typed).await? {
            Some(tenant) if tenants.iter().any(|c| c.id == tenant) => {
                let answer = sign_in::Answer {
                    pool: &auth.pool,
                    client: &auth.client,
                    session: &session,
                    challenge: sign_in::SELECT_TENANT,
                    username: &username,
                    secret_hash: None,
                    delivery: Delivery::Browser,
                };
                sign_in::select_tenant(state, attempt, answer, &tenant).await?
            }
            _ => Step::SelectTenant { session, username, tenants },
        },
        step => step,
    };
    next(state, auth, step).await
}

/// The tenant a `login_hint` email's verified domain belongs to, if any, when the user
/// signed in with that very email (`typed`): a link cannot choose a tenant for someone
/// who signs in under another name.
async fn hinted_tenant(state: &AppState, auth: &Authorization, typed: &str) -> Result<Option<String>, StoreError> {
    let hint = auth.login_hint.as_deref().filter(|h| h.eq_ignore_ascii_case(typed));
    let Some(domain) = hint.and_then(cognate_core::tenant::DomainName::of_email) else {
        return Ok(None);
    };
    Ok(state.store.get_domain(&domain).await?.filter(|d| d.verified).map(|d| d.tenant_id.to_string()))
}

/// A challenge page's answer (`challenge` names the page, `session` is its sealed
/// session).
pub async fn answer(
    state: &AppState,
    attempt: Attempt,
    auth: &Authorization,
    challenge: &str,
    session: &str,
    username: &str,
    reply: Reply<'_>,
) -> Result<Outcome, StepError> {
    let answer = sign_in::Answer {
        pool: &auth.pool,
        client: &auth.client,
        session,
        challenge,
        username,
        secret_hash: None,
        delivery: Delivery::Browser,
    };
    let step = match (challenge, reply) {
        (sign_in::NEW_PASSWORD_REQUIRED, Reply::NewPassword(p)) => {
            sign_in::new_password(state, attempt, answer, Some(p), Vec::new(), None).await?
        }
        (cognate_core::mfa::SOFTWARE_TOKEN_MFA, Reply::Code(code)) => {
            sign_in::mfa(state, attempt, answer, Some(code)).await?
        }
        (sign_in::MFA_SETUP, Reply::Setup { code, device_name }) => {
            let verified = mfa::verify_for_setup(state, attempt, session, code, device_name).await?;
            sign_in::mfa(state, attempt, sign_in::Answer { session: &verified, ..answer }, None).await?
        }
        (sign_in::SELECT_TENANT, Reply::Tenant(tenant)) => {
            sign_in::select_tenant(state, attempt, answer, tenant).await?
        }
        _ => return Err(SignInError::InvalidSession.into()),
    };
    next(state, auth, step).await
}

/// The page after a sign-in step.
async fn next(state: &AppState, auth: &Authorization, step: Step) -> Result<Outcome, StepError> {
    Ok(match step {
        Step::SignedIn(signed_in) => {
            let session_id = start_session(state, &auth.pool, &signed_in).await?;
            let browser = current(state, &auth.pool, &session_id)
                .await?
                .ok_or_else(|| StepError::Grant(Rejection::Fault("the new browser session is not live".into())))?;
            let granted = grant(state, auth, &browser).await.map_err(StepError::Grant)?;
            Outcome::Done { session_id, granted }
        }
        Step::NewPasswordRequired { session, username, .. } => Outcome::NewPassword { session, username },
        Step::SoftwareTokenMfa { session, username, .. } => Outcome::Mfa { session, username },
        Step::MfaSetup { session, username } => {
            let (secret, session) = mfa::associate_for_setup(state, &session).await?;
            Outcome::MfaSetup { session, username, secret }
        }
        Step::SelectTenant { session, username, tenants } => Outcome::SelectTenant { session, username, tenants },
        Step::Tokens(_)
        | Step::SelectChallenge { .. }
        | Step::PasswordOwed { .. }
        | Step::EmailOtp { .. }
        | Step::WebAuthn { .. }
        | Step::PasswordVerifier { .. }
        | Step::DeviceSrpAuth { .. }
        | Step::DevicePasswordVerifier { .. } => {
            return Err(SignInError::Fault("an API sign-in step reached the hosted login".into()).into());
        }
    })
}

/// What a new authorization request does with the browser's session.
#[derive(Debug)]
pub enum Resume {
    /// Signed in already: granted without asking again.
    Granted(Granted),
    /// Show the login page.
    Login,
    /// `prompt=none` and no session to use: `error=login_required`.
    LoginRequired,
}

/// An authorization request from a browser that may hold a session (`session_id`, from
/// its cookie): a live session grants at once (unless `prompt=login`); a session whose
/// user may no longer enter its tenant is treated as none, and so is one older than the
/// client's SSO session bound where the pool tracks sessions (its `MaxValidityMinutes`
/// since the user's last fresh authentication, [`super::session_config::sso_reuse_secs`]).
pub async fn resume(state: &AppState, auth: &Authorization, session_id: Option<&str>) -> Result<Resume, Rejection> {
    let fault = |e: StoreError| Rejection::Fault(e.to_string());
    let mut browser = match session_id {
        Some(id) if auth.prompt != Prompt::Login => current(state, &auth.pool, id).await.map_err(fault)?,
        _ => None,
    };
    if let Some(b) = &browser
        && let Some(bound) =
            super::session_config::sso_reuse_secs(state, &auth.pool.id, &auth.client.id).await.map_err(fault)?
        && state.clock.now_secs() >= b.session.auth_time.saturating_add(bound)
    {
        tracing::debug!(client = %auth.client.id, bound_secs = bound, "browser session past the client's SSO bound; asking again");
        browser = None;
    }
    if let Some(browser) = browser {
        match grant(state, auth, &browser).await {
            Ok(granted) => return Ok(Resume::Granted(granted)),
            Err(Rejection::Fault(cause)) => return Err(Rejection::Fault(cause)),
            Err(other) => tracing::debug!(reason = %other, "browser session cannot be used; asking again"),
        }
    }
    Ok(if auth.prompt == Prompt::None { Resume::LoginRequired } else { Resume::Login })
}

/// A sign-out request: `/logout?client_id=&logout_uri=` (Cognito) or the OIDC
/// end-session form (`post_logout_redirect_uri`, `state`, `id_token_hint`).
#[derive(Debug, Default)]
pub struct LogoutRequest<'a> {
    pub client_id: Option<&'a str>,
    pub logout_uri: Option<&'a str>,
    pub id_token_hint: Option<&'a str>,
    /// The request's `Host` (see [`Request::host`]).
    pub host: Option<&'a str>,
}

/// A checked sign-out: the pool whose browser session ends, and where to send the browser
/// (one of the client's `LogoutURLs`, exactly), if anywhere.
#[derive(Debug)]
pub struct Logout {
    pub pool: cognate_core::ids::PoolId,
    pub redirect: Option<String>,
    /// The session began at a SAML provider that signs users out too (IDPSignout): the
    /// browser goes there first, and comes back to `redirect` through `/saml2/logout`.
    pub idp_logout: Option<String>,
}

/// Checks a sign-out request and ends the browser's session in the client's pool
/// (`session_id` looks up the cookie of a pool). The client comes from `client_id`, else
/// from the audience of a valid `id_token_hint`; the logout URI must be registered, or
/// nothing ends and nothing is redirected.
pub async fn logout(
    state: &AppState,
    req: &LogoutRequest<'_>,
    session_id: impl Fn(&cognate_core::ids::PoolId) -> Option<String>,
) -> Result<Logout, AuthorizeError> {
    let page = |m: &str| AuthorizeError::Page(m.to_owned());
    let hinted = match req.id_token_hint {
        Some(hint) => Some(
            tokens::verify(state, hint, Some("id"))
                .await
                .ok()
                .and_then(|v| v.claims.get("aud").and_then(serde_json::Value::as_str).map(str::to_owned))
                .ok_or_else(|| page("id_token_hint is not a valid ID token of this server."))?,
        ),
        None => None,
    };
    if let (Some(client), Some(aud)) = (req.client_id, &hinted)
        && client != aud
    {
        return Err(page("id_token_hint was issued to another client."));
    }
    let client_id = req.client_id.map(str::to_owned).or(hinted).ok_or_else(|| page("client_id is required."))?;
    let client = match ClientId::parse(&client_id) {
        Some(id) => super::clients::lookup(state, &id).await?,
        None => None,
    }
    .ok_or_else(|| page("The client does not exist."))?;
    served_here(state, req.host, &client.pool_id).await?;
    facts::pool(&client.pool_id);
    let redirect = match req.logout_uri.filter(|u| !u.is_empty()) {
        Some(uri) if client.settings.logout_urls.iter().any(|u| u == uri) => Some(uri.to_owned()),
        Some(_) => return Err(page("logout_uri is not one of the client's sign-out URLs.")),
        None => None,
    };
    let mut idp_logout = None;
    if let Some(id) = session_id(&client.pool_id) {
        let session = state.store.get_login_session(&login::secret_hash(&id)).await?;
        if let Some(session) = session.filter(|s| s.ended_at.is_none()) {
            facts::user_id(client.pool_id.as_str(), &session.sub);
            if let Some(federation) = &session.federation {
                idp_logout =
                    super::federation_saml::start_logout(state, &client.pool_id, federation, redirect.as_deref()).await;
            }
        }
        end_session(state, &id).await?;
    }
    Ok(Logout { pool: client.pool_id, redirect, idp_logout })
}

/// How long expired codes and sessions are kept: a day, so a code replayed soon after it
/// expired still revokes what it issued.
const KEEP_EXPIRED_MS: i64 = 24 * 60 * 60 * 1000;
/// How often expired codes and sessions are deleted.
pub const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes codes and browser sessions that expired over a day ago, every
/// [`PURGE_INTERVAL`] until `stop` turns true.
pub fn spawn_purger(state: AppState, stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
    crate::periodic::spawn(PURGE_INTERVAL, stop, move || {
        let state = state.clone();
        async move {
            match state.store.purge_login(state.clock.now_millis() - KEEP_EXPIRED_MS).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(deleted = n, "expired authorization codes and browser sessions deleted"),
                Err(e) => {
                    tracing::error!(error = %e, "could not delete expired authorization codes; trying again later")
                }
            }
        }
    })
}

// ---------------------------------------------------------------------------------------
// Password recovery from the login page
// ---------------------------------------------------------------------------------------

/// "Forgot your password?": a reset code to the user's recovery address, under the same
/// rules as ForgotPassword (PreventUserExistenceErrors answers unknown users with a decoy).
pub async fn forgot_password(
    state: &AppState,
    auth: &Authorization,
    username: &str,
) -> Result<accounts::Delivery, AccountError> {
    let user = super::users::find(state, &auth.pool, username).await?;
    let hide = accounts::hides_users(&auth.client);
    accounts::forgot_password(state, &auth.pool, hide, user.as_ref(), username).await
}

/// The reset page: a new password with the code, under the same rules as
/// ConfirmForgotPassword (wrong codes count toward the user's lock; every session ends).
pub async fn reset_password(
    state: &AppState,
    attempt: Attempt,
    auth: &Authorization,
    username: &str,
    code: &str,
    password: &str,
) -> Result<(), AccountError> {
    let user = super::users::find(state, &auth.pool, username).await?;
    let reset = accounts::PasswordReset {
        pool: &auth.pool,
        hide: accounts::hides_users(&auth.client),
        user,
        username,
        code,
        password,
    };
    accounts::confirm_forgot_password(state, attempt, reset).await
}

// ---------------------------------------------------------------------------------------
// Sign-up from the login page
// ---------------------------------------------------------------------------------------

/// Whether the login page offers sign-up: the pool lets users sign themselves up.
pub fn offers_sign_up(auth: &Authorization) -> bool {
    !auth.pool.settings.admin_create_user_config.allow_admin_create_user_only
}

/// Whether the pool's users sign in with their email as username (the sign-up form then
/// asks for the email only).
pub fn email_is_username(auth: &Authorization) -> bool {
    auth.pool.settings.email_is_username()
}

/// The sign-up form: SignUp's rules (the pool must allow it; the client's write rules, the
/// schema and the password policy apply; a code goes to the user's email).
pub async fn sign_up(
    state: &AppState,
    auth: &Authorization,
    username: &str,
    password: &str,
    email: Option<&str>,
) -> Result<accounts::SignedUp, accounts::SignUpError> {
    let attributes = email.map(|e| vec![("email".to_owned(), e.to_owned())]).unwrap_or_default();
    let new = accounts::NewSignUp { pool: &auth.pool, client: &auth.client, username, password, attributes };
    accounts::sign_up(state, new).await
}

/// The confirmation form: ConfirmSignUp's rules (PreventUserExistenceErrors included).
pub async fn confirm_sign_up(
    state: &AppState,
    auth: &Authorization,
    username: &str,
    code: &str,
) -> Result<(), accounts::SignUpError> {
    let user = super::users::find(state, &auth.pool, username).await?;
    crate::facts::user_id(auth.pool.id.as_str(), user.as_ref().map_or("", |u| u.sub.as_str()));
    accounts::confirm_sign_up(state, &auth.pool, accounts::hides_users(&auth.client), user, code, false).await
}

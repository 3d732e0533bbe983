//! Signing in to the web consoles.
//!
//! Users sign in to the tenant console and the developer portal through Cognate's own
//! hosted login, like any other application: each pool has a console app client (made at
//! first use, its id derived from the pool's, so racing nodes make the same one), and the
//! console runs the authorization code flow with PKCE against it. The tokens it gets are
//! ordinary tokens of the user's pool: every page checks them exactly as `/v1` checks a
//! bearer token (revocation, a disabled user, a removed membership take effect at once),
//! and a page can do only what the same user could do through `/v1`.
//!
//! Platform admins sign in to the platform portal with their admin credential (the pair
//! that signs Cognito calls); each request checks the credential is still active.
//!
//! A console session is a [`Seat`], sealed under the master key into a cookie: nothing in
//! it is readable or forgeable by the browser, and nothing of it is stored server-side
//! (signing out revokes the refresh token; a revoked admin credential ends its sessions).

use cognate_core::StoreError;
use cognate_core::client::{AppClient, ClientSettings};
use cognate_core::clock::random_bytes;
use cognate_core::crypto::{constant_time_eq, hmac_sha256};
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::pool::UserPool;
use cognate_core::tenant::{DomainName, TenantId};
use cognate_core::user::User;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tokens::{self, Rejection};
use crate::AppState;

/// The master-key label sealing console cookies.
const SEAT_LABEL: &str = "console-session";
/// The master-key label deriving console client ids.
const CLIENT_LABEL: &str = "console-client";
/// The console client's name in its pool.
pub const CLIENT_NAME: &str = "Cognate console";
/// How long a platform admin's console session lasts, in milliseconds (8 hours).
pub const ADMIN_SESSION_MS: i64 = 8 * 3600 * 1000;
/// How long a sign-in round trip through the hosted login may take (10 minutes).
pub const PENDING_TTL_MS: i64 = 10 * 60 * 1000;
/// Wrong admin sign-ins an access key id may see a minute.
const ADMIN_SIGN_INS_PER_MINUTE: u32 = 10;
/// Wrong admin sign-ins a client address may make a minute (several admins may share one).
const ADMIN_SIGN_INS_PER_ADDRESS: u32 = 30;

/// Why a console sign-in or session failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The sign-in round trip does not match the one this browser began (state, age).
    #[error("the sign-in did not start in this browser, or took too long")]
    Stale,
    /// The hosted login did not grant a code.
    #[error("the sign-in was refused: {0}")]
    Refused(String),
    /// A wrong or revoked admin credential.
    #[error("wrong access key id or secret")]
    BadCredential,
    /// Too many admin sign-in attempts from this address; retry after the seconds given.
    #[error("too many attempts")]
    Throttled(u64),
    /// The session ended (expired refresh, revoked, user disabled or gone).
    #[error("the session ended")]
    Ended,
    #[error("the email address is not valid")]
    InvalidEmail,
    /// Switching into a tenant the user cannot enter (or one needing MFA this session lacks).
    #[error("cannot switch: {0}")]
    Switch(Rejection),
    #[error("internal: {0}")]
    Fault(String),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        Self::Fault(e.to_string())
    }
}

impl From<super::clients::ClientError> for ConsoleError {
    fn from(e: super::clients::ClientError) -> Self {
        Self::Fault(e.to_string())
    }
}

/// A console session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Seat {
    /// A user of `pool`, signed in through the console client, with its tokens.
    User { pool: String, access: String, refresh: String },
    /// A platform admin, until `expires` (epoch ms).
    Platform { key: String, expires: i64 },
}

impl Seat {
    pub fn seal(&self, state: &AppState) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        state.master_key.seal(state.rng.as_ref(), SEAT_LABEL, &json)
    }

    /// The seat sealed in a cookie; `None` for anything else.
    pub fn open(state: &AppState, sealed: &str) -> Option<Self> {
        let json = state.master_key.open(SEAT_LABEL, sealed).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// A signed-in user, as each console page sees them.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub pool: UserPool,
    pub user: User,
    /// The session's active tenant (`custom:tenantId`), if any.
    pub tenant: Option<TenantId>,
    pub claims: Value,
    /// The seat to store again when its tokens were refreshed.
    pub renewed: Option<Seat>,
}

/// The console client of `pool`: made at first use, with the console's callback, the
/// pool's identity providers kept in its list.
pub async fn client_for(state: &AppState, pool: &PoolId) -> Result<AppClient, ConsoleError> {
    let id = client_id(state, pool);
    let wanted = settings(state, pool).await?;
    match super::clients::lookup(state, &id).await? {
        Some(mut client) => {
            // Whatever changed it (an UpdateUserPoolClient, a tool), it is put back.
            if client.settings != wanted {
                client.settings = wanted;
                super::clients::update(state, &client).await?;
            }
            Ok(client)
        }
        None => match super::clients::create_with_id(state, pool, id.clone(), CLIENT_NAME.into(), wanted).await {
            Ok(client) => Ok(client),
            // Another node made it in between.
            Err(super::clients::ClientError::Store(StoreError::Conflict(_))) => {
                super::clients::lookup(state, &id).await?.ok_or_else(|| ConsoleError::Fault("console client".into()))
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// Whether `client` is its pool's console client.
pub fn is_console_client(state: &AppState, client: &AppClient) -> bool {
    client.id == client_id(state, &client.pool_id)
}

/// The providers a console sign-in may use: `COGNITO`, and the provider of the SSO
/// connection the address `login_hint`'s verified domain routes to, if any. The console
/// client lists every provider of its pool (so that any tenant's SSO users can sign in),
/// but a sign-in is offered only its own.
pub async fn providers_for(state: &AppState, login_hint: Option<&str>) -> Result<Vec<String>, StoreError> {
    let mut out = vec![cognate_core::idp::COGNITO.to_owned()];
    let domain = login_hint.and_then(cognate_core::tenant::email_address).map(|(_, d)| d);
    if let Some(domain) = domain {
        match home(state, &domain).await {
            Ok((_, Some(provider))) => out.push(provider),
            Ok((_, None)) => {}
            Err(ConsoleError::Fault(e)) => return Err(StoreError::Backend(e)),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// The console client id of `pool`: 26 lowercase alphanumerics derived from the pool id
/// under the master key (stable across nodes and restarts, not guessable across installs).
pub(crate) fn client_id(state: &AppState, pool: &PoolId) -> ClientId {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mac = hmac_sha256(&state.master_key.mac_key(CLIENT_LABEL), pool.as_str().as_bytes());
    let id: String = mac.iter().take(26).map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()])).collect();
    #[allow(clippy::expect_used)]
    ClientId::parse(&id).expect("26 lowercase alphanumerics are a client id")
}

async fn settings(state: &AppState, pool: &PoolId) -> Result<ClientSettings, ConsoleError> {
    let mut providers = vec![cognate_core::idp::COGNITO.to_owned()];
    providers.extend(super::identity_providers::names(state, pool).await?);
    let base = &state.settings.public_url;
    Ok(ClientSettings {
        // Short-lived access tokens, a working day of refresh.
        access_token_validity: 15,
        id_token_validity: 15,
        refresh_token_validity: 12,
        token_validity_units: cognate_core::client::TokenValidityUnits {
            access_token: "minutes".into(),
            id_token: "minutes".into(),
            refresh_token: "hours".into(),
        },
        supported_identity_providers: providers,
        callback_urls: vec![callback_url(state)],
        logout_urls: vec![format!("{base}/console")],
        allowed_oauth_flows: vec!["code".into()],
        allowed_oauth_scopes: vec!["openid".into(), "email".into(), "profile".into()],
        allowed_oauth_flows_user_pool_client: true,
        prevent_user_existence_errors: "ENABLED".into(),
        enable_token_revocation: true,
        ..ClientSettings::default()
    })
}

/// Where the hosted login sends the browser back to.
pub fn callback_url(state: &AppState) -> String {
    format!("{}/console/callback", state.settings.public_url)
}

/// A sign-in round trip under way, kept (sealed) in a cookie of the browser that began it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub pool: String,
    pub state: String,
    pub verifier: String,
    pub expires: i64,
    /// Where to go once signed in (a console path).
    pub next: String,
    /// An invitation to accept once signed in (its token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation: Option<String>,
}

impl Pending {
    pub fn seal(&self, state: &AppState) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        state.master_key.seal(state.rng.as_ref(), PENDING_LABEL, &json)
    }

    pub fn open(state: &AppState, sealed: &str) -> Option<Self> {
        let json = state.master_key.open(PENDING_LABEL, sealed).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

const PENDING_LABEL: &str = "console-pending";

/// Where a console sign-in goes: the hosted login's URL and the round trip to remember.
#[derive(Debug)]
pub struct Begin {
    pub authorize_url: String,
    pub pending: Pending,
}

/// Begins a sign-in for `email` (optional): the address's home pool (a verified domain
/// of an active tenant, else the shared pool) and, when its tenant has an SSO connection
/// for the domain, straight to that provider. `next`: a console path to land on.
pub async fn begin(
    state: &AppState,
    email: Option<&str>,
    next: &str,
    invitation: Option<String>,
) -> Result<Begin, ConsoleError> {
    let email = email.map(str::trim).filter(|e| !e.is_empty());
    let domain = match email {
        Some(e) => Some(cognate_core::tenant::email_address(e).ok_or(ConsoleError::InvalidEmail)?.1),
        None => None,
    };
    let (pool, provider) = match &domain {
        Some(d) => home(state, d).await?,
        None => (crate::bootstrap::ensure_shared_pool(state).await?, None),
    };
    begin_in(state, &pool, email, provider.as_deref(), next, invitation).await
}

/// [`begin`] in a known pool (an invitation's tenant's).
pub async fn begin_in(
    state: &AppState,
    pool: &PoolId,
    login_hint: Option<&str>,
    provider: Option<&str>,
    next: &str,
    invitation: Option<String>,
) -> Result<Begin, ConsoleError> {
    let client = client_for(state, pool).await?;
    let rng = state.rng.as_ref();
    let b64 = |bytes: [u8; 32]| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let verifier = b64(random_bytes::<32>(rng));
    let round = b64(random_bytes::<32>(rng));
    let mut url =
        url::Url::parse("http://console.invalid/oauth2/authorize").map_err(|e| ConsoleError::Fault(e.to_string()))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client.id.as_str())
            .append_pair("redirect_uri", &callback_url(state))
            .append_pair("scope", "openid email profile")
            .append_pair("state", &round)
            .append_pair("code_challenge", &cognate_core::login::pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(hint) = login_hint {
            q.append_pair("login_hint", hint);
        }
        if let Some(p) = provider {
            q.append_pair("identity_provider", p);
        }
    }
    let authorize_url = format!("/oauth2/authorize?{}", url.query().unwrap_or_default());
    let pending = Pending {
        pool: pool.to_string(),
        state: round,
        verifier,
        expires: state.clock.now_millis() + PENDING_TTL_MS,
        next: next.to_owned(),
        invitation,
    };
    Ok(Begin { authorize_url, pending })
}

/// The pool an address of `domain` signs in to, and its tenant's SSO provider for it.
async fn home(state: &AppState, domain: &DomainName) -> Result<(PoolId, Option<String>), ConsoleError> {
    let (tenant, pool) = super::domains::route(state, domain).await?;
    let provider = match &tenant {
        Some(t) => super::connections::for_domain(state, t, domain)
            .await
            .map_err(|e| ConsoleError::Fault(e.to_string()))?
            .map(|c| c.provider_name),
        None => None,
    };
    Ok((pool, provider))
}

/// Whether an answer's `state` is the one of the round trip this browser began, in time.
pub fn same_round(state: &AppState, pending: &Pending, returned_state: &str) -> bool {
    pending.expires > state.clock.now_millis() && constant_time_eq(pending.state.as_bytes(), returned_state.as_bytes())
}

/// Completes a sign-in: the hosted login's answer (`code`, `returned_state`) for the round
/// trip this browser began (`pending`), exchanged for tokens.
pub async fn finish(
    state: &AppState,
    pending: &Pending,
    code: &str,
    returned_state: &str,
) -> Result<(Seat, User), ConsoleError> {
    if !same_round(state, pending, returned_state) {
        return Err(ConsoleError::Stale);
    }
    let pool = PoolId::parse(&pending.pool).ok_or(ConsoleError::Stale)?;
    let client = client_for(state, &pool).await?;
    let issued = super::authorize::exchange(state, &client, code, Some(&callback_url(state)), Some(&pending.verifier))
        .await
        .map_err(|e| ConsoleError::Refused(e.to_string()))?;
    let refresh = issued.refresh_token.ok_or_else(|| ConsoleError::Fault("no refresh token".into()))?;
    let (_, user, _) = tokens::verify_user_access(state, &issued.access_token).await.map_err(rejected)?;
    Ok((Seat::User { pool: pool.to_string(), access: issued.access_token, refresh }, user))
}

fn rejected(e: Rejection) -> ConsoleError {
    match e {
        Rejection::Fault(cause) => ConsoleError::Fault(cause),
        _ => ConsoleError::Ended,
    }
}

/// The user of a console seat, its access token refreshed when it expired.
pub async fn user(state: &AppState, seat: &Seat) -> Result<SignedInUser, ConsoleError> {
    let Seat::User { pool, access, refresh } = seat else { return Err(ConsoleError::Ended) };
    let (access, renewed) = match tokens::verify_user_access(state, access).await {
        Err(Rejection::Expired) => {
            let pool_id = PoolId::parse(pool).ok_or(ConsoleError::Ended)?;
            let client = client_for(state, &pool_id).await?;
            let (_, issued) =
                tokens::refresh(state, &client, refresh, "openid email profile", None).await.map_err(rejected)?;
            let refresh = issued.refresh_token.unwrap_or_else(|| refresh.clone());
            let seat = Seat::User { pool: pool.clone(), access: issued.access_token.clone(), refresh };
            (issued.access_token, Some(seat))
        }
        Err(e) => return Err(rejected(e)),
        Ok(_) => (access.clone(), None),
    };
    let (pool, user, claims) = tokens::verify_user_access(state, &access).await.map_err(rejected)?;
    let tenant = claims.get("custom:tenantId").and_then(Value::as_str).and_then(TenantId::parse);
    Ok(SignedInUser { pool, user, tenant, claims, renewed })
}

/// Switches a user's seat into another of their tenants (a new token family bound to it;
/// the old one is revoked).
pub async fn switch(state: &AppState, seat: &Seat, target: &str) -> Result<Seat, ConsoleError> {
    let Seat::User { pool, refresh, .. } = seat else { return Err(ConsoleError::Ended) };
    let pool_id = PoolId::parse(pool).ok_or(ConsoleError::Ended)?;
    let client = client_for(state, &pool_id).await?;
    let (_, issued) =
        tokens::refresh(state, &client, refresh, "openid email profile", Some(target)).await.map_err(|e| match e {
            Rejection::NotMember | Rejection::Suspended | Rejection::MfaRequired => ConsoleError::Switch(e),
            other => rejected(other),
        })?;
    let new_refresh = issued.refresh_token.ok_or_else(|| ConsoleError::Fault("no refresh token".into()))?;
    if let Err(e) = tokens::revoke_refresh_token(state, &client, refresh).await {
        tracing::warn!(error = %e, "revoking the console's previous session");
    }
    Ok(Seat::User { pool: pool.clone(), access: issued.access_token, refresh: new_refresh })
}

/// Ends a seat: a user's refresh token (and its family) is revoked.
pub async fn sign_out(state: &AppState, seat: &Seat) {
    let Seat::User { pool, refresh, .. } = seat else { return };
    let Some(pool_id) = PoolId::parse(pool) else { return };
    match client_for(state, &pool_id).await {
        Ok(client) => {
            if let Err(e) = tokens::revoke_refresh_token(state, &client, refresh).await {
                tracing::warn!(error = %e, "revoking a console session at sign-out");
            }
        }
        Err(e) => tracing::warn!(error = %e, "signing out of the console"),
    }
}

/// Signs a platform admin in with their credential. Wrong attempts are counted per client
/// address and per access key id (30 and 10 a minute); beyond
/// either, every attempt is refused until the minute ends. Right ones count for nothing.
pub async fn admin_sign_in(
    state: &AppState,
    key_id: &str,
    secret: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<Seat, ConsoleError> {
    let now = state.clock.now_millis();
    let windows = [
        format!("console-admin-ip:{}", ip.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into())),
        format!("console-admin-key:{}", key_id.chars().take(128).collect::<String>()),
    ];
    let limits = [ADMIN_SIGN_INS_PER_ADDRESS, ADMIN_SIGN_INS_PER_MINUTE];
    for (window, limit) in windows.iter().zip(limits) {
        state.rates.check(window, limit, 60, now).await.map_err(ConsoleError::Throttled)?;
    }
    if key_id.len() > 128 || secret.len() > 256 || !super::admins::check(state, key_id, secret).await? {
        for (window, limit) in windows.iter().zip(limits) {
            // The attempt is refused either way; only the count matters.
            let _ = state.rates.admit(window, limit, 60, now).await;
        }
        return Err(ConsoleError::BadCredential);
    }
    Ok(Seat::Platform { key: key_id.to_owned(), expires: now + ADMIN_SESSION_MS })
}

/// The access key id of a platform admin's seat that is still valid (unexpired, the
/// credential active).
pub async fn admin(state: &AppState, seat: &Seat) -> Result<String, ConsoleError> {
    let Seat::Platform { key, expires } = seat else { return Err(ConsoleError::Ended) };
    if *expires <= state.clock.now_millis() || super::admins::active_secret(state, key).await?.is_none() {
        return Err(ConsoleError::Ended);
    }
    Ok(key.clone())
}

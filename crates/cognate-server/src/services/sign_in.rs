//! The sign-in engine: every surface that signs a user in (the Cognito API today; hosted
//! login pages, federation callbacks and consoles next) runs these steps, so throttling,
//! user status, challenges, the MFA decision and the tenant pick are decided once.
//!
//! A sign-in is a small state machine. [`password`] checks the password and answers either
//! tokens or a challenge ([`Step`]); a challenge carries a sealed [`Session`] that the
//! client sends back with its answer to [`new_password`] or [`mfa`], which may answer
//! another challenge (a new password, then MFA) or tokens. New ways in (SRP, passkeys, email
//! codes, a federated identity) are new entry steps that end in [`after_first_factor`].
//!
//! MFA is required when the pool's `MfaConfiguration` is `ON`, when it is `OPTIONAL` and
//! the user turned TOTP on, or when the session's tenant has a policy that covers the user's
//! role there (`admins`, `all`). A user with a verified software token is asked for a code
//! (SOFTWARE_TOKEN_MFA); one without gets MFA_SETUP and enrols first.
//!
//! Brute force (see [`crate::throttle`]): wrong passwords and wrong codes count against the
//! user from the caller's address ([`Throttle`]); a correct password does not clear the
//! count while MFA is still owed, so alternating passwords and guessed codes gains nothing.
//! With PreventUserExistenceErrors an unknown username costs the same argon2 work and is
//! locked and answered exactly like a real user with a wrong password.
//!
//! Choice-based sign-in (`USER_AUTH`: a password, SRP, an email code or a passkey as the
//! first factor) is the entry step in [`choice`]; its answers end in [`after_password`] or
//! in [`after_first_factor`] like every other.
//!
//! Nothing here knows about HTTP, JSON or Cognito's exception names: errors are
//! [`SignInError`], which each surface maps to its own shape.

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cognate_core::StoreError;
use cognate_core::analytics::Grant;
use cognate_core::attributes::Schema;
use cognate_core::claims::SDK_SCOPE;
use cognate_core::client::AppClient;
use cognate_core::crypto::{constant_time_eq, hmac_sha256};
use cognate_core::ids::PoolId;
use cognate_core::mfa::{SOFTWARE_TOKEN_MFA, UserMfa};
use cognate_core::pool::UserPool;
use cognate_core::srp;
use cognate_core::tenant::TenantId;
use cognate_core::totp;
use cognate_core::user::{User, UserStatus};
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::metrics::{SignInOutcome, ThrottleScope};
use crate::services::tokens::{self, Issued, Rejection};
use crate::tenancy::{self, Refusal, Selection};

pub mod choice;
pub use choice::{ChoiceAnswer, UserAuth, answer_choice, user_auth};

pub const NEW_PASSWORD_REQUIRED: &str = "NEW_PASSWORD_REQUIRED";
pub const MFA_SETUP: &str = "MFA_SETUP";
/// SRP's second step: the client proves it knows the password (see [`srp_start`]).
pub const PASSWORD_VERIFIER: &str = "PASSWORD_VERIFIER";
/// A sign-in that named a known device proves the device (see [`device_start`]).
pub const DEVICE_SRP_AUTH: &str = "DEVICE_SRP_AUTH";
pub const DEVICE_PASSWORD_VERIFIER: &str = "DEVICE_PASSWORD_VERIFIER";
/// The hosted login's own step: a member of several tenants picks the session's tenant.
pub const SELECT_TENANT: &str = "SELECT_TENANT";

/// The master-key label of sealed challenge sessions.
const SESSION_LABEL: &str = "auth-session";

/// Where a sign-in attempt comes from.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt {
    /// The client's address (proxies only when trusted), for per-address throttling.
    pub ip: Option<IpAddr>,
}

/// How a completed sign-in is handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// Tokens in the answer (the Cognito API).
    #[default]
    Tokens,
    /// A signed-in browser session (the hosted login), from which authorization codes are
    /// issued. SECRET_HASH is not asked for (a confidential client proves itself at the
    /// token endpoint), and a member of several tenants is asked which one to enter.
    Browser,
}

/// A completed browser sign-in: who, in which tenant, and whether MFA was passed.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub selection: Selection,
    pub mfa: bool,
}

/// A tenant offered by [`Step::SelectTenant`].
#[derive(Debug, Clone)]
pub struct TenantChoice {
    pub id: String,
    pub name: String,
}

/// What a sign-in step answers: tokens (or a browser session), or the next challenge with
/// its sealed session.
#[derive(Debug)]
pub enum Step {
    Tokens(Box<Issued>),
    /// [`Delivery::Browser`]: the sign-in is complete.
    SignedIn(Box<SignedIn>),
    /// [`Delivery::Browser`]: the user is an active member of several tenants and named
    /// none; the one whose email domain matches comes first.
    SelectTenant {
        session: String,
        username: String,
        tenants: Vec<TenantChoice>,
    },
    /// The user signed in with a temporary password and must choose a new one.
    NewPasswordRequired {
        session: String,
        username: String,
        /// The user's attributes (the `*_verified` flags left out), for the form.
        attributes: BTreeMap<String, String>,
    },
    /// A code from the user's authenticator app is owed.
    SoftwareTokenMfa {
        session: String,
        username: String,
        device_name: Option<String>,
    },
    /// MFA is required but the user has no authenticator yet: enrol one first.
    MfaSetup {
        session: String,
        username: String,
    },
    /// The sign-in named a confirmed device (`DEVICE_KEY`): prove it.
    DeviceSrpAuth {
        session: String,
        username: String,
    },
    /// The server's half of the device's SRP exchange (as [`Step::PasswordVerifier`]).
    DevicePasswordVerifier {
        session: String,
        username: String,
        device_key: String,
        salt: String,
        srp_b: String,
        secret_block: String,
    },
    /// Choice-based sign-in: the first factors this sign-in may use.
    SelectChallenge {
        session: String,
        username: String,
        available: Vec<&'static str>,
    },
    /// Choice-based sign-in: the password is owed (`PASSWORD`), or SRP's `SRP_A`
    /// (`PASSWORD_SRP`).
    PasswordOwed {
        challenge: &'static str,
        session: String,
        username: String,
    },
    /// Choice-based sign-in: a code went to the user's email (`destination`, masked).
    EmailOtp {
        session: String,
        username: String,
        destination: String,
    },
    /// Choice-based sign-in: a passkey assertion is owed; `options` is the JSON text of
    /// the `PublicKeyCredentialRequestOptions` to hand the browser.
    WebAuthn {
        session: String,
        username: String,
        options: String,
    },
    /// SRP: the server's half of the exchange. `secret_block` is the sealed sign-in state
    /// (Base64), which the client signs and sends back.
    PasswordVerifier {
        username: String,
        user_id_for_srp: String,
        salt: String,
        srp_b: String,
        secret_block: String,
    },
}

/// Why a sign-in step refused. Every variant means one thing; surfaces map them all.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// A wrong password, or (PreventUserExistenceErrors) a user that does not exist.
    #[error("incorrect username or password")]
    InvalidCredentials,
    /// No such user, said only when the client does not hide which users exist.
    #[error("no such user")]
    UserNotFound,
    /// Too many failures against this user (from this address, or from everywhere).
    #[error("password attempts exceeded")]
    Locked,
    /// Too many failures from this address; retry after this many seconds.
    #[error("too many failed attempts from this address")]
    AddressThrottled { retry_after_secs: u64 },
    /// The client has a secret and no SECRET_HASH came.
    #[error("SECRET_HASH missing")]
    SecretHashMissing { client_id: String },
    /// The SECRET_HASH does not match.
    #[error("SECRET_HASH does not match")]
    SecretHashMismatch { client_id: String },
    #[error("user is disabled")]
    Disabled,
    #[error("user is not confirmed")]
    NotConfirmed,
    #[error("password reset required")]
    ResetRequired,
    #[error("temporary password expired")]
    TemporaryPasswordExpired,
    /// A session that was not sealed here, is for another client, user or challenge, or
    /// cannot be answered (yet).
    #[error("invalid session")]
    InvalidSession,
    #[error("session expired")]
    SessionExpired,
    /// A required answer is missing (the name of the parameter).
    #[error("missing {0}")]
    Missing(&'static str),
    /// A new password the pool's policy refuses (the policy's message).
    #[error("password refused: {0}")]
    PasswordPolicy(String),
    /// Attributes the schema refuses (its message).
    #[error("attributes refused: {0}")]
    Attributes(String),
    /// An attribute owned by the tenancy control plane.
    #[error("{0} is reserved")]
    ReservedAttribute(String),
    /// SRP: the user has no SRP verifier yet (their password predates SRP); one password
    /// sign-in creates it. Said only when the client does not hide which users exist.
    #[error("no SRP verifier for this user")]
    SrpUnavailable,
    /// SRP: SRP_A is not a usable SRP value.
    #[error("SRP_A is invalid")]
    SrpInvalid,
    /// SRP: the claim's TIMESTAMP is malformed or too far from the server's clock.
    #[error("TIMESTAMP is invalid")]
    SrpTimestamp,
    /// The sign-in named a device this user does not have (or has not confirmed).
    #[error("device does not exist")]
    DeviceNotFound,
    #[error("wrong code")]
    CodeMismatch,
    #[error("code already used")]
    CodeReused,
    /// The sign-in code expired, was used up by wrong tries, or was replaced.
    #[error("code expired")]
    CodeExpired,
    /// Too many sign-in codes asked for this user (or name) within the hour.
    #[error("too many codes requested")]
    TooManyCodes,
    /// Choice-based sign-in: a challenge name Cognito does not have (the name).
    #[error("unknown challenge {0}")]
    UnknownChallenge(String),
    /// Choice-based sign-in: a first factor this sign-in does not offer (the name).
    #[error("challenge {0} is not available")]
    ChallengeNotAvailable(String),
    /// A malformed answer (the message).
    #[error("{0}")]
    InvalidAnswer(String),
    /// Passkeys cannot be used: the pool has no relying party.
    #[error("passkeys are not configured for this user pool")]
    PasskeysUnconfigured,
    /// The requested tenant cannot be entered.
    #[error(transparent)]
    Tenant(#[from] Refusal),
    /// Issuing the tokens failed.
    #[error("tokens refused: {0:?}")]
    Token(Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A server fault (sealing, hashing); the detail is for logs.
    #[error("internal: {0}")]
    Fault(String),
}

fn fault(e: impl std::fmt::Display) -> SignInError {
    SignInError::Fault(e.to_string())
}

// ---------------------------------------------------------------------------------------
// Brute-force counters
// ---------------------------------------------------------------------------------------

/// The brute-force counters a failure against one user counts toward, as seen from one
/// client address (see [`crate::throttle`]): the (user, address) pair and the user-wide
/// ceiling, plus the address itself. `who` is the user's sub, or `name:{username}` for a
/// name no user has, so unknown users lock exactly like real ones.
pub struct Throttle {
    /// The pool of the user, for the analytics of failed sign-ins.
    pool: PoolId,
    pair: String,
    wide: String,
    ip: Option<String>,
    /// The user's pool and sub when the counters are a real user's (for the webhook
    /// events of a failed or locked sign-in); `None` for a name no user has.
    user: Option<(PoolId, String)>,
}

impl Throttle {
    fn new(pool: &PoolId, who: &str, ip: Option<IpAddr>) -> Self {
        let wide = format!("user:{pool}:{who}");
        let addr = ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        Self {
            pool: pool.clone(),
            pair: format!("{wide}@{addr}"),
            wide,
            ip: ip.map(|ip| format!("ip:{ip}")),
            user: None,
        }
    }

    pub fn of_user(attempt: Attempt, pool: &PoolId, sub: &str) -> Self {
        Self { user: Some((pool.clone(), sub.to_owned())), ..Self::new(pool, sub, attempt.ip) }
    }

    /// The counters of a username that matched no user, folded as the pool folds
    /// usernames: names that would be one user share one lock, and names that would be two
    /// do not, exactly as for real users (so the lock tells nothing about who exists).
    pub fn of_unknown(attempt: Attempt, pool: &UserPool, username: &str) -> Self {
        Self::new(&pool.id, &unknown_key(pool, username), attempt.ip)
    }

    /// Whether the user is locked for this address (or everywhere).
    pub async fn locked(&self, state: &AppState) -> bool {
        let locked = state.limiter.check(&[&self.pair, &self.wide]).await.is_err();
        if locked {
            state.metrics.throttled(ThrottleScope::User);
        }
        locked
    }

    /// [`Throttle::locked`] as an error, for a sign-in step (counted as a throttled sign-in).
    pub async fn check(&self, state: &AppState) -> Result<(), SignInError> {
        if self.locked(state).await {
            state.metrics.sign_in(SignInOutcome::Throttled);
            return Err(SignInError::Locked);
        }
        Ok(())
    }

    /// A wrong password or code in a sign-in step: counted as a failed sign-in, then as
    /// [`Throttle::fail`].
    pub async fn fail_sign_in(&self, state: &AppState) {
        state.metrics.sign_in(SignInOutcome::Failure);
        super::analytics::sign_in_failed(state, &self.pool);
        self.fail(state).await;
        // The check before this attempt passed, so a lock now is this failure's doing.
        let locked = state.limiter.check(&[&self.pair, &self.wide]).await.is_err();
        if let Some((pool, sub)) = self.user.clone() {
            // Webhook events of a real user's failure, written on their own (they report
            // no table change) and off the sign-in's path, which answers as it would
            // without them. Never for unknown names: an event per probed name would
            // tell nothing useful and fill the outbox.
            let state = state.clone();
            tokio::spawn(async move { sign_in_events(&state, &pool, &sub, locked).await });
        }
    }

    /// Counts one failure against the pair, the user and the address.
    pub async fn fail(&self, state: &AppState) {
        let limits = &state.limits;
        let mut keys = vec![(self.pair.as_str(), limits.user_free_failures), (&self.wide, limits.user_wide_failures)];
        if let Some(ip) = &self.ip {
            keys.push((ip, limits.ip_free_failures));
        }
        state.limiter.fail(&keys).await;
    }

    /// A completed sign-in: clears the pair and the user-wide count (other addresses' pairs
    /// stay, so an attacker's lock outlives the victim's sign-in).
    pub async fn clear(&self, state: &AppState) {
        state.limiter.succeed(&[&self.pair, &self.wide]).await;
    }
}

/// Writes `sign_in.failed` (and `sign_in.locked` when the failure locked the user) for the
/// user `sub` of `pool`.
async fn sign_in_events(state: &AppState, pool: &PoolId, sub: &str, locked: bool) {
    use crate::services::webhooks as wh;
    let user = match state.store.get_user_by_sub(pool, sub).await {
        Ok(Some(user)) => user,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the user of a failed sign-in for its webhook event");
            return;
        }
    };
    let owner = wh::user_owner(&user);
    let data = serde_json::json!({
        "userPoolId": pool.as_str(),
        "sub": user.sub,
        "username": user.username,
        "tenantId": user.attributes.get(crate::tenancy::TENANT_ID_ATTR),
    });
    let mut events = vec![wh::event(state, &owner, "sign_in.failed", data.clone())];
    if locked {
        events.push(wh::event(state, &owner, "sign_in.locked", data));
    }
    wh::emit(state, &events).await;
}

/// The key of a username that matched no user, for per-name counters: `name:` and the
/// name folded as the pool folds usernames.
pub fn unknown_key(pool: &UserPool, username: &str) -> String {
    format!("name:{}", cognate_core::user::username_key(&pool.settings, username))
}

/// Refuses an address that failed too often, before any lookup or hashing.
async fn check_address(state: &AppState, attempt: Attempt) -> Result<(), SignInError> {
    let Some(ip) = attempt.ip else { return Ok(()) };
    match state.limiter.check(&[&format!("ip:{ip}")]).await {
        Ok(()) => Ok(()),
        Err(wait) => {
            state.metrics.throttled(ThrottleScope::Address);
            state.metrics.sign_in(SignInOutcome::Throttled);
            Err(SignInError::AddressThrottled { retry_after_secs: u64::try_from(wait).unwrap_or(1) })
        }
    }
}

// ---------------------------------------------------------------------------------------
// Client proof and user lookup
// ---------------------------------------------------------------------------------------

/// The client's secret in the clear, if it has one.
pub fn client_secret(state: &AppState, client: &AppClient) -> Result<Option<String>, SignInError> {
    super::clients::secret(state, client).map_err(fault)
}

/// Every secret the client accepts, in the clear (two during a rotation).
pub fn client_secrets(state: &AppState, client: &AppClient) -> Result<Vec<String>, SignInError> {
    super::clients::secrets(state, client).map_err(fault)
}

/// Checks `SECRET_HASH` = Base64(HMAC-SHA256(client secret, username + client id)) for
/// clients with a secret: any of the client's secrets, and any of `usernames` may be the
/// one the client hashed.
pub fn check_secret_hash(
    state: &AppState,
    client: &AppClient,
    presented: Option<&str>,
    usernames: &[&str],
) -> Result<(), SignInError> {
    let secrets = client_secrets(state, client)?;
    if secrets.is_empty() {
        return Ok(());
    }
    let presented = presented.ok_or_else(|| SignInError::SecretHashMissing { client_id: client.id.to_string() })?;
    let ok = secrets.iter().any(|secret| {
        usernames.iter().any(|name| {
            let expected = B64.encode(hmac_sha256(secret.as_bytes(), format!("{name}{}", client.id).as_bytes()));
            constant_time_eq(expected.as_bytes(), presented.as_bytes())
        })
    });
    if ok { Ok(()) } else { Err(SignInError::SecretHashMismatch { client_id: client.id.to_string() }) }
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

/// What a challenge `Session` carries, sealed with the master key (so a client can neither
/// read nor forge it). It lives for the client's `AuthSessionValidity` minutes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub pool: String,
    pub client: String,
    pub sub: String,
    pub challenge: String,
    pub exp: i64,
    /// NEW_PASSWORD_REQUIRED: the tenant asked for when the challenge began. MFA
    /// challenges: the tenant chosen for the session (`None`: no tenant), whose policy was
    /// applied; the tokens are for it.
    #[serde(default)]
    pub tenant: Option<String>,
    /// The password was checked when the sign-in began. Always set by this server; an MFA
    /// answer on a session without it is refused.
    #[serde(default)]
    pub password_checked: bool,
    /// MFA_SETUP: a code of the newly associated software token was verified
    /// (VerifySoftwareToken with this session), so the challenge may be answered.
    #[serde(default)]
    pub totp_verified: bool,
    /// Begun by the hosted login ([`Delivery::Browser`]): only the hosted login may answer
    /// it, and the API's answers never accept it.
    #[serde(default)]
    pub browser: bool,
    /// PASSWORD_VERIFIER: the SRP exchange so far.
    #[serde(default)]
    pub srp: Option<SrpState>,
    /// The device the sign-in named (`DEVICE_KEY`): to prove (DEVICE_SRP_AUTH,
    /// DEVICE_PASSWORD_VERIFIER, or a new password first), or proven (`device_proven`: an
    /// MFA challenge after a device that is not remembered).
    #[serde(default)]
    pub device_key: Option<String>,
    #[serde(default)]
    pub device_proven: bool,
    /// Choice-based sign-in for a name that matched no user (PreventUserExistenceErrors):
    /// the name; no answer passes.
    #[serde(default)]
    pub unknown: Option<String>,
    /// SELECT_CHALLENGE: the first factors offered.
    #[serde(default)]
    pub available: Vec<String>,
    /// EMAIL_OTP: the nonce the code sent is bound to (`None`: no code was sent, so no
    /// answer passes).
    #[serde(default)]
    pub otp: Option<String>,
    /// WEB_AUTHN: the assertion's state (`None`: the user has no passkey, so no answer
    /// passes).
    #[serde(default)]
    pub webauthn: Option<String>,
    /// MFA challenges: how the first factor was proven, for the token issuance figures
    /// (`None`: a session from before analytics, counted as a password).
    #[serde(default)]
    pub grant: Option<Grant>,
}

/// The device a sign-in step knows of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DeviceUse {
    /// None named (or the pool does not track devices).
    #[default]
    None,
    /// Named with `DEVICE_KEY`, not proven yet.
    Named(String),
    /// Proven with its device password; a remembered one skips MFA.
    Proven { key: String, remembered: bool },
}

impl DeviceUse {
    fn named(key: Option<&str>) -> Self {
        key.filter(|k| !k.is_empty()).map_or(Self::None, |k| Self::Named(k.to_owned()))
    }

    /// What a session carries forward.
    fn of_session(session: &Session) -> Self {
        match (&session.device_key, session.device_proven) {
            (Some(key), true) => Self::Proven { key: key.clone(), remembered: false },
            (Some(key), false) => Self::Named(key.clone()),
            (None, _) => Self::None,
        }
    }

    fn into_session(self, session: &mut Session) {
        match self {
            Self::None => {}
            Self::Named(key) => session.device_key = Some(key),
            Self::Proven { key, .. } => {
                session.device_key = Some(key);
                session.device_proven = true;
            }
        }
    }

    fn proven_key(&self) -> Option<&str> {
        match self {
            Self::Proven { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// How the first factor of a sign-in was proven, for the MFA decision: a password (or SRP)
/// is asked for the MFA the pool and the tenant require; an email code or a passkey is not
/// asked for the pool's MFA (as Cognito: a passwordless sign-in is not challenged again),
/// but a tenant whose policy requires MFA still asks for it unless a passkey verified the
/// user (a possession factor with biometrics or a PIN is two factors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Password,
    /// The password, proven over SRP (USER_SRP_AUTH).
    Srp,
    EmailOtp,
    Passkey {
        user_verified: bool,
    },
}

impl Factor {
    /// The grant the tokens of a sign-in with this first factor are counted under.
    pub fn grant(self) -> Grant {
        match self {
            Self::Password => Grant::Password,
            Self::Srp => Grant::Srp,
            Self::EmailOtp | Self::Passkey { .. } => Grant::OtherSignIn,
        }
    }
}

/// The server's side of an SRP exchange between the challenge and its answer, carried in
/// the sealed secret block (Cognito's clients send no `Session` with their answer).
#[derive(Clone, Serialize, Deserialize)]
pub struct SrpState {
    /// The client's A, the server's secret b and public B, in hexadecimal.
    pub a: String,
    pub b: String,
    pub big_b: String,
    /// The salt of the verifier used: a password changed since refuses the answer.
    pub salt: String,
    /// PreventUserExistenceErrors decoy: the name matched no user, so no answer passes
    /// (the name's brute-force counters count the attempt).
    #[serde(default)]
    pub unknown: Option<String>,
}

impl std::fmt::Debug for SrpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrpState")
            .field("a", &self.a)
            .field("b", &"[secret]")
            .field("big_b", &self.big_b)
            .field("salt", &self.salt)
            .field("unknown", &self.unknown)
            .finish()
    }
}

impl Session {
    pub fn new(
        state: &AppState,
        client: &AppClient,
        user: &User,
        challenge: &str,
        tenant: Option<String>,
        delivery: Delivery,
    ) -> Self {
        Self {
            pool: user.pool_id.to_string(),
            client: client.id.to_string(),
            sub: user.sub.clone(),
            challenge: challenge.to_owned(),
            exp: state.clock.now_millis() + i64::from(client.settings.auth_session_validity) * 60_000,
            tenant,
            password_checked: true,
            totp_verified: false,
            browser: delivery == Delivery::Browser,
            srp: None,
            device_key: None,
            device_proven: false,
            unknown: None,
            available: Vec::new(),
            otp: None,
            webauthn: None,
            grant: None,
        }
    }

    pub fn seal(&self, state: &AppState) -> Result<String, SignInError> {
        let json = serde_json::to_string(self).map_err(fault)?;
        Ok(state.master_key.seal(state.rng.as_ref(), SESSION_LABEL, json.as_bytes()))
    }

    /// Opens a session a client sent back; refused when it was not sealed by this server's
    /// master key or has expired.
    pub fn open(state: &AppState, sealed: &str) -> Result<Self, SignInError> {
        let session: Self = state
            .master_key
            .open(SESSION_LABEL, sealed)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or(SignInError::InvalidSession)?;
        if session.exp <= state.clock.now_millis() {
            return Err(SignInError::SessionExpired);
        }
        // The session's tenant is only asked for (unchecked until tokens are issued), so it
        // places nothing in the trail: the user's home tenant does until then.
        crate::facts::user_id(&session.pool, &session.sub);
        Ok(session)
    }

    /// The same sign-in, valid for another `AuthSessionValidity` from now (the sessions
    /// that AssociateSoftwareToken and VerifySoftwareToken hand back).
    pub fn renewed(&self, state: &AppState, client: &AppClient) -> Self {
        Self {
            exp: state.clock.now_millis() + i64::from(client.settings.auth_session_validity) * 60_000,
            ..self.clone()
        }
    }

    /// An MFA_SETUP session, for the operations that continue one outside a challenge
    /// answer (AssociateSoftwareToken, VerifySoftwareToken).
    pub fn open_setup(state: &AppState, sealed: &str) -> Result<Self, SignInError> {
        let session = Self::open(state, sealed)?;
        if session.challenge != MFA_SETUP || !session.password_checked {
            return Err(SignInError::InvalidSession);
        }
        Ok(session)
    }
}

/// An MFA_SETUP session continued outside a challenge answer (AssociateSoftwareToken,
/// VerifySoftwareToken): the session, its client and its user, who must still be enabled
/// and in the session's pool.
pub async fn open_setup_session(state: &AppState, sealed: &str) -> Result<(Session, AppClient, User), SignInError> {
    let session = Session::open_setup(state, sealed)?;
    let client_id = cognate_core::ids::ClientId::parse(&session.client).ok_or(SignInError::InvalidSession)?;
    let client = state.store.find_client(&client_id).await?.ok_or(SignInError::InvalidSession)?;
    let user = state.store.get_user_by_sub(&client.pool_id, &session.sub).await?.ok_or(SignInError::InvalidSession)?;
    if session.pool != user.pool_id.as_str() || !user.enabled {
        return Err(SignInError::InvalidSession);
    }
    crate::facts::user(&user);
    Ok((session, client, user))
}

/// A sealed TOTP secret in the clear.
pub fn open_totp_secret(state: &AppState, sealed: &str) -> Result<Vec<u8>, SignInError> {
    state.master_key.open(totp::SEED_LABEL, sealed).map_err(fault)
}

// ---------------------------------------------------------------------------------------
// Steps
// ---------------------------------------------------------------------------------------

/// The first step of a password sign-in.
pub struct PasswordSignIn<'a> {
    pub pool: &'a UserPool,
    pub client: &'a AppClient,
    pub username: &'a str,
    pub password: &'a str,
    pub secret_hash: Option<&'a str>,
    /// The tenant asked for (Cognito: `ClientMetadata.tenantId`).
    pub tenant: Option<&'a str>,
    pub delivery: Delivery,
    /// The device the client signs in from (Cognito: `DEVICE_KEY`), if it has one.
    pub device_key: Option<&'a str>,
}

/// Checks a password under brute-force throttling, then continues the sign-in: a new
/// password owed, MFA owed, or tokens.
pub async fn password(state: &AppState, attempt: Attempt, req: PasswordSignIn<'_>) -> Result<Step, SignInError> {
    check_address(state, attempt).await?;
    let (pool, client) = (req.pool, req.client);
    let delivery = req.delivery;
    let Some(user) = super::users::find(state, pool, req.username).await? else {
        check_proof(state, client, delivery, req.secret_hash, &[req.username])?;
        if client.settings.prevent_user_existence_errors != "ENABLED" {
            state.passwords.verify_decoy(req.password.to_owned()).await;
            if let Some(ip) = attempt.ip {
                state.limiter.fail(&[(&format!("ip:{ip}"), state.limits.ip_free_failures)]).await;
            }
            return Err(SignInError::UserNotFound);
        }
        // Exactly what a real user gets: the same lock, the same argon2 work, the same answer.
        let throttle = Throttle::of_unknown(attempt, pool, req.username);
        throttle.check(state).await?;
        state.passwords.verify_decoy(req.password.to_owned()).await;
        throttle.fail_sign_in(state).await;
        return Err(SignInError::InvalidCredentials);
    };
    check_proof(state, client, delivery, req.secret_hash, &[req.username, user.username.as_str(), user.sub.as_str()])?;
    verify_password(state, attempt, pool, &user, req.password).await?;
    add_srp_verifier(state, &user, req.password).await?;
    let proven = Proven {
        attempt,
        pool,
        client,
        user: &user,
        tenant: req.tenant,
        delivery,
        device: DeviceUse::named(req.device_key),
        factor: Factor::Password,
    };
    after_password(state, proven).await
}

/// A user who signed in with a password set before SRP existed gets their SRP verifier
/// now, so SRP clients work for them from the next sign-in on.
async fn add_srp_verifier(state: &AppState, user: &User, password: &str) -> Result<(), SignInError> {
    let (None, Some(hash)) = (&user.srp_verifier, &user.password_hash) else { return Ok(()) };
    let sealed = super::users::seal_srp_verifier(state, user, password).map_err(fault)?;
    if state.store.add_srp_verifier(&user.pool_id, &user.sub, hash, &sealed).await? {
        tracing::info!(pool = %user.pool_id, sub = %user.sub, "SRP verifier created at a password sign-in");
    }
    Ok(())
}

/// A sign-in whose first factor was just proven, as [`after_password`] and
/// [`after_first_factor`] continue it: where it comes from, the pool and client, the user,
/// the tenant asked for (if any), how it is handed over, the device it named and the factor
/// proven.
pub struct Proven<'a> {
    pub attempt: Attempt,
    pub pool: &'a UserPool,
    pub client: &'a AppClient,
    pub user: &'a User,
    /// The tenant asked for (`ClientMetadata.tenantId`, or the session's).
    pub tenant: Option<&'a str>,
    pub delivery: Delivery,
    pub device: DeviceUse,
    pub factor: Factor,
}

/// Continues a sign-in whose password was proven (in the clear or over SRP): the user's
/// state decides between a refusal, a new password owed, and [`after_first_factor`].
async fn after_password(state: &AppState, proven: Proven<'_>) -> Result<Step, SignInError> {
    let Proven { attempt, pool, client, user, tenant, delivery, device, factor } = proven;
    if !user.enabled {
        return Err(SignInError::Disabled);
    }
    match user.status {
        UserStatus::Unconfirmed => Err(SignInError::NotConfirmed),
        UserStatus::ResetRequired => Err(SignInError::ResetRequired),
        UserStatus::ForceChangePassword => {
            if user.temp_password_expires_at.is_some_and(|t| t <= state.clock.now_millis()) {
                return Err(SignInError::TemporaryPasswordExpired);
            }
            let tenant = tenant.map(str::to_owned);
            let mut session = Session::new(state, client, user, NEW_PASSWORD_REQUIRED, tenant, delivery);
            device.into_session(&mut session);
            let session = session.seal(state)?;
            let attributes = user
                .attributes
                .iter()
                .filter(|(k, _)| k.as_str() != "email_verified" && k.as_str() != "phone_number_verified")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(Step::NewPasswordRequired { session, username: user.username.clone(), attributes })
        }
        UserStatus::Confirmed | UserStatus::ExternalProvider => {
            let proven = Proven { attempt, pool, client, user, tenant, delivery, device, factor };
            after_first_factor(state, proven).await
        }
    }
}

// ---------------------------------------------------------------------------------------
// SRP (USER_SRP_AUTH, then PASSWORD_VERIFIER)
// ---------------------------------------------------------------------------------------

/// The first step of an SRP sign-in (Cognito's `USER_SRP_AUTH`).
pub struct SrpSignIn<'a> {
    pub pool: &'a UserPool,
    pub client: &'a AppClient,
    pub username: &'a str,
    /// The client's public value A, in hexadecimal.
    pub srp_a: &'a str,
    pub secret_hash: Option<&'a str>,
    /// The tenant asked for (Cognito: `ClientMetadata.tenantId`), kept for the answer.
    pub tenant: Option<&'a str>,
    /// The device the client signs in from (`DEVICE_KEY`), kept for the answer.
    pub device_key: Option<&'a str>,
}

/// Begins an SRP sign-in: answers the client's A with the user's salt, the server's B and
/// the sealed exchange (PASSWORD_VERIFIER). Nothing about the password is checked yet, so
/// nothing counts toward a lock here; a locked user is refused at once. With
/// PreventUserExistenceErrors an unknown name gets a decoy challenge (a stable salt for the
/// name, a random B) that no answer passes.
pub async fn srp_start(state: &AppState, attempt: Attempt, req: SrpSignIn<'_>) -> Result<Step, SignInError> {
    check_address(state, attempt).await?;
    let (pool, client) = (req.pool, req.client);
    let a = srp::client_public(req.srp_a).map_err(|_| SignInError::SrpInvalid)?;
    let hides = client.settings.prevent_user_existence_errors == "ENABLED";
    let user = super::users::find(state, pool, req.username).await?;
    let names: Vec<&str> = match &user {
        Some(u) => vec![req.username, u.username.as_str(), u.sub.as_str()],
        None => vec![req.username],
    };
    check_proof(state, client, Delivery::Tokens, req.secret_hash, &names)?;
    let found = match user {
        Some(u) => match super::users::srp_verifier(state, &u) {
            Some(verifier) => Some((u, verifier)),
            None if hides => None,
            None => return Err(SignInError::SrpUnavailable),
        },
        None if hides => None,
        None => return Err(SignInError::UserNotFound),
    };
    let Some((user, verifier)) = found else {
        let throttle = Throttle::of_unknown(attempt, pool, req.username);
        throttle.check(state).await?;
        return decoy_challenge(state, pool, client, req.username, &a);
    };
    Throttle::of_user(attempt, &pool.id, &user.sub).check(state).await?;
    let hello = srp::server_hello(state.rng.as_ref(), &verifier).map_err(fault)?;
    let mut session =
        Session::new(state, client, &user, PASSWORD_VERIFIER, req.tenant.map(str::to_owned), Delivery::Tokens);
    session.password_checked = false;
    DeviceUse::named(req.device_key).into_session(&mut session);
    session.srp = Some(SrpState {
        a: srp::to_hex(&a),
        b: srp::to_hex(&hello.b),
        big_b: srp::to_hex(&hello.big_b),
        salt: verifier.salt.clone(),
        unknown: None,
    });
    Ok(Step::PasswordVerifier {
        username: user.username.clone(),
        user_id_for_srp: user.username.clone(),
        salt: verifier.salt,
        srp_b: srp::to_hex(&hello.big_b),
        secret_block: B64.encode(session.seal(state)?),
    })
}

/// The PASSWORD_VERIFIER challenge a name that matched no user gets when the client hides
/// which users exist. It looks like a real user's: the user id is the one such a user would
/// show (a UUID where users sign in by email or phone, else the name as the pool folds it),
/// and the verifier is derived from the name with a server secret, so the salt is stable and
/// B is distributed as a real user's. The sealed state marks it: no answer passes.
fn decoy_challenge(
    state: &AppState,
    pool: &UserPool,
    client: &AppClient,
    username: &str,
    a: &srp::BigUint,
) -> Result<Step, SignInError> {
    let (user_id, verifier) = decoy(state, pool, username);
    let hello = srp::server_hello(state.rng.as_ref(), &verifier).map_err(fault)?;
    let session = Session {
        pool: pool.id.to_string(),
        client: client.id.to_string(),
        sub: String::new(),
        challenge: PASSWORD_VERIFIER.to_owned(),
        exp: state.clock.now_millis() + i64::from(client.settings.auth_session_validity) * 60_000,
        tenant: None,
        password_checked: false,
        totp_verified: false,
        browser: false,
        device_key: None,
        device_proven: false,
        unknown: None,
        available: Vec::new(),
        otp: None,
        webauthn: None,
        grant: None,
        srp: Some(SrpState {
            a: srp::to_hex(a),
            b: srp::to_hex(&hello.b),
            big_b: srp::to_hex(&hello.big_b),
            salt: verifier.salt.clone(),
            unknown: Some(username.to_owned()),
        }),
    };
    Ok(Step::PasswordVerifier {
        username: user_id.clone(),
        user_id_for_srp: user_id,
        salt: verifier.salt,
        srp_b: srp::to_hex(&hello.big_b),
        secret_block: B64.encode(session.seal(state)?),
    })
}

/// The user id and verifier a name no user has shows (see [`decoy_challenge`]): derived
/// from the pool and the name as the pool folds it, with keys only the master key gives.
fn decoy(state: &AppState, pool: &UserPool, username: &str) -> (String, srp::Verifier) {
    let folded = cognate_core::user::username_key(&pool.settings, username);
    let seed = |label: &str| hmac_sha256(&state.master_key.mac_key(label), format!("{}\n{folded}", pool.id).as_bytes());
    let verifier = srp::Verifier::decoy(&seed("srp-decoy-salt"), &seed("srp-decoy-verifier"));
    let user_id = if pool.settings.username_attributes.is_empty() {
        folded
    } else {
        cognate_core::ids::generate_sub(&Seeded(seed("srp-decoy-user-id")))
    };
    (user_id, verifier)
}

/// Bytes from a seed, for ids that must be the same every time (decoys).
struct Seeded([u8; 32]);

impl cognate_core::Rng for Seeded {
    fn fill(&self, dest: &mut [u8]) {
        for (d, s) in dest.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
    }
}

/// The answer to PASSWORD_VERIFIER (Cognito's `ChallengeResponses`).
pub struct SrpAnswer<'a> {
    pub pool: &'a UserPool,
    pub client: &'a AppClient,
    pub username: &'a str,
    /// PASSWORD_CLAIM_SECRET_BLOCK: the secret block of the challenge, as sent.
    pub secret_block: &'a str,
    /// PASSWORD_CLAIM_SIGNATURE (Base64).
    pub signature: &'a str,
    pub timestamp: &'a str,
    pub secret_hash: Option<&'a str>,
    /// `DEVICE_KEY` of the answer; the one named when the sign-in began otherwise.
    pub device_key: Option<&'a str>,
}

/// Checks the client's SRP proof under brute-force throttling (a wrong one counts like a
/// wrong password), spends the secret block (a second answer with it is refused, however
/// valid), then continues exactly as a password sign-in does.
pub async fn srp_verify(state: &AppState, attempt: Attempt, answer: SrpAnswer<'_>) -> Result<Step, SignInError> {
    check_address(state, attempt).await?;
    let (pool, client) = (answer.pool, answer.client);
    let (session, block) = open_block(state, &answer, PASSWORD_VERIFIER)?;
    let Some(exchange) = &session.srp else { return Err(SignInError::InvalidSession) };
    // A decoy's answer goes through the same checks, in the same order, with the same
    // work, as a real user's; only the end differs (it always fails).
    let user = match &exchange.unknown {
        None => {
            let user = state.store.get_user_by_sub(&pool.id, &session.sub).await?.ok_or(SignInError::InvalidSession)?;
            crate::facts::user(&user);
            Some(user)
        }
        Some(_) => None,
    };
    // (Looked up for a decoy too, whatever it finds: the same work either way.)
    let named = super::users::find(state, pool, answer.username).await?;
    let (throttle, verifier, user_id) = match (&user, &exchange.unknown) {
        (Some(user), _) => {
            if !same_user(named.as_ref(), user) {
                return Err(SignInError::InvalidSession);
            }
            check_proof(
                state,
                client,
                Delivery::Tokens,
                answer.secret_hash,
                &[answer.username, user.username.as_str(), user.sub.as_str()],
            )?;
            // A verifier with another salt: the password changed since the challenge.
            let verifier = super::users::srp_verifier(state, user).filter(|v| v.salt == exchange.salt);
            (Throttle::of_user(attempt, &pool.id, &user.sub), verifier, user.username.clone())
        }
        (None, Some(name)) => {
            let (user_id, verifier) = decoy(state, pool, name);
            let folded = |n: &str| cognate_core::user::username_key(&pool.settings, n);
            if answer.username != user_id && folded(answer.username) != folded(name) {
                return Err(SignInError::InvalidSession);
            }
            check_proof(state, client, Delivery::Tokens, answer.secret_hash, &[answer.username])?;
            (Throttle::of_unknown(attempt, pool, name), Some(verifier), user_id)
        }
        (None, None) => return Err(SignInError::InvalidSession),
    };
    throttle.check(state).await?;
    check_timestamp(state, answer.timestamp)?;
    let proven = match verifier {
        Some(verifier) => {
            let key = srp_key(exchange, &verifier)?;
            claim_matches(&srp::claim(&key, pool.id.as_str(), &user_id, &block, answer.timestamp), answer.signature)
        }
        None => false,
    };
    let Some(user) = user.filter(|_| proven) else {
        throttle.fail_sign_in(state).await;
        return Err(SignInError::InvalidCredentials);
    };
    spend_block(state, &block, session.exp).await?;
    let device = match answer.device_key.filter(|k| !k.is_empty()) {
        Some(key) => DeviceUse::Named(key.to_owned()),
        None => DeviceUse::of_session(&session),
    };
    let proven = Proven {
        attempt,
        pool,
        client,
        user: &user,
        tenant: session.tenant.as_deref(),
        delivery: Delivery::Tokens,
        device,
        factor: Factor::Srp,
    };
    after_password(state, proven).await
}

// ---------------------------------------------------------------------------------------
// Devices (DEVICE_SRP_AUTH, then DEVICE_PASSWORD_VERIFIER)
// ---------------------------------------------------------------------------------------

/// Whether the user's status still lets a sign-in complete (an administrator may have
/// reset it since the sign-in began).
fn signs_in(user: &User) -> bool {
    matches!(user.status, UserStatus::Confirmed | UserStatus::ExternalProvider)
}

fn device_error(e: super::devices::DeviceError) -> SignInError {
    use super::devices::DeviceError as E;
    match e {
        E::NotFound => SignInError::DeviceNotFound,
        E::Invalid(_) => SignInError::InvalidSession,
        E::Store(e) => SignInError::Store(e),
        E::Fault(e) => SignInError::Fault(e),
    }
}

/// Answers DEVICE_SRP_AUTH (the device's `SRP_A`): the device's salt and the server's B
/// for it, as SRP's first step does for a user.
pub async fn device_start(
    state: &AppState,
    attempt: Attempt,
    answer: Answer<'_>,
    device_key: Option<&str>,
    srp_a: Option<&str>,
) -> Result<Step, SignInError> {
    check_address(state, attempt).await?;
    let (session, user) = answered(state, &answer).await?;
    let named = device_key.ok_or(SignInError::Missing("DEVICE_KEY"))?;
    if !session.password_checked || session.device_key.as_deref() != Some(named) {
        return Err(SignInError::InvalidSession);
    }
    if !user.enabled {
        return Err(SignInError::Disabled);
    }
    if !signs_in(&user) {
        return Err(SignInError::InvalidSession);
    }
    let a = srp::client_public(srp_a.ok_or(SignInError::Missing("SRP_A"))?).map_err(|_| SignInError::SrpInvalid)?;
    let device = super::devices::confirmed(state, &user, named).await.map_err(device_error)?;
    let verifier = super::devices::verifier(state, &device).ok_or(SignInError::DeviceNotFound)?;
    let hello = srp::server_hello(state.rng.as_ref(), &verifier).map_err(fault)?;
    let mut next =
        Session::new(state, answer.client, &user, DEVICE_PASSWORD_VERIFIER, session.tenant.clone(), Delivery::Tokens);
    next.device_key = Some(device.key.clone());
    next.srp = Some(SrpState {
        a: srp::to_hex(&a),
        b: srp::to_hex(&hello.b),
        big_b: srp::to_hex(&hello.big_b),
        salt: verifier.salt.clone(),
        unknown: None,
    });
    let sealed = next.seal(state)?;
    Ok(Step::DevicePasswordVerifier {
        secret_block: B64.encode(&sealed),
        session: sealed,
        username: user.username.clone(),
        device_key: device.key,
        salt: verifier.salt,
        srp_b: srp::to_hex(&hello.big_b),
    })
}

/// Answers DEVICE_PASSWORD_VERIFIER: checks the device's proof (a wrong one counts like a
/// wrong password), spends the secret block, then finishes the sign-in — without MFA when
/// the device is remembered.
pub async fn device_verify(state: &AppState, attempt: Attempt, answer: SrpAnswer<'_>) -> Result<Step, SignInError> {
    check_address(state, attempt).await?;
    let (pool, client) = (answer.pool, answer.client);
    let (session, block) = open_block(state, &answer, DEVICE_PASSWORD_VERIFIER)?;
    let (Some(exchange), Some(key)) = (&session.srp, &session.device_key) else {
        return Err(SignInError::InvalidSession);
    };
    if !session.password_checked || answer.device_key.is_some_and(|named| named != key) {
        return Err(SignInError::InvalidSession);
    }
    let user = state.store.get_user_by_sub(&pool.id, &session.sub).await?.ok_or(SignInError::InvalidSession)?;
    crate::facts::user(&user);
    let named = super::users::find(state, pool, answer.username).await?;
    if !same_user(named.as_ref(), &user) {
        return Err(SignInError::InvalidSession);
    }
    check_proof(
        state,
        client,
        Delivery::Tokens,
        answer.secret_hash,
        &[answer.username, user.username.as_str(), user.sub.as_str()],
    )?;
    if !user.enabled {
        return Err(SignInError::Disabled);
    }
    if !signs_in(&user) {
        return Err(SignInError::InvalidSession);
    }
    let throttle = Throttle::of_user(attempt, &pool.id, &user.sub);
    throttle.check(state).await?;
    check_timestamp(state, answer.timestamp)?;
    let device = super::devices::confirmed(state, &user, key).await.map_err(device_error)?;
    let proven = match super::devices::verifier(state, &device).filter(|v| v.salt == exchange.salt) {
        Some(verifier) => {
            let secret = srp_key(exchange, &verifier)?;
            let expected = srp::device_claim(&secret, &device.group_key, &device.key, &block, answer.timestamp);
            claim_matches(&expected, answer.signature)
        }
        None => false,
    };
    if !proven {
        throttle.fail_sign_in(state).await;
        return Err(SignInError::InvalidCredentials);
    }
    spend_block(state, &block, session.exp).await?;
    super::devices::authenticated(state, &device, attempt.ip.map(|ip| ip.to_string())).await?;
    let device = DeviceUse::Proven { key: device.key.clone(), remembered: device.remembered };
    let tenant = session.tenant.as_deref();
    let proven = Proven {
        attempt,
        pool,
        client,
        user: &user,
        tenant,
        delivery: Delivery::Tokens,
        device,
        factor: Factor::Password,
    };
    after_first_factor(state, proven).await
}

/// Opens the secret block an SRP answer sends back (`PASSWORD_CLAIM_SECRET_BLOCK`): the
/// sealed session of `challenge` for this client and pool (never a browser's), and the
/// block's bytes, which the client's claim signs.
fn open_block(state: &AppState, answer: &SrpAnswer<'_>, challenge: &str) -> Result<(Session, Vec<u8>), SignInError> {
    let block = B64.decode(answer.secret_block).map_err(|_| SignInError::InvalidSession)?;
    let sealed = std::str::from_utf8(&block).map_err(|_| SignInError::InvalidSession)?;
    let session = Session::open(state, sealed)?;
    if session.challenge != challenge
        || session.client != answer.client.id.as_str()
        || session.pool != answer.pool.id.as_str()
        || session.browser
    {
        return Err(SignInError::InvalidSession);
    }
    Ok((session, block))
}

/// Refuses a claim `TIMESTAMP` that is malformed or too far from the server's clock.
fn check_timestamp(state: &AppState, timestamp: &str) -> Result<(), SignInError> {
    let at = srp::parse_timestamp(timestamp).ok_or(SignInError::SrpTimestamp)?;
    if (at - state.clock.now_secs()).abs() > srp::TIMESTAMP_SKEW_SECS {
        return Err(SignInError::SrpTimestamp);
    }
    Ok(())
}

/// Whether the client's `PASSWORD_CLAIM_SIGNATURE` (Base64) is the expected one; compared
/// in constant time, and bad Base64 never matches.
fn claim_matches(expected: &[u8; 32], presented: &str) -> bool {
    srp::check_claim(expected, &B64.decode(presented).unwrap_or_default()).is_ok()
}

/// Marks a proven answer's secret block used: a second answer with it (a replay, or a
/// concurrent copy on any node) is refused.
async fn spend_block(state: &AppState, block: &[u8], expires_at: i64) -> Result<(), SignInError> {
    let spent = hex::encode(cognate_core::crypto::sha256(block));
    if state.store.spend(&spent, expires_at).await? { Ok(()) } else { Err(SignInError::InvalidSession) }
}

/// Whether the name an answer gives found the sign-in's user.
fn same_user(named: Option<&User>, user: &User) -> bool {
    named.is_some_and(|n| n.sub == user.sub)
}

/// The session key of an exchange, from its sealed state and the user's verifier.
fn srp_key(exchange: &SrpState, verifier: &srp::Verifier) -> Result<[u8; 16], SignInError> {
    let number = |hex: &str| srp::from_hex(hex).ok_or(SignInError::InvalidSession);
    let hello = srp::ServerHello { b: number(&exchange.b)?, big_b: number(&exchange.big_b)? };
    srp::server_key(&number(&exchange.a)?, &hello, verifier).map_err(|_| SignInError::InvalidSession)
}

/// [`check_secret_hash`] for the API; a browser sign-in has no SECRET_HASH to give.
fn check_proof(
    state: &AppState,
    client: &AppClient,
    delivery: Delivery,
    presented: Option<&str>,
    usernames: &[&str],
) -> Result<(), SignInError> {
    match delivery {
        Delivery::Tokens => check_secret_hash(state, client, presented, usernames),
        Delivery::Browser => Ok(()),
    }
}

/// Checks `user`'s password under brute-force throttling, clearing the user's count on
/// success (a re-authentication such as ChangePassword, not a sign-in).
pub async fn check_password(
    state: &AppState,
    attempt: Attempt,
    pool: &UserPool,
    user: &User,
    password: &str,
) -> Result<(), SignInError> {
    verify_password(state, attempt, pool, user, password).await?;
    Throttle::of_user(attempt, &pool.id, &user.sub).clear(state).await;
    Ok(())
}

/// [`check_password`] without clearing the count on success: a sign-in clears it only once
/// it is complete, so a correct password between guessed MFA codes does not reset it.
async fn verify_password(
    state: &AppState,
    attempt: Attempt,
    pool: &UserPool,
    user: &User,
    password: &str,
) -> Result<(), SignInError> {
    let throttle = Throttle::of_user(attempt, &pool.id, &user.sub);
    throttle.check(state).await?;
    let ok = match user.password_hash.clone() {
        Some(hash) => state.passwords.verify(password.to_owned(), hash).await.map_err(fault)?,
        None => {
            state.passwords.verify_decoy(password.to_owned()).await;
            // A user imported from a CSV file has no password until they reset it: every
            // sign-in says so, as Cognito's does (there is no password to guess).
            if user.status == UserStatus::ResetRequired {
                return Err(SignInError::ResetRequired);
            }
            false
        }
    };
    if !ok {
        throttle.fail_sign_in(state).await;
        return Err(SignInError::InvalidCredentials);
    }
    Ok(())
}

/// The answer to a challenge: the session sent back, the username the client names, and
/// its SECRET_HASH.
pub struct Answer<'a> {
    pub pool: &'a UserPool,
    pub client: &'a AppClient,
    pub session: &'a str,
    /// The challenge the client says it answers.
    pub challenge: &'a str,
    pub username: &'a str,
    pub secret_hash: Option<&'a str>,
    pub delivery: Delivery,
}

/// Opens the session of an answer and checks it belongs to this client, challenge and
/// user; returns it with the user.
async fn answered(state: &AppState, answer: &Answer<'_>) -> Result<(Session, User), SignInError> {
    let session = Session::open(state, answer.session)?;
    if session.client != answer.client.id.as_str()
        || session.challenge != answer.challenge
        || session.pool != answer.client.pool_id.as_str()
        || session.browser != (answer.delivery == Delivery::Browser)
    {
        return Err(SignInError::InvalidSession);
    }
    let pool = answer.pool;
    let user = state.store.get_user_by_sub(&pool.id, &session.sub).await?.ok_or(SignInError::InvalidSession)?;
    let named = super::users::find(state, pool, answer.username).await?;
    // The call concerns the session's user, whoever the answer names.
    crate::facts::user(&user);
    if !same_user(named.as_ref(), &user) {
        return Err(SignInError::InvalidSession);
    }
    check_proof(
        state,
        answer.client,
        answer.delivery,
        answer.secret_hash,
        &[answer.username, user.username.as_str(), user.sub.as_str()],
    )?;
    Ok((session, user))
}

/// Answers NEW_PASSWORD_REQUIRED: sets the new password (and the attributes the form
/// gave), then continues as after a password (MFA may still be owed). `tenant` overrides
/// the one the sign-in began with. A refusal writes nothing.
pub async fn new_password(
    state: &AppState,
    attempt: Attempt,
    answer: Answer<'_>,
    new_password: Option<&str>,
    mut attributes: Vec<(String, String)>,
    tenant: Option<&str>,
) -> Result<Step, SignInError> {
    let (session, mut user) = answered(state, &answer).await?;
    let pool = answer.pool;
    if user.status != UserStatus::ForceChangePassword {
        return Err(SignInError::InvalidSession);
    }
    if !user.enabled {
        return Err(SignInError::Disabled);
    }
    let new_password = new_password.ok_or(SignInError::Missing("NEW_PASSWORD"))?;
    pool.settings.policies.password_policy.check(new_password).map_err(SignInError::PasswordPolicy)?;
    let schema = Schema::new(&pool.settings.schema);
    schema.check_writes(&mut attributes, false).map_err(|e| SignInError::Attributes(e.to_string()))?;
    if let Some(name) = tenancy::reserved_write(state, &pool.id, attributes.iter().map(|(n, _)| n.as_str())).await? {
        return Err(SignInError::ReservedAttribute(name.to_owned()));
    }
    for (name, value) in attributes {
        user.attributes.insert(name, value);
    }
    schema.check_required(&user.attributes).map_err(|e| SignInError::Attributes(e.to_string()))?;
    super::users::set_password(state, &mut user, new_password).await.map_err(fault)?;
    user.status = UserStatus::Confirmed;
    user.temp_password_expires_at = None;
    user.updated_at = state.clock.now_millis();
    // Check the tenant before the password changes, so a refusal writes nothing.
    let tenant = tenant.or(session.tenant.as_deref());
    tenancy::pick(state, &user, tenant).await?;
    state.store.update_user(&user, &user.keys(&pool.settings)).await?;
    let proven = Proven {
        attempt,
        pool,
        client: answer.client,
        user: &user,
        tenant,
        delivery: answer.delivery,
        device: DeviceUse::of_session(&session),
        factor: Factor::Password,
    };
    after_first_factor(state, proven).await
}

/// Whether this sign-in must pass MFA (see the module documentation).
pub fn mfa_required(pool: &UserPool, mfa: Option<&UserMfa>, selection: &Selection) -> bool {
    let by_pool = match pool.settings.mfa_configuration.as_str() {
        "ON" => true,
        "OPTIONAL" => mfa.is_some_and(UserMfa::totp_active),
        _ => false,
    };
    by_pool || selection.active().is_some_and(tenancy::ActiveTenant::requires_mfa)
}

/// Continues a sign-in whose first factor is settled (a password checked or just changed):
/// picks the session's tenant (`requested`; a browser sign-in of a member of several
/// tenants asks), then completes or answers the MFA challenge the sign-in owes.
///
/// A sign-in that named a confirmed device of a pool that tracks devices proves the device
/// first (DEVICE_SRP_AUTH); once proven, a remembered device is not asked for MFA.
pub async fn after_first_factor(state: &AppState, proven: Proven<'_>) -> Result<Step, SignInError> {
    let Proven { attempt, pool, client, user, tenant: requested, delivery, device, factor } = proven;
    let device = if delivery == Delivery::Tokens && super::devices::tracked(pool) { device } else { DeviceUse::None };
    if let DeviceUse::Named(key) = &device {
        let known = super::devices::confirmed(state, user, key).await.map_err(device_error)?;
        let mut session = Session::new(state, client, user, DEVICE_SRP_AUTH, requested.map(str::to_owned), delivery);
        session.device_key = Some(known.key);
        return Ok(Step::DeviceSrpAuth { session: session.seal(state)?, username: user.username.clone() });
    }
    if delivery == Delivery::Browser
        && requested.is_none()
        && let Some(tenants) = tenant_choices(state, user).await?
    {
        let session = Session::new(state, client, user, SELECT_TENANT, None, delivery).seal(state)?;
        return Ok(Step::SelectTenant { session, username: user.username.clone(), tenants });
    }
    let selection = tenancy::pick(state, user, requested).await?;
    let mfa = state.store.get_mfa(&pool.id, &user.sub).await?;
    // A remembered device stands in for the user's authenticator code only: not for
    // enrolling a first one (MFA_SETUP), and not where the tenant's own policy asks for MFA.
    let tenant_requires = selection.active().is_some_and(tenancy::ActiveTenant::requires_mfa);
    let remembered =
        matches!(device, DeviceUse::Proven { remembered: true, .. }) && mfa.as_ref().is_some_and(UserMfa::has_totp);
    let required = match factor {
        // A remembered device stands in for the code, unless the tenant's own policy asks.
        Factor::Password | Factor::Srp => {
            (tenant_requires || !remembered) && mfa_required(pool, mfa.as_ref(), &selection)
        }
        // A mailed code is one factor (the mailbox): the pool's and tenant's MFA still apply.
        Factor::EmailOtp => mfa_required(pool, mfa.as_ref(), &selection),
        // A passkey that verified its user (PIN, biometrics) is two factors in itself.
        Factor::Passkey { user_verified } => !user_verified && mfa_required(pool, mfa.as_ref(), &selection),
    };
    if !required {
        Throttle::of_user(attempt, &pool.id, &user.sub).clear(state).await;
        let passed = factor == Factor::Passkey { user_verified: true };
        return finish(state, pool, client, user, selection, passed, delivery, device.proven_key(), factor.grant())
            .await;
    }
    let tenant = selection.tenant_id().map(ToString::to_string);
    let username = user.username.clone();
    match mfa {
        Some(m) if m.has_totp() => {
            let mut session = Session::new(state, client, user, SOFTWARE_TOKEN_MFA, tenant, delivery);
            session.grant = Some(factor.grant());
            device.into_session(&mut session);
            let session = session.seal(state)?;
            Ok(Step::SoftwareTokenMfa { session, username, device_name: m.friendly_device_name.clone() })
        }
        _ => {
            let mut session = Session::new(state, client, user, MFA_SETUP, tenant, delivery);
            session.grant = Some(factor.grant());
            device.into_session(&mut session);
            let session = session.seal(state)?;
            Ok(Step::MfaSetup { session, username })
        }
    }
}

/// The active tenants a user may pick from, when there is more than one: the tenant whose
/// verified email domain matches the user's email first, then the most recently used.
async fn tenant_choices(state: &AppState, user: &User) -> Result<Option<Vec<TenantChoice>>, SignInError> {
    let mut all: Vec<_> = tenancy::user_tenants(state, user)
        .await?
        .into_iter()
        .filter(|(_, t)| t.status == cognate_core::tenant::TenantStatus::Active)
        .collect();
    if all.len() < 2 {
        return Ok(None);
    }
    let by_domain = match user.attributes.get("email").and_then(|e| e.rsplit_once('@')) {
        Some((_, domain)) => match cognate_core::tenant::DomainName::parse(domain) {
            Some(domain) => state.store.get_domain(&domain).await?.filter(|c| c.verified).map(|c| c.tenant_id),
            None => None,
        },
        None => None,
    };
    all.sort_by_key(|(m, t)| (Some(&t.id) != by_domain.as_ref(), std::cmp::Reverse(m.last_used_at)));
    Ok(Some(all.into_iter().map(|(_, t)| TenantChoice { id: t.id.to_string(), name: t.name }).collect()))
}

/// Answers SELECT_TENANT (the hosted login): continues the sign-in in the chosen tenant,
/// which must be one of the user's active tenants.
pub async fn select_tenant(
    state: &AppState,
    attempt: Attempt,
    answer: Answer<'_>,
    tenant: &str,
) -> Result<Step, SignInError> {
    let (session, user) = answered(state, &answer).await?;
    if !session.password_checked || !user.enabled || user.status != UserStatus::Confirmed {
        return Err(SignInError::InvalidSession);
    }
    let proven = Proven {
        attempt,
        pool: answer.pool,
        client: answer.client,
        user: &user,
        tenant: Some(tenant),
        delivery: answer.delivery,
        device: DeviceUse::None,
        factor: Factor::Password,
    };
    after_first_factor(state, proven).await
}

/// Completes a sign-in (`mfa`: it passed an MFA challenge) and records the tenant as used:
/// the first tokens, or the browser's signed-in session. In a pool that tracks devices, a
/// sign-in that proved no device (`device`) is handed a new one.
#[allow(clippy::too_many_arguments)]
async fn finish(
    state: &AppState,
    pool: &UserPool,
    client: &AppClient,
    user: &User,
    selection: Selection,
    mfa: bool,
    delivery: Delivery,
    device: Option<&str>,
    grant: Grant,
) -> Result<Step, SignInError> {
    tenancy::touch(state, user, &selection).await?;
    state.metrics.sign_in(SignInOutcome::Success);
    super::analytics::count(state, selection.tenant_id(), cognate_core::analytics::Figure::SignIn);
    super::analytics::active_user(state, selection.tenant_id(), user);
    match delivery {
        Delivery::Tokens => {
            // The device first, so the tokens carry its key (ConfirmDevice checks it).
            let new_device = match device {
                None if super::devices::tracked(pool) => Some(super::devices::issue(state, user).await?),
                _ => None,
            };
            let device_key = device.or(new_device.as_ref().map(|d| d.key.as_str()));
            let mut issued =
                tokens::sign_in_from_device(state, client, user, &selection, SDK_SCOPE, mfa, device_key, grant)
                    .await
                    .map_err(SignInError::Token)?;
            issued.new_device = new_device;
            Ok(Step::Tokens(Box::new(issued)))
        }
        Delivery::Browser => {
            crate::facts::user(user);
            crate::facts::tenant(selection.tenant_id().map(TenantId::as_str));
            Ok(Step::SignedIn(Box::new(SignedIn { user: user.clone(), selection, mfa })))
        }
    }
}

/// The tenant context an MFA session was begun for, checked again (the membership or the
/// tenant may have changed since).
async fn session_selection(state: &AppState, user: &User, session: &Session) -> Result<Selection, SignInError> {
    match &session.tenant {
        Some(id) => {
            let tenant = TenantId::parse(id).ok_or(SignInError::InvalidSession)?;
            let active = tenancy::for_tenant(state, user, &tenant).await?;
            Ok(Selection::Managed(Some(active)))
        }
        None => Ok(tenancy::unbound(state, &user.pool_id).await?),
    }
}

/// Answers SOFTWARE_TOKEN_MFA (with the `code`) or MFA_SETUP (after the new authenticator
/// was verified with this session).
pub async fn mfa(
    state: &AppState,
    attempt: Attempt,
    answer: Answer<'_>,
    code: Option<&str>,
) -> Result<Step, SignInError> {
    let (session, user) = answered(state, &answer).await?;
    let pool = answer.pool;
    if !session.password_checked {
        return Err(SignInError::InvalidSession);
    }
    if !user.enabled {
        return Err(SignInError::Disabled);
    }
    if user.status != UserStatus::Confirmed {
        return Err(SignInError::InvalidSession);
    }
    let throttle = Throttle::of_user(attempt, &pool.id, &user.sub);
    throttle.check(state).await?;
    let mfa =
        state.store.get_mfa(&pool.id, &user.sub).await?.filter(UserMfa::has_totp).ok_or(SignInError::InvalidSession)?;
    if session.challenge == SOFTWARE_TOKEN_MFA {
        let code = code.ok_or(SignInError::Missing("SOFTWARE_TOKEN_MFA_CODE"))?;
        let secret = open_totp_secret(state, mfa.totp_secret_sealed.as_deref().unwrap_or_default())?;
        let Some(step) = totp::verify(&secret, code, state.clock.now_secs()) else {
            throttle.fail_sign_in(state).await;
            return Err(SignInError::CodeMismatch);
        };
        if !state.store.use_totp_step(&pool.id, &user.sub, step).await? {
            return Err(SignInError::CodeReused);
        }
    } else if !session.totp_verified {
        // MFA_SETUP is answered after VerifySoftwareToken with this session, not before.
        return Err(SignInError::InvalidSession);
    }
    let selection = session_selection(state, &user, &session).await?;
    throttle.clear(state).await;
    tracing::info!(pool = %pool.id, sub = %user.sub, challenge = %session.challenge, "MFA passed");
    let device = DeviceUse::of_session(&session);
    let grant = session.grant.unwrap_or(Grant::Password);
    finish(state, pool, answer.client, &user, selection, true, answer.delivery, device.proven_key(), grant).await
}

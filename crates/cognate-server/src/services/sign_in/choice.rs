//! Choice-based sign-in (Cognito's `USER_AUTH`): the entry step that offers the first
//! factors the pool allows (`Policies.SignInPolicy.AllowedFirstAuthFactors`) — a password
//! (`PASSWORD`), SRP (`PASSWORD_SRP`), a code by email (`EMAIL_OTP`) or a passkey
//! (`WEB_AUTHN`) — and their answers. A password and SRP continue in the password steps
//! of the parent module (the same throttling, NEW_PASSWORD_REQUIRED and MFA); an email code
//! and a passkey end in [`after_first_factor`] with their [`Factor`].
//!
//! `PREFERRED_CHALLENGE` names the factor to start with; when it is not offered (or not
//! named) the answer is SELECT_CHALLENGE with the offered factors, and the client answers
//! with its choice (`ANSWER`), adding the password or `SRP_A` when it has them.
//!
//! What is offered: with PreventUserExistenceErrors, the pool's factors for every name, so
//! the list tells nothing; a choice the user cannot use (no verified email, no passkey, no
//! such user) then gets a challenge that looks like a real one and that no answer passes,
//! under the same counters and caps. Without it, only what the user can use.

use cognate_core::client::AppClient;
use cognate_core::passkey::{EMAIL_OTP, PASSWORD, WEB_AUTHN};
use cognate_core::pool::UserPool;
use cognate_core::token::PURPOSE_SIGN_IN;
use cognate_core::user::{User, UserStatus};
use serde_json::Value;

use super::{
    Attempt, Delivery, DeviceUse, Factor, PasswordSignIn, Proven, Session, SignInError, SrpSignIn, Step, Throttle,
    after_first_factor, after_password, check_address, check_proof, fault, password, same_user, srp_start, unknown_key,
};
use crate::AppState;
use crate::services::accounts::{self, AccountError};
use crate::services::passkeys::{self, PasskeyError};

pub const SELECT_CHALLENGE: &str = "SELECT_CHALLENGE";
/// The PASSWORD_SRP challenge (and choice): SRP's first step is owed.
pub const PASSWORD_SRP: &str = "PASSWORD_SRP";
pub use cognate_core::passkey::WEB_AUTHN as WEB_AUTHN_CHALLENGE;
pub use cognate_core::passkey::{EMAIL_OTP as EMAIL_OTP_CHALLENGE, PASSWORD as PASSWORD_CHALLENGE};

/// The choices of SELECT_CHALLENGE Cognito has; SMS_OTP is one (Cognate sends no SMS, so
/// it is never offered).
const CHOICES: [&str; 5] = [PASSWORD, PASSWORD_SRP, EMAIL_OTP, "SMS_OTP", WEB_AUTHN];

/// The first step of a choice-based sign-in.
pub struct UserAuth<'a> {
    pub pool: &'a UserPool,
    pub client: &'a AppClient,
    pub username: &'a str,
    /// `PREFERRED_CHALLENGE`.
    pub preferred: Option<&'a str>,
    /// With `PREFERRED_CHALLENGE` `PASSWORD`: the password.
    pub password: Option<&'a str>,
    /// With `PREFERRED_CHALLENGE` `PASSWORD_SRP`: SRP's `SRP_A`.
    pub srp_a: Option<&'a str>,
    pub secret_hash: Option<&'a str>,
    /// The tenant asked for (Cognito: `ClientMetadata.tenantId`).
    pub tenant: Option<&'a str>,
}

/// Who a choice-based sign-in is for: a user, or a name that matched nobody (answered as
/// a user, never passing).
enum Who {
    User(User),
    Unknown(String),
}

impl Who {
    fn user(&self) -> Option<&User> {
        match self {
            Self::User(u) => Some(u),
            Self::Unknown(_) => None,
        }
    }

    fn throttle(&self, attempt: Attempt, pool: &UserPool) -> Throttle {
        match self {
            Self::User(u) => Throttle::of_user(attempt, &pool.id, &u.sub),
            Self::Unknown(name) => Throttle::of_unknown(attempt, pool, name),
        }
    }

    /// The key of this user's (or name's) per-hour caps.
    fn cap_key(&self, pool: &UserPool) -> String {
        match self {
            Self::User(u) => u.sub.clone(),
            Self::Unknown(name) => unknown_key(pool, name),
        }
    }
}

/// Begins a choice-based sign-in: the preferred factor when it is offered, else
/// SELECT_CHALLENGE. A locked user (or name) is refused at once.
pub async fn user_auth(state: &AppState, attempt: Attempt, req: UserAuth<'_>) -> Result<Step, SignInError> {
    check_address(state, attempt).await?;
    if let Some(p) = req.preferred.filter(|p| !CHOICES.contains(p)) {
        return Err(SignInError::UnknownChallenge(p.to_owned()));
    }
    let (pool, client) = (req.pool, req.client);
    let user = super::super::users::find(state, pool, req.username).await?;
    let names: Vec<&str> = match &user {
        Some(u) => vec![req.username, u.username.as_str(), u.sub.as_str()],
        None => vec![req.username],
    };
    check_proof(state, client, Delivery::Tokens, req.secret_hash, &names)?;
    let who = match user {
        Some(u) => Who::User(u),
        None if accounts::hides_users(client) => Who::Unknown(req.username.to_owned()),
        None => return Err(SignInError::UserNotFound),
    };
    who.throttle(attempt, pool).check(state).await?;
    let available = offered(state, pool, client, who.user()).await?;
    let start = Start { pool, client, username: req.username, tenant: req.tenant, secret_hash: req.secret_hash };
    match req.preferred.and_then(|p| available.iter().find(|a| **a == p)) {
        Some(choice) => begin(state, attempt, &start, &who, choice, req.password, req.srp_a).await,
        None => {
            let mut session = pending(state, &start, &who, SELECT_CHALLENGE);
            session.available = available.iter().map(|a| (*a).to_owned()).collect();
            Ok(Step::SelectChallenge { session: session.seal(state)?, username: shown_name(&who), available })
        }
    }
}

/// The first factors offered to `user` (`None`: a name that matched nobody), in the
/// order Cognito lists them (see the module documentation).
async fn offered(
    state: &AppState,
    pool: &UserPool,
    client: &AppClient,
    user: Option<&User>,
) -> Result<Vec<&'static str>, SignInError> {
    let policy = &pool.settings.policies.sign_in_policy;
    let everyone = accounts::hides_users(client);
    let mut out = vec![PASSWORD, PASSWORD_SRP];
    if policy.allows(EMAIL_OTP) && (everyone || user.and_then(accounts::sign_in_destination).is_some()) {
        out.push(EMAIL_OTP);
    }
    if policy.allows(WEB_AUTHN) && passkeys::offered(state, pool) {
        let has_passkey = match user {
            Some(u) => !state.store.list_passkeys(&pool.id, &u.sub).await?.is_empty(),
            None => false,
        };
        if everyone || has_passkey {
            out.push(WEB_AUTHN);
        }
    }
    Ok(out)
}

/// What every step of one choice-based sign-in shares.
struct Start<'a> {
    pool: &'a UserPool,
    client: &'a AppClient,
    /// The name the client gave.
    username: &'a str,
    tenant: Option<&'a str>,
    secret_hash: Option<&'a str>,
}

/// The name a challenge shows: the user's username, or the name given.
fn shown_name(who: &Who) -> String {
    match who {
        Who::User(u) => u.username.clone(),
        Who::Unknown(name) => name.clone(),
    }
}

/// A challenge session of this sign-in; the first factor is not proven yet.
fn pending(state: &AppState, start: &Start<'_>, who: &Who, challenge: &str) -> Session {
    let tenant = start.tenant.map(str::to_owned);
    let mut session = match who {
        Who::User(u) => Session::new(state, start.client, u, challenge, tenant, Delivery::Tokens),
        Who::Unknown(name) => {
            let mut s = Session {
                pool: start.pool.id.to_string(),
                client: start.client.id.to_string(),
                sub: String::new(),
                challenge: challenge.to_owned(),
                exp: 0,
                tenant,
                password_checked: false,
                totp_verified: false,
                browser: false,
                srp: None,
                device_key: None,
                device_proven: false,
                unknown: Some(name.clone()),
                available: Vec::new(),
                otp: None,
                webauthn: None,
                grant: None,
            };
            s.exp = state.clock.now_millis() + i64::from(start.client.settings.auth_session_validity) * 60_000;
            s
        }
    };
    session.password_checked = false;
    session
}

/// Starts the chosen first factor: a password or SRP_A given with the choice is checked
/// at once; otherwise the factor's challenge.
async fn begin(
    state: &AppState,
    attempt: Attempt,
    start: &Start<'_>,
    who: &Who,
    choice: &str,
    password_given: Option<&str>,
    srp_a: Option<&str>,
) -> Result<Step, SignInError> {
    let (pool, client) = (start.pool, start.client);
    match choice {
        PASSWORD => match password_given {
            Some(given) => {
                let req = PasswordSignIn {
                    pool,
                    client,
                    username: start.username,
                    password: given,
                    secret_hash: start.secret_hash,
                    tenant: start.tenant,
                    delivery: Delivery::Tokens,
                    device_key: None,
                };
                password(state, attempt, req).await
            }
            None => owed(state, start, who, PASSWORD),
        },
        PASSWORD_SRP => match srp_a {
            Some(a) => {
                let req = SrpSignIn {
                    pool,
                    client,
                    username: start.username,
                    srp_a: a,
                    secret_hash: start.secret_hash,
                    tenant: start.tenant,
                    device_key: None,
                };
                srp_start(state, attempt, req).await
            }
            None => owed(state, start, who, PASSWORD_SRP),
        },
        EMAIL_OTP => email_code(state, start, who).await,
        WEB_AUTHN => {
            let challenge =
                passkeys::begin_assertion(state, pool, who.user(), start.username).await.map_err(passkey_error)?;
            let mut session = pending(state, start, who, WEB_AUTHN);
            session.webauthn = challenge.state;
            Ok(Step::WebAuthn { session: session.seal(state)?, username: shown_name(who), options: challenge.options })
        }
        other => Err(SignInError::ChallengeNotAvailable(other.to_owned())),
    }
}

/// The PASSWORD or PASSWORD_SRP challenge: the password (or SRP_A) comes with the answer.
fn owed(state: &AppState, start: &Start<'_>, who: &Who, challenge: &'static str) -> Result<Step, SignInError> {
    let session = pending(state, start, who, challenge).seal(state)?;
    Ok(Step::PasswordOwed { challenge, session, username: shown_name(who) })
}

/// The EMAIL_OTP challenge: a code to the user's verified email, bound to this challenge
/// (a fresh nonce in the sealed session) and valid as long as the session. A user without
/// a verified email (or no user) gets the same answer, with no code sent, when users are
/// hidden.
async fn email_code(state: &AppState, start: &Start<'_>, who: &Who) -> Result<Step, SignInError> {
    let pool = start.pool;
    // A disabled user gets no mail: refused now, or (users hidden) answered like nobody.
    if who.user().is_some_and(|u| !u.enabled) && !accounts::hides_users(start.client) {
        return Err(SignInError::Disabled);
    }
    let target = who.user().filter(|u| u.enabled).and_then(|u| accounts::sign_in_destination(u).map(|d| (u, d)));
    let mut session = pending(state, start, who, EMAIL_OTP);
    let ttl = session.exp - state.clock.now_millis();
    let nonce = hex::encode(cognate_core::clock::random_bytes::<16>(state.rng.as_ref()));
    let destination = match &target {
        Some((_, to)) => to.delivery().destination,
        None if accounts::hides_users(start.client) => accounts::decoy_delivery(start.username).destination,
        None => return Err(SignInError::ChallengeNotAvailable(EMAIL_OTP.to_owned())),
    };
    let binding = format!("{PURPOSE_SIGN_IN}:{nonce}");
    let user = target.as_ref().map(|(u, to)| (*u, to));
    accounts::send_sign_in_code(state, pool, user, &who.cap_key(pool), &binding, ttl).await.map_err(|e| match e {
        AccountError::AttemptsExceeded => SignInError::TooManyCodes,
        AccountError::Store(e) => SignInError::Store(e),
        other => fault(other),
    })?;
    if target.is_some() {
        session.otp = Some(nonce);
    }
    Ok(Step::EmailOtp { session: session.seal(state)?, username: shown_name(who), destination })
}

fn passkey_error(e: PasskeyError) -> SignInError {
    match e {
        PasskeyError::NotEnabled => SignInError::ChallengeNotAvailable(WEB_AUTHN.to_owned()),
        PasskeyError::ConfigurationMissing => SignInError::PasskeysUnconfigured,
        PasskeyError::Invalid(m) => SignInError::InvalidAnswer(m),
        PasskeyError::Store(e) => SignInError::Store(e),
        other => fault(other),
    }
}

/// An answer to a challenge of choice-based sign-in (SELECT_CHALLENGE, PASSWORD,
/// PASSWORD_SRP, EMAIL_OTP, WEB_AUTHN), as Cognito's `ChallengeResponses` give it.
pub struct ChoiceAnswer<'a> {
    pub pool: &'a UserPool,
    pub client: &'a AppClient,
    pub session: &'a str,
    pub challenge: &'a str,
    pub username: &'a str,
    pub secret_hash: Option<&'a str>,
    /// SELECT_CHALLENGE: the choice (`ANSWER`).
    pub answer: Option<&'a str>,
    pub password: Option<&'a str>,
    pub srp_a: Option<&'a str>,
    /// EMAIL_OTP: `EMAIL_OTP_CODE`.
    pub code: Option<&'a str>,
    /// WEB_AUTHN: `CREDENTIAL`, the JSON text of the browser's `PublicKeyCredential`.
    pub credential: Option<&'a str>,
}

/// Answers a challenge of choice-based sign-in. A wrong code or a failed assertion counts
/// against the user like a wrong password; the code and the assertion are good once.
pub async fn answer_choice(state: &AppState, attempt: Attempt, a: ChoiceAnswer<'_>) -> Result<Step, SignInError> {
    check_address(state, attempt).await?;
    let (pool, client) = (a.pool, a.client);
    let session = Session::open(state, a.session)?;
    if session.challenge != a.challenge
        || session.client != client.id.as_str()
        || session.pool != pool.id.as_str()
        || session.browser
    {
        return Err(SignInError::InvalidSession);
    }
    // The answer must name the sign-in's user (or, for a decoy, the name it began with).
    let who = match &session.unknown {
        Some(name) => {
            let folded = |n: &str| cognate_core::user::username_key(&pool.settings, n);
            if folded(a.username) != folded(name) {
                return Err(SignInError::InvalidSession);
            }
            check_proof(state, client, Delivery::Tokens, a.secret_hash, &[a.username])?;
            Who::Unknown(name.clone())
        }
        None => {
            let user = state.store.get_user_by_sub(&pool.id, &session.sub).await?.ok_or(SignInError::InvalidSession)?;
            crate::facts::user(&user);
            let named = super::super::users::find(state, pool, a.username).await?;
            if !same_user(named.as_ref(), &user) {
                return Err(SignInError::InvalidSession);
            }
            let names = [a.username, user.username.as_str(), user.sub.as_str()];
            check_proof(state, client, Delivery::Tokens, a.secret_hash, &names)?;
            Who::User(user)
        }
    };
    let throttle = who.throttle(attempt, pool);
    throttle.check(state).await?;
    let start =
        Start { pool, client, username: a.username, tenant: session.tenant.as_deref(), secret_hash: a.secret_hash };
    match a.challenge {
        SELECT_CHALLENGE => {
            let choice = a.answer.ok_or(SignInError::Missing("ANSWER"))?;
            if !CHOICES.contains(&choice) {
                return Err(SignInError::UnknownChallenge(choice.to_owned()));
            }
            if !session.available.iter().any(|c| c == choice) {
                return Err(SignInError::ChallengeNotAvailable(choice.to_owned()));
            }
            if a.credential.is_some() {
                return Err(SignInError::InvalidAnswer(
                    "Choose WEB_AUTHN first; answer its CREDENTIAL_REQUEST_OPTIONS with CREDENTIAL in a WEB_AUTHN \
                     response."
                        .into(),
                ));
            }
            begin(state, attempt, &start, &who, choice, a.password, a.srp_a).await
        }
        PASSWORD => {
            let given = a.password.ok_or(SignInError::Missing("PASSWORD"))?;
            begin(state, attempt, &start, &who, PASSWORD, Some(given), None).await
        }
        PASSWORD_SRP => {
            let srp_a = a.srp_a.ok_or(SignInError::Missing("SRP_A"))?;
            begin(state, attempt, &start, &who, PASSWORD_SRP, None, Some(srp_a)).await
        }
        EMAIL_OTP => {
            let code = a.code.ok_or(SignInError::Missing("EMAIL_OTP_CODE"))?;
            let (Who::User(user), Some(nonce)) = (&who, &session.otp) else {
                throttle.fail_sign_in(state).await;
                return Err(SignInError::CodeMismatch);
            };
            let binding = format!("{PURPOSE_SIGN_IN}:{nonce}");
            match accounts::check_code(state, user, PURPOSE_SIGN_IN, &binding, code).await {
                Ok(()) => {}
                Err(AccountError::CodeMismatch) => {
                    throttle.fail_sign_in(state).await;
                    return Err(SignInError::CodeMismatch);
                }
                Err(AccountError::CodeExpired | AccountError::AttemptsExceeded) => {
                    throttle.fail_sign_in(state).await;
                    return Err(SignInError::CodeExpired);
                }
                Err(AccountError::Store(e)) => return Err(e.into()),
                Err(other) => return Err(fault(other)),
            }
            spend(state, &format!("otp:{nonce}"), session.exp).await?;
            accounts::delete_code(state, user, PURPOSE_SIGN_IN).await.map_err(fault)?;
            passwordless(state, attempt, &start, user, Factor::EmailOtp).await
        }
        WEB_AUTHN => {
            let text = a.credential.ok_or(SignInError::Missing("CREDENTIAL"))?;
            let credential: Value = serde_json::from_str(text)
                .map_err(|_| SignInError::InvalidAnswer("CREDENTIAL must be a JSON PublicKeyCredential.".into()))?;
            let (Who::User(user), Some(challenge_state)) = (&who, &session.webauthn) else {
                throttle.fail_sign_in(state).await;
                return Err(SignInError::InvalidCredentials);
            };
            let asserted = match passkeys::finish_assertion(state, pool, user, challenge_state, &credential).await {
                Ok(asserted) => asserted,
                Err(PasskeyError::Store(e)) => return Err(e.into()),
                Err(PasskeyError::Fault(e)) => return Err(SignInError::Fault(e)),
                Err(PasskeyError::Invalid(m)) => return Err(SignInError::InvalidAnswer(m)),
                Err(e) => {
                    tracing::info!(pool = %pool.id, sub = %user.sub, reason = %e, "passkey assertion refused");
                    throttle.fail_sign_in(state).await;
                    return Err(SignInError::InvalidCredentials);
                }
            };
            spend(state, &format!("webauthn:{}", a.session), session.exp).await?;
            passwordless(state, attempt, &start, user, Factor::Passkey { user_verified: asserted.user_verified }).await
        }
        other => Err(SignInError::UnknownChallenge(other.to_owned())),
    }
}

/// Marks a proven answer used: a second answer with the same session is refused.
async fn spend(state: &AppState, what: &str, expires_at: i64) -> Result<(), SignInError> {
    let spent = hex::encode(cognate_core::crypto::sha256(what.as_bytes()));
    if state.store.spend(&spent, expires_at).await? { Ok(()) } else { Err(SignInError::InvalidSession) }
}

/// Continues a sign-in whose first factor was an email code or a passkey: the user's
/// status decides as after a password (a temporary password still has to be replaced),
/// then the MFA decision of [`Factor`].
async fn passwordless(
    state: &AppState,
    attempt: Attempt,
    start: &Start<'_>,
    user: &User,
    factor: Factor,
) -> Result<Step, SignInError> {
    let proven = Proven {
        attempt,
        pool: start.pool,
        client: start.client,
        user,
        tenant: start.tenant,
        delivery: Delivery::Tokens,
        device: DeviceUse::None,
        factor,
    };
    if user.enabled && matches!(user.status, UserStatus::Confirmed | UserStatus::ExternalProvider) {
        return after_first_factor(state, proven).await;
    }
    after_password(state, Proven { factor: Factor::Password, ..proven }).await
}

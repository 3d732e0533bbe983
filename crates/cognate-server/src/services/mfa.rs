//! A user's software token (TOTP) MFA: enrolment (associate a secret, verify a code of
//! it) and the user's preference, for every surface (the Cognito API today; the hosted
//! login's MFA_SETUP page and the consoles next). The rules:
//! - a secret is pending until a code of it verifies; the token in use, if any, keeps
//!   working until then;
//! - a challenge session (MFA_SETUP) proves only the password: it may enrol a first token,
//!   never replace one; a signed-in session replaces one only if it passed MFA;
//! - a wrong code counts against the user like a wrong password, and the code that
//!   verified cannot also answer a sign-in challenge;
//! - TOTP is turned on only with a verified token; off also stops it being preferred.

use cognate_core::StoreError;
use cognate_core::mfa::UserMfa;
use cognate_core::totp;
use cognate_core::user::User;

use super::sign_in::{self, Attempt, SignInError, Throttle, open_totp_secret};
use crate::AppState;

/// Why an MFA change was refused.
#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    /// A challenge session tried to replace a verified token.
    #[error("the session cannot replace a token")]
    SetupCannotReplace,
    /// A session that did not pass MFA tried to replace a verified token.
    #[error("replacing a token needs a session that passed MFA")]
    ReplaceNeedsMfa,
    #[error("no software token is being associated")]
    NothingPending,
    #[error("code mismatch")]
    CodeMismatch,
    /// TOTP turned on without a verified token.
    #[error("no verified software token")]
    NoToken,
    /// A method preferred but not enabled.
    #[error("a preferred MFA method must be enabled")]
    PreferredNotEnabled,
    #[error(transparent)]
    SignIn(#[from] SignInError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who asks for an MFA change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// A challenge session (MFA_SETUP) after the password.
    Setup,
    /// A signed-in session; `passed_mfa` when its sign-in answered an MFA challenge.
    Session { passed_mfa: bool },
    /// An administrator.
    Admin,
}

/// The user's MFA record, or a fresh one.
pub async fn record(state: &AppState, user: &User) -> Result<UserMfa, StoreError> {
    Ok(match state.store.get_mfa(&user.pool_id, &user.sub).await? {
        Some(m) => m,
        None => UserMfa::new(user.pool_id.clone(), &user.sub, state.clock.now_millis()),
    })
}

/// The user's MFA record, if they have one.
pub async fn settings(state: &AppState, user: &User) -> Result<Option<UserMfa>, StoreError> {
    state.store.get_mfa(&user.pool_id, &user.sub).await
}

/// What a user can authenticate with (GetUserAuthFactors): their MFA record, and whether
/// they have a password (its hash, or an SRP verifier of it: one factor, `PASSWORD`).
#[derive(Debug, Clone)]
pub struct AuthFactors {
    pub mfa: Option<UserMfa>,
    pub password: bool,
}

impl AuthFactors {
    /// Cognito's `ConfiguredUserAuthFactors`: `PASSWORD` when the user has one, and
    /// `SOFTWARE_TOKEN` when they registered a verified authenticator (an MFA factor only,
    /// listed whether or not TOTP is turned on). Cognate has no SMS, email or passkey
    /// factors.
    pub fn configured(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.password {
            out.push("PASSWORD");
        }
        if self.mfa.as_ref().is_some_and(UserMfa::has_totp) {
            out.push("SOFTWARE_TOKEN");
        }
        out
    }
}

/// The factors `user` has set up.
pub async fn auth_factors(state: &AppState, user: &User) -> Result<AuthFactors, StoreError> {
    Ok(AuthFactors {
        mfa: settings(state, user).await?,
        password: user.password_hash.is_some() || user.srp_verifier.is_some(),
    })
}

/// Forgets the user's software token (AdminDeleteSoftwareToken): the verified secret and
/// any pending one; TOTP is off and no longer preferred. The user enrols again with
/// AssociateSoftwareToken (or, where MFA is required of them, at the next sign-in's
/// MFA_SETUP). The used-step mark stays. Returns whether there was a token to forget.
pub async fn delete_software_token(state: &AppState, user: &User) -> Result<bool, MfaError> {
    let Some(mut mfa) = settings(state, user).await? else { return Ok(false) };
    let had = mfa.totp_secret_sealed.is_some() || mfa.pending_secret_sealed.is_some();
    mfa.totp_secret_sealed = None;
    mfa.totp_verified = false;
    mfa.totp_enabled = false;
    mfa.preferred = false;
    mfa.pending_secret_sealed = None;
    mfa.pending_at = None;
    mfa.friendly_device_name = None;
    mfa.updated_at = state.clock.now_millis();
    state.store.put_mfa(&mfa).await?;
    if had {
        tracing::info!(pool = %user.pool_id, sub = %user.sub, "software token deleted by an administrator");
    }
    Ok(had)
}

/// Starts associating a new authenticator: returns its secret (to show once as base32 or
/// a QR code), pending until [`verify`].
pub async fn associate(state: &AppState, user: &User, asker: Asker) -> Result<Vec<u8>, MfaError> {
    let mut mfa = record(state, user).await?;
    if mfa.has_totp() {
        match asker {
            Asker::Setup => return Err(MfaError::SetupCannotReplace),
            Asker::Session { passed_mfa: false } => return Err(MfaError::ReplaceNeedsMfa),
            Asker::Session { passed_mfa: true } | Asker::Admin => {}
        }
    }
    let secret = totp::generate_secret(state.rng.as_ref());
    let now = state.clock.now_millis();
    mfa.pending_secret_sealed = Some(state.master_key.seal(state.rng.as_ref(), totp::SEED_LABEL, &secret));
    mfa.pending_at = Some(now);
    mfa.updated_at = now;
    state.store.put_mfa(&mfa).await?;
    Ok(secret)
}

/// Verifies `code` of the pending secret, which becomes the user's verified token (named
/// `device_name`). During MFA_SETUP (`Asker::Setup`) TOTP is also turned on and preferred.
pub async fn verify(
    state: &AppState,
    attempt: Attempt,
    user: &User,
    asker: Asker,
    code: &str,
    device_name: Option<String>,
) -> Result<(), MfaError> {
    let throttle = Throttle::of_user(attempt, &user.pool_id, &user.sub);
    throttle.check(state).await?;
    let mut mfa = record(state, user).await?;
    let setup = asker == Asker::Setup;
    if setup && mfa.has_totp() {
        return Err(MfaError::SetupCannotReplace);
    }
    let now = state.clock.now_millis();
    let pending = mfa.live_pending(now).map(str::to_owned).ok_or(MfaError::NothingPending)?;
    let secret = open_totp_secret(state, &pending)?;
    let Some(step) = totp::verify(&secret, code, state.clock.now_secs()) else {
        throttle.fail(state).await;
        return Err(MfaError::CodeMismatch);
    };
    mfa.totp_secret_sealed = Some(pending);
    mfa.totp_verified = true;
    mfa.pending_secret_sealed = None;
    mfa.pending_at = None;
    // The code just used must not also answer a sign-in challenge.
    mfa.last_step = mfa.last_step.max(step);
    mfa.friendly_device_name = device_name.filter(|n| !n.is_empty());
    if setup {
        mfa.totp_enabled = true;
        mfa.preferred = true;
    }
    mfa.updated_at = now;
    let event = crate::services::webhooks::event(
        state,
        &crate::services::webhooks::user_owner(user),
        "mfa.enrolled",
        serde_json::json!({
            "userPoolId": user.pool_id.as_str(),
            "sub": user.sub,
            "username": user.username,
            "factor": "software_token",
            "tenantId": user.attributes.get(crate::tenancy::TENANT_ID_ATTR),
        }),
    );
    state.store.put_mfa_with(&mfa, &[event]).await?;
    tracing::info!(pool = %user.pool_id, sub = %user.sub, "software token verified");
    Ok(())
}

/// AssociateSoftwareToken with an MFA_SETUP challenge session (`sealed`): the new secret
/// and the session renewed for another `AuthSessionValidity`.
pub async fn associate_for_setup(state: &AppState, sealed: &str) -> Result<(Vec<u8>, String), MfaError> {
    let (session, client, user) = sign_in::open_setup_session(state, sealed).await?;
    let secret = associate(state, &user, Asker::Setup).await?;
    Ok((secret, session.renewed(state, &client).seal(state)?))
}

/// VerifySoftwareToken with an MFA_SETUP challenge session: on a right code, the session
/// that may now answer MFA_SETUP.
pub async fn verify_for_setup(
    state: &AppState,
    attempt: Attempt,
    sealed: &str,
    code: &str,
    device_name: Option<String>,
) -> Result<String, MfaError> {
    let (session, client, user) = sign_in::open_setup_session(state, sealed).await?;
    verify(state, attempt, &user, Asker::Setup, code, device_name).await?;
    let verified = sign_in::Session { totp_verified: true, ..session.renewed(state, &client) };
    Ok(verified.seal(state)?)
}

/// Turns TOTP on or off (`None` keeps it) and sets whether it is preferred (`None` keeps
/// the current preference while enabled).
pub async fn set_preference(
    state: &AppState,
    user: &User,
    enabled: Option<bool>,
    preferred: Option<bool>,
) -> Result<(), MfaError> {
    let mut mfa = record(state, user).await?;
    let enabled = enabled.unwrap_or(mfa.totp_enabled);
    if enabled && !mfa.has_totp() {
        return Err(MfaError::NoToken);
    }
    if preferred == Some(true) && !enabled {
        return Err(MfaError::PreferredNotEnabled);
    }
    mfa.preferred = enabled && preferred.unwrap_or(mfa.preferred);
    mfa.totp_enabled = enabled;
    mfa.updated_at = state.clock.now_millis();
    state.store.put_mfa(&mfa).await?;
    Ok(())
}

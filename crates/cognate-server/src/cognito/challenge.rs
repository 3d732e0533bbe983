//! What happens between a correct password and the tokens: the sealed `Session` that
//! carries a sign-in from one call to the next, the MFA decision, and the answers to the
//! SOFTWARE_TOKEN_MFA and MFA_SETUP challenges.
//!
//! MFA is required when the pool's `MfaConfiguration` is `ON`, when it is `OPTIONAL` and
//! the user turned TOTP on, or when the session's tenant (chosen as at any sign-in) has a
//! policy that covers the user's role there (`admins`, `all`) — in the shared pool and in
//! dedicated pools alike. A user with a verified software token is then asked for a code
//! (SOFTWARE_TOKEN_MFA); one without gets MFA_SETUP and enrols with
//! AssociateSoftwareToken and VerifySoftwareToken on the challenge's session first.
//!
//! A wrong code counts against the same per-user (and per-IP) failure counter as a wrong
//! password, and a correct password does not clear that counter while MFA is still owed,
//! so alternating passwords and guessed codes gains nothing.

use cognate_core::claims::SDK_SCOPE;
use cognate_core::client::AppClient;
use cognate_core::mfa::{SOFTWARE_TOKEN_MFA, UserMfa};
use cognate_core::pool::UserPool;
use cognate_core::tenant::TenantId;
use cognate_core::totp;
use cognate_core::user::{User, UserStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{FailureKeys, check_user_unlocked, rejection, tenant_refusal};
use super::{CognitoError, OpResult, RequestContext};
use crate::AppState;
use crate::issue;
use crate::tenancy::{self, Selection};

pub(super) const NEW_PASSWORD_REQUIRED: &str = "NEW_PASSWORD_REQUIRED";
pub(super) const MFA_SETUP: &str = "MFA_SETUP";

const SESSION_LABEL: &str = "auth-session";

fn not_authorized(message: &str) -> CognitoError {
    CognitoError::new("NotAuthorizedException", message.to_owned())
}

pub(super) fn invalid_session() -> CognitoError {
    not_authorized("Invalid session for the user.")
}

/// What an auth challenge `Session` carries, sealed with the master key (so a client can
/// neither read nor forge it). It lives for the client's `AuthSessionValidity` minutes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Session {
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
}

impl Session {
    pub fn new(state: &AppState, client: &AppClient, user: &User, challenge: &str, tenant: Option<String>) -> Self {
        Self {
            pool: user.pool_id.to_string(),
            client: client.id.to_string(),
            sub: user.sub.clone(),
            challenge: challenge.to_owned(),
            exp: state.clock.now_millis() + i64::from(client.settings.auth_session_validity) * 60_000,
            tenant,
            password_checked: true,
            totp_verified: false,
        }
    }

    pub fn seal(&self, state: &AppState) -> Result<String, CognitoError> {
        let json = serde_json::to_string(self).map_err(CognitoError::internal)?;
        Ok(state.master_key.seal(state.rng.as_ref(), SESSION_LABEL, json.as_bytes()))
    }

    /// Opens a session a client sent back; refused when it was not sealed by this server's
    /// master key or has expired.
    pub fn open(state: &AppState, sealed: &str) -> Result<Self, CognitoError> {
        let session: Self = state
            .master_key
            .open(SESSION_LABEL, sealed)
            .ok()
            .and_then(|raw| serde_json::from_slice(&raw).ok())
            .ok_or_else(invalid_session)?;
        if session.exp <= state.clock.now_millis() {
            return Err(not_authorized("Invalid session for the user, session is expired."));
        }
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
}

/// Whether this sign-in must pass MFA (see the module documentation).
pub(super) fn mfa_required(pool: &UserPool, mfa: Option<&UserMfa>, selection: &Selection) -> bool {
    let by_pool = match pool.settings.mfa_configuration.as_str() {
        "ON" => true,
        "OPTIONAL" => mfa.is_some_and(UserMfa::totp_active),
        _ => false,
    };
    by_pool || selection.active().is_some_and(tenancy::ActiveTenant::requires_mfa)
}

/// Continues a sign-in whose password is settled (checked, or just changed): picks the
/// session's tenant (`requested`: ClientMetadata `tenantId`), then either issues tokens or
/// answers the MFA challenge the sign-in owes.
pub(super) async fn after_password(
    state: &AppState,
    ctx: &RequestContext,
    pool: &UserPool,
    client: &AppClient,
    user: &User,
    requested: Option<&str>,
) -> OpResult {
    let selection = tenancy::pick(state, user, requested).await.map_err(tenant_refusal)?;
    let mfa = state.store.get_mfa(&pool.id, &user.sub).await?;
    if !mfa_required(pool, mfa.as_ref(), &selection) {
        FailureKeys::of_user(ctx, &pool.id, &user.sub).clear(state);
        return finish(state, client, user, &selection, false).await;
    }
    let tenant = selection.tenant_id().map(ToString::to_string);
    match mfa {
        Some(m) if m.has_totp() => {
            let session = Session::new(state, client, user, SOFTWARE_TOKEN_MFA, tenant).seal(state)?;
            let mut params = json!({"USER_ID_FOR_SRP": user.username});
            if let Some(name) = &m.friendly_device_name {
                params["FRIENDLY_DEVICE_NAME"] = json!(name);
            }
            Ok(json!({"ChallengeName": SOFTWARE_TOKEN_MFA, "Session": session, "ChallengeParameters": params}))
        }
        _ => {
            let session = Session::new(state, client, user, MFA_SETUP, tenant).seal(state)?;
            Ok(json!({
                "ChallengeName": MFA_SETUP,
                "Session": session,
                "ChallengeParameters": {
                    "MFAS_CAN_SETUP": json!([SOFTWARE_TOKEN_MFA]).to_string(),
                    "USER_ID_FOR_SRP": user.username,
                },
            }))
        }
    }
}

/// Issues the first tokens of a completed sign-in (`mfa`: it passed an MFA challenge) and
/// records the tenant as used.
async fn finish(state: &AppState, client: &AppClient, user: &User, selection: &Selection, mfa: bool) -> OpResult {
    tenancy::touch(state, user, selection).await?;
    let issued =
        issue::sign_in_with(state, client, user, selection, SDK_SCOPE, mfa).await.map_err(|e| rejection(e, "token"))?;
    Ok(json!({"AuthenticationResult": issued.authentication_result(), "ChallengeParameters": {}}))
}

/// The tenant context an MFA session was begun for, checked again (the membership or the
/// tenant may have changed since).
async fn session_selection(state: &AppState, user: &User, session: &Session) -> Result<Selection, CognitoError> {
    match &session.tenant {
        Some(id) => {
            let tenant = TenantId::parse(id).ok_or_else(invalid_session)?;
            let active = tenancy::for_tenant(state, user, &tenant).await.map_err(tenant_refusal)?;
            Ok(Selection::Managed(Some(active)))
        }
        None => Ok(tenancy::unbound(state, &user.pool_id).await?),
    }
}

/// Answers SOFTWARE_TOKEN_MFA (`SOFTWARE_TOKEN_MFA_CODE`) or MFA_SETUP for a session the
/// caller already matched to `client` and `user`.
pub(super) async fn respond_mfa(
    state: &AppState,
    ctx: &RequestContext,
    pool: &UserPool,
    client: &AppClient,
    user: &User,
    session: &Session,
    code: Option<&str>,
) -> OpResult {
    if !session.password_checked {
        return Err(invalid_session());
    }
    if !user.enabled {
        return Err(not_authorized("User is disabled."));
    }
    if user.status != UserStatus::Confirmed {
        return Err(invalid_session());
    }
    let keys = FailureKeys::of_user(ctx, &pool.id, &user.sub);
    check_user_unlocked(state, &keys)?;
    let mfa = state.store.get_mfa(&pool.id, &user.sub).await?.filter(UserMfa::has_totp).ok_or_else(invalid_session)?;
    if session.challenge == SOFTWARE_TOKEN_MFA {
        let code = code.ok_or_else(|| CognitoError::invalid("Missing required parameter SOFTWARE_TOKEN_MFA_CODE"))?;
        let secret = open_secret(state, mfa.totp_secret_sealed.as_deref().unwrap_or_default())?;
        let Some(step) = totp::verify(&secret, code, state.clock.now_secs()) else {
            keys.fail(state);
            return Err(CognitoError::new("CodeMismatchException", "Invalid code received for user"));
        };
        if !state.store.use_totp_step(&pool.id, &user.sub, step).await? {
            return Err(CognitoError::new("ExpiredCodeException", "Your software token has already been used once."));
        }
    } else if !session.totp_verified {
        // MFA_SETUP is answered after VerifySoftwareToken with this session, not before.
        return Err(invalid_session());
    }
    let selection = session_selection(state, user, session).await?;
    keys.clear(state);
    tracing::info!(pool = %pool.id, sub = %user.sub, challenge = %session.challenge, "MFA passed");
    finish(state, client, user, &selection, true).await
}

/// A sealed TOTP secret in the clear.
pub(super) fn open_secret(state: &AppState, sealed: &str) -> Result<Vec<u8>, CognitoError> {
    state.master_key.open(totp::SEED_LABEL, sealed).map_err(CognitoError::internal)
}

/// Reads a challenge's `Session` member back, for the operations (AssociateSoftwareToken,
/// VerifySoftwareToken) that continue an MFA_SETUP challenge outside RespondToAuthChallenge.
pub(super) fn setup_session(state: &AppState, sealed: &str) -> Result<Session, CognitoError> {
    let session = Session::open(state, sealed)?;
    if session.challenge != MFA_SETUP || !session.password_checked {
        return Err(invalid_session());
    }
    Ok(session)
}

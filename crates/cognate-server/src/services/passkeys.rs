//! Passkeys (WebAuthn) on `webauthn-rs`: the pool's relying party, registering a passkey
//! for a signed-in user (StartWebAuthnRegistration, CompleteWebAuthnRegistration), listing
//! and deleting them, and the two halves of a passkey assertion that the sign-in state
//! machine ([`super::sign_in`]) runs for the WEB_AUTHN challenge.
//!
//! The relying party id is the pool's `WebAuthnConfiguration.RelyingPartyId`, else the host
//! of Cognate's public URL (Cognito: the pool's domain). Accepted origins: `https://{rp}`
//! on any port, Cognate's public URL when its host is the relying party or below it, and
//! `http://localhost` (any port) when the relying party is `localhost`, the one host that
//! browsers treat as secure over plain HTTP. `UserVerification` `required` runs
//! webauthn-rs' passkey ceremonies (user verification demanded); `preferred` (the default)
//! its security-key ones (verification asked for, not demanded).
//!
//! Single use: a registration's state is kept server-side and taken by the completion
//! that uses it; an assertion's state travels in the sealed challenge session, which the
//! sign-in spends once, and the signature counter must move forward on every use (a
//! replayed assertion, or a cloned authenticator, is refused).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use cognate_core::StoreError;
use cognate_core::crypto::hmac_sha256;
use cognate_core::passkey::{self, PasskeyCredential, PendingRegistration};
use cognate_core::pool::UserPool;
use cognate_core::user::User;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    Credential, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    SecurityKey, SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder,
    WebauthnError,
};

use crate::AppState;

/// How long a registration may take between its two calls (WebAuthn's recommended
/// authenticator timeout).
pub const REGISTRATION_TTL_MS: i64 = 300_000;
/// The most passkeys a ListWebAuthnCredentials page holds (Cognito's `MaxResults` maximum).
pub const MAX_PAGE: usize = 20;

/// Why a passkey call refused.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// The pool does not offer WEB_AUTHN in its AllowedFirstAuthFactors.
    #[error("passkeys are not enabled for this user pool")]
    NotEnabled,
    /// No relying party: none configured, and Cognate's public URL has no domain name.
    #[error("no relying party id")]
    ConfigurationMissing,
    /// The user has [`passkey::MAX_CREDENTIALS_PER_USER`] passkeys already.
    #[error("too many passkeys")]
    LimitExceeded,
    /// No registration pending for this user (never begun, completed, or expired), or the
    /// credential answers another challenge.
    #[error("no registration challenge")]
    ChallengeNotFound,
    /// The registration was begun by another app client.
    #[error("registration begun by another client")]
    ClientMismatch,
    /// The credential was made on a page of an origin the relying party does not allow.
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// The credential is for another relying party.
    #[error("relying party mismatch")]
    RelyingPartyMismatch,
    /// The authenticator's answer does not verify (the reason, for logs and the caller).
    #[error("credential not supported: {0}")]
    NotSupported(String),
    /// Malformed input (the message).
    #[error("{0}")]
    Invalid(String),
    /// The user has no such passkey.
    #[error("no such passkey")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal: {0}")]
    Fault(String),
}

fn fault(e: impl std::fmt::Display) -> PasskeyError {
    PasskeyError::Fault(e.to_string())
}

/// The pool's relying party and the webauthn-rs instance that checks ceremonies for it.
struct Party {
    id: String,
    webauthn: Webauthn,
    uv_required: bool,
}

/// The relying party of `pool` (see the module documentation).
fn party(state: &AppState, pool: &UserPool) -> Result<Party, PasskeyError> {
    let config = pool.settings.webauthn();
    let public = Url::parse(&state.settings.public_url).map_err(fault)?;
    let id = match config.relying_party_id {
        Some(id) => id.to_ascii_lowercase(),
        // An address is no relying party id (browsers refuse one).
        None => public.domain().ok_or(PasskeyError::ConfigurationMissing)?.to_ascii_lowercase(),
    };
    let primary = Url::parse(&format!("https://{id}")).map_err(|_| PasskeyError::ConfigurationMissing)?;
    let mut builder = WebauthnBuilder::new(&id, &primary)
        .map_err(|_| PasskeyError::ConfigurationMissing)?
        .rp_name(&pool.name)
        .allow_any_port(true)
        .timeout(std::time::Duration::from_millis(REGISTRATION_TTL_MS.unsigned_abs()));
    let within = |host: &str| host == id || host.ends_with(&format!(".{id}"));
    if public.domain().is_some_and(within) {
        builder = builder.append_allowed_origin(&public);
    }
    if id == "localhost" {
        let local = Url::parse("http://localhost").map_err(fault)?;
        builder = builder.append_allowed_origin(&local);
    }
    let webauthn = builder.build().map_err(fault)?;
    Ok(Party { id, webauthn, uv_required: config.user_verification_required })
}

fn enabled(pool: &UserPool) -> Result<(), PasskeyError> {
    if pool.settings.policies.sign_in_policy.allows(passkey::WEB_AUTHN) {
        Ok(())
    } else {
        Err(PasskeyError::NotEnabled)
    }
}

/// Whether the pool offers passkeys and has a relying party to bind them to.
pub fn offered(state: &AppState, pool: &UserPool) -> bool {
    enabled(pool).is_ok() && party(state, pool).is_ok()
}

/// The WebAuthn user handle of a user: their sub, which is a UUID (a sub that is not one
/// maps to a stable UUID derived from it).
fn user_handle(user: &User) -> Uuid {
    Uuid::parse_str(&user.sub).unwrap_or_else(|_| {
        let digest = cognate_core::crypto::sha256(user.sub.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes)
    })
}

fn credential_of(stored: &PasskeyCredential) -> Result<Credential, PasskeyError> {
    serde_json::from_str(&stored.credential).map_err(fault)
}

/// A registration's server-side state: which ceremony, by the pool's user verification.
#[derive(Serialize, Deserialize)]
enum Registration {
    Passkey(PasskeyRegistration),
    SecurityKey(SecurityKeyRegistration),
}

/// An assertion's state, carried in the sealed sign-in session.
#[derive(Serialize, Deserialize)]
enum Authentication {
    Passkey(PasskeyAuthentication),
    SecurityKey(SecurityKeyAuthentication),
}

/// StartWebAuthnRegistration: the credential creation options (the JSON form of
/// `PublicKeyCredentialCreationOptions`, Base64url binary members) for the user to create
/// a passkey with; the user's existing passkeys are excluded. Replaces any registration
/// the user had pending.
pub async fn start_registration(
    state: &AppState,
    pool: &UserPool,
    client_id: &str,
    user: &User,
) -> Result<Value, PasskeyError> {
    enabled(pool)?;
    let party = party(state, pool)?;
    let existing = state.store.list_passkeys(&pool.id, &user.sub).await?;
    if existing.len() >= passkey::MAX_CREDENTIALS_PER_USER {
        return Err(PasskeyError::LimitExceeded);
    }
    let exclude = existing.iter().map(|c| credential_of(c).map(|c| c.cred_id)).collect::<Result<Vec<_>, _>>()?;
    let display = user.attributes.get("email").unwrap_or(&user.username);
    let handle = user_handle(user);
    let (options, registration) = if party.uv_required {
        let (ccr, reg) =
            party.webauthn.start_passkey_registration(handle, &user.username, display, Some(exclude)).map_err(fault)?;
        (ccr.public_key, Registration::Passkey(reg))
    } else {
        let (ccr, reg) = party
            .webauthn
            .start_securitykey_registration(handle, &user.username, display, Some(exclude), None, None)
            .map_err(fault)?;
        (ccr.public_key, Registration::SecurityKey(reg))
    };
    state
        .store
        .put_registration(&PendingRegistration {
            pool_id: pool.id.clone(),
            sub: user.sub.clone(),
            client_id: client_id.to_owned(),
            state: serde_json::to_string(&registration).map_err(fault)?,
            expires_at: state.clock.now_millis() + REGISTRATION_TTL_MS,
        })
        .await?;
    tracing::info!(pool = %pool.id, sub = %user.sub, rp = %party.id, "passkey registration begun");
    let mut options = serde_json::to_value(options).map_err(fault)?;
    // Passkeys are discoverable credentials (as Cognito asks for them): the authenticator
    // keeps the user handle, so a passkey can sign in without a name typed first, and the
    // credential protection webauthn-rs requests is consistent with it (browsers refuse
    // that protection for credentials that are not discoverable).
    if let Some(selection) = options.get_mut("authenticatorSelection").and_then(Value::as_object_mut) {
        selection.insert("residentKey".into(), json!("required"));
        selection.insert("requireResidentKey".into(), json!(true));
    }
    // Where verification is only preferred, asking the authenticator to demand it for
    // every later use contradicts the request (Chromium refuses it); the protection is
    // left to the authenticator's default.
    if !party.uv_required
        && let Some(extensions) = options.get_mut("extensions").and_then(Value::as_object_mut)
    {
        extensions.remove("credentialProtectionPolicy");
        extensions.remove("enforceCredentialProtectionPolicy");
    }
    Ok(options)
}

/// The webauthn-rs refusals a caller can act on, in this module's terms.
fn ceremony_error(e: &WebauthnError) -> PasskeyError {
    match e {
        WebauthnError::InvalidRPOrigin => PasskeyError::OriginNotAllowed,
        WebauthnError::InvalidRPIDHash => PasskeyError::RelyingPartyMismatch,
        WebauthnError::MismatchedChallenge => PasskeyError::ChallengeNotFound,
        other => PasskeyError::NotSupported(other.to_string()),
    }
}

/// CompleteWebAuthnRegistration: checks the authenticator's answer (`credential`, the
/// JSON form of the browser's `PublicKeyCredential`) against the user's pending
/// registration, which it uses up whatever the outcome, and stores the new passkey.
pub async fn complete_registration(
    state: &AppState,
    pool: &UserPool,
    client_id: &str,
    user: &User,
    credential: &Value,
) -> Result<(), PasskeyError> {
    enabled(pool)?;
    let party = party(state, pool)?;
    let pending = state.store.take_registration(&pool.id, &user.sub).await?.ok_or(PasskeyError::ChallengeNotFound)?;
    let reg: RegisterPublicKeyCredential = serde_json::from_value(credential.clone())
        .map_err(|e| PasskeyError::Invalid(format!("Credential is not a registration response: {e}")))?;
    if pending.expires_at <= state.clock.now_millis() {
        return Err(PasskeyError::ChallengeNotFound);
    }
    if pending.client_id != client_id {
        return Err(PasskeyError::ClientMismatch);
    }
    let registration: Registration = serde_json::from_str(&pending.state).map_err(fault)?;
    let verified: Credential = match &registration {
        Registration::Passkey(r) => party.webauthn.finish_passkey_registration(&reg, r).map(Passkey::into),
        Registration::SecurityKey(r) => party.webauthn.finish_securitykey_registration(&reg, r).map(SecurityKey::into),
    }
    .map_err(|e| {
        tracing::info!(pool = %pool.id, sub = %user.sub, error = %e, "passkey registration refused");
        ceremony_error(&e)
    })?;
    let credential_id = B64URL.encode(&verified.cred_id);
    let transports = reg
        .response
        .transports
        .iter()
        .flatten()
        .filter_map(|t| serde_json::to_value(t).ok().and_then(|v| v.as_str().map(str::to_owned)))
        .collect();
    let attachment = credential
        .get("authenticatorAttachment")
        .and_then(Value::as_str)
        .filter(|a| ["platform", "cross-platform"].contains(a))
        .map(str::to_owned);
    let now = state.clock.now_millis();
    let stored = PasskeyCredential {
        pool_id: pool.id.clone(),
        sub: user.sub.clone(),
        friendly_name: format!("Passkey {}", credential_id.chars().take(8).collect::<String>()),
        credential_id,
        credential: serde_json::to_string(&verified).map_err(fault)?,
        relying_party_id: party.id,
        attachment,
        transports,
        counter: i64::from(verified.counter),
        created_at: now,
        last_used_at: None,
    };
    match state.store.add_passkey(&stored).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(PasskeyError::Invalid("This passkey is already registered.".into()));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(pool = %pool.id, sub = %user.sub, "passkey registered");
    Ok(())
}

/// ListWebAuthnCredentials: the user's passkeys, oldest first, `max` a page, after the
/// passkey `after` names (the previous page's token); the token of the next page.
pub async fn list(
    state: &AppState,
    user: &User,
    after: Option<&str>,
    max: usize,
) -> Result<(Vec<PasskeyCredential>, Option<String>), PasskeyError> {
    let all = state.store.list_passkeys(&user.pool_id, &user.sub).await?;
    let start = match after {
        None => 0,
        Some(token) => {
            all.iter()
                .position(|c| c.credential_id == token)
                .ok_or(PasskeyError::Invalid("Invalid NextToken".into()))?
                + 1
        }
    };
    let rest = all.get(start..).unwrap_or_default();
    let page: Vec<PasskeyCredential> = rest.iter().take(max).cloned().collect();
    let next = (rest.len() > max).then(|| page.last().map(|c| c.credential_id.clone())).flatten();
    Ok((page, next))
}

/// DeleteWebAuthnCredential: the passkey no longer signs the user in.
pub async fn delete(state: &AppState, user: &User, credential_id: &str) -> Result<(), PasskeyError> {
    if !state.store.delete_passkey(&user.pool_id, &user.sub, credential_id).await? {
        return Err(PasskeyError::NotFound);
    }
    tracing::info!(pool = %user.pool_id, sub = %user.sub, "passkey deleted");
    Ok(())
}

/// The WEB_AUTHN challenge of a sign-in: the request options to hand the browser (JSON
/// text, as `CREDENTIAL_REQUEST_OPTIONS`), and the state the answer is checked against
/// (`None`: nothing can pass).
pub struct Challenge {
    pub options: String,
    pub state: Option<String>,
}

/// Begins an assertion for `user`'s passkeys. A user without passkeys, or no user at all
/// (a name that matched nobody, `name`), gets options that look like a real user's — a
/// fresh challenge and one credential id derived from the name with a server key — which
/// no answer passes (PreventUserExistenceErrors).
pub async fn begin_assertion(
    state: &AppState,
    pool: &UserPool,
    user: Option<&User>,
    name: &str,
) -> Result<Challenge, PasskeyError> {
    let party = party(state, pool)?;
    let stored = match user {
        Some(u) => state.store.list_passkeys(&pool.id, &u.sub).await?,
        None => Vec::new(),
    };
    if stored.is_empty() {
        return Ok(Challenge { options: decoy_options(state, pool, &party, name).to_string(), state: None });
    }
    let creds = stored.iter().map(credential_of).collect::<Result<Vec<_>, _>>()?;
    let (rcr, auth) = if party.uv_required {
        let keys: Vec<Passkey> = creds.into_iter().map(Passkey::from).collect();
        let (rcr, s) = party.webauthn.start_passkey_authentication(&keys).map_err(fault)?;
        (rcr, Authentication::Passkey(s))
    } else {
        let keys: Vec<SecurityKey> = creds.into_iter().map(SecurityKey::from).collect();
        let (rcr, s) = party.webauthn.start_securitykey_authentication(&keys).map_err(fault)?;
        (rcr, Authentication::SecurityKey(s))
    };
    Ok(Challenge {
        options: serde_json::to_string(&rcr.public_key).map_err(fault)?,
        state: Some(serde_json::to_string(&auth).map_err(fault)?),
    })
}

/// Request options shaped as webauthn-rs writes them, for a name with no passkey.
fn decoy_options(state: &AppState, pool: &UserPool, party: &Party, name: &str) -> Value {
    let folded = cognate_core::user::username_key(&pool.settings, name);
    let id = hmac_sha256(&state.master_key.mac_key("passkey-decoy-id"), format!("{}\n{folded}", pool.id).as_bytes());
    let challenge = cognate_core::clock::random_bytes::<32>(state.rng.as_ref());
    let transports = if party.uv_required { json!(["internal", "hybrid"]) } else { json!(["usb", "nfc"]) };
    let mut options = json!({
        "challenge": B64URL.encode(challenge),
        "timeout": REGISTRATION_TTL_MS,
        "rpId": party.id,
        "allowCredentials": [{"type": "public-key", "id": B64URL.encode(&id[..16]), "transports": transports}],
        "userVerification": if party.uv_required { "required" } else { "preferred" },
    });
    if !party.uv_required {
        options["hints"] = json!(["security-key"]);
    }
    options
}

/// A verified assertion: whether the authenticator verified the user (biometrics, PIN).
pub struct Asserted {
    pub user_verified: bool,
}

/// Checks the browser's answer (`credential`, the JSON form of its `PublicKeyCredential`)
/// against the challenge's state and `user`'s current passkeys, then records the use:
/// the signature counter must move forward (or stay 0 for authenticators that keep
/// none), and the passkey must still exist. Any failure is `NotSupported` with the reason.
pub async fn finish_assertion(
    state: &AppState,
    pool: &UserPool,
    user: &User,
    challenge_state: &str,
    credential: &Value,
) -> Result<Asserted, PasskeyError> {
    let party = party(state, pool)?;
    let answer: PublicKeyCredential = serde_json::from_value(credential.clone())
        .map_err(|e| PasskeyError::Invalid(format!("CREDENTIAL is not an authentication response: {e}")))?;
    let auth: Authentication = serde_json::from_str(challenge_state).map_err(fault)?;
    let result = match &auth {
        Authentication::Passkey(s) => party.webauthn.finish_passkey_authentication(&answer, s),
        Authentication::SecurityKey(s) => party.webauthn.finish_securitykey_authentication(&answer, s),
    }
    .map_err(|e| ceremony_error(&e))?;
    let id = B64URL.encode(result.cred_id());
    let stored = state.store.list_passkeys(&pool.id, &user.sub).await?;
    let record = stored.iter().find(|c| c.credential_id == id).ok_or(PasskeyError::NotFound)?;
    let mut current = credential_of(record)?;
    let counter = i64::from(result.counter());
    current.counter = result.counter();
    current.backup_state = result.backup_state();
    let text = serde_json::to_string(&current).map_err(fault)?;
    if !state.store.use_passkey(&pool.id, &user.sub, &id, counter, &text, state.clock.now_millis()).await? {
        return Err(PasskeyError::NotSupported("the signature counter did not move forward".into()));
    }
    Ok(Asserted { user_verified: result.user_verified() })
}

//! Software-token (TOTP) MFA: enrolment (AssociateSoftwareToken, VerifySoftwareToken),
//! users' preferences (SetUserMFAPreference, AdminSetUserMFAPreference, and the legacy
//! SetUserSettings, AdminSetUserSettings), what a user has set up (GetUserAuthFactors,
//! AdminGetUserAuthFactors), an administrator's reset of a lost authenticator
//! (AdminDeleteSoftwareToken) and the pool's setting (SetUserPoolMfaConfig,
//! GetUserPoolMfaConfig). The challenges at sign-in are
//! the sign-in service's ([`crate::services::sign_in`]).
//!
//! TOTP is the only MFA factor Cognate offers. SMS and email MFA are not supported:
//! SetUserPoolMfaConfig keeps and echoes their configuration (so tools that round-trip it
//! see no loss) but never turns them on, and a user cannot enable them.

use cognate_core::pool::UserPool;
use cognate_core::totp;
use cognate_core::user::User;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::auth::token_user;
use super::input::{load_pool, parse};
use super::users::find_user;
use super::{CognitoError, OpResult, RequestContext};
use crate::AppState;
use crate::services::{mfa, pools, tokens};
use crate::tenancy::SOFTWARE_TOKEN_MFA_CONFIGURATION;

pub(super) async fn call(state: &AppState, ctx: &RequestContext, op: &str, input: Value) -> OpResult {
    match op {
        "AssociateSoftwareToken" => associate(state, input).await,
        "VerifySoftwareToken" => verify(state, ctx, input).await,
        "SetUserMFAPreference" => set_preference(state, input).await,
        "AdminSetUserMFAPreference" => admin_set_preference(state, input).await,
        "SetUserPoolMfaConfig" => set_pool_config(state, input).await,
        "GetUserPoolMfaConfig" => get_pool_config(state, input).await,
        "GetUserAuthFactors" => get_auth_factors(state, input).await,
        "AdminGetUserAuthFactors" => admin_get_auth_factors(state, input).await,
        "AdminDeleteSoftwareToken" => admin_delete_software_token(state, input).await,
        "SetUserSettings" => set_user_settings(state, input).await,
        "AdminSetUserSettings" => admin_set_user_settings(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// Pool settings that SetUserPoolMfaConfig keeps (besides `MfaConfiguration`), stored with
/// the pool's other settings and left out of DescribeUserPool, as Cognito does.
pub(super) const POOL_MFA_KEYS: &[&str] =
    &[SOFTWARE_TOKEN_MFA_CONFIGURATION, "SmsMfaConfiguration", "EmailMfaConfiguration", "WebAuthnConfiguration"];

const NO_SMS: &str = "SMS and email MFA are not supported by Cognate; use a software token (TOTP).";

/// Whom an enrolment call is for: the holder of an access token, or the user of an
/// MFA_SETUP challenge session (sealed).
enum Caller<'a> {
    /// An access token's user; `passed_mfa` when its sign-in answered an MFA challenge.
    Token {
        user: User,
        passed_mfa: bool,
    },
    Setup(&'a str),
}

/// Resolves `AccessToken` or `Session` (exactly one of them, as Cognito requires).
async fn caller<'a>(
    state: &AppState,
    access_token: Option<&str>,
    session: Option<&'a str>,
) -> Result<Caller<'a>, CognitoError> {
    match (access_token, session) {
        (Some(token), None) => {
            let (_, user, claims) = token_user(state, token).await?;
            let passed_mfa = tokens::passed_mfa(state, &claims).await?;
            Ok(Caller::Token { user, passed_mfa })
        }
        (None, Some(sealed)) => Ok(Caller::Setup(sealed)),
        _ => Err(CognitoError::invalid("Provide either an AccessToken or a Session, not both.")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssociateInput {
    access_token: Option<String>,
    session: Option<String>,
}

/// AssociateSoftwareToken: a new secret for the caller's authenticator, pending until a
/// code of it verifies (the verified token in use, if any, keeps working until then).
async fn associate(state: &AppState, input: Value) -> OpResult {
    let req: AssociateInput = parse(input)?;
    match caller(state, req.access_token.as_deref(), req.session.as_deref()).await? {
        Caller::Token { user, passed_mfa } => {
            let secret = mfa::associate(state, &user, mfa::Asker::Session { passed_mfa }).await?;
            Ok(json!({"SecretCode": totp::base32_encode(&secret)}))
        }
        Caller::Setup(sealed) => {
            let (secret, session) = mfa::associate_for_setup(state, sealed).await?;
            Ok(json!({"SecretCode": totp::base32_encode(&secret), "Session": session}))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VerifyInput {
    access_token: Option<String>,
    session: Option<String>,
    user_code: Option<String>,
    friendly_device_name: Option<String>,
}

/// VerifySoftwareToken: a code of the pending secret makes it the user's verified token.
/// A wrong code counts against the user like a wrong password. With a challenge session,
/// TOTP is also turned on and preferred (MFA is required of this user), and the session
/// handed back answers MFA_SETUP.
async fn verify(state: &AppState, ctx: &RequestContext, input: Value) -> OpResult {
    let req: VerifyInput = parse(input)?;
    let code = req.user_code.ok_or_else(|| super::users::missing("userCode"))?;
    if code.len() != totp::DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CognitoError::invalid(
            "1 validation error detected: Value at 'userCode' failed to satisfy constraint: \
             Member must be 6 digits",
        ));
    }
    if req.friendly_device_name.as_ref().is_some_and(|n| n.len() > 256) {
        return Err(CognitoError::invalid("FriendlyDeviceName must be at most 256 characters."));
    }
    let device = req.friendly_device_name;
    match caller(state, req.access_token.as_deref(), req.session.as_deref()).await? {
        Caller::Token { user, passed_mfa } => {
            mfa::verify(state, ctx.attempt(), &user, mfa::Asker::Session { passed_mfa }, &code, device).await?;
            Ok(json!({"Status": "SUCCESS"}))
        }
        Caller::Setup(sealed) => {
            let session = mfa::verify_for_setup(state, ctx.attempt(), sealed, &code, device).await?;
            Ok(json!({"Status": "SUCCESS", "Session": session}))
        }
    }
}

/// `{"Enabled", "PreferredMfa"}` of one MFA method.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MethodSettings {
    enabled: Option<bool>,
    preferred_mfa: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PreferenceInput {
    access_token: Option<String>,
    user_pool_id: Option<String>,
    username: Option<String>,
    software_token_mfa_settings: Option<MethodSettings>,
    #[serde(rename = "SMSMfaSettings")]
    sms_mfa_settings: Option<MethodSettings>,
    email_mfa_settings: Option<MethodSettings>,
}

async fn set_preference(state: &AppState, input: Value) -> OpResult {
    let req: PreferenceInput = parse(input)?;
    let token = req.access_token.as_deref().ok_or_else(|| super::users::missing("accessToken"))?;
    let (_, user, _) = token_user(state, token).await?;
    apply_preference(state, &user, &req).await
}

async fn admin_set_preference(state: &AppState, input: Value) -> OpResult {
    let req: PreferenceInput = parse(input)?;
    let pool = load_pool(state, req.user_pool_id.as_deref().unwrap_or_default()).await?;
    let username = req.username.as_deref().ok_or_else(|| super::users::missing("username"))?;
    let user = find_user(state, &pool, username).await?;
    apply_preference(state, &user, &req).await
}

/// Turns TOTP on or off and sets whether it is preferred. Turning it on needs a verified
/// token (Cognito's message names the missing "delivery config"). Turning it off in a pool
/// whose MFA is `ON`, or for a member of a tenant that requires MFA, is recorded but the
/// verified token is still asked for at sign-in.
async fn apply_preference(state: &AppState, user: &User, req: &PreferenceInput) -> OpResult {
    for other in [&req.sms_mfa_settings, &req.email_mfa_settings].into_iter().flatten() {
        if other.enabled == Some(true) || other.preferred_mfa == Some(true) {
            return Err(CognitoError::invalid(NO_SMS));
        }
    }
    let Some(settings) = &req.software_token_mfa_settings else {
        return Ok(json!({}));
    };
    mfa::set_preference(state, user, settings.enabled, settings.preferred_mfa).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccessTokenInput {
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserRef {
    user_pool_id: String,
    username: String,
}

async fn admin_user(state: &AppState, req: &UserRef) -> Result<User, CognitoError> {
    let pool = load_pool(state, &req.user_pool_id).await?;
    find_user(state, &pool, &req.username).await
}

/// GetUserAuthFactors' and AdminGetUserAuthFactors' answer: the MFA fields as GetUser
/// gives them, and the factors the user has set up.
async fn auth_factors(state: &AppState, user: &User) -> OpResult {
    let factors = mfa::auth_factors(state, user).await?;
    let mut out = json!({"Username": user.username, "ConfiguredUserAuthFactors": factors.configured()});
    if let Some(m) = &factors.mfa {
        super::users::put_mfa_settings(m, &mut out);
    }
    Ok(out)
}

async fn get_auth_factors(state: &AppState, input: Value) -> OpResult {
    let req: AccessTokenInput = parse(input)?;
    let (_, user, _) = token_user(state, &req.access_token).await?;
    auth_factors(state, &user).await
}

async fn admin_get_auth_factors(state: &AppState, input: Value) -> OpResult {
    let req: UserRef = parse(input)?;
    let user = admin_user(state, &req).await?;
    auth_factors(state, &user).await
}

/// AdminDeleteSoftwareToken ([`mfa::delete_software_token`]); a user with no token is
/// answered as one whose token was deleted.
async fn admin_delete_software_token(state: &AppState, input: Value) -> OpResult {
    let req: UserRef = parse(input)?;
    let user = admin_user(state, &req).await?;
    mfa::delete_software_token(state, &user).await?;
    Ok(json!({}))
}

/// One of the legacy `MFAOptions` (`MFAOptionType`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MfaOption {
    delivery_medium: Option<String>,
    attribute_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UserSettingsInput {
    #[serde(rename = "MFAOptions")]
    mfa_options: Option<Vec<MfaOption>>,
}

/// The legacy SMS MFA settings of (Admin)SetUserSettings, checked as Cognito checks their
/// shape; returns whether any option was given. They can only turn SMS MFA on or (with an
/// empty list) off; Cognate has no SMS MFA, so an empty list is accepted and changes
/// nothing, and any option is refused ([`refuse_legacy_options`]) as SetUserMFAPreference
/// refuses SMS. Nothing is stored, so GetUser never reports `MFAOptions`.
fn legacy_options(input: Value) -> Result<bool, CognitoError> {
    let req: UserSettingsInput = parse(input)?;
    let options = req.mfa_options.ok_or_else(|| super::users::missing("mFAOptions"))?;
    for (i, option) in options.iter().enumerate() {
        let member = format!("mFAOptions.{}", i + 1);
        if let Some(m) = option.delivery_medium.as_deref().filter(|m| !["SMS", "EMAIL"].contains(m)) {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{m}' at '{member}.member.deliveryMedium' failed to satisfy \
                 constraint: Member must satisfy enum value set: [SMS, EMAIL]"
            )));
        }
        if let Some(name) = option.attribute_name.as_deref().filter(|n| n.is_empty() || n.chars().count() > 32) {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{name}' at '{member}.member.attributeName' failed to satisfy \
                 constraint: Member must have length between 1 and 32"
            )));
        }
    }
    Ok(!options.is_empty())
}

/// The answer to (Admin)SetUserSettings once the user is known: nothing to do for an empty
/// list, a refusal for SMS (or email) options.
fn refuse_legacy_options(any: bool) -> OpResult {
    if any {
        Err(CognitoError::invalid(format!("MFAOptions can only turn on SMS MFA. {NO_SMS}")))
    } else {
        Ok(json!({}))
    }
}

async fn set_user_settings(state: &AppState, input: Value) -> OpResult {
    let req: AccessTokenInput = parse(input.clone())?;
    let any = legacy_options(input)?;
    token_user(state, &req.access_token).await?;
    refuse_legacy_options(any)
}

async fn admin_set_user_settings(state: &AppState, input: Value) -> OpResult {
    let req: UserRef = parse(input.clone())?;
    let any = legacy_options(input)?;
    admin_user(state, &req).await?;
    refuse_legacy_options(any)
}

/// The pool's MFA configuration in GetUserPoolMfaConfig's shape. Software tokens count as
/// enabled unless SetUserPoolMfaConfig turned them off, or MFA is OFF and nobody said.
fn pool_config(pool: &UserPool) -> Value {
    let s = &pool.settings;
    let explicit =
        s.extra.get(SOFTWARE_TOKEN_MFA_CONFIGURATION).and_then(|c| c.get("Enabled")).and_then(Value::as_bool);
    let totp_enabled = explicit.unwrap_or(s.mfa_configuration != "OFF");
    let mut out = Map::new();
    out.insert("MfaConfiguration".into(), json!(s.mfa_configuration));
    out.insert(SOFTWARE_TOKEN_MFA_CONFIGURATION.into(), json!({"Enabled": totp_enabled}));
    for key in POOL_MFA_KEYS.iter().filter(|k| **k != SOFTWARE_TOKEN_MFA_CONFIGURATION) {
        if let Some(v) = s.extra.get(*key) {
            out.insert((*key).into(), v.clone());
        }
    }
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PoolRef {
    user_pool_id: String,
}

async fn get_pool_config(state: &AppState, input: Value) -> OpResult {
    let req: PoolRef = parse(input)?;
    Ok(pool_config(&load_pool(state, &req.user_pool_id).await?))
}

/// SetUserPoolMfaConfig. Members left out keep their value. `ON` and `OPTIONAL` need
/// software tokens enabled (the only factor Cognate has); SMS and email MFA configurations
/// are stored and echoed, never acted on. `WebAuthnConfiguration` (checked) sets the
/// passkeys' relying party and user verification (see [`crate::services::passkeys`]), and
/// `EmailMfaConfiguration`'s `Subject` and `Message` word the sign-in codes of EMAIL_OTP.
async fn set_pool_config(state: &AppState, mut input: Value) -> OpResult {
    let id = super::input::required_string(&mut input, "UserPoolId")?;
    let mfa_configuration = super::input::take_string(&mut input, "MfaConfiguration")?;
    if let Some(m) = &mfa_configuration
        && !["OFF", "ON", "OPTIONAL"].contains(&m.as_str())
    {
        return Err(CognitoError::invalid(
            "1 validation error detected: Value at 'mfaConfiguration' failed to satisfy constraint: \
             Member must satisfy enum value set: [OFF, ON, OPTIONAL]",
        ));
    }
    let mut updates: Vec<(&str, Value)> = Vec::new();
    for key in POOL_MFA_KEYS {
        if let Some(v) = super::input::take(&mut input, key) {
            if !v.is_object() {
                return Err(CognitoError::invalid(format!("{key} must be an object.")));
            }
            updates.push((key, v));
        }
    }
    // Cognito refuses to make MFA required without saying, in the same call, which factor.
    let names_a_factor =
        updates.iter().any(|(k, _)| *k == SOFTWARE_TOKEN_MFA_CONFIGURATION || *k == "SmsMfaConfiguration");
    if mfa_configuration.as_deref() == Some("ON") && !names_a_factor {
        return Err(CognitoError::invalid(
            "At least one of [SmsMfaConfiguration] or [SoftwareTokenMfaConfiguration] must be provided.",
        ));
    }
    if let Some((_, webauthn)) = updates.iter().find(|(k, _)| *k == cognate_core::passkey::WEB_AUTHN_CONFIGURATION) {
        cognate_core::passkey::WebAuthnConfiguration::validate(webauthn).map_err(CognitoError::invalid)?;
    }
    if let Some((_, totp)) = updates.iter().find(|(k, _)| *k == SOFTWARE_TOKEN_MFA_CONFIGURATION)
        && totp.get("Enabled").is_some_and(|e| !e.is_boolean())
    {
        return Err(CognitoError::invalid("SoftwareTokenMfaConfiguration.Enabled must be a boolean."));
    }
    let id = super::input::pool_id(&id)?;
    let pool = pools::change(state, &id, |pool, _| {
        if let Some(m) = &mfa_configuration {
            pool.settings.mfa_configuration = m.clone();
        }
        for (key, value) in &updates {
            pool.settings.extra.insert((*key).to_owned(), value.clone());
        }
        if pool.settings.mfa_configuration != "OFF"
            && pool_config(pool)[SOFTWARE_TOKEN_MFA_CONFIGURATION]["Enabled"] != true
        {
            return Err(CognitoError::invalid(format!(
                "MfaConfiguration {} needs SoftwareTokenMfaConfiguration enabled. {NO_SMS}",
                pool.settings.mfa_configuration
            )));
        }
        Ok(())
    })
    .await?;
    tracing::info!(pool = %pool.id, mfa = %pool.settings.mfa_configuration, "pool MFA configuration set");
    Ok(pool_config(&pool))
}

//! Sign-in: InitiateAuth and AdminInitiateAuth (password and refresh flows), the
//! challenges (NEW_PASSWORD_REQUIRED here, the MFA ones in [`super::challenge`]),
//! GetTokensFromRefreshToken, RevokeToken and global sign-out.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use cognate_core::attributes::Schema;
use cognate_core::claims::SDK_SCOPE;
use cognate_core::client::AppClient;
use cognate_core::crypto::{constant_time_eq, hmac_sha256};
use cognate_core::ids::{ClientId, PoolId};
use cognate_core::mfa::SOFTWARE_TOKEN_MFA;
use cognate_core::pool::UserPool;
use cognate_core::token::refresh_token_hash;
use cognate_core::user::{User, UserStatus};
use serde::Deserialize;
use serde_json::{Value, json};

use super::challenge::{self, MFA_SETUP, NEW_PASSWORD_REQUIRED, Session, invalid_session};
use super::input::{load_pool, parse};
use super::users::{find_user, refuse_tenant_attributes};
use super::{CognitoError, OpResult, RequestContext};
use crate::AppState;
use crate::issue::{self, Rejection};
use crate::tenancy::{self, Refusal};

pub(super) const OPS: &[&str] = &[
    "InitiateAuth",
    "AdminInitiateAuth",
    "RespondToAuthChallenge",
    "AdminRespondToAuthChallenge",
    "GetTokensFromRefreshToken",
    "RevokeToken",
    "GlobalSignOut",
    "AdminUserGlobalSignOut",
];

pub(super) async fn call(state: &AppState, ctx: &RequestContext, op: &str, input: Value) -> OpResult {
    match op {
        "InitiateAuth" => initiate(state, ctx, input, false).await,
        "AdminInitiateAuth" => initiate(state, ctx, input, true).await,
        "RespondToAuthChallenge" => respond(state, ctx, input, false).await,
        "AdminRespondToAuthChallenge" => respond(state, ctx, input, true).await,
        "GetTokensFromRefreshToken" => get_tokens_from_refresh_token(state, input).await,
        "RevokeToken" => revoke_token(state, input).await,
        "GlobalSignOut" => global_sign_out(state, input).await,
        "AdminUserGlobalSignOut" => admin_global_sign_out(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

fn not_authorized(message: &str) -> CognitoError {
    CognitoError::new("NotAuthorizedException", message.to_owned())
}

/// Maps a refused token to Cognito's exceptions.
pub(super) fn rejection(e: Rejection, what: &str) -> CognitoError {
    match e {
        Rejection::Invalid => not_authorized(&format!("Invalid {what}")),
        Rejection::Expired => not_authorized(&format!("{what} has expired")),
        Rejection::Revoked => not_authorized(&format!("{what} has been revoked")),
        Rejection::Disabled => not_authorized("User is disabled."),
        Rejection::Reused => CognitoError::new("RefreshTokenReuseException", "The refresh token was already used."),
        Rejection::NotMember => not_authorized("User is not a member of the requested tenant."),
        Rejection::Suspended => not_authorized("Tenant is suspended."),
        Rejection::MfaRequired => not_authorized("MFA is required for this tenant; sign in again with a code."),
        Rejection::Fault(cause) => CognitoError::internal(cause),
    }
}

/// Looks up an app client by the id a caller sent.
pub(super) async fn load_client(state: &AppState, id: &str) -> Result<AppClient, CognitoError> {
    let client_id = ClientId::parse(id).ok_or_else(|| {
        CognitoError::invalid("1 validation error detected: Value at 'clientId' failed to satisfy constraint")
    })?;
    state
        .store
        .find_client(&client_id)
        .await?
        .ok_or_else(|| CognitoError::not_found(format!("User pool client {id} does not exist.")))
}

/// The client's secret in the clear, if it has one.
pub(super) fn client_secret(state: &AppState, client: &AppClient) -> Result<Option<String>, CognitoError> {
    client
        .secret_sealed
        .as_deref()
        .map(|sealed| {
            let bytes =
                state.master_key.open(cognate_core::client::SECRET_LABEL, sealed).map_err(CognitoError::internal)?;
            String::from_utf8(bytes).map_err(CognitoError::internal)
        })
        .transpose()
}

/// Checks `SECRET_HASH` = Base64(HMAC-SHA256(client secret, username + client id)) for
/// clients with a secret. Any of `usernames` may be the one the client hashed.
pub(super) fn check_secret_hash(
    state: &AppState,
    client: &AppClient,
    presented: Option<&str>,
    usernames: &[&str],
) -> Result<(), CognitoError> {
    let Some(secret) = client_secret(state, client)? else {
        return Ok(());
    };
    let Some(presented) = presented else {
        return Err(not_authorized(&format!(
            "Client {} is configured with secret but SECRET_HASH was not received",
            client.id
        )));
    };
    let ok = usernames.iter().any(|name| {
        let expected = B64.encode(hmac_sha256(secret.as_bytes(), format!("{name}{}", client.id).as_bytes()));
        constant_time_eq(expected.as_bytes(), presented.as_bytes())
    });
    if ok { Ok(()) } else { Err(not_authorized(&format!("Unable to verify secret hash for client {}", client.id))) }
}

/// Checks a client secret presented as such (GetTokensFromRefreshToken, RevokeToken).
pub(super) fn check_client_secret(
    state: &AppState,
    client: &AppClient,
    presented: Option<&str>,
) -> Result<(), CognitoError> {
    match client_secret(state, client)? {
        None => Ok(()),
        Some(secret) if presented.is_some_and(|p| constant_time_eq(p.as_bytes(), secret.as_bytes())) => Ok(()),
        Some(_) => Err(not_authorized(&format!("Unable to verify secret for client {}", client.id))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InitiateInput {
    auth_flow: String,
    #[serde(default)]
    auth_parameters: HashMap<String, String>,
    client_id: String,
    user_pool_id: Option<String>,
    #[serde(default)]
    client_metadata: HashMap<String, String>,
}

/// The tenant a caller asks for in `ClientMetadata`.
fn requested_tenant(metadata: &HashMap<String, String>) -> Option<&str> {
    metadata.get("tenantId").map(String::as_str)
}

/// Maps a tenant refusal at sign-in to Cognito's exception.
pub(super) fn tenant_refusal(e: Refusal) -> CognitoError {
    match e {
        Refusal::NotMember => not_authorized("User is not a member of the requested tenant."),
        Refusal::Suspended => not_authorized("Tenant is suspended."),
        Refusal::Store(e) => e.into(),
    }
}

fn refresh_allowed(client: &AppClient) -> bool {
    let flows = &client.settings.explicit_auth_flows;
    client.settings.allows_flow("ALLOW_REFRESH_TOKEN_AUTH", None) || !flows.iter().any(|f| f.starts_with("ALLOW_"))
}

async fn initiate(state: &AppState, ctx: &RequestContext, input: Value, admin: bool) -> OpResult {
    let req: InitiateInput = parse(input)?;
    let client = load_client(state, &req.client_id).await?;
    if admin {
        let pool_id = req.user_pool_id.as_deref().ok_or_else(|| CognitoError::invalid("UserPoolId is required."))?;
        let pool = load_pool(state, pool_id).await?;
        if pool.id != client.pool_id {
            return Err(CognitoError::not_found(format!("User pool client {} does not exist.", client.id)));
        }
    }
    let pool = state
        .store
        .get_pool(&client.pool_id)
        .await?
        .ok_or_else(|| CognitoError::not_found(format!("User pool {} does not exist.", client.pool_id)))?;
    let flow = req.auth_flow.as_str();
    let params = &req.auth_parameters;
    match (flow, admin) {
        ("USER_PASSWORD_AUTH", false) => {
            if !client.settings.allows_flow("ALLOW_USER_PASSWORD_AUTH", Some("USER_PASSWORD_AUTH")) {
                return Err(CognitoError::invalid("USER_PASSWORD_AUTH flow not enabled for this client"));
            }
            password_sign_in(state, ctx, &pool, &client, params, requested_tenant(&req.client_metadata)).await
        }
        ("ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH", true) => {
            if !client.settings.allows_flow("ALLOW_ADMIN_USER_PASSWORD_AUTH", Some("ADMIN_NO_SRP_AUTH")) {
                return Err(CognitoError::invalid(format!("{flow} flow not enabled for this client")));
            }
            password_sign_in(state, ctx, &pool, &client, params, requested_tenant(&req.client_metadata)).await
        }
        ("REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN", _) => {
            if !refresh_allowed(&client) {
                return Err(CognitoError::invalid("REFRESH_TOKEN_AUTH flow not enabled for this client"));
            }
            let token = params
                .get("REFRESH_TOKEN")
                .ok_or_else(|| CognitoError::invalid("Missing required parameter REFRESH_TOKEN"))?;
            refresh_sign_in(
                state,
                &client,
                token,
                params.get("SECRET_HASH").map(String::as_str),
                params.get("USERNAME"),
                requested_tenant(&req.client_metadata),
            )
            .await
        }
        ("USER_SRP_AUTH" | "CUSTOM_AUTH" | "USER_AUTH", _) => {
            Err(CognitoError::invalid(format!("{flow} is not supported by Cognate yet; use USER_PASSWORD_AUTH")))
        }
        _ => Err(CognitoError::invalid(format!("Invalid AuthFlow {flow} for this operation."))),
    }
}

async fn refresh_sign_in(
    state: &AppState,
    client: &AppClient,
    token: &str,
    secret_hash: Option<&str>,
    username: Option<&String>,
    switch_to: Option<&str>,
) -> OpResult {
    if client.secret_sealed.is_some() {
        // The hash is over the username; find it from the token's family first.
        let (_, family) = state
            .store
            .get_refresh_token(&refresh_token_hash(token))
            .await?
            .ok_or_else(|| not_authorized("Invalid Refresh Token"))?;
        let user = state.store.get_user_by_sub(&family.pool_id, &family.sub).await?;
        let mut names: Vec<&str> = vec![family.sub.as_str()];
        if let Some(u) = &user {
            names.push(u.username.as_str());
        }
        if let Some(u) = username {
            names.push(u.as_str());
        }
        check_secret_hash(state, client, secret_hash, &names)?;
    }
    let (_, issued) =
        issue::refresh(state, client, token, SDK_SCOPE, switch_to).await.map_err(|e| rejection(e, "Refresh Token"))?;
    Ok(json!({"AuthenticationResult": issued.authentication_result(), "ChallengeParameters": {}}))
}

const INCORRECT: &str = "Incorrect username or password.";

/// The brute-force counters a failure against one user counts toward, as seen from one
/// client address (see [`crate::throttle`]): the (user, address) pair and the user-wide
/// ceiling. `who` is the user's sub, or `name:{username}` for a name no user has, so
/// unknown users lock exactly like real ones.
pub(super) struct FailureKeys {
    pair: String,
    wide: String,
    ip: Option<String>,
}

impl FailureKeys {
    pub(super) fn new(pool: &PoolId, who: &str, ip: Option<std::net::IpAddr>) -> Self {
        let wide = format!("user:{pool}:{who}");
        let addr = ip.map_or_else(|| "-".to_owned(), |ip| ip.to_string());
        Self { pair: format!("{wide}@{addr}"), wide, ip: ip.map(|ip| format!("ip:{ip}")) }
    }

    pub(super) fn of_user(ctx: &RequestContext, pool: &PoolId, sub: &str) -> Self {
        Self::new(pool, sub, ctx.ip)
    }

    /// The keys of a username that matched no user (case-folded: the lock must not be
    /// escaped by changing case).
    pub(super) fn of_unknown(ctx: &RequestContext, pool: &PoolId, username: &str) -> Self {
        Self::new(pool, &format!("name:{}", username.to_lowercase()), ctx.ip)
    }

    /// Whether the user is locked for this address (or everywhere).
    pub(super) fn locked(&self, state: &AppState) -> bool {
        state.limiter.check(&self.pair).is_err() || state.limiter.check(&self.wide).is_err()
    }

    /// Counts one failure against the pair, the user and the address.
    pub(super) fn fail(&self, state: &AppState) {
        state.limiter.fail(&self.pair, state.limits.user_free_failures);
        state.limiter.fail(&self.wide, state.limits.user_wide_failures);
        if let Some(ip) = &self.ip {
            state.limiter.fail(ip, state.limits.ip_free_failures);
        }
    }

    /// A completed sign-in: clears the pair and the user-wide count (other addresses' pairs
    /// stay, so an attacker's lock outlives the victim's sign-in).
    pub(super) fn clear(&self, state: &AppState) {
        state.limiter.succeed(&self.pair);
        state.limiter.succeed(&self.wide);
    }
}

/// Refuses a user whose failures locked them (before any hashing or code check).
pub(super) fn check_user_unlocked(state: &AppState, keys: &FailureKeys) -> Result<(), CognitoError> {
    if keys.locked(state) {
        return Err(not_authorized("Password attempts exceeded"));
    }
    Ok(())
}

/// Checks a user's password under brute-force throttling: a locked user is refused
/// before any hashing, a failure counts against the user and the client IP, a success
/// clears the user's count.
pub(super) async fn check_password(
    state: &AppState,
    ctx: &RequestContext,
    pool: &UserPool,
    user: &User,
    password: String,
) -> Result<(), CognitoError> {
    verify_password(state, ctx, pool, user, password).await?;
    FailureKeys::of_user(ctx, &pool.id, &user.sub).clear(state);
    Ok(())
}

/// [`check_password`] without clearing the user's count on success: a sign-in clears it
/// only once it is complete, so that a correct password between guessed MFA codes does not
/// reset their count.
async fn verify_password(
    state: &AppState,
    ctx: &RequestContext,
    pool: &UserPool,
    user: &User,
    password: String,
) -> Result<(), CognitoError> {
    let keys = FailureKeys::of_user(ctx, &pool.id, &user.sub);
    check_user_unlocked(state, &keys)?;
    let ok = match user.password_hash.clone() {
        Some(hash) => state.passwords.verify(password, hash).await.map_err(CognitoError::internal)?,
        None => {
            state.passwords.verify_decoy(password).await;
            false
        }
    };
    if !ok {
        keys.fail(state);
        return Err(not_authorized(INCORRECT));
    }
    Ok(())
}

async fn password_sign_in(
    state: &AppState,
    ctx: &RequestContext,
    pool: &UserPool,
    client: &AppClient,
    params: &HashMap<String, String>,
    tenant: Option<&str>,
) -> OpResult {
    let username =
        params.get("USERNAME").ok_or_else(|| CognitoError::invalid("Missing required parameter USERNAME"))?;
    let password =
        params.get("PASSWORD").ok_or_else(|| CognitoError::invalid("Missing required parameter PASSWORD"))?;
    let ip_key = ctx.ip.map(|ip| format!("ip:{ip}"));
    if let Some(key) = &ip_key
        && let Err(wait) = state.limiter.check(key)
    {
        return Err(CognitoError::too_many_requests(
            format!("Too many failed sign-in attempts from this address; retry in {wait} s."),
            u64::try_from(wait).unwrap_or(1),
        ));
    }
    let user = match find_user(state, pool, username).await {
        Ok(u) => Some(u),
        Err(e) if e.kind == "UserNotFoundException" => None,
        Err(e) => return Err(e),
    };
    let Some(user) = user else {
        check_secret_hash(state, client, params.get("SECRET_HASH").map(String::as_str), &[username])?;
        if client.settings.prevent_user_existence_errors != "ENABLED" {
            state.passwords.verify_decoy(password.clone()).await;
            if let Some(key) = &ip_key {
                state.limiter.fail(key, state.limits.ip_free_failures);
            }
            return Err(CognitoError::user_not_found());
        }
        // Exactly what a real user gets: the same lock, the same argon2 work, the same answer.
        let keys = FailureKeys::of_unknown(ctx, &pool.id, username);
        check_user_unlocked(state, &keys)?;
        state.passwords.verify_decoy(password.clone()).await;
        keys.fail(state);
        return Err(not_authorized(INCORRECT));
    };
    check_secret_hash(
        state,
        client,
        params.get("SECRET_HASH").map(String::as_str),
        &[username, user.username.as_str(), user.sub.as_str()],
    )?;
    verify_password(state, ctx, pool, &user, password.clone()).await?;
    if !user.enabled {
        return Err(not_authorized("User is disabled."));
    }
    match user.status {
        UserStatus::Unconfirmed => Err(CognitoError::new("UserNotConfirmedException", "User is not confirmed.")),
        UserStatus::ResetRequired => {
            Err(CognitoError::new("PasswordResetRequiredException", "Password reset required for the user"))
        }
        UserStatus::ForceChangePassword => {
            if user.temp_password_expires_at.is_some_and(|t| t <= state.clock.now_millis()) {
                return Err(not_authorized("Temporary password has expired and must be reset by an administrator."));
            }
            new_password_challenge(state, client, &user, tenant)
        }
        UserStatus::Confirmed | UserStatus::ExternalProvider => {
            challenge::after_password(state, ctx, pool, client, &user, tenant).await
        }
    }
}

fn new_password_challenge(state: &AppState, client: &AppClient, user: &User, tenant: Option<&str>) -> OpResult {
    let session = Session::new(state, client, user, NEW_PASSWORD_REQUIRED, tenant.map(str::to_owned));
    let sealed = session.seal(state)?;
    let attrs: serde_json::Map<String, Value> = user
        .attributes
        .iter()
        .filter(|(k, _)| k.as_str() != "email_verified" && k.as_str() != "phone_number_verified")
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    Ok(json!({
        "ChallengeName": NEW_PASSWORD_REQUIRED,
        "Session": sealed,
        "ChallengeParameters": {
            "USER_ID_FOR_SRP": user.username,
            "requiredAttributes": "[]",
            "userAttributes": Value::Object(attrs).to_string(),
        },
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RespondInput {
    client_id: String,
    challenge_name: String,
    session: Option<String>,
    #[serde(default)]
    challenge_responses: HashMap<String, String>,
    user_pool_id: Option<String>,
    #[serde(default)]
    client_metadata: HashMap<String, String>,
}

async fn respond(state: &AppState, ctx: &RequestContext, input: Value, admin: bool) -> OpResult {
    let req: RespondInput = parse(input)?;
    let client = load_client(state, &req.client_id).await?;
    if admin {
        let pool = load_pool(state, req.user_pool_id.as_deref().unwrap_or_default()).await?;
        if pool.id != client.pool_id {
            return Err(CognitoError::not_found(format!("User pool client {} does not exist.", client.id)));
        }
    }
    let challenge = req.challenge_name.as_str();
    if ![NEW_PASSWORD_REQUIRED, SOFTWARE_TOKEN_MFA, MFA_SETUP].contains(&challenge) {
        return Err(CognitoError::invalid(format!("Unsupported challenge {challenge}")));
    }
    let sealed = req.session.as_deref().ok_or_else(invalid_session)?;
    let session = Session::open(state, sealed)?;
    if session.client != client.id.as_str() || session.challenge != challenge || session.pool != client.pool_id.as_str()
    {
        return Err(invalid_session());
    }
    let pool = state.store.get_pool(&client.pool_id).await?.ok_or_else(invalid_session)?;
    let mut user = state.store.get_user_by_sub(&pool.id, &session.sub).await?.ok_or_else(invalid_session)?;
    let responses = &req.challenge_responses;
    let username =
        responses.get("USERNAME").ok_or_else(|| CognitoError::invalid("Missing required parameter USERNAME"))?;
    let named = find_user(state, &pool, username).await.ok();
    if named.as_ref().map(|u| u.sub.as_str()) != Some(user.sub.as_str()) {
        return Err(invalid_session());
    }
    check_secret_hash(
        state,
        &client,
        responses.get("SECRET_HASH").map(String::as_str),
        &[username, user.username.as_str(), user.sub.as_str()],
    )?;
    if challenge != NEW_PASSWORD_REQUIRED {
        let code = responses.get("SOFTWARE_TOKEN_MFA_CODE").map(String::as_str);
        return challenge::respond_mfa(state, ctx, &pool, &client, &user, &session, code).await;
    }
    if user.status != UserStatus::ForceChangePassword {
        return Err(invalid_session());
    }
    if !user.enabled {
        return Err(not_authorized("User is disabled."));
    }
    let new_password = responses
        .get("NEW_PASSWORD")
        .ok_or_else(|| CognitoError::invalid("Missing required parameter NEW_PASSWORD"))?;
    pool.settings
        .policies
        .password_policy
        .check(new_password)
        .map_err(|m| CognitoError::new("InvalidPasswordException", m))?;
    let writes: Vec<(String, String)> = responses
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("userAttributes.").map(|name| (name.to_owned(), v.clone())))
        .collect();
    let schema = Schema::new(&pool.settings.schema);
    schema.check_writes(&writes, false).map_err(|e| CognitoError::invalid(e.to_string()))?;
    refuse_tenant_attributes(state, &pool, writes.iter().map(|(n, _)| n.as_str())).await?;
    for (name, value) in writes {
        user.attributes.insert(name, value);
    }
    schema.check_required(&user.attributes).map_err(|e| CognitoError::invalid(e.to_string()))?;
    user.password_hash = Some(state.passwords.hash(new_password.clone()).await.map_err(CognitoError::internal)?);
    user.status = UserStatus::Confirmed;
    user.temp_password_expires_at = None;
    user.updated_at = state.clock.now_millis();
    // Check the tenant before the password changes, so a refusal writes nothing.
    let tenant = requested_tenant(&req.client_metadata).or(session.tenant.as_deref());
    tenancy::pick(state, &user, tenant).await.map_err(tenant_refusal)?;
    state.store.update_user(&user, &user.keys(&pool.settings)).await?;
    // The new password is set; MFA may still be owed.
    challenge::after_password(state, ctx, &pool, &client, &user, tenant).await
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RefreshInput {
    refresh_token: String,
    client_id: String,
    client_secret: Option<String>,
}

async fn get_tokens_from_refresh_token(state: &AppState, input: Value) -> OpResult {
    let req: RefreshInput = parse(input)?;
    let client = load_client(state, &req.client_id).await?;
    check_client_secret(state, &client, req.client_secret.as_deref())?;
    if !refresh_allowed(&client) {
        return Err(CognitoError::invalid("REFRESH_TOKEN_AUTH flow not enabled for this client"));
    }
    let (_, issued) = issue::refresh(state, &client, &req.refresh_token, SDK_SCOPE, None)
        .await
        .map_err(|e| rejection(e, "Refresh Token"))?;
    Ok(json!({"AuthenticationResult": issued.authentication_result()}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RevokeInput {
    token: String,
    client_id: String,
    client_secret: Option<String>,
}

/// RevokeToken: revokes the refresh token's whole family (its access and ID tokens too).
async fn revoke_token(state: &AppState, input: Value) -> OpResult {
    let req: RevokeInput = parse(input)?;
    let client = load_client(state, &req.client_id).await?;
    check_client_secret(state, &client, req.client_secret.as_deref())?;
    if !client.settings.enable_token_revocation {
        return Err(CognitoError::new(
            "UnsupportedOperationException",
            "Token revocation is not enabled for this client.",
        ));
    }
    if req.token.contains('.') {
        return Err(CognitoError::new("UnsupportedTokenTypeException", "Only refresh tokens can be revoked."));
    }
    match state.store.get_refresh_token(&refresh_token_hash(&req.token)).await? {
        Some((_, family)) if family.client_id != client.id.as_str() => {
            Err(CognitoError::new("UnauthorizedException", "The token was not issued to this client."))
        }
        Some((_, family)) => {
            state.store.revoke_family(&family.pool_id, &family.id, state.clock.now_millis()).await?;
            tracing::info!(pool = %family.pool_id, family = %family.id, "refresh token revoked");
            Ok(json!({}))
        }
        // RFC 7009: revoking an unknown token is not an error.
        None => Ok(json!({})),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccessTokenInput {
    access_token: String,
}

async fn global_sign_out(state: &AppState, input: Value) -> OpResult {
    let req: AccessTokenInput = parse(input)?;
    let (pool, user, _) =
        issue::verify_user_access(state, &req.access_token).await.map_err(|e| rejection(e, "Access Token"))?;
    state.store.sign_out_user(&pool.id, &user.sub, state.clock.now_millis()).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AdminSignOutInput {
    user_pool_id: String,
    username: String,
}

async fn admin_global_sign_out(state: &AppState, input: Value) -> OpResult {
    let req: AdminSignOutInput = parse(input)?;
    let pool = load_pool(state, &req.user_pool_id).await?;
    let user = find_user(state, &pool, &req.username).await?;
    state.store.sign_out_user(&pool.id, &user.sub, state.clock.now_millis()).await?;
    Ok(json!({}))
}

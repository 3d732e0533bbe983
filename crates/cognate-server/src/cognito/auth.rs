//! Sign-in: InitiateAuth and AdminInitiateAuth (password and refresh flows), the
//! challenges (NEW_PASSWORD_REQUIRED here, the MFA ones in [`super::challenge`]),
//! GetTokensFromRefreshToken, RevokeToken and global sign-out; GetClientToken (a machine
//! token, [`crate::services::client_tokens`]).

use std::collections::HashMap;

use cognate_core::claims::SDK_SCOPE;
use cognate_core::client::AppClient;
use cognate_core::crypto::constant_time_eq;
use cognate_core::ids::ClientId;
use cognate_core::mfa::SOFTWARE_TOKEN_MFA;
use cognate_core::pool::UserPool;
use cognate_core::user::User;
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{load_pool, parse};
use super::users::find_user;
use super::{CognitoError, OpResult, RequestContext};
use crate::services::clients::{self, ClientError};
use crate::services::pools;
use crate::services::sign_in::{self, Delivery, MFA_SETUP, NEW_PASSWORD_REQUIRED, Step, choice};
use crate::services::tokens::{self, Rejection};
use crate::tenancy::{Refusal, TENANT_ID_ATTR};
use crate::{AppState, facts};

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
        "GetClientToken" => get_client_token(state, ctx, input).await,
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
    clients::find(state, &client_id).await.map_err(|e| match e {
        ClientError::Store(e) => e.into(),
        ClientError::Fault(cause) => CognitoError::internal(cause),
        ClientError::NotFound | ClientError::BadCredentials => {
            CognitoError::not_found(format!("User pool client {id} does not exist."))
        }
        // Not answers of a lookup.
        e @ (ClientError::Invalid(_) | ClientError::SecretLimit | ClientError::SecretNotFound) => {
            CognitoError::internal(e.to_string())
        }
    })
}

/// Checks `SECRET_HASH` for clients with a secret ([`sign_in::check_secret_hash`]).
pub(super) fn check_secret_hash(
    state: &AppState,
    client: &AppClient,
    presented: Option<&str>,
    usernames: &[&str],
) -> Result<(), CognitoError> {
    Ok(sign_in::check_secret_hash(state, client, presented, usernames)?)
}

/// Checks a client secret presented as such (GetTokensFromRefreshToken, RevokeToken).
pub(super) fn check_client_secret(
    state: &AppState,
    client: &AppClient,
    presented: Option<&str>,
) -> Result<(), CognitoError> {
    let secrets = sign_in::client_secrets(state, client)?;
    let matches = |p: &str| secrets.iter().any(|s| constant_time_eq(p.as_bytes(), s.as_bytes()));
    if secrets.is_empty() || presented.is_some_and(matches) {
        Ok(())
    } else {
        Err(not_authorized(&format!("Unable to verify secret for client {}", client.id)))
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
    client.settings.allows_flow("ALLOW_REFRESH_TOKEN_AUTH", None) || legacy_flows(client)
}

/// SRP is allowed by `ALLOW_USER_SRP_AUTH`, and (as in Cognito) always for a client that
/// names no `ALLOW_…` flow (none at all, or only the legacy names).
fn srp_allowed(client: &AppClient) -> bool {
    client.settings.allows_flow("ALLOW_USER_SRP_AUTH", None) || legacy_flows(client)
}

/// Whether the client names no `ALLOW_…` flow: Cognito's defaults (SRP, custom, refresh) apply.
fn legacy_flows(client: &AppClient) -> bool {
    !client.settings.explicit_auth_flows.iter().any(|f| f.starts_with("ALLOW_"))
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
    let pool = pools::get(state, &client.pool_id).await?;
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
        ("USER_SRP_AUTH", _) => {
            if !srp_allowed(&client) {
                return Err(CognitoError::invalid("USER_SRP_AUTH flow not enabled for this client"));
            }
            let username =
                params.get("USERNAME").ok_or_else(|| CognitoError::invalid("Missing required parameter USERNAME"))?;
            let srp_a = params.get("SRP_A").ok_or_else(|| CognitoError::invalid("Missing required parameter SRP_A"))?;
            let step = sign_in::srp_start(
                state,
                ctx.attempt(),
                sign_in::SrpSignIn {
                    pool: &pool,
                    client: &client,
                    username,
                    srp_a,
                    secret_hash: params.get("SECRET_HASH").map(String::as_str),
                    tenant: requested_tenant(&req.client_metadata),
                    device_key: params.get("DEVICE_KEY").map(String::as_str),
                },
            )
            .await?;
            step_response(step)
        }
        ("USER_AUTH", _) => {
            if !client.settings.allows_flow("ALLOW_USER_AUTH", None) {
                return Err(CognitoError::invalid("USER_AUTH flow not enabled for this client"));
            }
            let username =
                params.get("USERNAME").ok_or_else(|| CognitoError::invalid("Missing required parameter USERNAME"))?;
            let param = |name: &str| params.get(name).map(String::as_str);
            let step = sign_in::user_auth(
                state,
                ctx.attempt(),
                sign_in::UserAuth {
                    pool: &pool,
                    client: &client,
                    username,
                    preferred: param("PREFERRED_CHALLENGE"),
                    password: param("PASSWORD"),
                    srp_a: param("SRP_A"),
                    secret_hash: param("SECRET_HASH"),
                    tenant: requested_tenant(&req.client_metadata),
                },
            )
            .await?;
            step_response(step)
        }
        ("CUSTOM_AUTH", _) => {
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
        let mut names =
            tokens::refresh_token_names(state, token).await?.ok_or_else(|| not_authorized("Invalid Refresh Token"))?;
        names.extend(username.cloned());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        check_secret_hash(state, client, secret_hash, &names)?;
    }
    let (_, issued) =
        tokens::refresh(state, client, token, SDK_SCOPE, switch_to).await.map_err(|e| rejection(e, "Refresh Token"))?;
    Ok(json!({"AuthenticationResult": issued.authentication_result(), "ChallengeParameters": {}}))
}

/// Checks a user's password under brute-force throttling (a re-authentication such as
/// ChangePassword): a locked user is refused before any hashing, a failure counts, a
/// success clears the user's count.
pub(super) async fn check_password(
    state: &AppState,
    ctx: &RequestContext,
    pool: &UserPool,
    user: &User,
    password: String,
) -> Result<(), CognitoError> {
    Ok(sign_in::check_password(state, ctx.attempt(), pool, user, &password).await?)
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
    let step = sign_in::password(
        state,
        ctx.attempt(),
        sign_in::PasswordSignIn {
            pool,
            client,
            username,
            password,
            secret_hash: params.get("SECRET_HASH").map(String::as_str),
            tenant,
            delivery: Delivery::Tokens,
            device_key: params.get("DEVICE_KEY").map(String::as_str),
        },
    )
    .await?;
    step_response(step)
}

/// Cognito's answer to a sign-in step: `AuthenticationResult`, or the challenge with its
/// `Session` and `ChallengeParameters`.
pub(super) fn step_response(step: Step) -> OpResult {
    Ok(match step {
        Step::Tokens(issued) => {
            json!({"AuthenticationResult": issued.authentication_result(), "ChallengeParameters": {}})
        }
        Step::NewPasswordRequired { session, username, attributes } => json!({
            "ChallengeName": NEW_PASSWORD_REQUIRED,
            "Session": session,
            "ChallengeParameters": {
                "USER_ID_FOR_SRP": username,
                "requiredAttributes": "[]",
                "userAttributes": json!(attributes).to_string(),
            },
        }),
        Step::SoftwareTokenMfa { session, username, device_name } => {
            let mut params = json!({"USER_ID_FOR_SRP": username});
            if let Some(name) = device_name {
                params["FRIENDLY_DEVICE_NAME"] = json!(name);
            }
            json!({"ChallengeName": SOFTWARE_TOKEN_MFA, "Session": session, "ChallengeParameters": params})
        }
        Step::MfaSetup { session, username } => json!({
            "ChallengeName": MFA_SETUP,
            "Session": session,
            "ChallengeParameters": {
                "MFAS_CAN_SETUP": json!([SOFTWARE_TOKEN_MFA]).to_string(),
                "USER_ID_FOR_SRP": username,
            },
        }),
        Step::DeviceSrpAuth { session, username } => json!({
            "ChallengeName": sign_in::DEVICE_SRP_AUTH,
            "Session": session,
            "ChallengeParameters": {"USERNAME": username},
        }),
        Step::DevicePasswordVerifier { session, username, device_key, salt, srp_b, secret_block } => json!({
            "ChallengeName": sign_in::DEVICE_PASSWORD_VERIFIER,
            "Session": session,
            "ChallengeParameters": {
                "DEVICE_KEY": device_key,
                "SALT": salt,
                "SECRET_BLOCK": secret_block,
                "SRP_B": srp_b,
                "USERNAME": username,
            },
        }),
        Step::PasswordVerifier { username, user_id_for_srp, salt, srp_b, secret_block } => json!({
            "ChallengeName": sign_in::PASSWORD_VERIFIER,
            "ChallengeParameters": {
                "SALT": salt,
                "SECRET_BLOCK": secret_block,
                "SRP_B": srp_b,
                "USERNAME": username,
                "USER_ID_FOR_SRP": user_id_for_srp,
            },
        }),
        Step::SelectChallenge { session, available, .. } => json!({
            "ChallengeName": choice::SELECT_CHALLENGE,
            "Session": session,
            "ChallengeParameters": {},
            "AvailableChallenges": available,
        }),
        Step::PasswordOwed { challenge, session, .. } => {
            json!({"ChallengeName": challenge, "Session": session, "ChallengeParameters": {}})
        }
        Step::EmailOtp { session, destination, .. } => json!({
            "ChallengeName": choice::EMAIL_OTP_CHALLENGE,
            "Session": session,
            "ChallengeParameters": {
                "CODE_DELIVERY_DELIVERY_MEDIUM": "EMAIL",
                "CODE_DELIVERY_DESTINATION": destination,
            },
        }),
        Step::WebAuthn { session, options, .. } => json!({
            "ChallengeName": choice::WEB_AUTHN_CHALLENGE,
            "Session": session,
            "ChallengeParameters": {"CREDENTIAL_REQUEST_OPTIONS": options},
        }),
        // Browser steps: a sign-in begun with `Delivery::Tokens` never reaches them.
        Step::SignedIn(_) | Step::SelectTenant { .. } => {
            return Err(CognitoError::internal("a browser sign-in step reached the API"));
        }
    })
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
    const ANSWERED: [&str; 11] = [
        NEW_PASSWORD_REQUIRED,
        SOFTWARE_TOKEN_MFA,
        MFA_SETUP,
        sign_in::PASSWORD_VERIFIER,
        sign_in::DEVICE_SRP_AUTH,
        sign_in::DEVICE_PASSWORD_VERIFIER,
        choice::SELECT_CHALLENGE,
        choice::PASSWORD_CHALLENGE,
        choice::PASSWORD_SRP,
        choice::EMAIL_OTP_CHALLENGE,
        choice::WEB_AUTHN_CHALLENGE,
    ];
    if !ANSWERED.contains(&challenge) {
        return Err(CognitoError::invalid(format!("Unsupported challenge {challenge}")));
    }
    let pool = pools::get(state, &client.pool_id).await.map_err(|e| match e {
        pools::PoolError::NotFound(_) => sign_in::SignInError::InvalidSession.into(),
        other => CognitoError::from(other),
    })?;
    let responses = &req.challenge_responses;
    let required = |name: &str| {
        responses
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| CognitoError::invalid(format!("Missing required parameter {name}")))
    };
    let username = required("USERNAME")?;
    if challenge == sign_in::PASSWORD_VERIFIER || challenge == sign_in::DEVICE_PASSWORD_VERIFIER {
        // SRP clients send no Session: the sealed secret block carries the exchange.
        let answer = sign_in::SrpAnswer {
            pool: &pool,
            client: &client,
            username,
            secret_block: required("PASSWORD_CLAIM_SECRET_BLOCK")?,
            signature: required("PASSWORD_CLAIM_SIGNATURE")?,
            timestamp: required("TIMESTAMP")?,
            secret_hash: responses.get("SECRET_HASH").map(String::as_str),
            device_key: responses.get("DEVICE_KEY").map(String::as_str),
        };
        let step = if challenge == sign_in::PASSWORD_VERIFIER {
            sign_in::srp_verify(state, ctx.attempt(), answer).await?
        } else {
            sign_in::device_verify(state, ctx.attempt(), answer).await?
        };
        return step_response(step);
    }
    let session = req.session.as_deref().ok_or(sign_in::SignInError::InvalidSession)?;
    const CHOICE: [&str; 5] = [
        choice::SELECT_CHALLENGE,
        choice::PASSWORD_CHALLENGE,
        choice::PASSWORD_SRP,
        choice::EMAIL_OTP_CHALLENGE,
        choice::WEB_AUTHN_CHALLENGE,
    ];
    if CHOICE.contains(&challenge) {
        let param = |name: &str| responses.get(name).map(String::as_str);
        let answer = sign_in::ChoiceAnswer {
            pool: &pool,
            client: &client,
            session,
            challenge,
            username,
            secret_hash: param("SECRET_HASH"),
            answer: param("ANSWER"),
            password: param("PASSWORD"),
            srp_a: param("SRP_A"),
            code: param("EMAIL_OTP_CODE"),
            credential: param("CREDENTIAL"),
        };
        return step_response(sign_in::answer_choice(state, ctx.attempt(), answer).await?);
    }
    let answer = sign_in::Answer {
        pool: &pool,
        client: &client,
        session,
        challenge,
        username,
        secret_hash: responses.get("SECRET_HASH").map(String::as_str),
        delivery: Delivery::Tokens,
    };
    let step = if challenge == sign_in::DEVICE_SRP_AUTH {
        let device_key = responses.get("DEVICE_KEY").map(String::as_str);
        let srp_a = responses.get("SRP_A").map(String::as_str);
        sign_in::device_start(state, ctx.attempt(), answer, device_key, srp_a).await?
    } else if challenge == NEW_PASSWORD_REQUIRED {
        let attributes: Vec<(String, String)> = responses
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("userAttributes.").map(|name| (name.to_owned(), v.clone())))
            .collect();
        let new_password = responses.get("NEW_PASSWORD").map(String::as_str);
        let tenant = requested_tenant(&req.client_metadata);
        sign_in::new_password(state, ctx.attempt(), answer, new_password, attributes, tenant).await?
    } else {
        let code = responses.get("SOFTWARE_TOKEN_MFA_CODE").map(String::as_str);
        sign_in::mfa(state, ctx.attempt(), answer, code).await?
    };
    step_response(step)
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
    let (_, issued) = tokens::refresh(state, &client, &req.refresh_token, SDK_SCOPE, None)
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
    tokens::revoke_refresh_token(state, &client, &req.token).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AccessTokenInput {
    access_token: String,
}

async fn global_sign_out(state: &AppState, input: Value) -> OpResult {
    let req: AccessTokenInput = parse(input)?;
    let (_, user, claims) =
        tokens::verify_user_access(state, &req.access_token).await.map_err(|e| rejection(e, "Access Token"))?;
    facts::tenant(claims.get(TENANT_ID_ATTR).and_then(Value::as_str));
    tokens::sign_out_everywhere(state, &user).await?;
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
    tokens::sign_out_everywhere(state, &user).await?;
    Ok(json!({}))
}

/// The pool, user and claims of an access token that carries the scope Cognito requires
/// for self-service operations.
pub(super) async fn token_user(state: &AppState, access_token: &str) -> Result<(UserPool, User, Value), CognitoError> {
    let (pool, user, claims) =
        tokens::verify_user_access(state, access_token).await.map_err(|e| rejection(e, "Access Token"))?;
    let scopes = claims.get("scope").and_then(Value::as_str).unwrap_or_default();
    if !scopes.split(' ').any(|s| s == SDK_SCOPE) {
        return Err(not_authorized("Access Token does not have required scopes"));
    }
    facts::tenant(claims.get(TENANT_ID_ATTR).and_then(Value::as_str));
    Ok((pool, user, claims))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ClientTokenInput {
    client_id: Option<String>,
    secret: Option<String>,
    scopes: Option<Vec<String>>,
    /// Passed to Lambda triggers by Cognito; Cognate has none, so it is accepted and unused.
    #[serde(default)]
    #[allow(dead_code)]
    client_metadata: Option<HashMap<String, String>>,
}

/// Cognito's `ScopeType`: 1 to 256 printable ASCII characters but `"` and `\`.
fn scope_shaped(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= 256
        && scope.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// GetClientToken: the `client_credentials` grant through the Cognito API (the same
/// service, token and limits as `POST /oauth2/token`).
async fn get_client_token(state: &AppState, ctx: &RequestContext, input: Value) -> OpResult {
    use crate::services::client_tokens::{self, ClientTokenError};
    let req: ClientTokenInput = parse(input)?;
    let null = |member: &str| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    };
    let client_id = req.client_id.as_deref().ok_or_else(|| null("clientId"))?;
    let secret = req.secret.as_deref().ok_or_else(|| null("secret"))?;
    if !(24..=64).contains(&secret.len())
        || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'+')
    {
        return Err(CognitoError::invalid(
            "1 validation error detected: Value at 'secret' failed to satisfy constraint: Member must have length \
             between 24 and 64 and satisfy regular expression pattern: [\\w+]+",
        ));
    }
    if let Some(scopes) = &req.scopes {
        if scopes.len() > 50 {
            return Err(CognitoError::invalid(
                "1 validation error detected: Value at 'scopes' failed to satisfy constraint: Member must have \
                 length less than or equal to 50",
            ));
        }
        if let Some(bad) = scopes.iter().find(|s| !scope_shaped(s)) {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{bad}' at 'scopes' failed to satisfy constraint: Member must \
                 satisfy regular expression pattern: [\\x21\\x23-\\x5B\\x5D-\\x7E]+"
            )));
        }
    }
    let token =
        client_tokens::get_client_token(state, ctx.ip, client_id, secret, req.scopes).await.map_err(|e| match e {
            ClientTokenError::BadCredentials => {
                not_authorized("Client authentication failed: unknown client or wrong secret.")
            }
            ClientTokenError::NotAllowed(m) => CognitoError::invalid(m),
            ClientTokenError::InvalidScope(m) => CognitoError::invalid(m),
            e @ ClientTokenError::NoScopes => {
                CognitoError::invalid(format!("The app client has no scopes to grant: {e}."))
            }
            ClientTokenError::Throttled(wait) => CognitoError::too_many_requests(
                format!("Too many authentication requests from this address; retry in {wait} s."),
                wait,
            ),
            ClientTokenError::Fault(cause) => CognitoError::internal(cause),
        })?;
    Ok(json!({"ClientAuthenticationResult": {
        "AccessToken": token.access_token,
        "ExpiresIn": token.expires_in,
        "TokenType": "Bearer",
    }}))
}

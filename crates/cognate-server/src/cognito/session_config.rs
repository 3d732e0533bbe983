//! Session tracking: GetUserPoolSessionConfiguration, SetUserPoolSessionConfiguration,
//! GetUserPoolClientSessionConfiguration, SetUserPoolClientSessionConfiguration
//! ([`crate::services::session_config`]).

use cognate_core::ids::ClientId;
use cognate_core::pool::UserPool;
use cognate_core::session_config::{ClientSessionConfig, PoolSessionConfig};
use serde::Deserialize;
use serde_json::{Value, json};

use super::input::{load_pool, parse};
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::session_config::{self as service, SessionConfigError};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "GetUserPoolSessionConfiguration" => get_pool(state, input).await,
        "SetUserPoolSessionConfiguration" => set_pool(state, input).await,
        "GetUserPoolClientSessionConfiguration" => get_client(state, input).await,
        "SetUserPoolClientSessionConfiguration" => set_client(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

fn required<T>(value: Option<T>, member: &str) -> Result<T, CognitoError> {
    value.ok_or_else(|| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TokenSession {
    max_per_user: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SsoSession {
    max_validity_minutes: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigInput {
    user_pool_id: Option<String>,
    client_id: Option<String>,
    user_session_tracking: Option<String>,
    token_session: Option<TokenSession>,
    #[serde(rename = "SSOSession")]
    sso_session: Option<SsoSession>,
}

impl ConfigInput {
    async fn pool(&self, state: &AppState) -> Result<UserPool, CognitoError> {
        load_pool(state, required(self.user_pool_id.as_deref(), "userPoolId")?).await
    }

    fn client(&self) -> Result<(&str, ClientId), CognitoError> {
        let id = required(self.client_id.as_deref(), "clientId")?;
        if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '+') {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{id}' at 'clientId' failed to satisfy constraint: Member must \
                 satisfy regular expression pattern: [\\w+]+"
            )));
        }
        let parsed = ClientId::parse(id)
            .ok_or_else(|| CognitoError::not_found(format!("User pool client {id} does not exist.")))?;
        Ok((id, parsed))
    }
}

/// A number out of its member's range, in Cognito's words (the service checks the range;
/// this catches what does not even fit).
fn in_range(n: i64, member: &str, min: i64, max: i64) -> Result<u32, CognitoError> {
    u32::try_from(n).ok().filter(|v| (min..=max).contains(&i64::from(*v))).ok_or_else(|| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value '{n}' at '{member}' failed to satisfy constraint: Member must have \
             value between {min} and {max}"
        ))
    })
}

fn refused(e: SessionConfigError, client: &str) -> CognitoError {
    match e {
        SessionConfigError::Tier(tier) => CognitoError::new(
            "FeatureUnavailableInTierException",
            format!("Session tracking is not available in the {tier} feature plan; use ESSENTIALS or PLUS."),
        ),
        SessionConfigError::NotTracking => CognitoError::invalid(
            "Session tracking is not enabled for the user pool: call SetUserPoolSessionConfiguration with \
             UserSessionTracking ENABLED first.",
        ),
        SessionConfigError::ClientNotFound => {
            CognitoError::not_found(format!("User pool client {client} does not exist."))
        }
        SessionConfigError::Invalid(message) => CognitoError::invalid(message),
        SessionConfigError::Store(e) => e.into(),
    }
}

fn pool_answer(pool: &UserPool, c: &PoolSessionConfig) -> Value {
    json!({
        "UserPoolId": pool.id.as_str(),
        "UserSessionTracking": if c.tracking { "ENABLED" } else { "DISABLED" },
        "TokenSession": {"MaxPerUser": c.max_per_user},
    })
}

fn client_answer(pool: &UserPool, client: &str, c: &ClientSessionConfig) -> Value {
    json!({
        "UserPoolId": pool.id.as_str(),
        "ClientId": client,
        "SSOSession": {"MaxValidityMinutes": c.max_validity_minutes},
    })
}

async fn get_pool(state: &AppState, input: Value) -> OpResult {
    let req: ConfigInput = parse(input)?;
    let pool = req.pool(state).await?;
    Ok(pool_answer(&pool, &service::pool_config(state, &pool.id).await?))
}

/// A full replacement: every member is required, as in Cognito.
async fn set_pool(state: &AppState, input: Value) -> OpResult {
    let req: ConfigInput = parse(input)?;
    let tracking = match required(req.user_session_tracking.as_deref(), "userSessionTracking")? {
        "ENABLED" => true,
        "DISABLED" => false,
        other => {
            return Err(CognitoError::invalid(format!(
                "1 validation error detected: Value '{other}' at 'userSessionTracking' failed to satisfy \
                 constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )));
        }
    };
    let max = required(required(req.token_session.as_ref(), "tokenSession")?.max_per_user, "tokenSession.maxPerUser")?;
    let max_per_user = in_range(max, "tokenSession.maxPerUser", 1, 100)?;
    let pool = req.pool(state).await?;
    let config = service::set_pool_config(state, &pool, PoolSessionConfig { tracking, max_per_user })
        .await
        .map_err(|e| refused(e, ""))?;
    Ok(pool_answer(&pool, &config))
}

async fn get_client(state: &AppState, input: Value) -> OpResult {
    let req: ConfigInput = parse(input)?;
    let pool = req.pool(state).await?;
    let (raw, client) = req.client()?;
    let config = service::client_config(state, &pool.id, &client).await.map_err(|e| refused(e, raw))?;
    Ok(client_answer(&pool, raw, &config))
}

async fn set_client(state: &AppState, input: Value) -> OpResult {
    let req: ConfigInput = parse(input)?;
    let minutes = required(
        required(req.sso_session.as_ref(), "sSOSession")?.max_validity_minutes,
        "sSOSession.maxValidityMinutes",
    )?;
    let max_validity_minutes = in_range(minutes, "sSOSession.maxValidityMinutes", 0, 129_600)?;
    let pool = req.pool(state).await?;
    let (raw, client) = req.client()?;
    let config = service::set_client_config(state, &pool, &client, ClientSessionConfig { max_validity_minutes })
        .await
        .map_err(|e| refused(e, raw))?;
    Ok(client_answer(&pool, raw, &config))
}

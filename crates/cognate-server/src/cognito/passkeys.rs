//! Passkeys of the signed-in user: StartWebAuthnRegistration, CompleteWebAuthnRegistration,
//! ListWebAuthnCredentials and DeleteWebAuthnCredential, authorised by the user's access
//! token as Cognito does. The ceremonies and their rules are [`crate::services::passkeys`].

use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::token_user;
use super::input::parse;
use super::{CognitoError, OpResult};
use crate::AppState;
use crate::services::passkeys::{self, MAX_PAGE};

pub(super) async fn call(state: &AppState, op: &str, input: Value) -> OpResult {
    match op {
        "StartWebAuthnRegistration" => start(state, input).await,
        "CompleteWebAuthnRegistration" => complete(state, input).await,
        "ListWebAuthnCredentials" => list(state, input).await,
        "DeleteWebAuthnCredential" => delete(state, input).await,
        _ => Err(CognitoError::new("UnknownOperationException", op.to_owned())),
    }
}

/// The app client an access token was issued to.
fn token_client(claims: &Value) -> String {
    claims.get("client_id").and_then(Value::as_str).unwrap_or_default().to_owned()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StartInput {
    access_token: String,
}

async fn start(state: &AppState, input: Value) -> OpResult {
    let req: StartInput = parse(input)?;
    let (pool, user, claims) = token_user(state, &req.access_token).await?;
    let options = passkeys::start_registration(state, &pool, &token_client(&claims), &user).await?;
    Ok(json!({"CredentialCreationOptions": options}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CompleteInput {
    access_token: String,
    credential: Option<Value>,
}

async fn complete(state: &AppState, input: Value) -> OpResult {
    let req: CompleteInput = parse(input)?;
    let credential = req.credential.ok_or_else(|| super::users::missing("credential"))?;
    let (pool, user, claims) = token_user(state, &req.access_token).await?;
    passkeys::complete_registration(state, &pool, &token_client(&claims), &user, &credential).await?;
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    access_token: String,
    next_token: Option<String>,
    max_results: Option<i64>,
}

async fn list(state: &AppState, input: Value) -> OpResult {
    let req: ListInput = parse(input)?;
    let max = match req.max_results {
        None => MAX_PAGE,
        Some(n) if (0..=20).contains(&n) => usize::try_from(n).unwrap_or(MAX_PAGE),
        Some(_) => {
            return Err(CognitoError::invalid(
                "1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have \
                 value less than or equal to 20",
            ));
        }
    };
    if req.next_token.as_deref().is_some_and(str::is_empty) {
        return Err(CognitoError::invalid("Invalid NextToken"));
    }
    let (_, user, _) = token_user(state, &req.access_token).await?;
    let (page, next) = passkeys::list(state, &user, req.next_token.as_deref(), max).await?;
    let credentials: Vec<Value> = page
        .iter()
        .map(|c| {
            let mut out = json!({
                "CredentialId": c.credential_id,
                "FriendlyCredentialName": c.friendly_name,
                "RelyingPartyId": c.relying_party_id,
                "AuthenticatorTransports": c.transports,
                "CreatedAt": c.created_at as f64 / 1000.0,
            });
            if let Some(a) = &c.attachment {
                out["AuthenticatorAttachment"] = json!(a);
            }
            out
        })
        .collect();
    let mut out = json!({"Credentials": credentials});
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteInput {
    access_token: String,
    credential_id: String,
}

async fn delete(state: &AppState, input: Value) -> OpResult {
    let req: DeleteInput = parse(input)?;
    let (_, user, _) = token_user(state, &req.access_token).await?;
    passkeys::delete(state, &user, &req.credential_id).await?;
    Ok(json!({}))
}
